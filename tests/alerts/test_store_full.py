"""A full state store (``alerts.state_max_mb`` reached, or the volume full) stays down
until it has room again: an update in place that still fits is no recovery.

In process against the real SQLite file; the real daemon is in
``tests/test_faults.py`` (test_full_state_store_keeps_collecting_and_loses_nothing).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from monitor.alerts.store import StateStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: 16 pages of 4 KiB, the smallest store there is (as ``state_max_mb: 0.02``)
TINY = 20_000
_NAME = "x" * 200  # a row takes a good part of a page: the file fills in a few dozen


def _events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


def _grow(store: StateStore, i: int) -> None:
    """A write that needs new room: one more usage sample."""
    with contextlib.suppress(sqlite3.Error):
        store.record_usage("acme", [(f"pkg-{i}-{_NAME}", float(i))], T0 + timedelta(seconds=i))


def _fill(store: StateStore) -> int:
    for i in range(10_000):
        _grow(store, i)
        if not store.healthy:
            return i
    raise AssertionError("the store never filled up")


def test_a_full_store_stays_down_until_housekeeping_frees_room(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3", max_bytes=TINY)
    store.open()
    try:
        with capture_logs() as logs:
            filled = _fill(store)
            errors = store.errors
            for i in range(filled + 1, filled + 30):
                # the cycle's updates in place still fit, its new rows do not
                store.record_usage("acme", [(f"pkg-0-{_NAME}", float(i))], T0)
                assert not store.healthy, i
                _grow(store, i)
                assert not store.healthy, i
                assert store.last_error is not None
                assert "full" in store.last_error
            assert store.errors > errors  # every failed write counted
            # housekeeping frees room: up again, once
            store.prune_usage(T0 + timedelta(days=1))
            assert store.healthy
            store.record_usage("acme", [("fresh", 1.0)], T0)
            assert store.healthy
        unavailable = _events(logs, "state.unavailable")
        assert len(unavailable) == 1
        assert "full" in unavailable[0]["error"]
        assert len(_events(logs, "state.recovered")) == 1
    finally:
        store.close()


def test_a_full_store_is_up_again_with_a_higher_limit_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = StateStore(path, max_bytes=TINY)
    store.open()
    _fill(store)
    store.close()
    with capture_logs() as logs:
        # restarted with the same limit: down at the first write that needs room
        same = StateStore(path, max_bytes=TINY)
        same.open()
        for i in range(20_000, 20_010):
            _grow(same, i)
            assert not same.healthy
        same.close()
        roomy = StateStore(path, max_bytes=10 * 1024 * 1024)
        roomy.open()
        for i in range(30_000, 30_010):
            _grow(roomy, i)
            assert roomy.healthy
        roomy.close()
    assert len(_events(logs, "state.unavailable")) == 1
    assert _events(logs, "state.recovered") == []  # a new store starts up
