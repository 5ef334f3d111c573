"""Pure derivations: vendor records in, normalised assets and figures out.

No I/O, no clock reads, no Prometheus: everything time-dependent takes ``now``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from monitor.domain import Anchor, Asset, Category
from monitor.models import Anchor as AnchorRecord
from monitor.models import Detail, ImageAsset, ServiceAsset, SmallSampleImage, TimbreAsset

__all__ = [
    "anchors_to_groups",
    "classify_service",
    "images_to_assets",
    "service_display_name",
    "services_to_assets",
    "timbres_to_assets",
]

#: type code of images known only from describesmallsampleimage (it carries none)
SMALL_SAMPLE_TYPE = "small_sample"

_MS = 1000.0
N = TypeVar("N", int, float)


@cache
def _enums() -> dict[str, Any]:
    text = resources.files("monitor.data").joinpath("enums.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _service_types() -> dict[str, dict[str, str]]:
    return {entry["code"]: entry for entry in _enums()["service_types"]}


def service_display_name(service_type: str, language: str = "en") -> str:
    entry = _service_types().get(service_type)
    if entry is None:
        return service_type
    return entry["description_zh" if language == "zh" else "description_en"]


def classify_service(record: ServiceAsset) -> Category:
    """hours / concurrency / quota (REFERENCE.md §4.1).

    Known types by the vendor's table; an unknown (new) type by the universal
    detail it carries, then by its name's suffix.
    """
    known = _service_types().get(record.service_type)
    if known is not None:
        category: Category = known["category"]  # type: ignore[assignment]
        return category
    if record.hours is not None:
        return "hours"
    if record.concurrency is not None:
        return "concurrency"
    if record.quota is not None:
        return "quota"
    for suffix, cat in (("Hour", "hours"), ("Concurrency", "concurrency"), ("Asset", "quota")):
        if record.service_type.endswith(suffix):
            return cat  # type: ignore[return-value]
    return "unknown"


def _first(details: Iterable[Detail], *names: str) -> Detail | None:
    """The first detail (universal first) that carries any of the named figures."""
    for detail in details:
        if any(getattr(detail, n) is not None for n in names):
            return detail
    return None


def _localise(naive: datetime | None, zone: tzinfo) -> datetime | None:
    return None if naive is None else naive.replace(tzinfo=zone)


def services_to_assets(
    account: str, zone: tzinfo, records: Sequence[ServiceAsset], language: str = "en"
) -> list[Asset]:
    """One asset per package. The API gives packages no id (§4.1), so the id is
    ``<ServiceType>-<expiry yyyymmddHHMMSS | never>``, suffixed ``-2``, ``-3``…
    for packages of one type that expire at the same second (ordered by size so
    the suffix is stable)."""
    return number_services(service_packages(account, zone, records, language))


#: a service package before its id is final: (id stem, ordered ms, asset with id = stem)
ServicePackage = tuple[str, int, Asset]


def service_packages(
    account: str, zone: tzinfo, records: Iterable[ServiceAsset], language: str = "en"
) -> list[ServicePackage]:
    """The first half of :func:`services_to_assets`, page by page."""
    return [_service_package(account, zone, rec, language) for rec in records]


def number_services(packages: Iterable[ServicePackage]) -> list[Asset]:
    """The second half of :func:`services_to_assets`: the final ids, over every page."""
    seen: Counter[str] = Counter()
    assets: list[Asset] = []
    for stem, _, asset in sorted(packages, key=lambda p: (p[0], -p[1])):
        seen[stem] += 1
        assets.append(asset if seen[stem] == 1 else replace(asset, id=f"{stem}-{seen[stem]}"))
    return assets


def _service_package(
    account: str, zone: tzinfo, rec: ServiceAsset, language: str
) -> ServicePackage:
    when = rec.expire_date.strftime("%Y%m%d%H%M%S") if rec.expire_date else "never"
    stem = f"{rec.service_type}-{when}"
    ordered = _first(rec.details(), "order_ms")
    ordered_ms = ordered.order_ms or 0 if ordered is not None else 0
    category = classify_service(rec)
    fields: dict[str, Any] = {}
    details = list(rec.details())
    if category == "hours":
        d = _first(details, "order_ms", "remain_ms")
        if d is not None:
            fields["ordered_seconds"] = None if d.order_ms is None else d.order_ms / _MS
            fields["remaining_seconds"] = None if d.remain_ms is None else d.remain_ms / _MS
    elif category == "quota":
        d = _first(details, "customization_num", "remain_num")
        if d is not None:
            fields["quota_limit"] = d.customization_num
            fields["quota_remaining"] = d.remain_num
    elif category == "concurrency":
        d = _first(details, "concurrency")
        if d is not None:
            fields["concurrency"] = d.concurrency
    asset = Asset(
        account=account,
        kind="service",
        id=stem,
        type=rec.service_type,
        name=service_display_name(rec.service_type, language),
        expires_at=_localise(rec.expire_date, zone),
        category=category,
        **fields,
    )
    return stem, ordered_ms, asset


def timbres_to_assets(account: str, zone: tzinfo, records: Sequence[TimbreAsset]) -> list[Asset]:
    """One asset per TimbreKey (unique per account, §4.2; the last copy wins if a
    shifting page repeated one)."""
    by_key: dict[str, Asset] = {}
    for rec in records:
        by_key[rec.key] = Asset(
            account=account,
            kind="timbre",
            id=rec.key,
            type=rec.timbre_type or "unknown",
            name=rec.name or rec.key,
            # §4.2: empty or absent ExpireDate = never expires
            expires_at=_localise(rec.expire_date, zone),
            purchase_type=rec.purchase_type or None,
            audio_seconds=None if rec.audio_ms is None else rec.audio_ms / _MS,
            audio_requests=rec.audio_num,
        )
    return list(by_key.values())


def _max(a: N | None, b: N | None) -> N | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def images_to_assets(
    account: str,
    zone: tzinfo,
    images: Sequence[ImageAsset],
    small_samples: Sequence[SmallSampleImage],
    actions: Mapping[str, int] | None = None,
) -> list[Asset]:
    """One asset per VirtualmanKey: the same key from getimagebyanchor and
    describesmallsampleimage is one image (§4.5). Expiry prefers the
    small-sample ``ExpireTime`` (epoch ms, unambiguous) over a zone-less date."""
    actions = actions or {}
    by_key: dict[str, ImageAsset] = {r.key: r for r in images}
    small_by_key: dict[str, SmallSampleImage] = {r.key: r for r in small_samples}
    assets: list[Asset] = []
    for key in list(by_key) + [k for k in small_by_key if k not in by_key]:
        img = by_key.get(key)
        small = small_by_key.get(key)
        base = img or small
        assert base is not None  # noqa: S101 - key came from one of the two maps
        expires_at = _localise(base.expire_date, zone)
        if small is not None and small.expire_time_ms is not None and small.expire_time_ms > 0:
            expires_at = datetime.fromtimestamp(small.expire_time_ms / _MS, UTC).astimezone(zone)
        elif small is not None and img is None:
            expires_at = _localise(small.expire_date, zone)
        video_ms = _max(img.video_ms if img else None, small.video_ms if small else None)
        type_code = (img.virtualman_type_code if img else "") or SMALL_SAMPLE_TYPE
        assets.append(
            Asset(
                account=account,
                kind="image",
                id=key,
                type=type_code,
                name=base.display_name,
                expires_at=expires_at,
                purchase_type=(img.purchase_type if img else "") or None,
                video_seconds=None if video_ms is None else video_ms / _MS,
                videos=_max(img.video_num if img else None, small.video_num if small else None),
                actions=actions.get(key) if is_3d(type_code) else None,
                anchor=base.anchor_code or None,
            )
        )
    return assets


#: a small-sample image as an asset, and whether its expiry is exact (``ExpireTime``)
SmallSample = tuple[Asset, bool]


def small_sample_assets(
    account: str, zone: tzinfo, records: Iterable[SmallSampleImage]
) -> list[SmallSample]:
    """Each small-sample record on its own, for :func:`merge_images`."""
    return [
        (
            images_to_assets(account, zone, [], [r])[0],
            r.expire_time_ms is not None and r.expire_time_ms > 0,
        )
        for r in records
    ]


def merge_images(from_images: Iterable[Asset], from_small: Iterable[SmallSample]) -> list[Asset]:
    """:func:`images_to_assets` of every record, from the assets it made of the
    image records alone (page by page, in page order) and from
    :func:`small_sample_assets`: an exact small-sample expiry wins over the
    image's zone-less date (§4.5)."""
    by_key = {a.id: a for a in from_images}  # first place, last copy: as images_to_assets
    small = {a.id: (a, exact) for a, exact in from_small}
    merged: list[Asset] = []
    for key, img in by_key.items():
        if key not in small:
            merged.append(img)
            continue
        other, exact = small[key]
        merged.append(
            replace(
                img,
                expires_at=other.expires_at if exact else img.expires_at,
                video_seconds=_max(img.video_seconds, other.video_seconds),
                videos=_max(img.videos, other.videos),
            )
        )
    merged.extend(a for key, (a, _) in small.items() if key not in by_key)
    return merged


def is_3d(type_code: str) -> bool:
    """Only 3D images have actions (§4.6)."""
    return type_code.endswith("_3d")


def anchors_to_groups(
    account: str, anchors: Sequence[AnchorRecord], images: Sequence[Asset]
) -> list[Anchor]:
    members: dict[str, list[str]] = defaultdict(list)
    for asset in images:
        if asset.anchor:
            members[asset.anchor].append(asset.id)
    groups: dict[str, Anchor] = {}
    for rec in anchors:
        groups[rec.code] = Anchor(
            account=account,
            code=rec.code,
            name=rec.name or rec.code,
            type=rec.virtualman_type_code,
            purchase_type=rec.purchase_type or None,
            image_ids=tuple(sorted(members.get(rec.code, ()))),
        )
    return list(groups.values())
