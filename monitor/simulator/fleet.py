"""Synthetic fleets: large, deterministic datasets for benchmarks and pagination tests.

:func:`generate_fleet` builds the records in code (a seeded random choice per
field), in the same vendor shapes a dataset file holds (docs/ivh-api.md §4).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import resources

from monitor.simulator.dataset import Dataset, SimAccount
from monitor.simulator.records import Record, check_now

__all__ = ["generate_fleet", "service_types"]

_MS_PER_HOUR = 3_600_000
_MEDIA = "https://cos.ivh-sim.example"
_ALL_CODES = [
    "real_man_2d",
    "small_sample_2d",
    "real_man_3d",
    "half_realistic_3d",
    "cartoon_3d",
    "small_sample_general_2d",
    "small_sample_4k_2d",
    "small_sample_photo_2d",
]
_TYPE_CODES = [*_ALL_CODES, "small_sample_lite_2d"]
_TYPE_NAMES = {
    # Display names as the gateway writes them (getanchor/getimagebyanchor examples).
    "real_man_2d": "2D精品",
    "real_man_3d": "3D写实",
    "half_realistic_3d": "3D半写实",
    "cartoon_3d": "3D卡通",
    "small_sample_2d": "2D小样本(专属)",
    "small_sample_general_2d": "2D小样本(通用)",
    "small_sample_4k_2d": "2D小样本(高精)",
    "small_sample_photo_2d": "2D小样本(照片)",
    "small_sample_lite_2d": "2D小样本端渲染",
}
_THREE_D = frozenset({"real_man_3d", "half_realistic_3d", "cartoon_3d"})
_ALL_DRIVERS = ["Text", "OriginalVoice", "ModulatedVoice"]
_BASIC_ACTIONS = [
    ("admission", "入场"),
    ("appearance", "出场"),
    ("bow", "弯腰鞠躬"),
    ("waving_hand1", "单手挥手"),
    ("welcome", "欢迎"),
    ("show_love3", "单手比心"),
    ("applaud", "鼓掌"),
]
_UNIVERSAL_DETAIL = {
    "hours": "UniversalHourInfoDetail",
    "concurrency": "UniversalConcurrencyInfoDetail",
    "quota": "UniversalAssetInfoDetail",
}


def service_types() -> list[dict[str, str]]:
    """The vendor's service-type appendix (``monitor/data/enums.json``)."""
    text = resources.files("monitor.data").joinpath("enums.json").read_text(encoding="utf-8")
    types: list[dict[str, str]] = json.loads(text)["service_types"]
    return types


def _category(service_type: str) -> str:
    if service_type.endswith("Hour"):
        return "hours"
    if service_type.endswith("Concurrency"):
        return "concurrency"
    return "quota"


def _service(service_type: str, expire: str, figures: Mapping[str, int]) -> Record:
    """A ServiceAssetInfo: the same figures in the universal and the type's own detail."""
    return {
        "ExpireDate": expire,
        "ServiceType": service_type,
        _UNIVERSAL_DETAIL[_category(service_type)]: dict(figures),
        f"{service_type}InfoDetail": dict(figures),
    }


def _random_service(rng: random.Random, service_type: str) -> Record:
    expire = f"{rng.choice('+-')}{rng.randint(1, 400)}d"
    kind = _category(service_type)
    if kind == "hours":
        bought = rng.choice([10, 50, 100, 500, 1000])
        left = bought * rng.random()
        figures = {
            "OrderMilliseconds": round(bought * _MS_PER_HOUR),
            "RemainMilliseconds": round(left * _MS_PER_HOUR),
        }
    elif kind == "concurrency":
        figures = {"Concurrency": rng.randint(1, 20)}
    else:
        total = rng.randint(1, 50)
        figures = {"CustomizationNum": total, "RemainNum": rng.randint(0, total)}
    return _service(service_type, expire, figures)


def _timbre(key: str, index: int, rng: random.Random) -> Record:
    gender = rng.choice([1, 2])
    expire = rng.choice(["", f"+{rng.randint(1, 400)}d", f"-{rng.randint(1, 30)}d"])
    return {
        "AudioDuration": rng.randint(0, 10**9),
        "AudioNum": rng.randint(0, 10**5),
        "EmotionalCategories": [],
        "ExpireDate": expire,
        "PurchaseType": "Lease",
        "SupportDriverTypes": ["Text", "OriginalVoice"],
        "SupportVirtualmanTypeCodes": list(_ALL_CODES),
        "TimbreDesc": "合成音色",
        "TimbreGender": gender,
        "TimbreKey": key,
        "TimbreLanguages": [],
        "TimbreName": f"声音{index}",
        "TimbreSample": f"{_MEDIA}/timbre/{key}/sample.wav",
        "TimbreType": "Boutique",
    }


def _anchor(code: str, name: str, type_code: str, rng: random.Random) -> Record:
    return {
        "HeaderImage": f"{_MEDIA}/anchor/{code}/header.png",
        "VirtualmanTypeCode": type_code,
        "VirtualmanType": _TYPE_NAMES[type_code],
        "Tag": rng.choice(["Basic", "Standard", "Advanced"]),
        "PurchaseType": rng.choice(["Lease", "Custom"]),
        "AnchorCode": code,
        "AnchorName": name,
        "Gender": rng.choice([0, 1, 2]),
    }


def _image(key: str, anchor: Record, rng: random.Random) -> Record:
    """An ImageAssetDetail grouped under ``anchor`` (docs/ivh-api.md §4.4)."""
    resolution = rng.choice(["1080x1920", "1920x1080"])
    expire = f"{rng.choice('+-')}{rng.randint(1, 400)}d"
    zoom = round(rng.uniform(0.3, 1.0), 3)
    return {
        "AnchorCode": anchor["AnchorCode"],
        "AnchorName": anchor["AnchorName"],
        "BackgroundChangeable": True,
        "ClothesImage": f"{_MEDIA}/image/{key}/clothes.png",
        "ClothesName": "服装",
        "ExpireDate": expire,
        "HeaderImage": f"{_MEDIA}/image/{key}/header.png",
        "OriginZoom": zoom,
        "PoseImage": f"{_MEDIA}/image/{key}/pose.png",
        "PoseName": "站姿",
        "ReferenceVideoSegmentUrl": f"{_MEDIA}/image/{key}/pv.mp4",
        "Resolution": resolution,
        "SupportAnchorExtraParams": [],
        "SupportDriverTypes": list(_ALL_DRIVERS),
        "VideoDuration": rng.randint(0, 10**8),
        "VideoNum": rng.randint(0, 1000),
        "VirtualmanKey": key,
        "VirtualmanType": anchor["VirtualmanType"],
        "VirtualmanTypeCode": anchor["VirtualmanTypeCode"],
        "PurchaseType": anchor["PurchaseType"],
        "SupportRenderTypes": ["cloud"],
        "Gender": anchor["Gender"],
    }


_SMALL_SAMPLE_FIELDS = (
    "VirtualmanKey",
    "AnchorName",
    "AnchorCode",
    "BackgroundChangeable",
    "ClothesImage",
    "ClothesName",
    "HeaderImage",
    "PoseImage",
    "PoseName",
    "ReferenceVideoSegmentUrl",
    "Resolution",
    "SupportDriverTypes",
    "VideoDuration",
    "VideoNum",
)


def _small_sample(image: Record) -> Record:
    """The SmallSampleImage view (§4.5) of an image, effective 400 days ago."""
    record: Record = {key: copy.deepcopy(image[key]) for key in _SMALL_SAMPLE_FIELDS}
    record.update(
        {
            "EffectiveDate": "-400d",
            "EffectiveTime": "-400d",
            "ExpireDate": image["ExpireDate"],
            "ExpireTime": image["ExpireDate"],
            "OriginZoom": 1.0,
            "OriginZoomStr": "1.000",
        }
    )
    return record


def _actions(key: str, names: Iterable[tuple[str, str]]) -> list[Record]:
    return [
        {
            "ActionCode": code,
            "ActionSample": f"{_MEDIA}/actions/{key}/{code}.mp4",
            "ActionName": name,
        }
        for code, name in names
    ]


def _account(tag: str, size: int, rng: random.Random, types: list[str]) -> dict[str, object]:
    """One account's collections, dates still relative."""
    services = [_random_service(rng, rng.choice(types)) for _ in range(size)]
    timbres = [_timbre(f"{tag}-voice-{i:05d}", i, rng) for i in range(size)]
    anchors: list[Record] = []
    images: list[Record] = []
    actions: dict[str, list[Record]] = {}
    for i in range(size):
        if i % 5 == 0:
            type_code = _TYPE_CODES[(i // 5) % len(_TYPE_CODES)]
            anchors.append(_anchor(f"{tag}-anchor-{i // 5:04d}", f"主播{i // 5}", type_code, rng))
        key = f"{rng.getrandbits(128):032x}"
        images.append(_image(key, anchors[-1], rng))
        if anchors[-1]["VirtualmanTypeCode"] in _THREE_D:
            actions[key] = _actions(key, _BASIC_ACTIONS)
    return {
        "services": services,
        "timbres": timbres,
        "anchors": anchors,
        "images": images,
        "small_sample_images": [_small_sample(image) for image in images[: size // 2]],
        "actions": actions,
    }


def generate_fleet(accounts: int, assets_per_account: int, now: datetime, seed: int = 0) -> Dataset:
    """A large deterministic dataset for benchmarks and pagination tests.

    Each account ``fleet-NNNN`` (appkey ``ak-fleet-NNNN``, token
    ``at-fleet-NNNN``) gets ``assets_per_account`` services, voices and images
    each (images spread over the nine avatar types, five per anchor), half as
    many small-sample images (sharing keys with images) and actions for its 3D
    images. The same arguments always give the same records.
    """
    check_now(now)
    rng = random.Random(seed)
    types = [t["code"] for t in service_types()]
    fleet = Dataset()
    for a in range(accounts):
        tag = f"fleet-{a + 1:04d}"
        account = SimAccount(tag, f"ak-{tag}", f"at-{tag}")
        for collection, records in _account(tag, assets_per_account, rng, types).items():
            account.replace(collection, records, now=now)
        fleet.add(account)
    return fleet
