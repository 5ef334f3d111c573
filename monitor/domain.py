"""The normalised records everything downstream works with.

One :class:`Asset` per service package, voice (timbre) and image, whatever
endpoint(s) it came from; anchors are kept as the groups images belong to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["Anchor", "Asset", "Category", "Kind"]

Kind = Literal["service", "timbre", "image"]
Category = Literal["hours", "concurrency", "quota", "unknown"]


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
    #: aware datetime; ``None`` when the API says it never expires
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

    def expires_in_seconds(self, now: datetime) -> float | None:
        """Seconds until expiry (negative once expired); ``None`` when it never expires."""
        if self.expires_at is None:
            return None
        return (self.expires_at - now).total_seconds()


@dataclass(frozen=True, slots=True)
class Anchor:
    """A group of images (getanchor): no expiry of its own."""

    account: str
    code: str
    name: str
    type: str
    purchase_type: str | None
    image_ids: tuple[str, ...] = ()
