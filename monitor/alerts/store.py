"""The state store: alert states, the notification outbox and usage history (SQLite).

One file in the state dir, WAL mode. Every cycle's state changes and the
notifications they cause are written in one transaction, so a restart (even
``kill -9``) sees either both or neither: a pending notification is never
lost, and one already delivered is never repeated inside its repeat interval.
A notification leaves the outbox only when its receiver accepted it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.alerts.model import Alert, Notification

__all__ = [
    "AlertRow",
    "OutboxEntry",
    "StateStore",
    "notification_from_json",
    "notification_to_json",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY,
    rule TEXT NOT NULL, account TEXT NOT NULL, kind TEXT NOT NULL, asset TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,               -- firing | resolved
    started_at REAL NOT NULL,
    last_notified_at REAL,              -- last firing/escalated/repeat notification
    notified_severity TEXT,
    resolved_at REAL,
    alert TEXT NOT NULL                 -- the last Alert, JSON
);
CREATE INDEX IF NOT EXISTS alerts_account ON alerts(account);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    notification TEXT NOT NULL,         -- JSON
    state TEXT NOT NULL,                -- pending | delivered | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    finished_at REAL,
    coalesce_key TEXT,                  -- a newer pending entry with the same key replaces it
    delivered_parts TEXT NOT NULL DEFAULT '[]'  -- parts of a split message already accepted
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS usage (
    account TEXT NOT NULL, asset TEXT NOT NULL, at REAL NOT NULL, remaining REAL NOT NULL,
    PRIMARY KEY (account, asset, at)
);
"""


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "account": alert.account,
        "kind": alert.kind,
        "asset": alert.asset,
        "severity": alert.severity,
        "status": alert.status,
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "resolve_reason": alert.resolve_reason,
        "values": alert.values,
    }


def _alert_from(data: dict[str, Any]) -> Alert:
    return Alert(
        rule=data["rule"],
        account=data["account"],
        kind=data["kind"],
        asset=data["asset"],
        severity=data["severity"],
        status=data["status"],
        starts_at=datetime.fromisoformat(data["starts_at"]),
        ends_at=datetime.fromisoformat(data["ends_at"]) if data.get("ends_at") else None,
        labels=dict(data.get("labels") or {}),
        annotations=dict(data.get("annotations") or {}),
        resolve_reason=data.get("resolve_reason"),
        values=dict(data.get("values") or {}),
    )


def notification_to_json(n: Notification) -> str:
    return json.dumps(
        {
            "id": n.id,
            "channel": n.channel,
            "reason": n.reason,
            "created_at": n.created_at.isoformat(),
            "language": n.language,
            "alerts": [_alert_json(a) for a in n.alerts],
        },
        ensure_ascii=False,
    )


def notification_from_json(text: str) -> Notification:
    data = json.loads(text)
    return Notification(
        id=data["id"],
        channel=data["channel"],
        reason=data["reason"],
        created_at=datetime.fromisoformat(data["created_at"]),
        alerts=tuple(_alert_from(a) for a in data["alerts"]),
        language=data.get("language", "en"),
    )


@dataclass(frozen=True, slots=True)
class AlertRow:
    fingerprint: str
    alert: Alert
    started_at: datetime
    last_notified_at: datetime | None
    notified_severity: str | None
    resolved_at: datetime | None


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


class StateStore:
    """SQLite state; used from the event loop's thread only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (kill -9); only power loss
        # could lose the last transaction.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- alerts ---------------------------------------------------------------------

    def alerts(self, account: str | None = None, *, status: str | None = None) -> list[AlertRow]:
        query = (
            "SELECT fingerprint, alert, started_at, last_notified_at, notified_severity,"
            " resolved_at FROM alerts"
        )
        clauses, args = [], []
        if account is not None:
            clauses.append("account = ?")
            args.append(account)
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        rows = self._db.execute(query + " ORDER BY started_at", args).fetchall()
        return [
            AlertRow(
                fingerprint=r[0],
                alert=_alert_from(json.loads(r[1])),
                started_at=_dt(r[2]) or datetime.fromtimestamp(0, UTC),
                last_notified_at=_dt(r[3]),
                notified_severity=r[4],
                resolved_at=_dt(r[5]),
            )
            for r in rows
        ]

    @staticmethod
    def upsert_alert(
        db: sqlite3.Connection,
        alert: Alert,
        *,
        started_at: datetime,
        last_notified_at: datetime | None,
        notified_severity: str | None,
        resolved_at: datetime | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO alerts (fingerprint, rule, account, kind, asset, severity, status,"
            " started_at, last_notified_at, notified_severity, resolved_at, alert)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(fingerprint) DO UPDATE SET severity=excluded.severity,"
            " status=excluded.status, started_at=excluded.started_at,"
            " last_notified_at=excluded.last_notified_at,"
            " notified_severity=excluded.notified_severity, resolved_at=excluded.resolved_at,"
            " alert=excluded.alert",
            (
                alert.fingerprint,
                alert.rule,
                alert.account,
                alert.kind,
                alert.asset,
                alert.severity,
                alert.status,
                _ts(started_at),
                _ts(last_notified_at),
                notified_severity,
                _ts(resolved_at),
                json.dumps(_alert_json(alert), ensure_ascii=False),
            ),
        )

    def forget_resolved(self, before: datetime) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM alerts WHERE status = 'resolved' AND resolved_at < ?", (_ts(before),)
            )
            return cur.rowcount

    # -- outbox ---------------------------------------------------------------------

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
                _ts(notification.created_at),
                notification_to_json(notification),
                _ts(at),
                coalesce_key,
            ),
        )

    def due(self, now: datetime, limit: int = 50) -> list[OutboxEntry]:
        return self._entries(
            "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at"
            " LIMIT ?",
            (_ts(now), limit),
        )

    def next_due_at(self) -> datetime | None:
        row = self._db.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'"
        ).fetchone()
        return _dt(row[0]) if row and row[0] is not None else None

    def outbox(
        self, *, states: Sequence[str] = ("pending", "delivered", "dead"), limit: int = 200
    ) -> list[OutboxEntry]:
        marks = ",".join("?" for _ in states)
        return self._entries(
            f"WHERE state IN ({marks}) ORDER BY created_at DESC LIMIT ?",
            (*states, limit),
        )

    def pending_count(self) -> int:
        row = self._db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()
        return int(row[0])

    def _entries(self, where: str, args: Iterable[Any]) -> list[OutboxEntry]:
        # ``where`` is one of this module's fixed clauses; values go in as parameters
        query = (
            "SELECT id, channel, reason, created_at, notification, state, attempts,"  # noqa: S608
            " next_attempt_at, last_error, finished_at, delivered_parts FROM outbox " + where
        )
        rows = self._db.execute(
            query,
            tuple(args),
        ).fetchall()
        return [
            OutboxEntry(
                id=r[0],
                channel=r[1],
                reason=r[2],
                created_at=_dt(r[3]) or datetime.fromtimestamp(0, UTC),
                notification=notification_from_json(r[4]),
                state=r[5],
                attempts=r[6],
                next_attempt_at=_dt(r[7]) or datetime.fromtimestamp(0, UTC),
                last_error=r[8],
                finished_at=_dt(r[9]),
                delivered_parts=tuple(json.loads(r[10] or "[]")),
            )
            for r in rows
        ]

    def mark_delivered(self, entry_id: str, at: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, finished_at = ?,"
                " last_error = NULL WHERE id = ?",
                (_ts(at), entry_id),
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
                (_ts(next_at), error[:500], json.dumps(sorted(delivered_parts)), entry_id),
            )

    def mark_dead(self, entry_id: str, *, at: datetime, error: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, finished_at = ?,"
                " last_error = ? WHERE id = ?",
                (_ts(at), error[:500], entry_id),
            )

    def prune_outbox(self, before: datetime) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM outbox WHERE state IN ('delivered', 'dead') AND finished_at < ?",
                (_ts(before),),
            )
            return cur.rowcount

    # -- usage history ------------------------------------------------------------

    def record_usage(
        self, account: str, samples: Iterable[tuple[str, float]], at: datetime
    ) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO usage (account, asset, at, remaining) VALUES (?,?,?,?)",
                [(account, asset, _ts(at), remaining) for asset, remaining in samples],
            )

    def usage(self, account: str, since: datetime) -> dict[str, list[tuple[float, float]]]:
        rows = self._db.execute(
            "SELECT asset, at, remaining FROM usage WHERE account = ? AND at >= ? ORDER BY at",
            (account, _ts(since)),
        ).fetchall()
        out: dict[str, list[tuple[float, float]]] = {}
        for asset, at, remaining in rows:
            out.setdefault(asset, []).append((at, remaining))
        return out

    def prune_usage(self, before: datetime) -> int:
        with self.transaction() as db:
            return db.execute("DELETE FROM usage WHERE at < ?", (_ts(before),)).rowcount
