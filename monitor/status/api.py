"""The JSON of ``/api/assets`` and ``/api/alerts`` (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from monitor.domain import Asset
from monitor.serialise import asset_record, expiry_order
from monitor.status.view import AlertItem

__all__ = ["alert_record", "alerts_json", "assets_json"]


def assets_json(
    assets: Iterable[Asset],
    now: datetime,
    data: Callable[[Asset], str] = lambda _: "current",
    forecast: Callable[[Asset], dict[str, Any] | None] = lambda _: None,
) -> list[dict[str, Any]]:
    """The shape of ``report --format json``: soonest expiry first; ``data`` says of each
    asset whether its family's figures are current, partial or stale; an hour package
    with a forecast also has ``forecast`` (:func:`monitor.forecast.forecast_json` with
    its ``advice``, docs/forecast.md)."""
    out = []
    for a in sorted(assets, key=lambda a: expiry_order(a, now)):
        record = asset_record(a, now, data(a))
        if (fc := forecast(a)) is not None:
            record["forecast"] = fc
        out.append(record)
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def alert_record(item: AlertItem) -> dict[str, Any]:
    """One alert of ``/api/alerts`` (keys documented in docs/status-page.md). ``starts_at`` is
    the name the stored alert and the Alertmanager payload use; ``started_at`` (the
    same value) stays for compatibility, deprecated."""
    alert = item.alert
    delivery = item.delivery
    started = _iso(item.started_at)
    return {
        "fingerprint": alert.fingerprint,
        **alert.identity(),
        "starts_at": started,
        "started_at": started,  # deprecated alias of starts_at
        "last_notified_at": _iso(item.last_notified_at),
        "resolved_at": _iso(item.resolved_at),
        "resolve_reason": alert.resolve_reason,
        "summary": alert.annotations.get("summary"),
        "description": alert.annotations.get("description"),
        "action": alert.annotations.get("action"),
        "labels": dict(alert.labels),
        "values": dict(alert.values),
        "last_delivery": None
        if delivery is None
        else {
            "channel": delivery.channel,
            "state": delivery.state,
            "at": _iso(delivery.at),
            "attempts": delivery.attempts,
            "error": delivery.error,
        },
    }


def alerts_json(items: Iterable[AlertItem]) -> list[dict[str, Any]]:
    """Firing first, then by start time (oldest first)."""
    ordered = sorted(items, key=lambda x: (x.alert.status != "firing", x.started_at))
    return [alert_record(x) for x in ordered]
