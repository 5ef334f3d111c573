"""The state file's schema version (``PRAGMA user_version``): a file written by the
release before versions existed is adopted with its rows, a newer one is refused.

The fixture below is the schema as shipped, copied here on purpose: it must not
follow later changes to ``monitor/alerts/store_schema.py``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from monitor.alerts.records import alert_fingerprint
from monitor.alerts.store import StateStore, StateUnavailableError
from monitor.alerts.store_schema import SCHEMA_VERSION

#: ``_SCHEMA`` of monitor/alerts/store.py as shipped without a version (user_version 0)
SHIPPED_SCHEMA = """
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
#: an outbox made before ``delivered_parts`` and ``coalesce_key`` were in it
OLDER_SCHEMA = SHIPPED_SCHEMA.replace(
    "    coalesce_key TEXT,                  -- a newer pending entry with the same key"
    " replaces it\n",
    "",
).replace(
    ",\n    delivered_parts TEXT NOT NULL DEFAULT '[]'  -- parts of a split message already"
    " accepted\n",
    "\n",
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FP = alert_fingerprint("service_expiring", "acme", "service", "pkg-1")
#: an alert as the shipped code stored it (JSON written out here, not by our codec)
ALERT = {
    "rule": "service_expiring",
    "account": "acme",
    "kind": "service",
    "asset": "pkg-1",
    "severity": "warning",
    "status": "firing",
    "starts_at": T0.isoformat(),
    "ends_at": None,
    "labels": {"alertname": "IvhServiceExpiring", "severity": "warning", "asset": "pkg-1"},
    "annotations": {"summary": "pkg-1 expires in 5 days"},
    "resolve_reason": None,
    "values": {"days_left": 5.0},
    "annotation_parts": {"summary": ["", "pkg-1", " expires in 5 days"]},
}
NOTIFICATION = {
    "id": "n-1",
    "channel": "ops",
    "reason": "firing",
    "created_at": T0.isoformat(),
    "language": "en",
    "alerts": [ALERT],
}


def _write_shipped_file(
    path: Path, schema: str = SHIPPED_SCHEMA, *, with_parts: bool = True
) -> None:
    """A state file as the release without versions wrote it, with a few rows."""
    db = sqlite3.connect(str(path))
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
        db.execute(
            "INSERT INTO alerts (fingerprint, rule, account, kind, asset, severity, status,"
            " started_at, last_notified_at, notified_severity, resolved_at, alert)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                FP, "service_expiring", "acme", "service", "pkg-1", "warning", "firing",
                T0.timestamp(), T0.timestamp(), "warning", None, json.dumps(ALERT),
            ),
        )  # fmt: skip
        columns = "id, channel, reason, created_at, notification, state, attempts, next_attempt_at"
        values: tuple[Any, ...] = (
            "n-1", "ops", "firing", T0.timestamp(), json.dumps(NOTIFICATION), "pending", 1,
            T0.timestamp() + 60,
        )  # fmt: skip
        if with_parts:
            columns += ", coalesce_key, delivered_parts"
            values += (None, '["0"]')
        marks = ",".join("?" for _ in values)
        db.execute(f"INSERT INTO outbox ({columns}) VALUES ({marks})", values)  # noqa: S608
        db.executemany(
            "INSERT INTO usage (account, asset, at, remaining) VALUES (?,?,?,?)",
            [("acme", "pkg-1", T0.timestamp() + 3600 * i, 100.0 - i) for i in range(3)],
        )
        db.commit()
    finally:
        db.close()
    assert _user_version(path) == 0


def _user_version(path: Path) -> int:
    db = sqlite3.connect(str(path))
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def _events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


def _assert_rows_read(store: StateStore, delivered_parts: tuple[str, ...]) -> None:
    [row] = store.alerts("acme", status="firing")
    assert row.fingerprint == FP
    assert row.alert.asset == "pkg-1"
    assert row.alert.starts_at == T0
    assert row.alert.parts("summary") == ("", "pkg-1", " expires in 5 days")
    assert row.last_notified_at == T0
    assert row.notified_severity == "warning"
    assert store.due(T0) == []  # not due before its next attempt
    [entry] = store.due(T0 + timedelta(minutes=1))
    assert entry.id == "n-1"
    assert entry.attempts == 1
    assert entry.delivered_parts == delivered_parts
    assert [a.fingerprint for a in entry.notification.alerts] == [FP]
    assert store.pending_count() == 1
    assert store.usage("acme", T0) == {
        "pkg-1": [(T0.timestamp() + 3600 * i, 100.0 - i) for i in range(3)]
    }


def test_an_unversioned_file_of_the_shipped_schema_is_adopted_with_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    _write_shipped_file(path)
    store = StateStore(path)
    with capture_logs() as logs:
        store.open()
    try:
        assert _user_version(path) == SCHEMA_VERSION == 1
        [migrated] = _events(logs, "state.migrated")
        assert migrated["from_version"] == 0
        assert migrated["to_version"] == 1
        assert store.healthy
        _assert_rows_read(store, ("0",))
        # the store writes on as before
        store.record_parts("n-1", ["0", "1"])
        [entry] = store.due(T0 + timedelta(minutes=1))
        assert entry.delivered_parts == ("0", "1")
    finally:
        store.close()
    # opened again: already current, nothing to migrate
    again = StateStore(path)
    with capture_logs() as logs:
        again.open()
    try:
        assert _events(logs, "state.migrated") == []
        assert len(again.alerts()) == 1
    finally:
        again.close()


def test_an_outbox_older_than_its_added_columns_gains_them(tmp_path: Path) -> None:
    assert "delivered_parts" not in OLDER_SCHEMA
    assert "coalesce_key" not in OLDER_SCHEMA
    path = tmp_path / "state.sqlite3"
    _write_shipped_file(path, OLDER_SCHEMA, with_parts=False)
    store = StateStore(path)
    store.open()
    try:
        assert _user_version(path) == 1
        _assert_rows_read(store, ())
        store.record_parts("n-1", ["0"])
        [entry] = store.due(T0 + timedelta(minutes=1))
        assert entry.delivered_parts == ("0",)
    finally:
        store.close()


def test_a_new_file_starts_at_the_current_version_without_a_migration(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.sqlite3"
    store = StateStore(path)
    with capture_logs() as logs:
        store.open()
    try:
        assert _user_version(path) == SCHEMA_VERSION
        assert _events(logs, "state.migrated") == []
        assert store.alerts() == []
    finally:
        store.close()


def test_a_file_from_a_newer_release_is_refused_never_downgraded(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    _write_shipped_file(path)
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA user_version = 7")
    db.close()
    store = StateStore(path, retry_seconds=0)
    with capture_logs() as logs, pytest.raises(StateUnavailableError, match="version 7"):
        store.open()
    [unavailable] = _events(logs, "state.unavailable")
    assert "schema version 7" in unavailable["error"]
    assert str(SCHEMA_VERSION) in unavailable["error"]
    assert not store.healthy
    assert store.last_error is not None
    assert "schema version 7" in store.last_error
    # every later call says the same, and the file is left as it was
    with pytest.raises(StateUnavailableError, match="version 7"):
        store.alerts()
    assert _user_version(path) == 7
    db = sqlite3.connect(str(path))
    try:
        assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    finally:
        db.close()
