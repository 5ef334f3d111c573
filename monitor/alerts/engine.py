"""The alert lifecycle: findings → alert states → notifications in the outbox.

Per alert (rule, account, kind, asset): notify when it starts firing, when its
severity rises, again every ``repeat_interval`` while it fires, and once when
it resolves (renewed, topped up, gone upstream, or recovered). Alerts of a
scope whose data is stale or absent are left exactly as they are.

The state changes of one evaluation and the notifications they cause are
written in one transaction (see :mod:`monitor.alerts.store`).

A rule, a forecast or a message that fails on one asset is logged
(``alert.rule_failed``) and counted in :attr:`AlertEngine.evaluation_errors`;
that rule's alert of that asset is left as it is, and everything else of the
evaluation goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache, partial
from typing import Any

import structlog

from monitor.alerts.byaccount import ByAccount
from monitor.alerts.channels.base import Channel
from monitor.alerts.channels.config import ChannelConfig
from monitor.alerts.config import RULE_NAMES, AlertsConfig, RuleThresholds, thresholds_for
from monitor.alerts.messages import joined, render_parts, render_resolved_parts
from monitor.alerts.records import (
    SEVERITY_ORDER,
    Alert,
    Notification,
    NotificationReason,
    alert_fingerprint,
)
from monitor.alerts.routing import Locale, Tenancy, locale_for, takes
from monitor.alerts.rules import Evaluation, Finding, RuleFailure, evaluate_account
from monitor.alerts.store import AlertRow, StateStore, alert_to_json
from monitor.catalogue import Language
from monitor.domain import Asset, Family
from monitor.forecast import RECENT_SECONDS, Forecast, Runaway, assess
from monitor.precedence import no_pause
from monitor.snapshot import Snapshot
from monitor.weekly import WeeklyProfile, fit_weekly

__all__ = ["EVALUATION_ERROR_SOURCES", "AlertEngine", "CycleResult"]

log = structlog.get_logger("monitor.alerts")

_DAY = 86400.0
#: Prometheus' recipe: keep re-sending a resolution to Alertmanager for a while
_AM_RESOLVED_RESEND = timedelta(minutes=15)
#: the same names as the Prometheus rules (config/prometheus), so both read alike
_ALERTNAMES = {
    "expiring": "IvhAssetExpiring",
    "expired": "IvhAssetExpired",
    "hours_low": "IvhServiceHoursLow",
    "hours_depleting": "IvhServiceHoursDepleting",
    "unused_at_expiry": "IvhServiceHoursUnusedAtExpiry",
    "quota_exhausted": "IvhServiceQuotaExhausted",
    "collection_failing": "IvhMonitorCollectionFailing",
    "expiry_unknown": "IvhAssetExpiryUnknown",
    "runaway_burn": "IvhServiceRunawayBurn",
}
#: what an evaluation error is counted against: a rule, an asset's forecast, or the
#: evaluation of an account as a whole
EVALUATION_ERROR_SOURCES: tuple[str, ...] = (*RULE_NAMES, "forecast", "evaluation")
#: the forecast feeds these rules: while it fails, their alerts are left alone
_FORECAST_RULES = ("hours_depleting", "unused_at_expiry", "runaway_burn")
#: the weekly profile is refitted at most this often (seconds): it moves slowly, and
#: fitting reads weeks of history
_REFIT_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class CycleResult:
    fired: tuple[Alert, ...]
    escalated: tuple[Alert, ...]
    repeated: tuple[Alert, ...]
    resolved: tuple[Alert, ...]
    notifications: tuple[Notification, ...]


@dataclass(slots=True)
class _Changes:
    fired: list[Alert] = field(default_factory=list)
    escalated: list[Alert] = field(default_factory=list)
    repeated: list[Alert] = field(default_factory=list)
    quiet: list[tuple[Alert, AlertRow]] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    #: firing alerts whose data is stale or absent this cycle: kept as they are
    frozen: list[Alert] = field(default_factory=list)
    #: by fingerprint: the alert rendered in another locale (a tenant's channel)
    localised: dict[str, Callable[[Locale], Alert]] = field(default_factory=dict)

    def all_firing(self) -> list[Alert]:
        quiet = (a for a, _ in self.quiet)
        return [*self.fired, *self.escalated, *self.repeated, *quiet, *self.frozen]


#: the types of a fact kept as they are in an alert's values (by exact type: the quick path)
_PLAIN = frozenset({int, float, str, type(None)})


def _json_value(value: Any) -> float | str | None:
    if type(value) in _PLAIN:
        return value  # type: ignore[no-any-return]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


#: forecasts made between two pauses
_PAUSE_EVERY = 16


class AlertEngine:
    """Evaluates one account at a time after each of its collections."""

    def __init__(
        self,
        config: AlertsConfig,
        store: StateStore,
        channels: Sequence[Channel],
        *,
        zones: Mapping[str, tzinfo],
        started_at: datetime,
        on_enqueue: Callable[[], None] | None = None,
        resend_intervals: Mapping[str, float] | None = None,
        routes: Mapping[str, ChannelConfig] | None = None,
        tenancy: Mapping[str, Tenancy] | None = None,
        pause: Callable[[], None] = no_pause,
    ) -> None:
        """``pause``: called where an evaluation can wait (between stages, every few
        dozen assets): the daemon's :meth:`~monitor.precedence.Precedence.step_aside`."""
        self.config = config
        self._pause = pause
        self.store = store
        self.channels = list(channels)
        self._zones = dict(zones)
        #: channel settings by name (their routes, locales); a channel absent here
        #: is a default route
        self.routes: Mapping[str, ChannelConfig] = dict(routes or {})
        #: by account: labels and tenant locale (absent: no labels, no locale)
        self.tenancy: Mapping[str, Tenancy] = dict(tenancy or {})
        self._started_at = started_at
        self._on_enqueue = on_enqueue
        #: held while ``firing`` and ``forecasts`` are merged and swapped (an evaluation
        #: in the worker, a retirement on the loop, a reader merging them)
        self._swap = threading.Lock()
        self._forecasts_of: ByAccount[tuple[str, str], Forecast] = ByAccount(self._swap)
        self._firing_of: ByAccount[str, Alert] = ByAccount(self._swap)
        self._loaded = False
        with contextlib.suppress(sqlite3.Error):
            self._load()
        self._am_last_push: dict[tuple[str, str], datetime] = {}
        #: Alertmanager channels: how often firing alerts are re-sent, by channel name
        self._resend = dict(resend_intervals or {})
        #: failures since start, by rule (or "forecast", "evaluation"), read by the
        #: metrics collector and the status page
        self.evaluation_errors: dict[str, int] = dict.fromkeys(EVALUATION_ERROR_SOURCES, 0)
        self.last_evaluation_error_at: datetime | None = None
        #: weekly profiles by (account, asset id): (fitted at, profile or None)
        self._profiles: dict[tuple[str, str], tuple[float, WeeklyProfile | None]] = {}
        #: the thread :meth:`evaluate_off_loop` runs evaluations in, made on first use
        self._worker: ThreadPoolExecutor | None = None

    @property
    def firing(self) -> Mapping[str, Alert]:
        """Firing alerts by fingerprint (in memory, mirrored in the store)."""
        return self._firing_of.view

    @property
    def forecasts(self) -> Mapping[tuple[str, str], Forecast]:
        """Latest forecasts by (account, asset id), read by the metrics collector."""
        return self._forecasts_of.view

    def _load(self) -> None:
        """Firing alerts from the store (after a restart, or once it is available)."""
        rows = self.store.alerts(status="firing")
        with self._swap:
            self._firing_of.reset((row.alert.account, row.fingerprint, row.alert) for row in rows)
        self._loaded = True

    def reconfigure(
        self,
        config: AlertsConfig,
        channels: Sequence[Channel],
        *,
        zones: Mapping[str, tzinfo],
        routes: Mapping[str, ChannelConfig],
        tenancy: Mapping[str, Tenancy],
        resend_intervals: Mapping[str, float],
    ) -> None:
        """A reloaded configuration; alert state, forecasts and pushes stay."""
        self.config = config
        self.channels = list(channels)
        # a removed account's zone and tenancy stay until it is retired
        self._zones = {**self._zones, **zones}
        self.routes = dict(routes)
        self.tenancy = {**self.tenancy, **tenancy}
        self._resend = dict(resend_intervals)

    def retire(self, account: str, now: datetime) -> CycleResult:
        """An account no longer configured: each of its firing alerts resolves once
        (reason ``account_removed``), and it is forgotten. Raises ``sqlite3.Error``."""
        if not self._loaded:
            self._load()
        rows = self.store.alerts(account, status="firing")
        changes = _Changes()
        for row in rows:
            changes.resolved.append(self._retired(row.alert, now))
            changes.localised[row.fingerprint] = partial(self._retired, row.alert, now)
        notifications = self._notifications(account, now, changes)
        with self.store.transaction() as db:
            self._write_resolved(db, changes.resolved, notifications, now)
        with self._swap:
            self._firing_of.replace(account, {})
            self._forecasts_of.replace(account, {})
        self._am_last_push = {k: v for k, v in self._am_last_push.items() if k[1] != account}
        self._zones.pop(account, None)
        self.tenancy = {k: v for k, v in self.tenancy.items() if k != account}
        for alert in changes.resolved:
            log.info("alert.resolved", reason="account_removed", **_log_fields(alert))
        if notifications and self._on_enqueue is not None:
            self._on_enqueue()
        return CycleResult((), (), (), tuple(changes.resolved), tuple(n for n, _ in notifications))

    def _retired(self, alert: Alert, now: datetime, locale: Locale | None = None) -> Alert:
        language, zone = self._language_zone(alert.account, locale)
        source = alert if locale is None else self._relocalised(alert, language, zone)
        parts = render_resolved_parts(
            source, reason="account_removed", asset=None, language=language, zone=zone, now=now
        )
        return replace(
            alert,
            status="resolved",
            ends_at=now,
            resolve_reason="account_removed",
            annotations={k: joined(v) for k, v in parts.items()},
            annotation_parts=parts,
        )

    def _language_zone(self, account: str, locale: Locale | None) -> tuple[Language, tzinfo]:
        zone = self._zones.get(account)
        assert zone is not None  # noqa: S101 - every account has a zone
        if locale is None:
            return self.config.language, zone
        return locale.language, locale.zone or zone

    def _relocalised(self, alert: Alert, language: Language, zone: tzinfo) -> Alert:
        """A stored firing alert's texts rendered again in another language and zone
        (from the facts it keeps in ``values``)."""
        parts = render_parts(
            alert.rule,
            language,
            _facts(alert.values),
            zone,
            self.config.templates.get(alert.rule),  # type: ignore[call-overload]
        )
        return replace(
            alert, annotations={k: joined(v) for k, v in parts.items()}, annotation_parts=parts
        )

    # -- usage history and forecasts -----------------------------------------------

    async def record_usage_off_loop(
        self, account: str, assets: Sequence[Asset], at: datetime
    ) -> None:
        """:meth:`record_usage` in the evaluations' worker thread: in order with them, so
        the evaluation after a collection reads its samples."""
        await asyncio.get_running_loop().run_in_executor(
            self._pool(), self.record_usage, account, assets, at
        )

    def record_usage(self, account: str, assets: Sequence[Asset], at: datetime) -> None:
        samples = [
            (a.id, a.remaining_seconds)
            for a in assets
            if a.category == "hours" and a.remaining_seconds is not None
        ]
        if samples:
            self.store.record_usage(account, samples, at)

    def _forecasts(
        self, snapshot: Snapshot, account: str, now: datetime
    ) -> tuple[dict[str, Forecast], list[RuleFailure]]:
        state = snapshot.families.get((account, "services"))
        if state is None or state.last_success is None:
            return {}, []
        cfg, fcfg = self.config.rules.hours_depleting, self.config.forecast
        window = cfg.window_days * _DAY
        hours = [
            a for a in state.assets if a.category == "hours" and a.remaining_seconds is not None
        ]
        profiles = self._refit(account, hours, now) if fcfg.model == "weekly" else {}
        history = self.store.usage(account, now - timedelta(seconds=window)) if hours else {}
        zone = self._zones.get(account)
        out: dict[str, Forecast] = {}
        failures: list[RuleFailure] = []
        for n, asset in enumerate(hours):
            if n % _PAUSE_EVERY == 0:
                self._pause()
            try:
                runaway = self.rule_thresholds("runaway_burn", asset)
                fc = assess(
                    history.get(asset.id, []),
                    remaining=asset.remaining_seconds or 0.0,
                    now=now,
                    expires_at=asset.expires_at,
                    zone=zone or UTC,
                    window_seconds=window,
                    min_history_seconds=cfg.min_history_hours * 3600,
                    runaway=Runaway(runaway.factor or 3.0, (runaway.sustained_minutes or 30.0) * 60)
                    if runaway.enabled
                    else None,
                    weekly=profiles.get(asset.id) is not None,
                    profile=profiles.get(asset.id),
                )
                if fc is not None:
                    out[asset.id] = fc
            except Exception as exc:  # noqa: BLE001 - one asset must not stop the others
                failures.append(RuleFailure("forecast", account, asset.kind, asset.id, exc))
        with self._swap:
            self._forecasts_of.replace(account, {(account, k): v for k, v in out.items()})
        return out, failures

    def refit(self) -> None:
        """Fit the weekly profiles again at the next evaluation (after history was added)."""
        self._profiles.clear()

    def rule_thresholds(self, rule: str, asset: Asset) -> RuleThresholds:
        """``rule``'s effective thresholds for ``asset`` (overrides applied)."""
        return thresholds_for(
            self.config,
            rule,
            account=asset.account,
            kind=asset.kind,
            asset=asset.id,
            service_type=asset.type if asset.kind == "service" else None,
        )

    def _refit(
        self, account: str, assets: Sequence[Asset], now: datetime
    ) -> dict[str, WeeklyProfile | None]:
        """The account's weekly profiles, refitted once an hour from the long history
        (kept in memory in between; gone with the asset)."""
        t = now.timestamp()
        ids = {a.id for a in assets}
        for key in [k for k in self._profiles if k[0] == account and k[1] not in ids]:
            del self._profiles[key]
        stale = [
            a.id
            for a in assets
            if (got := self._profiles.get((account, a.id))) is None
            or not 0 <= t - got[0] < _REFIT_SECONDS
        ]
        if stale:
            days = min(self.config.forecast.profile_days, self.config.history_days)
            long = self.store.usage(account, now - timedelta(days=days))
            zone = self._zones.get(account) or UTC
            for asset_id in stale:
                try:
                    profile = fit_weekly(
                        long.get(asset_id, []),
                        now=t,
                        zone=zone,
                        history_seconds=days * _DAY,
                        recent_seconds=RECENT_SECONDS,
                    )
                except Exception:  # noqa: BLE001 - the line answers; the failure is counted
                    profile = None
                    self._count("forecast", now)
                self._profiles[(account, asset_id)] = (t, profile)
        return {a.id: self._profiles[(account, a.id)][1] for a in assets}

    # -- one cycle ------------------------------------------------------------------

    def evaluate(
        self,
        snapshot: Snapshot,
        account: str,
        now: datetime,
        families: Collection[Family] | None = None,
    ) -> CycleResult:
        """Raises ``sqlite3.Error`` when the state store fails; nothing is then changed,
        and the next evaluation simply tries again. Anything else that escapes the
        per-rule guards is counted (``evaluation``) and passed on for the caller to log.

        ``families``: evaluate only the rules over these families' assets (those a
        collection has just changed; the forecasts only with ``services``): the alerts
        of the others are kept as they are. ``None``: every family.
        """
        result = self._evaluate(snapshot, account, now, families)
        self._enqueued(result)
        return result

    async def evaluate_off_loop(
        self,
        snapshot: Snapshot,
        account: str,
        now: datetime,
        families: Collection[Family] | None = None,
    ) -> CycleResult:
        """:meth:`evaluate` run whole in a worker thread of its own (not the loop's default
        pool, where the renders of /metrics wait for a thread): the forecasts and their
        history, the rules, the store's reads and the transaction, so the loop serves
        scrapes meanwhile. Only waking the dispatcher is left to the loop. The caller runs
        one evaluation of an account at a time."""
        result = await asyncio.get_running_loop().run_in_executor(
            self._pool(), self._evaluate, snapshot, account, now, families
        )
        self._enqueued(result)
        return result

    def _pool(self) -> ThreadPoolExecutor:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="alert-rules")
        return self._worker

    def close(self) -> None:
        """Wait for the evaluation in the worker (if any) and end the worker thread."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    def _evaluate(
        self,
        snapshot: Snapshot,
        account: str,
        now: datetime,
        families: Collection[Family] | None = None,
    ) -> CycleResult:
        with self._counted(now):
            if not self._loaded:
                self._load()
            forecasts: dict[str, Forecast] = {}
            failed: list[RuleFailure] = []
            if families is None or "services" in families:
                forecasts, failed = self._forecasts(snapshot, account, now)
            evaluation = self._rules(snapshot, account, now, forecasts, families)
            self._pause()
            return self._finish(evaluation, failed, now)

    def _enqueued(self, result: CycleResult) -> None:
        """Wake the dispatcher for what an evaluation put in the outbox (on the loop)."""
        if result.notifications and self._on_enqueue is not None:
            self._on_enqueue()

    @contextlib.contextmanager
    def _counted(self, now: datetime) -> Iterator[None]:
        """An evaluation that fails as a whole is counted (``evaluation``) and passed on;
        a state store failure (``sqlite3.Error``) is passed on alone: the next one retries."""
        try:
            yield
        except sqlite3.Error:
            raise
        except Exception:
            self._count("evaluation", now)
            raise

    def _rules(
        self,
        snapshot: Snapshot,
        account: str,
        now: datetime,
        forecasts: Mapping[str, Forecast],
        families: Collection[Family] | None,
    ) -> Evaluation:
        return evaluate_account(
            snapshot,
            account,
            now,
            self.config,
            forecasts,
            started_at=self._started_at,
            pause=self._pause,
            families=families,
        )

    def _finish(
        self, evaluation: Evaluation, failed: Sequence[RuleFailure], now: datetime
    ) -> CycleResult:
        for failure in (*failed, *evaluation.failures):
            self._failed(failure, now)
        keep = evaluation.unevaluated() | {
            (rule, f.kind, f.asset) for f in failed for rule in _FORECAST_RULES
        }
        return self._apply(evaluation, now, keep)

    def _count(self, source: str, now: datetime) -> None:
        self.evaluation_errors[source] = self.evaluation_errors.get(source, 0) + 1
        self.last_evaluation_error_at = now

    def _failed(self, failure: RuleFailure, now: datetime) -> None:
        """Log and count one rule (or forecast, or message) that failed on one asset."""
        self._count(failure.rule, now)
        log.error(
            "alert.rule_failed",
            account=failure.account,
            rule=failure.rule,
            kind=failure.kind,
            asset=failure.asset,
            error=type(failure.error).__name__,
            exc_info=failure.error,
        )

    def _alert(
        self,
        finding: Finding,
        started: datetime,
        status: str = "firing",
        locale: Locale | None = None,
    ) -> Alert:
        language, zone = self._language_zone(finding.account, locale)
        parts = render_parts(
            finding.rule,
            language,
            finding.facts,
            zone,
            self.config.templates.get(finding.rule),  # type: ignore[call-overload]
        )
        labels = {
            "alertname": _ALERTNAMES[finding.rule],
            "severity": finding.severity,
            "rule": finding.rule,
            "account": finding.account,
            "kind": finding.kind,
            "asset": finding.asset,
            **finding.labels,
        }
        tenancy = self.tenancy.get(finding.account)
        if tenancy is not None:  # the account's labels (tenant…), for routing downstream
            labels.update({k: v for k, v in tenancy.labels.items() if k not in labels})
        values = {k: _json_value(v) for k, v in finding.facts.items()}
        return Alert(
            rule=finding.rule,
            account=finding.account,
            kind=finding.kind,
            asset=finding.asset,
            severity=finding.severity,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            starts_at=started,
            labels=labels,
            annotations={k: joined(v) for k, v in parts.items()},
            values=values,
            annotation_parts=parts,
        )

    def _classify(
        self,
        ev: Evaluation,
        rows: Mapping[str, AlertRow],
        now: datetime,
        keep: frozenset[tuple[str, str, str]] = frozenset(),
    ) -> _Changes:
        """``keep``: (rule, kind, asset) that could not be evaluated: left as they are."""
        repeat = timedelta(seconds=self.config.repeat_interval_seconds)
        changes = _Changes()
        seen: set[str] = set()
        for finding in ev.findings:
            row = rows.get(_fp(finding))
            try:
                alert = self._alert(finding, row.started_at if row else now)
            except Exception as exc:  # noqa: BLE001 - e.g. a date the zone cannot show
                f = finding
                self._failed(RuleFailure(f.rule, f.account, f.kind, f.asset, exc), now)
                if row is not None:
                    seen.add(row.fingerprint)
                    changes.frozen.append(row.alert)
                continue
            fp = _afp(alert)
            seen.add(fp)
            changes.localised[fp] = partial(self._alert, finding, alert.starts_at, "firing")
            if row is None:
                changes.fired.append(alert)
            elif (
                SEVERITY_ORDER[alert.severity]
                > SEVERITY_ORDER[row.notified_severity or row.alert.severity]
            ):
                changes.escalated.append(alert)
            elif row.last_notified_at is None or now - row.last_notified_at >= repeat:
                changes.repeated.append(alert)
            else:
                changes.quiet.append((alert, row))
        for fp, row in rows.items():
            if fp in seen:
                continue
            a = row.alert
            if a.kind not in ev.scopes or (a.rule, a.kind, a.asset) in keep:
                changes.frozen.append(a)  # its data is stale/absent, or unevaluated: leave it
                continue
            try:
                changes.resolved.append(self._resolved(a, ev, now))
                changes.localised[fp] = partial(self._resolved, a, ev, now)
            except Exception as exc:  # noqa: BLE001 - as above
                self._failed(RuleFailure(a.rule, a.account, a.kind, a.asset, exc), now)
                changes.frozen.append(a)
        return changes

    def _apply(
        self, ev: Evaluation, now: datetime, keep: frozenset[tuple[str, str, str]] = frozenset()
    ) -> CycleResult:
        # the alerts of kinds not looked at stay as they are, in ``firing`` (as stored)
        rows = {
            r.fingerprint: r for r in self.store.alerts(ev.account, status="firing", kinds=ev.kinds)
        }
        changes = self._classify(ev, rows, now, keep)
        fired, escalated, repeated = changes.fired, changes.escalated, changes.repeated
        quiet, resolved = changes.quiet, changes.resolved
        notifications = self._notifications(ev.account, now, changes)
        rewritten = [  # a row that would be written as it is, is not
            (alert, row, stored)
            for alert, row in quiet
            if (stored := alert_to_json(alert)) != row.stored or row.resolved_at is not None
        ]
        if fired or escalated or repeated or rewritten or resolved or notifications:
            with self.store.transaction() as db:
                self._write_changes(
                    db, changes, rows, rewritten=rewritten, notifications=notifications, now=now
                )

        with self._swap:
            kinds, before = ev.kinds, self._firing_of.of(ev.account).items()
            firing = {} if kinds is None else {k: v for k, v in before if v.kind not in kinds}
            firing.update({_afp(a): a for a in (*fired, *escalated, *repeated)})
            firing.update({row.fingerprint: a for a, row in quiet})
            firing.update({_afp(a): a for a in changes.frozen})
            self._firing_of.replace(ev.account, firing)
        for alert in fired:
            log.info("alert.firing", **_log_fields(alert))
        for alert in escalated:
            log.info("alert.escalated", **_log_fields(alert))
        for alert in resolved:
            log.info("alert.resolved", reason=alert.resolve_reason, **_log_fields(alert))
        return CycleResult(
            tuple(fired),
            tuple(escalated),
            tuple(repeated),
            tuple(resolved),
            tuple(n for n, _ in notifications),
        )

    def _write_changes(
        self,
        db: sqlite3.Connection,
        changes: _Changes,
        rows: Mapping[str, AlertRow],
        *,
        rewritten: Iterable[tuple[Alert, AlertRow, str]],
        notifications: Iterable[tuple[Notification, str | None]],
        now: datetime,
    ) -> None:
        """In the caller's transaction: the alerts notified now, the quiet ones whose
        row changed (``rewritten``: with their JSON), the resolved, the notifications."""
        for alert in (*changes.fired, *changes.escalated, *changes.repeated):
            fp = _afp(alert)
            row = rows.get(fp)
            self.store.upsert_alert(
                db,
                alert,
                started_at=row.started_at if row else now,
                last_notified_at=now,
                notified_severity=alert.severity,
                fingerprint=fp,
            )
        for alert, row, stored in rewritten:
            self.store.upsert_alert(
                db,
                alert,
                started_at=row.started_at,
                last_notified_at=row.last_notified_at,
                notified_severity=row.notified_severity,
                stored=stored,
                fingerprint=row.fingerprint,
            )
        self._write_resolved(db, changes.resolved, notifications, now)

    def _resolved(
        self, alert: Alert, ev: Evaluation, now: datetime, locale: Locale | None = None
    ) -> Alert:
        asset = ev.assets.get((alert.kind, alert.asset))
        if asset is None and alert.kind == "service":
            asset = _successor(alert, ev)
        reason = _resolve_reason(alert, asset)
        language, zone = self._language_zone(alert.account, locale)
        source = alert if locale is None else self._relocalised(alert, language, zone)
        parts = render_resolved_parts(
            source, reason=reason, asset=asset, language=language, zone=zone, now=now
        )
        values = dict(alert.values)
        if asset is not None:
            values.update(
                expires_at=_json_value(asset.expires_at),
                remaining_seconds=asset.remaining_seconds,
                quota_remaining=asset.quota_remaining,
            )
        return replace(
            alert,
            status="resolved",
            ends_at=now,
            resolve_reason=reason,
            annotations={k: joined(v) for k, v in parts.items()},
            values=values,
            annotation_parts=parts,
        )

    def _write_resolved(
        self,
        db: sqlite3.Connection,
        resolved: Iterable[Alert],
        notifications: Iterable[tuple[Notification, str | None]],
        now: datetime,
    ) -> None:
        """In the caller's transaction: the resolved alerts as notified now, and the
        notifications into the outbox."""
        for alert in resolved:
            self.store.upsert_alert(
                db,
                alert,
                started_at=alert.starts_at,
                last_notified_at=now,
                notified_severity=alert.severity,
                resolved_at=now,
            )
        for notification, key in notifications:
            self.store.enqueue(db, notification, now, coalesce_key=key)

    def _notifications(
        self, account: str, now: datetime, changes: _Changes
    ) -> list[tuple[Notification, str | None]]:
        """One grouped notification per channel for what fired, one for what resolved."""
        out: list[tuple[Notification, str | None]] = []
        firing = [*changes.fired, *changes.escalated, *changes.repeated]
        reason: NotificationReason = (
            "firing" if changes.fired else ("escalated" if changes.escalated else "repeat")
        )
        changed = bool(changes.fired or changes.escalated or changes.resolved)
        tenancy = self.tenancy.get(account, Tenancy())
        for channel in self.channels:
            cfg = self.routes.get(channel.name)
            if channel.kind == "alertmanager":
                out.extend(self._alertmanager_push(channel, account, now, changes, changed=changed))
                continue
            locale = None if cfg is None else locale_for(cfg, self.config.language, tenancy)
            pairs: tuple[tuple[list[Alert], NotificationReason], ...] = (
                (firing, reason),
                (changes.resolved, "resolved"),
            )
            for alerts, why in pairs:
                routed = [a for a in alerts if cfg is None or takes(cfg, a, tenancy)]
                if not routed:
                    continue
                candidate = Notification(
                    id=str(uuid.uuid4()),
                    channel=channel.name,
                    reason=why,
                    created_at=now,
                    alerts=tuple(self._localise(routed, locale, changes)),
                    language=(locale.language if locale else self.config.language),
                    timezone=locale.zone_name if locale else None,
                )
                selected = channel.select(candidate)
                if selected is not None:
                    out.append((selected, None))
        return out

    def _alertmanager_push(
        self, channel: Channel, account: str, now: datetime, changes: _Changes, *, changed: bool
    ) -> list[tuple[Notification, str | None]]:
        """Alertmanager wants the whole state re-sent while firing (its resolve_timeout),
        and a resolution re-sent for a while (Prometheus' recipe)."""
        key = (channel.name, account)
        interval = timedelta(seconds=self._resend.get(channel.name, 300.0))
        last = self._am_last_push.get(key)
        if not changed and last is not None and now - last < interval:
            return []
        self._am_last_push[key] = now
        cfg = self.routes.get(channel.name)
        tenancy = self.tenancy.get(account, Tenancy())
        firing = {a.fingerprint: a for a in changes.all_firing()}
        resolved = {a.fingerprint: a for a in changes.resolved}
        for row in self.store.alerts(account, status="resolved"):
            if row.resolved_at is not None and now - row.resolved_at <= _AM_RESOLVED_RESEND:
                resolved.setdefault(row.fingerprint, row.alert)
        if cfg is not None and cfg.routed:
            firing = {k: a for k, a in firing.items() if takes(cfg, a, tenancy)}
            resolved = {k: a for k, a in resolved.items() if takes(cfg, a, tenancy)}
        if not firing and not resolved:
            return []
        candidate = Notification(
            id=str(uuid.uuid4()),
            channel=channel.name,
            reason="repeat",
            created_at=now,
            alerts=(*firing.values(), *resolved.values()),
            language=self.config.language,
        )
        selected = channel.select(candidate)
        if selected is None:
            return []
        return [(selected, f"alertmanager:{channel.name}:{account}")]

    def _localise(
        self, alerts: Sequence[Alert], locale: Locale | None, changes: _Changes
    ) -> list[Alert]:
        """``alerts`` in ``locale`` (as they are without one, or where it is theirs)."""
        if locale is None or (locale.language == self.config.language and locale.zone is None):
            return list(alerts)
        out = []
        for alert in alerts:
            render = changes.localised.get(alert.fingerprint)
            try:
                out.append(alert if render is None else render(locale))
            except Exception:  # a text that fails in one locale falls back to the default
                log.exception("alert.localise_failed", **_log_fields(alert))
                out.append(alert)
        return out


_TIME_FACTS = ("expires_at", "depletion_at", "since")


def _facts(values: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of a finding back from an alert's JSON ``values``."""
    facts: dict[str, Any] = dict(values)
    for key in _TIME_FACTS:
        raw = facts.get(key)
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                facts[key] = datetime.fromisoformat(raw)
    families = facts.get("families")
    if isinstance(families, str):
        facts["families"] = families.split(", ") if families else []
    return facts


#: fingerprints by (rule, account, kind, asset): every evaluation asks for those of every
#: firing alert several times, each a SHA-256; bounded (least recently used dropped)
_fingerprint = lru_cache(maxsize=50_000)(alert_fingerprint)


def _fp(finding: Finding) -> str:
    return _fingerprint(finding.rule, finding.account, finding.kind, finding.asset)


def _afp(alert: Alert) -> str:
    """``alert.fingerprint``, memoised."""
    return _fingerprint(alert.rule, alert.account, alert.kind, alert.asset)


def _later(new: datetime | None, old: object) -> bool:
    """Whether the expiry moved later (or went away: never expires now)."""
    if new is None:
        return True
    return isinstance(old, str) and new > datetime.fromisoformat(old)


def _successor(alert: Alert, ev: Evaluation) -> Asset | None:
    """The package that replaced a vanished one: same account and ServiceType, a later
    expiry. Service packages have no id upstream (ours embeds the expiry), so a renewal
    looks like one package going and another coming."""
    old = alert.values.get("expires_at")
    if not isinstance(old, str):
        return None
    before = datetime.fromisoformat(old)
    service_type = alert.labels.get("service_type")
    later = [
        a
        for (kind, _), a in ev.assets.items()
        if kind == "service"
        and a.type == service_type
        and a.expires_at is not None
        and a.expires_at > before
    ]
    return min(later, key=lambda a: a.expires_at or before) if later else None


def _resolve_reason(alert: Alert, asset: Asset | None) -> str:
    """renewed / topped_up / gone / recovered: what users want to read first."""
    if alert.rule == "collection_failing":
        return "recovered"
    if asset is None:
        return "gone"
    if alert.rule == "expiry_unknown":
        return "expiry_known"
    if asset.expiry_unknown:
        return "expiry_unknown"  # not renewed: the date is no longer given
    old = alert.values
    before = old.get("remaining_seconds")
    reason = "recovered"
    if (
        alert.rule in ("hours_low", "hours_depleting", "unused_at_expiry", "runaway_burn")
        and isinstance(before, int | float)
        and asset.remaining_seconds is not None
        and asset.remaining_seconds > before
    ) or (alert.rule == "quota_exhausted" and (asset.quota_remaining or 0) > 0):
        reason = "topped_up"
    elif _later(asset.expires_at, old.get("expires_at")) and alert.rule != "quota_exhausted":
        reason = "renewed"
    return reason


def _log_fields(alert: Alert) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "severity": alert.severity,
        "account": alert.account,
        "kind": alert.kind,
        "asset": alert.asset,
        "fingerprint": alert.fingerprint,
    }
