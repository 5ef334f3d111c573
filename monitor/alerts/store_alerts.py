"""The alert rows of the state store: one row per alert, firing or resolved.

:class:`AlertRows` reads them (:meth:`AlertRows.alerts`), writes one inside the
engine's transaction (:meth:`AlertRows.upsert_alert`, mirrored in memory so a
lost file is re-seeded, see :mod:`monitor.alerts.store_core`) and forgets the
resolved ones. A mixin over :class:`~monitor.alerts.store_core.StoreCore`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.alerts.records import Alert
from monitor.alerts.store_codec import (
    alert_from_json,
    alert_to_json,
    from_timestamp,
    to_timestamp,
)
from monitor.alerts.store_core import UPSERT, Row, StoreCore, row_params

__all__ = ["AlertRow", "AlertRows"]


@dataclass(frozen=True, slots=True)
class AlertRow:
    fingerprint: str
    alert: Alert
    started_at: datetime
    last_notified_at: datetime | None
    notified_severity: str | None
    resolved_at: datetime | None
    #: the alert as stored (its JSON): an upsert that would write the same is skipped
    stored: str = field(default="", compare=False, repr=False)


def _digest(stored: str) -> bytes:
    """What :attr:`StoreCore._decoded` keeps of a row's JSON: 16 bytes, not the text
    (about 2.7 kB an alert, twice over once SQLite has asked for its UTF-8)."""
    return hashlib.blake2b(stored.encode(), digest_size=16).digest()


class AlertRows(StoreCore):
    """The ``alerts`` table."""

    def alerts(
        self,
        account: str | None = None,
        *,
        status: str | None = None,
        kinds: Collection[str] | None = None,
    ) -> list[AlertRow]:
        """The rows of ``account`` (``None``: all), of ``status`` and of ``kinds``
        (``None``: any), oldest first."""
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
        if kinds is not None:
            clauses.append(f"kind IN ({', '.join('?' * len(kinds))})" if kinds else "0")
            args.extend(sorted(kinds))
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        rows = self._read(query + " ORDER BY started_at", args)
        return [
            AlertRow(
                fingerprint=r[0],
                alert=self._alert(r[0], r[1]),
                started_at=from_timestamp(r[2]) or datetime.fromtimestamp(0, UTC),
                last_notified_at=from_timestamp(r[3]),
                notified_severity=r[4],
                resolved_at=from_timestamp(r[5]),
                stored=r[1],
            )
            for r in rows
        ]

    def _alert(self, fingerprint: str, stored: str) -> Alert:
        """The alert of a row's JSON: decoded once per text (most rows are read again
        unchanged, or as this process wrote them)."""
        digest = _digest(stored)
        known = self._decoded.get(fingerprint)
        if known is not None and known[0] == digest:
            return known[1]
        alert = alert_from_json(stored)
        self._decoded[fingerprint] = (digest, alert)
        return alert

    def upsert_alert(
        self,
        db: sqlite3.Connection,
        alert: Alert,
        *,
        started_at: datetime,
        last_notified_at: datetime | None,
        notified_severity: str | None,
        resolved_at: datetime | None = None,
        stored: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """``stored``: ``alert_to_json(alert)`` when the caller has encoded it already;
        ``fingerprint``: ``alert.fingerprint`` when the caller knows it."""
        row: Row = (alert, started_at, last_notified_at, notified_severity, resolved_at)
        text = alert_to_json(alert) if stored is None else stored
        fp = alert.fingerprint if fingerprint is None else fingerprint
        db.execute(UPSERT, row_params(*row, stored=text, fingerprint=fp))
        # read back as written: an alert's JSON decodes to an equal alert (the codec's
        # round trip, tests/alerts/test_lifecycle.py), so the next read need not decode it
        self._decoded[fp] = (_digest(text), alert)
        if self._staged is not None:
            self._staged[fp] = row
        else:
            self._rows[fp] = row

    def forget_resolved(self, before: datetime) -> int:
        with self._lock:
            with self.transaction() as db:
                cur = db.execute(
                    "DELETE FROM alerts WHERE status = 'resolved' AND resolved_at < ?",
                    (to_timestamp(before),),
                )
            self._rows = {
                fp: row
                for fp, row in self._rows.items()
                if row[0].status != "resolved" or row[4] is None or row[4] >= before
            }
            self._decoded = {fp: d for fp, d in self._decoded.items() if fp in self._rows}
            return cur.rowcount
