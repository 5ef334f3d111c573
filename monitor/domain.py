"""The normalised records everything downstream works with.

One :class:`Asset` per service package, voice (timbre) and image, whatever
endpoint(s) it came from; anchors are kept as the groups images belong to.
Also the vocabulary shared by the layers above: the families a job refreshes and
what one collection of a family gives (:class:`FamilyResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from monitor.errors import IncompleteListingError, UpstreamError

__all__ = [
    "ANOMALY_REASONS",
    "FAMILIES",
    "Anchor",
    "Anomaly",
    "AnomalyReason",
    "Asset",
    "Category",
    "ExpiryState",
    "Family",
    "FamilyResult",
    "Kind",
    "Problem",
]

Kind = Literal["service", "timbre", "image"]
Category = Literal["hours", "concurrency", "quota", "unknown"]
#: ``dated``: expires at ``expires_at``; ``never``: the API says it never expires;
#: ``unknown``: the API gave no usable date (blank where one is required, a placeholder)
ExpiryState = Literal["dated", "never", "unknown"]

AnomalyReason = Literal[
    # a service figure below zero (clamped to 0)
    "negative_figure",
    # a service figure beyond any real package (over a million hours, or a quota or
    # concurrency over a million): kept as sent
    "implausible_figure",
    # more remaining than ordered (hours or quota): kept as sent
    "remaining_above_ordered",
    # figures of another category than the service type's (kept and exported)
    "figures_off_category",
    # a service record that carries no figures at all
    "no_figures",
    # a service type neither in the vendor's table nor telling by its details or name
    "unknown_category",
    # an image record without VirtualmanTypeCode (typed by the walk that listed it)
    "image_type_missing",
    # one VirtualmanKey listed with two different specific type codes
    "image_type_conflict",
    # a year-9999 (or int64-max) small-sample ExpireTime against a real date of the
    # image: the date is kept, the placeholder ignored
    "placeholder_expire_time",
]
#: the reasons each family can report (a bounded label set for the metric)
ANOMALY_REASONS: dict[str, tuple[AnomalyReason, ...]] = {
    "services": (
        "negative_figure",
        "implausible_figure",
        "remaining_above_ordered",
        "figures_off_category",
        "no_figures",
        "unknown_category",
    ),
    "timbres": (),
    "images": ("image_type_missing", "image_type_conflict", "placeholder_expire_time"),
    "actions": (),
}


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something in a kept record the daemon could not place as documented.

    Not a skipped record (those are dropped and counted apart): the record is
    kept, as well as it can be read, and this says what was odd about it.
    """

    endpoint: str
    reason: AnomalyReason
    #: the vendor's field(s) concerned, e.g. ``RemainMilliseconds``; never a value
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Asset:
    """One thing an IVH customer bought, with its figures in base units."""

    account: str
    kind: Kind
    #: stable id: a derived package id for services, TimbreKey, VirtualmanKey
    id: str
    #: ServiceType, TimbreType or VirtualmanTypeCode
    type: str
    name: str
    #: aware datetime; ``None`` when it never expires or its expiry is unknown
    expires_at: datetime | None
    #: hours / concurrency / quota for services, ``None`` for voices and images
    category: Category | None = None
    purchase_type: str | None = None
    ordered_seconds: float | None = None
    remaining_seconds: float | None = None
    quota_limit: int | None = None
    quota_remaining: int | None = None
    concurrency: int | None = None
    #: cumulative upstream counters (voices: audio; images: video)
    audio_seconds: float | None = None
    audio_requests: int | None = None
    video_seconds: float | None = None
    videos: int | None = None
    #: number of actions of a 3D image (``None`` when not fetched or not 3D)
    actions: int | None = None
    #: anchor code of an image
    anchor: str | None = None
    #: the API gave no usable expiry (``expires_at`` is ``None`` but not "never")
    expiry_unknown: bool = False
    #: start of validity (small-sample images' ``EffectiveTime``/``EffectiveDate``,
    #: §4.5); ``None`` when the API gives none. Before it the asset is not active yet
    starts_at: datetime | None = None
    #: avatar type codes a voice works with (``SupportVirtualmanTypeCodes``, §4.2)
    avatar_types: tuple[str, ...] = ()
    #: what was odd about the record(s) it came from
    anomalies: tuple[Anomaly, ...] = ()

    @property
    def expiry(self) -> ExpiryState:
        if self.expiry_unknown:
            return "unknown"
        return "never" if self.expires_at is None else "dated"

    def expires_in_seconds(self, now: datetime) -> float | None:
        """Seconds until expiry (negative once expired); ``None`` when it never expires
        or its expiry is unknown (tell them apart with :attr:`expiry`)."""
        if self.expires_at is None:
            return None
        return (self.expires_at - now).total_seconds()

    def starts_in_seconds(self, now: datetime) -> float | None:
        """Seconds until the asset becomes active; ``None`` once it is (or when the
        API gives no start)."""
        if self.starts_at is None or self.starts_at <= now:
            return None
        return (self.starts_at - now).total_seconds()

    def replaced(self, **changes: Any) -> Asset:
        """A copy with ``changes``: what ``dataclasses.replace`` makes, at half its CPU
        (it goes through the frozen ``__init__``, one guarded assignment a field; this
        fills the slots directly). A collection makes one for each 3D image (its
        actions) and each image listed by two endpoints."""
        if not changes.keys() <= _ASSET_FIELDS:
            raise TypeError(f"Asset has no field {sorted(changes.keys() - _ASSET_FIELDS)[0]!r}")
        new = object.__new__(Asset)
        for name in _ASSET_SLOTS:
            _set(new, name, changes[name] if name in changes else getattr(self, name))
        return new


_ASSET_SLOTS: tuple[str, ...] = Asset.__slots__
_ASSET_FIELDS = frozenset(_ASSET_SLOTS)
_set = object.__setattr__


@dataclass(frozen=True, slots=True)
class Anchor:
    """A group of images (getanchor): no expiry of its own."""

    account: str
    code: str
    name: str
    type: str
    purchase_type: str | None
    image_ids: tuple[str, ...] = ()


Family = Literal["services", "timbres", "images", "actions"]
FAMILIES: tuple[Family, ...] = ("services", "timbres", "images", "actions")


@dataclass(frozen=True, slots=True)
class Problem:
    """A record skipped on one endpoint."""

    endpoint: str
    index: int
    key: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class FamilyResult:
    """One collection of one family. ``ok`` only when every listing was complete; a
    failed one keeps what did arrive of its incomplete listings (``partial``)."""

    account: str
    family: Family
    assets: tuple[Asset, ...] = ()
    anchors: tuple[Anchor, ...] = ()
    #: VirtualmanKey -> number of actions (the ``actions`` family)
    actions: dict[str, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    error: UpstreamError | None = None
    pages: int = 0
    duration_seconds: float = 0.0
    #: every listing whose rows did not add up to its Total (the first is ``error``)
    incomplete: tuple[IncompleteListingError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def partial(self) -> bool:
        """Failed only for incomplete listings: ``assets`` is what did arrive."""
        return bool(self.incomplete) and self.error is self.incomplete[0]

    @property
    def anomalies(self) -> list[tuple[Asset, Anomaly]]:
        """What the kept records carried that could not be placed (not skipped records)."""
        return [(asset, anomaly) for asset in self.assets for anomaly in asset.anomalies]
