"""The alert lifecycle under time travel, through the outbox to a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio

from monitor.alerts.channels import build_channel
from monitor.alerts.channels.config import parse_channel_config
from monitor.alerts.config import AlertsConfig
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.engine import AlertEngine
from monitor.alerts.store import StateStore
from monitor.domain import FamilyResult
from monitor.errors import TransportError
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
    path: Path

    async def cycle(self, *assets: Any) -> None:
        """Every family collected with these assets, rules evaluated, outbox delivered."""
        collected(self.snapshot, self.clock.now, *assets)
        self.engine.evaluate(self.snapshot.current, "acme", self.clock.now)
        await self.dispatcher.deliver_due()


def _world(tmp_path: Path, receiver: Receiver, clock: Clock, **alerts: Any) -> World:
    config = AlertsConfig.model_validate(
        {"repeat_interval_seconds": 86400, "delivery": {"backoff_initial_seconds": 60}, **alerts}
    )
    channel = build_channel(
        parse_channel_config(
            {"name": "ops", "type": "webhook", "url": "http://receiver.test/hook"}
        ),
        transport=receiver.transport(),
        clock=lambda: clock.now.timestamp(),  # noqa: PLW0108 - read at call time
        limiters=None,
    )
    state = StateStore(tmp_path / "state.sqlite3")
    dispatcher = Dispatcher(state, {"ops": channel}, config.delivery, clock=clock)
    engine = AlertEngine(config, state, [channel], zones={"acme": SHANGHAI}, started_at=clock.now)
    return World(clock, snapshot_store(), receiver, engine, dispatcher, state, tmp_path)


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = _world(tmp_path, Receiver(), Clock())
    yield w
    w.state.close()


async def test_fire_escalate_repeat_resolve(world: World) -> None:
    w = world
    pkg = voice("female_1", expires_in_days=10)
    await w.cycle(pkg)
    assert w.receiver.alerts() == [("firing", "expiring", "female_1", "warning")]

    w.clock.advance(hours=1)
    await w.cycle(pkg)
    assert len(w.receiver.bodies) == 1  # nothing new inside the repeat interval

    w.clock.advance(days=3, hours=1)  # 5.9 days left: critical
    await w.cycle(pkg)
    assert w.receiver.alerts()[-1] == ("firing", "expiring", "female_1", "critical")
    assert len(w.receiver.bodies) == 2

    w.clock.advance(hours=23)
    await w.cycle(pkg)
    assert len(w.receiver.bodies) == 2
    w.clock.advance(hours=1, minutes=1)  # a day after the escalation: the repeat
    await w.cycle(pkg)
    assert len(w.receiver.bodies) == 3
    assert w.receiver.bodies[2]["alerts"][0]["labels"]["severity"] == "critical"

    assert pkg.expires_at is not None
    renewed = replace(pkg, expires_at=pkg.expires_at + timedelta(days=365))
    await w.cycle(renewed)
    last = w.receiver.bodies[-1]
    assert last["status"] == "resolved"
    [alert] = last["alerts"]
    assert alert["status"] == "resolved"
    assert alert["endsAt"] != "0001-01-01T00:00:00Z"
    assert "renewed" in alert["annotations"]["summary"]

    w.clock.advance(days=2)
    await w.cycle(renewed)
    assert len(w.receiver.bodies) == 4  # resolved once, never again


async def test_resolve_reasons_gone_and_topped_up(world: World) -> None:
    w = world
    low = service("BroadcastHour-a", remaining_h=30, ordered_h=1000)
    other = voice("v", expires_in_days=3)
    await w.cycle(low, other)
    assert {(r, a) for _, r, a, _ in w.receiver.alerts()} == {
        ("hours_low", "BroadcastHour-a"),
        ("expiring", "v"),
    }
    topped = replace(low, remaining_seconds=900 * 3600)
    await w.cycle(topped)  # voice v vanished upstream
    resolved = {a["labels"]["asset"]: a for a in w.receiver.bodies[-1]["alerts"]}
    assert "topped up" in resolved["BroadcastHour-a"]["annotations"]["summary"]
    assert "no longer listed" in resolved["v"]["annotations"]["summary"]


async def test_never_expiring_voice_is_never_alerted(world: World) -> None:
    await world.cycle(voice("male_11", expires_in_days=None))
    world.clock.advance(days=400)
    await world.cycle(voice("male_11", expires_in_days=None))
    assert world.receiver.bodies == []


async def test_stale_data_neither_fires_nor_resolves(world: World) -> None:
    w = world
    soon = voice("soon", expires_in_days=3)
    await w.cycle(soon)
    assert len(w.receiver.bodies) == 1
    # the voices family now fails: the asset is "missing" only because we can't see it
    w.clock.advance(hours=2)
    error = TransportError("down", account="acme", endpoint="describetimbre")
    w.snapshot.apply(FamilyResult("acme", "timbres", error=error), w.clock.now)
    w.engine.evaluate(w.snapshot.current, "acme", w.clock.now)
    await w.dispatcher.deliver_due()
    # no "resolved" for the voice we can no longer see; only the monitor's own alert,
    # as the failure has lasted longer than stale_after (1 h)
    assert w.receiver.alerts() == [
        ("firing", "expiring", "soon", "critical"),
        ("firing", "collection_failing", "", "warning"),
    ]
    assert {a.rule for a in w.engine.firing.values()} == {"expiring", "collection_failing"}


async def test_one_message_per_cycle_groups_every_alert(world: World) -> None:
    await world.cycle(
        voice("a", expires_in_days=2),
        voice("b", expires_in_days=20),
        service("BroadcastHour-x", remaining_h=10, ordered_h=1000),
    )
    assert len(world.receiver.bodies) == 1
    assert len(world.receiver.bodies[0]["alerts"]) == 3


async def test_failed_delivery_is_retried_and_arrives_after_recovery(world: World) -> None:
    w = world
    w.receiver.fail_with = [500, 503]
    await w.cycle(voice("v", expires_in_days=3))
    assert w.receiver.bodies == []
    assert w.dispatcher.queue_depth == 1
    w.clock.advance(minutes=1)
    await w.dispatcher.deliver_due()  # second failure
    assert w.receiver.bodies == []
    w.clock.advance(hours=1)
    await w.dispatcher.deliver_due()
    assert w.receiver.alerts() == [("firing", "expiring", "v", "critical")]
    assert w.dispatcher.queue_depth == 0
    # same idempotency id on every attempt
    assert w.receiver.headers[0]["idempotency-key"]


async def test_permanent_failure_is_dead_lettered(world: World) -> None:
    w = world
    w.receiver.fail_with = [410]
    await w.cycle(voice("v", expires_in_days=3))
    [dead] = w.state.outbox(states=("dead",))
    assert "410" in (dead.last_error or "") or "gone" in (dead.last_error or "").lower()
    assert w.dispatcher.queue_depth == 0


async def test_restart_keeps_pending_and_does_not_repeat_delivered(tmp_path: Path) -> None:
    clock = Clock()
    receiver = Receiver(fail_with=[503])
    first = _world(tmp_path, receiver, clock)
    await first.cycle(voice("a", expires_in_days=3))  # delivery fails: stays pending
    assert receiver.bodies == []
    first.state.close()

    # a new process over the same state dir
    clock.advance(hours=2)
    second = _world(tmp_path, receiver, clock)
    await second.dispatcher.deliver_due()
    assert receiver.alerts() == [("firing", "expiring", "a", "critical")]
    await second.cycle(voice("a", expires_in_days=3))
    clock.advance(hours=3)
    await second.cycle(voice("a", expires_in_days=3))
    assert len(receiver.bodies) == 1  # delivered once, not repeated inside the interval
    second.state.close()


async def test_receiver_down_for_hours_gets_it_after_recovery(world: World) -> None:
    w = world
    attempts = 0
    w.receiver.fail_with = [503] * 10_000
    await w.cycle(voice("v", expires_in_days=3))
    for _ in range(36):  # six hours, looking every ten minutes
        w.clock.advance(minutes=10)
        before = len(w.receiver.fail_with)
        await w.dispatcher.deliver_due()
        attempts += before - len(w.receiver.fail_with)
    assert w.receiver.bodies == []
    assert w.dispatcher.queue_depth == 1  # still pending: never dropped
    assert 4 <= attempts <= 16  # exponential backoff (capped at 1 h), not one per look
    w.receiver.fail_with = []
    w.clock.advance(hours=2)
    await w.dispatcher.deliver_due()
    assert w.receiver.alerts() == [("firing", "expiring", "v", "critical")]
    assert w.dispatcher.queue_depth == 0


async def test_service_package_renewed_reads_as_renewed(world: World) -> None:
    """Packages have no upstream id: a renewal is one package going, a later one coming."""
    w = world
    old = service("BroadcastHour-20261201", expires_in_days=3)
    await w.cycle(old)
    assert w.receiver.alerts() == [("firing", "expiring", "BroadcastHour-20261201", "critical")]
    new = service("BroadcastHour-20271201", expires_in_days=368)
    await w.cycle(new)
    [resolved] = w.receiver.bodies[-1]["alerts"]
    assert resolved["status"] == "resolved"
    assert "renewed" in resolved["annotations"]["summary"]


async def test_expiry_unknown_fires_in_both_languages_and_resolves_once_dated(
    tmp_path: Path,
) -> None:
    for language, words in (("en", "no known expiry"), ("zh", "到期时间未知")):
        receiver = Receiver()
        w = _world(
            tmp_path / language,
            receiver,
            Clock(),
            language=language,
            rules={"expiry_unknown": {"enabled": True}},
        )
        try:
            blank = replace(voice("blank", expires_in_days=None), expiry_unknown=True)
            await w.cycle(blank)
            assert receiver.alerts() == [("firing", "expiry_unknown", "blank", "warning")]
            [alert] = receiver.bodies[0]["alerts"]
            assert alert["labels"]["alertname"] == "IvhAssetExpiryUnknown"
            assert words in alert["annotations"]["summary"]
            await w.cycle(voice("blank", expires_in_days=200))
            assert receiver.alerts()[-1][0] == "resolved"
            summary = receiver.bodies[-1]["alerts"][0]["annotations"]["summary"]
            assert ("expiry known again" if language == "en" else "到期时间已可知") in summary
        finally:
            w.state.close()


async def test_alerts_read_back_in_this_process_are_the_ones_a_restart_reads(
    world: World,
) -> None:
    """The store hands back an alert it wrote (or read) unchanged without decoding it
    again: what it returns must be what a freshly opened store decodes from the file,
    firing and resolved, through quiet cycles that rewrite the changing values."""
    w = world
    low = service("BroadcastHour-a", remaining_h=30, ordered_h=1000)
    await w.cycle(low, voice("v", expires_in_days=3), voice("w", expires_in_days=9))
    for _ in range(3):
        w.clock.advance(minutes=7)
        await w.cycle(low, voice("v", expires_in_days=3), voice("w", expires_in_days=9))
    w.clock.advance(minutes=7)
    await w.cycle(replace(low, remaining_seconds=900 * 3600), voice("w", expires_in_days=9))
    here = {r.fingerprint: r.alert for r in w.state.alerts()}
    assert {a.status for a in here.values()} == {"firing", "resolved"}
    assert dict(w.engine.firing) == {fp: a for fp, a in here.items() if a.status == "firing"}
    fresh = StateStore(w.path / "state.sqlite3")
    try:
        assert {r.fingerprint: r.alert for r in fresh.alerts()} == here
    finally:
        fresh.close()


async def test_an_evaluation_of_one_family_leaves_the_alerts_of_the_others_as_they_are(
    world: World,
) -> None:
    """What a collection of one family changed is evaluated alone: an alert of another
    family stays firing, as its last evaluation left it, until that family's turn."""
    w = world
    low = service("BroadcastHour-a", remaining_h=30, ordered_h=1000)
    await w.cycle(low, voice("v", expires_in_days=3))
    fired = {a.fingerprint: a for a in w.engine.firing.values()}
    assert {(a.rule, a.asset) for a in fired.values()} == {
        ("hours_low", "BroadcastHour-a"),
        ("expiring", "v"),
    }
    # both put right upstream and collected; only the services are evaluated
    w.clock.advance(minutes=5)
    collected(
        w.snapshot,
        w.clock.now,
        replace(low, remaining_seconds=900 * 3600),
        voice("v", expires_in_days=300),
    )
    w.engine.evaluate(w.snapshot.current, "acme", w.clock.now, families={"services"})
    await w.dispatcher.deliver_due()
    assert w.receiver.alerts()[-1][:3] == ("resolved", "hours_low", "BroadcastHour-a")
    (voice_alert,) = w.engine.firing.values()
    assert voice_alert == next(a for a in fired.values() if a.asset == "v")
    assert [r.alert for r in w.state.alerts("acme", status="firing")] == [voice_alert]

    w.engine.evaluate(w.snapshot.current, "acme", w.clock.now, families={"timbres"})
    await w.dispatcher.deliver_due()
    assert w.receiver.alerts()[-1][:3] == ("resolved", "expiring", "v")
    assert dict(w.engine.firing) == {}
