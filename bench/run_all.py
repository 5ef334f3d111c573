"""Every benchmark, then the targets: pass or miss.

    python3 dev.py bench run_all.py            # the full set (about 11 minutes on 2 cores)
    python3 dev.py bench run_all.py --quick    # up to 100 accounts and 10k assets (~4 min)

Targets (the issue's): a cycle within 1.2x of its lower bound; a 10k-asset
scrape under 100 ms (p95 of the real daemon's ``/metrics``); under 100 MB peak
RSS at 10k assets. See docs/benchmarks.md for the setup and recorded results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from datetime import UTC, datetime

import fleet
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


def main(quick: bool) -> int:
    _header()
    started = time.perf_counter()
    fleet_args = fleet.parser().parse_args(["--accounts", "1,10,100"] if quick else [])
    scrape_args = scrape.parser().parse_args(["--assets", "1000,10000"] if quick else [])
    memory_args = memory.parser().parse_args(
        ["--fleets", "10x334", "--idle", "10"] if quick else []
    )

    out("\n## Fleet collection (one full cycle)\n")
    cycles = asyncio.run(fleet.main(fleet_args))
    out("\n## Scrape\n")
    scrapes = scrape.main(scrape_args)
    out("\n## Memory and idle CPU of the daemon\n")
    daemons = memory.main(memory_args)

    checks: list[list[object]] = [
        [
            f"cycle <= 1.2x bound ({c.scenario}, {c.accounts} accounts)",
            f"{c.cycle / c.bound:.2f}x",
            _verdict(c.cycle <= 1.2 * c.bound and not c.failed),
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
    out("\n## Targets\n")
    out(table(["target", "measured", "verdict"], checks))
    out(f"\n(took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about 4 minutes")
    configure_logging("critical", "json")
    raise SystemExit(main(parser.parse_args().quick))
