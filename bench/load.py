"""The worst case: the real daemon scraped while it collects, next to a baseline daemon.

    python3 dev.py bench load.py [--fleets 10x334,100x34,10x1667] [--interval 20]
                                 [--latency 0.02] [--loop-cycles 3] [--rss-seconds 60]
                                 [--base /tmp/perf-base]

Each fleet ``AxN`` is ``generate_fleet(A, N)`` (A accounts with N services, N
voices and N images each: 10x334 and 100x34 are ~10k assets, 10x1667 ~50k) in
a simulator process answering every call after ``--latency`` s. The daemon is
``python -m monitor run`` with every family every ``--interval`` s and no
jitter (every job at once), alerts on with no channels, rate limit 50/s and
8 calls at once per account. Once its second cycle has ended:

1. **scraped every 15 s** for ``--rss-seconds`` (Prometheus' default interval):
   RSS sampled every 0.5 s, steady (the median of the samples) and peak (their
   maximum, and ``VmHWM`` since start); the daemon's whole CPU time
   (``/proc/<pid>/stat``, user + system: client, parsing, derivation, alert
   evaluation, scrapes) over the requests the simulator answered meanwhile;
2. **scraped in a loop** for ``--loop-cycles`` collection cycles, one scrape
   after the other (``GET /metrics``, plain): p50, p99 and max, and the same
   for the scrapes that are the first after a collection ended (a
   ``collect.finished`` or ``collect.failed`` line in the daemon's log since the
   scrape before).

The baseline is the same measurement of another source tree (``--base``, by
default ``/tmp/perf-base``: ``git worktree add --detach /tmp/perf-base <commit>``),
run in the same invocation against the same simulator, in alternating order
from fleet to fleet so that a noisy machine weighs on both alike. Without that
directory only this tree is measured. The bounds are the issue's targets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path

from _common import (
    ROOT,
    SimulatorProcess,
    cpu_seconds,
    fleet_config,
    memory_kib,
    out,
    table,
    wait_until,
)
from memory import _finished
from scrape import fetch

from monitor.domain import FAMILIES

_SCRAPE_EVERY = 15.0
_COMMAND = (sys.executable, "-m", "monitor")


@dataclass
class Run:
    fleet: str
    tree: str
    assets: int
    p50: float
    p99: float
    max: float
    scrapes: int
    first_p50: float
    first_max: float
    firsts: int
    rss_steady: float
    rss_peak: float
    hwm: float
    cpu_per_request: float
    requests: int

    def cells(self) -> list[object]:
        return [
            self.fleet,
            self.tree,
            self.assets,
            self.scrapes,
            self.p50,
            self.p99,
            self.max,
            self.firsts,
            self.first_p50,
            self.first_max,
            self.rss_steady,
            self.rss_peak,
            self.hwm,
            self.requests,
            self.cpu_per_request,
        ]


HEADERS = [
    "fleet",
    "tree",
    "assets",
    "scrapes",
    "p50 ms",
    "p99 ms",
    "max ms",
    "first after collection",
    "first p50 ms",
    "first max ms",
    "RSS steady MB",
    "RSS peak MB",
    "VmHWM MB",
    "upstream requests",
    "daemon CPU ms/request",
]


def _listening_url(log: Path, timeout: float) -> str:
    """The daemon's URL from its ``server.listening`` log event (this benchmark starts
    daemons of other trees too, so it cannot use the tests' launcher)."""
    found: list[str] = []

    def seen() -> bool:
        for line in log.read_text().splitlines():
            if '"server.listening"' in line:
                found.append(json.loads(line)["url"])
                return True
        return False

    if not wait_until(seen, timeout):
        raise RuntimeError(f"daemon did not start; its log:\n{log.read_text()[-3000:]}")
    return found[0]


def _ready(url: str) -> bool:
    try:
        fetch(url + "/readyz")
    except (urllib.error.URLError, OSError):
        return False
    return True


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _LogTail:
    """Collections ended so far, reading only what the log gained since last time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._partial = b""
        self.ended = 0

    def poll(self) -> int:
        with self._path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        self._offset += len(data)
        data = self._partial + data
        lines, _, self._partial = data.rpartition(b"\n")
        self.ended += lines.count(b'"collect.finished"') + lines.count(b'"collect.failed"')
        return self.ended


def _daemon(tree: Path, sim: SimulatorProcess, tmp: Path, accounts: int, interval: float) -> Path:
    config = {
        **fleet_config(accounts, sim.url),
        "listen": "127.0.0.1:0",
        "state_dir": str(tmp),
        "client": {"rate_limit_per_second": 50, "max_concurrency": 8},
        "schedule": {f"{f}_seconds": interval for f in FAMILIES} | {"jitter_seconds": 0},
    }
    path = tmp / "config.yaml"
    path.write_text(json.dumps(config))
    return path


def measure(
    tree: Path, label: str, sim: SimulatorProcess, fleet: str, args: argparse.Namespace
) -> Run:
    accounts = int(fleet.split("x", maxsplit=1)[0])
    with tempfile.TemporaryDirectory(prefix="ivh-bench-load-") as name:
        tmp = Path(name)
        config = _daemon(tree, sim, tmp, accounts, args.interval)
        log = tmp / "daemon.log"
        with log.open("w") as log_file:
            daemon = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [*_COMMAND, "--config", str(config), "--log-format", "json", "run"],
                cwd=tree,
                env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
            try:
                return _observe(daemon.pid, log, label, fleet=fleet, accounts=accounts, args=args)
            finally:
                daemon.terminate()
                daemon.wait(30)


def _observe(
    pid: int, log: Path, label: str, *, fleet: str, accounts: int, args: argparse.Namespace
) -> Run:
    url = _listening_url(log, 120)
    if not wait_until(lambda: _ready(url), 900, every=0.2):
        raise RuntimeError("daemon never became ready")
    jobs = accounts * len(FAMILIES)
    if not wait_until(lambda: _finished(log) >= 2 * jobs, 900, every=0.5):
        raise RuntimeError("the second cycle never ended")
    metrics = fetch(url + "/metrics").decode()
    assets = sum(1 for line in metrics.splitlines() if line.startswith("ivh_asset_info{"))

    # 1. scraped every 15 s: RSS, and the daemon's CPU per upstream request
    counts0 = _requests(args.sim)
    cpu0 = cpu_seconds(pid)
    rss: list[float] = []
    started = time.monotonic()
    next_scrape = started
    while time.monotonic() - started < args.rss_seconds:
        if time.monotonic() >= next_scrape:
            fetch(url + "/metrics")
            next_scrape += _SCRAPE_EVERY
        rss.append(memory_kib(pid)["VmRSS"] / 1024)
        time.sleep(0.5)
    cpu = cpu_seconds(pid) - cpu0
    requests = _requests(args.sim) - counts0

    # 2. scraped in a loop through collection cycles
    tail = _LogTail(log)
    tail.poll()
    seen = tail.ended
    samples: list[float] = []
    firsts: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < args.loop_cycles * args.interval:
        ended = tail.poll()
        t0 = time.perf_counter()
        fetch(url + "/metrics")
        elapsed = (time.perf_counter() - t0) * 1000
        samples.append(elapsed)
        if ended > seen:
            firsts.append(elapsed)
            seen = ended
    hwm = memory_kib(pid)["VmHWM"] / 1024
    return Run(
        fleet=fleet,
        tree=label,
        assets=assets,
        p50=statistics.median(samples),
        p99=_percentile(samples, 0.99),
        max=max(samples),
        scrapes=len(samples),
        first_p50=statistics.median(firsts) if firsts else float("nan"),
        first_max=max(firsts) if firsts else float("nan"),
        firsts=len(firsts),
        rss_steady=statistics.median(rss),
        rss_peak=max(rss),
        hwm=hwm,
        cpu_per_request=cpu / requests * 1000 if requests else float("nan"),
        requests=requests,
    )


def _requests(sim: SimulatorProcess) -> int:
    return sum(sum(c.values()) for c in sim.request_counts().values())


def main(args: argparse.Namespace) -> list[Run]:
    base = Path(args.base)
    trees = [(ROOT, "this tree")]
    if (base / "monitor" / "__init__.py").exists() and base.resolve() != ROOT:
        head = subprocess.run(  # noqa: S603 - git, fixed arguments
            ["git", "-C", str(base), "log", "-1", "--format=%h"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        trees.append((base, f"baseline {head or base}"))
    else:
        out(f"  (no baseline tree at {base}: this tree only)")
    out(
        f"load: simulator at {args.latency * 1000:g} ms a call, every family every"
        f" {args.interval:g} s, no jitter; scraped every {_SCRAPE_EVERY:g} s for"
        f" {args.rss_seconds:g} s, then in a loop for {args.loop_cycles} cycles"
    )
    runs: list[Run] = []
    for i, fleet in enumerate(args.fleets.split(",")):
        accounts, per = (int(x) for x in fleet.split("x"))
        with SimulatorProcess(accounts, per, latency=args.latency) as sim:
            args.sim = sim
            order = trees if i % 2 == 0 else list(reversed(trees))
            for tree, label in order:
                run = measure(tree, label, sim, fleet, args)
                runs.append(run)
                out(
                    f"  {fleet} {label}: p50/p99/max {run.p50:.0f}/{run.p99:.0f}/{run.max:.0f} ms,"
                    f" RSS {run.rss_steady:.0f}/{run.rss_peak:.0f} MB,"
                    f" {run.cpu_per_request:.2f} ms CPU/request"
                )
    out()
    out(table(HEADERS, [r.cells() for r in runs]))
    return runs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--fleets", default="10x334,100x34,10x1667")
    p.add_argument("--interval", type=float, default=20.0, help="seconds between collections")
    p.add_argument("--latency", type=float, default=0.02, help="seconds per upstream call")
    p.add_argument("--loop-cycles", type=int, default=3, help="cycles of back-to-back scrapes")
    p.add_argument("--rss-seconds", type=float, default=60.0, help="seconds scraped every 15 s")
    p.add_argument(
        "--base",
        default="/tmp/perf-base",  # noqa: S108 - a path the reader chooses, read only
        help="the baseline source tree (a git worktree)",
    )
    return p


if __name__ == "__main__":
    main(parser().parse_args())
