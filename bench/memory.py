"""Memory and idle CPU of the real daemon (``ivh-monitor run``) at ~10k assets,
scraped every 15 s through its collection cycles, next to its floor.

    python3 dev.py bench memory.py [--interval 30] [--rss-seconds 65] [--idle 10]
                                   [--fleets 10x334,100x34] [--no-floor]

Each fleet ``AxN`` is ``generate_fleet(A, N)``: A accounts with N services, N
voices and N images each (so 10x334 is 10,020 assets). The simulator runs in
its own process; the daemon is ``python -m monitor run`` with a config file
(launched by ``tests/processes.running_daemon``, as the tests launch it),
every family every ``--interval`` seconds with no jitter (every job at once:
the worst case), alerts on with no channels. Once ``/readyz`` answers 200 the
script reads RSS after the first cycle, waits for the second cycle to end,
and then, for ``--rss-seconds`` (two cycles by default), scrapes ``/metrics``
every 15 s (Prometheus' default interval) while the daemon goes on collecting,
sampling RSS every 0.5 s: **steady** is the median of the samples, **peak**
their maximum (and ``VmHWM``, the high-water mark since start). Then it times
``/metrics`` (plain and gzip) and ``/`` twenty times each, waits for the end of
the next cycle and leaves the daemon idle for ``--idle`` seconds, measuring the
CPU it used meanwhile (from 7 s after the cycle's end: the cycle's last alert
evaluations and the heap's settle and trim at the first quiet look are the
cycle's work, done once per cycle).

The **floor** of a fleet ``AxN`` is the same daemon, same config, over ``Ax0``
(the accounts with no assets): the interpreter, the imports, the threads, the
clients and the scheduler. ``MB/1k above floor`` is what a thousand assets cost
over it (steady).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import (
    SimulatorProcess,
    cpu_seconds,
    fleet_config,
    memory_kib,
    out,
    quantiles,
    table,
    wait_until,
)
from scrape import fetch

from monitor.domain import FAMILIES
from tests.processes import RunningDaemon, running_daemon

HEADERS = [
    "fleet",
    "assets",
    "ready s",
    "RSS after cycle MB",
    "RSS after 2nd cycle MB",
    "RSS steady scraped MB",
    "RSS peak scraped MB",
    "peak RSS MB",
    "MB/1k above floor",
    "scrape p50 ms",
    "scrape p95 ms",
    "bytes",
    "gzip p50 ms",
    "gzip bytes",
    "/ p50 ms",
    "/ bytes",
    "idle CPU ms/s",
]

#: Prometheus' default scrape interval
_SCRAPE_EVERY = 15.0


#: from the end of a cycle to the idle window: its last evaluations, the heap trim
_AFTER_CYCLE_SECONDS = 7.0


def scraped_rss(url: str, pid: int, seconds: float) -> list[float]:
    """RSS (MB) of ``pid`` every 0.5 s for ``seconds``, ``/metrics`` scraped every 15 s."""
    rss: list[float] = []
    started = time.monotonic()
    next_scrape = started
    while time.monotonic() - started < seconds:
        if time.monotonic() >= next_scrape:
            fetch(url + "/metrics")
            next_scrape += _SCRAPE_EVERY
        rss.append(memory_kib(pid)["VmRSS"] / 1024)
        time.sleep(0.5)
    return rss


def _timed(url: str, *, gzip_ok: bool = False, repeat: int = 20) -> tuple[float, float, int]:
    fetch(url, gzip_ok=gzip_ok)
    samples: list[float] = []
    size = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        size = len(fetch(url, gzip_ok=gzip_ok))
        samples.append(time.perf_counter() - t0)
    p50, p95 = quantiles(samples)
    return p50 * 1000, p95 * 1000, size


def _finished(log: Path) -> int:
    """Collections finished (or failed) so far, from the daemon's log."""
    text = log.read_text()
    return text.count('"collect.finished"') + text.count('"collect.failed"')


def measure(accounts: int, per_account: int, args: argparse.Namespace) -> list[object]:
    with (
        SimulatorProcess(accounts, per_account) as sim,
        tempfile.TemporaryDirectory(prefix="ivh-bench-") as tmp,
    ):
        config = {
            **fleet_config(accounts, sim.url),
            "state_dir": tmp,
            "client": {"rate_limit_per_second": 50, "max_concurrency": 8},
            "schedule": {f"{f}_seconds": args.interval for f in FAMILIES} | {"jitter_seconds": 0},
        }
        with running_daemon(config, Path(tmp), log_level="info", ready_timeout=600) as daemon:
            return _observe(daemon, args, accounts=accounts, per_account=per_account)


def _observe(
    daemon: RunningDaemon, args: argparse.Namespace, *, accounts: int, per_account: int
) -> list[object]:
    pid, log, url = daemon.pid, daemon.log_path, daemon.url
    ready = daemon.ready_seconds
    after_cycle = memory_kib(pid)["VmRSS"] / 1024
    jobs = accounts * len(FAMILIES)
    if not wait_until(lambda: _finished(log) >= 2 * jobs, 600, every=0.2):
        raise RuntimeError("the second cycle never ended")
    time.sleep(0.5)  # the last job's alerts and snapshot swap
    after_second = memory_kib(pid)["VmRSS"] / 1024
    metrics = fetch(url + "/metrics").decode()
    assets = sum(1 for line in metrics.splitlines() if line.startswith("ivh_asset_info{"))
    # scraped every 15 s while it collects: steady and peak RSS
    rss = scraped_rss(url, pid, args.rss_seconds)
    p50, p95, size = _timed(url + "/metrics")
    zp50, _, zsize = _timed(url + "/metrics", gzip_ok=True)
    sp50, _, ssize = _timed(url + "/")
    peak = memory_kib(pid)["VmHWM"] / 1024
    # idle: right after the next cycle has ended
    done = _finished(log)
    if not wait_until(lambda: _finished(log) >= (done // jobs + 1) * jobs, 600, every=0.2):
        raise RuntimeError("the next cycle never ended")
    # the last evaluations, then the heap's settle and trim at the first quiet look
    # (monitor.cli._trim_heap, 5 s): once per cycle, not idle work
    time.sleep(_AFTER_CYCLE_SECONDS)
    cpu0 = cpu_seconds(pid)
    time.sleep(args.idle)
    idle_cpu = (cpu_seconds(pid) - cpu0) / args.idle * 1000
    return [
        f"{accounts}x{per_account}",
        assets,
        ready,
        after_cycle,
        after_second,
        statistics.median(rss),
        max(rss),
        peak,
        float("nan"),
        p50,
        p95,
        size,
        zp50,
        zsize,
        sp50,
        ssize,
        idle_cpu,
    ]


def main(args: argparse.Namespace) -> list[list[object]]:
    rows: list[list[object]] = []
    col = {name: i for i, name in enumerate(HEADERS)}
    for fleet in args.fleets.split(","):
        accounts, per = (int(x) for x in fleet.split("x"))
        row = measure(accounts, per, args)
        if args.floor and per > 0:
            floor = measure(accounts, 0, args)
            above = float(str(row[col["RSS steady scraped MB"]])) - float(
                str(floor[col["RSS steady scraped MB"]])
            )
            assets = int(str(row[col["assets"]]))
            row[col["MB/1k above floor"]] = above / (assets / 1000) if assets else float("nan")
            rows.extend([row, floor])
        else:
            rows.append(row)
        out(
            f"  {fleet}: RSS steady/peak scraped {row[col['RSS steady scraped MB']]:.0f}"
            f"/{row[col['RSS peak scraped MB']]:.0f} MB, VmHWM {row[col['peak RSS MB']]:.0f} MB"
        )
    out()
    out(table(HEADERS, rows))
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--interval",
        type=float,
        default=30.0,
        help="seconds between collections (the idle measurement must fit between two)",
    )
    p.add_argument(
        "--rss-seconds",
        type=float,
        default=65.0,
        help="seconds scraped every 15 s while collecting (default: two cycles and a bit)",
    )
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    p.add_argument(
        "--fleets",
        default="10x334,100x34",
        help="ACCOUNTSxASSETS_PER_ACCOUNT, comma-separated (default 10x334,100x34)",
    )
    p.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the floor row (the same accounts with no assets) of each fleet",
    )
    return p


if __name__ == "__main__":
    main(parser().parse_args())
