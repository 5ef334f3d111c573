"""``/``, ``/api/assets`` and ``/api/alerts`` served by a real daemon (not started:
its jobs are run by hand) against the simulator's demo dataset, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest_asyncio
from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.daemon import Daemon
from monitor.demo import demo_settings
from monitor.domain import FAMILIES
from monitor.serialise import asset_record
from monitor.server import create_app, start_server
from monitor.simulator import DEMO_ACCOUNTS, default_dataset, run_simulator
from tests.processes import serving

ROBOT_KEY = "robot-key-4f1c9a2e-never-shown"
HOOK_URL = f"http://127.0.0.1:9/cgi-bin/webhook/send?key={ROBOT_KEY}"


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Daemon]]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as sim:
        settings, accounts = demo_settings(
            sim.url,
            state_dir=str(tmp_path),
            alerts={
                "language": "zh",
                "channels": [{"name": "robot", "type": "wecom", "url": HOOK_URL}],
            },
        )
        daemon = Daemon(settings, accounts)
        try:
            for account in accounts:
                for family in FAMILIES:
                    await daemon.run_family(account.name, family)
            # a second services sample, so burn-down charts have history
            for account in accounts:
                await daemon.run_family(account.name, "services")
            async with serving(daemon) as url:
                yield url, daemon
        finally:
            await daemon.stop()


async def test_api_assets_is_the_report_shape(served: tuple[str, Daemon]) -> None:
    url, daemon = served
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/api/assets")
        one = await http.get(f"{url}/api/assets", params={"account": "horizon-sg"})
        unknown = await http.get(f"{url}/api/assets", params={"account": "nobody"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    records = response.json()
    assets = daemon.store.current.assets(daemon.clock())
    assert len(records) == len(assets) > 0
    sample = asset_record(assets[0], daemon.clock())
    assert all(set(r) == set(sample) for r in records)
    lefts = [r["expires_in_seconds"] for r in records]
    known = [x for x in lefts if x is not None]
    assert known == sorted(known)
    assert all(r["account"] == "horizon-sg" for r in one.json())
    assert unknown.status_code == 404


async def test_api_alerts(served: tuple[str, Daemon]) -> None:
    url, _ = served
    async with httpx.AsyncClient() as http:
        records = (await http.get(f"{url}/api/alerts")).json()
        firing = (await http.get(f"{url}/api/alerts", params={"status": "firing"})).json()
        one = (await http.get(f"{url}/api/alerts", params={"account": "xinghe-live"})).json()
    assert records, "the demo dataset fires alerts"
    keys = {
        "fingerprint", "rule", "account", "kind", "asset", "severity", "status",
        "starts_at", "started_at", "last_notified_at", "resolved_at", "resolve_reason",
        "summary", "description", "action", "labels", "values", "last_delivery",
    }  # fmt: skip
    assert all(set(r) == keys for r in records)
    # one name with the stored alert and Alertmanager; the old one kept, same value
    assert all(r["starts_at"] == r["started_at"] is not None for r in records)
    assert {r["status"] for r in firing} == {"firing"}
    assert {r["account"] for r in one} == {"xinghe-live"}
    # queued for the (not running) dispatcher: the last delivery is pending
    delivery = next(r["last_delivery"] for r in records if r["last_delivery"])
    assert delivery["channel"] == "robot"
    assert delivery["state"] == "pending"
    assert any("到期" in (r["summary"] or "") for r in records)  # alerts.language = zh


async def test_page_served_in_the_configured_language(served: tuple[str, Daemon]) -> None:
    url, _ = served
    async with httpx.AsyncClient() as http:
        page = await http.get(f"{url}/")
        account = await http.get(f"{url}/", params={"account": "xinghe-live", "page": "1"})
        missing = await http.get(f"{url}/", params={"account": "nobody"})
        metrics = await http.get(f"{url}/metrics")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none'
    text = page.text
    assert '<html lang="zh-CN">' in text
    for name, _, _ in DEMO_ACCOUNTS:
        assert name in text
    assert 'class="timeline"' in text
    assert 'class="burn"' in text
    assert "robot" in text
    assert account.status_code == 200
    assert missing.status_code == 404
    assert metrics.status_code == 200  # /metrics unchanged on the same app


async def test_nothing_reveals_a_secret(served: tuple[str, Daemon]) -> None:
    url, daemon = served
    tokens = [a.access_token.get_secret_value() for a in daemon.accounts]
    async with httpx.AsyncClient() as http:
        bodies = [
            (await http.get(f"{url}{path}")).text
            for path in ("/", "/?account=xinghe-live", "/api/assets", "/api/alerts")
        ]
    for body in bodies:
        assert ROBOT_KEY not in body
        for token in tokens:
            assert token not in body
    assert "key=***" in bodies[0]  # the channel, masked


async def test_routes_live_on_the_one_app(served: tuple[str, Daemon]) -> None:
    """Middleware on the app (basic auth, later) guards the page and the APIs too."""
    _, daemon = served

    @web.middleware
    async def deny(request: web.Request, handler: Handler) -> web.StreamResponse:
        return web.Response(status=401, text="no")

    app = create_app(daemon.registry, daemon.store, alive=lambda: True, status=daemon)
    app.middlewares.append(deny)
    runner, port = await start_server(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient() as http:
            for path in ("/", "/api/assets", "/api/alerts", "/metrics"):
                response = await http.get(f"http://127.0.0.1:{port}{path}")
                assert response.status_code == 401, path
    finally:
        await runner.cleanup()


async def test_status_data_knows_collectors_off_starts_and_voice_avatar_types(
    tmp_path: Path,
) -> None:
    from datetime import timedelta

    from monitor.simulator.records import format_beijing
    from monitor.status.gather import StatusReader
    from monitor.status.view import avatar_types_of, not_active_yet

    now = datetime.now(UTC)
    dataset = default_dataset(now)
    live = dataset.account("xinghe-live")
    key = live.small_sample_images[-1]["VirtualmanKey"]
    start = now + timedelta(days=3)
    live.update(
        "small_sample_images",
        {"EffectiveTime": int(start.timestamp() * 1000), "EffectiveDate": format_beijing(start)},
        VirtualmanKey=key,
    )
    async with run_simulator(dataset) as sim:
        settings, accounts = demo_settings(
            sim.url, state_dir=str(tmp_path), collectors={"actions": False}
        )
        daemon = Daemon(settings, accounts)
        try:
            for account in accounts:
                for family in daemon.families:
                    await daemon.run_family(account.name, family)
            data = StatusReader(daemon).read()
            async with serving(daemon) as url, httpx.AsyncClient() as http:
                records = (await http.get(f"{url}/api/assets")).json()
                ready = await http.get(f"{url}/readyz")
        finally:
            await daemon.stop()
    assert daemon.families == ("services", "timbres", "images")
    assert data.disabled_families == ("actions",)
    # a family off has no state: never "failing" nor "pending" on the page
    assert {s.family for a in data.accounts for s in a.families} == set(daemon.families)
    assert ready.status_code == 200
    assert ready.text == "ready\ncollectors off: actions\n"
    everything = [asset for a in data.accounts for asset in a.assets]
    waiting = not_active_yet(everything, data.now)
    assert [(a.account, a.id) for a, _ in waiting] == [("xinghe-live", key)]
    assert 2.9 * 86400 < waiting[0][1] <= 3 * 86400
    record = next(r for r in records if r["id"] == key)
    assert record["active"] is False
    assert record["starts_in_seconds"] is not None
    voices = [a for a in everything if a.kind == "timbre"]
    raw = {(acc.name, t["TimbreKey"]): t for acc in dataset.accounts for t in acc.timbres}
    for voice in voices:
        assert list(avatar_types_of(voice)) == sorted(
            set(raw[(voice.account, voice.id)]["SupportVirtualmanTypeCodes"])
        )
        api = next(
            r
            for r in records
            if (r["kind"], r["account"], r["id"]) == ("timbre", voice.account, voice.id)
        )
        assert api["avatar_types"] == list(avatar_types_of(voice))
    assert all(not avatar_types_of(a) for a in everything if a.kind != "timbre")
