"""The fault suite, continued: gateways that drip, fall short of their Total, lie about
it or shift under a walk, against the real daemon and the real ``report``.

Each failure must be loud: ``ivh_collection_success`` 0 with a reason in
``ivh_collection_errors_total``, a ``collect.failed`` event naming account,
family and reason, the status page, and ``report``'s exit status 2 with an
``error:`` line. The last complete data stays; the other accounts go on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.simulator import Fault, RunningSimulator
from tests.faultsuite import BYSTANDER, VICTIM, count, fault_config
from tests.processes import Samples, eventually, run_cli, start_daemon, value

pytestmark = pytest.mark.slow
ERRORS, SKIPPED = "ivh_collection_errors_total", "ivh_collection_runs_skipped_total"


@pytest.fixture
def sim(demo_sim: RunningSimulator) -> RunningSimulator:
    """The gateway of this suite serves the demo accounts."""
    return demo_sim


def _config(sim: RunningSimulator, tmp_path: Path, **client: Any) -> dict[str, Any]:
    """Two rows a page, so the demo accounts span several pages; a 2 s retry budget."""
    return fault_config(sim, tmp_path, client={"retry_budget_seconds": 2, "page_size": 2, **client})


def _victims_voices(samples: Samples) -> Samples:
    """The expiry series of the victim's voices."""
    return {
        k: v
        for k, v in samples.items()
        if k[0] == "ivh_asset_expiry_timestamp_seconds"
        and ("account", VICTIM) in k[1]
        and ("kind", "timbre") in k[1]
    }


async def _report(config: dict[str, Any], tmp_path: Path) -> tuple[int, str, str]:
    path = tmp_path / "report.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    return await run_cli("--config", str(path), "report", "--format", "json")


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
        voices = _victims_voices(before)
        assert len(voices) > 2  # more than one page
        sim.faults.add(fault.model_copy(update={"account": VICTIM, "endpoint": "describetimbre"}))
        failing = await daemon.metrics_until(
            lambda m: (
                count(m, ERRORS, account=VICTIM, family="timbres", reason="incomplete") > 0
                and value(m, "ivh_collection_success", account=VICTIM, family="timbres") == 0
            ),
            "timbres of the victim failing as incomplete",
        )
        # the last complete listing stays, marked stale; nothing made up is published
        after = _victims_voices(failing)
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
            for e in daemon.events("collect.failed")
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
        shown = await daemon.metrics_until(
            lambda m: value(m, "ivh_collection_partial", account=VICTIM, family="timbres") == 1,
            "partial timbres shown",
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
        failing = await daemon.metrics_until(
            lambda m: count(m, ERRORS, account=VICTIM, family="timbres", reason="deadline") > 0,
            "the timbres job cancelled at its deadline",
        )
        assert value(failing, "ivh_collection_success", account=VICTIM, family="timbres") == 0
        skipped = await daemon.metrics_until(
            lambda m: (
                count(m, SKIPPED, account=VICTIM, family="timbres", reason="still_running") > 0
            ),
            "runs skipped while the job ran",
        )
        assert skipped
        [event, *_] = [
            e
            for e in daemon.events("collect.failed")
            if e["account"] == VICTIM and e["family"] == "timbres"
        ]
        assert event["error"] == "deadline"
        assert "3 s deadline" in event["message"]
        assert daemon.events("collect.run_skipped")
        async with httpx.AsyncClient() as http:
            assert "scheduled runs skipped" in (await http.get(f"{daemon.url}/")).text
        # the bystander's timbres are untouched
        assert value(failing, "ivh_collection_success", account=BYSTANDER, family="timbres") == 1
    finally:
        assert await daemon.stop() == 0
