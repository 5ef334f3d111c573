"""Which channels an account's alerts reach, and in which language and zone (pure).

A channel with a route (``match`` and/or ``labels``) takes only the alerts
that fit it; a channel without one is a default route and takes every alert.
``rules`` and ``min_severity`` apply on top (the channel's ``select``).

Language and zone of a routed channel's messages, first set wins:

1. the channel's own ``language`` / ``timezone``;
2. the account's ``messages`` (or its ``accounts_dir`` file's);
3. its first ``tenants`` group whose labels fit;
4. ``alerts.language``, and dates in the account's API zone.

A default-route channel (the operator's) keeps its own: ``alerts.language`` in
the texts, its ``language`` in the headings and its ``timezone`` for times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from zoneinfo import ZoneInfo

from monitor.alerts.channels.config import ChannelConfig
from monitor.alerts.matching import fits, labels_fit
from monitor.alerts.records import Alert
from monitor.catalogue import Language

__all__ = ["Locale", "Tenancy", "locale_for", "reaches", "routes_account", "takes"]


@dataclass(frozen=True, slots=True)
class Tenancy:
    """What routing and rendering know of one account."""

    labels: Mapping[str, str] = field(default_factory=dict)
    #: the tenant's message language and zone (account, file or group), if set
    language: Language | None = None
    zone: tzinfo | None = None


@dataclass(frozen=True, slots=True)
class Locale:
    """Language and zone a routed channel's messages of one account are rendered in;
    ``zone`` None: the account's API zone (as the default route has it)."""

    language: Language
    zone: tzinfo | None = None

    @property
    def zone_name(self) -> str | None:
        return None if self.zone is None else str(self.zone)


def routes_account(cfg: ChannelConfig, account: str, tenancy: Tenancy) -> bool:
    """Whether any alert of ``account`` can reach the channel (its account glob and
    labels; kind, service type and asset are asked per alert)."""
    if not cfg.routed:
        return True
    if cfg.labels and not labels_fit(cfg.labels, tenancy.labels):
        return False
    return cfg.match is None or fits(cfg.match, account)


def takes(cfg: ChannelConfig, alert: Alert, tenancy: Tenancy) -> bool:
    """Whether the channel's route takes ``alert`` (before rules and severity)."""
    if not routes_account(cfg, alert.account, tenancy):
        return False
    if cfg.match is None:
        return True
    if alert.kind == "account":  # an account-level alert (collection failing)
        return cfg.match.kind is None and cfg.match.asset is None
    return fits(
        cfg.match,
        alert.account,
        alert.kind,
        alert.labels.get("service_type", ""),
        alert.asset,
    )


def locale_for(cfg: ChannelConfig, default_language: Language, tenancy: Tenancy) -> Locale | None:
    """The locale of a routed channel's messages for one account; None for a default
    route (nothing is re-rendered for it)."""
    if not cfg.routed:
        return None
    language = cfg.language or tenancy.language or default_language
    zone = ZoneInfo(cfg.timezone) if "timezone" in cfg.model_fields_set else tenancy.zone
    return Locale(language, zone)


def reaches(
    channels: Iterable[ChannelConfig], account: str, tenancy: Tenancy
) -> list[ChannelConfig]:
    """The channels an account's alerts can reach (``check-config``, digests)."""
    return [c for c in channels if routes_account(c, account, tenancy)]
