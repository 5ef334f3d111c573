"""Pure derivations: vendor records in, normalised assets and figures out.

No I/O, no clock reads, no Prometheus: everything time-dependent takes ``now``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Final, Literal, TypeVar

from monitor.domain import Anchor, Anomaly, Asset, Category
from monitor.vendor import (
    AnchorRecord,
    Detail,
    ImageAsset,
    ServiceAsset,
    SmallSampleImage,
    TimbreAsset,
)

__all__ = [
    "anchors_to_groups",
    "classify_service",
    "images_to_assets",
    "service_display_name",
    "services_to_assets",
    "timbres_to_assets",
]

#: type code of images known only from describesmallsampleimage (§4.5 gives them
#: none; §4: small_sample_lite_2d covers the client-rendered small-sample images)
SMALL_SAMPLE_TYPE = "small_sample_lite_2d"
#: type of an image record that carries no code and was listed by no typed walk
UNKNOWN_TYPE = "unknown"

_MS = 1000.0
N = TypeVar("N", int, float)

#: one object for each repeated text of the kept assets (type codes, purchase types,
#: anchor codes): decoded from each record, they would be one string a record, and
#: the Assets keep them for as long as they live (an interned string goes with its
#: last reference)
_shared = sys.intern


def _shared_or_none(text: str) -> str | None:
    """An optional vendor text: ``None`` when blank, else its shared object."""
    return _shared(text) if text else None


#: the voices' avatar type codes, sorted and deduplicated, one shared tuple of shared
#: codes for each distinct list (a fleet's voices support a few combinations)
_CODE_SETS_MAX = 1024


def _code_set(codes: Iterable[str]) -> tuple[str, ...]:
    return _shared_codes(tuple(sorted(set(codes))))


@lru_cache(maxsize=_CODE_SETS_MAX)
def _shared_codes(key: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_shared(c) for c in key)


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
    """hours / concurrency / quota (docs/ivh-api.md §4.1).

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
        for name in names:  # plain loops: a generator per detail cost a third of a package
            if getattr(detail, name) is not None:
                return detail
    return None


# -- dates -------------------------------------------------------------------------------
#
# Placeholder policy (docs/dates.md): IVH began selling in the 2020s, so a date
# before 2000 is no real expiry but a zero value (0001-01-01, 1970-01-01,
# 0000-00-00): "unknown". A date in year 9999 is the usual "forever" of the
# vendor's stack (9999-12-31 23:59:59): "never expires". Both cut-offs are read on
# the account zone's clock, for ``ExpireDate`` strings (zone-less, or converted
# when they carry an offset) and ``ExpireTime`` epoch ms alike. Between the two
# every date is kept, and is far enough from datetime's limits to survive any
# zone's offset (±14 h), ``timestamp()`` and ``astimezone``.

_EARLIEST = datetime(2000, 1, 1)  # noqa: DTZ001 - compared with wall-clock times
_FOREVER = datetime(9999, 1, 1)  # noqa: DTZ001
_DAY_MS = 86_400_000
_EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
_FOREVER_MS = 253_370_764_800_000  # 9999-01-01T00:00:00Z

#: (aware expiry or ``None``, whether it is unknown)
Expiry = tuple[datetime | None, bool]


def _wall(date: datetime, zone: tzinfo) -> datetime:
    """The date on the account zone's clock (naive): a zone-less vendor date as it is,
    an aware one converted (at the calendar's ends, where no conversion fits, its
    own clock: beyond both cut-offs either way)."""
    if date.tzinfo is None:
        return date
    try:
        return date.astimezone(zone).replace(tzinfo=None)
    except (OverflowError, ValueError):
        return date.replace(tzinfo=None)


#: the dates of a collection repeat (a purchase's packages expire together; the vendor
#: dates of ``vendor`` are read once a text, so they repeat as objects too): each
#: (date, zone) is placed once, and the assets that share it share one datetime
_DATE_MEMO = 4096


@lru_cache(maxsize=_DATE_MEMO)
def _expiry(date: datetime | None, zone: tzinfo, *, blank_is_unknown: bool) -> Expiry:
    """A vendor date string (read by the model) under the placeholder policy: the
    account's zone applies to a zone-less date; one with an offset keeps its instant.

    A blank date is "unknown" where the API documents the date as required
    (services §4.1, images §4.4) and "never" for voices (§4.2)."""
    if date is None:
        return None, blank_is_unknown
    wall = _wall(date, zone)
    if wall < _EARLIEST:
        return None, True
    if wall >= _FOREVER:
        return None, False
    if date.tzinfo is None:
        return date.replace(tzinfo=zone), False
    return date.astimezone(zone), False


#: ``ExpireTime`` in year 9999 or beyond (up to int64 max): a "forever" placeholder
FOREVER: Final = "forever"


@lru_cache(maxsize=_DATE_MEMO)
def _epoch_expiry(ms: int | None, zone: tzinfo) -> datetime | Literal["forever"] | None:
    """``ExpireTime`` (epoch ms, §4.5) under the same policy: the moment in ``zone``;
    ``None`` when it is no date at all (absent, 0, negative, before 2000), so
    ``ExpireDate`` decides; :data:`FOREVER` for a year-9999 placeholder, which a real
    date of the same image overrides (:func:`_small_sample_asset`)."""
    if ms is None or ms < _EARLIEST_MS - _DAY_MS:
        return None
    if ms >= _FOREVER_MS + _DAY_MS:
        return FOREVER
    moment = datetime.fromtimestamp(ms / _MS, UTC).astimezone(zone)
    wall = moment.replace(tzinfo=None)
    if wall < _EARLIEST:
        return None
    if wall >= _FOREVER:
        return FOREVER
    return moment


def _id_stamp(expiry: Expiry) -> str:
    """The date part of a package id: 14 digits (on the account zone's clock),
    ``never`` or ``unknown``."""
    expires_at, unknown = expiry
    if unknown:
        return "unknown"
    if expires_at is None:
        return "never"
    return expires_at.strftime("%Y%m%d%H%M%S")


# -- service packages ----------------------------------------------------------------------


def services_to_assets(
    account: str, zone: tzinfo, records: Sequence[ServiceAsset], language: str = "en"
) -> list[Asset]:
    """One asset per package. The API gives packages no id (§4.1), so the id is
    ``<ServiceType>-<expiry yyyymmddHHMMSS | never | unknown>``, suffixed ``-2``,
    ``-3``… for packages of one type that expire at the same second (ordered by
    size so the suffix is stable)."""
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
        assets.append(asset if seen[stem] == 1 else asset.replaced(id=f"{stem}-{seen[stem]}"))
    return assets


_SERVICES_ENDPOINT = "getserviceasset"


#: beyond these a figure is no real package (int64 max ms would read as 2.5e12 hours):
#: kept as sent, but flagged ``implausible_figure``
MAX_PLAUSIBLE_MS = 3_600_000 * 10**6  # a million hours
MAX_PLAUSIBLE_COUNT = 10**6  # quotas and concurrency


class _Figures:
    """The figures a service record carries, whatever its category (§4.1: the docs
    give a concurrency type hour fields), negative ones clamped to 0 and noted;
    implausibly large ones and more remaining than ordered kept as sent and noted."""

    def __init__(self, details: Sequence[Detail]) -> None:
        self.fields: dict[str, Any] = {}
        self.carried: list[Category] = []
        self.anomalies: list[Anomaly] = []
        if (d := _first(details, "order_ms", "remain_ms")) is not None:
            self.carried.append("hours")
            ordered = self._count(d.order_ms, "OrderMilliseconds", MAX_PLAUSIBLE_MS)
            remaining = self._count(d.remain_ms, "RemainMilliseconds", MAX_PLAUSIBLE_MS)
            self._at_most(remaining, ordered, "RemainMilliseconds")
            self.fields["ordered_seconds"] = None if ordered is None else ordered / _MS
            self.fields["remaining_seconds"] = None if remaining is None else remaining / _MS
        if (d := _first(details, "customization_num", "remain_num")) is not None:
            self.carried.append("quota")
            limit = self._count(d.customization_num, "CustomizationNum", MAX_PLAUSIBLE_COUNT)
            left = self._count(d.remain_num, "RemainNum", MAX_PLAUSIBLE_COUNT)
            self._at_most(left, limit, "RemainNum")
            self.fields["quota_limit"] = limit
            self.fields["quota_remaining"] = left
        if (d := _first(details, "concurrency")) is not None:
            self.carried.append("concurrency")
            self.fields["concurrency"] = self._count(
                d.concurrency, "Concurrency", MAX_PLAUSIBLE_COUNT
            )

    def _count(self, value: int | None, name: str, bound: int) -> int | None:
        if value is not None and value < 0:
            # Nothing is less than none left; 0 keeps the package visible (and alerting).
            self.anomalies.append(Anomaly(_SERVICES_ENDPOINT, "negative_figure", name))
            return 0
        if value is not None and value > bound:
            # Kept as sent (a real figure, however odd, is never invented away); flagged.
            self.anomalies.append(Anomaly(_SERVICES_ENDPOINT, "implausible_figure", name))
        return value

    def _at_most(self, remaining: int | None, ordered: int | None, name: str) -> None:
        if remaining is not None and ordered is not None and remaining > ordered:
            self.anomalies.append(Anomaly(_SERVICES_ENDPOINT, "remaining_above_ordered", name))

    def placed(self, category: Category) -> list[Anomaly]:
        """The anomalies, with what the figures say against the category."""
        found = list(self.anomalies)
        if category == "unknown":
            found.append(Anomaly(_SERVICES_ENDPOINT, "unknown_category"))
        elif not self.carried:
            found.append(Anomaly(_SERVICES_ENDPOINT, "no_figures"))
        elif off := [c for c in self.carried if c != category]:
            found.append(Anomaly(_SERVICES_ENDPOINT, "figures_off_category", ",".join(off)))
        return found


def _service_package(
    account: str, zone: tzinfo, rec: ServiceAsset, language: str
) -> ServicePackage:
    # §4.1: ExpireDate is required; blank means unknown, not never
    expiry = _expiry(rec.expire_date, zone, blank_is_unknown=True)
    stem = f"{rec.service_type}-{_id_stamp(expiry)}"
    details = list(rec.details())
    ordered = _first(details, "order_ms")
    ordered_ms = ordered.order_ms or 0 if ordered is not None else 0
    category = classify_service(rec)
    figures = _Figures(details)
    asset = Asset(
        account=account,
        kind="service",
        id=stem,
        type=_shared(rec.service_type),
        name=service_display_name(rec.service_type, language),
        expires_at=expiry[0],
        expiry_unknown=expiry[1],
        category=category,
        anomalies=tuple(figures.placed(category)),
        **figures.fields,
    )
    return stem, ordered_ms, asset


# -- voices --------------------------------------------------------------------------------


def timbres_to_assets(account: str, zone: tzinfo, records: Sequence[TimbreAsset]) -> list[Asset]:
    """One asset per TimbreKey (unique per account, §4.2; the last copy wins if a
    shifting page repeated one)."""
    by_key: dict[str, Asset] = {}
    for rec in records:
        # §4.2: empty or absent ExpireDate = never expires
        expires_at, unknown = _expiry(rec.expire_date, zone, blank_is_unknown=False)
        by_key[rec.key] = Asset(
            account=account,
            kind="timbre",
            id=rec.key,
            type=_shared(rec.timbre_type) if rec.timbre_type else "unknown",
            name=rec.name or rec.key,
            expires_at=expires_at,
            expiry_unknown=unknown,
            purchase_type=_shared_or_none(rec.purchase_type),
            audio_seconds=None if rec.audio_ms is None else rec.audio_ms / _MS,
            audio_requests=rec.audio_num,
            avatar_types=_code_set(rec.virtualman_type_codes),
        )
    return list(by_key.values())


# -- images --------------------------------------------------------------------------------


def _max(a: N | None, b: N | None) -> N | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _image_asset(
    account: str,
    zone: tzinfo,
    rec: ImageAsset,
    listed_as: str,
    actions: Mapping[str, int],
) -> Asset:
    """One getimagebyanchor record on its own; typed by its own VirtualmanTypeCode,
    else by the type code of the walk that listed it (and noted)."""
    # §4.4: ExpireDate is required; blank means unknown, not never
    expires_at, unknown = _expiry(rec.expire_date, zone, blank_is_unknown=True)
    type_code = _shared(rec.virtualman_type_code or listed_as or UNKNOWN_TYPE)
    anomalies = () if rec.virtualman_type_code else (_TYPE_MISSING,)
    return Asset(
        account=account,
        kind="image",
        id=rec.key,
        type=type_code,
        name=rec.display_name,
        expires_at=expires_at,
        expiry_unknown=unknown,
        purchase_type=_shared_or_none(rec.purchase_type),
        video_seconds=None if rec.video_ms is None else rec.video_ms / _MS,
        videos=rec.video_num,
        actions=actions.get(rec.key) if is_3d(type_code) else None,
        anchor=_shared_or_none(rec.anchor_code),
        anomalies=anomalies,
    )


_SMALL_ENDPOINT = "describesmallsampleimage"
_PLACEHOLDER_TIME = Anomaly(_SMALL_ENDPOINT, "placeholder_expire_time", "ExpireTime")


def _start(rec: SmallSampleImage, zone: tzinfo) -> datetime | None:
    """Start of validity (§4.5): ``EffectiveTime`` (epoch ms) first, else
    ``EffectiveDate``; a placeholder of either (0, year 9999) is no start."""
    epoch = _epoch_expiry(rec.effective_time_ms, zone)
    if isinstance(epoch, datetime):
        return epoch
    dated, _ = _expiry(rec.effective_date, zone, blank_is_unknown=False)
    return dated


def _small_sample_asset(account: str, zone: tzinfo, rec: SmallSampleImage) -> SmallSample:
    epoch = _epoch_expiry(rec.expire_time_ms, zone)
    dated = _expiry(rec.expire_date, zone, blank_is_unknown=True)
    anomalies: tuple[Anomaly, ...] = ()
    source: ExpirySource = "date"
    expiry: Expiry = dated
    if isinstance(epoch, datetime):
        expiry, source = (epoch, False), "exact"
    elif epoch == FOREVER and dated[0] is not None:
        # a year-9999 ExpireTime against a real ExpireDate: a placeholder, not "never"
        anomalies = (_PLACEHOLDER_TIME,)
    elif epoch == FOREVER:
        # nothing dates the image: year 9999 is "never", as an ExpireDate's would be;
        # a real date of its getimagebyanchor record still wins (merge_images)
        expiry, source = (None, False), "forever"
    expires_at, unknown = expiry
    asset = Asset(
        account=account,
        kind="image",
        id=rec.key,
        # §4: small_sample_lite_2d covers the client-rendered small-sample images; the
        # record's own code where it carries one (§4.5 documents none)
        type=_shared(rec.virtualman_type_code) if rec.virtualman_type_code else SMALL_SAMPLE_TYPE,
        name=rec.display_name,
        expires_at=expires_at,
        expiry_unknown=unknown,
        video_seconds=None if rec.video_ms is None else rec.video_ms / _MS,
        videos=rec.video_num,
        anchor=_shared_or_none(rec.anchor_code),
        anomalies=anomalies,
        starts_at=_start(rec, zone),
    )
    return asset, source


def images_to_assets(
    account: str,
    zone: tzinfo,
    images: Sequence[ImageAsset],
    small_samples: Sequence[SmallSampleImage],
    actions: Mapping[str, int] | None = None,
    *,
    listed_as: str = "",
) -> list[Asset]:
    """One asset per VirtualmanKey: the same key from getimagebyanchor and
    describesmallsampleimage is one image (§4.5). Expiry prefers the
    small-sample ``ExpireTime`` (epoch ms, unambiguous) over a zone-less date.
    ``listed_as``: the type code of the walk that listed ``images``."""
    acts = actions or {}
    return merge_images(
        (_image_asset(account, zone, r, listed_as, acts) for r in images),
        small_sample_assets(account, zone, small_samples),
    )


#: where a small-sample image's expiry came from: ``exact``: its ``ExpireTime``;
#: ``date``: its ``ExpireDate``; ``forever``: a year-9999 ``ExpireTime`` and no date
ExpirySource = Literal["exact", "date", "forever"]
#: a small-sample image as an asset, and where its expiry came from
SmallSample = tuple[Asset, ExpirySource]


def small_sample_assets(
    account: str, zone: tzinfo, records: Iterable[SmallSampleImage]
) -> list[SmallSample]:
    """Each small-sample record on its own, for :func:`merge_images`."""
    return [_small_sample_asset(account, zone, r) for r in records]


_IMAGES_ENDPOINT = "getimagebyanchor"
_TYPE_MISSING = Anomaly(_IMAGES_ENDPOINT, "image_type_missing", "VirtualmanTypeCode")
_TYPE_CONFLICT = Anomaly(_IMAGES_ENDPOINT, "image_type_conflict", "VirtualmanTypeCode")


def _type_rank(asset: Asset) -> int:
    """Which copy of an image tells its type best: a specific code over the catch-all
    small_sample_lite_2d over none; a code the record carries over its walk's."""
    specific = 0 if asset.type == UNKNOWN_TYPE else 1 if asset.type == SMALL_SAMPLE_TYPE else 2
    return 2 * specific + (_TYPE_MISSING not in asset.anomalies)


def _specific(asset: Asset) -> bool:
    return asset.type not in (UNKNOWN_TYPE, SMALL_SAMPLE_TYPE)


def _same_image(kept: Asset, new: Asset) -> Asset:
    """Two getimagebyanchor copies of one key (two type-code walks, or a page shift):
    the better-typed copy wins whatever the walk order, the later one on a tie. Two
    different specific codes are noted (and the note kept through later merges)."""
    winner = new if _type_rank(new) >= _type_rank(kept) else kept
    conflict = (
        _TYPE_CONFLICT in kept.anomalies
        or _TYPE_CONFLICT in new.anomalies
        or (_specific(kept) and _specific(new) and kept.type != new.type)
    )
    if conflict and _TYPE_CONFLICT not in winner.anomalies:
        winner = winner.replaced(anomalies=(*winner.anomalies, _TYPE_CONFLICT))
    return winner


def merge_images(from_images: Iterable[Asset], from_small: Iterable[SmallSample]) -> list[Asset]:
    """:func:`images_to_assets` of every record, from the assets it made of the
    image records alone (page by page, in page order) and from
    :func:`small_sample_assets`: an exact small-sample expiry wins over the
    image's zone-less date (§4.5), as does any known one over an unknown; a
    year-9999 ``ExpireTime`` never overrides a real date of the image record (and
    is noted, ``placeholder_expire_time``)."""
    by_key: dict[str, Asset] = {}  # first place; the copy :func:`_same_image` keeps
    for asset in from_images:
        kept = by_key.get(asset.id)
        by_key[asset.id] = asset if kept is None else _same_image(kept, asset)
    small = {a.id: (a, source) for a, source in from_small}
    merged: list[Asset] = []
    for key, img in by_key.items():
        if key not in small:
            merged.append(img)
            continue
        other, source = small[key]
        better = source == "exact" or (img.expiry_unknown and not other.expiry_unknown)
        anomalies = (*img.anomalies, *(a for a in other.anomalies if a not in img.anomalies))
        if source == "forever" and img.expires_at is not None:
            anomalies = (*anomalies, _PLACEHOLDER_TIME)
        merged.append(
            img.replaced(
                expires_at=other.expires_at if better else img.expires_at,
                expiry_unknown=other.expiry_unknown if better else img.expiry_unknown,
                video_seconds=_max(img.video_seconds, other.video_seconds),
                videos=_max(img.videos, other.videos),
                anomalies=anomalies,
                starts_at=other.starts_at or img.starts_at,
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
            code=_shared(rec.code),
            name=rec.name or rec.code,
            type=_shared(rec.virtualman_type_code),
            purchase_type=_shared_or_none(rec.purchase_type),
            image_ids=tuple(sorted(members.get(rec.code, ()))),
        )
    return list(groups.values())
