"""Alerts end to end: real daemon processes, kill -9, and a real Alertmanager."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from monitor.simulator import DEMO_ACCOUNTS, RunningSimulator, default_dataset, run_simulator
from tests.processes import eventually, fast_schedule, free_port, require_tool, start_daemon, value

LIVE = DEMO_ACCOUNTS[0]


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1; ``hang`` holds requests open until released."""

    url: str = ""
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        key = request.headers.get("Idempotency-Key", "")
        state.attempts.append(key)
        if state.hang:
            await state.release.wait()  # never answers while the test wants it hung
        state.accepted.append((key, json.loads(body)))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield state
    state.release.set()
    await runner.cleanup()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


def _config(
    sim: RunningSimulator, tmp_path: Path, channels: list[dict[str, Any]]
) -> dict[str, Any]:
    name, appkey, token = LIVE
    return {
        "accounts": [{"name": name, "appkey": appkey, "access_token": token, "base_url": sim.url}],
        "schedule": fast_schedule(),
        "client": {"retries": 0, "rate_limit_per_second": 500},
        "state_dir": str(tmp_path / "state"),
        "alerts": {
            "channels": channels,
            "delivery": {"backoff_initial_seconds": 0.2, "backoff_max_seconds": 1},
        },
    }


@pytest.mark.slow
async def test_kill_9_during_delivery_loses_nothing_and_repeats_nothing(
    sim: RunningSimulator, receiver: Receiver, tmp_path: Path
) -> None:
    config = _config(
        sim,
        tmp_path,
        [{"name": "ops", "type": "webhook", "url": receiver.url, "timeout_seconds": 30}],
    )
    receiver.hang = True
    first = await start_daemon(config, tmp_path, "first")

    async def in_flight() -> bool:
        return bool(receiver.attempts)

    await eventually(in_flight, "a notification in flight to the receiver")
    hung_key = receiver.attempts[0]
    first.kill()  # kill -9 while the receiver holds the delivery open
    await first.process.wait()
    assert receiver.accepted == []

    receiver.hang = False
    receiver.release.set()
    await asyncio.sleep(0)  # let the hung handler finish before counting
    receiver.accepted.clear()
    second = await start_daemon(config, tmp_path, "second")
    try:

        async def redelivered() -> bool:
            return any(key == hung_key for key, _ in receiver.accepted)

        await eventually(redelivered, "the interrupted notification delivered after restart")
        # let several more collection cycles pass: nothing fires again inside the
        # repeat interval, because the first process recorded these alerts as notified
        before = (
            value(
                await second.metrics(),
                "ivh_api_requests_total",
                endpoint="getserviceasset",
                outcome="success",
            )
            or 0
        )

        async def cycles() -> bool:
            now = (
                value(
                    await second.metrics(),
                    "ivh_api_requests_total",
                    endpoint="getserviceasset",
                    outcome="success",
                )
                or 0
            )
            return now >= before + 3

        await eventually(cycles, "three more services collections")
        keys = [key for key, _ in receiver.accepted]
        assert keys.count(hung_key) == 1
        assert len(keys) == len(set(keys)), "a notification was accepted twice"
        # and no alert was announced as new twice
        fired = [
            (a["labels"]["rule"], a["labels"]["asset"])
            for _, body in receiver.accepted
            for a in body["alerts"]
            if a["status"] == "firing"
        ]
        assert fired
        assert len(fired) == len(set(fired))
    finally:
        assert await second.stop() == 0


@pytest.mark.slow
async def test_alertmanager_receives_pushed_alerts_and_delivers_them(
    sim: RunningSimulator, receiver: Receiver, tmp_path: Path
) -> None:
    binary = require_tool("prometheus-alertmanager")
    am_port = free_port()
    am_config = tmp_path / "am.yml"
    am_config.write_text(
        f"""
route:
  receiver: test
  group_by: [alertname, account]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: {receiver.url}
        send_resolved: true
""",
        "utf-8",
    )
    am = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={am_config}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    daemon = None
    try:
        config = _config(
            sim,
            tmp_path,
            [{"name": "am", "type": "alertmanager", "urls": [f"http://127.0.0.1:{am_port}"]}],
        )
        daemon = await start_daemon(config, tmp_path)

        async def delivered() -> bool:
            return any(
                a["labels"].get("alertname") == "IvhAssetExpiring"
                for _, body in receiver.accepted
                for a in body.get("alerts", [])
            )

        await eventually(delivered, "Alertmanager delivering the monitor's alerts", tries=600)
        alerts = [a for _, body in receiver.accepted for a in body["alerts"]]
        expiring = next(a for a in alerts if a["labels"]["alertname"] == "IvhAssetExpiring")
        assert expiring["labels"]["account"] == LIVE[0]
        assert expiring["status"] == "firing"
        assert "expires" in expiring["annotations"]["summary"]
        samples = await daemon.metrics()
        assert (
            value(samples, "ivh_notifications_total", channel="am", outcome="delivered") or 0
        ) >= 1
    finally:
        if daemon is not None:
            await daemon.stop()
        am.terminate()
        await am.wait()


def _delete_state(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink()


def _fired(receiver: Receiver) -> list[tuple[str, str]]:
    return [
        (a["labels"]["rule"], a["labels"]["asset"])
        for _, body in receiver.accepted
        for a in body["alerts"]
        if a["status"] == "firing"
    ]


async def _collections(daemon: Any, more: int) -> None:
    """Wait until ``more`` further services collections have succeeded."""

    async def count() -> float:
        samples = await daemon.metrics()
        return (
            value(
                samples,
                "ivh_api_requests_total",
                endpoint="getserviceasset",
                outcome="success",
            )
            or 0
        )

    before = await count()

    async def done() -> bool:
        return await count() >= before + more

    await eventually(done, f"{more} more services collections")


@pytest.mark.slow
async def test_state_file_deleted_while_running_is_recreated_and_nothing_is_sent_twice(
    sim: RunningSimulator, receiver: Receiver, tmp_path: Path
) -> None:
    config = _config(sim, tmp_path, [{"name": "ops", "type": "webhook", "url": receiver.url}])
    path = tmp_path / "state" / "state.sqlite3"
    first = await start_daemon(config, tmp_path, "first")
    try:

        async def delivered() -> bool:
            samples = await first.metrics()
            return bool(receiver.accepted) and (value(samples, "ivh_notification_queue_depth") == 0)

        await eventually(delivered, "the first alerts delivered")
        assert _fired(receiver)
        _delete_state(path)  # the database, its -wal and -shm, under the running daemon

        async def noticed() -> bool:
            samples = await first.metrics()
            # /metrics is answered off the collecting loop: a scrape may see the loss
            # counted before the same step has logged it and recreated the file
            recreated = any(e["event"] == "state.recreated" for e in first.log_events())
            return (value(samples, "ivh_state_store_losses_total") or 0) >= 1 and recreated

        await eventually(noticed, "the loss counted")
        [lost] = [e for e in first.log_events() if e["event"] == "state.lost"]
        assert (lost["path"], lost["reason"], lost["salvaged"]) == (str(path), "deleted", True)
        assert any(e["event"] == "state.recreated" for e in first.log_events())
        assert path.exists()
        samples = await first.metrics()
        assert value(samples, "ivh_state_store_up") == 1
        assert value(samples, "ivh_state_store_lost_notifications_total") == 0
        async with httpx.AsyncClient() as http:
            page = (await http.get(first.url + "/")).text
        assert "The state file was lost 1 time(s)" in page
        await _collections(first, 3)  # nothing fires again right after recreation
        assert len(_fired(receiver)) == len(set(_fired(receiver)))
    finally:
        assert await first.stop() == 0

    second = await start_daemon(config, tmp_path, "second")
    try:
        await _collections(second, 3)  # nor after a restart over the recreated file
        fired = _fired(receiver)
        assert len(fired) == len(set(fired)), "an alert was announced twice"
        assert (value(await second.metrics(), "ivh_state_store_losses_total") or 0) == 0
    finally:
        assert await second.stop() == 0
