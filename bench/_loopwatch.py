"""``python -m monitor ARGS`` with every event-loop callback timed (run by bench/load.py).

    _loopwatch.py REPORT.json ARGS...

Each callback the loop runs (``asyncio.Handle._run``: a task's step, a timer, an I/O
callback) is timed in wall time and in the loop thread's own CPU time
(``time.thread_time``: not the time spent waiting for the GIL or for a CPU on a busy
machine, so it names the sections that hold the loop by themselves). SIGUSR1 starts a
window (clears the figures), SIGUSR2 ends it and writes REPORT.json: how many callbacks
ran, how many held the loop longer than 20 and 100 ms (wall, and CPU), and the longest
ones by CPU with what they were. The source tree under test is whatever ``monitor`` the
path finds (the daemon's own ``PYTHONPATH``), so this works for any tree.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import runpy
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

_TOP = 12


class _Watch:
    def __init__(self, report: Path) -> None:
        self.report = report
        self.clear()

    def clear(self) -> None:
        self.count = 0
        self.wall_over = {20: 0, 100: 0}
        self.cpu_over = {20: 0, 100: 0}
        self.wall_max = 0.0
        self.top: list[tuple[float, float, str]] = []  # (cpu ms, wall ms, what): a min-heap

    def add(self, handle: asyncio.Handle, wall: float, cpu: float) -> None:
        self.count += 1
        self.wall_max = max(self.wall_max, wall)
        for bound in self.wall_over:
            if wall > bound:
                self.wall_over[bound] += 1
            if cpu > bound:
                self.cpu_over[bound] += 1
        if len(self.top) < _TOP or cpu > self.top[0][0]:
            item = (cpu, wall, _what(handle))
            if len(self.top) < _TOP:
                heapq.heappush(self.top, item)
            else:
                heapq.heapreplace(self.top, item)

    def write(self, *_: Any) -> None:
        self.report.write_text(
            json.dumps(
                {
                    "callbacks": self.count,
                    "wall_over_ms": self.wall_over,
                    "cpu_over_ms": self.cpu_over,
                    "wall_max_ms": self.wall_max,
                    "top_cpu": [
                        {"cpu_ms": c, "wall_ms": w, "what": what}
                        for c, w, what in sorted(self.top, reverse=True)
                    ],
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
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            original(self)
        finally:
            watch.add(self, (time.perf_counter() - w0) * 1000, (time.thread_time() - c0) * 1000)

    asyncio.Handle._run = timed  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR1, lambda *_: watch.clear())
    signal.signal(signal.SIGUSR2, watch.write)
    sys.argv = ["monitor", *sys.argv[2:]]
    runpy.run_module("monitor", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
