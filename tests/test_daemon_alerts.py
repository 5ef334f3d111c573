"""The daemon's alert evaluations when an account's families land together or apart."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio

from monitor.alerts.records import Alert
from monitor.daemon import Daemon
from monitor.domain import FAMILIES
from monitor.simulator import Fault, RunningSimulator, default_dataset, run_simulator
from tests.processes import eventually
from tests.tenancy import Clock, account_config, collect, settings_of

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
ACCOUNT = "xinghe-live"


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(NOW)) as running:
        yield running


def _daemon(sim: RunningSimulator, state: Path) -> Daemon:
    settings, accounts = settings_of({"accounts": [account_config(sim, ACCOUNT)]}, state)
    return Daemon(settings, accounts, clock=Clock(NOW))


def _firing(daemon: Daemon) -> set[tuple[str, str, str, str]]:
    return {(a.rule, a.kind, a.asset, a.severity) for a in daemon.engine.firing.values()}


def _voice_turns_critical(daemon: Daemon, clock: Clock) -> Alert:
    """A voice whose expiry alert is a warning now, with the clock moved on to where
    it is critical (half a day past the critical threshold)."""
    voice = next(
        a for a in daemon.engine.firing.values() if a.kind == "timbre" and a.severity == "warning"
    )
    days_left = voice.values["days_left"]
    assert isinstance(days_left, float)
    critical = daemon.engine.config.rules.expiring.critical_days
    clock.now = NOW + timedelta(days=days_left - critical + 0.5)
    return voice


async def test_families_landing_together_alert_as_families_collected_one_by_one(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    apart = _daemon(sim, tmp_path / "apart")
    together = _daemon(sim, tmp_path / "together")
    try:
        await collect(apart)
        await asyncio.gather(*(together.run_family(ACCOUNT, f) for f in FAMILIES))
        expected = _firing(apart)
        assert {kind for _, kind, _, _ in expected} >= {"service", "timbre", "image"}
        assert _firing(together) == expected
    finally:
        await apart.stop()
        await together.stop()


async def test_a_landed_family_is_evaluated_while_another_still_collects(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    clock = Clock(NOW)
    settings, accounts = settings_of({"accounts": [account_config(sim, ACCOUNT)]}, tmp_path)
    daemon = Daemon(settings, accounts, clock=clock)
    jobs: list[asyncio.Future[object]] = []
    try:
        await collect(daemon)  # the first round: every alert as it is now
        voice = _voice_turns_critical(daemon, clock)
        sim.faults.add(Fault(kind="hang", account=ACCOUNT, endpoint="getserviceasset"))
        jobs = [asyncio.ensure_future(daemon.run_family(ACCOUNT, f)) for f in FAMILIES]

        async def escalated() -> bool:
            alert = daemon.engine.firing.get(voice.fingerprint)
            return alert is not None and alert.severity == "critical"

        await eventually(escalated, "the voice's alert escalated, services still collecting")
        assert not jobs[FAMILIES.index("services")].done()
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await daemon.stop()


async def test_families_landing_during_an_evaluation_are_all_evaluated_by_the_next(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """Each landing evaluates its own family's rules; those that land while one runs
    queue one evaluation between them, of every family they brought: none is dropped."""
    apart = _daemon(sim, tmp_path / "apart")
    held = _daemon(sim, tmp_path / "held")
    release = threading.Event()
    try:
        await collect(apart)
        expected = _firing(apart)
        # the alert worker is busy: every evaluation waits behind this
        busy = held.engine._pool().submit(release.wait, 30)  # the one worker
        jobs = [asyncio.ensure_future(held.run_family(ACCOUNT, f)) for f in FAMILIES]

        async def queued() -> bool:
            return all(held.store.current.families[(ACCOUNT, f)].attempted for f in FAMILIES)

        await eventually(queued, "every family landed, the evaluations waiting")
        assert _firing(held) == set()
        release.set()
        await asyncio.gather(*jobs)
        busy.result(5)
        assert {kind for _, kind, _, _ in expected} >= {"service", "timbre", "image"}
        assert _firing(held) == expected
    finally:
        release.set()
        await apart.stop()
        await held.stop()


async def test_what_time_changes_is_noticed_when_any_family_of_the_account_lands(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """A family collected seldom still has its alerts follow the clock: a voice's expiry
    drawing near escalates when the account's services land, the voices not collected."""
    clock = Clock(NOW)
    settings, accounts = settings_of({"accounts": [account_config(sim, ACCOUNT)]}, tmp_path)
    daemon = Daemon(settings, accounts, clock=clock)
    try:
        await collect(daemon)
        voice = _voice_turns_critical(daemon, clock)
        await daemon.run_family(ACCOUNT, "services")
        alert = daemon.engine.firing.get(voice.fingerprint)
        assert alert is not None
        assert alert.severity == "critical"
    finally:
        await daemon.stop()
