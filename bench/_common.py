"""Helpers shared by the benchmark scripts: the simulator in its own process,
per-process CPU and memory from ``/proc``, and a plain-text table.

The simulator runs in a separate process so that the client under test and
the gateway it talks to do not share one CPU; the simulator's own CPU time is
reported next to the client's so a reader can see which side was the limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import SecretStr

from monitor.config import VIRTUALMAN_TYPE_CODES, Account
from monitor.derive import is_3d
from monitor.endpoints import DEFAULT_PATHS
from monitor.signing import signed_query

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The scripts run as `python bench/X.py`: the checkout itself is not on the path, and the
# daemon is launched by the tests' helper (tests/processes.py), so both start it alike.
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
_TICKS = os.sysconf("SC_CLK_TCK")


def out(text: str = "") -> None:
    """Print a line (the scripts' only output; stdout, unbuffered)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into docs)."""
    cells = [[str(h) for h in headers], *[[fmt(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def fmt(value: object) -> str:
    """A table cell: three significant figures, thousands separated."""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def quantiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) of at least two samples."""
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), cuts[18]


async def bare_cycle(
    accounts: Sequence[Account], *, concurrency: int, in_flight: int, page_size: int = 100
) -> None:
    """A collection cycle's requests with no client around them, for a floor.

    The same requests as ``collect_account`` makes (every page of every listing, the
    actions of every 3D image), as signed POSTs over one bare aiohttp session per
    account, ``concurrency`` at a time each and ``in_flight`` in all; pages 2..N of a
    listing go at once, once page 1 gives ``Total``. Each body is decoded with
    ``json.loads`` and nothing else is done: no envelope checks, no validation, no
    derivation, no retries (an error answer raises).
    """
    total = asyncio.Semaphore(in_flight)

    async def one(account: Account) -> None:
        token = account.access_token.get_secret_value()
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            slots = asyncio.Semaphore(concurrency)

            async def post(endpoint: str, payload: dict[str, Any]) -> Any:
                async with slots, total:
                    query = signed_query(account.appkey, token, int(time.time()))
                    url = f"{account.base_url}{DEFAULT_PATHS[endpoint]}?{query}"
                    body = json.dumps({"Header": {}, "Payload": payload}).encode()
                    async with session.post(url, data=body) as response:
                        return json.loads(await response.read())["Payload"]

            async def walk(endpoint: str, field: str, extra: dict[str, Any]) -> list[Any]:
                def page(i: int) -> dict[str, Any]:
                    return {**extra, "PageIndex": i, "PageSize": page_size}

                first = await post(endpoint, page(1))
                pages = -(-int(first.get("Total", 0)) // page_size)
                rest = await asyncio.gather(*(post(endpoint, page(i)) for i in range(2, pages + 1)))
                return [r for got in (first, *rest) for r in got.get(field) or []]

            async def images(code: str) -> None:
                found = await walk("getimagebyanchor", "Virtualmans", {"VirtualmanTypeCode": code})
                if is_3d(code):
                    keys = [i["VirtualmanKey"] for i in found]
                    await asyncio.gather(*(post("getaction", {"VirtualmanKey": k}) for k in keys))

            codes = VIRTUALMAN_TYPE_CODES
            await asyncio.gather(
                walk("getserviceasset", "ServiceAssetInfos", {}),
                walk("describetimbre", "TimbreAssets", {}),
                walk("describesmallsampleimage", "Virtualmans", {}),
                *(walk("getanchor", "Virtualmans", {"VirtualmanTypeCode": c}) for c in codes),
                *(images(c) for c in codes),
            )

    await asyncio.gather(*(one(a) for a in accounts))


# -- /proc ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[11], fields[12] are utime and stime (fields 14 and 15 of proc(5))
    return (int(fields[11]) + int(fields[12])) / _TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak RSS) of a process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


# -- accounts ------------------------------------------------------------------


def fleet_accounts(count: int, base_url: str) -> list[Account]:
    """The accounts :func:`monitor.simulator.generate_fleet` creates."""
    zone = ZoneInfo("Asia/Shanghai")
    return [
        Account(
            name=f"fleet-{i:04d}",
            appkey=f"ak-fleet-{i:04d}",
            access_token=SecretStr(f"at-fleet-{i:04d}"),
            base_url=base_url,
            zone=zone,
            labels={},
        )
        for i in range(1, count + 1)
    ]


def fleet_config(accounts: int, url: str) -> dict[str, Any]:
    """The YAML/JSON config of the daemon for the fleet accounts (JSON is YAML)."""
    return {
        "accounts": [
            {"name": a.name, "appkey": a.appkey, "access_token": a.access_token.get_secret_value()}
            for a in fleet_accounts(accounts, url)
        ],
        "base_url": url,
    }


# -- the simulator in its own process --------------------------------------------


class SimulatorProcess:
    """``bench/_sim.py`` serving ``generate_fleet(accounts, assets_per_account)``."""

    def __init__(
        self,
        accounts: int,
        assets_per_account: int,
        *,
        latency: float = 0.0,
        rate_limit: float | None = None,
        big: int = 0,
    ) -> None:
        """``big``: the first account has that many assets of each kind instead."""
        self._args = [
            sys.executable,
            str(BENCH / "_sim.py"),
            str(accounts),
            str(assets_per_account),
            str(latency),
            str(rate_limit or 0),
            str(big),
        ]
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> SimulatorProcess:
        self._proc = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            self._args, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None  # noqa: S101 - stdout=PIPE above
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self._proc.kill()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.url = line
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)

    @property
    def pid(self) -> int:
        assert self._proc is not None  # noqa: S101 - only used inside ``with``
        return self._proc.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def _control(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.url + path, method=method)  # noqa: S310 - http://127.0.0.1
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def request_counts(self) -> dict[str, dict[str, int]]:
        """``{account: {endpoint: requests}}`` from the simulator's request log."""
        counts: dict[str, dict[str, int]] = self._control("GET", "/_sim/requests?limit=0")["counts"]
        return counts

    def reset(self) -> None:
        """Clear the request log and refill the rate-limit buckets."""
        self._control("POST", "/_sim/reset")


def wait_until(predicate: Any, timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False
