"""The one JSON shape of an asset, shared by ``report --format json`` and the
daemon's ``/api/assets`` (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.domain import Anchor, Asset

__all__ = ["anchor_record", "asset_record", "expiry_order"]


def expiry_order(asset: Asset, now: datetime) -> tuple[bool, float, str, str, str]:
    """The order of ``report --format json`` and ``/api/assets``: soonest expiry first,
    never-expiring (and unknown) last, then account, kind and id."""
    left = asset.expires_in_seconds(now)
    return (left is None, left or 0.0, asset.account, asset.kind, asset.id)


def asset_record(asset: Asset, now: datetime, data: str = "current") -> dict[str, Any]:
    """The JSON shape of one asset (also the shape of the daemon's ``/api/assets``);
    ``data`` says whether its family's figures are ``current``, ``partial`` (what
    arrived of an incomplete listing) or ``stale`` (kept from an earlier success)."""
    left = asset.expires_in_seconds(now)
    starts_in = asset.starts_in_seconds(now)
    return {
        "account": asset.account,
        "kind": asset.kind,
        "id": asset.id,
        "type": asset.type,
        "category": asset.category,
        "name": asset.name,
        "expires_at": asset.expires_at.isoformat() if asset.expires_at else None,
        #: dated / never / unknown: a null ``expires_at`` is either of the last two
        "expiry": asset.expiry,
        "expires_in_seconds": None if left is None else round(left, 3),
        #: start of validity where the API gives one (small-sample images)
        "starts_at": asset.starts_at.isoformat() if asset.starts_at else None,
        #: seconds until it becomes active; null once it is (or without a start)
        "starts_in_seconds": None if starts_in is None else round(starts_in, 3),
        "active": starts_in is None,
        "remaining_seconds": asset.remaining_seconds,
        "ordered_seconds": asset.ordered_seconds,
        "quota_remaining": asset.quota_remaining,
        "quota_limit": asset.quota_limit,
        "concurrency": asset.concurrency,
        "purchase_type": asset.purchase_type,
        "anchor": asset.anchor,
        "audio_seconds": asset.audio_seconds,
        "audio_requests": asset.audio_requests,
        "video_seconds": asset.video_seconds,
        "videos": asset.videos,
        "actions": asset.actions,
        #: the avatar type codes a voice works with (SupportVirtualmanTypeCodes)
        "avatar_types": list(asset.avatar_types) if asset.kind == "timbre" else None,
        "anomalies": [
            {"endpoint": x.endpoint, "reason": x.reason, "field": x.detail or None}
            for x in asset.anomalies
        ],
        "data": data,
    }


def anchor_record(anchor: Anchor, data: str = "current") -> dict[str, Any]:
    """An anchor (a group of images, no expiry of its own) as a row beside the assets:
    ``kind`` ``anchor``, the asset keys it has no value for null, plus its ``code``
    and its images (``image_count``, ``images``)."""
    return {
        "account": anchor.account,
        "kind": "anchor",
        "id": anchor.code,
        "code": anchor.code,
        "type": anchor.type,
        "category": None,
        "name": anchor.name,
        "expires_at": None,
        "expiry": "never",
        "expires_in_seconds": None,
        "starts_at": None,
        "starts_in_seconds": None,
        "active": True,
        "remaining_seconds": None,
        "ordered_seconds": None,
        "quota_remaining": None,
        "quota_limit": None,
        "concurrency": None,
        "purchase_type": anchor.purchase_type,
        "anchor": None,
        "audio_seconds": None,
        "audio_requests": None,
        "video_seconds": None,
        "videos": None,
        "actions": None,
        "avatar_types": None,
        "anomalies": [],
        "image_count": len(anchor.image_ids),
        "images": list(anchor.image_ids),
        "data": data,
    }
