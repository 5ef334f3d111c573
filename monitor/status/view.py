"""What the status page shows, as plain immutable data, and the pure figures on it.

:func:`monitor.status.gather.read_status` fills :class:`StatusData` from the
daemon; everything here takes that data and ``now`` and returns figures:
severities, per-type sums, the timeline's buckets, the table's order and page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Literal

from monitor.alerts.messages import advice
from monitor.alerts.records import Alert
from monitor.catalogue import Language
from monitor.domain import Asset, Family, Kind
from monitor.forecast import Forecast
from monitor.snapshot import FamilyState

__all__ = [
    "KINDS",
    "AccountStatus",
    "AlertItem",
    "ChannelItem",
    "Delivery",
    "Page",
    "ReloadHealth",
    "SortKey",
    "StateHealth",
    "StatusData",
    "TimelineBucket",
    "TypeSum",
    "asset_severity",
    "avatar_types_of",
    "burn_candidates",
    "expiry_severity",
    "hours_by_type",
    "not_active_yet",
    "paginate",
    "quotas_by_type",
    "sort_assets",
    "timeline_buckets",
]

DAY = 86400.0
KINDS: tuple[Kind, ...] = ("service", "timbre", "image")
Severity = Literal["expired", "critical", "warning", "ok", "never", "unknown"]
SortKey = Literal["expires", "name", "kind", "figures"]
_SEVERITY_RANK: dict[str, int] = {
    "never": 0,
    "ok": 1,
    "unknown": 2,
    "warning": 3,
    "critical": 4,
    "expired": 5,
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """The newest outbox entry that carried an alert."""

    channel: str
    state: str  # pending | delivered | dead
    at: datetime
    attempts: int
    #: the receiver's answer, secrets scrubbed
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AlertItem:
    alert: Alert
    started_at: datetime
    last_notified_at: datetime | None
    resolved_at: datetime | None
    delivery: Delivery | None = None


@dataclass(frozen=True, slots=True)
class ChannelItem:
    name: str
    kind: str
    #: the channel's ``masked_url()``: never the raw URL
    target: str
    #: ``default`` (gets every alert) or ``routed`` (its match/labels)
    route: str = "default"
    #: accounts its route takes (every account for a default route)
    accounts: tuple[str, ...] = ()
    #: its daily digest's local time and zone (``09:00 Asia/Singapore``), if any
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class ReloadHealth:
    """The configuration's last reload (SIGHUP, ``POST /-/reload``)."""

    ok: bool = True
    #: the last successful load (the start counts as one)
    success_at: datetime | None = None
    attempted_at: datetime | None = None
    #: why the last one was refused (each names its file and field)
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StateHealth:
    """The state store (alert states, outbox, usage history in ``state_dir``)."""

    up: bool
    #: why not, secrets scrubbed
    error: str | None = None
    #: times the state file was found deleted or replaced while the daemon ran
    losses: int = 0
    lost_at: datetime | None = None
    lost_file: str | None = None
    #: the lost database was copied into the new file (else alert states only)
    salvaged: bool = False
    #: pending notifications lost with files that could not be salvaged (all losses)
    notifications_lost: int = 0


@dataclass(frozen=True, slots=True)
class HttpHealth:
    """The HTTP endpoints' refusals since start (:mod:`monitor.httpguard`)."""

    #: by reason; reasons never seen left out
    refused: Mapping[str, int] = field(default_factory=dict)
    last_refused_at: datetime | None = None
    auth_failures: int = 0


@dataclass(frozen=True, slots=True)
class AccountStatus:
    name: str
    zone: tzinfo
    #: usable assets of the current snapshot
    assets: tuple[Asset, ...]
    families: tuple[FamilyState, ...]
    #: by asset id
    forecasts: Mapping[str, Forecast] = field(default_factory=dict)
    #: hour packages' ``(unix time, remaining seconds)`` history, by asset id
    usage: Mapping[str, Sequence[tuple[float, float]]] = field(default_factory=dict)
    alerts: tuple[AlertItem, ...] = ()
    #: the account's labels from config (tenant, team…)
    labels: Mapping[str, str] = field(default_factory=dict)
    #: its tenant group (``tenants:``), if any
    tenant: str | None = None
    #: what to do, from the forecast, by asset id, in the page's language (buy hours
    #: before it runs dry; move streams onto a package that will expire unused)
    advice: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatusData:
    now: datetime
    language: Language
    critical_days: float
    warning_days: float
    stale_after_seconds: float
    accounts: tuple[AccountStatus, ...]
    channels: tuple[ChannelItem, ...] = ()
    queue_depth: int = 0
    state: StateHealth = StateHealth(up=True)
    version: str = ""
    grafana_url: str | None = None
    #: alert evaluation errors since start, by rule (or forecast, evaluation); 0s left out
    evaluation_errors: Mapping[str, int] = field(default_factory=dict)
    last_evaluation_error_at: datetime | None = None
    http: HttpHealth = HttpHealth()
    #: families turned off (``collectors``): shown as off, never as failing or pending
    disabled_families: tuple[Family, ...] = ()
    reload: ReloadHealth = ReloadHealth()
    #: the ``?label=`` filter the accounts were selected by ((label, value) pairs)
    label_filter: tuple[tuple[str, str], ...] = ()
    #: ``?group_by=``: the label the overview groups by, and its groups
    #: (:class:`monitor.status.tenants.GroupTotals`)
    group_by: str | None = None
    groups: tuple[Any, ...] = ()

    def account(self, name: str) -> AccountStatus | None:
        return next((a for a in self.accounts if a.name == name), None)


def not_active_yet(assets: Iterable[Asset], now: datetime) -> list[tuple[Asset, float]]:
    """Assets bought but not active yet (their start of validity is ahead), each with
    the seconds until it starts, soonest first."""
    waiting = [(a, left) for a in assets if (left := a.starts_in_seconds(now)) is not None]
    return sorted(waiting, key=lambda pair: (pair[1], pair[0].account, pair[0].id))


def avatar_types_of(asset: Asset) -> tuple[str, ...]:
    """The avatar type codes a voice works with (none for other kinds)."""
    return asset.avatar_types if asset.kind == "timbre" else ()


def expiry_severity(
    seconds_left: float | None, critical_days: float, warning_days: float
) -> Severity:
    """Colour class of a time to expiry (the same thresholds as ``report``)."""
    if seconds_left is None:
        return "never"
    if seconds_left <= 0:
        return "expired"
    if seconds_left < critical_days * DAY:
        return "critical"
    if seconds_left < warning_days * DAY:
        return "warning"
    return "ok"


def asset_severity(
    asset: Asset, now: datetime, critical_days: float, warning_days: float
) -> Severity:
    """:func:`expiry_severity` of an asset, with "unknown" for an expiry the API did not give."""
    if asset.expiry_unknown:
        return "unknown"
    return expiry_severity(asset.expires_in_seconds(now), critical_days, warning_days)


def worst(severities: Iterable[Severity]) -> Severity:
    return max(severities, key=_SEVERITY_RANK.__getitem__, default="never")


# -- summaries ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeSum:
    type: str
    packages: int
    left: float  # seconds (hours) or units (quota)
    total: float | None


def _live(asset: Asset, now: datetime) -> bool:
    left = asset.expires_in_seconds(now)
    return left is None or left > 0


def hours_by_type(assets: Iterable[Asset], now: datetime) -> list[TypeSum]:
    """Remaining hours of live hour packages per service type, most first."""
    sums = _sums(assets, now, "hours", lambda a: (a.remaining_seconds, a.ordered_seconds))
    return sorted(sums, key=lambda s: (-s.left, s.type))


def quotas_by_type(assets: Iterable[Asset], now: datetime) -> list[TypeSum]:
    """Remaining units of live quota packages per service type, fewest first."""
    sums = _sums(assets, now, "quota", lambda a: (a.quota_remaining, a.quota_limit))
    return sorted(sums, key=lambda s: (s.left, s.type))


def _sums(
    assets: Iterable[Asset],
    now: datetime,
    category: str,
    figures: Callable[[Asset], tuple[float | None, float | None]],
) -> list[TypeSum]:
    """(left, total) of the live packages of one category, summed per service type;
    the total is unknown (None) as soon as one package's is."""
    sums: dict[str, tuple[int, float, float | None]] = {}
    for a in assets:
        left_one, total_one = figures(a)
        if a.category != category or left_one is None or not _live(a, now):
            continue
        n, left, total = sums.get(a.type, (0, 0.0, 0.0))
        total = None if total is None or total_one is None else total + total_one
        sums[a.type] = (n + 1, left + left_one, total)
    return [TypeSum(t, n, left, total) for t, (n, left, total) in sums.items()]


# -- the timeline ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineBucket:
    """Assets of one kind that expire on one day (day 0 = the next 24 hours)."""

    kind: Kind
    day: int
    count: int
    severity: Severity
    #: a few names, for the tooltip
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Timeline:
    horizon_days: int
    buckets: tuple[TimelineBucket, ...]
    expired: Mapping[Kind, int]
    within: Mapping[Kind, int]
    #: expiring after the horizon, or never
    beyond: int
    #: whose expiry the API did not give (docs/dates.md)
    unknown: int = 0


_TOOLTIP_NAMES = 6


def timeline_buckets(
    assets: Iterable[Asset],
    now: datetime,
    *,
    horizon_days: int,
    critical_days: float,
    warning_days: float,
) -> Timeline:
    """Aggregate expiries by kind and day, so 10,000 assets draw as at most 3 × 90 marks."""
    groups: dict[tuple[Kind, int], list[tuple[float, str]]] = {}
    expired = dict.fromkeys(KINDS, 0)
    within = dict.fromkeys(KINDS, 0)
    beyond = unknown = 0
    for a in assets:
        left = a.expires_in_seconds(now)
        if a.expiry_unknown:
            unknown += 1
        elif left is None or left >= horizon_days * DAY:
            beyond += 1
        elif left <= 0:
            expired[a.kind] += 1
        else:
            within[a.kind] += 1
            groups.setdefault((a.kind, int(left // DAY)), []).append((left, a.name))
    buckets = []
    for (kind, day), items in sorted(
        groups.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1])
    ):
        items.sort()
        buckets.append(
            TimelineBucket(
                kind,
                day,
                len(items),
                expiry_severity(items[0][0], critical_days, warning_days),
                tuple(name for _, name in items[:_TOOLTIP_NAMES]),
            )
        )
    return Timeline(horizon_days, tuple(buckets), expired, within, beyond, unknown)


# -- the table -------------------------------------------------------------------------


def _expiry_key(asset: Asset, now: datetime) -> tuple[int, float, str, str, str]:
    """What lapses next first; then what has lapsed, most recent first; then an unknown
    expiry; then "never"."""
    left = asset.expires_in_seconds(now)
    if asset.expiry_unknown:
        group, value = 2, 0.0
    elif left is None:
        group, value = 3, 0.0
    elif left > 0:
        group, value = 0, left
    else:
        group, value = 1, -left
    return (group, value, asset.account, asset.kind, asset.id)


def _figures_key(asset: Asset) -> tuple[int, float, str]:
    if asset.remaining_seconds is not None:
        return (0, asset.remaining_seconds, asset.id)
    if asset.quota_remaining is not None:
        return (1, float(asset.quota_remaining), asset.id)
    return (2, 0.0, asset.id)


def sort_assets(
    assets: Iterable[Asset], now: datetime, key: SortKey, *, descending: bool = False
) -> list[Asset]:
    if key == "name":
        ordered = sorted(assets, key=lambda a: (a.name.casefold(), a.id))
    elif key == "kind":
        ordered = sorted(assets, key=lambda a: (KINDS.index(a.kind), a.type, _expiry_key(a, now)))
    elif key == "figures":
        ordered = sorted(assets, key=_figures_key)
    else:
        ordered = sorted(assets, key=lambda a: _expiry_key(a, now))
    if descending:
        ordered.reverse()
    return ordered


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[Asset, ...]
    number: int  # from 1
    pages: int
    total: int


def paginate(ordered: Sequence[Asset], number: int, size: int) -> Page:
    """One page of ``size``; a page number out of range is clamped."""
    pages = max(1, -(-len(ordered) // size))
    number = min(max(number, 1), pages)
    start = (number - 1) * size
    return Page(tuple(ordered[start : start + size]), number, pages, len(ordered))


# -- forecast advice ----------------------------------------------------------------


def forecast_advice(
    asset: Asset,
    fc: Forecast,
    language: Language,
    zone: tzinfo,
    *,
    now: datetime,
    unused_ratio: float = 0.10,
) -> tuple[str, ...]:
    """The forecast's advice for one hour package (:func:`monitor.alerts.messages.advice`):
    buy when it runs dry before it expires; move streams onto it when more than
    ``unused_ratio`` of its ordered hours (and at least an hour) will be left unused.
    None for a package that has expired."""
    if asset.expires_at is not None and asset.expires_at <= now:
        return ()
    unused = fc.unused_at_expiry
    if (
        unused is not None
        and asset.ordered_seconds
        and unused <= unused_ratio * asset.ordered_seconds
    ):
        unused = None
    facts = {
        "depletion_at": fc.depletion_at,
        "depletion_earliest": fc.depletion_earliest,
        "depletion_latest": fc.depletion_latest,
        "expires_at": asset.expires_at,
        "buy_seconds": fc.buy_seconds,
        "unused_seconds": unused,
    }
    return tuple(advice(facts, language, zone))


# -- burn-down charts -------------------------------------------------------------


def burn_candidates(account: AccountStatus, now: datetime) -> list[Asset]:
    """Live hour packages with at least two samples of history, most urgent first:
    those that run dry soonest, then those that expire soonest."""

    def urgency(a: Asset) -> tuple[float, float, str]:
        fc = account.forecasts.get(a.id)
        dry = fc.depletion_at.timestamp() if fc and fc.depletion_at else float("inf")
        left = a.expires_in_seconds(now)
        return (dry, float("inf") if left is None else left, a.id)

    found = [
        a
        for a in account.assets
        if a.category == "hours"
        and a.remaining_seconds is not None
        and _live(a, now)
        and len(account.usage.get(a.id, ())) >= 2
    ]
    return sorted(found, key=urgency)
