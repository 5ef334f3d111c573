"""``report`` against the simulator: figures checked against the dataset's raw records."""

import asyncio
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from monitor.demo import demo_settings
from monitor.report import ReportResult, collect_all, exit_status, print_problems, render_json
from monitor.simulator import Dataset, Fault, RunningSimulator, default_dataset, run_simulator

BEIJING = timezone(timedelta(hours=8))


def _beijing_iso(text: str | None) -> str | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).isoformat()


async def _report(sim: RunningSimulator) -> tuple[ReportResult, list[dict[str, Any]]]:
    settings, accounts = demo_settings(sim.url)
    result = await collect_all(settings, accounts)
    out = io.StringIO()
    render_json(result, out)
    return result, json.loads(out.getvalue())


@pytest.fixture
def dataset() -> Dataset:
    return default_dataset(datetime.now(UTC))


def _carried(raw: dict[str, Any], universal: str, figure: str) -> dict[str, Any] | None:
    if universal in raw:
        detail: dict[str, Any] = raw[universal]
        return detail
    for key, value in raw.items():
        for detail in value if isinstance(value, list) else [value]:
            if key.endswith("InfoDetail") and isinstance(detail, dict) and figure in detail:
                return detail
    return None


async def test_services_match_the_raw_dataset(dataset: Dataset) -> None:
    async with run_simulator(dataset) as sim:
        _, rows = await _report(sim)
    for account in dataset.accounts:
        expected: Counter[tuple[object, ...]] = Counter()
        for raw in account.services:
            # the figures a record carries, whatever its category (§4.1): universal first
            hours = _carried(raw, "UniversalHourInfoDetail", "OrderMilliseconds")
            quota = _carried(raw, "UniversalAssetInfoDetail", "CustomizationNum")
            conc = _carried(raw, "UniversalConcurrencyInfoDetail", "Concurrency")
            expected[
                (
                    raw["ServiceType"],
                    _beijing_iso(raw.get("ExpireDate")),
                    hours["RemainMilliseconds"] / 1000 if hours else None,
                    hours["OrderMilliseconds"] / 1000 if hours else None,
                    quota["RemainNum"] if quota else None,
                    quota["CustomizationNum"] if quota else None,
                    conc["Concurrency"] if conc else None,
                )
            ] += 1
        got = Counter(
            (
                r["type"],
                r["expires_at"],
                r["remaining_seconds"],
                r["ordered_seconds"],
                r["quota_remaining"],
                r["quota_limit"],
                r["concurrency"],
            )
            for r in rows
            if r["account"] == account.name and r["kind"] == "service"
        )
        assert got == expected, account.name


async def test_voices_and_images_match_the_raw_dataset(dataset: Dataset) -> None:
    async with run_simulator(dataset) as sim:
        _, rows = await _report(sim)
    for account in dataset.accounts:
        voices = {
            r["id"]: r for r in rows if r["account"] == account.name and r["kind"] == "timbre"
        }
        assert set(voices) == {t["TimbreKey"] for t in account.timbres}
        for raw in account.timbres:
            row = voices[raw["TimbreKey"]]
            assert row["expires_at"] == _beijing_iso(raw.get("ExpireDate"))
            assert row["expires_in_seconds"] is None or raw.get("ExpireDate")
            assert row["type"] == raw["TimbreType"]
        images = {r["id"] for r in rows if r["account"] == account.name and r["kind"] == "image"}
        keys = {i["VirtualmanKey"] for i in account.images}
        keys |= {i["VirtualmanKey"] for i in account.small_sample_images}
        assert images == keys  # one record per VirtualmanKey, whichever endpoints list it


async def test_rows_sorted_by_time_to_expiry_never_last(dataset: Dataset) -> None:
    async with run_simulator(dataset) as sim:
        _, rows = await _report(sim)
    lefts = [r["expires_in_seconds"] for r in rows]
    dated = [x for x in lefts if x is not None]
    assert dated == sorted(dated)
    assert lefts[: len(dated)] == dated
    assert None in lefts  # the default dataset has never-expiring voices


async def test_unknown_future_service_type_is_classified(dataset: Dataset) -> None:
    known = {
        json_type["code"]
        for json_type in json.loads(
            __import__("importlib.resources")
            .resources.files("monitor.data")
            .joinpath("enums.json")
            .read_text("utf-8")
        )["service_types"]
    }
    unknown = [
        raw
        for account in dataset.accounts
        for raw in account.services
        if raw["ServiceType"] not in known
    ]
    assert unknown, "the default dataset should hold a future service type"
    async with run_simulator(dataset) as sim:
        _, rows = await _report(sim)
    for raw in unknown:
        [row] = [r for r in rows if r["type"] == raw["ServiceType"]]
        assert row["category"] == "hours"
        assert (
            row["remaining_seconds"] == raw["UniversalHourInfoDetail"]["RemainMilliseconds"] / 1000
        )


async def test_exit_status_critical_when_an_asset_expires_within_7_days(dataset: Dataset) -> None:
    async with run_simulator(dataset) as sim:
        result, rows = await _report(sim)
    soonest = min(r["expires_in_seconds"] for r in rows if r["expires_in_seconds"] is not None)
    assert soonest < 7 * 86400
    assert exit_status(result, 7) == 1
    assert exit_status(result, critical_days=-100000) == 0


async def test_exit_status_2_and_stderr_names_account_and_endpoint(dataset: Dataset) -> None:
    async with run_simulator(dataset) as sim:
        sim.faults.add(
            Fault(
                kind="api_error",
                account="lanjing-studio",
                endpoint="describetimbre",
                code=100005,
                message="AuthFailure.Unauthorized:操作未授权",
            )
        )
        result, rows = await _report(sim)
    assert exit_status(result, 7) == 2
    err = io.StringIO()
    print_problems(result, err)
    assert "lanjing-studio: describetimbre: code 100005: AuthFailure.Unauthorized" in err.getvalue()
    assert "RequestID" in err.getvalue()
    # the other accounts and families are still reported
    assert {r["account"] for r in rows} >= {"xinghe-live", "lanjing-studio", "horizon-sg"}
    assert not [r for r in rows if r["account"] == "lanjing-studio" and r["kind"] == "timbre"]


async def test_malformed_record_is_a_warning_not_a_failure(dataset: Dataset) -> None:
    async with run_simulator(dataset) as sim:
        sim.faults.add(
            Fault(
                kind="malformed_record", account="xinghe-live", endpoint="getserviceasset", times=1
            )
        )
        result, rows = await _report(sim)
    assert not result.failures
    err = io.StringIO()
    print_problems(result, err)
    assert err.getvalue().startswith("warning: xinghe-live: getserviceasset: skipped record #0")
    services = [r for r in rows if r["account"] == "xinghe-live" and r["kind"] == "service"]
    assert len(services) == len(dataset.account("xinghe-live").services) - 1


def _3d_keys(dataset: Dataset, account: str) -> set[str]:
    images = dataset.account(account).images
    return {i["VirtualmanKey"] for i in images if i["VirtualmanTypeCode"].endswith("_3d")}


async def test_every_3d_image_gets_its_action_count_with_one_call_each(dataset: Dataset) -> None:
    async with run_simulator(dataset) as sim:
        result, rows = await _report(sim)
        for account in dataset.accounts:
            keys = _3d_keys(dataset, account.name)
            assert sim.requests.count(account.name, "getaction") == len(keys)
    assert not result.failures
    assert sum(len(_3d_keys(dataset, a.name)) for a in dataset.accounts) >= 5
    for account in dataset.accounts:
        keys = _3d_keys(dataset, account.name)
        by_id = {r["id"]: r for r in rows if r["account"] == account.name and r["kind"] == "image"}
        for key in _3d_keys(dataset, account.name):
            assert by_id[key]["actions"] == len(dataset.account(account.name).actions_for(key))
        assert all(r["actions"] is None for k, r in by_id.items() if k not in keys)


async def test_images_failing_after_actions_started_leaves_nothing_running(
    dataset: Dataset,
) -> None:
    """Actions of a 3D image start as soon as its walk ends; if the images family
    then fails, those fetches and the family's other walks are cancelled, nothing
    retries in the background and no actions family is reported."""
    victim = max(dataset.accounts, key=lambda a: len(_3d_keys(dataset, a.name))).name
    async with run_simulator(dataset) as sim:
        # the anchors walk fails last, well after the 3D image walks have ended
        sim.faults.add(Fault(kind="latency", seconds=0.3, account=victim, endpoint="getanchor"))
        sim.faults.add(
            Fault(kind="api_error", account=victim, endpoint="getanchor", code=100008, times=1)
        )
        result, _ = await _report(sim)
        assert sim.requests.count(victim, "getaction") > 0  # they had started
    assert asyncio.all_tasks() == {asyncio.current_task()}  # the simulator's too are gone
    families = {(f.account, f.family): f for f in result.families}
    assert not families[(victim, "images")].ok
    assert (victim, "actions") not in families
    others = [a.name for a in dataset.accounts if a.name != victim]
    assert all(families[(a, "actions")].ok for a in others)


async def test_anchors_starts_and_voice_avatar_types_in_json_and_table(dataset: Dataset) -> None:
    from rich.console import Console

    from monitor.report import render_table
    from monitor.simulator.records import format_beijing

    now = datetime.now(UTC)
    live = dataset.account("xinghe-live")
    only_small = {i["VirtualmanKey"] for i in live.small_sample_images} - {
        i["VirtualmanKey"] for i in live.images
    }
    key = sorted(only_small)[0]
    start = now + timedelta(days=12, hours=6)
    assert live.update(
        "small_sample_images",
        {"EffectiveTime": int(start.timestamp() * 1000), "EffectiveDate": format_beijing(start)},
        VirtualmanKey=key,
    )
    async with run_simulator(dataset) as sim:
        result, rows = await _report(sim)
    anchors = [r for r in rows if r["kind"] == "anchor"]
    assert rows[-len(anchors) :] == anchors  # after the assets
    for account in dataset.accounts:
        got = {r["code"]: r for r in anchors if r["account"] == account.name}
        assert set(got) == {a["AnchorCode"] for a in account.anchors}
        members: dict[str, set[str]] = {}
        for img in [*account.images, *account.small_sample_images]:
            members.setdefault(img.get("AnchorCode", ""), set()).add(img["VirtualmanKey"])
        for raw in account.anchors:
            row = got[raw["AnchorCode"]]
            assert row["name"] == raw["AnchorName"]
            assert row["type"] == raw["VirtualmanTypeCode"]
            assert row["purchase_type"] == raw["PurchaseType"]
            assert row["image_count"] == len(members.get(raw["AnchorCode"], ()))
            assert row["expires_at"] is None
        for raw in account.timbres:
            voice = next(r for r in rows if r["kind"] == "timbre" and r["id"] == raw["TimbreKey"])
            assert voice["avatar_types"] == sorted(set(raw["SupportVirtualmanTypeCodes"]))
    waiting = next(r for r in rows if r["id"] == key)
    assert waiting["active"] is False
    assert datetime.fromisoformat(waiting["starts_at"]) == start.replace(
        microsecond=start.microsecond // 1000 * 1000
    )
    assert 12 * 86400 + 5 * 3600 < waiting["starts_in_seconds"] <= 12 * 86400 + 6 * 3600
    assert all(r["active"] for r in rows if r["id"] != key)
    out = io.StringIO()
    settings, _ = demo_settings(sim.url)
    render_table(result, Console(file=out, width=400), settings)
    assert "not active yet: starts in 12d" in out.getvalue()
