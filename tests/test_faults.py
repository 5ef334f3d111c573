"""The fault suite: the real daemon against a misbehaving gateway, receiver and disk.

For each fault: the daemon stays up, the other accounts and families keep
updating, the problem is visible in metrics and in a log event that says what
happened, and nothing pending is lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from monitor.simulator import DEMO_ACCOUNTS, Fault, RunningSimulator, default_dataset, run_simulator
from tests.processes import DaemonProcess, Samples, eventually, fast_schedule, start_daemon, value

VICTIM, BYSTANDER = DEMO_ACCOUNTS[0][0], DEMO_ACCOUNTS[1][0]
pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


def _config(sim: RunningSimulator, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "accounts": [
            {"name": n, "appkey": k, "access_token": t, "base_url": sim.url}
            for n, k, t in DEMO_ACCOUNTS[:2]
        ],
        "schedule": fast_schedule(),
        "client": {
            "retries": 1,
            "rate_limit_per_second": 500,
            "timeout_seconds": 1,
            "backoff_initial_seconds": 0.05,
            "backoff_max_seconds": 0.1,
        },
        "state_dir": str(tmp_path / "state"),
        **extra,
    }


async def _still_updating(daemon: DaemonProcess, account: str, family: str = "services") -> None:
    """The account's family keeps being collected successfully from now on."""
    first = value(
        await daemon.metrics(),
        "ivh_collection_last_success_timestamp_seconds",
        account=account,
        family=family,
    )

    async def moved() -> bool:
        now = value(
            await daemon.metrics(),
            "ivh_collection_last_success_timestamp_seconds",
            account=account,
            family=family,
        )
        return now is not None and first is not None and now > first

    await eventually(moved, f"{account}/{family} collected again")


async def _failing(daemon: DaemonProcess, family: str, account: str = VICTIM) -> Samples:
    latest: Samples = {}

    async def check() -> bool:
        nonlocal latest
        latest = await daemon.metrics()
        return value(latest, "ivh_collection_success", account=account, family=family) == 0

    await eventually(check, f"{account}/{family} marked failing")
    return latest


def _events(daemon: DaemonProcess, name: str) -> list[dict[str, Any]]:
    return [e for e in daemon.log_events() if e.get("event") == name]


@pytest.mark.parametrize(
    ("fault", "outcome", "error"),
    [
        (Fault(kind="latency", seconds=3), "transport_error", "transport"),
        (Fault(kind="hang"), "transport_error", "transport"),
        (Fault(kind="http_error", status=502), "http_error", "http_status"),
        (Fault(kind="garbage_body"), "parse_error", "parse"),
        (Fault(kind="rate_limit"), "rate_limited", "api"),
        (
            Fault(kind="api_error", code=100000, message="InternalError:内部错误"),
            "api_error",
            "api",
        ),
    ],
    ids=["slow", "hung", "5xx", "garbage", "rate-limited", "internal-error"],
)
async def test_upstream_fault_on_one_account(
    sim: RunningSimulator, tmp_path: Path, fault: Fault, outcome: str, error: str
) -> None:
    daemon = await start_daemon(_config(sim, tmp_path), tmp_path)
    try:
        before = await daemon.metrics()
        hours = value(before, "ivh_service_remaining_seconds", account=VICTIM)
        sim.faults.add(fault.model_copy(update={"account": VICTIM, "endpoint": "getserviceasset"}))
        failing = await _failing(daemon, "services")
        # the victim's figures stay (stale), visible as such; never zero
        assert value(failing, "ivh_service_remaining_seconds", account=VICTIM) == hours
        assert value(failing, "ivh_collection_stale", account=VICTIM, family="services") == 1
        assert (
            value(
                failing,
                "ivh_api_requests_total",
                account=VICTIM,
                endpoint="getserviceasset",
                outcome=outcome,
            )
            or 0
        ) > 0
        # the victim's other families and the other account go on
        await _still_updating(daemon, VICTIM, "timbres")
        await _still_updating(daemon, BYSTANDER, "services")
        failed = [e for e in _events(daemon, "collect.failed") if e["account"] == VICTIM]
        assert failed[0]["endpoint"] == "getserviceasset"
        assert failed[0]["error"] == error
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{daemon.url}/healthz")).status_code == 200
        sim.faults.clear()
        await _still_updating(daemon, VICTIM, "services")
        assert (
            value(await daemon.metrics(), "ivh_collection_stale", account=VICTIM, family="services")
            == 0
        )
    finally:
        assert await daemon.stop() == 0


async def test_wrong_content_type_is_still_read(sim: RunningSimulator, tmp_path: Path) -> None:
    daemon = await start_daemon(_config(sim, tmp_path), tmp_path)
    try:
        sim.faults.add(Fault(kind="wrong_content_type", account=VICTIM))
        await _still_updating(daemon, VICTIM, "services")
    finally:
        await daemon.stop()


async def test_revoked_credentials_of_one_account(sim: RunningSimulator, tmp_path: Path) -> None:
    daemon = await start_daemon(_config(sim, tmp_path), tmp_path)
    try:
        sim.dataset.account(VICTIM).access_token = "rotated-in-the-console"
        failing = await _failing(daemon, "services")
        assert (
            value(
                failing,
                "ivh_api_requests_total",
                account=VICTIM,
                endpoint="getserviceasset",
                outcome="auth_error",
            )
            or 0
        ) > 0
        await _still_updating(daemon, BYSTANDER, "services")
        [event, *_] = [e for e in _events(daemon, "collect.failed") if e["account"] == VICTIM]
        assert event["error"] == "auth"
        assert event["code"] == 100005
        assert event["request_id"]
        assert event["clock_skew_seconds"] is None  # not a clock problem
    finally:
        await daemon.stop()


async def test_clock_skew_is_reported_as_such(sim: RunningSimulator, tmp_path: Path) -> None:
    daemon = await start_daemon(_config(sim, tmp_path), tmp_path)
    try:
        sim.set_clock_offset(-1200)  # the gateway's clock is 20 minutes behind ours
        failing = await _failing(daemon, "services")
        skew = value(failing, "ivh_gateway_clock_skew_seconds", account=VICTIM)
        assert skew is not None
        assert 1100 < skew < 1300
        event = next(e for e in _events(daemon, "collect.failed") if e.get("clock_skew_seconds"))
        assert 1100 < event["clock_skew_seconds"] < 1300
        sim.set_clock_offset(0)
        await _still_updating(daemon, VICTIM, "services")
    finally:
        await daemon.stop()


async def test_unwritable_state_dir_keeps_collecting(sim: RunningSimulator, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be")
    daemon = await start_daemon(_config(sim, tmp_path, state_dir=str(blocker / "state")), tmp_path)
    try:
        samples = await daemon.metrics()
        assert value(samples, "ivh_state_store_up") == 0
        await _still_updating(daemon, VICTIM, "services")
        unavailable = _events(daemon, "state.unavailable")
        assert len(unavailable) == 1  # one clear line, not one per cycle
        assert "not-a-dir" in unavailable[0]["error"]
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{daemon.url}/healthz")).status_code == 200
            page = await http.get(f"{daemon.url}/")
            api = await http.get(f"{daemon.url}/api/alerts")
        assert (api.status_code, api.json()) == (503, {"error": "state store unavailable"})
        # the status page still renders, and says why alerting waits
        assert page.status_code == 200
        assert "Alert state (state_dir)" in page.text
        assert "unavailable: alerting waits and retries" in page.text
    finally:
        assert await daemon.stop() == 0


async def test_full_state_store_keeps_collecting_and_loses_nothing(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    # a store bounded to ~64 KiB fills up with the demo dataset's alerts
    config = _config(sim, tmp_path, alerts={"state_max_mb": 0.01})
    daemon = await start_daemon(config, tmp_path)
    try:

        async def full() -> bool:
            return value(await daemon.metrics(), "ivh_state_store_up") == 0

        await eventually(full, "the state store reporting itself full")
        samples = await daemon.metrics()
        assert (value(samples, "ivh_state_store_errors_total") or 0) > 0
        await _still_updating(daemon, BYSTANDER, "services")
        assert len(_events(daemon, "state.unavailable")) >= 1
        assert "full" in _events(daemon, "state.unavailable")[0]["error"]
    finally:
        assert await daemon.stop() == 0
    # with room again, the alerts that could not be recorded are raised then
    roomy = _config(sim, tmp_path)
    again = await start_daemon(roomy, tmp_path, "again")
    try:

        async def firing() -> bool:
            return (
                value(
                    await again.metrics(), "ivh_alerts_firing", rule="expiring", severity="critical"
                )
                or 0
            ) > 0

        await eventually(firing, "alerts recorded once the store has room")
        assert value(await again.metrics(), "ivh_state_store_up") == 1
    finally:
        await again.stop()
