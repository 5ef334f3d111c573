"""The one JSON shape of an asset, shared by ``report --format json`` and the
daemon's ``/api/assets`` (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.domain import Asset

__all__ = ["asset_record", "expiry_order"]


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
        "anomalies": [
            {"endpoint": x.endpoint, "reason": x.reason, "field": x.detail or None}
            for x in asset.anomalies
        ],
        "data": data,
    }
