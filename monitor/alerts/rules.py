"""The alert rules, evaluated over one account's fresh data (pure).

Only families whose last collection succeeded are looked at: stale or absent
data neither fires nor resolves an alert (the lifecycle leaves alerts of
unevaluated scopes alone). ``collection_failing`` is the monitor watching
itself and is always evaluated.

Each rule runs on its own for each asset: one that raises is recorded as a
:class:`RuleFailure` (the lifecycle then leaves that rule's alert of that asset
as it is) and every other rule and asset is still evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.alerts.config import AlertsConfig, RuleThresholds, resolver_of
from monitor.domain import Asset
from monitor.forecast import Forecast
from monitor.precedence import no_pause
from monitor.snapshot import Snapshot

__all__ = ["Evaluation", "Finding", "RuleFailure", "evaluate_account"]

_DAY = 86400.0
#: ``thresholds_for`` of one config, positionally: (rule, account, kind, service type, asset)
_Resolve = Callable[[str, str, str, str | None, str], RuleThresholds]
_KIND_OF_FAMILY = {"services": "service", "timbres": "timbre", "images": "image"}


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    account: str
    kind: str
    asset: str
    severity: str
    #: raw values for messages and for telling later why it resolved
    facts: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A rule that raised on one asset (``kind="account"``, ``asset=""`` for the account)."""

    rule: str
    account: str
    kind: str
    asset: str
    error: Exception


@dataclass(frozen=True, slots=True)
class Evaluation:
    account: str
    findings: tuple[Finding, ...]
    #: kinds (service/timbre/image, plus "account") whose data was fresh
    scopes: frozenset[str]
    #: the fresh assets by (kind, id), to tell "renewed" from "gone"
    assets: Mapping[tuple[str, str], Asset]
    #: rules that could not be evaluated on an asset: their alerts are left alone
    failures: tuple[RuleFailure, ...] = ()
    #: the kinds looked at (the families asked for, and "account"); ``None``: every kind
    kinds: frozenset[str] | None = None

    def unevaluated(self) -> frozenset[tuple[str, str, str]]:
        """(rule, kind, asset) of every failure."""
        return frozenset((f.rule, f.kind, f.asset) for f in self.failures)


def _facts(asset: Asset, now: datetime, left: float | None) -> dict[str, Any]:
    """``left``: ``asset.expires_in_seconds(now)``."""
    ratio = None
    if asset.remaining_seconds is not None and asset.ordered_seconds:
        ratio = asset.remaining_seconds / asset.ordered_seconds
    return {
        "account": asset.account,
        "kind": asset.kind,
        "asset": asset.id,
        "name": asset.name,
        "type": asset.type,
        "expires_at": asset.expires_at,
        "expiry": asset.expiry,
        "days_left": None if left is None else left / _DAY,
        "remaining_seconds": asset.remaining_seconds,
        "ordered_seconds": asset.ordered_seconds,
        "ratio_left": ratio,
        "quota_limit": asset.quota_limit,
        "quota_remaining": asset.quota_remaining,
    }


def _labels(asset: Asset) -> dict[str, str]:
    labels = {"type": asset.type}
    if asset.kind == "service":
        labels["service_type"] = asset.type
        labels["category"] = asset.category or "unknown"
    return labels


def _below(value: float | None, limit: float | None) -> bool:
    return value is not None and limit is not None and value < limit


class _Asset:
    """Collects the findings of one asset, rule by rule."""

    __slots__ = (
        "_left",
        "_left_error",
        "_resolve",
        "asset",
        "config",
        "failures",
        "findings",
        "forecast",
        "now",
    )

    def __init__(
        self,
        asset: Asset,
        now: datetime,
        config: AlertsConfig,
        forecast: Forecast | None,
        resolve: _Resolve,
    ) -> None:
        self.asset = asset
        self.now = now
        self.config = config
        self.forecast = forecast
        self.findings: list[Finding] = []
        self.failures: list[RuleFailure] = []
        self._resolve = resolve
        # seconds until expiry at ``now``: every rule reads it, so it is worked out once;
        # what that raises is raised to each rule that reads it (and recorded as its failure)
        self._left: float | None = None
        self._left_error: Exception | None = None
        try:
            self._left = asset.expires_in_seconds(now)
        except Exception as exc:  # noqa: BLE001 - raised again to each rule reading it
            self._left_error = exc

    @property
    def left(self) -> float | None:
        if self._left_error is not None:
            raise self._left_error
        return self._left

    @property
    def expired(self) -> bool:
        left = self.left
        return left is not None and left < 0

    def rule(self, name: str) -> RuleThresholds:
        a = self.asset
        return self._resolve(name, a.account, a.kind, a.type if a.kind == "service" else None, a.id)

    def add(self, name: str, severity: str, **extra: Any) -> None:
        a = self.asset
        facts = {**_facts(a, self.now, self.left), **extra}
        self.findings.append(Finding(name, a.account, a.kind, a.id, severity, facts, _labels(a)))

    def run(self, name: str) -> None:
        """One rule; what it raises is recorded, not passed on."""
        before = len(self.findings)
        try:
            # an expired package's figures no longer matter: its expiry alert says it all
            if name in _FIGURE_RULES and self.expired:
                return
            _CHECKS[name](self)
        except Exception as exc:  # noqa: BLE001 - one rule's trouble must not stop the others
            del self.findings[before:]
            a = self.asset
            self.failures.append(RuleFailure(name, a.account, a.kind, a.id, exc))

    def expiring(self) -> None:
        left, expiring = self.left, self.rule("expiring")
        if left is None or not expiring.enabled or left < 0:
            return
        if _below(left, expiring.seconds("critical")):
            self.add("expiring", "critical")
        elif _below(left, expiring.seconds("warning")):
            self.add("expiring", "warning")

    def expired_rule(self) -> None:
        left, gone = self.left, self.rule("expired")
        if left is None or not gone.enabled or left >= 0:
            return
        forget = self.config.rules.expired.forget_after_days * _DAY
        if forget == 0 or -left <= forget:
            self.add("expired", gone.severity or "critical")

    def expiry_unknown(self) -> None:
        unknown = self.rule("expiry_unknown")
        if unknown.enabled and self.asset.expiry_unknown:
            self.add("expiry_unknown", unknown.severity or "warning")

    def hours_low(self) -> None:
        a, low = self.asset, self.rule("hours_low")
        remaining = a.remaining_seconds
        if not low.enabled or remaining is None:
            return
        ratio = remaining / a.ordered_seconds if a.ordered_seconds else None
        hours = remaining / 3600
        if _below(ratio, low.critical_ratio) or _below(hours, low.critical_hours):
            self.add("hours_low", "critical")
        elif _below(ratio, low.warning_ratio) or _below(hours, low.warning_hours):
            self.add("hours_low", "warning")

    def hours_depleting(self) -> None:
        a, forecast = self.asset, self.forecast
        if forecast is None or not a.remaining_seconds:
            return
        depleting, cfg = self.rule("hours_depleting"), self.config.rules.hours_depleting
        at = forecast.depletion_at
        if depleting.enabled and at is not None:
            soon = (at - self.now).total_seconds() <= cfg.horizon_days * _DAY
            early = cfg.before_expiry and a.expires_at is not None and at < a.expires_at
            if soon or early:
                self.add(
                    "hours_depleting",
                    depleting.severity or "warning",
                    depletion_at=at,
                    **_forecast_facts(forecast),
                )

    def unused_at_expiry(self) -> None:
        a, forecast = self.asset, self.forecast
        if forecast is None or not a.remaining_seconds:
            return
        unused, ucfg = self.rule("unused_at_expiry"), self.config.rules.unused_at_expiry
        left = self.left
        if (
            unused.enabled
            and left is not None
            and left <= ucfg.within_days * _DAY
            and forecast.unused_at_expiry is not None
            and a.ordered_seconds
            and forecast.unused_at_expiry > ucfg.ratio * a.ordered_seconds
        ):
            self.add(
                "unused_at_expiry",
                unused.severity or "warning",
                unused_seconds=forecast.unused_at_expiry,
                **_forecast_facts(forecast),
            )

    def runaway_burn(self) -> None:
        a, forecast = self.asset, self.forecast
        if forecast is None or not a.remaining_seconds:
            return
        runaway = self.rule("runaway_burn")
        if runaway.enabled and forecast.runaway:
            self.add(
                "runaway_burn",
                runaway.severity or "critical",
                depletion_at=forecast.depletion_at,
                runaway_depletion_at=forecast.runaway_depletion_at,
                sustained_minutes=runaway.sustained_minutes,
                factor=runaway.factor,
                **_forecast_facts(forecast),
            )

    def quota(self) -> None:
        a, quota = self.asset, self.rule("quota_exhausted")
        if quota.enabled and a.quota_remaining == 0 and (a.quota_limit or 0) > 0:
            self.add("quota_exhausted", quota.severity or "warning")


def _forecast_facts(fc: Forecast) -> dict[str, Any]:
    """What a message needs of the forecast: the mean burn (``rate``, per second, for
    "h/day"), the model, the band, the runaway check and the advice."""
    return {
        "rate": fc.mean_rate,
        "rate_now": fc.rate,
        "model": fc.model,
        "depletion_earliest": fc.depletion_earliest,
        "depletion_latest": fc.depletion_latest,
        "usual_rate": fc.usual_rate,
        "current_rate": fc.current_rate,
        "burn_ratio": fc.burn_ratio,
        "buy_seconds": fc.buy_seconds,
        "unused_at_expiry_seconds": fc.unused_at_expiry,
    }


_CHECKS: dict[str, Callable[[_Asset], None]] = {
    "expiring": _Asset.expiring,
    "expired": _Asset.expired_rule,
    "expiry_unknown": _Asset.expiry_unknown,
    "hours_low": _Asset.hours_low,
    "hours_depleting": _Asset.hours_depleting,
    "unused_at_expiry": _Asset.unused_at_expiry,
    "quota_exhausted": _Asset.quota,
    "runaway_burn": _Asset.runaway_burn,
}
#: rules on a package's figures, which stop once it has expired
_FIGURE_RULES = frozenset(
    {"hours_low", "hours_depleting", "unused_at_expiry", "quota_exhausted", "runaway_burn"}
)
_EXPIRY_RULES = ("expiring", "expired", "expiry_unknown")
_HOURS_RULES = (
    *_EXPIRY_RULES,
    "hours_low",
    "hours_depleting",
    "unused_at_expiry",
    "runaway_burn",
)
_QUOTA_RULES = (*_EXPIRY_RULES, "quota_exhausted")


def _rules_of(asset: Asset) -> tuple[str, ...]:
    if asset.kind == "service":
        if asset.category == "hours":
            return _HOURS_RULES
        if asset.category == "quota":
            return _QUOTA_RULES
    return _EXPIRY_RULES


def _asset_findings(
    asset: Asset,
    now: datetime,
    config: AlertsConfig,
    forecast: Forecast | None,
    resolve: _Resolve,
) -> tuple[list[Finding], list[RuleFailure]]:
    check = _Asset(asset, now, config, forecast, resolve)
    for name in _rules_of(asset):
        check.run(name)
    return check.findings, check.failures


#: assets evaluated between two pauses (~1 ms of CPU)
_PAUSE_EVERY = 64


def evaluate_account(
    snapshot: Snapshot,
    account: str,
    now: datetime,
    config: AlertsConfig,
    forecasts: Mapping[str, Forecast],
    *,
    started_at: datetime,
    pause: Callable[[], None] = no_pause,
    families: Collection[str] | None = None,
) -> Evaluation:
    """Every rule over one account; ``forecasts`` by asset id. ``pause`` is called every
    :data:`_PAUSE_EVERY` assets (the daemon's: a scrape being served goes first).

    ``families``: only the assets of these families are looked at (the ones a
    collection has just changed); the others are left out of the scopes, so their
    alerts stay exactly as they are. ``None``: all of them. ``collection_failing``
    is evaluated either way."""
    findings: list[Finding] = []
    failures: list[RuleFailure] = []
    scopes: set[str] = {"account"}
    assets: dict[tuple[str, str], Asset] = {}
    resolve = resolver_of(config)  # once per evaluation, not per asset and rule
    for family, kind in _KIND_OF_FAMILY.items():
        if families is not None and family not in families:
            continue  # not asked for: neither fire nor resolve
        state = snapshot.families.get((account, family))  # type: ignore[arg-type]
        if state is None or not (state.success or state.partial):
            continue  # stale or absent: neither fire nor resolve
        if state.success:
            # what an incomplete listing (partial) lacks is not gone: it fires, never resolves
            scopes.add(kind)
        for n, asset in enumerate(state.assets):
            if n % _PAUSE_EVERY == 0:
                pause()
            assets[(kind, asset.id)] = asset
            found, failed = _asset_findings(asset, now, config, forecasts.get(asset.id), resolve)
            findings.extend(found)
            failures.extend(failed)

    try:
        findings.extend(_collection_failing(snapshot, account, now, config, started_at))
    except Exception as exc:  # noqa: BLE001 - see _Asset.run
        failures.append(RuleFailure("collection_failing", account, "account", "", exc))
    kinds = None
    if families is not None:
        kinds = frozenset({"account", *(_KIND_OF_FAMILY.get(f, "account") for f in families)})
    return Evaluation(
        account, tuple(findings), frozenset(scopes), assets, tuple(failures), kinds=kinds
    )


def _collection_failing(
    snapshot: Snapshot, account: str, now: datetime, config: AlertsConfig, started_at: datetime
) -> list[Finding]:
    failing = config.rules.collection_failing
    if not failing.enabled:
        return []
    bad = [
        s
        for f in ("services", "timbres", "images", "actions")
        if (s := snapshot.families.get((account, f))) is not None and s.attempted and not s.success
    ]
    if not bad:
        return []
    since = min(s.last_success or started_at for s in bad)
    if (now - since).total_seconds() < snapshot.stale_after:
        return []
    facts = {
        "account": account,
        "kind": "account",
        "families": [s.family for s in bad],
        "since": since,
        "error": ", ".join(sorted({s.error or "error" for s in bad})),
    }
    return [Finding("collection_failing", account, "account", "", failing.severity, facts)]
