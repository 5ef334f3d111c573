"""The daemon's forecast path against the simulator burning hours on a schedule.

Three weeks of usual usage are in the state store (written as the demo writes
them), then the simulator's package burns: first at its usual rate (a weekly
forecast, no runaway), then at five times it (the runaway metric, the
``runaway_burn`` alert with the usual and the current rate, the status API).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest_asyncio

from monitor.daemon import Daemon
from monitor.demo import demo_settings, seed_history
from monitor.domain import Asset
from monitor.simulator import Dataset, default_dataset, run_simulator
from tests.alerting import Clock
from tests.processes import serving

ACCOUNT = "horizon-sg"
TYPE = "HalfRealistic3DBroadcastHour"
USUAL = 0.5  # seconds per second: half a stream, on average, at this hour


@dataclass
class Burning:
    daemon: Daemon
    dataset: Dataset
    clock: Clock
    url: str

    def asset(self) -> Asset:
        return next(a for a in self.daemon.store.current.assets(self.clock()) if a.type == TYPE)

    async def burn(self, rate: float, minutes: int) -> None:
        """``rate`` seconds per second for ``minutes``, a collection every five minutes."""
        for _ in range(minutes // 5):
            left = self.asset().remaining_seconds or 0.0
            self.dataset.account(ACCOUNT).set_service_figures(
                TYPE, RemainMilliseconds=round((left - rate * 300) * 1000)
            )
            self.clock.advance(seconds=300)
            await self.daemon.run_family(ACCOUNT, "services")

    def metrics(self) -> str:
        return self.daemon.registry.render_text().decode()


@pytest_asyncio.fixture
async def burning(tmp_path: Path) -> AsyncIterator[Burning]:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    async with run_simulator(default_dataset(clock())) as sim:
        settings, accounts = demo_settings(
            sim.url,
            state_dir=str(tmp_path),
            alerts={"rules": {"runaway_burn": {"sustained_minutes": 30}}},
        )
        daemon = Daemon(settings, [a for a in accounts if a.name == ACCOUNT], clock=clock)
        try:
            await daemon.run_family(ACCOUNT, "services")
            asset = next(a for a in daemon.store.current.assets(clock()) if a.type == TYPE)
            first = daemon.state.usage(ACCOUNT, clock() - timedelta(hours=1))[asset.id][0]
            seed_history(
                daemon.state,
                ACCOUNT,
                asset.id,
                first,
                ordered=asset.ordered_seconds or 0.0,
                zone=accounts[0].zone,
                usual=USUAL,
            )
            daemon.engine.refit()
            async with serving(daemon) as url:
                yield Burning(daemon, sim.dataset, clock, url)
        finally:
            await daemon.stop()


def _line(metrics: str, name: str) -> str:
    found = [x for x in metrics.splitlines() if x.startswith(name + "{") and TYPE in x]
    assert len(found) == 1, (name, found)
    return found[0]


async def test_usual_burn_is_a_weekly_forecast_and_no_runaway(burning: Burning) -> None:
    await burning.burn(USUAL, 45)
    metrics = burning.metrics()
    assert 'model="weekly"' in _line(metrics, "ivh_service_forecast_info")
    assert _line(metrics, "ivh_service_runaway").endswith(" 0.0")
    ratio = float(_line(metrics, "ivh_service_burn_ratio").rsplit(" ", 1)[1])
    assert ratio < 1.5
    for name in (
        "ivh_service_depletion_timestamp_seconds",
        "ivh_service_depletion_earliest_timestamp_seconds",
        "ivh_service_depletion_latest_timestamp_seconds",
        "ivh_service_usual_usage_rate",
        "ivh_service_observed_usage_rate",
    ):
        _line(metrics, name)
    assert not [a for a in burning.daemon.engine.firing.values() if a.rule == "runaway_burn"]


async def test_a_runaway_burn_alerts_with_the_usual_and_current_rate(burning: Burning) -> None:
    await burning.burn(USUAL, 20)
    await burning.burn(5 * USUAL, 45)
    metrics = burning.metrics()
    assert _line(metrics, "ivh_service_runaway").endswith(" 1.0")
    assert float(_line(metrics, "ivh_service_burn_ratio").rsplit(" ", 1)[1]) >= 3
    assert 'rule="runaway_burn",severity="critical"} 1.0' in metrics
    alert = next(a for a in burning.daemon.engine.firing.values() if a.rule == "runaway_burn")
    assert alert.labels["alertname"] == "IvhServiceRunawayBurn"
    text = alert.annotations["description"]
    assert "2.50 h per hour" in text  # the current rate
    assert "usual" in text
    assert "h per hour for this time of the week" in text
    assert "stream left running" in alert.annotations["action"]
    async with httpx.AsyncClient() as http:
        assets = (await http.get(f"{burning.url}/api/assets")).json()
    package = next(a for a in assets if a["type"] == TYPE)
    assert package["forecast"]["runaway"] is True
    assert package["forecast"]["model"] == "weekly"
    assert isinstance(package["forecast"]["advice"], list)
    # back to usual: it resolves once the last period is usual again
    await burning.burn(USUAL, 45)
    assert not [a for a in burning.daemon.engine.firing.values() if a.rule == "runaway_burn"]
    assert _line(burning.metrics(), "ivh_service_runaway").endswith(" 0.0")


async def test_the_runaway_threshold_is_per_asset(tmp_path: Path) -> None:
    """An override raising the factor for this package: the same burn is no runaway."""
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    async with run_simulator(default_dataset(clock())) as sim:
        settings, accounts = demo_settings(
            sim.url,
            state_dir=str(tmp_path),
            alerts={
                "overrides": [
                    {
                        "match": {"service_type": TYPE},
                        "rule": "runaway_burn",
                        "factor": 20,
                        "sustained_minutes": 30,
                    }
                ]
            },
        )
        daemon = Daemon(settings, [a for a in accounts if a.name == ACCOUNT], clock=clock)
        try:
            await daemon.run_family(ACCOUNT, "services")
            asset = next(a for a in daemon.store.current.assets(clock()) if a.type == TYPE)
            first = daemon.state.usage(ACCOUNT, clock() - timedelta(hours=1))[asset.id][0]
            seed_history(
                daemon.state, ACCOUNT, asset.id, first, ordered=asset.ordered_seconds or 0.0,
                zone=accounts[0].zone, usual=USUAL,
            )  # fmt: skip
            daemon.engine.refit()
            b = Burning(daemon, sim.dataset, clock, "")
            await b.burn(5 * USUAL, 45)
            assert _line(b.metrics(), "ivh_service_runaway").endswith(" 0.0")
            assert not [a for a in daemon.engine.firing.values() if a.rule == "runaway_burn"]
        finally:
            await daemon.stop()
