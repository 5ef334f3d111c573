"""Delivery of the outbox: at least once, with exponential backoff and jitter.

A notification is in the outbox before anything is sent and leaves it (as
``delivered``) only when its receiver accepted it. A retryable failure is
retried with exponential backoff and jitter (or after the receiver's
Retry-After) up to ``max_attempts``, then dead-lettered and counted; a
permanent failure is dead-lettered at once. A split message records each part
as it is accepted, so neither a retry nor a restart repeats it.

Delivery is at least once: the window in which a message can reach its receiver
twice is the instant between the receiver accepting it and the outbox marking
it delivered (nothing else runs in between), and the retry of an attempt that
timed out while the receiver was in fact accepting it. Every attempt is bounded,
connect to last byte, by the channel's ``timeout_seconds``; so is every wait of
the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import structlog

from monitor.alerts.channels.base import Channel
from monitor.alerts.config import DeliveryConfig
from monitor.alerts.store import OutboxEntry, StateStore

__all__ = ["Dispatcher"]

log = structlog.get_logger("monitor.alerts.dispatch")

#: poll the outbox at least this often, even without a wake-up
_IDLE_SECONDS = 30.0

Outcome = Callable[[str, str], None]


def backoff(attempt: int, initial: float, maximum: float) -> float:
    """Full-jitter exponential backoff: uniform in [base/2, base], base = initial·2^(n-1)."""
    base = min(maximum, initial * (2 ** max(attempt - 1, 0)))
    return random.uniform(base / 2, base)


class Dispatcher:
    def __init__(
        self,
        store: StateStore,
        channels: Mapping[str, Channel],
        config: DeliveryConfig,
        *,
        clock: Callable[[], datetime],
        on_outcome: Outcome | None = None,
    ) -> None:
        self._store = store
        self._channels = dict(channels)
        self._config = config
        self._clock = clock
        self._on_outcome = on_outcome
        self._wake = asyncio.Event()
        self._stopping = False
        #: pending notifications, for the queue-depth gauge
        self.queue_depth = 0
        self._count_pending()

    def _count_pending(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # the store logs its own trouble
            self.queue_depth = self._store.pending_count()

    def reconfigure(self, channels: Mapping[str, Channel], config: DeliveryConfig) -> None:
        """Reloaded channels and retry settings; pending entries stay in the outbox (an
        entry of a channel no longer configured is dead-lettered when due)."""
        self._channels = dict(channels)
        self._config = config
        self.wake()

    def wake(self) -> None:
        """New work is in the outbox."""
        self._count_pending()
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped (a background task)."""
        while not self._stopping:
            timeout = _IDLE_SECONDS
            # cleared before delivering, so a wake() or stop() that comes during the
            # delivery is not lost: the wait below then returns at once
            self._wake.clear()
            try:
                await self.deliver_due()
                nxt = self._store.next_due_at()
                if nxt is not None:
                    timeout = min(timeout, max((nxt - self._clock()).total_seconds(), 0.05))
            except sqlite3.Error:
                pass  # the state store logs its failures once; try again later
            except Exception:  # the loop must survive anything; it retries
                log.exception("alert.dispatch_crashed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def deliver_due(self) -> int:
        """Attempt every notification that is due now; return how many were attempted.

        Channels are served concurrently, each in order: a throttled or hanging
        receiver delays only its own notifications.
        """
        by_channel: dict[str, list[OutboxEntry]] = {}
        for entry in self._store.due(self._clock(), limit=500):
            by_channel.setdefault(entry.channel, []).append(entry)

        async def drain(entries: list[OutboxEntry]) -> int:
            done = 0
            for entry in entries:
                if self._stopping:
                    break
                await self._deliver(entry)
                done += 1
            return done

        counts = await asyncio.gather(*(drain(e) for e in by_channel.values()))
        self._count_pending()
        return sum(counts)

    def _count(self, channel: str, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(channel, outcome)

    def _record_parts(self, entry_id: str, keys: frozenset[str]) -> None:
        """A part of a split message was accepted: record it before sending the next, so
        a ``kill -9`` in between does not send it again."""
        with contextlib.suppress(sqlite3.Error):  # best effort; the store logs its trouble
            self._store.record_parts(entry_id, keys)

    async def _deliver(self, entry: OutboxEntry) -> None:
        fields = {"channel": entry.channel, "notification_id": entry.id, "reason": entry.reason}
        channel = self._channels.get(entry.channel)
        now = self._clock()
        if channel is None:
            self._store.mark_dead(entry.id, at=now, error="channel no longer configured")
            self._count(entry.channel, "dead")
            log.warning("alert.dead_lettered", error="channel no longer configured", **fields)
            return
        report = await channel.send(
            entry.notification,
            delivered_parts=entry.delivered_parts,
            on_part=lambda keys: self._record_parts(entry.id, keys),
        )
        result = report.result
        now = self._clock()
        attempt = entry.attempts + 1
        if result.outcome == "delivered":
            self._store.mark_delivered(entry.id, now)
            self._count(entry.channel, "delivered")
            log.info(
                "alert.delivered",
                attempt=attempt,
                alerts=len(entry.notification.alerts),
                parts=report.total_parts,
                **fields,
            )
            return
        detail = result.detail or result.outcome
        if result.outcome == "retry" and attempt < self._config.max_attempts:
            wait = backoff(
                attempt, self._config.backoff_initial_seconds, self._config.backoff_max_seconds
            )
            if result.retry_after is not None:
                wait = max(wait, result.retry_after)
            self._store.mark_retry(
                entry.id,
                next_at=now + timedelta(seconds=wait),
                error=detail,
                delivered_parts=report.delivered_parts,
            )
            self._count(entry.channel, "retry")
            log.warning(
                "alert.delivery_failed",
                attempt=attempt,
                will_retry=True,
                retry_in_s=round(wait, 1),
                code=result.code,
                error=detail,
                **fields,
            )
            return
        self._store.mark_dead(entry.id, at=now, error=detail)
        self._count(entry.channel, "permanent" if result.outcome != "retry" else "dead")
        self._count(entry.channel, "dead")
        log.error(
            "alert.dead_lettered",
            attempt=attempt,
            code=result.code,
            error=detail,
            **fields,
        )
