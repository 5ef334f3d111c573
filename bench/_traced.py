"""``python bench/_traced.py DIR FRAMES ARGS...``: ``ivh-monitor ARGS`` under tracemalloc
(``FRAMES`` frames a trace); each SIGUSR1 dumps a snapshot as ``DIR/snapN.bin``, then
writes ``DIR/snapN.done``. For ``bench/holders.py`` only: never how the daemon ships."""

from __future__ import annotations

import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

directory = Path(sys.argv[1])
tracemalloc.start(int(sys.argv[2]))
_taken = [0]


def _dump(_signum: int, _frame: FrameType | None) -> None:
    _taken[0] += 1
    path = directory / f"snap{_taken[0]}.bin"
    tracemalloc.take_snapshot().dump(str(path))
    path.with_suffix(".done").touch()


signal.signal(signal.SIGUSR1, _dump)

from monitor.cli import main  # noqa: E402 - traced from here on

sys.exit(main(sys.argv[3:]))
