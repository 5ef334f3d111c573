"""Parsing at the edge: the vendor's examples, and every slip of docs/ivh-api.md §4.1/§6."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from monitor.vendor import (
    Action,
    AnchorRecord,
    ImageAsset,
    ServiceAsset,
    SmallSampleImage,
    TimbreAsset,
    parse_records,
)
from tests.conftest import vendor_example


def test_vendor_service_example() -> None:
    payload = vendor_example("getserviceasset")["Payload"]
    records, problems = parse_records(payload["ServiceAssetInfos"], ServiceAsset)
    assert problems == []
    hours, quota = records
    assert hours.service_type == "BroadcastHour"
    assert hours.expire_date == datetime(2024, 4, 5, 11, 31, 7)
    assert hours.hours is not None
    assert (hours.hours.order_ms, hours.hours.remain_ms) == (999999999, 881318391)
    assert "BroadcastHourInfoDetail" in hours.specific
    assert quota.quota is not None
    assert (quota.quota.customization_num, quota.quota.remain_num) == (5, 0)


def test_vendor_examples_of_every_endpoint_parse_without_problems() -> None:
    cases = [
        ("describetimbre", "TimbreAssets", TimbreAsset, 2),
        ("getanchor", "Virtualmans", AnchorRecord, 1),
        ("getimagebyanchor", "Virtualmans", ImageAsset, 2),
        ("describesmallsampleimage", "Virtualmans", SmallSampleImage, 1),
        ("getaction", "Actions", Action, 18),
    ]
    for endpoint, field, model, count in cases:
        records: list[Any]
        records, problems = parse_records(
            vendor_example(endpoint)["Payload"][field],
            model,  # type: ignore[arg-type]  # a heterogeneous table of models
        )
        assert (endpoint, len(records), problems) == (endpoint, count, [])


def test_timbre_empty_expire_date_means_never() -> None:
    records, _ = parse_records(
        vendor_example("describetimbre")["Payload"]["TimbreAssets"], TimbreAsset
    )
    by_key = {r.key: r for r in records}
    assert by_key["male_11"].expire_date is None
    assert by_key["female_1"].expire_date == datetime(2025, 9, 1, 18, 0)
    absent, _ = parse_records([{"TimbreKey": "k"}], TimbreAsset)
    assert absent[0].expire_date is None


def test_documentation_slips_are_tolerated() -> None:
    raw = [
        {
            "ServiceType": "RealMan2DBroadcastConcurrency",
            "ExpireDate": "2026-01-01 00:00:00",
            # §4.1: documented with hour fields (a slip), and as an array
            "RealMan2DBroadcastConcurrencyInfoDetail": [
                {"OrderMilliseconds": "1000", "RemainMillisecond s": "500"}
            ],
            "UniversalConcurrencyInfoDetail": {"Concurrency": "3"},
            "SomethingNew": {"x": 1},
        }
    ]
    [record], problems = parse_records(raw, ServiceAsset)
    assert problems == []
    assert record.concurrency is not None
    assert record.concurrency.concurrency == 3
    slip = record.specific["RealMan2DBroadcastConcurrencyInfoDetail"]
    assert (slip.order_ms, slip.remain_ms) == (1000, 500)

    [image], problems = parse_records(
        [{"VirtualmanKey": "k", "VirtualmanType Code": "real_man_3d", "OriginZoom": "0.571"}],
        ImageAsset,
    )
    assert problems == []
    assert image.virtualman_type_code == "real_man_3d"
    assert image.origin_zoom == 0.571
    assert image.background_changeable is None  # "required", yet absent


def test_one_bad_record_never_drops_its_page() -> None:
    raw = [
        {"TimbreKey": "good-1", "ExpireDate": "2026-12-01 00:00:00"},
        {"TimbreKey": "bad-date", "ExpireDate": "next tuesday"},
        {"TimbreKey": "bad-num", "AudioDuration": "lots"},
        "not a record",
        {"TimbreName": "no key"},
        {"TimbreKey": "good-2"},
    ]
    records, problems = parse_records(raw, TimbreAsset, offset=100)
    assert [r.key for r in records] == ["good-1", "good-2"]
    assert [(p.index, p.key) for p in problems] == [
        (101, "bad-date"),
        (102, "bad-num"),
        (103, None),
        (104, None),
    ]
    assert "ExpireDate" in problems[0].reason
    assert "AudioDuration" in problems[1].reason


def test_problem_reasons_do_not_echo_values() -> None:
    _, problems = parse_records(
        [{"TimbreKey": "k", "AudioNum": "s3cr3t-looking-value"}], TimbreAsset
    )
    assert "s3cr3t-looking-value" not in problems[0].reason


def test_non_list_payloads_are_reported_not_raised() -> None:
    assert parse_records(None, TimbreAsset) == ([], [])
    records, problems = parse_records("garbage", TimbreAsset)
    assert records == []
    assert len(problems) == 1


# -- unambiguous dates and figures beyond the vendor's own format ---------------------------


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00+08:00", datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=8)))),
        ("2030-01-01 00:00:00-0530", datetime(2030, 1, 1, tzinfo=timezone(-timedelta(hours=5.5)))),
        ("2030-01-01 00:00:00.123", datetime(2030, 1, 1, 0, 0, 0, 123_000)),
        ("2030-01-01T00:00:00.123456789Z", datetime(2030, 1, 1, 0, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_iso_dates_with_fraction_or_offset_are_read(text: str, read: datetime) -> None:
    [record], problems = parse_records([{"TimbreKey": "k", "ExpireDate": text}], TimbreAsset)
    assert problems == []
    assert record.expire_date == read
    assert (record.expire_date.tzinfo is None) == (read.tzinfo is None)


@pytest.mark.parametrize(
    "text", ["2030-02-30", "2030-02-30T00:00:00Z", "2030-01-01T00:00:00+24:00", "2030-W01-1"]
)
def test_impossible_dates_stay_unreadable(text: str) -> None:
    records, [problem] = parse_records([{"TimbreKey": "k", "ExpireDate": text}], TimbreAsset)
    assert records == []
    assert "ExpireDate" in problem.reason
    assert text not in problem.reason


@pytest.mark.parametrize(
    ("figure", "read"),
    [("3600000.5", 3_600_000), (3_600_000.7, 3_600_001), (" 7200000 ", 7_200_000), (-1.4, -1)],
)
def test_fractional_milliseconds_are_rounded(figure: object, read: int) -> None:
    detail = {"OrderMilliseconds": figure, "RemainMilliseconds": figure}
    [record], problems = parse_records(
        [{"ServiceType": "BroadcastHour", "UniversalHourInfoDetail": detail}], ServiceAsset
    )
    assert problems == []
    assert record.hours is not None
    assert (record.hours.order_ms, record.hours.remain_ms) == (read, read)


@pytest.mark.parametrize(
    "figure",
    [True, False, "NaN", float("nan"), float("inf"), "-inf", 2**64, float(2**64), "1e3", "1_000"],
    ids=repr,
)
def test_figures_that_are_no_numbers_skip_the_record(figure: object) -> None:
    """Never read as 1/0 (pydantic's lax int would take ``true`` for 1): the record is
    skipped, with the field named."""
    records, [problem] = parse_records(
        [
            {
                "ServiceType": "BroadcastHour",
                "UniversalHourInfoDetail": {"RemainMilliseconds": figure},
            }
        ],
        ServiceAsset,
    )
    assert records == []
    assert "RemainMilliseconds" in problem.reason
    images, [image_problem] = parse_records(
        [{"VirtualmanKey": "k", "ExpireTime": figure}], SmallSampleImage
    )
    assert images == []
    assert "ExpireTime" in image_problem.reason
