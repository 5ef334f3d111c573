"""The state file's schema and its migrations (``PRAGMA user_version``).

Version 1 is the schema shipped before versions existed; such a file says
``user_version`` 0. :func:`migrate` brings a file up to :data:`SCHEMA_VERSION`
in one transaction (all steps or none) and refuses a file written by a newer
release (:class:`SchemaTooNewError`): it is never silently downgraded.

A later change adds ``_to_v2`` (and so on) to :data:`MIGRATIONS`; step ``i``
takes a file from version ``i`` to ``i + 1`` and runs inside the transaction
(no ``executescript``, which would commit on its own).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaTooNewError", "migrate", "schema_version"]

#: the tables and indexes of version 1, one statement each
_V1: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT PRIMARY KEY,
    rule TEXT NOT NULL, account TEXT NOT NULL, kind TEXT NOT NULL, asset TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,               -- firing | resolved
    started_at REAL NOT NULL,
    last_notified_at REAL,              -- last firing/escalated/repeat notification
    notified_severity TEXT,
    resolved_at REAL,
    alert TEXT NOT NULL                 -- the last Alert, JSON
)""",
    "CREATE INDEX IF NOT EXISTS alerts_account ON alerts(account)",
    """CREATE TABLE IF NOT EXISTS outbox (
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
)""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_attempt_at)",
    """CREATE TABLE IF NOT EXISTS usage (
    account TEXT NOT NULL, asset TEXT NOT NULL, at REAL NOT NULL, remaining REAL NOT NULL,
    PRIMARY KEY (account, asset, at)
)""",
)

#: columns added to a table after it first shipped: an unversioned file may lack them
_ADDED_IN_PLACE: dict[str, dict[str, str]] = {
    "outbox": {
        "coalesce_key": "TEXT",
        "delivered_parts": "TEXT NOT NULL DEFAULT '[]'",
    },
}


class SchemaTooNewError(sqlite3.OperationalError):
    """The file was written by a newer release (its ``user_version`` is unknown here)."""

    def __init__(self, version: int) -> None:
        super().__init__(
            f"state file schema version {version} is newer than this release knows"
            f" ({SCHEMA_VERSION}); refusing to open it rather than downgrade it"
        )
        self.version = version


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    # ``table`` is one of this module's fixed names
    return {str(r[1]) for r in db.execute(f"PRAGMA table_info({table})").fetchall()}


def _to_v1(db: sqlite3.Connection) -> None:
    """Create the tables, or adopt an unversioned file of today's tables: add any
    column it predates (an ``ALTER TABLE`` each, with its default)."""
    for statement in _V1:
        db.execute(statement)
    for table, added in _ADDED_IN_PLACE.items():
        present = _columns(db, table)
        for column, decl in added.items():
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


#: step ``i`` takes a file from version ``i`` to ``i + 1``
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (_to_v1,)
#: the version this release writes
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection) -> int:
    """The file's version; raises :class:`SchemaTooNewError` for one newer than known."""
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(found)
    return found


def migrate(db: sqlite3.Connection) -> int | None:
    """Bring the file (a connection in autocommit mode) up to :data:`SCHEMA_VERSION`;
    returns the version it had (None: a new, empty file). Raises
    :class:`SchemaTooNewError` for a newer file."""
    found = schema_version(db)
    if found == SCHEMA_VERSION:
        return found  # the usual start: one read, no write transaction
    db.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(db)  # another process may have migrated it meanwhile
        empty = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
        for step in MIGRATIONS[found:]:
            step(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    return None if empty else found
