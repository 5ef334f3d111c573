"""Scrapes before background work: the collecting side steps aside while one is served.

The daemon's threads share one GIL. While the collecting loop parses pages, the
alert worker evaluates and the prerender thread renders, a scrape gets the GIL back
after each of its own zlib calls and socket sends only once the others let go of it
(CPython's switch interval, each time): a scrape of 10 ms of CPU took 100-200 ms
while a cycle landed. So the scrape says it is being served (:meth:`Precedence.serving`)
and the background work, at the points where it can pause (between pages, chunks,
rules: :meth:`Precedence.step_aside`), waits until it is done.

Bounded both ways, so that no client, however many scrapes it sends or however
slowly it reads them, can stall collection: the background waits for a scrape for
``max_wait_seconds`` after it began at most (a client that never reads its answer
holds nobody after that), and a thread that has just stepped aside does not again
until it has run ``min_run_seconds``: under back-to-back scrapes the background
keeps at least ``min_run / (min_run + max_wait)`` of its pace (1/6 by default, and
a third with scrapes of 10k assets, ~20 ms each). Without precedence, a flood of
scrapes takes the GIL from the background as well (eight connections scraping:
the collecting loop gets one turn in nine). 10 ms against 20 ms took load.py's
100x34 gzip p99 from 71 to 51 ms (one run each). A Prometheus scrape every 15 s
costs the collection nothing it would notice.

Only background work calls :meth:`Precedence.step_aside`: never the code a scrape
runs (it would wait for itself, ``max_wait_seconds``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

__all__ = ["Precedence", "no_pause"]


class Precedence:
    """Whether a scrape is being served, and the background's bounded way to wait for it."""

    def __init__(self, *, max_wait_seconds: float = 0.05, min_run_seconds: float = 0.01) -> None:
        self._max_wait = max_wait_seconds
        self._min_run = min_run_seconds
        self._lock = threading.Lock()
        self._serving = 0
        #: the background waits for the scrapes being served until then (monotonic):
        #: ``max_wait_seconds`` after the latest one began
        self._until = 0.0
        self._idle = threading.Event()
        self._idle.set()
        #: when each thread last stepped aside (monotonic seconds)
        self._local = threading.local()
        #: seconds the background spent stepping aside, and how many times, by thread
        #: name (for tests and benchmarks; each thread writes its own)
        self.waited_seconds: dict[str, float] = {}
        self.steps: dict[str, int] = {}

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """While the block runs (for ``max_wait_seconds`` at most), the background
        steps aside at its next pause."""
        with self._lock:
            self._serving += 1
            self._until = time.monotonic() + self._max_wait
            self._idle.clear()
        try:
            yield
        finally:
            with self._lock:
                self._serving -= 1
                if not self._serving:
                    self._idle.set()

    @property
    def busy(self) -> bool:
        """A scrape is being served."""
        return not self._idle.is_set()

    def step_aside(self) -> None:
        """Called by background work where it can pause: if a scrape is being served,
        wait (letting go of the GIL) until it is done, for ``max_wait_seconds`` after it
        began at most, unless this thread stepped aside less than ``min_run_seconds``
        ago."""
        if self._idle.is_set():
            return
        now = time.monotonic()
        left = self._until - now
        if left <= 0 or now - getattr(self._local, "last", -1e9) < self._min_run:
            return
        self._idle.wait(left)
        done = time.monotonic()
        self._local.last = done
        name = threading.current_thread().name
        self.waited_seconds[name] = self.waited_seconds.get(name, 0.0) + done - now
        self.steps[name] = self.steps.get(name, 0) + 1


def no_pause() -> None:
    """What background work calls where it could pause, when nothing has precedence."""
