"""The long-running daemon: scheduled collection into the snapshot.

One APScheduler job per account and family, each on its own interval, first
run at start (spread by jitter), never overlapping itself, misfires
coalesced. A job never lets an exception escape into the scheduler: it logs,
marks its family failed and keeps the last good data.

Daily digests are checked every half minute (``digests``) against the
injected clock. :meth:`Daemon.reload` swaps in a new configuration (SIGHUP,
``POST /-/reload``): validated whole first, refused whole if bad (the running
one stays), else applied in place: alert state, the outbox and usage history
stay; a removed account's alerts resolve once; an added account is collected
at once; jobs are re-planned.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import sqlite3
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import Gauge, GCCollector, PlatformCollector, ProcessCollector

from monitor.alerts.channels import build_channel
from monitor.alerts.channels.base import Channel
from monitor.alerts.channels.config import ChannelConfig
from monitor.alerts.config import AlertsConfig
from monitor.alerts.digest import AccountDigest, build_digest, digest_day
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.engine import AlertEngine
from monitor.alerts.matching import fits
from monitor.alerts.routing import Tenancy, routes_account
from monitor.alerts.store import StateStore
from monitor.client import IVHClient, default_tls_context
from monitor.config import Account, Settings
from monitor.derive import is_3d
from monitor.domain import FAMILIES, Asset, Family, FamilyResult
from monitor.endpoints import ENDPOINT_NAMES
from monitor.errors import ConfigError, UpstreamError
from monitor.exposition import (
    AlertCollector,
    AssetCollector,
    DaemonMetrics,
    ExpositionRegistry,
    Prerenderer,
)
from monitor.fetch import collect_family
from monitor.precedence import Precedence
from monitor.snapshot import FamilyState, SnapshotStore

__all__ = ["Daemon"]

log = structlog.get_logger("monitor.daemon")

#: how long the first actions run waits for the first images run
_ACTIONS_WAIT_SECONDS = 600.0
#: how long a job waits for the exposition's render of its landing (a few ms to a
#: few hundred at 50k assets); past it the job ends and a scrape renders for itself
_PRERENDER_WAIT_SECONDS = 30.0
#: how often due digests are looked for
_DIGEST_CHECK_SECONDS = 30.0
#: settings a reload cannot change (the listening socket, the state file, logging)
_RESTART_ONLY = (
    "listen",
    "web_config_file",
    "http",
    "state_dir",
    "shard",
    "collectors",
    "log_level",
    "log_format",
)
#: a reload's errors shown (metrics page, API answer) at most
_MAX_RELOAD_ERRORS = 50
#: how long a thread holds the GIL while another waits for it (Python's default: 5 ms).
#: The event loop releases it on every socket call; with the alert evaluation and the
#: /metrics renders busy in their threads, each release cost the loop up to 5 ms to
#: get it back (a convoy: seconds per collection cycle), which stalled scrapes
_SWITCH_INTERVAL_SECONDS = 0.0005
#: Python's cyclic garbage collector stops every thread while it walks what it tracks;
#: a full (generation 2) collection walked the whole heap, 100k-150k objects at 10k
#: assets, in up to 200-300 ms of the loop's CPU on a busy machine: the longest loop
#: callbacks were these. About 75k of those objects are alive once the daemon is set up
#: (modules, types, models, the metric registry) and stay so: frozen at start, a full
#: collection never walks them again (they are still freed when no longer referenced)
_gc_frozen = False
#: full collections after this many of generation 1 (Python's default: 10): each walks
#: every tracked object the cycle has made (80-150 ms of the loop at 10k assets and 100
#: accounts); with no cyclic garbage from the request path (see IVHClient.call) little
#: waits for them
_GEN2_THRESHOLD = 100


def _freeze_setup() -> None:
    """Freeze what is alive after set-up, once a process (garbage collected first)."""
    global _gc_frozen  # noqa: PLW0603 - once per process, like the switch interval
    if not _gc_frozen:
        gc.collect()
        gc.freeze()
        gen0, gen1, _ = gc.get_threshold()
        gc.set_threshold(gen0, gen1, _GEN2_THRESHOLD)
        _gc_frozen = True


#: what a reload reads: the settings and the accounts of this replica
Loader = Callable[[], tuple[Settings, list[Account]]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _JobCrashedError(UpstreamError):
    kind = "internal"


def tenancy_of(account: Account) -> Tenancy:
    """What routing and message rendering know of an account."""
    return Tenancy(account.labels, account.language, account.message_zone)


def _resend(alerts: AlertsConfig) -> dict[str, float]:
    return {c.name: c.resend_interval_seconds for c in alerts.channels if c.type == "alertmanager"}


class ReloadStatus:
    """The last reload, for metrics, the status page and ``POST /-/reload``."""

    def __init__(self, at: datetime) -> None:
        self.ok = True
        #: the last successful load (the start counts as one)
        self.success_at = at
        self.attempted_at: datetime | None = None
        self.errors: tuple[str, ...] = ()
        self.reloads = 0
        self.failures = 0


class Daemon:
    """Owns the clients, the snapshot store, the scheduler and the registry."""

    def __init__(
        self,
        settings: Settings,
        accounts: Sequence[Account],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        channel_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
        loader: Loader | None = None,
        on_secrets: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.accounts = list(accounts)
        self.clock = clock
        self._loader = loader
        self._on_secrets = on_secrets
        self._transport = transport
        self._channel_transport = channel_transport
        self._reload_lock = asyncio.Lock()
        names = [a.name for a in self.accounts]
        schedule = settings.schedule
        #: the families collected (``collectors``); the others are off, not failing
        self.families = settings.collectors.enabled()
        self.store = SnapshotStore(
            names,
            {f: schedule.interval(f) for f in FAMILIES},
            settings.stale_after_seconds,
            enabled=self.families,
        )
        #: a scrape being served: the collection, the evaluations and the prerenders
        #: step aside for it where they can pause (bounded: monitor.precedence)
        self.precedence = Precedence()
        self._assets = AssetCollector(
            self.store,
            schedule,
            clock=clock,
            account_labels={a.name: a.labels for a in self.accounts},
            expose_relative_metrics=settings.expose_relative_metrics,
            pause=self.precedence.step_aside,
        )
        self.registry = ExpositionRegistry(self._assets)
        # the process_*, python_info and python_gc_* series every client library exports
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        alerts = settings.effective_alerts()
        self.metrics = DaemonMetrics(self.registry, names, [c.name for c in alerts.channels])
        self.reload_status = ReloadStatus(clock())
        self._reload_ok = Gauge(
            "ivh_config_last_reload_successful",
            "Whether the last configuration reload (SIGHUP, POST /-/reload) succeeded;"
            " 0: the new one was refused and the previous one runs on.",
            registry=self.registry,
        )
        self._reload_at = Gauge(
            "ivh_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (the start counts).",
            registry=self.registry,
        )
        self._reload_ok.set(1)
        self._reload_at.set(self.reload_status.success_at.timestamp())
        # one TLS context and one bound on requests in flight across every account's
        # client, as shared_clients makes them, kept for the clients a reload adds
        self._ssl = default_tls_context()
        self._in_flight = asyncio.Semaphore(settings.client.max_in_flight_total)
        self.clients = {a.name: self._client(a) for a in self.accounts}
        # A state dir that cannot be written disables alerting, not the daemon:
        # collection and /metrics go on, and the store retries opening.
        self.state = StateStore(
            settings.effective_state_dir() / "state.sqlite3",
            max_bytes=int(alerts.state_max_mb * 1024 * 1024),
        )
        with contextlib.suppress(sqlite3.Error):
            self.state.open()
        self._channel_configs: dict[str, ChannelConfig] = {c.name: c for c in alerts.channels}
        self.channels: list[Channel] = [
            build_channel(c, transport=channel_transport) for c in alerts.channels
        ]
        self.dispatcher = Dispatcher(
            self.state,
            {c.name: c for c in self.channels},
            alerts.delivery,
            clock=clock,
            on_outcome=lambda channel, outcome: self.metrics.notifications.labels(
                channel, outcome
            ).inc(),
        )
        self.engine = AlertEngine(
            alerts,
            self.state,
            self.channels,
            zones={a.name: a.zone for a in self.accounts},
            started_at=clock(),
            on_enqueue=self.dispatcher.wake,
            resend_intervals=_resend(alerts),
            routes=self._channel_configs,
            tenancy={a.name: tenancy_of(a) for a in self.accounts},
            pause=self.precedence.step_aside,
        )
        self.registry.register(
            AlertCollector(self.store, self.engine, self.dispatcher, clock=clock)
        )
        #: renders what a landing family changed of /metrics, off the loop, so a
        #: scrape assembles cached lines and never waits for a render in progress
        self._prerender = Prerenderer(self.registry.prerender)
        self._dispatch_task: asyncio.Task[None] | None = None
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: dict[asyncio.Task[object], str] = {}
        self._images_done: dict[str, asyncio.Event] = {}
        self._stopping = False
        #: closes of clients and channels replaced by a reload, once their work is done
        self._closing: set[asyncio.Task[None]] = set()
        self._evaluating: dict[str, asyncio.Lock] = {}
        #: accounts with an evaluation waiting for the one in progress: the families
        #: it is to evaluate
        self._queued: dict[str, set[Family]] = {}
        #: when each (account, family)'s rules were last evaluated
        self._evaluated_at: dict[tuple[str, Family], datetime] = {}

    def _client(self, account: Account) -> IVHClient:
        return IVHClient(
            account,
            self.settings.client,
            transport=self._transport,
            observer=self.metrics.observer(account.name),
            ssl_context=self._ssl,
            in_flight=self._in_flight,
            pause=self.precedence.step_aside,
        )

    # -- jobs -------------------------------------------------------------------

    async def run_family(self, account: str, family: Family) -> FamilyState:
        """Collect one family of one account into the snapshot (a job's body)."""
        task = asyncio.current_task()
        if task is not None:
            self._running[task] = account  # until its alerts are evaluated: stop() cancels both
        try:
            result = await self._collect(account, family)
            now = self.clock()
            if (account, family) not in self.store.current.families:
                # removed by a reload while it ran: its result has nowhere to go
                return FamilyState(account, family, self.settings.schedule.interval(family))
            self.precedence.step_aside()
            state = self.store.apply(result, now)
            rendered = asyncio.wrap_future(self._prerender.changed((account, family)))
            skew = self.clients[account].clock_skew_seconds
            if skew is not None:
                self.metrics.clock_skew.labels(account).set(skew)
            if not result.ok:
                kind = result.error.kind if result.error is not None else "error"
                self.metrics.collection_errors.labels(account, family, kind).inc()
            if family == "images":
                self._event(account).set()
            await self._alerts(account, family, result, now)
            try:  # bounded: should the renderer stall, a scrape renders for itself
                await asyncio.wait_for(rendered, _PRERENDER_WAIT_SECONDS)
            except TimeoutError:
                log.warning(
                    "exposition.prerender_late",
                    account=account,
                    family=family,
                    waited_s=_PRERENDER_WAIT_SECONDS,
                )
        finally:
            if task is not None:
                self._running.pop(task, None)
        return state

    async def _scheduled(self, account: str, family: Family) -> None:
        """A scheduled run of :meth:`run_family`. One that :meth:`stop` cancels ends
        quietly: a shutdown is no error (the scheduler would log a traceback), and
        the family keeps its last data."""
        try:
            await self.run_family(account, family)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            log.info("collect.cancelled", account=account, family=family, reason="shutdown")

    async def _alerts(
        self, account: str, family: Family, result: FamilyResult, now: datetime
    ) -> None:
        """Evaluate the account's rules over what a collection changed: the rules of that
        family's assets (``actions`` feed none of them) and the account's own
        (``collection_failing``), with those of any family not evaluated for as long as
        the account's most frequent family's interval (:meth:`_due_by_time`); the alerts
        of its other families stay as their last evaluation left them. The whole
        evaluation (and recording the usage samples) runs in the engine's worker thread
        (the loop goes on serving scrapes), one evaluation of an account at a time (an
        older one never lands after a newer one), on the latest snapshot. While one
        runs, the next collections of the account queue one evaluation between them, of
        all their families: it reads the snapshot when its turn comes, with all their
        data in it."""
        try:
            if family == "services" and result.ok:
                await self.engine.record_usage_off_loop(account, result.assets, now)
            queued = self._queued.get(account)
            if queued is not None:
                queued.add(family)  # the queued evaluation will see this collection's data
                return
            lock = self._evaluating.setdefault(account, asyncio.Lock())
            waited = lock.locked()
            pending = self._queued[account] = {family}
            try:
                async with lock:
                    self._unqueue(account, pending)  # what lands from now on queues anew
                    at = self.clock() if waited else now
                    families = frozenset(pending | self._due_by_time(account, at))
                    await self.engine.evaluate_off_loop(self.store.current, account, at, families)
                    self._evaluated_at.update({(account, f): at for f in families})
            finally:
                self._unqueue(account, pending)
        except sqlite3.Error:
            pass  # logged once by the store (state.unavailable); retried next cycle
        except Exception:  # alerting trouble must not stop collection
            log.exception("alert.evaluation_failed", account=account, family=family)

    def _due_by_time(self, account: str, now: datetime) -> set[Family]:
        """The account's families whose rules were last evaluated at least as long ago as
        its most frequent family's interval: what time alone changes (days left, an
        expiry passed) is noticed as soon as before, however seldom a family lands."""
        families = self.store.current.families
        mine = [f for f in FAMILIES if (account, f) in families]
        if not mine:
            return set()
        every = min(self.settings.schedule.interval(f) for f in mine)
        return {
            f
            for f in mine
            if (last := self._evaluated_at.get((account, f))) is None
            or (now - last).total_seconds() >= every
        }

    def _unqueue(self, account: str, pending: set[Family]) -> None:
        """Take ``pending`` out of the queue, if it is still the account's queued one."""
        if self._queued.get(account) is pending:
            del self._queued[account]

    async def housekeeping(self) -> None:
        """Bound the state store: old usage history, finished notifications, resolved alerts.

        A coroutine on purpose: APScheduler would run a plain function in a thread pool
        of its own; the store is used from the loop and the engine's worker only.
        """
        now = self.clock()
        alerts = self.engine.config
        try:
            self.state.prune_usage(now - timedelta(days=alerts.history_days))
            self.state.prune_outbox(now - timedelta(days=alerts.delivery.keep_days))
            self.state.forget_resolved(now - timedelta(days=1))
        except sqlite3.Error:
            pass  # logged once by the store; housekeeping runs again in an hour

    async def _collect(self, account: str, family: Family) -> FamilyResult:
        client = self.clients[account]
        deadline = self.settings.job_deadline(family)
        try:
            if family == "actions":
                keys = await self._3d_images(account)
                return await collect_family(client, "actions", image_keys=keys, deadline=deadline)
            return await collect_family(
                client,
                family,
                type_codes=self.settings.client.virtualman_type_codes,
                deadline=deadline,
            )
        except Exception as exc:
            log.exception("collect.crashed", account=account, family=family)
            error = _JobCrashedError(
                f"{type(exc).__name__} in collection", account=account, endpoint=family
            )
            return FamilyResult(account, family, error=error)

    async def _3d_images(self, account: str) -> list[str]:
        event = self._event(account)
        if not event.is_set():
            # the first actions run needs the first images run's keys
            try:
                await asyncio.wait_for(event.wait(), _ACTIONS_WAIT_SECONDS)
            except TimeoutError:
                return []
        state = self.store.current.families[(account, "images")]
        return sorted(a.id for a in state.assets if is_3d(a.type))

    def _event(self, account: str) -> asyncio.Event:
        return self._images_done.setdefault(account, asyncio.Event())

    # -- daily digests ----------------------------------------------------------------

    def digest_accounts(self, cfg: ChannelConfig) -> list[Account]:
        """The accounts a channel's digest lists: those its route takes."""
        return [a for a in self.accounts if routes_account(cfg, a.name, tenancy_of(a))]

    def digest_locale(
        self, cfg: ChannelConfig, accounts: Sequence[Account]
    ) -> tuple[str, ZoneInfo]:
        """Language and zone of a channel's digest: the channel's own, else (routed) the
        one its accounts share, else ``alerts.language`` and the channel's zone."""
        routed = cfg.routed
        languages = {a.language for a in accounts}
        zones = {a.message_zone for a in accounts}
        language = cfg.language or (
            languages.pop() if routed and len(languages) == 1 and None not in languages else None
        )
        zone: ZoneInfo | None = None
        if cfg.digest is not None and cfg.digest.timezone is not None:
            zone = ZoneInfo(cfg.digest.timezone)
        elif "timezone" in cfg.model_fields_set:
            zone = ZoneInfo(cfg.timezone)
        elif routed and len(zones) == 1 and None not in zones:
            zone = zones.pop()
        return language or self.engine.config.language, zone or ZoneInfo(cfg.timezone)

    def _digest_assets(
        self, cfg: ChannelConfig, account: str, assets: Sequence[Asset]
    ) -> list[Asset]:
        match = cfg.match
        if match is None:
            return list(assets)
        return [
            a
            for a in assets
            if fits(match, account, a.kind, a.type if a.kind == "service" else "", a.id)
        ]

    async def digests(self) -> int:
        """Enqueue every digest that is due and not yet made (a job's body, every 30 s);
        returns how many were enqueued. A channel waits until each of its accounts'
        services have been collected once since start, so a digest after a restart
        does not say "no data"."""
        now = self.clock()
        snapshot = self.store.current
        made = 0
        for cfg in list(self._channel_configs.values()):
            if cfg.digest is None:
                continue
            accounts = self.digest_accounts(cfg)
            language, zone = self.digest_locale(cfg, accounts)
            day = digest_day(cfg.digest, zone, now)
            if day is None or not accounts:
                continue
            states = [snapshot.families.get((a.name, "services")) for a in accounts]
            if any(s is None or not s.attempted for s in states):
                continue
            usable = snapshot.assets(now)
            forecasts = self.engine.forecasts
            blocks = [
                AccountDigest(
                    name=a.name,
                    assets=self._digest_assets(
                        cfg, a.name, [x for x in usable if x.account == a.name]
                    ),
                    forecasts={k[1]: f for k, f in forecasts.items() if k[0] == a.name},
                    collected=any(
                        (st := snapshot.families.get((a.name, f))) is not None
                        and st.last_success is not None
                        for f in FAMILIES
                    ),
                )
                for a in accounts
            ]
            notification = build_digest(
                cfg.name,
                day,
                blocks,
                now=now,
                within_days=cfg.digest.within_days,
                language=language,
                zone=zone,
                forget_after_days=self.engine.config.rules.expired.forget_after_days,
            )
            try:
                fresh = self.state.enqueue_once(notification, now)
            except sqlite3.Error:
                continue  # logged once by the store; the next check tries again
            if fresh:
                made += 1
                log.info(
                    "digest.enqueued",
                    channel=cfg.name,
                    day=day.isoformat(),
                    accounts=len(accounts),
                    notification_id=notification.id,
                )
        if made:
            self.dispatcher.wake()
        return made

    # -- reload ---------------------------------------------------------------------

    async def reload(self) -> tuple[bool, list[str]]:
        """Load the configuration again and apply it; a bad one is refused whole (errors
        logged, ``ivh_config_last_reload_successful`` 0) and the running one stays.
        Returns (applied, errors)."""
        async with self._reload_lock:
            status = self.reload_status
            status.attempted_at = self.clock()
            status.reloads += 1
            errors: list[str] = []
            if self._loader is None:
                errors = ["reload: this daemon was started without a configuration to reload"]
            else:
                try:
                    settings, accounts = await asyncio.to_thread(self._loader)
                    alerts = settings.effective_alerts()
                    channels = {
                        c.name: c for c in alerts.channels if self._channel_configs.get(c.name) != c
                    }
                    built = {
                        name: build_channel(c, transport=self._channel_transport)
                        for name, c in channels.items()
                    }
                except ConfigError as exc:
                    errors = list(exc.problems)
                except Exception as exc:  # a reload must never take the daemon down
                    errors = [f"reload: unexpected {type(exc).__name__} while loading"]
                    log.exception("config.reload_crashed")
            if errors:
                status.ok = False
                status.failures += 1
                status.errors = tuple(errors[:_MAX_RELOAD_ERRORS])
                self._reload_ok.set(0)
                log.error("config.reload_failed", errors=list(status.errors))
                return False, list(status.errors)
            self._apply(settings, accounts, alerts, built)
            status.ok = True
            status.errors = ()
            status.success_at = self.clock()
            self._reload_ok.set(1)
            self._reload_at.set(status.success_at.timestamp())
            return True, []

    def _apply(
        self,
        settings: Settings,
        accounts: list[Account],
        alerts: AlertsConfig,
        built: Mapping[str, Channel],
    ) -> None:
        restart = [k for k in _RESTART_ONLY if getattr(settings, k) != getattr(self.settings, k)]
        if restart:
            log.warning("config.reload_restart_required", settings=restart)
        old = {a.name: a for a in self.accounts}
        new = {a.name: a for a in accounts}
        removed = [n for n in old if n not in new]
        added = [n for n in new if n not in old]
        changed = [n for n in new if n in old and new[n] != old[n]]
        schedule_changed = settings.schedule != self.settings.schedule
        self.settings = settings
        self.accounts = list(accounts)
        self._apply_channels(alerts, built)
        self._apply_accounts(new, removed, added, changed, schedule_changed=schedule_changed)
        if self._on_secrets is not None:
            secrets = [a.access_token.get_secret_value() for a in accounts]
            for c in alerts.channels:
                secrets.extend(c.secret_values())
            self._on_secrets(secrets)
        log.info(
            "config.reloaded",
            accounts=len(accounts),
            added=added,
            removed=removed,
            changed=changed,
            channels=[c.name for c in alerts.channels],
            channels_changed=sorted(built),
            rescheduled=schedule_changed,
        )

    def _apply_channels(self, alerts: AlertsConfig, built: Mapping[str, Channel]) -> None:
        """Channels whose settings did not change are kept (with what they remember of
        split messages); a replaced or removed one is closed once its send is done."""
        names = [c.name for c in alerts.channels]
        current = {c.name: c for c in self.channels}
        for name, channel in current.items():
            if name in built or name not in names:
                self._close_later(channel.aclose(), self._channel_configs[name].timeout_seconds)
        self.channels = [built.get(name) or current[name] for name in names]
        self._channel_configs = {c.name: c for c in alerts.channels}
        for name in names:
            for outcome in ("delivered", "retry", "permanent", "dead"):
                self.metrics.notifications.labels(name, outcome)
        self.dispatcher.reconfigure({c.name: c for c in self.channels}, alerts.delivery)
        self.engine.reconfigure(
            alerts,
            self.channels,
            zones={a.name: a.zone for a in self.accounts},
            routes=self._channel_configs,
            tenancy={a.name: tenancy_of(a) for a in self.accounts},
            resend_intervals=_resend(alerts),
        )

    def _apply_accounts(
        self,
        new: Mapping[str, Account],
        removed: Sequence[str],
        added: Sequence[str],
        changed: Sequence[str],
        *,
        schedule_changed: bool,
    ) -> None:
        """Clients, the snapshot, ``ivh_account_info``, the jobs; a removed account's
        alerts resolve once, an added one is collected at once."""
        settings = self.settings
        # a changed account's collection in flight ends on its old client, within the
        # job's deadline; the next run takes the new one
        grace = max(settings.job_deadline(f) for f in FAMILIES)
        for name in changed:
            self._close_later(self.clients.pop(name).aclose(), grace)
        for name in [*added, *changed]:
            self.clients[name] = self._client(new[name])
            for endpoint in ENDPOINT_NAMES:
                self.metrics.api_requests.labels(name, endpoint, "success")
        self.store.reconfigure(
            list(new),
            {f: settings.schedule.interval(f) for f in FAMILIES},
            settings.stale_after_seconds,
        )
        self._assets.set_account_labels({a.name: a.labels for a in new.values()})
        now = self.clock()
        for name in removed:
            self._drop(name, now)
        if not self.scheduler.running:
            return
        for name in added:
            self._schedule(name, at_once=True)
        if schedule_changed:
            for name in new:
                if name not in added:
                    self._schedule(name)

    def _drop(self, name: str, now: datetime) -> None:
        """A removed account: its jobs and collections in flight (their results have
        nowhere to go) stop, its client closes, its alerts resolve once."""
        for family in FAMILIES:
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(f"{name}/{family}")
        for task, account in list(self._running.items()):
            if account == name:
                task.cancel()
        self._close_later(self.clients.pop(name).aclose(), 0)
        self._images_done.pop(name, None)
        for family in FAMILIES:
            self._evaluated_at.pop((name, family), None)
        with contextlib.suppress(sqlite3.Error):  # logged by the store
            self.engine.retire(name, now)

    def _close_later(self, close: Coroutine[Any, Any, None], after: float) -> None:
        """Close a replaced client or channel once work in flight on it is done (at most
        its deadline); at once when the daemon stops."""

        async def later() -> None:
            try:
                await asyncio.sleep(after)
            finally:
                await close

        task = asyncio.get_running_loop().create_task(later())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # -- lifecycle ----------------------------------------------------------------

    def _schedule(self, account: str, *, at_once: bool = False) -> None:
        """The account's collection jobs: first runs now (spread over the jitter), or
        all at once for an account a reload added."""
        schedule = self.settings.schedule
        now = datetime.now(UTC)  # APScheduler runs on the wall clock
        for family in self.families:
            interval = schedule.interval(family)
            jitter = min(schedule.jitter_seconds, interval / 2)
            self.scheduler.add_job(
                self._scheduled,
                IntervalTrigger(seconds=interval, jitter=jitter or None, timezone=UTC),
                args=(account, family),
                id=f"{account}/{family}",
                name=f"collect {family} of {account}",
                next_run_time=now
                if at_once
                else now + timedelta(seconds=random.uniform(0, jitter)),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(max(interval, 1)),
                replace_existing=True,
            )

    def start(self) -> None:
        """Schedule every job (first runs now, spread over the jitter) and start."""
        sys.setswitchinterval(min(sys.getswitchinterval(), _SWITCH_INTERVAL_SECONDS))
        _freeze_setup()
        schedule = self.settings.schedule
        for account in self.accounts:
            self._schedule(account.name)
        self.scheduler.add_job(
            self.digests,
            IntervalTrigger(seconds=_DIGEST_CHECK_SECONDS, timezone=UTC),
            id="digests",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self.housekeeping,
            IntervalTrigger(hours=1, timezone=UTC),
            id="housekeeping",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.scheduler.start()
        self._dispatch_task = asyncio.get_running_loop().create_task(
            self.dispatcher.run(), name="alert-dispatcher"
        )
        log.info(
            "daemon.started",
            accounts=len(self.accounts),
            jobs=len(self.accounts) * len(self.families),
            intervals={f: schedule.interval(f) for f in self.families},
            collectors_off=list(self.store.current.disabled),
        )

    def _skipped(self, event: JobEvent) -> None:
        """A run that did not happen is counted and logged, never silent."""
        account, _, family = str(event.job_id).rpartition("/")
        if family not in FAMILIES or account not in self.clients:
            return
        reason = "still_running" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
        self.metrics.runs_skipped.labels(account, family, reason).inc()
        self.store.skipped(account, family)
        log.warning("collect.run_skipped", account=account, family=family, reason=reason)

    @property
    def alive(self) -> bool:
        return bool(self.scheduler.running)

    async def stop(self) -> None:
        """Stop scheduling, cancel collections in flight, close the clients."""
        self._stopping = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        closing = list(self._closing)
        for close in closing:
            close.cancel()  # each closes at once when cancelled
        await asyncio.gather(*closing, return_exceptions=True)
        self.dispatcher.stop()
        if self._dispatch_task is not None:
            try:
                await asyncio.wait_for(self._dispatch_task, 5)
            except TimeoutError:
                log.warning("alert.dispatcher_stop_timeout")
        await asyncio.gather(*(c.aclose() for c in self.clients.values()))
        await asyncio.gather(*(c.aclose() for c in self.channels))
        # an evaluation still running in the worker ends before the store closes
        await asyncio.to_thread(self.engine.close)
        await asyncio.to_thread(self._prerender.close)
        self.state.close()
        log.info("daemon.stopped", cancelled=len(running))
