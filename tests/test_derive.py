"""Normalisation into assets: categories, ids, zones, merging images."""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from monitor.client import IVHClient
from monitor.derive import (
    classify_service,
    images_to_assets,
    merge_images,
    services_to_assets,
    timbres_to_assets,
)
from monitor.domain import ANOMALY_REASONS, AnomalyReason, Asset
from monitor.fetch import collect_family
from monitor.simulator import RunningSimulator
from monitor.vendor import ImageAsset, ServiceAsset, SmallSampleImage, TimbreAsset, parse_records
from tests.conftest import vendor_example

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _services(raw: Sequence[Mapping[str, object]]) -> list[ServiceAsset]:
    records, problems = parse_records(raw, ServiceAsset)
    assert problems == []
    return records


def test_vendor_service_example_in_base_units_and_beijing_time() -> None:
    records = _services(vendor_example("getserviceasset")["Payload"]["ServiceAssetInfos"])
    hours, quota = sorted(services_to_assets("acct", SHANGHAI, records), key=lambda a: a.type)
    assert hours.category == "hours"
    assert hours.ordered_seconds == 999999.999
    assert hours.remaining_seconds == 881318.391
    # "2024-04-05 11:31:07" is Beijing time: 03:31:07 UTC
    assert hours.expires_at == datetime(2024, 4, 5, 3, 31, 7, tzinfo=UTC)
    assert quota.category == "quota"
    assert (quota.quota_limit, quota.quota_remaining) == (5, 0)


def test_unknown_service_type_classified_by_universal_detail_then_suffix() -> None:
    by_detail, by_suffix, neither = _services(
        [
            {
                "ServiceType": "HoloBroadcastPlan",
                "UniversalHourInfoDetail": {"OrderMilliseconds": 1},
            },
            {"ServiceType": "Holo3DInteractConcurrency", "ExpireDate": ""},
            {"ServiceType": "MysteryThing"},
        ]
    )
    assert classify_service(by_detail) == "hours"
    assert classify_service(by_suffix) == "concurrency"
    assert classify_service(neither) == "unknown"
    [asset] = services_to_assets("a", SHANGHAI, [by_detail])
    assert asset.remaining_seconds is None
    assert asset.ordered_seconds == 0.001


def test_figures_fall_back_to_type_specific_detail() -> None:
    [rec] = _services(
        [
            {
                "ServiceType": "TimbreHour",
                "TimbreHourInfoDetail": [
                    {"OrderMilliseconds": 7200000, "RemainMilliseconds": 3600000}
                ],
            }
        ]
    )
    [asset] = services_to_assets("a", SHANGHAI, [rec])
    assert (asset.ordered_seconds, asset.remaining_seconds) == (7200.0, 3600.0)


def test_package_ids_are_stable_and_unique() -> None:
    raw: list[dict[str, object]] = [
        {
            "ServiceType": "BroadcastHour",
            "ExpireDate": "2026-12-01 00:00:00",
            "UniversalHourInfoDetail": {"OrderMilliseconds": 10},
        },
        {
            "ServiceType": "BroadcastHour",
            "ExpireDate": "2027-03-01 00:00:00",
            "UniversalHourInfoDetail": {"OrderMilliseconds": 10},
        },
        {
            "ServiceType": "BroadcastHour",
            "ExpireDate": "2026-12-01 00:00:00",
            "UniversalHourInfoDetail": {"OrderMilliseconds": 20},
        },
        {"ServiceType": "ImageAsset", "UniversalAssetInfoDetail": {"CustomizationNum": 1}},
    ]
    first = {a.id for a in services_to_assets("a", SHANGHAI, _services(raw))}
    again = {a.id for a in services_to_assets("a", SHANGHAI, _services(list(reversed(raw))))}
    assert (
        first
        == again
        == {
            "BroadcastHour-20261201000000",
            "BroadcastHour-20261201000000-2",
            "BroadcastHour-20270301000000",
            "ImageAsset-unknown",  # §4.1: a blank ExpireDate is unknown
        }
    )


def test_zone_is_configurable() -> None:
    [rec] = _services([{"ServiceType": "BroadcastHour", "ExpireDate": "2026-01-01 00:00:00"}])
    [asset] = services_to_assets("a", ZoneInfo("UTC"), [rec])
    assert asset.expires_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_timbres_never_expiring_and_counters() -> None:
    records, _ = parse_records(
        vendor_example("describetimbre")["Payload"]["TimbreAssets"], TimbreAsset
    )
    by_id = {a.id: a for a in timbres_to_assets("a", SHANGHAI, records)}
    assert by_id["male_11"].expires_at is None
    assert by_id["male_11"].expires_in_seconds(datetime.now(UTC)) is None
    assert by_id["female_1"].audio_seconds == 221.587
    assert by_id["female_1"].audio_requests == 11
    assert by_id["female_1"].type == "Boutique"


def test_same_virtualman_key_from_two_endpoints_is_one_image() -> None:
    images, _ = parse_records(
        vendor_example("getimagebyanchor")["Payload"]["Virtualmans"], ImageAsset
    )
    small, _ = parse_records(
        vendor_example("describesmallsampleimage")["Payload"]["Virtualmans"], SmallSampleImage
    )
    shared = small[0].model_copy(update={"key": images[0].key})
    assets = images_to_assets("a", SHANGHAI, images, [shared, small[0]])
    assert len(assets) == 3
    by_id = {a.id: a for a in assets}
    merged = by_id[images[0].key]
    assert merged.type == "small_sample_2d"
    # ExpireTime (epoch ms) wins over the zone-less ExpireDate
    assert merged.expires_at == datetime.fromtimestamp(1699944584, UTC)
    assert merged.videos == 2  # counters: the larger of the two sources
    only_small = by_id[small[0].key]
    assert only_small.type == "small_sample_lite_2d"  # §4: small-sample catch-all
    assert only_small.expires_at == datetime(2023, 11, 14, 6, 49, 44, tzinfo=UTC)


def test_actions_only_on_3d_images() -> None:
    images, _ = parse_records(
        [
            {"VirtualmanKey": "k3", "VirtualmanTypeCode": "real_man_3d"},
            {"VirtualmanKey": "k2", "VirtualmanTypeCode": "real_man_2d"},
        ],
        ImageAsset,
    )
    by_id = {a.id: a for a in images_to_assets("a", SHANGHAI, images, [], {"k3": 18, "k2": 4})}
    assert by_id["k3"].actions == 18
    assert by_id["k2"].actions is None


def test_expires_in_is_negative_once_expired() -> None:
    [rec] = _services([{"ServiceType": "BroadcastHour", "ExpireDate": "2026-01-01 08:00:00"}])
    [asset] = services_to_assets("a", SHANGHAI, [rec])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert asset.expires_in_seconds(now) == 0
    assert asset.expires_in_seconds(now + timedelta(days=1)) == -86400


# -- blank and placeholder dates (docs/dates.md) -------------------------------------------

EXTREME_ZONES = [
    ZoneInfo(z)
    for z in ("Asia/Shanghai", "America/Los_Angeles", "Pacific/Kiritimati", "Etc/GMT+12")
]
#: (ExpireDate, expiry of a service package or image, of a voice)
DATES = [
    ("", "unknown", "never"),
    ("0001-01-01 00:00:00", "unknown", "unknown"),
    ("1970-01-01 08:00:00", "unknown", "unknown"),
    ("0000-00-00 00:00:00", "unknown", "unknown"),
    ("9999-12-31 23:59:59", "never", "never"),
    ("2026-05-01 12:00:00", "dated", "dated"),
]
SERVICE_ID = re.compile(r"^[A-Za-z0-9]+-(\d{14}|never|unknown)(-\d+)?$")


@pytest.mark.parametrize("zone", EXTREME_ZONES, ids=str)
def test_placeholder_dates_in_any_zone(zone: ZoneInfo) -> None:
    services = _services(
        [
            {"ServiceType": "BroadcastHour", "ExpireDate": d, "UniversalHourInfoDetail": {}}
            for d, _, _ in DATES
        ]
    )
    timbres, _ = parse_records(
        [{"TimbreKey": f"t{i}", "ExpireDate": d} for i, (d, _, _) in enumerate(DATES)],
        TimbreAsset,
    )
    images, _ = parse_records(
        [
            {"VirtualmanKey": f"i{i}", "VirtualmanTypeCode": "real_man_2d", "ExpireDate": d}
            for i, (d, _, _) in enumerate(DATES)
        ],
        ImageAsset,
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    svc = services_to_assets("a", zone, services)
    by_stamp = {a.expiry: a for a in svc}
    assert sorted(a.expiry for a in svc) == sorted(s for _, s, _ in DATES)
    assert all(SERVICE_ID.match(a.id) for a in svc), [a.id for a in svc]
    assert by_stamp["never"].id == "BroadcastHour-never"
    assert {a.id for a in svc if a.expiry == "unknown"} == {
        "BroadcastHour-unknown",
        "BroadcastHour-unknown-2",
        "BroadcastHour-unknown-3",
        "BroadcastHour-unknown-4",
    }
    assert by_stamp["dated"].id == "BroadcastHour-20260501120000"
    voices = {a.id: a.expiry for a in timbres_to_assets("a", zone, timbres)}
    assert voices == {f"t{i}": v for i, (_, _, v) in enumerate(DATES)}
    pictures = {a.id: a.expiry for a in images_to_assets("a", zone, images, [])}
    assert pictures == {f"i{i}": s for i, (_, s, _) in enumerate(DATES)}
    for asset in [*svc, *timbres_to_assets("a", zone, timbres)]:
        left = asset.expires_in_seconds(now)
        if asset.expiry == "dated":
            assert asset.expires_at is not None
            assert math.isfinite(asset.expires_at.timestamp())
            assert asset.expires_at.astimezone(UTC).utcoffset() == timedelta(0)
            assert left is not None
        else:
            assert asset.expires_at is None
            assert left is None


def test_placeholder_dates_never_get_a_local_mean_time_offset() -> None:
    [rec] = _services([{"ServiceType": "TimbreHour", "ExpireDate": "0001-01-01 00:00:00"}])
    [asset] = services_to_assets("a", SHANGHAI, [rec])
    assert asset.id == "TimbreHour-unknown"  # not TimbreHour-10101000000
    assert asset.expires_at is None  # not +08:05:43 LMT


@pytest.mark.parametrize(
    ("expire_time", "expire_date", "expiry"),
    [
        (0, "2026-05-01 12:00:00", "dated"),  # no date in ms: the string decides
        (-1, "", "unknown"),
        (-62_135_596_800_000, "0001-01-01 00:00:00", "unknown"),
        (253_402_300_799_000, "9999-12-31 23:59:59", "never"),  # 9999-12-31T23:59:59Z
        (10**15, "", "never"),  # past year 9999
        (2**63 - 1, "", "never"),
        (1_777_608_000_000, "", "dated"),  # 2026-05-01T04:00:00Z
    ],
)
@pytest.mark.parametrize("zone", EXTREME_ZONES, ids=str)
def test_small_sample_expire_time_extremes(
    zone: ZoneInfo, expire_time: int, expire_date: str, expiry: str
) -> None:
    small, problems = parse_records(
        [{"VirtualmanKey": "k", "ExpireTime": expire_time, "ExpireDate": expire_date}],
        SmallSampleImage,
    )
    assert problems == []  # kept, never skipped
    [asset] = images_to_assets("a", zone, [], small)
    assert asset.expiry == expiry
    if asset.expires_at is not None:
        assert math.isfinite(asset.expires_at.timestamp())
        assert asset.expires_at.astimezone(zone).year == 2026


def test_an_unknown_image_date_is_completed_by_the_small_sample_one() -> None:
    images, _ = parse_records(
        [{"VirtualmanKey": "k", "VirtualmanTypeCode": "small_sample_2d", "ExpireDate": ""}],
        ImageAsset,
    )
    small, _ = parse_records(
        [{"VirtualmanKey": "k", "ExpireDate": "2026-05-01 12:00:00"}], SmallSampleImage
    )
    [asset] = images_to_assets("a", SHANGHAI, images, small)
    assert asset.expiry == "dated"
    assert asset.expires_at == datetime(2026, 5, 1, 4, tzinfo=UTC)


# -- figures the category does not expect, and other anomalies ---------------------------------


def _reasons(asset: Asset) -> list[str]:
    return [x.reason for x in asset.anomalies]


def test_hour_figures_of_a_concurrency_type_are_kept_and_noted() -> None:
    # docs/ivh-api.md §4.1 documents RealMan2DBroadcastConcurrencyInfoDetail with hour fields
    [rec] = _services(
        [
            {
                "ExpireDate": "2026-05-01 12:00:00",
                "RealMan2DBroadcastConcurrencyInfoDetail": {
                    "OrderMilliseconds": 36_000_000,
                    "RemainMilliseconds": 18_000_000,
                },
                "ServiceType": "RealMan2DBroadcastConcurrency",
                "UniversalConcurrencyInfoDetail": {"Concurrency": 2},
            }
        ]
    )
    [asset] = services_to_assets("a", SHANGHAI, [rec])
    assert asset.category == "concurrency"
    assert asset.concurrency == 2
    assert (asset.ordered_seconds, asset.remaining_seconds) == (36000.0, 18000.0)
    [anomaly] = asset.anomalies
    assert (anomaly.endpoint, anomaly.reason, anomaly.detail) == (
        "getserviceasset",
        "figures_off_category",
        "hours",
    )


def test_negative_figures_are_clamped_and_noted() -> None:
    [rec] = _services(
        [
            {
                "ServiceType": "BroadcastHour",
                "ExpireDate": "2026-05-01 12:00:00",
                "UniversalHourInfoDetail": {
                    "OrderMilliseconds": 3_600_000,
                    "RemainMilliseconds": -7_200_000,
                },
            }
        ]
    )
    [asset] = services_to_assets("a", SHANGHAI, [rec])
    assert asset.remaining_seconds == 0
    assert asset.ordered_seconds == 3600
    assert [(x.reason, x.detail) for x in asset.anomalies] == [
        ("negative_figure", "RemainMilliseconds")
    ]


def test_services_without_figures_or_category_are_kept_and_noted() -> None:
    bare, mystery, fine = _services(
        [
            {"ServiceType": "BroadcastHour", "ExpireDate": "2026-05-01 12:00:00"},
            {"ServiceType": "MysteryThing", "ExpireDate": "2026-05-01 12:00:00"},
            {"ServiceType": "ImageAsset", "UniversalAssetInfoDetail": {"CustomizationNum": 1}},
        ]
    )
    by_type = {a.type: a for a in services_to_assets("a", SHANGHAI, [bare, mystery, fine])}
    assert _reasons(by_type["BroadcastHour"]) == ["no_figures"]
    assert by_type["BroadcastHour"].expires_at is not None
    assert _reasons(by_type["MysteryThing"]) == ["unknown_category"]
    assert _reasons(by_type["ImageAsset"]) == []


def test_vendor_examples_have_no_anomalies() -> None:
    records = _services(vendor_example("getserviceasset")["Payload"]["ServiceAssetInfos"])
    assert all(a.anomalies == () for a in services_to_assets("acct", SHANGHAI, records))
    images, _ = parse_records(
        vendor_example("getimagebyanchor")["Payload"]["Virtualmans"], ImageAsset
    )
    assert all(a.anomalies == () for a in images_to_assets("acct", SHANGHAI, images, []))


def _walk(type_code: str, record_code: str | None = None) -> list[Asset]:
    """The page one type-code walk gives for key k."""
    raw: dict[str, object] = {"VirtualmanKey": "k", "ExpireDate": "2026-05-01 12:00:00"}
    if record_code is not None:
        raw["VirtualmanTypeCode"] = record_code
    records, _ = parse_records([raw], ImageAsset)
    return images_to_assets("a", SHANGHAI, records, [], listed_as=type_code)


@pytest.mark.parametrize("lite_first", [True, False])
def test_the_specific_type_wins_over_the_lite_copy_whatever_the_walk_order(
    lite_first: bool,
) -> None:
    specific = _walk("small_sample_2d", "small_sample_2d")
    lite = _walk("small_sample_lite_2d", "small_sample_lite_2d")
    walks = [*lite, *specific] if lite_first else [*specific, *lite]
    [asset] = merge_images(walks, [])
    assert asset.type == "small_sample_2d"
    assert asset.anomalies == ()


def test_two_specific_types_of_one_key_are_a_conflict_and_missing_codes_are_noted() -> None:
    [asset] = merge_images(
        [*_walk("real_man_2d", "real_man_2d"), *_walk("cartoon_3d", "cartoon_3d")], []
    )
    assert asset.type == "cartoon_3d"  # a tie: the later walk, as for page repeats
    assert _reasons(asset) == ["image_type_conflict"]
    [untyped] = _walk("real_man_3d")
    assert untyped.type == "real_man_3d"  # typed by its walk
    assert _reasons(untyped) == ["image_type_missing"]
    [told] = merge_images([*_walk("real_man_3d", "real_man_3d"), untyped], [])
    assert told.type == "real_man_3d"
    assert told.anomalies == ()  # the copy that carries its code wins


def test_small_sample_only_images_get_a_code_the_api_knows() -> None:
    small, _ = parse_records(
        [
            {"VirtualmanKey": "plain"},
            {"VirtualmanKey": "coded", "VirtualmanTypeCode": "small_sample_photo_2d"},
        ],
        SmallSampleImage,
    )
    by_id = {a.id: a.type for a in images_to_assets("a", SHANGHAI, [], small)}
    assert by_id == {"plain": "small_sample_lite_2d", "coded": "small_sample_photo_2d"}


# -- placeholder ExpireTime, dates with an offset, one cut-off for every date ---------------

_DATED_IMAGE = {
    "VirtualmanKey": "img1",
    "AnchorCode": "a",
    "AnchorName": "A",
    "VirtualmanTypeCode": "real_man_2d",
    "ExpireDate": "2027-01-01 00:00:00",
}
PLACEHOLDER_TIMES = [2**63 - 1, 253_402_300_799_000, 10**15]


@pytest.mark.parametrize("expire_time", PLACEHOLDER_TIMES, ids=["int64max", "9999", "1e15"])
@pytest.mark.parametrize("own_date", ["2027-01-01 00:00:00", ""], ids=["dated", "blank"])
def test_a_placeholder_expire_time_never_overrides_a_real_date(
    expire_time: int, own_date: str
) -> None:
    """The image is dated by getimagebyanchor (and maybe by its small-sample record's
    own ExpireDate); the small-sample ExpireTime says year 9999 or int64 max. The date
    stays, and the placeholder is noted."""
    images, _ = parse_records([_DATED_IMAGE], ImageAsset)
    small, _ = parse_records(
        [{**_DATED_IMAGE, "ExpireDate": own_date, "ExpireTime": expire_time}], SmallSampleImage
    )
    [asset] = images_to_assets("a", SHANGHAI, images, small)
    assert asset.expiry == "dated"
    assert asset.expires_at == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert [(x.endpoint, x.reason, x.detail) for x in asset.anomalies] == [
        ("describesmallsampleimage", "placeholder_expire_time", "ExpireTime")
    ]


@pytest.mark.parametrize("expire_time", PLACEHOLDER_TIMES, ids=["int64max", "9999", "1e15"])
def test_a_placeholder_expire_time_falls_back_to_the_records_own_date(expire_time: int) -> None:
    small, _ = parse_records(
        [{"VirtualmanKey": "k", "ExpireDate": "2027-01-01 00:00:00", "ExpireTime": expire_time}],
        SmallSampleImage,
    )
    [asset] = images_to_assets("a", SHANGHAI, [], small)
    assert asset.expires_at == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert _reasons(asset) == ["placeholder_expire_time"]


def test_a_year_9999_expire_time_agreeing_with_its_dates_is_never_and_not_odd() -> None:
    forever = {**_DATED_IMAGE, "ExpireDate": "9999-12-31 23:59:59"}
    images, _ = parse_records([forever], ImageAsset)
    small, _ = parse_records([{**forever, "ExpireTime": 253_402_300_799_000}], SmallSampleImage)
    [asset] = images_to_assets("a", SHANGHAI, images, small)
    assert asset.expiry == "never"
    assert asset.anomalies == ()


async def test_a_placeholder_expire_time_over_http(
    sim: RunningSimulator, make_client: Callable[..., IVHClient]
) -> None:
    """The reviewer's case through the real client and collection: the image keeps its
    2027 date, and its anomaly reaches the collection result."""
    account = sim.dataset.account("t1")
    account.replace("images", [_DATED_IMAGE])
    account.replace("small_sample_images", [{**_DATED_IMAGE, "ExpireTime": 2**63 - 1}])
    result = await collect_family(make_client(), "images", type_codes=["real_man_2d"])
    [asset] = result.assets
    assert asset.expires_at == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert [a.reason for _, a in result.anomalies] == ["placeholder_expire_time"]


@pytest.mark.parametrize("zone", EXTREME_ZONES, ids=str)
def test_a_date_with_an_offset_keeps_its_instant(zone: ZoneInfo) -> None:
    """The account's zone applies to zone-less dates only; the package id is on the
    account zone's clock either way."""
    texts = ["2030-01-01T00:00:00Z", "2030-01-01T08:00:00+08:00", "2030-01-01 00:00:00.000Z"]
    records = _services(
        [
            {"ServiceType": "BroadcastHour", "ExpireDate": t, "UniversalHourInfoDetail": {}}
            for t in texts
        ]
    )
    assets = services_to_assets("a", zone, records)
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    stamp = moment.astimezone(zone).strftime("%Y%m%d%H%M%S")
    assert {a.expires_at for a in assets} == {moment}
    assert sorted(a.id for a in assets) == [
        f"BroadcastHour-{stamp}",
        f"BroadcastHour-{stamp}-2",
        f"BroadcastHour-{stamp}-3",
    ]
    assert all(a.expires_at is not None and a.expires_at.tzinfo == zone for a in assets)


@pytest.mark.parametrize("zone", EXTREME_ZONES, ids=str)
@pytest.mark.parametrize(
    ("text", "expiry"),
    [
        ("0001-01-01T00:00:00+14:00", "unknown"),
        ("0001-01-01T00:00:00Z", "unknown"),
        ("1970-01-01T00:00:00.000+00:00", "unknown"),
        ("9999-12-31T23:59:59-12:00", "never"),
        ("9999-12-31T23:59:59.999+14:00", "never"),
    ],
)
def test_dates_with_an_offset_follow_the_placeholder_policy(
    zone: ZoneInfo, text: str, expiry: str
) -> None:
    [rec] = _services([{"ServiceType": "BroadcastHour", "ExpireDate": text}])
    [asset] = services_to_assets("a", zone, [rec])
    assert asset.expiry == expiry
    assert asset.id == f"BroadcastHour-{expiry}"


@pytest.mark.parametrize("zone", EXTREME_ZONES, ids=str)
def test_expire_date_and_expire_time_share_one_cut_off(zone: ZoneInfo) -> None:
    """2000-01-01 00:00 on the account zone's clock: the last second before it is a
    placeholder, that moment a date, whether the string or the epoch ms says so."""
    first = datetime(2000, 1, 1, tzinfo=zone)
    for moment, expiry in [(first - timedelta(seconds=1), "unknown"), (first, "dated")]:
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        ms = int(moment.timestamp() * 1000)
        small, _ = parse_records(
            [
                {"VirtualmanKey": "by-date", "ExpireDate": text},
                {"VirtualmanKey": "by-time", "ExpireDate": "", "ExpireTime": ms},
            ],
            SmallSampleImage,
        )
        got = {a.id: a.expiry for a in images_to_assets("a", zone, [], small)}
        assert got == {"by-date": expiry, "by-time": expiry}, (moment, got)


# -- figures that cannot be right: kept as sent, and noted ------------------------------------


def test_more_remaining_than_ordered_is_kept_and_noted() -> None:
    hours, quota = _services(
        [
            {
                "ServiceType": "BroadcastHour",
                "ExpireDate": "2026-05-01 12:00:00",
                "UniversalHourInfoDetail": {"OrderMilliseconds": 100, "RemainMilliseconds": 200},
            },
            {
                "ServiceType": "ImageAsset",
                "ExpireDate": "2026-05-01 12:00:00",
                "UniversalAssetInfoDetail": {"CustomizationNum": 1, "RemainNum": 3},
            },
        ]
    )
    by_type = {a.type: a for a in services_to_assets("a", SHANGHAI, [hours, quota])}
    assert (
        by_type["BroadcastHour"].ordered_seconds,
        by_type["BroadcastHour"].remaining_seconds,
    ) == (
        0.1,
        0.2,
    )
    assert [(x.reason, x.detail) for x in by_type["BroadcastHour"].anomalies] == [
        ("remaining_above_ordered", "RemainMilliseconds")
    ]
    assert (by_type["ImageAsset"].quota_limit, by_type["ImageAsset"].quota_remaining) == (1, 3)
    assert [(x.reason, x.detail) for x in by_type["ImageAsset"].anomalies] == [
        ("remaining_above_ordered", "RemainNum")
    ]


def test_implausibly_large_figures_are_kept_and_noted() -> None:
    huge = 2**63 - 1
    records = _services(
        [
            {
                "ServiceType": "BroadcastHour",
                "ExpireDate": "2026-05-01 12:00:00",
                "UniversalHourInfoDetail": {"OrderMilliseconds": huge, "RemainMilliseconds": huge},
            },
            {
                "ServiceType": "RealMan2DBroadcastConcurrency",
                "ExpireDate": "2026-05-01 12:00:00",
                "UniversalConcurrencyInfoDetail": {"Concurrency": 10**6 + 1},
            },
            {
                "ServiceType": "TimbreHour",  # a million hours exactly: plausible still
                "ExpireDate": "2026-05-01 12:00:00",
                "UniversalHourInfoDetail": {
                    "OrderMilliseconds": 3_600_000 * 10**6,
                    "RemainMilliseconds": 1,
                },
            },
        ]
    )
    by_type = {a.type: a for a in services_to_assets("a", SHANGHAI, records)}
    assert by_type["BroadcastHour"].remaining_seconds == huge / 1000
    assert [(x.reason, x.detail) for x in by_type["BroadcastHour"].anomalies] == [
        ("implausible_figure", "OrderMilliseconds"),
        ("implausible_figure", "RemainMilliseconds"),
    ]
    assert by_type["RealMan2DBroadcastConcurrency"].concurrency == 10**6 + 1
    assert _reasons(by_type["RealMan2DBroadcastConcurrency"]) == ["implausible_figure"]
    assert by_type["TimbreHour"].anomalies == ()


def test_every_anomaly_reason_is_exported_by_its_family() -> None:
    assert set(ANOMALY_REASONS["services"]) >= {"implausible_figure", "remaining_above_ordered"}
    assert "placeholder_expire_time" in ANOMALY_REASONS["images"]
    assert {r for reasons in ANOMALY_REASONS.values() for r in reasons} == set(
        get_args(AnomalyReason)
    )


def test_start_of_validity_of_small_sample_images() -> None:
    """§4.5: EffectiveTime (epoch ms) first, else EffectiveDate (Beijing wall time); a
    placeholder or an unreadable date is no start, and never loses the record."""
    records, problems = parse_records(
        [
            {"VirtualmanKey": "exact", "EffectiveTime": 1699944584000, "EffectiveDate": "x"},
            {"VirtualmanKey": "dated", "EffectiveTime": 0, "EffectiveDate": "2030-01-02 08:00:00"},
            {"VirtualmanKey": "garbled", "EffectiveDate": "next tuesday"},
            {"VirtualmanKey": "none"},
        ],
        SmallSampleImage,
    )
    assert problems == []
    starts = {a.id: a.starts_at for a in images_to_assets("a", SHANGHAI, [], records)}
    assert starts == {
        "exact": datetime.fromtimestamp(1699944584, UTC),
        "dated": datetime(2030, 1, 2, tzinfo=UTC),
        "garbled": None,
        "none": None,
    }
    # the image record of the same key keeps the small-sample start when merged
    images, _ = parse_records([{"VirtualmanKey": "dated"}], ImageAsset)
    merged = images_to_assets("a", SHANGHAI, images, records)
    assert next(a for a in merged if a.id == "dated").starts_at == datetime(2030, 1, 2, tzinfo=UTC)


def test_voices_keep_the_avatar_types_they_work_with() -> None:
    records, _ = parse_records(
        [
            {"TimbreKey": "v", "SupportVirtualmanTypeCodes": ["real_man_2d", "cartoon_3d"]},
            {"TimbreKey": "w"},
        ],
        TimbreAsset,
    )
    by_id = {a.id: a for a in timbres_to_assets("a", SHANGHAI, records)}
    assert by_id["v"].avatar_types == ("cartoon_3d", "real_man_2d")
    assert by_id["w"].avatar_types == ()
