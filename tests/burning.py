"""A daemon with weeks of usual usage of one package, whose simulator then burns it
on a schedule (the forecast path of the daemon, its page and its metrics)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


@contextlib.asynccontextmanager
async def burning_daemon(
    tmp_path: Path, alerts: dict[str, Any] | None = None
) -> AsyncIterator[Burning]:
    """The daemon of :data:`ACCOUNT` with three weeks of usual usage, served over HTTP;
    ``alerts`` configures its alerts (by default: a runaway sustained for 30 minutes)."""
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    async with run_simulator(default_dataset(clock())) as sim:
        settings, accounts = demo_settings(
            sim.url,
            state_dir=str(tmp_path),
            alerts=alerts or {"rules": {"runaway_burn": {"sustained_minutes": 30}}},
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
