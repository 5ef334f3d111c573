"""The HTTP endpoints are served from a thread of their own: a scrape is answered
while the collecting event loop is held busy, and what needs that loop (the status
page, the state store) is still answered by it. A real daemon (its jobs run by
hand) against the simulator's demo dataset, over real HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from monitor import server
from monitor.daemon import Daemon
from monitor.demo import demo_settings
from monitor.domain import FAMILIES
from monitor.exposition import AlertCollector, AssetCollector, Format
from monitor.server import Serving, create_app, start_server
from monitor.simulator import RunningSimulator

#: the longest the loop is held, should the scrape never be answered (a failure)
_HOLD_AT_MOST_SECONDS = 30.0


@pytest_asyncio.fixture
async def collected(demo_sim: RunningSimulator, tmp_path: Path) -> AsyncIterator[Daemon]:
    settings, accounts = demo_settings(demo_sim.url, state_dir=str(tmp_path))
    daemon = Daemon(settings, accounts)
    try:
        for account in accounts:
            for family in FAMILIES:
                await daemon.run_family(account.name, family)
        yield daemon
    finally:
        await daemon.stop()


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ivh-http"]


async def _serve_with_status(daemon: Daemon) -> tuple[Serving, str]:
    """The daemon's app with its status page, served; the server and its base URL."""
    app = create_app(daemon.registry, daemon.store, alive=lambda: True, status=daemon)
    serving, port = await start_server(app, "127.0.0.1", 0)
    return serving, f"http://127.0.0.1:{port}"


async def test_a_scrape_is_answered_while_the_collecting_loop_is_held(
    collected: Daemon,
) -> None:
    serving, base = await _serve_with_status(collected)
    answers: dict[str, httpx.Response] = {}
    answered = threading.Event()
    held = threading.Event()

    def scrape() -> None:  # a client outside the loop
        with httpx.Client(timeout=_HOLD_AT_MOST_SECONDS) as http:
            answers["metrics"] = http.get(f"{base}/metrics")
            answers["healthz"] = http.get(f"{base}/healthz")
            answers["readyz"] = http.get(f"{base}/readyz")
        answered.set()

    def hold() -> None:  # a callback that keeps the collecting loop until answered
        threading.Thread(target=scrape).start()
        held.set()
        answered.wait(_HOLD_AT_MOST_SECONDS)

    try:
        asyncio.get_running_loop().call_soon(hold)
        await asyncio.sleep(0)  # the hold runs here
        assert held.is_set()
        assert answered.is_set(), "no answer while the loop was held"
        assert [answers[p].status_code for p in ("metrics", "healthz", "readyz")] == [200] * 3
        assert 'ivh_asset_info{account="xinghe-live"' in answers["metrics"].text
        # the status page reads the state store on the collecting loop: handed to it
        async with httpx.AsyncClient(timeout=30) as http:
            page = await http.get(f"{base}/")
            alerts = await http.get(f"{base}/api/alerts")
        assert page.status_code == 200
        assert "xinghe-live" in page.text
        assert alerts.status_code == 200
    finally:
        await serving.cleanup()
    assert _server_threads() == []


async def test_a_status_request_waits_for_the_held_loop_and_is_then_answered(
    collected: Daemon,
) -> None:
    serving, base = await _serve_with_status(collected)
    answers: dict[str, httpx.Response] = {}
    scraped = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=_HOLD_AT_MOST_SECONDS) as http:
            answers["metrics"] = http.get(f"{base}/metrics")
            scraped.set()
            answers["status"] = http.get(f"{base}/api/assets")

    thread = threading.Thread(target=client)

    def hold() -> None:
        thread.start()
        scraped.wait(_HOLD_AT_MOST_SECONDS)
        # the loop is still held: the status request cannot have been answered
        answers_while_held.update(answers)

    answers_while_held: dict[str, httpx.Response] = {}
    try:
        asyncio.get_running_loop().call_soon(hold)
        await asyncio.sleep(0)
        assert set(answers_while_held) == {"metrics"}
        await asyncio.to_thread(thread.join, _HOLD_AT_MOST_SECONDS)
        assert answers["status"].status_code == 200
        assert {a["account"] for a in answers["status"].json()} >= {"xinghe-live"}
    finally:
        await serving.cleanup()


async def test_a_taken_port_is_reported_and_leaves_no_thread(collected: Daemon) -> None:
    daemon = collected
    app = create_app(daemon.registry, daemon.store, alive=lambda: True)
    serving, port = await start_server(app, "127.0.0.1", 0)
    try:
        other = create_app(daemon.registry, daemon.store, alive=lambda: True)
        with pytest.raises(OSError, match=r"(?i)address already in use"):
            await start_server(other, "127.0.0.1", port)
        assert len(_server_threads()) == 1  # the first server's only
    finally:
        await serving.cleanup()
    assert _server_threads() == []


def _assets(body: bytes, account: str, kind: str) -> list[bytes]:
    """The ``ivh_asset_info`` lines of one account's assets of one kind."""
    start = b'ivh_asset_info{account="' + account.encode() + b'"'
    return [
        line
        for line in body.splitlines()
        if line.startswith(start) and b'kind="' + kind.encode() + b'"' in line
    ]


def _scrape(base: str, fmt: str) -> bytes:
    accept = "application/openmetrics-text; version=1.0.0" if fmt == "openmetrics" else ""
    with httpx.Client(timeout=30) as http:
        response = http.get(f"{base}/metrics", headers={"Accept": accept})
    assert response.status_code == 200
    return response.content


async def test_a_scrape_after_a_family_lands_serves_a_fresh_render_of_the_snapshot(
    collected: Daemon, demo_sim: RunningSimulator
) -> None:
    """What a family's landing rendered (off the loop) is what a fresh render of the
    same snapshot says, byte for byte, in both formats; assets gone upstream are gone."""
    daemon = collected
    serving, base = await _serve_with_status(daemon)
    formats: tuple[Format, ...] = ("text", "openmetrics")
    try:
        before = {fmt: await asyncio.to_thread(_scrape, base, fmt) for fmt in formats}
        assert all(_assets(body, "xinghe-live", "timbre") for body in before.values())
        demo_sim.dataset.account("xinghe-live").replace("timbres", [])
        await daemon.run_family("xinghe-live", "timbres")
        await daemon.run_family("xinghe-live", "services")
        for fmt in formats:
            served = await asyncio.to_thread(_scrape, base, fmt)
            fresh = AssetCollector(
                daemon.store,
                daemon.settings.schedule,
                clock=daemon.clock,
                account_labels={a.name: a.labels for a in daemon.accounts},
            )
            assert served.startswith(b"".join(fresh.render_parts(fmt))), fmt
            alerts = AlertCollector(
                daemon.store, daemon.engine, daemon.dispatcher, clock=daemon.clock
            )
            assert alerts.render_exposition(fmt) in served, fmt
            assert _assets(served, "xinghe-live", "timbre") == [], fmt
            assert _assets(served, "xinghe-live", "service"), fmt
    finally:
        await serving.cleanup()


async def test_a_reload_past_the_handover_deadline_is_carried_through(
    collected: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload (a change) handed to the collecting loop is answered 503 once the
    deadline passes, but is not cut midway: it runs to its end."""
    monkeypatch.setattr(server, "MAIN_LOOP_DEADLINE_SECONDS", 0.2)
    release, finished = asyncio.Event(), asyncio.Event()

    async def reload() -> tuple[bool, list[str]]:
        await release.wait()
        finished.set()
        return True, []

    app = create_app(collected.registry, collected.store, alive=lambda: True, reload=reload)
    serving, port = await start_server(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(f"http://127.0.0.1:{port}/-/reload")
        assert answer.status_code == 503
        release.set()
        await asyncio.wait_for(finished.wait(), _HOLD_AT_MOST_SECONDS)
    finally:
        await serving.cleanup()
