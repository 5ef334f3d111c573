"""The state store: alert states, the notification outbox and usage history (SQLite).

One file in the state dir, WAL mode. Every cycle's state changes and the
notifications they cause are written in one transaction, so a restart (even
``kill -9``) sees either both or neither: a pending notification is never
lost, and one already delivered is never repeated inside its repeat interval.
A notification leaves the outbox only when its receiver accepted it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from monitor.alerts.model import Alert, Notification

__all__ = [
    "AlertRow",
    "OutboxEntry",
    "StateStore",
    "StateUnavailableError",
    "notification_from_json",
    "notification_to_json",
]

_log = structlog.get_logger("monitor.alerts.store")

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


class StateUnavailableError(sqlite3.OperationalError):
    """The state store cannot be opened (unwritable state dir, bad path) right now."""


class StateStore:
    """SQLite state; used from the event loop's thread only.

    It never takes the daemon down: if the state dir is unwritable the store is
    unavailable (every call raises :class:`StateUnavailableError`) and it tries
    to open again at most every ``retry_seconds``; a full disk (or
    ``max_bytes`` reached) fails the one transaction, which rolls back, so the
    caller simply tries again next cycle. Transitions between healthy and
    failing are logged once each (``state.unavailable`` / ``state.recovered``),
    not on every call.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int | None = None,
        retry_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._retry = retry_seconds
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._next_open = 0.0
        #: whether the last operation succeeded; errors counted for metrics
        self.healthy = True
        self.errors = 0
        self.last_error: str | None = None

    def open(self) -> None:
        """Open now (raises ``StateUnavailableError`` with the reason)."""
        self._next_open = 0.0
        self._conn()

    def _conn(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        if self._clock() < self._next_open:
            raise StateUnavailableError(self.last_error or "state store unavailable")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a process crash (kill -9); only power
                # loss could lose the last transaction.
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA busy_timeout=5000")
                if self._max_bytes is not None:
                    page = db.execute("PRAGMA page_size").fetchone()[0]
                    db.execute(f"PRAGMA max_page_count={max(self._max_bytes // page, 16)}")
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()
                raise
        except (OSError, sqlite3.Error) as exc:
            self._next_open = self._clock() + self._retry
            self._failed(f"cannot open {self.path}: {exc}")
            raise StateUnavailableError(self.last_error or str(exc)) from None
        self._db = db
        self._ok()
        return db

    def _failed(self, reason: str) -> None:
        self.errors += 1
        self.last_error = reason
        if self.healthy:
            _log.error("state.unavailable", path=str(self.path), error=reason)
        self.healthy = False

    def _ok(self) -> None:
        if not self.healthy:
            _log.info("state.recovered", path=str(self.path))
        self.healthy = True
        self.last_error = None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _read(self, query: str, args: Iterable[Any] = ()) -> list[Any]:
        db = self._conn()
        try:
            rows = db.execute(query, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            self._failed(str(exc))
            raise
        return rows

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._failed(str(exc))
            raise
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                self._failed(str(exc))
            raise
        self._ok()

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
        rows = self._read(query + " ORDER BY started_at", args)
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
        [row] = self._read("SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'")
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
        [row] = self._read("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        return int(row[0])

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
        rows = self._read(
            "SELECT asset, at, remaining FROM usage WHERE account = ? AND at >= ? ORDER BY at",
            (account, _ts(since)),
        )
        out: dict[str, list[tuple[float, float]]] = {}
        for asset, at, remaining in rows:
            out.setdefault(asset, []).append((at, remaining))
        return out

    def prune_usage(self, before: datetime) -> int:
        with self.transaction() as db:
            return db.execute("DELETE FROM usage WHERE at < ?", (_ts(before),)).rowcount
