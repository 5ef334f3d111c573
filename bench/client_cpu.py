"""Client CPU per upstream request: the aiohttp transport next to httpx's own, one run.

    python3 dev.py bench client_cpu.py [--accounts 10] [--assets 20] [--rounds 4]

One simulator process serves ``generate_fleet(accounts, assets)`` at 20 ms a call;
in this process, full cycles of every account (``collect_account`` on the
clients of ``shared_clients``, as ``report`` runs them) alternate between the
client as shipped (httpx's API over one aiohttp session) and the baseline, the
same client given httpx's own transport (``httpx.AsyncHTTPTransport``: httpcore,
h11, anyio), round after round so that a noisy machine weighs on both alike.
The figure is this process's CPU time (``time.process_time``, user + system)
per request the simulator answered; the simulator's CPU is its own process's.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import time

import httpx
from _common import SimulatorProcess, fleet_accounts, out, table

from monitor.client import shared_clients
from monitor.config import ClientConfig
from monitor.fetch import collect_account
from monitor.log import configure_logging

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


async def measure(accounts: int, assets: int, rounds: int) -> dict[str, list[float]]:
    """CPU ms per request, by transport, over ``rounds`` alternating rounds each."""
    per: dict[str, list[float]] = {"aiohttp (shipped)": [], "httpx (baseline)": []}
    sizes: dict[str, int] = {}
    with SimulatorProcess(accounts, assets, latency=0.02) as sim:
        await _round(sim, accounts, False)  # warm-up: imports, first TLS context
        for i in range(2 * rounds):
            baseline = i % 2 == 1
            name = "httpx (baseline)" if baseline else "aiohttp (shipped)"
            cpu, requests = await _round(sim, accounts, baseline)
            per[name].append(cpu / requests * 1000)
            sizes[name] = requests
    rows = [
        [name, len(v), sizes[name], statistics.median(v), min(v), max(v)] for name, v in per.items()
    ]
    out(table(HEADERS, rows))
    return per


def main(args: argparse.Namespace) -> dict[str, list[float]]:
    return asyncio.run(measure(args.accounts, args.assets, args.rounds))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--accounts", type=int, default=10)
    p.add_argument("--assets", type=int, default=20, help="assets of each kind per account")
    p.add_argument("--rounds", type=int, default=4, help="rounds of each transport")
    return p


if __name__ == "__main__":
    arguments = parser().parse_args()
    configure_logging("critical", "json")
    main(arguments)
