"""The notification outbox of the state store.

:class:`Outbox` queues a notification inside the engine's transaction
(:meth:`Outbox.enqueue`) or on its own (:meth:`Outbox.enqueue_once`, a day's
digest), lists what is due, and marks an entry delivered, to retry, or dead.
An entry leaves the outbox only when its receiver accepted it, or when it is
pruned long after it finished. A mixin over
:class:`~monitor.alerts.store_core.StoreCore`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.alerts.records import Notification
from monitor.alerts.store_codec import (
    from_timestamp,
    notification_from_json,
    notification_to_json,
    to_timestamp,
)
from monitor.alerts.store_core import StoreCore

__all__ = ["Outbox", "OutboxEntry"]

#: a digest's outbox entry is kept at least this long (see prune_outbox)
_DIGEST_KEEP = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: str
    channel: str
    reason: str
    created_at: datetime
    notification: Notification
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    finished_at: datetime | None
    delivered_parts: tuple[str, ...] = ()


class Outbox(StoreCore):
    """The ``outbox`` table."""

    @staticmethod
    def enqueue(
        db: sqlite3.Connection,
        notification: Notification,
        at: datetime,
        *,
        coalesce_key: str | None = None,
    ) -> None:
        """Queue a notification; with ``coalesce_key`` it replaces a pending one with the
        same key (an Alertmanager full-state push supersedes the previous one)."""
        if coalesce_key is not None:
            db.execute(
                "DELETE FROM outbox WHERE coalesce_key = ? AND state = 'pending'", (coalesce_key,)
            )
        db.execute(
            "INSERT INTO outbox (id, channel, reason, created_at, notification, state, attempts,"
            " next_attempt_at, coalesce_key) VALUES (?,?,?,?,?, 'pending', 0, ?, ?)",
            (
                notification.id,
                notification.channel,
                notification.reason,
                to_timestamp(notification.created_at),
                notification_to_json(notification),
                to_timestamp(at),
                coalesce_key,
            ),
        )

    def enqueue_once(self, notification: Notification, at: datetime) -> bool:
        """Queue ``notification`` unless an entry with its id exists (pending, delivered or
        dead): a digest's id names its channel and day, so a day's is made once."""
        with self.transaction() as db:
            found = db.execute("SELECT 1 FROM outbox WHERE id = ?", (notification.id,)).fetchone()
            if found is not None:
                return False
            self.enqueue(db, notification, at)
        return True

    def due(self, now: datetime, limit: int = 50) -> list[OutboxEntry]:
        return self._entries(
            "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at"
            " LIMIT ?",
            (to_timestamp(now), limit),
        )

    def next_due_at(self) -> datetime | None:
        [row] = self._read("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")
        return from_timestamp(row[0]) if row and row[0] is not None else None

    def outbox(
        self, *, states: Sequence[str] = ("pending", "delivered", "dead"), limit: int = 200
    ) -> list[OutboxEntry]:
        marks = ",".join("?" for _ in states)
        return self._entries(
            f"WHERE state IN ({marks}) ORDER BY created_at DESC LIMIT ?",
            (*states, limit),
        )

    def pending_count(self) -> int:
        [row] = self._read("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        self._pending_seen = int(row[0])
        return self._pending_seen

    def _entries(self, where: str, args: Iterable[Any]) -> list[OutboxEntry]:
        # ``where`` is one of this module's fixed clauses; values go in as parameters
        query = (
            "SELECT id, channel, reason, created_at, notification, state, attempts,"  # noqa: S608
            " next_attempt_at, last_error, finished_at, delivered_parts FROM outbox " + where
        )
        rows = self._read(query, args)
        return [
            OutboxEntry(
                id=r[0],
                channel=r[1],
                reason=r[2],
                created_at=from_timestamp(r[3]) or datetime.fromtimestamp(0, UTC),
                notification=notification_from_json(r[4]),
                state=r[5],
                attempts=r[6],
                next_attempt_at=from_timestamp(r[7]) or datetime.fromtimestamp(0, UTC),
                last_error=r[8],
                finished_at=from_timestamp(r[9]),
                delivered_parts=tuple(json.loads(r[10] or "[]")),
            )
            for r in rows
        ]

    def mark_delivered(self, entry_id: str, at: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, finished_at = ?,"
                " last_error = NULL WHERE id = ?",
                (to_timestamp(at), entry_id),
            )

    def record_parts(self, entry_id: str, delivered_parts: Iterable[str]) -> None:
        """Parts of a pending split message accepted so far (each one as it is)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET delivered_parts = ? WHERE id = ? AND state = 'pending'",
                (json.dumps(sorted(delivered_parts)), entry_id),
            )

    def mark_retry(
        self,
        entry_id: str,
        *,
        next_at: datetime,
        error: str,
        delivered_parts: Iterable[str] = (),
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
                " delivered_parts = ? WHERE id = ?",
                (to_timestamp(next_at), error[:500], json.dumps(sorted(delivered_parts)), entry_id),
            )

    def mark_dead(self, entry_id: str, *, at: datetime, error: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, finished_at = ?,"
                " last_error = ? WHERE id = ?",
                (to_timestamp(at), error[:500], entry_id),
            )

    def prune_outbox(self, before: datetime) -> int:
        """Drop finished entries older than ``before``; a digest's entry stays two days
        longer (it is what says its day's digest was made, however short ``keep_days``)."""
        keep_digests = before - _DIGEST_KEEP
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM outbox WHERE state IN ('delivered', 'dead') AND finished_at < ?"
                " AND (id NOT LIKE 'digest:%' OR finished_at < ?)",
                (to_timestamp(before), to_timestamp(keep_digests)),
            )
            return cur.rowcount
