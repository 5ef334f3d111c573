"""Serve ``generate_fleet`` on a free loopback port until SIGTERM (run by the benchmarks).

    _sim.py ACCOUNTS ASSETS_PER_ACCOUNT LATENCY_S RATE_LIMIT_PER_S(0 = none) [BIG]

With BIG, the fleet is uneven: the first account has BIG assets of each kind
(many pages of every listing), the others ASSETS_PER_ACCOUNT.

Prints the URL on the first line of stdout once listening.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime

from monitor.log import configure_logging
from monitor.simulator import Dataset, generate_fleet, run_simulator


async def _main(accounts: int, per_account: int, latency: float, rate: float, big: int) -> None:
    now = datetime.now(UTC)
    dataset = generate_fleet(accounts, per_account, now)
    if big:
        first = generate_fleet(1, big, now, seed=1).accounts
        dataset = Dataset([*first, *dataset.accounts[1:]])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with run_simulator(dataset, latency=latency, rate_limit_per_second=rate or None) as sim:
        sys.stdout.write(sim.url + "\n")
        sys.stdout.flush()
        await stop.wait()


if __name__ == "__main__":
    configure_logging("error", "json")
    count, per, lat, limit = sys.argv[1:5]
    big = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    asyncio.run(_main(int(count), int(per), float(lat), float(limit), big))
