"""Alert evaluation never lets one figure, rule or asset silence the rest.

The burn rate has a floor and forecasts cannot overflow, whatever the history;
a rule that raises on one asset is logged, counted and left alone while every
other rule and asset is evaluated, and the count reaches /metrics and the page.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import structlog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from monitor.alerts.channels import build_channel
from monitor.alerts.channels.config import parse_channel_config
from monitor.alerts.config import RULE_NAMES, AlertsConfig
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.engine import EVALUATION_ERROR_SOURCES, AlertEngine
from monitor.alerts.rules import evaluate_account
from monitor.alerts.store import StateStore
from monitor.domain import Asset, FamilyResult
from monitor.errors import TransportError
from monitor.exposition import AlertCollector
from monitor.forecast import MAX_DEPLETION_SECONDS, MIN_BURN_RATE, burn_rate, forecast
from monitor.snapshot import SnapshotStore
from monitor.status.page import render_page
from monitor.status.view import AccountStatus, StatusData
from tests.alerting import SHANGHAI, T0, Clock, Receiver, collected, service, snapshot_store, voice

_DAY = 86400.0
_WEEK = 7 * _DAY


def _positive_zero(value: float) -> bool:
    return value == 0 and math.copysign(1.0, value) > 0


# -- the burn rate and the forecast ----------------------------------------------------


def _idle(
    remaining: float, polls: int = 80, start: float = 1.79e9 + 0.123
) -> list[tuple[float, float]]:
    """An unused package polled every ~5 min with the jitter of a real schedule."""
    return [(start + i * 300.0 + (i * 7919 % 13) * 1.1, remaining) for i in range(polls)]


@pytest.mark.parametrize("remaining", [98765.4321, 54000.123, 3599.999, 0.001, 0.0, 1e12])
def test_an_idle_package_burns_exactly_zero(remaining: float) -> None:
    samples = _idle(remaining)
    rate = burn_rate(samples, now=samples[-1][0], window_seconds=_WEEK, min_history_seconds=3600)
    assert rate is not None
    assert _positive_zero(rate)  # not 1e-24, and never -0.0
    fc = forecast(rate, remaining, T0, T0 + timedelta(days=20))
    assert fc.depletion_at is None  # not running dry
    assert fc.unused_at_expiry == remaining


def test_a_real_trickle_is_above_the_floor() -> None:
    # one 1-minute test stream a month: 23 times the floor, and forecast as such
    month = 30 * _DAY
    samples = [(1.79e9, 36000.0), (1.79e9 + month, 36000.0 - 60)]
    rate = burn_rate(samples, now=1.79e9 + month, window_seconds=2 * month, min_history_seconds=0)
    assert rate is not None
    assert rate > 20 * MIN_BURN_RATE
    fc = forecast(rate, 36000.0, T0, None)
    assert fc.depletion_at is not None  # 49 years: inside the 100-year horizon
    assert (fc.depletion_at - T0).total_seconds() < MAX_DEPLETION_SECONDS


def test_forecasts_at_the_ends_of_the_calendar() -> None:
    end = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
    assert forecast(1.0, 10 * _DAY, end, None).depletion_at is None
    start = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
    early = forecast(1.0, 3600.0, start, datetime.max.replace(tzinfo=UTC))
    assert early.depletion_at == start + timedelta(hours=1)
    assert early.unused_at_expiry == 0.0
    assert forecast(1e-20, 1e300, T0, None).depletion_at is None
    for bad in (math.nan, math.inf, -math.inf, -1.0, -0.0):
        fc = forecast(bad, 3600.0, T0, T0 + timedelta(days=1))
        assert _positive_zero(fc.rate)
        assert fc.depletion_at is None


_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_FIGURES = st.one_of(
    st.floats(min_value=0, max_value=1e7),  # fractional, as milliseconds / 1000
    st.integers(min_value=0, max_value=10**7).map(float),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e300, 1.7e308, -1.0, math.nan, math.inf]),
    _FINITE,
)
_AWARE = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
_EXPIRY = st.one_of(
    st.none(),
    _AWARE,
    st.sampled_from(
        [
            datetime.min.replace(tzinfo=UTC),
            datetime.max.replace(tzinfo=UTC),
            T0,
            T0 + timedelta(days=3),
        ]
    ),
)


@st.composite
def _history(draw: st.DrawFn) -> list[tuple[float, float]]:
    """Polls before T0: regular, jittered, duplicated or wild, with any figures."""
    n = draw(st.integers(min_value=0, max_value=40))
    now = T0.timestamp()
    gaps = draw(
        st.lists(
            st.one_of(st.floats(min_value=0, max_value=3 * _DAY), st.sampled_from([0.0, 300.0])),
            min_size=n,
            max_size=n,
        )
    )
    start = now - sum(gaps)
    steady = draw(st.booleans())
    level = draw(_FIGURES)
    out: list[tuple[float, float]] = []
    t = start
    for gap in gaps:
        t += gap
        out.append((t, level if steady else draw(_FIGURES)))
    if draw(st.booleans()) and out:
        out.append((draw(st.sampled_from([math.nan, math.inf, -1e300, 1e300])), draw(_FIGURES)))
    return out


@st.composite
def _config(draw: st.DrawFn) -> AlertsConfig:
    """A valid alerts configuration: thresholds anywhere in range, some overrides."""
    days = st.floats(min_value=0, max_value=3650)
    warning = draw(days)
    ratio = st.floats(min_value=0, max_value=1)
    # critical <= warning, also where x * (w / 3650) rounds one ulp above w
    rules = {
        "expiring": {
            "warning_days": warning,
            "critical_days": min(warning, draw(days) * (warning / 3650)),
        },
        "expired": {"forget_after_days": draw(days)},
        "hours_low": {
            "warning_ratio": draw(ratio),
            "critical_ratio": draw(ratio),
            "warning_hours": draw(st.none() | st.floats(min_value=0, max_value=1e6)),
        },
        "hours_depleting": {
            "horizon_days": draw(st.floats(min_value=1e-6, max_value=3650)),
            "window_days": draw(st.floats(min_value=1e-6, max_value=3650)),
            "min_history_hours": draw(st.floats(min_value=0, max_value=87600)),
            "before_expiry": draw(st.booleans()),
        },
        "unused_at_expiry": {
            "ratio": draw(ratio),
            "within_days": draw(st.floats(min_value=1e-6, max_value=3650)),
        },
        "quota_exhausted": {"enabled": draw(st.booleans())},
    }
    overrides = [
        {
            "rule": draw(st.sampled_from(RULE_NAMES)),
            "match": {"asset": draw(st.sampled_from(["*", "BroadcastHour-*", "v*", "nothing"]))},
            "enabled": draw(st.none() | st.booleans()),
            "warning_days": draw(st.none() | days),
            "critical_hours": draw(st.none() | st.floats(min_value=0, max_value=1e6)),
            "severity": draw(st.none() | st.sampled_from(["info", "warning", "critical"])),
        }
        for _ in range(draw(st.integers(min_value=0, max_value=3)))
    ]
    return AlertsConfig.model_validate({"rules": rules, "overrides": overrides})


def _package(index: int, remaining: float, ordered: float, expires_at: datetime | None) -> Asset:
    return replace(
        service(f"BroadcastHour-{index}"),
        remaining_seconds=remaining,
        ordered_seconds=ordered,
        expires_at=expires_at,
    )


_PACKAGES = st.lists(st.tuples(_FIGURES, _FIGURES, _EXPIRY), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories=st.lists(_history(), min_size=1, max_size=4), packages=_PACKAGES, config=_config())
@example(  # the case that silenced accounts: an idle package with fractional figures
    histories=[_idle(98765.4321)],
    packages=[(98765.4321, 360000.0, T0 + timedelta(days=20))],
    config=AlertsConfig(),
)
def test_no_history_figure_or_config_makes_forecasts_or_rules_raise(
    histories: list[list[tuple[float, float]]],
    packages: list[tuple[float, float, datetime | None]],
    config: AlertsConfig,
) -> None:
    assets = [_package(i, r, o, e) for i, (r, o, e) in enumerate(packages)]
    cfg = config.rules.hours_depleting
    forecasts = {}
    for i, asset in enumerate(assets):
        samples = histories[i % len(histories)]
        rate = burn_rate(
            samples,
            now=T0.timestamp(),
            window_seconds=cfg.window_days * _DAY,
            min_history_seconds=cfg.min_history_hours * 3600,
        )
        if rate is None:
            continue
        assert math.isfinite(rate)
        assert rate >= MIN_BURN_RATE or _positive_zero(rate)
        assert asset.remaining_seconds is not None
        fc = forecast(rate, asset.remaining_seconds, T0, asset.expires_at)
        assert fc.rate == rate
        assert fc.depletion_at is None or fc.depletion_at >= T0
        assert fc.unused_at_expiry is None or fc.unused_at_expiry >= 0
        forecasts[asset.id] = fc
    store = snapshot_store()
    voices = [
        replace(voice(f"v{i}", expires_in_days=None), expires_at=e)
        for i, (_, _, e) in enumerate(packages)
    ]
    collected(store, T0, *assets, *voices)
    ev = evaluate_account(store.current, "acme", T0, config, forecasts, started_at=T0)
    assert ev.failures == ()
    assert {f.asset for f in ev.findings} <= {a.id for a in (*assets, *voices)}


# -- through the engine, with a real state store -----------------------------------------


@dataclass
class World:
    clock: Clock
    engine: AlertEngine
    dispatcher: Dispatcher
    state: StateStore
    receiver: Receiver
    snapshot: SnapshotStore = field(default_factory=snapshot_store)

    async def cycle(self, *assets: Asset) -> None:
        """A services collection (usage recorded) and every other family, then delivery."""
        snapshot = self.snapshot
        collected(snapshot, self.clock.now, *assets)
        services = [a for a in assets if a.kind == "service"]
        self.engine.record_usage("acme", services, self.clock.now)
        self.engine.evaluate(snapshot.current, "acme", self.clock.now)
        await self.dispatcher.deliver_due()


def _world(tmp_path: Path, zone: Any = SHANGHAI) -> World:
    clock = Clock(T0)
    receiver = Receiver()
    config = AlertsConfig.model_validate(
        {
            "rules": {
                "hours_depleting": {"min_history_hours": 1},
                "expired": {"forget_after_days": 0},
            }
        }
    )
    channel = build_channel(
        parse_channel_config({"name": "ops", "type": "webhook", "url": "http://receiver.test/h"}),
        transport=receiver.transport(),
        clock=lambda: clock.now.timestamp(),  # noqa: PLW0108 - read at call time
        limiters=None,
    )
    state = StateStore(tmp_path / "state.sqlite3")
    dispatcher = Dispatcher(state, {"ops": channel}, config.delivery, clock=clock)
    engine = AlertEngine(config, state, [channel], zones={"acme": zone}, started_at=T0)
    return World(clock, engine, dispatcher, state, receiver)


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = _world(tmp_path)
    yield w
    w.state.close()


async def test_a_fractional_idle_package_keeps_its_account_alerting(world: World) -> None:
    """The regression: remaining 98765.4321 s, unchanged for hours, polled with jitter."""
    w = world
    idle = service("BroadcastHour-idle", expires_in_days=20, remaining_h=None, ordered_h=100)
    idle = replace(idle, remaining_seconds=98765.4321)
    soon = voice("female_1", expires_in_days=3)
    with structlog.testing.capture_logs() as logs:
        for step in range(30):
            await w.cycle(idle, soon)
            w.clock.advance(seconds=300 + (step * 7919 % 13) * 1.1 + 0.123)
        await w.cycle(idle, soon)
    assert not [e for e in logs if e["log_level"] == "error"]
    assert all(n == 0 for n in w.engine.evaluation_errors.values())
    fc = w.engine.forecasts[("acme", "BroadcastHour-idle")]
    assert _positive_zero(fc.rate)
    assert fc.depletion_at is None
    # the expiry alerts of the same account, the package's own included, still fire
    assert set(w.receiver.alerts()) == {
        ("firing", "expiring", "female_1", "critical"),
        ("firing", "expiring", "BroadcastHour-idle", "warning"),
    }
    metrics = _exposition(w)
    assert 'ivh_service_usage_rate{account="acme",asset="BroadcastHour-idle"' in metrics
    assert "-0.0" not in metrics
    assert "NaN" not in metrics


async def test_a_rule_failing_on_one_asset_is_counted_and_left_alone(tmp_path: Path) -> None:
    """An expired voice whose date the account's zone cannot show (year 1, UTC-8) breaks
    its message: that alert stays as it was; the other assets alert as usual."""
    w = _world(tmp_path, zone=ZoneInfo("America/Los_Angeles"))
    try:
        lapsed = voice("lapsed", expires_in_days=-2)
        soon = voice("soon", expires_in_days=3)
        await w.cycle(lapsed)
        assert w.receiver.alerts() == [("firing", "expired", "lapsed", "critical")]
        assert "0.0" in _errors_line(_exposition(w), "expired")

        w.clock.advance(hours=1)
        broken = replace(lapsed, expires_at=datetime.min.replace(tzinfo=UTC))
        with structlog.testing.capture_logs() as logs:
            await w.cycle(broken, soon)
        failed = [e for e in logs if e["event"] == "alert.rule_failed"]
        assert len(failed) == 1
        assert {**failed[0], "exc_info": None} == {
            "event": "alert.rule_failed",
            "log_level": "error",
            "account": "acme",
            "rule": "expired",
            "kind": "timbre",
            "asset": "lapsed",
            "error": "OverflowError",
            "exc_info": None,
        }
        assert isinstance(failed[0]["exc_info"], OverflowError)  # rendered as a traceback
        # the other asset's alert went out; the broken one was neither re-sent nor resolved
        assert w.receiver.alerts()[-1] == ("firing", "expiring", "soon", "critical")
        assert len(w.receiver.bodies) == 2
        rows = {r.alert.asset: r for r in w.state.alerts("acme", status="firing")}
        assert set(rows) == {"lapsed", "soon"}
        assert rows["lapsed"].alert.rule == "expired"
        assert "lapsed" in {a.asset for a in w.engine.firing.values()}
        assert w.engine.evaluation_errors["expired"] == 1
        assert w.engine.last_evaluation_error_at == w.clock.now
        assert "1.0" in _errors_line(_exposition(w), "expired")

        # fixed upstream: it evaluates again, and resolves as renewed
        w.clock.advance(hours=1)
        await w.cycle(replace(lapsed, expires_at=T0 + timedelta(days=365)), soon)
        assert ("resolved", "expired", "lapsed", "critical") in w.receiver.alerts()
        assert w.engine.evaluation_errors["expired"] == 1
    finally:
        w.state.close()


def _exposition(w: World) -> str:
    registry = CollectorRegistry()
    registry.register(AlertCollector(w.snapshot, w.engine, w.dispatcher, clock=w.clock))
    return generate_latest(registry).decode()


def _errors_line(text: str, rule: str) -> str:
    [line] = [
        line
        for line in text.splitlines()
        if line.startswith(f'ivh_alert_evaluation_errors_total{{rule="{rule}"}}')
    ]
    return line


async def test_every_rule_has_an_error_series_from_the_start(world: World) -> None:
    text = _exposition(world)
    for source in (*RULE_NAMES, "forecast", "evaluation"):
        assert _errors_line(text, source).endswith(" 0.0")
    assert set(EVALUATION_ERROR_SOURCES) == {*RULE_NAMES, "forecast", "evaluation"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=_history(), packages=_PACKAGES, config=_config())
def test_no_figure_makes_the_engine_raise(
    history: list[tuple[float, float]],
    packages: list[tuple[float, float, datetime | None]],
    config: AlertsConfig,
) -> None:
    """Through the whole engine (forecasts from the store's history, messages, the
    store): nothing escapes; what cannot be shown is a counted rule failure."""
    with tempfile.TemporaryDirectory() as tmp:
        state = StateStore(Path(tmp) / "state.sqlite3")
        try:
            engine = AlertEngine(config, state, [], zones={"acme": SHANGHAI}, started_at=T0)
            assets = [_package(i, r, o, e) for i, (r, o, e) in enumerate(packages)]
            for at, remaining in history:
                if math.isfinite(at) and math.isfinite(remaining) and 0 <= at <= T0.timestamp():
                    state.record_usage(
                        "acme", [(a.id, remaining) for a in assets], datetime.fromtimestamp(at, UTC)
                    )
            store = snapshot_store()
            collected(store, T0, *assets)
            engine.evaluate(store.current, "acme", T0)
            assert engine.evaluation_errors["evaluation"] == 0
            for fc in engine.forecasts.values():
                assert math.isfinite(fc.rate)
                assert fc.rate > 0 or _positive_zero(fc.rate)
        finally:
            state.close()


# -- the status page ------------------------------------------------------------------------


def test_the_status_page_warns_of_evaluation_errors() -> None:
    def page(errors: dict[str, int], language: Any = "en") -> str:
        data = StatusData(
            now=T0,
            language=language,
            critical_days=7,
            warning_days=30,
            stale_after_seconds=3600,
            accounts=(AccountStatus(name="acme", zone=SHANGHAI, assets=(), families=()),),
            evaluation_errors=errors,
            last_evaluation_error_at=T0 if errors else None,
        )
        return render_page(data)[1]

    assert 'role="alert"' not in page({})
    html = page({"hours_depleting": 2, "forecast": 1})
    assert 'role="alert"' in html
    assert "Alert evaluation failed 3 time(s) since start" in html
    assert "forecast × 1, hours_depleting × 2" in html
    assert "2026-11-25 04:00:00 UTC" in html
    assert "告警评估失败 3 次" in page({"expired": 3}, "zh")


async def test_a_failed_family_is_no_evaluation_error(world: World) -> None:
    """Stale data is not an error of the rules: nothing counted."""
    error = TransportError("down", account="acme", endpoint="describetimbre")
    world.snapshot.apply(FamilyResult("acme", "timbres", error=error), T0)
    world.engine.evaluate(world.snapshot.current, "acme", T0)
    assert all(n == 0 for n in world.engine.evaluation_errors.values())
