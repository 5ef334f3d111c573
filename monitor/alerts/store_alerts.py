"""The alert rows of the state store: one row per alert, firing or resolved.

:class:`AlertRows` reads them (:meth:`AlertRows.alerts`), writes one inside the
engine's transaction (:meth:`AlertRows.upsert_alert`, mirrored in memory so a
lost file is re-seeded, see :mod:`monitor.alerts.store_core`) and forgets the
resolved ones. A mixin over :class:`~monitor.alerts.store_core.StoreCore`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.alerts.records import Alert
from monitor.alerts.store_codec import alert_from_json, from_timestamp, to_timestamp
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


class AlertRows(StoreCore):
    """The ``alerts`` table."""

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
                alert=alert_from_json(r[1]),
                started_at=from_timestamp(r[2]) or datetime.fromtimestamp(0, UTC),
                last_notified_at=from_timestamp(r[3]),
                notified_severity=r[4],
                resolved_at=from_timestamp(r[5]),
                stored=r[1],
            )
            for r in rows
        ]

    def upsert_alert(
        self,
        db: sqlite3.Connection,
        alert: Alert,
        *,
        started_at: datetime,
        last_notified_at: datetime | None,
        notified_severity: str | None,
        resolved_at: datetime | None = None,
    ) -> None:
        row: Row = (alert, started_at, last_notified_at, notified_severity, resolved_at)
        db.execute(UPSERT, row_params(*row))
        if self._staged is not None:
            self._staged[alert.fingerprint] = row
        else:
            self._rows[alert.fingerprint] = row

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
            return cur.rowcount
