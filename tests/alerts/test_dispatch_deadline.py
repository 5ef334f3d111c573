"""Every delivery attempt is bounded, connect to last byte, by the channel's timeout_seconds.

httpx's own timeouts bound each read: a receiver that drips its answer a byte
at a time would keep a delivery in flight for ever. These receivers are raw
TCP servers on 127.0.0.1 that misbehave in the three ways that matter, each
bounded in bytes and time; they drip faster than ``timeout_seconds``, so only a
deadline on the whole exchange ends the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from monitor.alerts.channels import TargetLimiters, build_channel, parse_channel_config
from monitor.alerts.config import DeliveryConfig
from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.records import Alert, Notification
from monitor.alerts.store import StateStore
from tests.alerting import T0, Clock
from tests.processes import eventually

TIMEOUT = 1.0
#: well inside TIMEOUT, so no single read ever times out
DRIP_SECONDS = TIMEOUT / 4
#: bytes a drip sends at most (a bound on every loop; far more than TIMEOUT lasts)
DRIP_BYTES = 200
SECRET = "robot-key-never-logged"

Mode = Literal["ok", "drip_body", "drip_headers", "silent"]


@dataclass
class Receiver:
    """Answers by ``mode``; counts the requests it saw (their first line)."""

    mode: Mode = "ok"
    base: str = ""
    requests: list[str] = field(default_factory=list)
    #: modes for the next requests, before ``mode`` applies again
    script: list[Mode] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            line = head.split(b"\r\n", 1)[0].decode()
            self.requests.append(line)
            length = next(
                (
                    int(h.split(b":", 1)[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length:")
                ),
                0,
            )
            await asyncio.wait_for(reader.readexactly(length), 5)
            mode = self.script.pop(0) if self.script else self.mode
            await self._answer(writer, mode, slack="/services/" in line)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client gave up: what these receivers are for
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer(self, writer: asyncio.StreamWriter, mode: Mode, *, slack: bool) -> None:
        body = b"ok" if slack else b'{"errcode":0,"code":0,"StatusCode":0}'
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(body) if mode == "ok" else DRIP_BYTES)
        )
        if mode == "ok":
            writer.write(head + body)
            await writer.drain()
        elif mode == "silent":
            await asyncio.sleep(DRIP_BYTES * DRIP_SECONDS)  # never answers while it matters
        else:
            drip = head if mode == "drip_headers" else b" " * DRIP_BYTES
            if mode == "drip_body":
                writer.write(head)
            for byte in drip[:DRIP_BYTES]:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(DRIP_SECONDS)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state
        server.close()


def _config(kind: str, base: str) -> dict[str, Any]:
    urls: dict[str, dict[str, Any]] = {
        "webhook": {"url": f"{base}/hook"},
        "alertmanager": {"urls": [base]},
        "wecom": {"url": f"{base}/cgi-bin/webhook/send?key={SECRET}"},
        "dingtalk": {"url": f"{base}/robot/send?access_token={SECRET}"},
        "feishu": {"url": f"{base}/open-apis/bot/v2/hook/{SECRET}"},
        "slack": {"url": f"{base}/services/T1/B1/{SECRET}"},
    }
    return {"name": "ops", "type": kind, "timeout_seconds": TIMEOUT, **urls[kind]}


def _notification(notification_id: str, alerts: int = 1) -> Notification:
    firing = tuple(
        Alert(
            rule="expiring",
            account="acme",
            kind="timbre",
            asset=f"v{n}",
            severity="warning",
            status="firing",
            starts_at=T0,
            labels={"alertname": "IvhAssetExpiring", "severity": "warning", "rule": "expiring"},
            annotations={"summary": f"voice v{n} expires in 10 days", "description": "x" * 300},
        )
        for n in range(alerts)
    )
    return Notification(
        id=notification_id, channel="ops", reason="firing", created_at=T0, alerts=firing
    )


def _events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        ("webhook", "drip_body"),
        ("webhook", "drip_headers"),
        ("webhook", "silent"),
        ("alertmanager", "drip_body"),
        ("wecom", "drip_body"),
        ("dingtalk", "drip_body"),
        ("feishu", "drip_body"),
        ("slack", "drip_body"),
    ],
)
async def test_a_dripping_or_silent_receiver_is_a_retry_then_delivered(
    receiver: Receiver, tmp_path: Path, kind: str, mode: Mode
) -> None:
    clock = Clock()
    outcomes: list[tuple[str, str]] = []
    store = StateStore(tmp_path / "state.sqlite3")
    channel = build_channel(
        parse_channel_config(_config(kind, receiver.base)), limiters=TargetLimiters({})
    )
    dispatcher = Dispatcher(
        store,
        {"ops": channel},
        DeliveryConfig(backoff_initial_seconds=60),
        clock=clock,
        on_outcome=lambda channel, outcome: outcomes.append((channel, outcome)),
    )
    with store.transaction() as db:
        store.enqueue(db, _notification("n-1"), T0)
    try:
        receiver.mode = mode
        with capture_logs() as logs:
            assert await dispatcher.deliver_due() == 1
        assert outcomes == [("ops", "retry")]
        [entry] = store.outbox(states=("pending",))
        assert entry.attempts == 1
        assert entry.last_error is not None
        if mode != "silent":  # silent may meet httpx's own read timeout first
            assert f"no complete answer within {TIMEOUT:g} s" in entry.last_error
        [failed] = _events(logs, "alert.delivery_failed")
        assert (failed["channel"], failed["will_retry"]) == ("ops", True)
        [sent] = _events(logs, "channel.send_failed")
        assert sent["target"] == channel.masked_url()
        assert SECRET not in repr(logs)
        assert SECRET not in entry.last_error

        receiver.mode = "ok"
        clock.advance(minutes=2)  # past the backoff
        assert await dispatcher.deliver_due() == 1
        assert outcomes[-1] == ("ops", "delivered")
        assert store.outbox(states=("pending",)) == []
        assert len(receiver.requests) == 2
    finally:
        await channel.aclose()
        store.close()


@pytest.mark.timeout(30)
async def test_the_dispatcher_loop_moves_on_past_a_dripping_receiver(
    receiver: Receiver, tmp_path: Path
) -> None:
    """The background loop itself (not just one call) is never held by a receiver."""
    clock = Clock()
    store = StateStore(tmp_path / "state.sqlite3")
    channel = build_channel(
        parse_channel_config(_config("webhook", receiver.base)), limiters=TargetLimiters({})
    )
    outcomes: list[str] = []
    dispatcher = Dispatcher(
        store,
        {"ops": channel},
        DeliveryConfig(backoff_initial_seconds=0.1, backoff_max_seconds=0.2),
        clock=lambda: clock.now,
        on_outcome=lambda _, outcome: outcomes.append(outcome),
    )
    with store.transaction() as db:
        store.enqueue(db, _notification("n-2"), T0)
    receiver.mode = "drip_body"
    task = asyncio.create_task(dispatcher.run())
    try:
        for _ in range(300):  # bounded: the test's own timeout is the real bound
            if "retry" in outcomes:
                break
            await asyncio.sleep(0.05)
        assert "retry" in outcomes
        receiver.mode = "ok"
        clock.advance(seconds=1)
        dispatcher.wake()
        for _ in range(300):
            if "delivered" in outcomes:
                break
            await asyncio.sleep(0.05)
        assert outcomes[-1] == "delivered"
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 5)
        await channel.aclose()
        store.close()


@pytest.mark.timeout(30)
async def test_each_accepted_part_of_a_split_message_is_recorded_before_the_next(
    receiver: Receiver, tmp_path: Path
) -> None:
    """A ``kill -9`` between two parts must not send the first one again after restart."""
    path = tmp_path / "state.sqlite3"
    store = StateStore(path)
    channel = build_channel(
        parse_channel_config(_config("wecom", receiver.base)), limiters=TargetLimiters({})
    )
    dispatcher = Dispatcher(store, {"ops": channel}, DeliveryConfig(), clock=Clock())
    with store.transaction() as db:
        store.enqueue(db, _notification("n-3", alerts=40), T0)
    other = StateStore(path)  # another reader of the file, as a restarted process would be
    receiver.script = ["ok"]  # the first part is accepted, the second drips
    receiver.mode = "drip_body"
    delivery = asyncio.create_task(dispatcher.deliver_due())
    try:
        recorded: tuple[str, ...] = ()
        for _ in range(200):  # bounded; the second part is in flight meanwhile
            [entry] = other.outbox(states=("pending",))
            recorded = entry.delivered_parts
            if recorded:
                break
            await asyncio.sleep(0.02)
        assert len(recorded) == 1
        assert recorded[0].startswith("1/")
        assert not delivery.done()  # recorded while the next part was still in flight
        await delivery
        [entry] = store.outbox(states=("pending",))
        assert entry.delivered_parts == recorded
    finally:
        other.close()
        await channel.aclose()
        store.close()


# -- a receiver answering with a huge body: a bounded read ------------------------------------

#: what the receiver would send: far more than any answer is read
HUGE = 100 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass
class HugeAnswer:
    """Answers HTTP 200 with a generated 100 MB body (Content-Length or chunked), and
    counts the bytes the client took before it hung up."""

    chunked: bool = False
    base: str = ""
    sent: list[int] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        total = 0
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = next(
                (
                    int(h.split(b":", 1)[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length:")
                ),
                0,
            )
            await asyncio.wait_for(reader.readexactly(length), 5)
            framing = (
                b"Transfer-Encoding: chunked" if self.chunked else b"Content-Length: %d" % HUGE
            )
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%s\r\n\r\n" % framing
            )
            chunk = b'{"errcode":0,' + b" " * (_CHUNK - 13)
            for _ in range(HUGE // _CHUNK):
                data = b"%x\r\n%s\r\n" % (len(chunk), chunk) if self.chunked else chunk
                writer.write(data)
                await writer.drain()
                total += len(chunk)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client hung up: what this receiver is for
        finally:
            self.sent.append(total)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("webhook", "delivered"),  # judged on its status: 200
        ("alertmanager", "delivered"),
        ("wecom", "retry"),  # its errcode is in the body, which was cut off
        ("dingtalk", "retry"),
        ("slack", "retry"),
    ],
)
async def test_a_huge_answer_is_read_only_in_part(kind: str, outcome: str, chunked: bool) -> None:
    huge = HugeAnswer(chunked=chunked)
    server = await asyncio.start_server(huge.handle, "127.0.0.1", 0)
    huge.base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    config = {**_config(kind, huge.base), "timeout_seconds": 30}
    async with server:
        channel = build_channel(parse_channel_config(config), limiters=TargetLimiters())
        try:
            report = await channel.send(_notification(f"n-{kind}"))
        finally:
            await channel.aclose()

        async def answered() -> bool:
            return bool(huge.sent)

        await eventually(answered, "the receiver noticing the hang-up")
        server.close()
    assert report.outcome == outcome, report.result
    if outcome == "retry":
        assert "answer too large" in report.result.detail
        assert SECRET not in report.result.detail
    [sent] = huge.sent
    # the client hung up after its 64 KiB (plus what socket buffers held): far from 100 MB
    assert sent < 32 * 1024 * 1024, sent
