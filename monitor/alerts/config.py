"""Alert settings: rules, their thresholds, per-asset overrides.

Thresholds resolve per asset: the rule's defaults, then every override whose
``match`` fits the asset (account, kind, service type and asset id as globs),
later overrides winning. The same resolution feeds the in-process alerts and
the exported ``ivh_alert_threshold_*`` metrics that Prometheus rules use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.alerts.channels.config import ChannelConfig
from monitor.alerts.matching import Match, fits
from monitor.catalogue import Language

__all__ = [
    "AlertsConfig",
    "DeliveryConfig",
    "ForecastConfig",
    "Match",
    "Override",
    "RuleThresholds",
    "RulesConfig",
    "RunawayBurnRule",
    "resolver_of",
]

RuleName = Literal[
    "expiring",
    "expired",
    "hours_low",
    "hours_depleting",
    "unused_at_expiry",
    "quota_exhausted",
    "collection_failing",
    "expiry_unknown",
    "runaway_burn",
]
RULE_NAMES: tuple[str, ...] = RuleName.__args__  # type: ignore[attr-defined]
AlertSeverity = Literal["info", "warning", "critical"]
_DAY = 86400.0
# Every number is finite and bounded (see monitor.config): dates this far ahead
# stay inside the calendar, waits inside what timedelta and asyncio take.
#: days: ten years
_MAX_DAYS = 3650.0
#: hours of an hour package: over a century of streaming
_MAX_HOURS = 1_000_000.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ExpiringRule(_Strict):
    enabled: bool = True
    warning_days: float = Field(30.0, ge=0, le=_MAX_DAYS)
    critical_days: float = Field(7.0, ge=0, le=_MAX_DAYS)

    @model_validator(mode="after")
    def _order(self) -> ExpiringRule:
        if self.critical_days > self.warning_days:
            raise ValueError("critical_days must not exceed warning_days")
        return self


class ExpiredRule(_Strict):
    enabled: bool = True
    severity: AlertSeverity = "critical"
    #: stop alerting on an asset expired longer ago than this (0 = never stop)
    forget_after_days: float = Field(30.0, ge=0, le=_MAX_DAYS)


class HoursLowRule(_Strict):
    enabled: bool = True
    warning_ratio: float = Field(0.20, ge=0, le=1)
    critical_ratio: float = Field(0.05, ge=0, le=1)
    #: absolute floors, in hours; when set they apply as well as the ratios
    warning_hours: float | None = Field(None, ge=0, le=_MAX_HOURS)
    critical_hours: float | None = Field(None, ge=0, le=_MAX_HOURS)


class HoursDepletingRule(_Strict):
    enabled: bool = True
    severity: AlertSeverity = "warning"
    horizon_days: float = Field(7.0, gt=0, le=_MAX_DAYS)
    #: also fire when the package runs dry before it expires
    before_expiry: bool = True
    #: burn rate over this much recent history
    window_days: float = Field(7.0, gt=0, le=_MAX_DAYS)
    #: need at least this much history before forecasting
    min_history_hours: float = Field(6.0, ge=0, le=_MAX_DAYS * 24)


class UnusedAtExpiryRule(_Strict):
    enabled: bool = True
    severity: AlertSeverity = "warning"
    ratio: float = Field(0.10, ge=0, le=1)
    within_days: float = Field(14.0, gt=0, le=_MAX_DAYS)


class QuotaExhaustedRule(_Strict):
    enabled: bool = False
    severity: AlertSeverity = "warning"


class CollectionFailingRule(_Strict):
    enabled: bool = True
    severity: AlertSeverity = "warning"


class ExpiryUnknownRule(_Strict):
    """An asset whose expiry the API left blank (where required) or gave as a
    placeholder date (docs/dates.md): opt-in, as such assets may be many."""

    enabled: bool = False
    severity: AlertSeverity = "warning"


class RunawayBurnRule(_Strict):
    """A package burning far above its usual rate for those hours of the week, for a
    while: a stream left running overnight, a stuck job (docs/forecast.md)."""

    enabled: bool = True
    severity: AlertSeverity = "critical"
    #: at least this many times the usual burn (never below half the week's mean)
    factor: float = Field(3.0, gt=1, le=1000)
    #: ... over this long, and still in its last quarter
    sustained_minutes: float = Field(30.0, ge=5, le=7 * 24 * 60)


class ForecastConfig(_Strict):
    """How hour packages are forecast (docs/forecast.md)."""

    #: weekly: the burn per hour of the week with its trend, once a week of history is
    #: there (the line until then); linear: always the line over window_days
    model: Literal["weekly", "linear"] = "weekly"
    #: history the weekly profile is fitted on (at most alerts.history_days is kept)
    profile_days: float = Field(28.0, ge=7, le=56)


class RulesConfig(_Strict):
    expiring: ExpiringRule = Field(default_factory=ExpiringRule)
    expired: ExpiredRule = Field(default_factory=ExpiredRule)
    hours_low: HoursLowRule = Field(default_factory=HoursLowRule)
    hours_depleting: HoursDepletingRule = Field(default_factory=HoursDepletingRule)
    unused_at_expiry: UnusedAtExpiryRule = Field(default_factory=UnusedAtExpiryRule)
    quota_exhausted: QuotaExhaustedRule = Field(default_factory=QuotaExhaustedRule)
    collection_failing: CollectionFailingRule = Field(default_factory=CollectionFailingRule)
    expiry_unknown: ExpiryUnknownRule = Field(default_factory=ExpiryUnknownRule)
    runaway_burn: RunawayBurnRule = Field(default_factory=RunawayBurnRule)


class Override(_Strict):
    """Different thresholds for matching assets, e.g. a 60-day warning for images."""

    match: Match = Field(default_factory=Match)
    rule: RuleName
    enabled: bool | None = None
    warning_days: float | None = Field(None, ge=0, le=_MAX_DAYS)
    critical_days: float | None = Field(None, ge=0, le=_MAX_DAYS)
    warning_ratio: float | None = Field(None, ge=0, le=1)
    critical_ratio: float | None = Field(None, ge=0, le=1)
    warning_hours: float | None = Field(None, ge=0, le=_MAX_HOURS)
    critical_hours: float | None = Field(None, ge=0, le=_MAX_HOURS)
    severity: AlertSeverity | None = None
    #: runaway_burn
    factor: float | None = Field(None, gt=1, le=1000)
    sustained_minutes: float | None = Field(None, ge=5, le=7 * 24 * 60)


class DeliveryConfig(_Strict):
    """Retries of the outbox: exponential backoff with jitter, then dead letter."""

    #: at most 100: the backoff doubles per attempt, and 2^1000 overflows a float
    max_attempts: int = Field(20, ge=1, le=100)
    backoff_initial_seconds: float = Field(10.0, gt=0, le=_DAY)
    backoff_max_seconds: float = Field(3600.0, gt=0, le=_DAY)
    #: delivered and dead notifications are kept this long for `alerts list`
    keep_days: float = Field(14.0, gt=0, le=_MAX_DAYS)


class AlertsConfig(_Strict):
    language: Language = "en"
    #: at most a year (as good as never)
    repeat_interval_seconds: float = Field(86400.0, gt=0, le=365 * _DAY)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    overrides: list[Override] = Field(default_factory=list)
    #: message templates per rule: {rule: {summary: "...", description: "..."}}
    #: (``string.Template`` with $account, $name, $type, $kind, $expires_at,
    #: $days_left, $remaining_hours, $ordered_hours, $percent_left, $depletion_at)
    templates: dict[RuleName, dict[Literal["summary", "description", "action"], str]] = Field(
        default_factory=dict
    )
    #: where notifications go (webhook, alertmanager, wecom, dingtalk, feishu, slack)
    channels: list[ChannelConfig] = Field(default_factory=list)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    #: usage history kept for burn rates
    history_days: float = Field(30.0, gt=0, le=_MAX_DAYS)
    #: bound on the state store's size; beyond it writes fail (and are retried); ≤ 1 TiB
    state_max_mb: float = Field(256.0, gt=0, le=1024 * 1024)

    @model_validator(mode="after")
    def _unique_channels(self) -> AlertsConfig:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate channel names: {', '.join(dupes)}")
        return self


@dataclass(frozen=True, slots=True)
class RuleThresholds:
    """A rule's effective settings for one asset."""

    enabled: bool
    warning_days: float | None = None
    critical_days: float | None = None
    warning_ratio: float | None = None
    critical_ratio: float | None = None
    warning_hours: float | None = None
    critical_hours: float | None = None
    severity: str | None = None
    factor: float | None = None
    sustained_minutes: float | None = None
    #: whether any override changed this asset's values
    overridden: bool = False

    def seconds(self, severity: str) -> float | None:
        days = self.critical_days if severity == "critical" else self.warning_days
        return None if days is None else days * _DAY


def _base(rules: RulesConfig, rule: str) -> RuleThresholds:
    cfg: Any = getattr(rules, rule)
    fields = {
        f: getattr(cfg, f)
        for f in RuleThresholds.__dataclass_fields__
        if f not in ("overridden",) and hasattr(cfg, f)
    }
    return RuleThresholds(**fields)


def thresholds_for(
    config: AlertsConfig,
    rule: str,
    *,
    account: str,
    kind: str,
    asset: str,
    service_type: str | None = None,
) -> RuleThresholds:
    """Effective thresholds of ``rule`` for one asset (``asset=""`` for the kind-wide ones).

    Resolved once per config object (they are frozen): a rule with no override matching
    the asset returns its shared defaults, and each combination of matching overrides is
    merged once."""
    return _resolver(config).resolve(rule, account, kind, service_type, asset)


def resolver_of(
    config: AlertsConfig,
) -> Callable[[str, str, str, str | None, str], RuleThresholds]:
    """:func:`thresholds_for` of ``config``, taken once for many assets: called as
    ``(rule, account, kind, service_type, asset)``."""
    return _resolver(config).resolve


class _Resolver:
    """The thresholds of one (frozen) config: defaults per rule, overrides per rule, and
    each merge of matching overrides, made on first use."""

    def __init__(self, config: AlertsConfig) -> None:
        self._config = config
        self._base: dict[str, RuleThresholds] = {}
        self._overrides: dict[str, tuple[Override, ...]] = {}
        self._merged: dict[tuple[str, tuple[int, ...]], RuleThresholds] = {}

    def resolve(
        self, rule: str, account: str, kind: str, service_type: str | None, asset: str
    ) -> RuleThresholds:
        base = self._base.get(rule)
        if base is None:
            base = self._base[rule] = _base(self._config.rules, rule)
            self._overrides[rule] = tuple(o for o in self._config.overrides if o.rule == rule)
        overrides = self._overrides[rule]
        if not overrides:
            return base
        fitting = tuple(
            i
            for i, o in enumerate(overrides)
            if fits(o.match, account, kind, service_type or "", asset)
        )
        if not fitting:
            return base
        merged = self._merged.get((rule, fitting))
        if merged is None:
            merged = base
            for i in fitting:
                override = overrides[i]
                changes = {
                    f: getattr(override, f)
                    for f in RuleThresholds.__dataclass_fields__
                    if f != "overridden" and getattr(override, f, None) is not None
                }
                merged = RuleThresholds(**{**_asdict(merged), **changes, "overridden": True})
            self._merged[(rule, fitting)] = merged
        return merged


#: resolvers by config identity (the config is kept alive with its resolver, so the
#: identity cannot be reused while the entry stands); a few configs at most
_RESOLVERS: dict[int, tuple[AlertsConfig, _Resolver]] = {}
_RESOLVERS_MAX = 8


def _resolver(config: AlertsConfig) -> _Resolver:
    entry = _RESOLVERS.get(id(config))
    if entry is not None and entry[0] is config:
        return entry[1]
    resolver = _Resolver(config)
    if len(_RESOLVERS) >= _RESOLVERS_MAX:
        _RESOLVERS.pop(next(iter(_RESOLVERS)), None)
    _RESOLVERS[id(config)] = (config, resolver)
    return resolver


def _asdict(t: RuleThresholds) -> dict[str, Any]:
    return {f: getattr(t, f) for f in RuleThresholds.__dataclass_fields__}


def asset_specific_overrides(config: AlertsConfig, rule: str) -> bool:
    """Whether any override of ``rule`` names particular assets or service types."""
    return any(
        o.rule == rule and (o.match.asset is not None or o.match.service_type is not None)
        for o in config.overrides
    )
