"""The fault suite: the real daemon against a misbehaving gateway, receiver and disk.

For each fault: the daemon stays up, the other accounts and families keep
updating, the problem is visible in metrics and in a log event that says what
happened, and nothing pending is lost.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.simulator import Fault, RunningSimulator
from tests.faultsuite import (
    BYSTANDER,
    VICTIM,
    count,
    fault_config,
    put_records,
    still_updating,
    until_failing,
)
from tests.processes import Samples, eventually, run_cli, start_daemon, value

pytestmark = pytest.mark.slow


@pytest.fixture
def sim(demo_sim: RunningSimulator) -> RunningSimulator:
    """The gateway of this suite serves the demo accounts."""
    return demo_sim


@pytest.mark.parametrize(
    ("fault", "outcome", "error"),
    [
        (Fault(kind="latency", seconds=3), "deadline", "deadline"),
        (Fault(kind="hang"), "deadline", "deadline"),
        # headers at once, then a byte a second: every read is quick, the whole is not
        (Fault(kind="drip", seconds=1), "deadline", "deadline"),
        (Fault(kind="http_error", status=502), "http_error", "http_status"),
        (Fault(kind="garbage_body"), "parse_error", "parse"),
        (Fault(kind="rate_limit"), "rate_limited", "api"),
        (
            Fault(kind="api_error", code=100000, message="InternalError:内部错误"),
            "api_error",
            "api",
        ),
    ],
    ids=["slow", "hung", "drip", "5xx", "garbage", "rate-limited", "internal-error"],
)
async def test_upstream_fault_on_one_account(
    sim: RunningSimulator, tmp_path: Path, fault: Fault, outcome: str, error: str
) -> None:
    daemon = await start_daemon(fault_config(sim, tmp_path), tmp_path)
    try:
        before = await daemon.metrics()
        hours = value(before, "ivh_service_remaining_seconds", account=VICTIM)
        sim.faults.add(fault.model_copy(update={"account": VICTIM, "endpoint": "getserviceasset"}))
        failing = await until_failing(daemon, "services")
        # the victim's figures stay (stale), visible as such; never zero
        assert value(failing, "ivh_service_remaining_seconds", account=VICTIM) == hours
        assert value(failing, "ivh_collection_stale", account=VICTIM, family="services") == 1
        assert (
            count(
                failing,
                "ivh_api_requests_total",
                account=VICTIM,
                endpoint="getserviceasset",
                outcome=outcome,
            )
            > 0
        )
        # the victim's other families and the other account go on
        await still_updating(daemon, VICTIM, "timbres")
        await still_updating(daemon, BYSTANDER, "services")
        failed = [e for e in daemon.events("collect.failed") if e["account"] == VICTIM]
        assert failed[0]["endpoint"] == "getserviceasset"
        assert failed[0]["error"] == error
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{daemon.url}/healthz")).status_code == 200
        sim.faults.clear()
        await still_updating(daemon, VICTIM, "services")
        assert (
            value(await daemon.metrics(), "ivh_collection_stale", account=VICTIM, family="services")
            == 0
        )
    finally:
        assert await daemon.stop() == 0


async def test_wrong_content_type_is_still_read(sim: RunningSimulator, tmp_path: Path) -> None:
    daemon = await start_daemon(fault_config(sim, tmp_path), tmp_path)
    try:
        sim.faults.add(Fault(kind="wrong_content_type", account=VICTIM))
        await still_updating(daemon, VICTIM, "services")
    finally:
        await daemon.stop()


async def test_revoked_credentials_of_one_account(sim: RunningSimulator, tmp_path: Path) -> None:
    daemon = await start_daemon(fault_config(sim, tmp_path), tmp_path)
    try:
        sim.dataset.account(VICTIM).access_token = "rotated-in-the-console"
        failing = await until_failing(daemon, "services")
        assert (
            count(
                failing,
                "ivh_api_requests_total",
                account=VICTIM,
                endpoint="getserviceasset",
                outcome="auth_error",
            )
            > 0
        )
        await still_updating(daemon, BYSTANDER, "services")
        [event, *_] = [e for e in daemon.events("collect.failed") if e["account"] == VICTIM]
        assert event["error"] == "auth"
        assert event["code"] == 100005
        assert event["request_id"]
        assert event["clock_skew_seconds"] is None  # not a clock problem
    finally:
        await daemon.stop()


async def test_clock_skew_is_reported_as_such(sim: RunningSimulator, tmp_path: Path) -> None:
    daemon = await start_daemon(fault_config(sim, tmp_path), tmp_path)
    try:
        sim.set_clock_offset(-1200)  # the gateway's clock is 20 minutes behind ours
        failing = await until_failing(daemon, "services")
        skew = value(failing, "ivh_gateway_clock_skew_seconds", account=VICTIM)
        assert skew is not None
        assert 1100 < skew < 1300
        event = next(e for e in daemon.events("collect.failed") if e.get("clock_skew_seconds"))
        assert 1100 < event["clock_skew_seconds"] < 1300
        sim.set_clock_offset(0)
        await still_updating(daemon, VICTIM, "services")
    finally:
        await daemon.stop()


async def test_unwritable_state_dir_keeps_collecting(sim: RunningSimulator, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be")
    daemon = await start_daemon(
        fault_config(sim, tmp_path, state_dir=str(blocker / "state")), tmp_path
    )
    try:
        samples = await daemon.metrics()
        assert value(samples, "ivh_state_store_up") == 0
        await still_updating(daemon, VICTIM, "services")
        unavailable = daemon.events("state.unavailable")
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
    config = fault_config(sim, tmp_path, alerts={"state_max_mb": 0.01})
    daemon = await start_daemon(config, tmp_path)
    try:

        async def full() -> bool:
            return value(await daemon.metrics(), "ivh_state_store_up") == 0

        await eventually(full, "the state store reporting itself full")
        samples = await daemon.metrics()
        first_errors = value(samples, "ivh_state_store_errors_total") or 0
        assert first_errors > 0
        await still_updating(daemon, BYSTANDER, "services")
        # While full it stays down: every scrape over several failing cycles says 0
        # (updates in place still succeed; they are no recovery), logged once.
        ups: list[float | None] = []

        async def several_cycles_failed() -> bool:
            scraped = await daemon.metrics()
            ups.append(value(scraped, "ivh_state_store_up"))
            return (value(scraped, "ivh_state_store_errors_total") or 0) >= first_errors + 5

        await eventually(several_cycles_failed, "more failed writes to the full store")
        assert set(ups) == {0}, ups  # scraped at least once per check
        assert len(daemon.events("state.unavailable")) == 1
        assert "full" in daemon.events("state.unavailable")[0]["error"]
        assert daemon.events("state.recovered") == []
    finally:
        assert await daemon.stop() == 0
    # with room again, the alerts that could not be recorded are raised then
    roomy = fault_config(sim, tmp_path)
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
        assert again.events("state.unavailable") == []
    finally:
        await again.stop()


# -- blank and placeholder dates, odd records (docs/dates.md) ---------------


def _expiry(samples: Samples, kind: str, asset: str) -> float | None:
    """The victim's asset's expiry timestamp, ``None`` without one."""
    return value(
        samples, "ivh_asset_expiry_timestamp_seconds", account=VICTIM, kind=kind, asset=asset
    )


#: vendor-shaped records with every kind of blank, placeholder and odd figure
_ODD_RECORDS: dict[str, list[dict[str, Any]]] = {
    "services": [
        {
            "ServiceType": "BroadcastHour",
            "ExpireDate": "",  # required (§4.1): unknown, not never
            "UniversalHourInfoDetail": {"OrderMilliseconds": 36_000_000, "RemainMilliseconds": 1},
        },
        {
            "ServiceType": "BroadcastHour",
            "ExpireDate": "0001-01-01 00:00:00",
            "UniversalHourInfoDetail": {"OrderMilliseconds": 7_200_000, "RemainMilliseconds": 1},
        },
        {
            "ServiceType": "TimbreHour",
            "ExpireDate": "9999-12-31 23:59:59",  # the vendor's forever
            "UniversalHourInfoDetail": {
                "OrderMilliseconds": 7_200_000,
                "RemainMilliseconds": -3_600_000,  # negative: clamped, noted
            },
        },
        {
            "ServiceType": "RealMan2DBroadcastConcurrency",
            "ExpireDate": "+200d",
            # §4.1 documents this concurrency type with hour fields
            "RealMan2DBroadcastConcurrencyInfoDetail": {
                "OrderMilliseconds": 36_000_000,
                "RemainMilliseconds": 18_000_000,
            },
        },
    ],
    "timbres": [
        {"TimbreKey": "t-blank", "ExpireDate": ""},  # §4.2: never
        {"TimbreKey": "t-zero", "ExpireDate": "0001-01-01 00:00:00"},
        {"TimbreKey": "t-forever", "ExpireDate": "9999-12-31 23:59:59"},
    ],
    "anchors": [{"AnchorCode": "odd", "VirtualmanTypeCode": "real_man_2d"}],
    "images": [
        {
            "VirtualmanKey": "img-blank",
            "AnchorCode": "odd",
            "VirtualmanTypeCode": "real_man_2d",
            "ExpireDate": "",
        }
    ],
    "small_sample_images": [
        {"VirtualmanKey": "ss-zero", "ExpireTime": 0, "ExpireDate": "0001-01-01 00:00:00"},
        {"VirtualmanKey": "ss-neg", "ExpireTime": -1, "ExpireDate": ""},
        {
            "VirtualmanKey": "ss-huge",
            "ExpireTime": 253_402_300_799_000,
            "ExpireDate": "9999-12-31 23:59:59",
        },
    ],
}


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Kiritimati"])
async def test_blank_and_placeholder_dates_and_odd_records(
    sim: RunningSimulator, tmp_path: Path, zone: str
) -> None:
    await put_records(sim, _ODD_RECORDS)
    config = fault_config(sim, tmp_path, alerts={"rules": {"expiry_unknown": {"enabled": True}}})
    config["accounts"][0]["timezone"] = zone
    daemon = await start_daemon(config, tmp_path)
    try:
        samples = await daemon.metrics()

        def unknown(kind: str, asset: str) -> float | None:
            return value(
                samples, "ivh_asset_expiry_unknown", account=VICTIM, kind=kind, asset=asset
            )

        expiry = partial(_expiry, samples)

        for kind, asset in [
            ("service", "BroadcastHour-unknown"),
            ("service", "BroadcastHour-unknown-2"),
            ("timbre", "t-zero"),
            ("image", "img-blank"),
            ("image", "ss-zero"),
            ("image", "ss-neg"),
        ]:
            assert unknown(kind, asset) == 1, asset
            assert expiry(kind, asset) is None, asset
        for kind, asset in [
            ("service", "TimbreHour-never"),
            ("timbre", "t-blank"),
            ("timbre", "t-forever"),
            ("image", "ss-huge"),
        ]:
            assert unknown(kind, asset) is None, asset  # never expires: neither series
            assert expiry(kind, asset) is None, asset
        # the concurrency type keeps the hours it carries; the negative figure is 0
        [conc] = [
            lbls
            for (n, lbls), _ in samples.items()
            if n == "ivh_service_remaining_seconds"
            and ("account", VICTIM) in lbls
            and ("service_type", "RealMan2DBroadcastConcurrency") in lbls
        ]
        assert samples[("ivh_service_remaining_seconds", conc)] == 18000
        assert (
            value(
                samples, "ivh_service_remaining_seconds", asset="TimbreHour-never", account=VICTIM
            )
            == 0
        )

        def anomalies(family: str, reason: str) -> float | None:
            return value(
                samples,
                "ivh_collection_record_anomalies",
                account=VICTIM,
                family=family,
                reason=reason,
            )

        assert anomalies("services", "figures_off_category") == 1
        assert anomalies("services", "negative_figure") == 1
        assert anomalies("services", "no_figures") == 0
        assert anomalies("images", "image_type_missing") == 0
        assert anomalies("services", "figures_off_category") is not None
        events = [e for e in daemon.events("collect.record_anomaly") if e["account"] == VICTIM]
        assert {(e["endpoint"], e["reason"], e["field"]) for e in events} >= {
            ("getserviceasset", "negative_figure", "RemainMilliseconds"),
            ("getserviceasset", "figures_off_category", "hours"),
        }
        assert {e["asset"] for e in daemon.events("collect.expiry_unknown")} >= {
            "BroadcastHour-unknown",
            "img-blank",
        }

        async with httpx.AsyncClient() as http:
            for path in ("/", f"/?account={VICTIM}", f"/?account={VICTIM}&sort=kind"):
                page = await http.get(f"{daemon.url}{path}")
                assert page.status_code == 200, path
            assert "expiry unknown" in page.text
            assert "negative_figure: 1" in page.text  # the collection table's note
            rows = (await http.get(f"{daemon.url}/api/assets")).json()
            mine = {r["id"]: r for r in rows if r["account"] == VICTIM}
            assert mine["BroadcastHour-unknown"]["expiry"] == "unknown"
            assert mine["BroadcastHour-unknown"]["expires_at"] is None
            assert mine["TimbreHour-never"]["expiry"] == "never"
            assert mine["ss-huge"]["expiry"] == "never"
            assert mine["t-blank"]["expiry"] == "never"

            async def alerted() -> bool:
                answer = await http.get(f"{daemon.url}/api/alerts")
                assert answer.status_code == 200
                found = {a["asset"] for a in answer.json() if a["rule"] == "expiry_unknown"}
                return "BroadcastHour-unknown" in found

            await eventually(alerted, "expiry_unknown alerts raised")
        status, out, err = await run_cli(
            "--config", str(tmp_path / "daemon.yaml"), "report", "--format", "json"
        )
        # the bystander has critical assets; the victim's unknown dates change nothing
        assert status == 1, err
        # the report's anchor rows (kind "anchor") are not assets of /api/assets
        reported = {
            r["id"]: r for r in json.loads(out) if r["account"] == VICTIM and r["kind"] != "anchor"
        }
        assert {k: r["expiry"] for k, r in reported.items() if r["expiry"] != "dated"} == {
            k: r["expiry"] for k, r in mine.items() if r["expiry"] != "dated"
        }
        warnings = err
        assert f"warning: {VICTIM}: service BroadcastHour-unknown: expiry unknown" in warnings
        assert f"warning: {VICTIM}: getserviceasset: service TimbreHour-never: negative_figure" in (
            warnings
        )
        await still_updating(daemon, VICTIM, "services")
    finally:
        assert await daemon.stop() == 0


#: readable but odd (kept, flagged), and unreadable (skipped, counted) records
_ODD_BUT_READABLE: dict[str, list[dict[str, Any]]] = {
    "services": [
        {
            "ServiceType": "BroadcastHour",
            "ExpireDate": "2030-01-01T00:00:00Z",  # an offset: that instant, whatever the zone
            # fractional milliseconds are rounded; more remaining than ordered is noted
            "UniversalHourInfoDetail": {
                "OrderMilliseconds": "3600000.5",
                "RemainMilliseconds": 7_200_000.2,
            },
        },
        {
            "ServiceType": "TimbreHour",
            "ExpireDate": "2030-06-01 00:00:00.123",
            "UniversalHourInfoDetail": {
                "OrderMilliseconds": 2**63 - 1,  # 2.5e12 hours: kept, but noted
                "RemainMilliseconds": 2**63 - 1,
            },
        },
        # unreadable: skipped and counted, never guessed at
        {"ServiceType": "BroadcastHour", "ExpireDate": "2030-02-30 00:00:00"},
        {
            "ServiceType": "TimbreHour",
            "ExpireDate": "2031-01-01 00:00:00",
            "UniversalHourInfoDetail": {"OrderMilliseconds": 1, "RemainMilliseconds": True},
        },
    ],
    "anchors": [{"AnchorCode": "odd", "VirtualmanTypeCode": "real_man_2d"}],
    "images": [
        {
            "VirtualmanKey": "img-dated",
            "AnchorCode": "odd",
            "VirtualmanTypeCode": "real_man_2d",
            "ExpireDate": "2027-01-01 00:00:00",
        }
    ],
    "small_sample_images": [
        {
            "VirtualmanKey": "img-dated",
            "AnchorCode": "odd",
            "ExpireDate": "2027-01-01 00:00:00",
            "ExpireTime": 2**63 - 1,  # a placeholder: the real date stays
        }
    ],
}


async def test_odd_but_readable_records_are_kept_and_unreadable_ones_counted(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    await put_records(sim, _ODD_BUT_READABLE)
    daemon = await start_daemon(fault_config(sim, tmp_path), tmp_path)
    try:
        samples = await daemon.metrics_until(
            lambda m: all(
                value(m, "ivh_collection_success", account=VICTIM, family=f) == 1
                for f in ("services", "images")
            ),
            "services and images collected",
        )

        expiry = partial(_expiry, samples)

        # 2030-01-01T00:00:00Z, its package id on Beijing time
        assert expiry("service", "BroadcastHour-20300101080000") == 1_893_456_000
        assert (
            expiry("service", "TimbreHour-20300601000000") == 1_906_473_600.123
        )  # Beijing, to the ms
        # the image's own date, not "never" (2027-01-01 00:00 Beijing)
        assert expiry("image", "img-dated") == 1_798_732_800
        assert (
            value(
                samples,
                "ivh_service_remaining_seconds",
                account=VICTIM,
                asset="BroadcastHour-20300101080000",
            )
            == 7200
        )

        def metric(name: str, family: str, **labels: str) -> float | None:
            return value(samples, name, account=VICTIM, family=family, **labels)

        anomalies = "ivh_collection_record_anomalies"
        assert metric(anomalies, "services", reason="remaining_above_ordered") == 1
        assert metric(anomalies, "services", reason="implausible_figure") == 2
        assert metric(anomalies, "images", reason="placeholder_expire_time") == 1
        assert metric(anomalies, "images", reason="image_type_conflict") == 0
        assert metric("ivh_collection_skipped_records", "services") == 2
        assert metric("ivh_collection_skipped_records", "images") == 0
        events = [e for e in daemon.events("collect.record_anomaly") if e["account"] == VICTIM]
        assert {(e["endpoint"], e["reason"], e["field"]) for e in events} >= {
            ("getserviceasset", "remaining_above_ordered", "RemainMilliseconds"),
            ("getserviceasset", "implausible_figure", "OrderMilliseconds"),
            ("describesmallsampleimage", "placeholder_expire_time", "ExpireTime"),
        }
        skipped = [e for e in daemon.events("collect.record_skipped") if e["account"] == VICTIM]
        # each collection logs its skipped records; by now the log may hold several
        # collections' (the metric above counts one collection's: 2)
        assert sorted({e["reason"].split(":")[0] for e in skipped}) == [
            "ExpireDate",
            "UniversalHourInfoDetail.RemainMilliseconds",
        ]
        async with httpx.AsyncClient() as http:
            page = await http.get(f"{daemon.url}/?account={VICTIM}")
            assert page.status_code == 200
            assert "placeholder_expire_time: 1" in page.text
    finally:
        assert await daemon.stop() == 0
