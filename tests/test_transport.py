"""The client's HTTP transport (httpx's API over aiohttp) over real loopback HTTP: the
deadline, the body cap, TLS, environment proxies, the Date header and a dropped
connection, each against a local peer that misbehaves in one way."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
import trustme
from aiohttp import web
from pydantic import SecretStr

from monitor.client import IVHClient, shared_clients
from monitor.config import Account, ClientConfig
from monitor.errors import DeadlineError, ParseError, TransportError

_MIB = 1024 * 1024
_OK = json.dumps({"Header": {"Code": 0}, "Payload": {"Total": 0, "TimbreAssets": []}}).encode()
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def _peer(
    handler: Handler, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, list[web.BaseRequest]]]:
    seen: list[web.BaseRequest] = []

    async def record(request: web.BaseRequest) -> web.StreamResponse:
        seen.append(request)
        return await handler(request)

    server = web.Server(record)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def _client(url: str, *, ssl_context: ssl.SSLContext | None = None, **config: object) -> IVHClient:
    account = Account(
        name="t1",
        appkey="ak-t1",
        access_token=SecretStr("at-t1"),
        base_url=url,
        zone=ZoneInfo("Asia/Shanghai"),
        labels={},
    )
    settings = ClientConfig.model_validate({"retries": 0, "rate_limit_per_second": 1000, **config})
    return IVHClient(account, settings, ssl_context=ssl_context)


async def test_the_deadline_cuts_a_dripping_answer_over_real_http() -> None:
    async def drip(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(50):
            await response.write(b" ")
            await asyncio.sleep(0.1)
        return response

    async with _peer(drip) as (url, _):
        client = _client(url, timeout_seconds=0.5)
        async with client:
            with pytest.raises(DeadlineError, match=r"within 0\.5 s"):
                await client.timbres()


async def test_an_endless_body_is_refused_at_32_mib_over_real_http() -> None:
    sent = [0]

    async def endless(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * (256 * 1024)
        for _ in range(400):  # 100 MiB at most
            sent[0] += len(chunk)
            await response.write(chunk)
        return response

    async with _peer(endless) as (url, _), _client(url, timeout_seconds=30) as client:
        with pytest.raises(ParseError, match="larger than 32 MiB"):
            await client.timbres()
    assert sent[0] < 100 * _MIB  # reading stopped, the peer was not read to its end


async def test_a_gzip_bomb_is_refused_over_real_http() -> None:
    bomb = gzip.compress(
        b'{"Header": {"Code": 0}, "Payload": {"Total": 1, "X": "' + b"0" * (40 * _MIB)
    )

    async def packed(_: web.BaseRequest) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    async with _peer(packed) as (url, _), _client(url, timeout_seconds=30) as client:
        with pytest.raises(ParseError, match="larger than 32 MiB"):
            await client.timbres()


async def test_a_gzipped_answer_is_decoded_by_the_client() -> None:
    async def packed(request: web.BaseRequest) -> web.Response:
        assert "gzip" in request.headers["Accept-Encoding"]
        return web.Response(body=gzip.compress(_OK), headers={"Content-Encoding": "gzip"})

    async with _peer(packed) as (url, _), _client(url) as client:
        listing = await client.timbres()
    assert listing.records == []


async def test_the_date_header_gives_the_clock_skew() -> None:
    async def late(_: web.BaseRequest) -> web.Response:
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        return web.Response(body=_OK, headers={"Date": format_datetime(an_hour_ago, usegmt=True)})

    async with _peer(late) as (url, _), _client(url) as client:
        await client.timbres()
    assert client.clock_skew_seconds is not None
    assert 3590 < client.clock_skew_seconds < 3610


async def test_a_connection_dropped_mid_answer_is_a_transport_error() -> None:
    async def drop(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b'{"Header": ')
        assert request.transport is not None
        request.transport.close()
        return response

    async with _peer(drop) as (url, _), _client(url) as client:
        with pytest.raises(TransportError):
            await client.timbres()


async def test_tls_verifies_against_the_context_it_is_given() -> None:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)

    async def ok(_: web.BaseRequest) -> web.Response:
        return web.Response(body=_OK)

    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with _peer(ok, tls=server) as (url, seen):
        async with _client(url, ssl_context=trusting) as client:
            assert (await client.timbres()).records == []
        async with _client(url) as untrusting:  # the system's CAs: not ours
            with pytest.raises(TransportError):
                await untrusting.timbres()
    assert len(seen) == 1


async def test_an_environment_proxy_is_used_as_httpx_resolves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTP_PROXY sends a plain-http call through the proxy (absolute-form target)."""

    async def proxy(request: web.BaseRequest) -> web.Response:
        return web.Response(body=_OK)

    async with _peer(proxy) as (proxy_url, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        # port 9 of loopback answers nothing: only through the proxy can the call succeed
        async with _client("http://127.0.0.1:9") as client:
            assert (await client.timbres()).records == []
    assert len(seen) == 1
    assert seen[0].headers["Host"] == "127.0.0.1:9"  # meant for the gateway, not the proxy
    assert "signature=" in seen[0].query_string


async def test_the_request_on_the_wire_is_the_one_httpx_builds() -> None:
    """The shipped client sends straight to aiohttp; what reaches the gateway (method,
    target with the signed query as signed, headers, body) is what httpx's own
    transport sends for the same call, a path under the base URL included."""
    wire: list[tuple[str, str, dict[str, str], bytes]] = []

    async def answer(request: web.BaseRequest) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        wire.append((request.method, request.raw_path, headers, await request.read()))
        return web.Response(body=_OK)

    frozen = 1_700_000_000.0  # one signing time for both calls: one signature
    async with _peer(answer) as (url, _):
        account = Account(
            name="t1",
            appkey="ak/t1+",  # percent-encoded on the wire, never twice
            access_token=SecretStr("at-t1"),
            base_url=f"{url}/gateway",
            zone=ZoneInfo("Asia/Shanghai"),
            labels={},
        )
        config = ClientConfig.model_validate({"retries": 0, "rate_limit_per_second": 1000})
        async with IVHClient(account, config, clock=lambda: frozen) as shipped:
            await shipped.timbres()
        async with IVHClient(
            account, config, clock=lambda: frozen, transport=httpx.AsyncHTTPTransport()
        ) as plain:
            await plain.timbres()
    (method, target, headers, body), expected = wire
    assert (method, target, body) == (expected[0], expected[1], expected[3])
    assert target.startswith("/gateway/")
    assert "appkey=ak%2Ft1%2B&" in target
    assert headers == expected[2]


async def test_the_accounts_shared_context_verifies_against_the_system_cas() -> None:
    """``shared_clients`` (as the daemon builds its clients) shares aiohttp's default
    verified context: a peer whose CA is not among the system's is refused, by every
    account's client; trusting that CA in a context given to a client lets it through."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)

    async def ok(_: web.BaseRequest) -> web.Response:
        return web.Response(body=_OK)

    async with _peer(ok, tls=server) as (url, seen):
        accounts = [
            Account(
                name=f"t{i}",
                appkey=f"ak-{i}",
                access_token=SecretStr("at"),
                base_url=url,
                zone=ZoneInfo("Asia/Shanghai"),
                labels={},
            )
            for i in range(2)
        ]
        clients = shared_clients(accounts, ClientConfig.model_validate({"retries": 0}))
        try:
            for client in clients.values():
                with pytest.raises(TransportError):
                    await client.timbres()
        finally:
            await asyncio.gather(*(c.aclose() for c in clients.values()))
        trusting = ssl.create_default_context()
        ca.configure_trust(trusting)
        async with _client(url, ssl_context=trusting) as client:
            assert (await client.timbres()).records == []
    assert len(seen) == 1


async def test_a_failed_certificate_check_says_so_not_timed_out() -> None:
    """The operator reads what failed: a peer whose certificate does not verify is a
    certificate failure in the error, not a timeout (the transport library maps every
    connection error to a connect timeout)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)

    async def ok(_: web.BaseRequest) -> web.Response:
        return web.Response(body=_OK)

    async with _peer(ok, tls=server) as (url, _), _client(url) as client:
        with pytest.raises(TransportError) as caught:
            await client.timbres()
    message = str(caught.value)
    assert "certificate verify failed" in message.lower()
    assert "timed out" not in message


async def test_a_refused_connection_says_so_not_timed_out() -> None:
    async def ok(_: web.BaseRequest) -> web.Response:
        return web.Response(body=_OK)

    async with _peer(ok) as (url, _):
        pass  # the port is closed again: nothing listens there now
    async with _client(url) as client:
        with pytest.raises(TransportError) as caught:
            await client.timbres()
    message = str(caught.value)
    assert "Cannot connect" in message
    assert "timed out" not in message
