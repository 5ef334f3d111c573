"""The long-running daemon: scheduled collection into the snapshot.

One APScheduler job per account and family, each on its own interval, first
run at start (spread by jitter), never overlapping itself, misfires
coalesced. A job never lets an exception escape into the scheduler: it logs,
marks its family failed and keeps the last good data.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.alerts.channels import build_channel
from monitor.alerts.channels.base import Channel
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.engine import AlertEngine
from monitor.alerts.store import StateStore
from monitor.client import shared_clients
from monitor.config import Account, Settings
from monitor.derive import is_3d
from monitor.domain import FAMILIES, Family, FamilyResult
from monitor.errors import UpstreamError
from monitor.exposition import AlertCollector, AssetCollector, DaemonMetrics, ExpositionRegistry
from monitor.fetch import collect_family
from monitor.snapshot import FamilyState, SnapshotStore

__all__ = ["Daemon"]

log = structlog.get_logger("monitor.daemon")

#: how long the first actions run waits for the first images run
_ACTIONS_WAIT_SECONDS = 600.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _JobCrashedError(UpstreamError):
    kind = "internal"


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
    ) -> None:
        self.settings = settings
        self.accounts = list(accounts)
        self.clock = clock
        names = [a.name for a in self.accounts]
        schedule = settings.schedule
        self.store = SnapshotStore(
            names, {f: schedule.interval(f) for f in FAMILIES}, settings.stale_after_seconds
        )
        self.registry = ExpositionRegistry(
            AssetCollector(
                self.store,
                schedule,
                clock=clock,
                account_labels={a.name: a.labels for a in self.accounts},
                expose_relative_metrics=settings.expose_relative_metrics,
            )
        )
        alerts = settings.effective_alerts()
        self.metrics = DaemonMetrics(self.registry, names, [c.name for c in alerts.channels])
        self.clients = shared_clients(
            self.accounts, settings.client, transport=transport, observer=self.metrics.observer
        )
        # A state dir that cannot be written disables alerting, not the daemon:
        # collection and /metrics go on, and the store retries opening.
        self.state = StateStore(
            settings.effective_state_dir() / "state.sqlite3",
            max_bytes=int(alerts.state_max_mb * 1024 * 1024),
        )
        with contextlib.suppress(sqlite3.Error):
            self.state.open()
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
            resend_intervals={
                c.name: c.resend_interval_seconds
                for c in alerts.channels
                if c.type == "alertmanager"
            },
        )
        self.registry.register(
            AlertCollector(self.store, self.engine, self.dispatcher, clock=clock)
        )
        self._dispatch_task: asyncio.Task[None] | None = None
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[asyncio.Task[object]] = set()
        self._images_done: dict[str, asyncio.Event] = {}
        self._evaluating: dict[str, asyncio.Lock] = {}
        #: accounts with an evaluation waiting for the one in progress
        self._queued: set[str] = set()

    # -- jobs -------------------------------------------------------------------

    async def run_family(self, account: str, family: Family) -> FamilyState:
        """Collect one family of one account into the snapshot (a job's body)."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)  # until its alerts are evaluated: stop() cancels both
        try:
            result = await self._collect(account, family)
            now = self.clock()
            state = self.store.apply(result, now)
            skew = self.clients[account].clock_skew_seconds
            if skew is not None:
                self.metrics.clock_skew.labels(account).set(skew)
            if not result.ok:
                kind = result.error.kind if result.error is not None else "error"
                self.metrics.collection_errors.labels(account, family, kind).inc()
            if family == "images":
                self._event(account).set()
            await self._alerts(account, family, result, now)
        finally:
            if task is not None:
                self._running.discard(task)
        return state

    async def _alerts(
        self, account: str, family: Family, result: FamilyResult, now: datetime
    ) -> None:
        """Evaluate the account's rules after each of its collections: the rules in a
        worker thread (the loop goes on serving scrapes), one evaluation of an account
        at a time (an older one never lands after a newer one), on the latest snapshot.
        While one runs, the next collections of the account queue one evaluation between
        them: it reads the snapshot when its turn comes, with all their data in it."""
        try:
            if family == "services" and result.ok:
                self.engine.record_usage(account, result.assets, now)
            if account in self._queued:
                return  # the queued evaluation will see this collection's data
            lock = self._evaluating.setdefault(account, asyncio.Lock())
            waited = lock.locked()
            self._queued.add(account)
            try:
                async with lock:
                    self._queued.discard(account)
                    at = self.clock() if waited else now
                    await self.engine.evaluate_off_loop(self.store.current, account, at)
            finally:
                self._queued.discard(account)
        except sqlite3.Error:
            pass  # logged once by the store (state.unavailable); retried next cycle
        except Exception:  # alerting trouble must not stop collection
            log.exception("alert.evaluation_failed", account=account, family=family)

    async def housekeeping(self) -> None:
        """Bound the state store: old usage history, finished notifications, resolved alerts.

        A coroutine on purpose: APScheduler runs plain functions in a thread pool, and
        the SQLite connection belongs to the event loop's thread.
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

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Schedule every job (first runs now, spread over the jitter) and start."""
        schedule = self.settings.schedule
        now = self.clock()
        for account in self.accounts:
            for family in FAMILIES:
                interval = schedule.interval(family)
                jitter = min(schedule.jitter_seconds, interval / 2)
                self.scheduler.add_job(
                    self.run_family,
                    IntervalTrigger(seconds=interval, jitter=jitter or None, timezone=UTC),
                    args=(account.name, family),
                    id=f"{account.name}/{family}",
                    name=f"collect {family} of {account.name}",
                    next_run_time=now + timedelta(seconds=random.uniform(0, jitter)),
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=int(max(interval, 1)),
                )
        self.scheduler.add_job(
            self.housekeeping,
            IntervalTrigger(hours=1, timezone=UTC),
            id="housekeeping",
            next_run_time=now,
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
            jobs=len(self.accounts) * len(FAMILIES),
            intervals={f: schedule.interval(f) for f in FAMILIES},
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
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self.dispatcher.stop()
        if self._dispatch_task is not None:
            try:
                await asyncio.wait_for(self._dispatch_task, 5)
            except TimeoutError:
                log.warning("alert.dispatcher_stop_timeout")
        await asyncio.gather(*(c.aclose() for c in self.clients.values()))
        await asyncio.gather(*(c.aclose() for c in self.channels))
        self.state.close()
        log.info("daemon.stopped", cancelled=len(running))
