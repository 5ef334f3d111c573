"""``python -m monitor ARGS`` with every event-loop callback timed (run by bench/load.py).

    _loopwatch.py REPORT.json ARGS...

Each callback the collecting loop runs (the main thread's; the HTTP server's own loop
is not timed) (``asyncio.Handle._run``: a task's step, a timer, an I/O
callback) is timed in wall time and in the loop thread's own CPU time
(``time.thread_time``: not the time spent waiting for the GIL or for a CPU on a busy
machine, so it names the sections that hold the loop by themselves). SIGUSR1 starts a
window (clears the figures), SIGUSR2 ends it and writes REPORT.json: how many callbacks
ran, how many held the loop longer than 20 and 100 ms (wall, and CPU), and the longest
ones by CPU with what they were and how much of each was garbage collection; and the
garbage collections of the window: count and longest pause by generation, each full
collection (pause, objects left and freed, the thread that ran it) and the objects
tracked at the end by type. The source tree under test is whatever ``monitor`` the
path finds (the daemon's own ``PYTHONPATH``), so this works for any tree.

Nothing is timed before the first SIGUSR1: the wrapper and the collector's
callback are put in place then. Timing costs the daemon CPU of its own
(``time.thread_time`` is a system call, twice a callback: ~14 % of the daemon's
CPU at 10x334 in py-spy), and ``load.py`` measures the daemon's CPU per request
before it starts the window.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import json
import runpy
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import CoroutineType, FrameType
from typing import Any

_TOP = 12


class _Watch:
    def __init__(self, report: Path) -> None:
        self.report = report
        self.loop_thread = threading.get_ident()  # the event loop runs in the main thread
        self.clear()

    def clear(self) -> None:
        self.count = 0
        self.wall_over = {20: 0, 100: 0}
        self.cpu_over = {20: 0, 100: 0}
        self.wall_max = 0.0
        # (cpu ms, wall ms, garbage collection ms, what): a min-heap
        self.top: list[tuple[float, float, float, str]] = []
        #: garbage collections in the window: count and longest pause (ms) by generation
        self.gc_count = {0: 0, 1: 0, 2: 0}
        self.gc_max = {0: 0.0, 1: 0.0, 2: 0.0}
        self.gc_total = 0.0
        self.gc_full: list[dict[str, Any]] = []
        self.gc_in_callback = 0.0  # ms of collection inside the running callback
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        pause = (time.perf_counter() - self._gc_started) * 1000
        generation = int(info.get("generation", 0))
        self.gc_count[generation] = self.gc_count.get(generation, 0) + 1
        self.gc_max[generation] = max(self.gc_max.get(generation, 0.0), pause)
        self.gc_total += pause
        if generation == 2 and len(self.gc_full) < _TOP:
            # what the full collection walked, about: the survivors (and the coroutines
            # among them: a collection walks each one's frame), and who ran it
            objects = gc.get_objects()
            coroutines = Counter(o.__qualname__ for o in objects if type(o) is CoroutineType)
            self.gc_full.append(
                {
                    "ms": pause,
                    "after": len(objects),
                    "coroutines": dict(coroutines.most_common(5)),
                    "collected": info.get("collected", 0),
                    "thread": threading.current_thread().name,
                }
            )
        if threading.get_ident() == self.loop_thread:
            self.gc_in_callback += pause

    def add(self, handle: asyncio.Handle, wall: float, cpu: float) -> None:
        collected, self.gc_in_callback = self.gc_in_callback, 0.0
        self.count += 1
        self.wall_max = max(self.wall_max, wall)
        for bound in self.wall_over:
            if wall > bound:
                self.wall_over[bound] += 1
            if cpu > bound:
                self.cpu_over[bound] += 1
        if len(self.top) < _TOP or cpu > self.top[0][0]:
            item = (cpu, wall, collected, _what(handle))
            if len(self.top) < _TOP:
                heapq.heappush(self.top, item)
            else:
                heapq.heapreplace(self.top, item)

    def write(self, *_: Any) -> None:
        objects = gc.get_objects()
        tracked = Counter(type(o).__qualname__ for o in objects)
        coroutines = Counter(o.__qualname__ for o in objects if type(o) is CoroutineType)
        del objects
        self.report.write_text(
            json.dumps(
                {
                    "callbacks": self.count,
                    "wall_over_ms": self.wall_over,
                    "cpu_over_ms": self.cpu_over,
                    "wall_max_ms": self.wall_max,
                    "top_cpu": [
                        {"cpu_ms": c, "wall_ms": w, "gc_ms": g, "what": what}
                        for c, w, g, what in sorted(self.top, reverse=True)
                    ],
                    "gc": {
                        "count": self.gc_count,
                        "max_ms": self.gc_max,
                        "total_ms": self.gc_total,
                        # what a full collection walks: the objects the collector tracks
                        "tracked": sum(tracked.values()),
                        "tracked_by_type": dict(tracked.most_common(15)),
                        "coroutines_by_name": dict(coroutines.most_common(6)),
                        "frozen": gc.get_freeze_count(),
                        "full": self.gc_full,
                    },
                }
            )
        )


def _what(handle: asyncio.Handle) -> str:
    """The coroutine a task step ran (where it was suspended), else the callback's name."""
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        frame: FrameType | None = getattr(coro, "cr_frame", None)
        name = getattr(coro, "__qualname__", repr(coro))
        return name if frame is None else f"{name} (at {frame.f_code.co_name}:{frame.f_lineno})"
    return str(getattr(callback, "__qualname__", callback))


def main() -> None:
    watch = _Watch(Path(sys.argv[1]))
    original = asyncio.Handle._run

    def timed(self: asyncio.Handle) -> None:
        if threading.get_ident() != watch.loop_thread:  # another loop (the HTTP server's)
            original(self)
            return
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            original(self)
        finally:
            watch.add(self, (time.perf_counter() - w0) * 1000, (time.thread_time() - c0) * 1000)

    def start(*_: Any) -> None:
        watch.clear()
        if asyncio.Handle._run is original:
            asyncio.Handle._run = timed  # type: ignore[method-assign]
            gc.callbacks.append(watch.on_gc)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, watch.write)
    sys.argv = ["monitor", *sys.argv[2:]]
    runpy.run_module("monitor", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
