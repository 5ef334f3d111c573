"""Alertmanager-shaped channels: a generic webhook (payload v4) and the API v2 push.

``webhook`` sends exactly what Alertmanager sends to its webhook receivers
(``notify/webhook/webhook.go``: ``template.Data`` plus ``version``,
``groupKey``, ``truncatedAlerts``), so any Alertmanager receiver accepts it.
Firing alerts carry Go's zero time as ``endsAt``, as Alertmanager exposes them
(``types.Alerts``: "if the end timestamp is not reached yet, do not expose it").

``alertmanager`` posts postable alerts to ``{url}/api/v2/alerts`` of every
instance (HA: never through a load balancer). Firing alerts get
``endsAt = now + 4 × resend_interval_seconds`` (Prometheus' recipe), so the
caller must re-send firing alerts every ``resend_interval_seconds`` or they
resolve on their own; resolved alerts carry their ``ends_at``. One part per
instance: delivered only when every instance accepted; a retry posts only to
the instances that have not.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from monitor.alerts.channels.base import (
    HTTPChannel,
    _Part,
    classify_status,
    dumps,
    rfc3339,
)
from monitor.alerts.channels.config import AlertmanagerChannelConfig, WebhookChannelConfig
from monitor.alerts.channels.signing import standard_webhooks_signature
from monitor.alerts.records import Alert, DeliveryResult, Notification

__all__ = ["AlertmanagerChannel", "WebhookChannel", "webhook_payload"]

#: Go's zero time.Time, what Alertmanager shows as endsAt of a firing alert
ZERO_TIME = "0001-01-01T00:00:00Z"


def _labels(alert: Alert) -> dict[str, str]:
    labels = dict(alert.labels)
    # Alertmanager identifies and routes by labels; never send an alert without a name
    labels.setdefault("alertname", alert.rule)
    labels.setdefault("severity", alert.severity)
    return labels


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def webhook_payload(notification: Notification, receiver: str, external_url: str) -> dict[str, Any]:
    """Alertmanager's webhook message, version 4, for ``notification``."""
    alerts: list[dict[str, Any]] = [
        {
            "status": a.status,
            "labels": _labels(a),
            "annotations": dict(a.annotations),
            "startsAt": rfc3339(a.starts_at),
            "endsAt": (
                rfc3339(a.ends_at)
                if a.status == "resolved" and a.ends_at is not None
                else ZERO_TIME
            ),
            "generatorURL": external_url,
            "fingerprint": a.fingerprint,
        }
        for a in notification.alerts
    ]
    return {
        "version": "4",
        # one group per channel (an empty group_by in Alertmanager terms)
        "groupKey": f'{{}}/{{receiver="{receiver}"}}:{{}}',
        "truncatedAlerts": 0,
        "status": notification.status,
        "receiver": receiver,
        "groupLabels": {},
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "alerts": alerts,
    }


class WebhookChannel(HTTPChannel):
    """Alertmanager webhook payload v4 to any URL; Standard Webhooks signature if ``secret``.

    ``webhook-id`` and ``Idempotency-Key`` are the notification id, the same on
    every retry, so the receiver can drop duplicates.
    """

    kind: ClassVar[str] = "webhook"
    _service: ClassVar[str] = "webhook"

    def __init__(self, config: WebhookChannelConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._cfg = config

    def _parts(self, notification: Notification) -> list[_Part]:
        payload = webhook_payload(notification, self.name, self._cfg.external_url)
        return [_Part(key="webhook", payload=payload)]

    def _request(
        self, part: _Part, notification: Notification
    ) -> tuple[str, bytes, dict[str, str]]:
        msg_id = notification.id
        body = dumps(part.payload)
        headers = {"Idempotency-Key": msg_id}
        if self._cfg.secret is not None:
            ts = int(self._clock())
            headers |= {
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": standard_webhooks_signature(
                    self._cfg.secret.get_secret_value(), msg_id, ts, body
                ),
            }
        return self._cfg.url.get_secret_value(), body, headers

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        return classify_status(response, self._clock(), "webhook")


class AlertmanagerChannel(HTTPChannel):
    """Alertmanager API v2 push to every instance of ``urls``."""

    kind: ClassVar[str] = "alertmanager"
    _service: ClassVar[str] = "Alertmanager"
    _stop_on_failure: ClassVar[bool] = False

    def __init__(self, config: AlertmanagerChannelConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._cfg = config

    def _parts(self, notification: Notification) -> list[_Part]:
        alerts = list(notification.alerts)
        return [
            _Part(
                key=f"alertmanager:{masked}",
                payload=alerts,
                url=url.get_secret_value().rstrip("/") + "/api/v2/alerts",
            )
            for url, masked in zip(self._cfg.urls, self._cfg.masked_urls(), strict=True)
        ]

    def postable_alerts(self, alerts: list[Alert], now: datetime) -> list[dict[str, Any]]:
        """The API v2 body: firing alerts end a resend window ahead, resolved at their end."""
        window = timedelta(seconds=4 * self._cfg.resend_interval_seconds)
        out: list[dict[str, Any]] = []
        for a in alerts:
            ends = now + window if a.status == "firing" else (a.ends_at or now)
            item: dict[str, Any] = {
                "labels": _labels(a),
                "annotations": dict(a.annotations),
                "startsAt": rfc3339(a.starts_at),
                "endsAt": rfc3339(ends),
            }
            if self._cfg.external_url:  # the API validates it as a URI: omit rather than ""
                item["generatorURL"] = self._cfg.external_url
            out.append(item)
        return out

    def _request(
        self, part: _Part, notification: Notification
    ) -> tuple[str, bytes, dict[str, str]]:
        now = datetime.fromtimestamp(self._clock(), UTC)
        return part.url or "", dumps(self.postable_alerts(part.payload, now)), {}

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        result = classify_status(response, self._clock(), "Alertmanager")
        if response.status_code == 400:
            return dataclasses.replace(
                result, detail=result.detail + " (the alerts were rejected as invalid)"
            )
        return result
