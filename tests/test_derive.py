"""Normalisation into assets: categories, ids, zones, merging images."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.derive import (
    classify_service,
    images_to_assets,
    services_to_assets,
    timbres_to_assets,
)
from monitor.models import ImageAsset, ServiceAsset, SmallSampleImage, TimbreAsset, parse_records
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
