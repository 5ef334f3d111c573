"""Memory and idle CPU of the real daemon (``ivh-monitor run``) at ~10k assets.

    python3 dev.py bench memory.py [--interval 60] [--idle 20] [--fleets 1x1,10x334,100x34]

Each fleet ``AxN`` is ``generate_fleet(A, N)``: A accounts with N services, N
voices and N images each (so 10x334 is 10,020 assets). The simulator runs in
its own process; the daemon is ``python -m monitor run`` with a config file
(launched by ``tests/processes.running_daemon``, as the tests launch it),
every family every ``--interval`` seconds with no jitter (every job at once:
the worst case), alerts on with no channels. Once ``/readyz`` answers 200 the
script reads RSS after the first cycle; then it waits for the second cycle to
end (the steady state: while a cycle runs, the last good data and the new data
are both in memory) and reads RSS again, scrapes ``/metrics`` (plain and gzip)
and ``/`` twenty times each, and leaves the daemon idle for ``--idle`` seconds,
measuring the CPU it used meanwhile. Peak RSS is ``VmHWM`` at the end.
"""

from __future__ import annotations

import argparse
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
    "peak RSS MB",
    "scrape p50 ms",
    "scrape p95 ms",
    "bytes",
    "gzip p50 ms",
    "gzip bytes",
    "/ p50 ms",
    "/ bytes",
    "idle CPU ms/s",
]


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


def measure(accounts: int, per_account: int, idle: float, interval: float) -> list[object]:
    with (
        SimulatorProcess(accounts, per_account) as sim,
        tempfile.TemporaryDirectory(prefix="ivh-bench-") as tmp,
    ):
        config = {
            **fleet_config(accounts, sim.url),
            "state_dir": tmp,
            "client": {"rate_limit_per_second": 50, "max_concurrency": 8},
            "schedule": {
                "services_seconds": interval,
                "timbres_seconds": interval,
                "images_seconds": interval,
                "actions_seconds": interval,
                "jitter_seconds": 0,
            },
        }
        with running_daemon(config, Path(tmp), log_level="info", ready_timeout=600) as daemon:
            return _observe(daemon, idle, accounts=accounts, per_account=per_account)


def _observe(
    daemon: RunningDaemon, idle: float, *, accounts: int, per_account: int
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
    p50, p95, size = _timed(url + "/metrics")
    zp50, _, zsize = _timed(url + "/metrics", gzip_ok=True)
    sp50, _, ssize = _timed(url + "/")
    peak = memory_kib(pid)["VmHWM"] / 1024
    cpu0 = cpu_seconds(pid)
    time.sleep(idle)
    idle_cpu = (cpu_seconds(pid) - cpu0) / idle * 1000
    return [
        f"{accounts}x{per_account}",
        assets,
        ready,
        after_cycle,
        after_second,
        peak,
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
    rows = []
    for fleet in args.fleets.split(","):
        accounts, per = (int(x) for x in fleet.split("x"))
        rows.append(measure(accounts, per, args.idle, args.interval))
        out(
            f"  {fleet}: peak RSS {dict(zip(HEADERS, rows[-1], strict=True))['peak RSS MB']:.0f} MB"
        )
    out()
    out(table(HEADERS, rows))
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--interval",
        type=float,
        default=60.0,
        help="seconds between collections (the idle measurement must fit between two)",
    )
    p.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measurement")
    p.add_argument(
        "--fleets",
        default="1x1,10x334,100x34",
        help="ACCOUNTSxASSETS_PER_ACCOUNT, comma-separated (default 1x1,10x334,100x34)",
    )
    return p


if __name__ == "__main__":
    main(parser().parse_args())
