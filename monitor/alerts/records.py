"""The alert and notification records shared by rules, the outbox and channels.

An :class:`Alert` is one (rule, account, kind, asset) at one moment, with the
facts a message needs already rendered into ``annotations`` (``summary``,
``description``, ``action``) in the configured language. A
:class:`Notification` is what one channel is asked to deliver: one or more
alerts raised in the same cycle (chat channels send them as one message).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from monitor.catalogue import Language

__all__ = [
    "Alert",
    "DeliveryOutcome",
    "DeliveryResult",
    "Notification",
    "NotificationReason",
    "ResolveReason",
    "Severity",
    "alert_fingerprint",
]

Severity = Literal["info", "warning", "critical"]
Status = Literal["firing", "resolved"]
#: why a notification was made
NotificationReason = Literal["firing", "escalated", "repeat", "resolved", "test", "digest"]
#: why a resolved alert resolved: each has a ``resolved.why.*`` and a
#: ``chat.reason.*`` text in the catalogue
ResolveReason = Literal[
    "renewed", "topped_up", "gone", "recovered", "expiry_known", "expiry_unknown", "account_removed"
]
#: how a channel classifies a receiver's answer
DeliveryOutcome = Literal["delivered", "retry", "permanent", "too_long"]

SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


def alert_fingerprint(rule: str, account: str, kind: str, asset: str) -> str:
    """Stable 16-hex id of an alert's identity (like Alertmanager's fingerprint)."""
    raw = "\x1f".join((rule, account, kind, asset)).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance.

    ``labels`` identify the alert and never carry changing values (Alertmanager
    semantics): ``alertname``, ``severity``, ``rule``, ``account``, ``kind``,
    ``asset`` and, where known, ``service_type``/``type``. Changing values
    (days left, hours) live in ``annotations`` and ``values``.
    """

    rule: str
    account: str
    kind: str  # service / timbre / image / account
    asset: str  # asset id, or "" for an account-level alert
    severity: Severity
    status: Status
    starts_at: datetime
    ends_at: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)
    #: summary, description, action (what to do); rendered in the configured language
    annotations: dict[str, str] = field(default_factory=dict)
    #: why it resolved (:data:`ResolveReason`), for resolved alerts
    resolve_reason: str | None = None
    #: raw figures for templates: days_left, remaining_hours, ordered_hours, ...
    values: dict[str, float | str | None] = field(default_factory=dict)
    #: each annotation cut into alternating pieces, ours (even) and outside text
    #: (odd: names, ids, account labels, vendor errors), so that a chat channel
    #: escapes only the outside pieces for its markup; see :meth:`parts`
    annotation_parts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def parts(self, key: str) -> tuple[str, ...]:
        """``annotations[key]`` as ``(ours, outside, ours, …)`` pieces.

        Without pieces that add up to the annotation (an alert stored before
        they existed, a caller that set only ``annotations``) the whole text
        counts as outside text: escaped, never trusted.
        """
        text = self.annotations.get(key, "")
        pieces = self.annotation_parts.get(key)
        if pieces is not None and "".join(pieces) == text:
            return pieces
        return ("", text) if text else ()

    @property
    def fingerprint(self) -> str:
        return alert_fingerprint(self.rule, self.account, self.kind, self.asset)

    def identity(self) -> dict[str, str]:
        """What the alert is about and where it stands, as the JSON of the state file
        and of ``/api/alerts`` both begin."""
        return {
            "rule": self.rule,
            "account": self.account,
            "kind": self.kind,
            "asset": self.asset,
            "severity": self.severity,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Notification:
    """What one channel must deliver; ``id`` is the idempotency key across retries."""

    id: str
    channel: str
    reason: NotificationReason
    created_at: datetime
    alerts: tuple[Alert, ...]
    language: Language = "en"
    #: zone of the times in the channel's headings (a tenant's); None: the channel's own
    timezone: str | None = None

    @property
    def status(self) -> Status:
        """``firing`` if any alert fires (Alertmanager's group status)."""
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """A channel's verdict on one attempt."""

    outcome: DeliveryOutcome
    detail: str = ""
    #: seconds the receiver asked us to wait (Retry-After, rate-limit codes)
    retry_after: float | None = None
    #: HTTP status or the service's errcode, for logs and metrics
    code: int | None = None
