"""The fault suite, continued: gateways that drip, fall short of their Total, lie about
it or shift under a walk, against the real daemon and the real ``report``.

Each failure must be loud: ``ivh_collection_success`` 0 with a reason in
``ivh_collection_errors_total``, a ``collect.failed`` event naming account,
family and reason, the status page, and ``report``'s exit status 2 with an
``error:`` line. The last complete data stays; the other accounts go on.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from monitor.simulator import DEMO_ACCOUNTS, Fault, RunningSimulator, default_dataset, run_simulator
from tests.processes import (
    DaemonProcess,
    Samples,
    clean_env,
    eventually,
    fast_schedule,
    start_daemon,
    value,
)

VICTIM, BYSTANDER = DEMO_ACCOUNTS[0][0], DEMO_ACCOUNTS[1][0]
pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


def _config(sim: RunningSimulator, tmp_path: Path, **client: Any) -> dict[str, Any]:
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
            "retry_budget_seconds": 2,
            "backoff_initial_seconds": 0.05,
            "backoff_max_seconds": 0.1,
            "page_size": 2,  # the demo accounts then span several pages
            **client,
        },
        "state_dir": str(tmp_path / "state"),
    }


async def _until(daemon: DaemonProcess, what: str, check: Any) -> Samples:
    latest: Samples = {}

    async def poll() -> bool:
        nonlocal latest
        latest = await daemon.metrics()
        return bool(check(latest))

    await eventually(poll, what)
    return latest


def _events(daemon: DaemonProcess, name: str) -> list[dict[str, Any]]:
    return [e for e in daemon.log_events() if e.get("event") == name]


async def _report(config: dict[str, Any], tmp_path: Path) -> tuple[int, str, str]:
    path = tmp_path / "report.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "--config",
        str(path),
        "report",
        "--format",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="short_listing", count=1),  # every page one row short of Total
        Fault(kind="total", total=10**9, fill=True),  # a Total that lies
        Fault(kind="shift", page=2, count=1),  # a row repeated across pages, every walk
    ],
    ids=["short", "lying-total", "shifting"],
)
async def test_an_incomplete_listing_never_replaces_a_complete_one(
    sim: RunningSimulator, tmp_path: Path, fault: Fault
) -> None:
    daemon = await start_daemon(_config(sim, tmp_path), tmp_path)
    try:
        before = await daemon.metrics()
        voices = {
            k: v
            for k, v in before.items()
            if k[0] == "ivh_asset_expiry_timestamp_seconds"
            and ("account", VICTIM) in k[1]
            and ("kind", "timbre") in k[1]
        }
        assert len(voices) > 2  # more than one page
        sim.faults.add(fault.model_copy(update={"account": VICTIM, "endpoint": "describetimbre"}))
        failing = await _until(
            daemon,
            "timbres of the victim failing as incomplete",
            lambda m: (
                (
                    value(
                        m,
                        "ivh_collection_errors_total",
                        account=VICTIM,
                        family="timbres",
                        reason="incomplete",
                    )
                    or 0
                )
                > 0
                and value(m, "ivh_collection_success", account=VICTIM, family="timbres") == 0
            ),
        )
        # the last complete listing stays, marked stale; nothing made up is published
        after = {
            k: v
            for k, v in failing.items()
            if k[0] == "ivh_asset_expiry_timestamp_seconds"
            and ("account", VICTIM) in k[1]
            and ("kind", "timbre") in k[1]
        }
        assert after == voices
        assert not any(
            "fill" in dict(k[1]).get("asset", "") for k in failing if k[0] == "ivh_asset_info"
        )
        assert value(failing, "ivh_collection_stale", account=VICTIM, family="timbres") == 1
        assert value(failing, "ivh_collection_partial", account=VICTIM, family="timbres") == 0
        # the other account goes on
        assert value(failing, "ivh_collection_success", account=BYSTANDER, family="timbres") == 1
        [event, *_] = [
            e
            for e in _events(daemon, "collect.failed")
            if e["account"] == VICTIM and e["family"] == "timbres"
        ]
        assert event["error"] == "incomplete"
        assert event["listing"] == "describetimbre"
        assert event["reason"] in ("short", "too_large", "repeated")
        assert isinstance(event["rows"], int)
        assert isinstance(event["total"], int)
        async with httpx.AsyncClient() as http:
            page = (await http.get(f"{daemon.url}/")).text
            assert "incomplete listing describetimbre" in page
            rows = (await http.get(f"{daemon.url}/api/assets")).json()
            kept = [r for r in rows if r["account"] == VICTIM and r["kind"] == "timbre"]
            assert kept
            assert {r["data"] for r in kept} == {"stale"}
            assert {r["data"] for r in rows if r not in kept} == {"current"}
            assert (await http.get(f"{daemon.url}/healthz")).status_code == 200
        sim.faults.clear()

        async def recovered() -> bool:
            m = await daemon.metrics()
            return value(m, "ivh_collection_success", account=VICTIM, family="timbres") == 1

        await eventually(recovered, "timbres collected again")
    finally:
        assert await daemon.stop() == 0


async def test_without_a_complete_listing_what_arrived_is_shown_flagged(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    sim.faults.add(Fault(kind="short_listing", account=VICTIM, endpoint="describetimbre", count=1))
    daemon = await start_daemon(_config(sim, tmp_path), tmp_path)
    try:
        shown = await _until(
            daemon,
            "partial timbres shown",
            lambda m: value(m, "ivh_collection_partial", account=VICTIM, family="timbres") == 1,
        )
        assert value(shown, "ivh_collection_success", account=VICTIM, family="timbres") == 0
        assert value(shown, "ivh_asset_expiry_timestamp_seconds", account=VICTIM, kind="timbre")
        async with httpx.AsyncClient() as http:
            page = (await http.get(f"{daemon.url}/")).text
        assert "incomplete listing" in page
    finally:
        assert await daemon.stop() == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="short_listing", count=1),
        Fault(kind="total", total=10**9, fill=True),
        Fault(kind="shift", page=2, count=1),
        Fault(kind="drip", seconds=1),
    ],
    ids=["short", "lying-total", "shifting", "drip"],
)
async def test_report_exits_2_naming_the_failure(
    sim: RunningSimulator, tmp_path: Path, fault: Fault
) -> None:
    sim.faults.add(fault.model_copy(update={"account": VICTIM, "endpoint": "describetimbre"}))
    status, out, err = await _report(_config(sim, tmp_path, retries=0), tmp_path)
    assert status == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error: timbres:")]
    assert errors, err
    if fault.kind == "drip":
        assert "no complete answer within 1 s" in errors[0]
    else:
        assert "incomplete listing describetimbre" in errors[0]
    rows = json.loads(out)
    # the other account and the victim's other families are all there
    assert {r["account"] for r in rows} == {VICTIM, BYSTANDER}
    assert any(r["account"] == VICTIM and r["kind"] == "service" for r in rows)
    # what arrived of the broken listing is there, and each of its rows says so
    voices = [r for r in rows if r["account"] == VICTIM and r["kind"] == "timbre"]
    assert {r["data"] for r in voices} <= {"partial"}
    assert {r["data"] for r in rows if r not in voices} == {"current"}


async def test_a_job_past_its_deadline_is_cancelled_and_counted(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """A peer that answers each call just in time, forever: every call is within its own
    deadline, the job is not. It is cancelled, counted with its reason, and the runs
    skipped while it ran are counted too."""
    config = _config(sim, tmp_path, timeout_seconds=30, job_timeout_seconds=3, retries=0)
    sim.faults.add(Fault(kind="latency", seconds=2.5, account=VICTIM, endpoint="describetimbre"))
    daemon = await start_daemon(config, tmp_path)
    try:
        failing = await _until(
            daemon,
            "the timbres job cancelled at its deadline",
            lambda m: (
                (
                    value(
                        m,
                        "ivh_collection_errors_total",
                        account=VICTIM,
                        family="timbres",
                        reason="deadline",
                    )
                    or 0
                )
                > 0
            ),
        )
        assert value(failing, "ivh_collection_success", account=VICTIM, family="timbres") == 0
        skipped = await _until(
            daemon,
            "runs skipped while the job ran",
            lambda m: (
                (
                    value(
                        m,
                        "ivh_collection_runs_skipped_total",
                        account=VICTIM,
                        family="timbres",
                        reason="still_running",
                    )
                    or 0
                )
                > 0
            ),
        )
        assert skipped
        [event, *_] = [
            e
            for e in _events(daemon, "collect.failed")
            if e["account"] == VICTIM and e["family"] == "timbres"
        ]
        assert event["error"] == "deadline"
        assert "3 s deadline" in event["message"]
        assert _events(daemon, "collect.run_skipped")
        async with httpx.AsyncClient() as http:
            assert "scheduled runs skipped" in (await http.get(f"{daemon.url}/")).text
        # the bystander's timbres are untouched
        assert value(failing, "ivh_collection_success", account=BYSTANDER, family="timbres") == 1
    finally:
        assert await daemon.stop() == 0
