"""What the fault suite's files share (tests/test_faults.py, tests/test_faults_listing.py):
two demo accounts, a victim the faults hit and a bystander that must go on, a
daemon configuration that fails fast, and the checks they all make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from monitor.simulator import DEMO_ACCOUNTS, RunningSimulator
from tests.processes import DaemonProcess, Samples, eventually, fast_schedule, value

VICTIM, BYSTANDER = DEMO_ACCOUNTS[0][0], DEMO_ACCOUNTS[1][0]

#: one retry, a short timeout and quick backoff: a fault shows within seconds
FAST_FAILING_CLIENT: dict[str, Any] = {
    "retries": 1,
    "rate_limit_per_second": 500,
    "timeout_seconds": 1,
    "backoff_initial_seconds": 0.05,
    "backoff_max_seconds": 0.1,
}


def fault_config(
    sim: RunningSimulator, tmp_path: Path, *, client: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """The daemon's config: the victim and the bystander, every family every second,
    ``FAST_FAILING_CLIENT`` updated with ``client``, and ``extra`` at the top level."""
    return {
        "accounts": [
            {"name": n, "appkey": k, "access_token": t, "base_url": sim.url}
            for n, k, t in DEMO_ACCOUNTS[:2]
        ],
        "schedule": fast_schedule(),
        "client": {**FAST_FAILING_CLIENT, **(client or {})},
        "state_dir": str(tmp_path / "state"),
        **extra,
    }


async def put_records(
    sim: RunningSimulator, records: dict[str, list[dict[str, Any]]], account: str = VICTIM
) -> None:
    """Replace collections of an account in the simulator (``{collection: records}``)."""
    async with httpx.AsyncClient() as http:
        for collection, rows in records.items():
            put = await http.put(f"{sim.url}/_sim/accounts/{account}/{collection}", json=rows)
            assert put.status_code == 200, put.text


def count(samples: Samples, name: str, **labels: str) -> float:
    """A counter's value, 0 while it has no series yet."""
    return value(samples, name, **labels) or 0


async def until_failing(daemon: DaemonProcess, family: str, account: str = VICTIM) -> Samples:
    """Once the account's family is marked failing: the metrics then."""
    return await daemon.metrics_until(
        lambda m: value(m, "ivh_collection_success", account=account, family=family) == 0,
        f"{account}/{family} marked failing",
    )


async def still_updating(daemon: DaemonProcess, account: str, family: str = "services") -> None:
    """The account's family keeps being collected successfully from now on."""
    name = "ivh_collection_last_success_timestamp_seconds"
    first = value(await daemon.metrics(), name, account=account, family=family)

    async def moved() -> bool:
        now = value(await daemon.metrics(), name, account=account, family=family)
        return now is not None and first is not None and now > first

    await eventually(moved, f"{account}/{family} collected again")
