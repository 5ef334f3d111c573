"""A state file lost while the daemon runs: detected, counted, recreated, nothing repeated.

In process, under time travel, through the outbox to a webhook receiver; the
real daemon is in ``tests/alerts/test_process.py``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from monitor.alerts.channels import build_channel
from monitor.alerts.channels.config import parse_channel_config
from monitor.alerts.config import AlertsConfig
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.engine import AlertEngine
from monitor.alerts.store import StateStore
from monitor.snapshot import SnapshotStore
from tests.alerting import SHANGHAI, Clock, Receiver, collected, service, snapshot_store, voice


@dataclass
class World:
    clock: Clock
    snapshot: SnapshotStore
    receiver: Receiver
    engine: AlertEngine
    dispatcher: Dispatcher
    state: StateStore

    async def cycle(self, *assets: Any) -> None:
        collected(self.snapshot, self.clock.now, *assets)
        for asset in assets:
            if asset.kind == "service":
                self.engine.record_usage("acme", [asset], self.clock.now)
        self.engine.evaluate(self.snapshot.current, "acme", self.clock.now)
        await self.dispatcher.deliver_due()


def _world(
    path: Path, receiver: Receiver, clock: Clock, store: dict[str, Any] | None = None
) -> World:
    config = AlertsConfig.model_validate(
        {"repeat_interval_seconds": 86400, "delivery": {"backoff_initial_seconds": 60}}
    )
    channel = build_channel(
        parse_channel_config({"name": "ops", "type": "webhook", "url": "http://receiver.test/h"}),
        transport=receiver.transport(),
        clock=lambda: clock.now.timestamp(),  # noqa: PLW0108 - read at call time
        limiters=None,
    )
    state = StateStore(path, **(store or {}))
    dispatcher = Dispatcher(state, {"ops": channel}, config.delivery, clock=clock)
    engine = AlertEngine(config, state, [channel], zones={"acme": SHANGHAI}, started_at=clock.now)
    return World(clock, snapshot_store(), receiver, engine, dispatcher, state)


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = _world(tmp_path / "state" / "state.sqlite3", Receiver(), Clock())
    yield w
    w.state.close()


def _delete(path: Path, suffixes: tuple[str, ...]) -> None:
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink()


def _events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


@pytest.mark.parametrize("suffixes", [("", "-wal", "-shm"), ("",), ("-wal",), ("-shm",)], ids=str)
async def test_deleted_state_file_is_salvaged_and_nothing_repeats(
    world: World, tmp_path: Path, suffixes: tuple[str, ...]
) -> None:
    w = world
    path = w.state.path
    expiring = voice("v", expires_in_days=10)
    hours = service("BroadcastHour-1", remaining_h=500)
    await w.cycle(expiring, hours)
    assert w.receiver.alerts() == [("firing", "expiring", "v", "warning")]
    # a second alert whose delivery fails: it waits in the outbox
    w.receiver.fail_with = [503]
    w.clock.advance(hours=1)
    await w.cycle(expiring, voice("w", expires_in_days=3), hours)
    assert w.dispatcher.queue_depth == 1

    _delete(path, suffixes)
    w.clock.advance(hours=1)
    with capture_logs() as logs:
        await w.cycle(expiring, voice("w", expires_in_days=3), hours)
    [lost] = _events(logs, "state.lost")
    assert lost["path"] == str(path)
    assert lost["file"] == path.name + suffixes[0]
    assert (lost["reason"], lost["salvaged"], lost["pending_notifications"]) == ("deleted", True, 1)
    [recreated] = _events(logs, "state.recreated")
    assert (recreated["notifications_lost"], recreated["history_kept"]) == (0, True)
    assert path.exists()
    assert w.state.losses == 1
    assert w.state.healthy
    assert w.state.last_loss is not None
    assert w.state.last_loss.recreated

    # the pending one arrives after its backoff; the first is not repeated
    w.clock.advance(hours=2)
    await w.cycle(expiring, voice("w", expires_in_days=3), hours)
    assert w.receiver.alerts() == [
        ("firing", "expiring", "v", "warning"),
        ("firing", "expiring", "w", "critical"),
    ]
    assert w.state.usage("acme", w.clock.now.replace(year=2000))  # history kept
    assert w.state.losses == 1  # the new file is the one watched now

    # and a restart over the recreated file repeats nothing inside the interval
    w.state.close()
    w.clock.advance(hours=3)
    again = _world(path, w.receiver, w.clock)
    try:
        await again.cycle(expiring, voice("w", expires_in_days=3), hours)
        assert len(w.receiver.bodies) == 2
    finally:
        again.state.close()


async def test_replaced_state_file_is_detected_and_overwritten_by_what_the_daemon_knows(
    world: World, tmp_path: Path
) -> None:
    w = world
    path = w.state.path
    await w.cycle()  # an empty store, copied as the "old backup"
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(path, backup)
    await w.cycle(voice("v", expires_in_days=10))
    assert len(w.receiver.bodies) == 1

    os.replace(backup, path)
    w.clock.advance(hours=1)
    with capture_logs() as logs:
        await w.cycle(voice("v", expires_in_days=10))
    [lost] = _events(logs, "state.lost")
    assert (lost["file"], lost["reason"]) == (path.name, "replaced")
    assert len(w.receiver.bodies) == 1
    assert [r.alert.asset for r in w.state.alerts(status="firing")] == ["v"]


async def test_lost_while_closed_keeps_alert_states_from_memory_and_counts_what_is_lost(
    world: World,
) -> None:
    """Nothing to salvage (the store was not open): the alert rows come back from the
    in-memory mirror; the pending notification and the usage history are gone, and say so."""
    w = world
    path = w.state.path
    hours = service("BroadcastHour-1", remaining_h=500)
    await w.cycle(voice("v", expires_in_days=10), hours)
    w.receiver.fail_with = [503]
    w.clock.advance(hours=1)
    await w.cycle(voice("v", expires_in_days=10), voice("w", expires_in_days=3), hours)
    assert w.dispatcher.queue_depth == 1
    w.state.close()
    _delete(path, ("",))

    w.clock.advance(hours=1)
    with capture_logs() as logs:
        await w.cycle(voice("v", expires_in_days=10), voice("w", expires_in_days=3), hours)
    [lost] = _events(logs, "state.lost")
    assert (lost["reason"], lost["salvaged"], lost["history_kept"]) == ("deleted", False, False)
    [recreated] = _events(logs, "state.recreated")
    assert (recreated["alerts_restored"], recreated["notifications_lost"]) == (2, 1)
    assert w.state.lost_notifications == 1
    # both alerts are known as notified: neither is announced again
    w.clock.advance(hours=3)
    await w.cycle(voice("v", expires_in_days=10), voice("w", expires_in_days=3), hours)
    assert w.receiver.alerts() == [("firing", "expiring", "v", "warning")]
    assert {r.alert.asset for r in w.state.alerts(status="firing")} == {"v", "w"}


async def test_a_state_dir_that_cannot_be_recreated_is_down_until_it_can(tmp_path: Path) -> None:
    """The whole state dir gone and a file in its place: nothing can be salvaged or
    written; the store is down (and says why) until the dir can be made again."""
    ticks = [0.0]
    state_dir = tmp_path / "state"
    w = _world(
        state_dir / "state.sqlite3",
        Receiver(),
        Clock(),
        {"retry_seconds": 30, "clock": lambda: ticks[0]},
    )
    try:
        await w.cycle(voice("v", expires_in_days=10))
        assert len(w.receiver.bodies) == 1
        shutil.rmtree(state_dir)
        state_dir.write_text("not a directory")

        w.clock.advance(hours=1)
        with capture_logs() as logs, pytest.raises(sqlite3.Error):
            w.engine.evaluate(w.snapshot.current, "acme", w.clock.now)
        [lost] = _events(logs, "state.lost")
        assert (lost["reason"], lost["salvaged"]) == ("deleted", False)
        [down] = _events(logs, "state.unavailable")
        assert str(state_dir) in down["error"]
        assert not w.state.healthy
        assert w.state.last_loss is not None
        assert not w.state.last_loss.recreated

        state_dir.unlink()
        ticks[0] += 31  # the store tries again after retry_seconds
        with capture_logs() as logs:
            await w.cycle(voice("v", expires_in_days=10))
        assert [e["event"] for e in logs if e["event"].startswith("state.")] == [
            "state.recreated",
            "state.recovered",
        ]
        assert w.state.healthy
        assert w.state.losses == 1
        assert len(w.receiver.bodies) == 1  # known as notified: not announced again
    finally:
        w.state.close()
