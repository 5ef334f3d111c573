"""How the state store writes an alert and a notification: JSON texts, epoch seconds.

An alert's JSON here (``starts_at``, ``ends_at``, ISO 8601) is the stored shape;
keys added later are optional when read (``annotation_parts``, ``language``),
so rows written by an older release still read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.alerts.records import Alert, Notification

__all__ = [
    "alert_from_json",
    "alert_to_json",
    "from_timestamp",
    "notification_from_json",
    "notification_to_json",
    "to_timestamp",
]


def to_timestamp(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def from_timestamp(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        **alert.identity(),
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "resolve_reason": alert.resolve_reason,
        "values": alert.values,
        "annotation_parts": {k: list(v) for k, v in alert.annotation_parts.items()},
    }


def _alert_from_dict(data: dict[str, Any]) -> Alert:
    return Alert(
        rule=data["rule"],
        account=data["account"],
        kind=data["kind"],
        asset=data["asset"],
        severity=data["severity"],
        status=data["status"],
        starts_at=datetime.fromisoformat(data["starts_at"]),
        ends_at=datetime.fromisoformat(data["ends_at"]) if data.get("ends_at") else None,
        labels=dict(data.get("labels") or {}),
        annotations=dict(data.get("annotations") or {}),
        resolve_reason=data.get("resolve_reason"),
        values=dict(data.get("values") or {}),
        # absent in alerts stored before it existed: channels then escape whole texts
        annotation_parts={
            k: tuple(str(p) for p in v) for k, v in (data.get("annotation_parts") or {}).items()
        },
    )


def notification_to_json(n: Notification) -> str:
    return json.dumps(
        {
            "id": n.id,
            "channel": n.channel,
            "reason": n.reason,
            "created_at": n.created_at.isoformat(),
            "language": n.language,
            "timezone": n.timezone,
            "alerts": [_alert_dict(a) for a in n.alerts],
        },
        ensure_ascii=False,
    )


def notification_from_json(text: str) -> Notification:
    data = json.loads(text)
    return Notification(
        id=data["id"],
        channel=data["channel"],
        reason=data["reason"],
        created_at=datetime.fromisoformat(data["created_at"]),
        alerts=tuple(_alert_from_dict(a) for a in data["alerts"]),
        language=data.get("language", "en"),
        timezone=data.get("timezone"),
    )


def alert_to_json(alert: Alert) -> str:
    return json.dumps(_alert_dict(alert), ensure_ascii=False)


def alert_from_json(text: str) -> Alert:
    return _alert_from_dict(json.loads(text))
