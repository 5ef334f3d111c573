"""The state store's core: the one SQLite connection, its health and a lost file.

:class:`StoreCore` opens the file (WAL mode, the pragmas, the migrations of
:mod:`monitor.alerts.store_schema`), runs every read (``_read``) and every
write transaction (:meth:`StoreCore.transaction`, ``BEGIN IMMEDIATE``), and
keeps the store's health: errors, a full file, reopening after a failure. The
alert rows (:mod:`monitor.alerts.store_alerts`), the outbox
(:mod:`monitor.alerts.store_outbox`) and the usage history
(:mod:`monitor.alerts.store_usage`) are mixins over it, composed into
:class:`monitor.alerts.store.StateStore`.

The in-memory mirror of the alert rows lives here too, with the statement that
writes a row (:data:`UPSERT`): the alert rows' mixin fills it, a transaction
commits it, and a recreated file is re-seeded from it.

Losing the file
---------------
A state file (or its ``-wal``/``-shm``) deleted or replaced while the daemon
runs would otherwise go unnoticed: SQLite keeps writing to the unlinked inode,
and the next start finds an empty store and announces every firing alert
again. Before each operation the store compares the three files' device and
inode with those it opened (one ``stat`` each). On a mismatch it logs
``state.lost``, counts it (:attr:`StateStore.losses`) and recreates the file:

1. *salvage*: the open connection still reads the lost data through its file
   descriptors, so the whole database (alert states, outbox, usage history) is
   copied with SQLite's backup API into a new file that replaces the path;
2. *re-seed*: the alert rows are written back from an in-memory mirror of every
   row this process committed, so even when the salvage fails (or the loss is
   found while the store was closed) no firing alert is announced again inside
   its repeat interval — neither now nor after a restart. Without a salvage,
   pending notifications and the usage history are lost: the number of
   notifications lost is logged (``state.recreated``) and counted
   (:attr:`StateStore.lost_notifications`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from monitor.alerts.records import Alert
from monitor.alerts.store_codec import alert_from_json, alert_to_json, from_timestamp, to_timestamp
from monitor.alerts.store_schema import SCHEMA_VERSION, migrate

__all__ = [
    "UPSERT",
    "Loss",
    "Row",
    "StateUnavailableError",
    "StoreCore",
    "row_params",
]

# the store's one logger, whichever part of it logs
_log = structlog.get_logger("monitor.alerts.store")

#: writes one alert row (the engine's upsert, and the re-seed of a recreated file)
UPSERT = (
    "INSERT INTO alerts (fingerprint, rule, account, kind, asset, severity, status,"
    " started_at, last_notified_at, notified_severity, resolved_at, alert)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(fingerprint) DO UPDATE SET severity=excluded.severity,"
    " status=excluded.status, started_at=excluded.started_at,"
    " last_notified_at=excluded.last_notified_at,"
    " notified_severity=excluded.notified_severity, resolved_at=excluded.resolved_at,"
    " alert=excluded.alert"
)

#: the database and the two files SQLite keeps beside it in WAL mode
_SUFFIXES = ("", "-wal", "-shm")
#: a full store counts as recovered with this much room again, at most (see _has_room)
_ROOM_MAX_BYTES = 4 * 1024 * 1024


def _is_full(exc: BaseException | None) -> bool:
    """SQLITE_FULL (``max_page_count`` reached, or the volume full) or ENOSPC."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def row_params(
    alert: Alert,
    started_at: datetime,
    last_notified_at: datetime | None,
    notified_severity: str | None,
    resolved_at: datetime | None,
    *,
    stored: str | None = None,
    fingerprint: str | None = None,
) -> tuple[Any, ...]:
    """``stored``: the alert's JSON when the caller has it already (encoded once);
    ``fingerprint``: the alert's, likewise."""
    return (
        alert.fingerprint if fingerprint is None else fingerprint,
        alert.rule,
        alert.account,
        alert.kind,
        alert.asset,
        alert.severity,
        alert.status,
        to_timestamp(started_at),
        to_timestamp(last_notified_at),
        notified_severity,
        to_timestamp(resolved_at),
        alert_to_json(alert) if stored is None else stored,
    )


#: what the mirror keeps of one alert row: the upsert's arguments
Row = tuple[Alert, datetime, datetime | None, str | None, datetime | None]


class StateUnavailableError(sqlite3.OperationalError):
    """The state store cannot be opened (unwritable state dir, bad path) right now."""


def _pending(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0])


@dataclass(frozen=True, slots=True)
class Loss:
    """The last loss of the state file, for the status page."""

    at: datetime
    #: the file found missing or replaced: ``state.sqlite3``, ``…-wal`` or ``…-shm``
    file: str
    reason: str  # deleted | replaced
    #: whether the lost database was copied into the new file (else alert states only)
    salvaged: bool
    #: whether the new file is in place (False while recreating it fails)
    recreated: bool = False
    notifications_lost: int = 0


class StoreCore:
    """The one SQLite connection, shared by the event loop's thread and the alert
    engine's worker thread: every operation (a read, a whole transaction, opening,
    closing, recreating a lost file) holds one lock, so they never interleave.

    It never takes the daemon down: if the state dir is unwritable the store is
    unavailable (every call raises :class:`StateUnavailableError`) and it tries
    to open again at most every ``retry_seconds``; a full disk (or
    ``max_bytes`` reached) fails the one transaction, which rolls back, so the
    caller simply tries again next cycle. A full store stays down (``healthy``
    False) until it has room again (:meth:`_has_room`), however many updates in
    place still succeed meanwhile. Transitions between healthy and failing are
    logged once each (``state.unavailable`` / ``state.recovered``), not on every
    call. A file lost while open is recreated (module docstring).
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
        #: times the file was found lost, pending notifications lost with it
        self.losses = 0
        self.lost_notifications = 0
        self.last_loss: Loss | None = None
        #: (device, inode) of each file as opened, by suffix
        self._files: dict[str, tuple[int, int]] = {}
        #: every alert row committed, by fingerprint (re-seeds a recreated file)
        self._rows: dict[str, Row] = {}
        #: rows written by the open transaction, mirrored once it commits
        self._staged: dict[str, Row] | None = None
        #: by fingerprint: a digest of an alert's stored JSON and the alert read from
        #: (or written as) it, so a row read again unchanged is not decoded again
        self._decoded: dict[str, tuple[bytes, Alert]] = {}
        #: a lost file being recreated: the salvaged copy (if any) and what was pending
        self._salvage: Path | None = None
        self._salvaged = False
        self._pending_before = 0
        self._pending_seen = 0
        #: a transaction failed as the store was full; cleared once it has room again
        self._full = False
        #: held by every operation: the connection is used from more than one thread
        self._lock = threading.RLock()

    def open(self) -> None:
        """Open now (raises ``StateUnavailableError`` with the reason)."""
        with self._lock:
            self._next_open = 0.0
            self._conn()

    def _conn(self) -> sqlite3.Connection:
        if self._db is not None:
            lost = self._lost_file(_SUFFIXES)
            if lost is None:
                return self._db
            self._lose(*lost)
        elif not self._recreating:
            # closed or unavailable: the database itself must still be the one we knew
            lost = self._lost_file(("",))
            if lost is not None:
                self._lose(*lost)
        if self._clock() < self._next_open:
            raise StateUnavailableError(self.last_error or "state store unavailable")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._recreating:
                self._replace_lost()
            # shared by threads under self._lock
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a process crash (kill -9); only power
                # loss could lose the last transaction.
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA busy_timeout=5000")
                if self._max_bytes is not None:
                    page = db.execute("PRAGMA page_size").fetchone()[0]
                    db.execute(f"PRAGMA max_page_count={max(self._max_bytes // page, 16)}")
                found = migrate(db)
                if found is not None and found != SCHEMA_VERSION:
                    _log.info(
                        "state.migrated",
                        path=str(self.path),
                        from_version=found,
                        to_version=SCHEMA_VERSION,
                    )
                if self._recreating:
                    self._reseed(db)
                else:
                    self._rows = self._load_rows(db)
            except BaseException:
                db.close()
                raise
        except (OSError, sqlite3.Error) as exc:
            self._next_open = self._clock() + self._retry
            self._failed(f"cannot open {self.path}: {exc}", exc)
            raise StateUnavailableError(self.last_error or str(exc)) from None
        self._db = db
        self._files = self._file_ids()
        self._ok(db)
        return db

    # -- a lost file ------------------------------------------------------------------

    @property
    def _recreating(self) -> bool:
        return self.last_loss is not None and not self.last_loss.recreated

    def _file_ids(self) -> dict[str, tuple[int, int]]:
        ids = {}
        for suffix in _SUFFIXES:
            with contextlib.suppress(OSError):
                st = os.stat(f"{self.path}{suffix}")
                ids[suffix] = (st.st_dev, st.st_ino)
        return ids

    def _lost_file(self, suffixes: Iterable[str]) -> tuple[str, str] | None:
        """``(file, "deleted" | "replaced")`` of the first file that is not the one opened."""
        for suffix in suffixes:
            known = self._files.get(suffix)
            if known is None:
                continue
            try:
                st = os.stat(f"{self.path}{suffix}")
            except (FileNotFoundError, NotADirectoryError):  # or its whole dir
                return self.path.name + suffix, "deleted"
            except OSError:
                return None  # an unreadable dir: the operation itself will say so
            if (st.st_dev, st.st_ino) != known:
                return self.path.name + suffix, "replaced"
        return None

    def _lose(self, file: str, reason: str) -> None:
        """Count and log the loss, salvage what the open connection still reads, close it."""
        ghost, self._db = self._db, None
        self._files = {}
        self.losses += 1
        self._pending_before = self._pending_seen
        self._salvage, self._salvaged = None, False
        if ghost is not None:
            with contextlib.suppress(sqlite3.Error):
                self._pending_before = _pending(ghost)
            self._salvage = self._copy(ghost)
            with contextlib.suppress(sqlite3.Error):
                ghost.close()
        self.last_loss = Loss(datetime.now(UTC), file, reason, salvaged=self._salvage is not None)
        self._next_open = 0.0  # recreate it now
        _log.error(
            "state.lost",
            path=str(self.path),
            file=file,
            reason=reason,
            salvaged=self._salvage is not None,
            # without a salvage only the alert states survive (from memory)
            history_kept=self._salvage is not None,
            pending_notifications=self._pending_before,
        )

    def _copy(self, ghost: sqlite3.Connection) -> Path | None:
        """The lost database copied beside the path (None if it cannot be read)."""
        target = self.path.with_name(self.path.name + ".salvage")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            copy = sqlite3.connect(str(target))
            try:
                ghost.backup(copy)
            finally:
                copy.close()
        except (OSError, sqlite3.Error) as exc:
            _log.warning("state.salvage_failed", path=str(self.path), error=str(exc))
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
            return None
        return target

    def _replace_lost(self) -> None:
        """Put the salvaged copy in place; a stale ``-wal`` must never meet a new file."""
        if self._salvage is not None or not self.path.exists():
            for suffix in _SUFFIXES[1:]:
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        if self._salvage is not None:
            os.replace(self._salvage, self.path)
            self._salvage, self._salvaged = None, True

    def _reseed(self, db: sqlite3.Connection) -> None:
        """Write the mirrored alert rows into the recreated file and report the loss."""
        assert self.last_loss is not None  # noqa: S101 - only called while recreating
        salvaged = self._salvaged
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(UPSERT, [row_params(*row) for row in self._rows.values()])
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        pending = _pending(db)
        lost = 0 if salvaged else max(self._pending_before - pending, 0)
        self._pending_seen = pending
        self.lost_notifications += lost
        self.last_loss = replace(self.last_loss, recreated=True, notifications_lost=lost)
        _log.warning(
            "state.recreated",
            path=str(self.path),
            salvaged=salvaged,
            alerts_restored=len(self._rows),
            notifications_lost=lost,
            history_kept=salvaged,
        )

    @staticmethod
    def _load_rows(db: sqlite3.Connection) -> dict[str, Row]:
        rows = db.execute(
            "SELECT fingerprint, alert, started_at, last_notified_at, notified_severity,"
            " resolved_at FROM alerts"
        ).fetchall()
        return {
            r[0]: (
                alert_from_json(r[1]),
                from_timestamp(r[2]) or datetime.fromtimestamp(0, UTC),
                from_timestamp(r[3]),
                r[4],
                from_timestamp(r[5]),
            )
            for r in rows
        }

    # -- operations -------------------------------------------------------------------

    def _failed(self, reason: str, exc: BaseException | None = None) -> None:
        self.errors += 1
        self.last_error = reason
        if _is_full(exc):
            self._full = True
        if self.healthy:
            _log.error("state.unavailable", path=str(self.path), error=reason)
        self.healthy = False

    def _ok(self, db: sqlite3.Connection) -> None:
        """A successful open or transaction: healthy again, unless the store was full
        and still is (an update in place succeeds in a full file while every insert
        fails: that is no recovery, and the store stays down)."""
        if self._full:
            if not self._has_room(db):
                return
            self._full = False
        if not self.healthy:
            _log.info("state.recovered", path=str(self.path))
        self.healthy = True
        self.last_error = None

    def _has_room(self, db: sqlite3.Connection) -> bool:
        """Whether the file may grow again by a margin (1 % of its limit, 4 pages to
        4 MiB): free pages inside it, pages left under ``max_page_count`` and bytes
        left on the volume. Asked only after a "full" failure."""
        try:
            page = int(db.execute("PRAGMA page_size").fetchone()[0])
            pages = int(db.execute("PRAGMA page_count").fetchone()[0])
            limit = int(db.execute("PRAGMA max_page_count").fetchone()[0])
            free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        except sqlite3.Error:
            return False
        need = max(4 * page, min(limit * page // 100, _ROOM_MAX_BYTES))
        if (limit - pages + free) * page < need:
            return False
        try:
            disk = os.statvfs(self.path.parent)
        except OSError:
            return True  # no statvfs here: the file's own limit decides
        return disk.f_bavail * disk.f_frsize + free * page >= need

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            # SQLite removes -wal and -shm with the last connection; the database stays
            self._files = {k: v for k, v in self._files.items() if k == ""}

    def _read(self, query: str, args: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            db = self._conn()
            try:
                rows = db.execute(query, tuple(args)).fetchall()
            except sqlite3.Error as exc:
                self._failed(str(exc), exc)
                raise
            return rows

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._failed(str(exc), exc)
                raise
            self._staged = {}
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    self._failed(str(exc), exc)
                raise
            finally:
                staged, self._staged = self._staged or {}, None
            self._rows.update(staged)
            self._ok(db)
