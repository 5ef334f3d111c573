"""Who holds the real daemon's Python heap at ~10k assets: tracemalloc of
``ivh-monitor run`` after its second collection cycle and again after a scrape.

    python3 dev.py bench holders.py [--fleet 10x334] [--frames 8] [--top 12]

The daemon and its config are those of ``bench/memory.py`` (every family every
``--interval`` s, no jitter, alerts on with no channels), started through
``bench/_traced.py``, which traces every allocation with ``--frames`` frames
(slow: a cycle takes several times as long, and RSS is not the shipped one: read
the MB, not the RSS). Each trace is charged to its innermost frame in
``monitor/`` (the module that asked for it, e.g. ``derive.py`` for an Asset's
fields, ``client.py`` for the strings decoded from a vendor page and still
referenced), to ``imports`` when only the import machinery made it (modules,
classes, code), or else to the library of its innermost frame. Two tables:
MB by holder, and the biggest lines.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from _common import SimulatorProcess, fleet_config, out, table, wait_until
from scrape import fetch

from monitor.domain import FAMILIES
from tests.processes import clean_env, prepare_daemon

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent


def _owner(trace: tracemalloc.Trace) -> tuple[str, str]:
    """(holder, line) of one trace: its innermost frame under monitor/, else ..."""
    frames = list(trace.traceback)  # oldest first
    ours = [f for f in frames if "/monitor/" in f.filename]
    if ours:
        inner = ours[-1]
        name = inner.filename.split("/monitor/")[-1]
        return name, f"{name}:{inner.lineno}"
    if any("importlib._bootstrap" in f.filename for f in frames):
        return "imports", "imports"
    last = frames[-1].filename if frames else "?"
    name = last.split("site-packages/")[-1].split("/lib/python3")[-1]
    return name, name


def holders(path: Path) -> tuple[float, collections.Counter[str], collections.Counter[str]]:
    snapshot = tracemalloc.Snapshot.load(str(path))
    by_holder: collections.Counter[str] = collections.Counter()
    by_line: collections.Counter[str] = collections.Counter()
    for trace in snapshot.traces:
        holder, line = _owner(trace)
        by_holder[holder] += trace.size
        by_line[line] += trace.size
    return sum(by_holder.values()) / 2**20, by_holder, by_line


def _snapshot(pid: int, directory: Path, n: int) -> Path:
    os.kill(pid, signal.SIGUSR1)
    done = directory / f"snap{n}.done"
    if not wait_until(done.exists, 300, every=0.5):
        raise RuntimeError("no snapshot within 300 s")
    return directory / f"snap{n}.bin"


def _finished(log: Path) -> int:
    text = log.read_text()
    return text.count('"collect.finished"') + text.count('"collect.failed"')


def measure(args: argparse.Namespace) -> list[Path]:
    accounts, per = (int(x) for x in args.fleet.split("x"))
    with (
        SimulatorProcess(accounts, per) as sim,
        tempfile.TemporaryDirectory(prefix="ivh-holders-") as tmp,
    ):
        directory = Path(tmp)
        config = {
            **fleet_config(accounts, sim.url),
            "state_dir": tmp,
            "client": {"rate_limit_per_second": 50, "max_concurrency": 8},
            "schedule": {f"{f}_seconds": args.interval for f in FAMILIES} | {"jitter_seconds": 0},
        }
        launch = prepare_daemon(config, directory, log_level="info")
        traced = [sys.executable, str(_HERE / "_traced.py"), tmp, str(args.frames)]
        argv = traced + launch.argv[3:]  # [python, -m, monitor] -> the traced wrapper
        env = clean_env() | {"PYTHONPATH": str(_ROOT)}
        with launch.log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and wrapper
                argv, stdout=log, stderr=log, env=env, cwd=_ROOT
            )
        try:
            jobs = accounts * len(FAMILIES)
            if not wait_until(lambda: _finished(launch.log_path) >= 2 * jobs, 1200, every=0.5):
                raise RuntimeError(launch.log_path.read_text()[-2000:])
            time.sleep(args.settle)  # the last evaluations, the heap's settle
            kept = Path(tempfile.mkdtemp(prefix="ivh-holders-snaps-"))
            first = _snapshot(process.pid, directory, 1).rename(kept / "after-2nd-cycle.bin")
            fetch(launch.url + "/metrics")
            fetch(launch.url + "/metrics", gzip_ok=True)
            fetch(launch.url + "/")
            second = _snapshot(process.pid, directory, 2).rename(kept / "after-scrape.bin")
            return [first, second]
        finally:
            process.terminate()
            process.wait(60)


def main(args: argparse.Namespace) -> None:
    snaps = measure(args)
    results = [holders(p) for p in snaps]
    names = sorted(
        {h for _, by, _ in results for h, _ in by.most_common(args.top)},
        key=lambda h: -results[-1][1][h],
    )
    headers = ["holder", "MB after 2nd cycle", "MB after a scrape"]
    rows: list[list[object]] = [[h, *(by[h] / 2**20 for _, by, _ in results)] for h in names]
    rows.append(["all traced", *(total for total, _, _ in results)])
    out(f"holders of the traced heap, fleet {args.fleet} ({args.frames} frames a trace)")
    out()
    out(table(headers, rows))
    out()
    lines = results[-1][2]
    top = [[k, v / 2**20] for k, v in lines.most_common(args.top)]
    out(table(["line (after a scrape)", "MB"], top))
    out()
    out(f"snapshots kept: {', '.join(str(p) for p in snaps)}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--fleet", default="10x334", help="ACCOUNTSxASSETS_PER_ACCOUNT (10x334)")
    p.add_argument("--frames", type=int, default=8, help="frames kept a trace (8)")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between collections")
    p.add_argument("--settle", type=float, default=7.0, help="seconds after the 2nd cycle")
    p.add_argument("--top", type=int, default=12, help="holders and lines shown (12)")
    return p


if __name__ == "__main__":
    main(parser().parse_args())
