"""The daemon's forecast path against the simulator burning hours on a schedule.

Three weeks of usual usage are in the state store (written as the demo writes
them), then the simulator's package burns: first at its usual rate (a weekly
forecast, no runaway), then at five times it (the runaway metric, the
``runaway_burn`` alert with the usual and the current rate, the status API).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from tests.burning import TYPE, USUAL, Burning, burning_daemon


@pytest_asyncio.fixture
async def burning(tmp_path: Path) -> AsyncIterator[Burning]:
    async with burning_daemon(tmp_path) as b:
        yield b


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
    alerts = {
        "overrides": [
            {
                "match": {"service_type": TYPE},
                "rule": "runaway_burn",
                "factor": 20,
                "sustained_minutes": 30,
            }
        ]
    }
    async with burning_daemon(tmp_path, alerts) as b:
        await b.burn(5 * USUAL, 45)
        assert _line(b.metrics(), "ivh_service_runaway").endswith(" 0.0")
        assert not [a for a in b.daemon.engine.firing.values() if a.rule == "runaway_burn"]
