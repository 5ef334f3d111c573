"""Client CPU per upstream request: the aiohttp transport next to httpx's own, one run.

    python3 dev.py bench client_cpu.py [--accounts 10] [--assets 20] [--rounds 4] [--big 0]

One simulator process serves ``generate_fleet(accounts, assets)`` at 20 ms a call
(``--big N``: the first account has N assets of each kind instead, an uneven fleet);
in this process, full cycles of every account (``collect_account`` on the
clients of ``shared_clients``, as ``report`` runs them) alternate between the
client as shipped (httpx's API, requests sent straight to one aiohttp session) and
the baseline, the
same client given httpx's own transport (``httpx.AsyncHTTPTransport``: httpcore,
h11, anyio), round after round so that a noisy machine weighs on both alike.
The floor is what a request costs with no client around it: as many signed POSTs
of a small listing page over a bare aiohttp session, the body read, nothing
parsed; the second floor makes the cycle's own requests (the same pages, the
same bodies) and decodes each body with ``json.loads``, nothing more: the
irreducible part of the client's and of the whole daemon's figure.
The figure is this process's CPU time (``time.process_time``, user + system)
per request the simulator answered; the simulator's CPU is its own process's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import time

import aiohttp
import httpx
from _common import SimulatorProcess, bare_cycle, fleet_accounts, out, table

from monitor.client import shared_clients
from monitor.config import Account, ClientConfig
from monitor.endpoints import DEFAULT_PATHS
from monitor.fetch import collect_account
from monitor.log import configure_logging
from monitor.signing import signed_query

HEADERS = ["transport", "rounds", "requests/round", "CPU ms/request p50", "min", "max"]


def _httpx_transport(config: ClientConfig) -> httpx.AsyncBaseTransport:
    """What ``httpx.AsyncClient`` builds when given no transport (the baseline)."""
    return httpx.AsyncHTTPTransport(
        verify=ssl.create_default_context(),
        limits=httpx.Limits(max_connections=config.max_concurrency),
    )


async def _round(sim: SimulatorProcess, accounts: int, baseline: bool) -> tuple[float, int]:
    config = ClientConfig(rate_limit_per_second=1e6, max_concurrency=4, page_size=100)
    transport = _httpx_transport(config) if baseline else None
    clients = shared_clients(fleet_accounts(accounts, sim.url), config, transport=transport)
    sim.reset()
    cpu0 = time.process_time()
    try:
        results = await asyncio.gather(
            *(collect_account(c, config.virtualman_type_codes) for c in clients.values())
        )
    finally:
        cpu = time.process_time() - cpu0
        await asyncio.gather(*(c.aclose() for c in clients.values()))
        if transport is not None:
            await transport.aclose()
    failed = [r for rs in results for r in rs if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} families failed: {failed[0].error}")
    requests = sum(sum(c.values()) for c in sim.request_counts().values())
    return cpu, requests


async def _floor(sim: SimulatorProcess, accounts: int, requests: int) -> tuple[float, int]:
    """The floor: as many signed POSTs of one small listing page over one bare aiohttp
    session per account (4 at a time each), the body read and nothing else done."""
    config = ClientConfig()
    sim.reset()
    cpu0 = time.process_time()
    per_account = max(1, requests // accounts)

    async def one(account: Account) -> None:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.max_concurrency)
        ) as session:
            body = json.dumps({"Header": {}, "Payload": {"PageIndex": 1, "PageSize": 100}})
            slots = asyncio.Semaphore(config.max_concurrency)

            async def post() -> None:
                async with slots:
                    token = account.access_token.get_secret_value()
                    query = signed_query(account.appkey, token, int(time.time()))
                    url = f"{account.base_url}{DEFAULT_PATHS['describetimbre']}?{query}"
                    async with session.post(url, data=body.encode()) as response:
                        await response.read()

            await asyncio.gather(*(post() for _ in range(per_account)))

    await asyncio.gather(*(one(a) for a in fleet_accounts(accounts, sim.url)))
    cpu = time.process_time() - cpu0
    return cpu, sum(sum(c.values()) for c in sim.request_counts().values())


async def _floor_parsed(sim: SimulatorProcess, accounts: int) -> tuple[float, int]:
    """The floor of client and parsing together (``bare_cycle``): the cycle's own
    requests, each body decoded with ``json.loads`` and nothing else done."""
    sim.reset()
    cpu0 = time.process_time()
    await bare_cycle(fleet_accounts(accounts, sim.url), concurrency=4, in_flight=10**6)
    cpu = time.process_time() - cpu0
    return cpu, sum(sum(c.values()) for c in sim.request_counts().values())


async def measure(accounts: int, assets: int, rounds: int, big: int = 0) -> dict[str, list[float]]:
    """CPU ms per request, by transport, over ``rounds`` alternating rounds each."""
    names = (
        "aiohttp (shipped)",
        "httpx (baseline)",
        "floor: bare aiohttp POST",
        "floor: bare aiohttp, same requests, json.loads",
    )
    per: dict[str, list[float]] = {name: [] for name in names}
    sizes: dict[str, int] = {}
    with SimulatorProcess(accounts, assets, latency=0.02, big=big) as sim:
        await _round(sim, accounts, False)  # warm-up: imports, first TLS context
        for i in range(len(names) * rounds):
            name = names[i % len(names)]
            if i % len(names) == 3:
                cpu, requests = await _floor_parsed(sim, accounts)
            elif i % len(names) == 2:
                cpu, requests = await _floor(sim, accounts, sizes[names[0]])
            else:
                cpu, requests = await _round(sim, accounts, i % len(names) == 1)
            per[name].append(cpu / requests * 1000)
            sizes[name] = requests
    rows = [
        [name, len(v), sizes[name], statistics.median(v), min(v), max(v)] for name, v in per.items()
    ]
    out(table(HEADERS, rows))
    return per


def main(args: argparse.Namespace) -> dict[str, list[float]]:
    return asyncio.run(measure(args.accounts, args.assets, args.rounds, args.big))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--accounts", type=int, default=10)
    p.add_argument("--assets", type=int, default=20, help="assets of each kind per account")
    p.add_argument("--rounds", type=int, default=4, help="rounds of each transport")
    p.add_argument(
        "--big", type=int, default=0, help="the first account has this many assets of each kind"
    )
    return p


if __name__ == "__main__":
    arguments = parser().parse_args()
    configure_logging("critical", "json")
    main(arguments)
