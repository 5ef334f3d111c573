"""Scrapes before background work (monitor.precedence): while one is served, the
collection, the alert evaluation and the prerender step aside where they can pause,
for a bounded time; no scrape, however long or frequent, stops the collection."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from monitor.daemon import Daemon
from monitor.demo import demo_settings
from monitor.domain import FAMILIES
from monitor.precedence import Precedence
from monitor.server import create_app, start_server
from monitor.simulator import RunningSimulator
from monitor.snapshot import SnapshotStore
from tests.processes import serving

#: longer than any wait here should take: a test that reaches it has failed
_AT_MOST = 30.0


def _in_thread(p: Precedence) -> tuple[threading.Thread, threading.Event]:
    stepped = threading.Event()

    def background() -> None:
        p.step_aside()
        stepped.set()

    thread = threading.Thread(target=background, name="background")
    thread.start()
    return thread, stepped


def test_the_background_goes_on_when_no_scrape_is_served() -> None:
    p = Precedence(max_wait_seconds=_AT_MOST)
    thread, stepped = _in_thread(p)
    assert stepped.wait(_AT_MOST)
    thread.join(_AT_MOST)
    assert p.steps == {}
    assert not p.busy


def test_the_background_waits_until_the_scrape_is_served() -> None:
    p = Precedence(max_wait_seconds=_AT_MOST)
    with p.serving():
        assert p.busy
        thread, stepped = _in_thread(p)
        assert not stepped.wait(0.3), "the background went on while a scrape was served"
    assert stepped.wait(_AT_MOST), "the background never went on after the scrape"
    thread.join(_AT_MOST)
    assert p.steps == {"background": 1}
    assert not p.busy


def test_a_scrape_that_never_ends_holds_the_background_for_max_wait_only() -> None:
    p = Precedence(max_wait_seconds=0.05)
    with p.serving():  # a client that never reads its answer
        thread, stepped = _in_thread(p)
        assert stepped.wait(_AT_MOST), "the background waited for a stuck scrape"
        thread.join(_AT_MOST)
        # and from then on, it no longer waits for that scrape at all
        p.step_aside()
        assert "MainThread" not in p.steps


def test_back_to_back_scrapes_leave_the_background_its_share() -> None:
    p = Precedence(max_wait_seconds=0.02, min_run_seconds=_AT_MOST)
    with p.serving():
        p.step_aside()  # waits for this scrape (0.02 s at most)
    with p.serving():  # the next scrape, right after
        p.step_aside()  # has run less than min_run since: goes on
    assert p.steps == {"MainThread": 1}


def test_a_scrape_over_http_is_served_ahead_of_the_background_until_its_last_byte() -> None:
    """The server holds precedence from the render to the last byte handed to the
    socket: here a 16 MB body whose client reads it slowly (a small receive buffer)."""
    p = Precedence(max_wait_seconds=_AT_MOST)
    busy_in_render: list[bool] = []
    line = b"# a comment line of the body\n"

    class Big(CollectorRegistry):
        def render_parts(self, fmt: str = "text") -> list[bytes]:
            busy_in_render.append(p.busy)
            return [line * 4096] * 140  # ~16 MB

    async def scenario() -> None:
        store = SnapshotStore(["a"], dict.fromkeys(FAMILIES, 60.0), 60)
        app = create_app(Big(), store, alive=lambda: True, precedence=p)
        runner, port = await start_server(app, "127.0.0.1", 0)
        try:
            with socket.socket() as client:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                client.settimeout(_AT_MOST)
                client.connect(("127.0.0.1", port))
                client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                head = client.recv(4096)
                assert head.startswith(b"HTTP/1.1 200"), head[:100]
                assert busy_in_render == [True]
                await asyncio.sleep(0.2)  # the server is blocked on the unread body
                assert p.busy, "precedence ended before the body was sent"
                got = len(head)
                while chunk := client.recv(1 << 20):
                    got += len(chunk)
            assert got > 140 * 4096 * len(line)
            for _ in range(300):  # the handler returns just after its last write
                if not p.busy:
                    break
                await asyncio.sleep(0.01)
            assert not p.busy
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


class _ScrapesInALoop:
    """A client scraping a URL back to back, from :meth:`start` until :meth:`finish`."""

    def __init__(self, url: str) -> None:
        self.answers: list[int] = []
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scraper")

    def _loop(self) -> None:
        with httpx.Client(timeout=_AT_MOST) as http:
            while not self._stop.is_set():
                self.answers.append(http.get(self._url).status_code)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._stop.set()
        self._thread.join(_AT_MOST)
        assert not self._thread.is_alive()


async def test_the_daemon_collects_evaluates_and_prerenders_through_scrapes_in_a_loop(
    demo_sim: RunningSimulator,
    tmp_path: Path,
) -> None:
    settings, accounts = demo_settings(demo_sim.url, state_dir=str(tmp_path / "a"))
    alone = Daemon(settings, accounts)
    try:
        for account in accounts:
            await asyncio.gather(*(alone.run_family(account.name, f) for f in FAMILIES))
        expected = sorted(
            (a.account, a.kind, a.id) for a in alone.store.current.assets(alone.clock())
        )
    finally:
        await alone.stop()

    settings, accounts = demo_settings(demo_sim.url, state_dir=str(tmp_path / "b"))
    daemon = Daemon(settings, accounts)
    try:
        async with serving(daemon) as base:
            async with httpx.AsyncClient(timeout=_AT_MOST) as http:
                await http.get(f"{base}/metrics")  # a format scraped: prerendered from now on
            scrapes = _ScrapesInALoop(f"{base}/metrics")
            scrapes.start()
            try:
                for _ in range(3):
                    for account in accounts:
                        await asyncio.gather(
                            *(daemon.run_family(account.name, f) for f in FAMILIES)
                        )
            finally:
                scrapes.finish()
            assert scrapes.answers, "no scrape was made"
            assert set(scrapes.answers) == {200}
            got = sorted(
                (a.account, a.kind, a.id) for a in daemon.store.current.assets(daemon.clock())
            )
            assert got == expected, "stepping aside changed what was collected"
            assert all(s.success for s in daemon.store.current.states())
    finally:
        await daemon.stop()
    steps = daemon.precedence.steps
    # the collecting loop (this test's), the alert worker and the prerender thread
    assert steps.get("MainThread", 0) > 0, steps
    assert any(name.startswith("alert-rules") for name in steps), steps
    assert steps.get("ivh-prerender", 0) > 0, steps
