"""The rules over a snapshot (pure): tiers, overrides, stale data, the monitor itself."""

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.alerts.config import AlertsConfig, thresholds_for
from monitor.alerts.rules import evaluate_account
from monitor.domain import Asset, FamilyResult
from monitor.errors import TransportError
from monitor.forecast import Forecast, burn_rate, forecast
from tests.alerting import T0, collected, service, snapshot_store, voice


def _findings(
    *assets: Asset,
    config: AlertsConfig | None = None,
    forecasts: Mapping[str, Forecast] | None = None,
    now: datetime = T0,
) -> dict[tuple[str, str], str]:
    store = snapshot_store()
    collected(store, T0, *assets)
    ev = evaluate_account(
        store.current, "acme", now, config or AlertsConfig(), forecasts or {}, started_at=T0
    )
    return {(f.rule, f.asset): f.severity for f in ev.findings}


def test_expiry_tiers_and_expired() -> None:
    found = _findings(
        voice("in-40d", expires_in_days=40),
        voice("in-20d", expires_in_days=20),
        voice("in-3d", expires_in_days=3),
        voice("gone-2d", expires_in_days=-2),
        voice("gone-90d", expires_in_days=-90),
        voice("never", expires_in_days=None),
    )
    assert found == {
        ("expiring", "in-20d"): "warning",
        ("expiring", "in-3d"): "critical",
        ("expired", "gone-2d"): "critical",
        # expired 90 days ago: past forget_after_days (30), no longer news
    }


def test_hours_low_by_ratio_and_absolute_floor() -> None:
    config = AlertsConfig.model_validate({"rules": {"hours_low": {"warning_hours": 100}}})
    found = _findings(
        service("A-plenty", remaining_h=500, ordered_h=1000),
        service("B-low", remaining_h=150, ordered_h=1000),  # 15 %
        service("C-crit", remaining_h=40, ordered_h=1000),  # 4 %
        service("D-floor", remaining_h=90, ordered_h=200),  # 45 % but under 100 h
        service("E-expired", remaining_h=1, ordered_h=1000, expires_in_days=-1),
        config=config,
    )
    assert {k: v for k, v in found.items() if k[0] == "hours_low"} == {
        ("hours_low", "B-low"): "warning",
        ("hours_low", "C-crit"): "critical",
        ("hours_low", "D-floor"): "warning",
    }


def test_quota_exhausted_is_off_by_default() -> None:
    quota = service(
        "ImageAsset-1", category="quota", quota=(5, 0), remaining_h=None, ordered_h=None
    )
    assert ("quota_exhausted", "ImageAsset-1") not in _findings(quota)
    config = AlertsConfig.model_validate({"rules": {"quota_exhausted": {"enabled": True}}})
    assert _findings(quota, config=config)[("quota_exhausted", "ImageAsset-1")] == "warning"


def test_per_asset_overrides_by_glob() -> None:
    config = AlertsConfig.model_validate(
        {
            "overrides": [
                {
                    "match": {"kind": "timbre"},
                    "rule": "expiring",
                    "warning_days": 60,
                    "critical_days": 14,
                },
                {"match": {"asset": "vip-*"}, "rule": "expiring", "critical_days": 45},
                {"match": {"asset": "ignored"}, "rule": "expiring", "enabled": False},
            ]
        }
    )
    found = _findings(
        voice("plain-50d", expires_in_days=50),
        voice("plain-10d", expires_in_days=10),
        voice("vip-40d", expires_in_days=40),
        voice("ignored", expires_in_days=1),
        service("BroadcastHour-50d", expires_in_days=50),
        config=config,
    )
    assert found == {
        ("expiring", "plain-50d"): "warning",
        ("expiring", "plain-10d"): "critical",
        ("expiring", "vip-40d"): "critical",
    }
    t = thresholds_for(config, "expiring", account="acme", kind="timbre", asset="vip-1")
    assert (t.warning_days, t.critical_days, t.overridden) == (60, 45, True)


def test_stale_family_is_not_evaluated() -> None:
    store = snapshot_store()
    collected(store, T0, voice("soon", expires_in_days=2))
    error = TransportError("down", account="acme", endpoint="describetimbre")
    store.apply(FamilyResult("acme", "timbres", error=error), T0 + timedelta(minutes=30))
    ev = evaluate_account(store.current, "acme", T0, AlertsConfig(), {}, started_at=T0)
    assert "timbre" not in ev.scopes
    assert not [f for f in ev.findings if f.kind == "timbre"]


def test_collection_failing_after_stale_after() -> None:
    store = snapshot_store(stale_after=3600)
    collected(store, T0)
    error = TransportError("down", account="acme", endpoint="getserviceasset")
    store.apply(FamilyResult("acme", "services", error=error), T0 + timedelta(minutes=5))
    early = evaluate_account(
        store.current, "acme", T0 + timedelta(minutes=30), AlertsConfig(), {}, started_at=T0
    )
    assert not [f for f in early.findings if f.rule == "collection_failing"]
    late = evaluate_account(
        store.current, "acme", T0 + timedelta(hours=2), AlertsConfig(), {}, started_at=T0
    )
    [failing] = [f for f in late.findings if f.rule == "collection_failing"]
    assert failing.facts["families"] == ["services"]
    assert failing.facts["error"] == "transport"


def test_burn_rate_least_squares_and_top_up_restarts_the_window() -> None:
    day = 86400.0
    steady = [(i * 3600.0, 100_000 - i * 360.0) for i in range(25)]  # 0.1 s per s
    assert (
        abs(
            (
                burn_rate(steady, now=24 * 3600, window_seconds=7 * day, min_history_seconds=3600)
                or 0
            )
            - 0.1
        )
        < 1e-9
    )
    topped = [*steady, (25 * 3600.0, 500_000.0), (26 * 3600.0, 499_640.0), (27 * 3600.0, 499_280.0)]
    rate = burn_rate(topped, now=27 * 3600, window_seconds=7 * day, min_history_seconds=3600)
    assert rate is not None
    assert abs(rate - 0.1) < 1e-9
    assert burn_rate(steady[:1], now=0, window_seconds=day, min_history_seconds=0) is None
    assert (
        burn_rate(steady, now=24 * 3600, window_seconds=7 * day, min_history_seconds=2 * day)
        is None
    )


def test_forecast_depletion_and_unused_at_expiry() -> None:
    fc = forecast(0.5, 3600.0, T0, T0 + timedelta(hours=4))
    assert fc.depletion_at == T0 + timedelta(hours=2)
    assert fc.unused_at_expiry == 0.0
    idle = forecast(0.0, 3600.0, T0, T0 + timedelta(hours=4))
    assert idle.depletion_at is None
    assert idle.unused_at_expiry == 3600.0


def test_depleting_and_unused_rules_use_the_forecast() -> None:
    burning = service("BroadcastHour-burn", remaining_h=10, ordered_h=1000, expires_in_days=100)
    idle = service("BroadcastHour-idle", remaining_h=900, ordered_h=1000, expires_in_days=10)
    forecasts = {
        "BroadcastHour-burn": forecast(10 * 3600 / (3 * 86400), 10 * 3600, T0, burning.expires_at),
        "BroadcastHour-idle": forecast(0.0, 900 * 3600, T0, idle.expires_at),
    }
    found = _findings(burning, idle, forecasts=forecasts)
    assert found[("hours_depleting", "BroadcastHour-burn")] == "warning"
    assert found[("unused_at_expiry", "BroadcastHour-idle")] == "warning"
    assert ("hours_depleting", "BroadcastHour-idle") not in found


def test_expiry_unknown_is_opt_in_and_distinct_from_never() -> None:
    unknown = replace(voice("blank", expires_in_days=None), expiry_unknown=True)
    never = voice("never", expires_in_days=None)
    assert _findings(unknown, never) == {}  # off by default
    on = AlertsConfig.model_validate({"rules": {"expiry_unknown": {"enabled": True}}})
    assert _findings(unknown, never, config=on) == {("expiry_unknown", "blank"): "warning"}


def test_thresholds_resolve_exactly_with_overrides_however_often_asked() -> None:
    """Later overrides win field by field; an asset no override fits gets the rule's
    defaults; asking again, or for another asset with the same overrides fitting, gives
    the same answer; another config object gives its own answers."""
    config = AlertsConfig.model_validate(
        {
            "rules": {"expiring": {"warning_days": 30, "critical_days": 7}},
            "overrides": [
                {"match": {"kind": "timbre"}, "rule": "expiring", "warning_days": 60},
                {"match": {"asset": "vip-*"}, "rule": "expiring", "critical_days": 45},
                {"match": {"service_type": "Broad*"}, "rule": "hours_low", "warning_ratio": 0.5},
                {"match": {"asset": "vip-2"}, "rule": "expiring", "warning_days": 90},
            ],
        }
    )

    def days(cfg: AlertsConfig, kind: str, asset: str) -> tuple[object, ...]:
        t = thresholds_for(cfg, "expiring", account="acme", kind=kind, asset=asset)
        return (t.warning_days, t.critical_days, t.overridden)

    for _ in range(2):
        assert days(config, "image", "img-1") == (30, 7, False)
        assert days(config, "timbre", "plain") == (60, 7, True)
        assert days(config, "timbre", "vip-1") == (60, 45, True)
        assert days(config, "timbre", "vip-3") == (60, 45, True)
        assert days(config, "timbre", "vip-2") == (90, 45, True)
        assert days(config, "image", "vip-2") == (90, 45, True)
    low = thresholds_for(
        config, "hours_low", account="acme", kind="service", asset="x", service_type="BroadcastHour"
    )
    other = thresholds_for(
        config, "hours_low", account="acme", kind="service", asset="x", service_type="Quota"
    )
    assert (low.warning_ratio, low.overridden) == (0.5, True)
    assert (other.warning_ratio, other.overridden) == (
        AlertsConfig().rules.hours_low.warning_ratio,
        False,
    )
    plain = AlertsConfig.model_validate(
        {"rules": {"expiring": {"warning_days": 10, "critical_days": 3}}}
    )
    assert days(plain, "timbre", "vip-2") == (10, 3, False)
    assert days(config, "timbre", "vip-2") == (90, 45, True)
