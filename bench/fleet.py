"""Fleet collection: one full cycle of A accounts against the simulator.

    python3 dev.py bench fleet.py [--accounts 1,10,100,1000] [--assets 20]
                                  [--latency 0.02] [--wan-latency 0.15]
                                  [--concurrency 4] [--in-flight 64] [--rate 5]
                                  [--big 3000]

Three scenarios, each against a simulator (own process) of ``generate_fleet(A, assets)``
(with ``--big N`` an uneven fleet: the first account has N assets of each kind, so
every listing of it runs to many pages):

- ``latency``: every call takes ``--latency`` s (a gateway close by), no rate limit;
- ``wan``: every call takes ``--wan-latency`` s (the gateway across the Internet);
- ``rate``: calls take ``--latency`` s and the gateway allows ``--rate`` requests/s
  per appkey; the client is configured to the same rate.

The bound is the shortest cycle the configuration allows: the busiest account's
requests x latency / max_concurrency (its own slots), all requests x latency /
the slots usable at once (max_concurrency per account, at most
``max_in_flight_total`` in all), and in the ``rate`` scenario the busiest
account's requests / rate; whichever is longest.

"cycle" is ``collect_account`` for every account at once on the clients of
``shared_clients`` (what ``report`` does through ``collect_all``; the daemon
runs the same family collections as separate jobs, all at once in its first
cycle, with actions as a job of their own), built beforehand; "setup" is
building them. That is the first cycle of new clients: it opens every connection
and waits one round trip per account for the path-spelling probe (docs/ivh-api.md
§4: the first call finds out which spelling the gateway answers, the account's
other calls wait for it). "steady" is a second cycle on the same clients (the
simulator reset between), what every later cycle of a daemon is.
"sequential" is a plain client: one ``httpx.AsyncClient``, the same requests one
after another (paced to the rate
limit in the ``rate`` scenario); above ``--seq-max`` accounts (above one in the
``rate`` and ``wan`` scenarios, where pacing or latency makes every account take
the same time) it runs on that many and is scaled linearly (marked ``~``).
"bare" is ``bare_cycle`` (bench/_common.py): the same requests with no client
around them (bare aiohttp, ``json.loads``, the same slots; not in the ``rate``
scenario), its wall time and CPU; its CPU is a floor of the cycle on one core,
then the cycle against that floor or the bound, whichever is longer, and against
the bare cycle itself (what the same requests took on this machine just now: on a
busy machine a fairer yardstick than the bound, which assumes free CPU).
Requests are counted from the simulator's request log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from _common import SimulatorProcess, bare_cycle, fleet_accounts, fmt, out, table

from monitor.client import CallObserver, shared_clients
from monitor.config import VIRTUALMAN_TYPE_CODES, Account, ClientConfig
from monitor.derive import is_3d
from monitor.endpoints import DEFAULT_PATHS
from monitor.fetch import collect_account
from monitor.log import configure_logging
from monitor.signing import signed_query

_PAGE = 100
_UNLIMITED = 1e6  # a client "rate limit" that never binds
_RATE_LIMITED = 100012  # the gateway's RequestLimitExceeded
_LONG = 0.1  # a latency so long that client CPU no longer varies the sequential time


@dataclass
class Row:
    scenario: str
    accounts: int
    requests: int
    bound: float
    setup: float
    cycle: float
    client_cpu: float
    sim_cpu: float
    retried: int
    sequential: float
    sequential_scaled: bool
    failed: int
    bare_cycle: float | None = None
    bare_cpu: float | None = None
    steady: float | None = None

    def cells(self) -> list[object]:
        seq = ("~" if self.sequential_scaled else "") + fmt(self.sequential)
        # one core does at most one request's floor CPU at a time: the cycle is never
        # shorter than the floor CPU of all its requests
        cpu_bound = max(self.bound, self.bare_cpu or 0.0)
        return [
            self.scenario,
            self.accounts,
            self.requests,
            self.bound,
            self.cycle,
            f"{self.cycle / self.bound:.2f}x",
            seq,
            self.setup,
            self.client_cpu,
            self.sim_cpu,
            self.retried,
            self.failed,
            "yes" if self.cycle <= 1.2 * self.bound and not self.failed else "NO",
            "-" if self.bare_cycle is None else self.bare_cycle,
            "-" if self.bare_cpu is None else self.bare_cpu,
            "-" if self.bare_cpu is None else f"{self.cycle / cpu_bound:.2f}x",
            "-" if not self.bare_cycle else f"{self.cycle / self.bare_cycle:.2f}x",
            "-" if self.steady is None else self.steady,
            "-" if self.steady is None else f"{self.steady / self.bound:.2f}x",
        ]


HEADERS = [
    "scenario",
    "accounts",
    "requests",
    "bound s",
    "cycle s",
    "cycle/bound",
    "sequential s",
    "setup s",
    "client CPU s",
    "sim CPU s",
    "failed attempts",
    "families failed",
    "<=1.2x",
    "bare cycle s",
    "bare CPU s",
    "cycle/max(bound, bare CPU)",
    "cycle/bare cycle",
    "steady cycle s",
    "steady/bound",
]


async def _cycle(
    accounts: list[Account], config: ClientConfig, sim: SimulatorProcess
) -> tuple[float, float, float, float, Counter[tuple[str, str]], int, dict[str, int], float]:
    """(setup s, cycle s, client CPU s, simulator CPU s at its end, attempts by
    (account, outcome), families failed, requests by account) of the first cycle of
    new clients, and the wall time of a second cycle on the same clients, the
    simulator reset between (``steady``: connections open, path spelling known, as
    every cycle of a daemon after its first)."""
    attempts: Counter[tuple[str, str]] = Counter()

    def observer(account: str) -> CallObserver:
        def observe(_endpoint: str, outcome: str, _seconds: float) -> None:
            attempts[(account, outcome)] += 1

        return observe

    def collect() -> Any:
        return asyncio.gather(*(collect_account(c, config.virtualman_type_codes) for c in clients))

    started = time.perf_counter()
    clients = list(shared_clients(accounts, config, observer=observer).values())
    setup = time.perf_counter() - started
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        try:
            results = await collect()
        finally:
            cycle, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        sim_cpu = sim.cpu_seconds()
        first = Counter(attempts)
        requests = _requests(sim)
        sim.reset()
        t0 = time.perf_counter()
        await collect()
        steady = time.perf_counter() - t0
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    failed = sum(1 for rs in results for r in rs if not r.ok)
    return setup, cycle, cpu, sim_cpu, first, failed, requests, steady


async def _sequential(accounts: list[Account], rate: float | None) -> None:
    """The plain client: one connection, one request at a time, page after page."""
    gap = 1.0 / rate if rate else 0.0
    async with httpx.AsyncClient(timeout=30) as http:
        for account in accounts:
            last = 0.0

            async def post(
                endpoint: str, payload: dict[str, Any], account: Account = account
            ) -> Any:
                nonlocal last
                while True:
                    wait = last + gap - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    last = time.monotonic()
                    query = signed_query(
                        account.appkey, account.access_token.get_secret_value(), int(time.time())
                    )
                    response = await http.post(
                        f"{account.base_url}{DEFAULT_PATHS[endpoint]}?{query}",
                        json={"Header": {}, "Payload": payload},
                    )
                    header = response.json()["Header"]
                    if header["Code"] != _RATE_LIMITED:  # refused: wait one more gap and retry
                        break
                if header["Code"] != 0:
                    raise RuntimeError(f"{endpoint}: {header}")
                return response.json()["Payload"]

            async def walk(endpoint: str, field: str, extra: dict[str, Any]) -> list[Any]:
                records: list[Any] = []
                index = 1
                while True:
                    got = await post(endpoint, {**extra, "PageIndex": index, "PageSize": _PAGE})
                    page = got.get(field) or []
                    records.extend(page)
                    if len(page) < _PAGE or index * _PAGE >= int(got.get("Total", 0)):
                        return records
                    index += 1

            await walk("getserviceasset", "ServiceAssetInfos", {})
            await walk("describetimbre", "TimbreAssets", {})
            keys: list[str] = []
            for code in VIRTUALMAN_TYPE_CODES:
                await walk("getanchor", "Virtualmans", {"VirtualmanTypeCode": code})
                images = await walk("getimagebyanchor", "Virtualmans", {"VirtualmanTypeCode": code})
                keys += [i["VirtualmanKey"] for i in images if is_3d(code)]
            await walk("describesmallsampleimage", "Virtualmans", {})
            for key in keys:
                await post("getaction", {"VirtualmanKey": key})


def _requests(sim: SimulatorProcess) -> dict[str, int]:
    """Requests per account since the last reset, from the simulator's log."""
    return {account: sum(c.values()) for account, c in sim.request_counts().items()}


def _bound(
    requests: dict[str, int],
    rejected: Counter[str],
    latency: float,
    rate: float | None,
    config: ClientConfig,
) -> float:
    """The shortest cycle the configuration allows (see the module's docstring).

    Requests the gateway refused (100012) do not count: they were not needed.
    With a rate limit the simulator's bucket starts full (capacity = rate), so
    the first ``rate`` requests cost no waiting: (requests - rate) / rate.
    """
    needed = {a: n - rejected[a] for a, n in requests.items()}
    busiest = max(needed.values(), default=0)
    slots = min(len(needed) * config.max_concurrency, config.max_in_flight_total)
    bound = max(busiest * latency / config.max_concurrency, sum(needed.values()) * latency / slots)
    if rate:
        bound = max(bound, max(busiest - max(1.0, rate), 0.0) / rate)
    return bound


async def _scenario(
    name: str, count: int, args: argparse.Namespace, latency: float, rate: float | None
) -> Row:
    with SimulatorProcess(
        count, args.assets, latency=latency, rate_limit=rate, big=args.big
    ) as sim:
        accounts = fleet_accounts(count, sim.url)
        config = ClientConfig(
            rate_limit_per_second=rate or _UNLIMITED,
            max_concurrency=args.concurrency,
            max_in_flight_total=args.in_flight,
            page_size=_PAGE,
        )
        sim_cpu0 = sim.cpu_seconds()
        setup, cycle, cpu, sim_cpu1, attempts, failed, requests, steady = await _cycle(
            accounts, config, sim
        )
        sim_cpu = sim_cpu1 - sim_cpu0
        rejected: Counter[str] = Counter()
        for (account, outcome), n in attempts.items():
            if outcome != "success":
                rejected[account] += n
        bound = _bound(requests, rejected, latency, rate, config)

        bare: tuple[float, float] | None = None
        if rate is None:  # a bare client has no answer to the gateway's refusals
            sim.reset()
            cpu0, t0 = time.process_time(), time.perf_counter()
            await bare_cycle(accounts, concurrency=args.concurrency, in_flight=args.in_flight)
            bare = (time.perf_counter() - t0, time.process_time() - cpu0)

        sim.reset()
        # paced to the rate limit or to a long latency, each account takes the
        # same time: one is enough
        sequential = 0.0
        if args.big:  # uneven: the big account on its own, the small ones scaled from one
            t0 = time.perf_counter()
            await _sequential(accounts[:1], rate)
            sequential = time.perf_counter() - t0
            accounts = accounts[1:]
        sample = accounts[: 1 if rate or latency >= _LONG else args.seq_max]
        t0 = time.perf_counter()
        await _sequential(sample, rate)
        if sample:
            sequential += (time.perf_counter() - t0) * len(accounts) / len(sample)
        for account, n in _requests(sim).items():
            if n != requests[account] - rejected[account]:
                seq = f"sequential made {n} requests, the client {requests[account]}"
                out(f"  note: {account}: {seq}")
    return Row(
        name,
        count,
        sum(requests.values()),
        bound,
        setup,
        cycle,
        cpu,
        sim_cpu,
        sum(rejected.values()),
        sequential,
        len(sample) < len(accounts),
        failed,
        *(bare or (None, None)),
        steady,
    )


async def main(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    out(
        f"fleet: {args.assets} assets of each kind per account"
        f"{f' (the first {args.big})' if args.big else ''}, latency {args.latency * 1000:g} ms"
        f" ({args.wan_latency * 1000:g} ms in the wan scenario), max_concurrency"
        f" {args.concurrency}, max_in_flight_total {args.in_flight}, page_size {_PAGE},"
        f" rate limit {args.rate:g}/s (rate scenario)"
    )
    for scenario in args.scenarios.split(","):
        for count in args.accounts:
            rate = args.rate if scenario == "rate" else None
            latency = args.wan_latency if scenario == "wan" else args.latency
            row = await _scenario(scenario, count, args, latency, rate)
            rows.append(row)
            out(f"  {scenario} x{count}: cycle {row.cycle:.2f} s, bound {row.bound:.2f} s")
    out()
    out(table(HEADERS, [r.cells() for r in rows]))
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--accounts",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 10, 100, 1000],
        help="comma-separated account counts (default 1,10,100,1000)",
    )
    p.add_argument("--assets", type=int, default=20, help="assets of each kind per account")
    p.add_argument(
        "--big",
        type=int,
        default=0,
        help="an uneven fleet: the first account has this many assets of each kind",
    )
    p.add_argument("--latency", type=float, default=0.02, help="seconds per call (default 0.02)")
    p.add_argument(
        "--wan-latency", type=float, default=0.15, help="seconds per call, wan (default 0.15)"
    )
    p.add_argument("--concurrency", type=int, default=4, help="client max_concurrency")
    p.add_argument("--in-flight", type=int, default=64, help="client max_in_flight_total")
    p.add_argument("--rate", type=float, default=5.0, help="requests/s per appkey (rate scenario)")
    p.add_argument("--scenarios", default="latency,wan,rate")
    p.add_argument("--seq-max", type=int, default=10, help="accounts the sequential client runs")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    return p


if __name__ == "__main__":
    arguments = parser().parse_args()
    configure_logging("critical", "json")
    result = asyncio.run(main(arguments))
    if arguments.json:
        with open(arguments.json, "w", encoding="utf-8") as fh:
            json.dump([r.__dict__ for r in result], fh, indent=2)
