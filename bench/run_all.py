"""Every benchmark, then the targets: pass or miss.

    python3 dev.py bench run_all.py            # the full set (about 11 minutes on 2 cores)
    python3 dev.py bench run_all.py --quick    # up to 100 accounts and 10k assets (~15 min)

Targets (the issue's): a cycle within 1.2x of its lower bound; a 10k-asset
scrape under 100 ms (p95 of the real daemon's ``/metrics``); under 100 MB peak
RSS at 10k assets; and under load (issue 14, bench/load.py next to a baseline tree
at /tmp/perf-base when there is one): p99 scrape under 100 ms at 10k assets (300 ms
at 50k), RSS under 100 MB steady and peak (150 MB at 100 accounts), the whole
daemon's CPU at most 1 ms per upstream request, the client's alone 0.4 ms
(bench/client_cpu.py). See docs/benchmarks.md for the setup and recorded results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from datetime import UTC, datetime

import client_cpu
import fleet
import load
import memory
import scrape
from _common import out, table

from monitor import __version__
from monitor.log import configure_logging


def _header() -> None:
    out(
        f"ivh-monitor {__version__} benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
        f" Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )


def _verdict(ok: bool) -> str:
    return "pass" if ok else "MISS"


def _slack(c: fleet.Row) -> float:
    return 1.5 if c.scenario == "latency" else 1.2


def _load_checks(runs: list[load.Run], per_request: dict[str, list[float]]) -> list[list[object]]:
    """The issue-14 targets, from this tree's runs (the baseline is printed beside them)."""
    checks: list[list[object]] = []
    for r in (r for r in runs if r.tree == "this tree"):
        accounts = int(r.fleet.split("x")[0])
        bound = 300.0 if r.assets > 30_000 else 100.0
        where = f"{r.assets // 1000}k assets, {accounts} accounts"
        checks.append(
            [
                f"p99 scrape < {bound:.0f} ms under load ({where})",
                f"{r.p99:.0f} ms",
                _verdict(r.p99 < bound),
            ]
        )
        checks.append(
            [
                f"first scrape after a collection < {bound:.0f} ms ({where})",
                f"{r.first_max:.0f} ms max",
                _verdict(r.first_max < bound),
            ]
        )
        checks.append(
            [
                f"p99 / first gzip scrape (Prometheus' default) < {bound:.0f} ms ({where})",
                f"{r.gzip_p99:.0f} / {r.gzip_first_max:.0f} ms max",
                _verdict(max(r.gzip_p99, r.gzip_first_max) < bound),
            ]
        )
        if r.assets <= 30_000:
            rss_bound = 100.0 if accounts <= 10 else 150.0
            peak = max(r.rss_peak, r.hwm)
            checks.append(
                [
                    f"RSS < {rss_bound:.0f} MB steady, scraped every 15 s ({where})",
                    f"{r.rss_steady:.0f} MB",
                    _verdict(r.rss_steady < rss_bound),
                ]
            )
            checks.append(
                [
                    f"RSS < {rss_bound:.0f} MB peak ({where})",
                    f"{peak:.0f} MB",
                    _verdict(peak < rss_bound),
                ]
            )
        checks.append(
            [
                f"daemon CPU <= 1.0 ms per upstream request ({where})",
                f"{r.cpu_per_request:.2f} ms",
                _verdict(r.cpu_per_request <= 1.0),
            ]
        )
    shipped = per_request.get("aiohttp (shipped)", [])
    if shipped:
        p50 = statistics.median(shipped)
        checks.append(
            [
                "client CPU <= 0.4 ms per request (collect_account)",
                f"{p50:.2f} ms",
                _verdict(p50 <= 0.4),
            ]
        )
    return checks


def main(quick: bool) -> int:
    _header()
    started = time.perf_counter()
    fleet_args = fleet.parser().parse_args(["--accounts", "1,10,100"] if quick else [])
    scrape_args = scrape.parser().parse_args(["--assets", "1000,10000"] if quick else [])
    memory_args = memory.parser().parse_args(
        ["--fleets", "10x334", "--idle", "10"] if quick else []
    )
    load_args = load.parser().parse_args(
        ["--fleets", "10x334,100x34", "--rss-seconds", "45", "--loop-cycles", "2"] if quick else []
    )
    cpu_args = client_cpu.parser().parse_args(["--rounds", "3"] if quick else [])

    out("\n## Fleet collection (one full cycle)\n")
    cycles = asyncio.run(fleet.main(fleet_args))
    out("\n## Scrape\n")
    scrapes = scrape.main(scrape_args)
    out("\n## Memory and idle CPU of the daemon\n")
    daemons = memory.main(memory_args)
    out("\n## Under load: the daemon scraped while it collects, next to its baseline\n")
    loaded = load.main(load_args)
    out("\n## Client CPU per request, next to httpx's own transport\n")
    per_request = client_cpu.main(cpu_args)

    # issue 14: within 1.5x of the bound at 20 ms a call, 1.2x where latency is longer
    # or the rate limit binds
    checks: list[list[object]] = [
        [
            f"cycle <= {_slack(c)}x bound ({c.scenario}, {c.accounts} accounts)",
            f"{c.cycle / c.bound:.2f}x",
            _verdict(c.cycle <= _slack(c) * c.bound and not c.failed),
        ]
        for c in cycles
    ]
    for row in (dict(zip(memory.HEADERS, r, strict=True)) for r in daemons):
        if row["fleet"] == "10x334":
            p95, peak = float(str(row["scrape p95 ms"])), float(str(row["peak RSS MB"]))
            checks.append(
                ["10k-asset scrape p95 < 100 ms (daemon)", f"{p95:.0f} ms", _verdict(p95 < 100)]
            )
            checks.append(
                ["peak RSS < 100 MB at 10k assets", f"{peak:.0f} MB", _verdict(peak < 100)]
            )
    for row in scrapes:
        if row[0] == 10_000 and row[1] == "http":
            p95 = float(str(row[3]))
            verdict = _verdict(p95 < 100)
            checks.append(["10k-asset scrape p95 < 100 ms (in-process)", f"{p95:.0f} ms", verdict])
    checks.extend(_load_checks(loaded, per_request))
    out("\n## Targets\n")
    out(table(["target", "measured", "verdict"], checks))
    out(f"\n(took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about 4 minutes")
    configure_logging("critical", "json")
    raise SystemExit(main(parser.parse_args().quick))
