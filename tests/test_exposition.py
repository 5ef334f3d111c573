"""Snapshot + collector semantics on a fresh registry, with an injected clock."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import ScheduleConfig
from monitor.domain import Asset, FamilyResult
from monitor.errors import TransportError
from monitor.exposition import AssetCollector, _Families
from monitor.snapshot import SnapshotStore

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
INTERVALS = {"services": 300.0, "timbres": 1800.0, "images": 1800.0, "actions": 86400.0}


def _hours(asset_id: str, remaining: float, expires: datetime | None) -> Asset:
    return Asset(
        account="a",
        kind="service",
        id=asset_id,
        type="BroadcastHour",
        name="broadcast hours",
        expires_at=expires,
        category="hours",
        ordered_seconds=360000.0,
        remaining_seconds=remaining,
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _setup(
    relative: bool = False, stale_after: float = 3600
) -> tuple[SnapshotStore, Clock, CollectorRegistry]:
    store = SnapshotStore(["a"], INTERVALS, stale_after)  # type: ignore[arg-type]
    clock = Clock(T0)
    registry = CollectorRegistry()
    registry.register(
        AssetCollector(
            store,
            ScheduleConfig(),
            clock=clock,
            account_labels={"a": {"team": "live"}},
            expose_relative_metrics=relative,
        )
    )
    return store, clock, registry


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    for (n, lbls), v in _samples(registry).items():
        if n == name and all(dict(lbls).get(k) == val for k, val in labels.items()):
            return v
    return None


def test_no_snapshot_yet_is_not_zero_and_not_expired() -> None:
    _, _, registry = _setup()
    samples = _samples(registry)
    assert not [k for k in samples if k[0].startswith(("ivh_service_", "ivh_asset_"))]
    assert _value(registry, "ivh_collection_success", family="services") is None
    assert _value(registry, "ivh_account_info", account="a", team="live") == 1


def test_values_then_failure_keeps_last_good_data_marked_stale() -> None:
    store, clock, registry = _setup()
    expires = T0 + timedelta(days=10)
    store.apply(FamilyResult("a", "services", assets=(_hours("p1", 7200.0, expires),)), T0)
    assert _value(registry, "ivh_service_remaining_seconds", asset="p1") == 7200.0
    assert _value(registry, "ivh_asset_expiry_timestamp_seconds", asset="p1") == expires.timestamp()
    assert _value(registry, "ivh_collection_success", family="services") == 1
    assert _value(registry, "ivh_collection_stale", family="services") == 0

    clock.now = T0 + timedelta(minutes=5)
    error = TransportError("timed out", account="a", endpoint="getserviceasset")
    store.apply(FamilyResult("a", "services", error=error), clock.now)
    assert _value(registry, "ivh_service_remaining_seconds", asset="p1") == 7200.0
    assert _value(registry, "ivh_collection_success", family="services") == 0
    assert _value(registry, "ivh_collection_stale", family="services") == 1
    assert (
        _value(registry, "ivh_collection_last_success_timestamp_seconds", family="services")
        == T0.timestamp()
    )

    # past stale_after the old figures are dropped, not shown as current (nor as zero)
    clock.now = T0 + timedelta(hours=2)
    assert _value(registry, "ivh_service_remaining_seconds", asset="p1") is None
    assert _value(registry, "ivh_asset_expiry_timestamp_seconds", asset="p1") is None
    assert _value(registry, "ivh_collection_success", family="services") == 0


def test_asset_removed_upstream_disappears() -> None:
    store, _, registry = _setup()
    store.apply(
        FamilyResult("a", "services", assets=(_hours("p1", 1.0, None), _hours("p2", 2.0, None))), T0
    )
    assert _value(registry, "ivh_service_remaining_seconds", asset="p2") == 2.0
    store.apply(FamilyResult("a", "services", assets=(_hours("p1", 1.0, None),)), T0)
    assert _value(registry, "ivh_service_remaining_seconds", asset="p2") is None
    assert _value(registry, "ivh_asset_info", asset="p2") is None
    assert _value(registry, "ivh_asset_info", asset="p1") == 1


def test_never_expiring_asset_has_no_expiry_series() -> None:
    store, _, registry = _setup(relative=True)
    store.apply(FamilyResult("a", "services", assets=(_hours("p1", 1.0, None),)), T0)
    assert _value(registry, "ivh_asset_info", asset="p1") == 1
    assert _value(registry, "ivh_asset_expiry_timestamp_seconds", asset="p1") is None
    assert _value(registry, "ivh_asset_expires_in_seconds", asset="p1") is None


def test_expires_in_moves_with_the_clock_and_only_when_enabled() -> None:
    expires = T0 + timedelta(days=3)
    for relative in (False, True):
        store, clock, registry = _setup(relative=relative)
        store.apply(FamilyResult("a", "services", assets=(_hours("p1", 1.0, expires),)), T0)
        first = _value(registry, "ivh_asset_expires_in_seconds", asset="p1")
        clock.now = T0 + timedelta(days=4)
        later = _value(registry, "ivh_asset_expires_in_seconds", asset="p1")
        # the timestamp is constant; only the relative value travels with the clock
        assert (
            _value(registry, "ivh_asset_expiry_timestamp_seconds", asset="p1")
            == expires.timestamp()
        )
        if relative:
            assert (first, later) == (3 * 86400.0, -86400.0)
        else:
            assert first is later is None


def test_help_says_data_is_cached_and_how_often() -> None:
    _, _, registry = _setup()
    text = generate_latest(registry).decode()
    help_line = (
        "# HELP ivh_service_remaining_seconds Hours left in the package, in seconds."
        " Cached; refreshed every 5 min by the services job."
    )
    assert help_line in text
    assert "refreshed every 30 min by the timbres job" in text
    assert "refreshed every 24 h by the actions job" in text


def test_ready_only_after_every_family_attempted() -> None:
    store, _, _ = _setup()
    for family in ("services", "timbres", "images"):
        store.apply(FamilyResult("a", family), T0)
        assert not store.current.ready()
    error = TransportError("x", account="a", endpoint="getaction")
    store.apply(FamilyResult("a", "actions", error=error), T0)
    assert store.current.ready()  # a failed first attempt still counts: metrics show it


def _parsed(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_cached_text_exposition_matches_the_collector_as_things_change() -> None:
    from monitor.exposition import ExpositionRegistry

    store = SnapshotStore(["a", "b"], INTERVALS, 3600)  # type: ignore[arg-type]
    clock = Clock(T0)
    collector = AssetCollector(store, ScheduleConfig(), clock=clock, expose_relative_metrics=True)
    registry = ExpositionRegistry(collector)
    weird = _hours('quote" back\\slash\nnewline # HELP x', 5.0, T0 + timedelta(days=1))

    def same() -> None:
        fast = registry.render_text().decode()
        assert _parsed(fast) == _parsed(generate_latest(registry).decode())
        assert fast.count("# TYPE ivh_asset_info gauge") == 1

    same()  # nothing collected yet
    store.apply(FamilyResult("a", "services", assets=(_hours("p1", 1.0, None), weird)), T0)
    store.apply(FamilyResult("b", "services", assets=(_hours("p9", 9.0, T0),)), T0)
    same()
    store.apply(FamilyResult("a", "services", assets=(_hours("p1", 2.0, None),)), T0)
    same()  # the changed family is re-rendered, the unchanged one comes from the cache
    assert 'asset="p9"' in registry.render_text().decode()
    assert "newline" not in registry.render_text().decode()  # the vanished asset is gone
    clock.now = T0 + timedelta(hours=5)
    error = TransportError("x", account="b", endpoint="getserviceasset")
    store.apply(FamilyResult("b", "services", error=error), T0 + timedelta(hours=4))
    same()  # b's data is past stale_after now: dropped from both
    assert 'asset="p9"' not in registry.render_text().decode()


async def test_metrics_endpoint_streams_big_bodies_plain_and_gzipped() -> None:
    """A big exposition is streamed in pieces with its Content-Length, or
    compressed from them; both decode to exactly the registry's text, and HEAD
    sends the headers only."""
    from monitor.exposition import ExpositionRegistry
    from monitor.server import create_app, start_server

    store = SnapshotStore(["a"], INTERVALS, 3600)  # type: ignore[arg-type]
    registry = ExpositionRegistry(AssetCollector(store, ScheduleConfig(), clock=Clock(T0)))
    app = create_app(registry, store, alive=lambda: True)
    runner, port = await start_server(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        async with httpx.AsyncClient() as http:
            small = await http.get(url, headers={"Accept-Encoding": "identity"})
            assert small.headers["content-length"] == str(len(small.content))
            assets = tuple(_hours(f"p{i:05d}", float(i), T0) for i in range(3000))
            store.apply(FamilyResult("a", "services", assets=assets), T0)
            plain = await http.get(url, headers={"Accept-Encoding": "identity"})
            packed = await http.get(url, headers={"Accept-Encoding": "gzip"})
            head = await http.head(url, headers={"Accept-Encoding": "identity"})
            after = await http.get(url)  # the connection is still in step after HEAD
    finally:
        await runner.cleanup()
    expected = registry.render_text()
    assert len(expected) > 1024 * 1024
    assert plain.content == expected
    assert plain.headers["content-length"] == str(len(expected))
    assert plain.headers["content-type"].startswith("text/plain;")
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == expected  # httpx inflates it
    assert int(packed.headers["content-length"]) < len(expected) / 5
    assert head.content == b""
    assert head.headers["content-length"] == str(len(expected))
    assert after.content == expected
    assert 'asset="p02999"' in plain.text


def test_cached_openmetrics_matches_the_encoder_and_has_one_eof() -> None:
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as om_families,
    )

    from monitor.exposition import ExpositionRegistry

    def parsed(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
        return {
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for fam in om_families(text)  # type: ignore[no-untyped-call]
            for s in fam.samples
        }

    store = SnapshotStore(["a"], INTERVALS, 3600)  # type: ignore[arg-type]
    registry = ExpositionRegistry(AssetCollector(store, ScheduleConfig(), clock=Clock(T0)))
    voice = Asset(
        account="a",
        kind="timbre",
        id="v1",
        type="Boutique",
        name="voice",
        expires_at=None,
        audio_seconds=12.5,
        avatar_types=("cartoon_3d", "real_man_2d"),
    )
    store.apply(FamilyResult("a", "services", assets=(_hours("p1", 1.0, T0),)), T0)
    store.apply(FamilyResult("a", "timbres", assets=(voice,)), T0)
    for _ in range(2):  # rendered, then from the cache
        fast = b"".join(registry.render_parts("openmetrics")).decode()
        assert fast.endswith("# EOF\n")
        assert fast.count("# EOF") == 1
        assert parsed(fast) == parsed(om_latest(registry).decode())  # type: ignore[no-untyped-call]
    assert ("ivh_timbre_audio_seconds_total", (("account", "a"), ("asset", "v1")), 12.5) in parsed(
        fast
    )
    # the text rendering is unaffected by the OpenMetrics cache beside it
    assert "# EOF" not in registry.render_text().decode()


def test_start_of_validity_and_voice_avatar_types() -> None:
    store, _, registry = _setup()
    later = T0 + timedelta(days=12)
    image = Asset(
        account="a",
        kind="image",
        id="img1",
        type="small_sample_lite_2d",
        name="not yet",
        expires_at=T0 + timedelta(days=400),
        starts_at=later,
    )
    voice = Asset(
        account="a",
        kind="timbre",
        id="v1",
        type="Boutique",
        name="voice",
        expires_at=None,
        avatar_types=("cartoon_3d", "real_man_2d"),
    )
    store.apply(FamilyResult("a", "images", assets=(image,)), T0)
    store.apply(FamilyResult("a", "timbres", assets=(voice,)), T0)
    assert _value(registry, "ivh_asset_start_timestamp_seconds", asset="img1") == (
        later.timestamp()
    )
    assert _value(registry, "ivh_asset_start_timestamp_seconds", asset="v1") is None
    for code in ("cartoon_3d", "real_man_2d"):
        assert _value(registry, "ivh_timbre_avatar_type_info", asset="v1", avatar_type=code) == 1
    assert _value(registry, "ivh_timbre_avatar_type_info", avatar_type="real_man_3d") is None
    assert image.starts_in_seconds(T0) == 12 * 86400
    assert image.starts_in_seconds(later) is None  # active from then on


def test_alert_families_rendered_once_read_the_same_as_freshly_rendered(
    tmp_path: Path,
) -> None:
    """The alert collector keeps its threshold and forecast text between scrapes; through
    collections, evaluations (new forecasts), an image's actions and data going stale, it
    reads exactly as a collector that never rendered before, and as its own collect()."""
    from monitor.alerts.config import AlertsConfig
    from monitor.alerts.dispatch import Dispatcher
    from monitor.alerts.engine import AlertEngine
    from monitor.alerts.store import StateStore
    from monitor.exposition import AlertCollector
    from tests.alerting import SHANGHAI, service, snapshot_store, voice
    from tests.alerting import T0 as A0

    config = AlertsConfig.model_validate(
        {
            "overrides": [
                {"match": {"asset": "vip-*"}, "rule": "expiring", "warning_days": 90},
                {"match": {"service_type": "Quota*"}, "rule": "hours_low", "warning_ratio": 0.5},
            ]
        }
    )
    state = StateStore(tmp_path / "state.sqlite3")
    engine = AlertEngine(config, state, [], zones={"acme": SHANGHAI}, started_at=A0)
    dispatcher = Dispatcher(state, {}, config.delivery, clock=lambda: A0)
    store = snapshot_store()
    clock = Clock(A0)
    kept = AlertCollector(store, engine, dispatcher, clock=clock)

    def same() -> None:
        fresh = AlertCollector(store, engine, dispatcher, clock=clock)
        text = kept.render_exposition()
        assert text == fresh.render_exposition()
        assert text == generate_latest(_Families(list(kept.collect())))
        assert text == kept.render_exposition()  # and again, from what it kept

    def collect(remaining_h: float, *extra: Asset) -> None:
        assets = (
            service("BroadcastHour-1", remaining_h=remaining_h),
            voice("vip-1", expires_in_days=5),
            *extra,
        )
        for family, kind in (("services", "service"), ("timbres", "timbre"), ("images", "image")):
            store.apply(
                FamilyResult("acme", family, assets=tuple(a for a in assets if a.kind == kind)),  # type: ignore[arg-type]
                clock.now,
            )
        engine.record_usage("acme", [a for a in assets if a.kind == "service"], clock.now)
        engine.evaluate(store.current, "acme", clock.now)

    try:
        same()  # nothing collected yet
        collect(500)
        same()
        assert b'asset="vip-1"' in kept.render_exposition()  # its own threshold series
        for hours in (2, 4, 6, 8):
            clock.now = A0 + timedelta(hours=hours)
            collect(500 - 10 * hours)
            same()  # new forecasts after each evaluation
        assert b"ivh_service_usage_rate{" in kept.render_exposition()  # history enough for one
        image = Asset("acme", "image", "img-1", "real_man_3d", "img", None)
        collect(460, image)
        store.apply(FamilyResult("acme", "actions", actions={"img-1": 3}), clock.now)
        same()
        clock.now += timedelta(hours=5)  # past stale_after: the families are dropped
        store.apply(
            FamilyResult(
                "acme", "timbres", error=TransportError("x", account="acme", endpoint="t")
            ),
            clock.now,
        )
        same()
        assert b'asset="vip-1"' not in kept.render_exposition()
    finally:
        state.close()


def test_alert_families_of_many_accounts_read_as_rendered_afresh_as_each_account_changes(
    tmp_path: Path,
) -> None:
    """The threshold and forecast lines are kept by account: as one account lands, is
    evaluated, goes stale or the config changes, the whole reads exactly as a collector
    that never rendered before (account-wide thresholds of every account first, then
    the assets' own, then forecasts, in account order), in both formats."""
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest

    from monitor.alerts.config import AlertsConfig
    from monitor.alerts.dispatch import Dispatcher
    from monitor.alerts.engine import AlertEngine
    from monitor.alerts.store import StateStore
    from monitor.exposition import AlertCollector
    from tests.alerting import SHANGHAI, service, snapshot_store, voice
    from tests.alerting import T0 as A0

    accounts = ("acme", "beta", "gamma")
    config = AlertsConfig.model_validate(
        {"overrides": [{"match": {"asset": "vip-*"}, "rule": "expiring", "warning_days": 90}]}
    )
    state = StateStore(tmp_path / "state.sqlite3")
    engine = AlertEngine(config, state, [], zones=dict.fromkeys(accounts, SHANGHAI), started_at=A0)
    dispatcher = Dispatcher(state, {}, config.delivery, clock=lambda: A0)
    store = snapshot_store(accounts)
    clock = Clock(A0)
    kept = AlertCollector(store, engine, dispatcher, clock=clock)

    def same() -> None:
        fresh = AlertCollector(store, engine, dispatcher, clock=clock)
        for fmt in ("text", "openmetrics"):
            assert kept.render_exposition(fmt) == fresh.render_exposition(fmt)
        families = _Families(list(kept.collect()))
        assert kept.render_exposition() == generate_latest(families)
        om = om_latest(families).removesuffix(b"# EOF\n")  # type: ignore[no-untyped-call]
        assert kept.render_exposition("openmetrics") == om

    def collect(account: str, remaining_h: float) -> None:
        assets = (
            service(f"BroadcastHour-{account}", account=account, remaining_h=remaining_h),
            service(f"vip-{account}", account=account, remaining_h=remaining_h / 2),
            voice(f"vip-voice-{account}", account=account, expires_in_days=5),
        )
        for family, kind in (("services", "service"), ("timbres", "timbre"), ("images", "image")):
            store.apply(
                FamilyResult(account, family, assets=tuple(a for a in assets if a.kind == kind)),  # type: ignore[arg-type]
                clock.now,
            )
        engine.record_usage(account, [a for a in assets if a.kind == "service"], clock.now)
        engine.evaluate(store.current, account, clock.now)

    try:
        same()
        for hours in (0, 2, 4, 6):
            clock.now = A0 + timedelta(hours=hours)
            for account in accounts:
                collect(account, 500 - 10 * hours - len(account))
                same()  # one account changed, the others kept
        assert kept.render_exposition().count(b"ivh_service_usage_rate{") == 6
        clock.now += timedelta(hours=5)  # beta's data past stale_after: dropped
        collect("acme", 300)
        collect("gamma", 300)
        store.apply(
            FamilyResult(
                "beta", "services", error=TransportError("x", account="beta", endpoint="s")
            ),
            clock.now,
        )
        same()
        assert b'account="beta",asset="BroadcastHour-beta"' not in kept.render_exposition()
        engine.reconfigure(  # a reload, no overrides: the assets' own thresholds go
            AlertsConfig(),
            [],
            zones={},
            routes={},
            tenancy={},
            resend_intervals={},
        )
        same()
        assert b'asset="vip-voice-acme"' not in kept.render_exposition()
    finally:
        state.close()


def test_a_collection_that_found_the_same_shows_the_same_and_any_change_shows() -> None:
    """A family re-collected with what it had (new objects, equal contents) keeps its
    rendered lines; a change in one asset's figure, or in a 3D image's actions, shows at
    the next scrape, in both formats."""
    from monitor.exposition import ExpositionRegistry

    store = SnapshotStore(["a"], INTERVALS, 3600)  # type: ignore[arg-type]
    clock = Clock(T0)
    registry = ExpositionRegistry(AssetCollector(store, ScheduleConfig(), clock=clock))
    image = Asset(account="a", kind="image", id="img-1", type="3d", name="studio", expires_at=None)

    def scrape() -> str:
        text = registry.render_text().decode()
        assert _parsed(text) == _parsed(generate_latest(registry).decode())
        return text

    def collect(remaining: float, actions: int) -> None:
        store.apply(FamilyResult("a", "services", assets=(_hours("p1", remaining, T0),)), T0)
        store.apply(FamilyResult("a", "images", assets=(image,)), T0)
        store.apply(FamilyResult("a", "actions", actions={"img-1": actions}), T0)

    collect(3600.0, 3)
    first = scrape()
    collect(3600.0, 3)
    assert scrape() == first
    collect(7200.0, 3)
    scrape()
    assert _value(registry, "ivh_service_remaining_seconds", asset="p1") == 7200.0
    assert 'ivh_service_remaining_seconds{account="a",asset="p1"' in _value_line(
        registry.render_text().decode(), "ivh_service_remaining_seconds"
    )
    assert "7200.0" in _value_line(registry.render_text().decode(), "ivh_service_remaining_seconds")
    collect(7200.0, 4)
    changed = scrape()
    assert 'ivh_image_actions{account="a",asset="img-1"} 4.0' in changed
    om = b"".join(registry.render_parts("openmetrics")).decode()
    collect(7200.0, 5)
    assert om != b"".join(registry.render_parts("openmetrics")).decode()


def _value_line(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(name + "{"))


async def test_gzipped_scrapes_of_the_same_and_of_a_changed_snapshot_inflate_to_its_text() -> None:
    """A gzip body is made of pieces kept while its parts stay the same: scraped again
    unchanged, then after a change, it inflates (any gzip reader: Python's ``gzip``
    here, httpx too) to exactly what the registry renders at that moment."""
    import gzip

    from monitor.exposition import ExpositionRegistry
    from monitor.server import create_app, start_server

    store = SnapshotStore(["a", "b"], INTERVALS, 3600)  # type: ignore[arg-type]
    registry = ExpositionRegistry(AssetCollector(store, ScheduleConfig(), clock=Clock(T0)))
    app = create_app(registry, store, alive=lambda: True)
    runner, port = await start_server(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/metrics"

    def apply(account: str, remaining: float) -> None:
        assets = tuple(_hours(f"{account}{i:04d}", remaining + i, T0) for i in range(500))
        store.apply(FamilyResult(account, "services", assets=assets), T0)

    bodies: list[tuple[bytes, bytes]] = []
    try:
        async with httpx.AsyncClient() as http:

            async def scrape() -> None:
                got = await http.get(url, headers={"Accept-Encoding": "gzip"})
                assert got.headers["content-encoding"] == "gzip"
                bodies.append((gzip.decompress(await _raw(http, url)), registry.render_text()))

            apply("a", 1.0)
            apply("b", 5.0)
            await scrape()
            await scrape()
            apply("a", 2.0)  # a's lines change, b's pieces are kept
            await scrape()
            apply("b", 5.0)  # re-collected unchanged
            await scrape()
    finally:
        await runner.cleanup()
    for inflated, expected in bodies:
        assert inflated == expected
    assert bodies[2][1] != bodies[1][1]
    line = next(
        x
        for x in bodies[2][0].decode().splitlines()
        if x.startswith("ivh_service_remaining_seconds{") and 'asset="a0499"' in x
    )
    assert line.endswith(" 501.0")


async def test_a_big_plain_scrape_is_streamed_from_the_packed_lines_in_both_formats() -> None:
    """A plain scrape of a body past the streaming size is written from the kept
    (deflated) per-asset lines, inflated batch by batch, and is exactly what the
    registry renders, in the text format and in OpenMetrics; the per-asset lines are
    kept deflated, at a fraction of their size."""
    from monitor.exposition import ExpositionRegistry
    from monitor.packed import Packed
    from monitor.server import create_app, start_server

    store = SnapshotStore(["a", "b"], INTERVALS, 3600)  # type: ignore[arg-type]
    registry = ExpositionRegistry(AssetCollector(store, ScheduleConfig(), clock=Clock(T0)))
    for account in ("a", "b"):
        assets = tuple(_hours(f"{account}{i:04d}", 10.0 + i, T0) for i in range(1500))
        store.apply(FamilyResult(account, "services", assets=assets), T0)
    app = create_app(registry, store, alive=lambda: True)
    runner, port = await start_server(app, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/metrics"
    om = "application/openmetrics-text; version=1.0.0"
    try:
        async with httpx.AsyncClient() as http:
            plain = await http.get(url, headers={"Accept-Encoding": "identity"})
            opened = await http.get(url, headers={"Accept-Encoding": "identity", "Accept": om})
    finally:
        await runner.cleanup()
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 512 * 1024  # past the streaming size, in batches
    assert int(plain.headers["content-length"]) == len(plain.content)
    assert plain.content == registry.render_text()
    assert opened.headers["content-type"].startswith("application/openmetrics-text")
    assert opened.content == b"".join(registry.render_parts("openmetrics"))
    assert opened.content.endswith(b"# EOF\n")
    assert 'asset="b1499"' in plain.text
    pieces = registry.render_pieces()
    packed = [p for p in pieces if isinstance(p, Packed)]
    text = sum(p.size for p in packed)
    assert text > 0.9 * len(plain.content)  # the per-asset lines are nearly all of it
    assert sum(len(p.data) for p in packed) < text / 5


async def _raw(http: httpx.AsyncClient, url: str) -> bytes:
    """The body as sent (not inflated by httpx)."""
    async with http.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        return b"".join([chunk async for chunk in response.aiter_raw()])


def test_scrape_body_is_byte_for_byte_the_library_encoders_in_both_formats() -> None:
    """The daemon's own families (counters, histograms, gauges, info, with and
    without ``_created``) and the asset families, rendered by our formatter, are
    exactly what prometheus_client's encoders write of the same registry; families it
    does not write itself (units, exemplars, odd names) still come out the same."""
    from prometheus_client import Counter, Enum, Gauge, Histogram, Summary
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.openmetrics.exposition import generate_latest as om_latest
    from prometheus_client.registry import Collector
    from prometheus_client.samples import Exemplar, Sample

    from monitor.exposition import DaemonMetrics, ExpositionRegistry

    class Odd(Collector):
        def collect(self) -> list[Metric]:
            unit = GaugeMetricFamily("odd_size", "with a unit", unit="bytes", value=3)
            exemplar = CounterMetricFamily("odd_ex", "an exemplar", labels=["a"])
            exemplar.samples.append(
                Sample("odd_ex_total", {"a": "x"}, 1.0, None, Exemplar({"t": "1"}, 1.0))
            )
            stamped = GaugeMetricFamily("odd_ts", "a timestamp", labels=["a"])
            stamped.add_metric(["y"], 2.0, timestamp=1700000000.5)
            colon = GaugeMetricFamily("odd:colon", 'help "quoted"\nand \\', labels=["l"])
            colon.add_metric(['v"\n\\'], float("inf"))
            return [unit, exemplar, stamped, colon]

    def check(registry: ExpositionRegistry) -> None:
        for _ in range(2):  # label sets rendered, then from the memo
            assert registry.render_text() == generate_latest(registry)
            om = b"".join(registry.render_parts("openmetrics"))
            assert om == om_latest(registry)  # type: ignore[no-untyped-call]

    for created in (True, False):
        import prometheus_client.metrics as metrics_module

        kept = metrics_module._use_created
        metrics_module._use_created = created
        try:
            store = SnapshotStore(["a", "b"], INTERVALS, 3600)  # type: ignore[arg-type]
            registry = ExpositionRegistry(AssetCollector(store, ScheduleConfig(), clock=Clock(T0)))
            daemon = DaemonMetrics(registry, ["a", 'b "q"\n\\'], ["hook"])
            check(registry)
            store.apply(FamilyResult("a", "services", assets=(_hours("p1", 1.5, T0),)), T0)
            daemon.observer("a")("getserviceasset", "success", 0.07)
            daemon.observer('b "q"\n\\')("getserviceasset", "http_error", 1e-9)
            daemon.api_duration.labels("x").observe(123456789.0)
            daemon.clock_skew.labels("a").set(-0.25)
            Gauge("plain_gauge", "no labels", registry=registry).set(1e22)
            Counter("plain", "a counter", ["k"], registry=registry).labels("é 中").inc(3)
            Histogram("h", "a histogram", registry=registry).observe(float("nan"))
            Summary("s", "a summary", ["k"], registry=registry).labels("v").observe(2)
            Enum("e", "an enum", states=["on", "off"], registry=registry).state("off")
            registry.register(Odd())
            check(registry)
        finally:
            metrics_module._use_created = kept
    assert "plain_gauge 1e+22" in registry.render_text().decode()
