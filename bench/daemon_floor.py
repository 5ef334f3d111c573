"""The floor of the daemon's CPU per upstream request, measured in this process.

    python3 dev.py bench daemon_floor.py [--fleets 10x334,100x34] [--latency 0.02] [--rounds 2]

``bench/load.py`` prints these rows under its table, for each generated fleet,
against the same simulator: what any daemon of this stack must spend per request
the simulator answers, with nothing of the snapshot, the alerts or the scrapes:

- **bare**: the cycle's own requests over bare aiohttp, each body ``json.loads``ed
  (:func:`_common.bare_cycle`);
- **collect**: every account's full collection through the shipped client
  (``collect_account`` on ``shared_clients``, the daemon's rate limit and
  concurrency): the client, the envelope checks, pydantic validation of every
  record and derivation of the assets; the per-request work a collection cannot
  skip, which the daemon's figure adds the rest to.

CPU is this process's ``time.process_time`` over a round; the best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

from _common import SimulatorProcess, bare_cycle, fleet_accounts, out, table

from monitor.client import shared_clients
from monitor.config import ClientConfig
from monitor.fetch import collect_account
from monitor.log import configure_logging

#: as bench/load.py configures the daemon
_CONFIG = ClientConfig(rate_limit_per_second=50, max_concurrency=8, page_size=100)


class _Counted(Protocol):
    url: str

    def request_counts(self) -> dict[str, dict[str, int]]: ...


@dataclass
class Floor:
    fleet: str
    requests: int
    bare_ms: float
    collect_ms: float

    def cells(self) -> list[object]:
        return [self.fleet, self.requests, self.bare_ms, self.collect_ms]


HEADERS = [
    "fleet",
    "requests/round",
    "floor: bare aiohttp + json.loads, CPU ms/request",
    "floor: collect_account (client, validation, derivation), CPU ms/request",
]


def _requests(sim: _Counted) -> int:
    return sum(sum(c.values()) for c in sim.request_counts().values())


async def _collect(sim: _Counted, accounts: int) -> None:
    clients = shared_clients(fleet_accounts(accounts, sim.url), _CONFIG)
    try:
        results = await asyncio.gather(
            *(collect_account(c, _CONFIG.virtualman_type_codes) for c in clients.values())
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients.values()))
    failed = [r for rs in results for r in rs if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} families failed: {failed[0].error}")


async def _bare(sim: _Counted, accounts: int) -> None:
    await bare_cycle(
        fleet_accounts(accounts, sim.url),
        concurrency=_CONFIG.max_concurrency,
        in_flight=_CONFIG.max_concurrency * accounts,
    )


def _cpu_per_request(sim: _Counted, accounts: int, bare: bool) -> tuple[float, int]:
    before = _requests(sim)
    cpu0 = time.process_time()
    asyncio.run(_bare(sim, accounts) if bare else _collect(sim, accounts))
    cpu = time.process_time() - cpu0
    requests = _requests(sim) - before
    return cpu / requests * 1000 if requests else float("nan"), requests


def measure(sim: _Counted, fleet: str, accounts: int, rounds: int = 2) -> Floor:
    """The best of ``rounds`` alternating rounds of each, after a warm-up of each."""
    configure_logging("error", "json")
    bare: list[float] = []
    collect: list[float] = []
    requests = 0
    for i in range(rounds + 1):
        b, requests = _cpu_per_request(sim, accounts, bare=True)
        c, _ = _cpu_per_request(sim, accounts, bare=False)
        if i:  # the first of each: imports, first sessions
            bare.append(b)
            collect.append(c)
    return Floor(fleet, requests, min(bare), min(collect))


def main(args: argparse.Namespace) -> list[Floor]:
    floors = []
    for fleet in args.fleets.split(","):
        accounts, per = (int(x) for x in fleet.split("x"))
        with SimulatorProcess(accounts, per, latency=args.latency) as sim:
            floors.append(measure(sim, fleet, accounts, args.rounds))
    out(table(HEADERS, [f.cells() for f in floors]))
    return floors


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--fleets", default="10x334,100x34", help="AxN fleets of generate_fleet")
    p.add_argument("--latency", type=float, default=0.02, help="seconds per upstream call")
    p.add_argument("--rounds", type=int, default=2, help="measured rounds of each")
    main(p.parse_args())
