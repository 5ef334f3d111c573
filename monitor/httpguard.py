"""What stands between the network and the daemon's HTTP handlers.

aiohttp bounds the size of a request's line and headers, but it has no deadline
for them and no bound on connections: a client sending a byte a second would
hold a connection (and a file descriptor) for good, and three hundred of them
would hold the daemon. Each connection is therefore wrapped, under the aiohttp
protocol, in a :class:`_GuardedConnection` that

- refuses a connection beyond ``http.max_connections`` at once (a short 503,
  then close), so the daemon's descriptors and memory stay bounded;
- closes a connection whose request line and headers have not all arrived
  within ``http.header_timeout_seconds`` of its first byte (or of the
  connection's opening). The daemon serves only ``GET`` routes and reads no
  body, so every byte it is sent belongs to a request head; idle keep-alive
  connections are aiohttp's (``http.idle_timeout_seconds``).

Every refusal is counted (``ivh_http_requests_refused_total{reason}``) and
logged as ``http.refused`` at most once a minute per reason, with the number of
refusals the window swallowed: a flood of bad clients costs a line a minute,
never a traceback per request (aiohttp logs a malformed or oversized request as
an error with its traceback; :class:`_ServerLog` turns that into a refusal).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = [
    "REFUSAL_REASONS",
    "ConnectionGuard",
    "HttpMetrics",
    "RefusalReason",
    "Refusals",
    "refused",
    "server_log",
]

log = structlog.get_logger("monitor.http")

RefusalReason = Literal[
    "auth_throttled",
    "auth_busy",
    "header_timeout",
    "too_large",
    "bad_request",
    "too_many_connections",
]
REFUSAL_REASONS: Final[tuple[RefusalReason, ...]] = get_args(RefusalReason)
AUTH_FAILURE_REASONS: Final = ("invalid", "malformed")
#: one warning line per reason per this many seconds
WARN_WINDOW_SECONDS: Final = 60.0

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 21\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    b"too many connections\n"
)


class HttpMetrics:
    """The HTTP endpoints' own counters, on the daemon's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "ivh_http_requests_refused",
            "Requests and connections refused before any handler ran, by reason:"
            " auth_throttled (too many failed logins from the address), auth_busy (password"
            " checks queue full), header_timeout, too_large (headers or body), bad_request"
            " (not HTTP), too_many_connections.",
            ["reason"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "ivh_http_auth_failures",
            "Failed basic-auth attempts: invalid (wrong user or password) or malformed"
            " (not Basic, not base64).",
            ["reason"],
            registry=registry,
        )
        self.hash_checks = Counter(
            "ivh_http_auth_hash_checks",
            "bcrypt comparisons performed (credentials not in the cache of good ones; an"
            " unknown user costs one too, against a dummy hash).",
            registry=registry,
        )
        self.checks_in_flight = Gauge(
            "ivh_http_auth_checks_in_flight",
            "Password checks queued or running in the bcrypt pool.",
            registry=registry,
        )
        self.connections = Gauge(
            "ivh_http_connections", "Open HTTP connections.", registry=registry
        )
        for reason in REFUSAL_REASONS:
            self.refused.labels(reason)
        for why in AUTH_FAILURE_REASONS:
            self.auth_failures.labels(why)


class _Window:
    """At most one line per ``seconds``; counts what it swallowed in between."""

    __slots__ = ("last", "suppressed")

    def __init__(self) -> None:
        self.last = -float("inf")
        self.suppressed = 0


class Refusals:
    """Counts refusals and failed logins; logs each kind at most once a window.

    Called on the HTTP server's thread only (its loop: :func:`monitor.server.start_server`);
    the status page reads the counts.
    """

    def __init__(
        self,
        metrics: HttpMetrics | None = None,
        *,
        window_seconds: float = WARN_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self._window_seconds = window_seconds
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        #: since start, for the status page
        self.counts: dict[str, int] = dict.fromkeys(REFUSAL_REASONS, 0)
        self.auth_failures = 0
        self.last_at: datetime | None = None

    def refuse(self, reason: RefusalReason, client: str | None, **fields: Any) -> None:
        self.counts[reason] += 1
        self.last_at = datetime.now(UTC)
        if self.metrics is not None:
            self.metrics.refused.labels(reason).inc()
        self._warn("http.refused", reason, client, fields)

    def auth_failed(self, reason: Literal["invalid", "malformed"], client: str | None) -> None:
        self.auth_failures += 1
        if self.metrics is not None:
            self.metrics.auth_failures.labels(reason).inc()
        self._warn("http.auth_failed", reason, client, {})

    def _warn(self, event: str, reason: str, client: str | None, fields: Mapping[str, Any]) -> None:
        window = self._windows.setdefault((event, reason), _Window())  # bounded: a few kinds
        now = self._clock()
        if now - window.last < self._window_seconds:
            window.suppressed += 1
            return
        log.warning(
            event,
            reason=reason,
            client=client,
            suppressed=window.suppressed,
            window_s=self._window_seconds,
            **fields,
        )
        window.last = now
        window.suppressed = 0


class _ServerLog(logging.Logger):
    """The logger aiohttp's request handlers are given (its ``logger`` option).

    aiohttp logs a request it cannot parse (oversized headers, garbage, TLS on
    the plain port) with ``logger.exception``: any client could fill the log
    with tracebacks. Those become refusals; anything else (a bug in a handler)
    goes on to the ``aiohttp.server`` logger, traceback and all.
    """

    def __init__(self, refusals: Refusals) -> None:
        super().__init__("aiohttp.server")
        self._refusals = refusals
        self._upstream = logging.getLogger("aiohttp.server")

    def handle(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            client = record.args[0] if isinstance(record.args, tuple) and record.args else None
            reason: RefusalReason = "too_large" if isinstance(exc, LineTooLong) else "bad_request"
            self._refusals.refuse(reason, str(client) if client is not None else None)
            return
        if self._upstream.isEnabledFor(record.levelno):
            self._upstream.handle(record)


def server_log(refusals: Refusals) -> logging.Logger:
    return _ServerLog(refusals)


def _peer(transport: asyncio.BaseTransport) -> str | None:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None


def _head_end(window: bytes) -> int:
    """Just past the last end of a request head in ``window``, or -1."""
    crlf = window.rfind(b"\r\n\r\n")
    lf = window.rfind(b"\n\n")
    return max(crlf + 4 if crlf >= 0 else -1, lf + 2 if lf >= 0 else -1)


class ConnectionGuard:
    """A protocol factory for ``loop.create_server``, wrapping aiohttp's."""

    def __init__(
        self,
        inner: Callable[[], asyncio.Protocol],
        refusals: Refusals,
        *,
        max_connections: int,
        header_timeout_seconds: float,
    ) -> None:
        self.inner = inner
        self.refusals = refusals
        self.max_connections = max_connections
        self.header_timeout_seconds = header_timeout_seconds
        self.open = 0

    def __call__(self) -> asyncio.Protocol:
        return _GuardedConnection(self)

    def opened(self) -> None:
        self.open += 1
        if self.refusals.metrics is not None:
            self.refusals.metrics.connections.set(self.open)

    def closed(self) -> None:
        self.open -= 1
        if self.refusals.metrics is not None:
            self.refusals.metrics.connections.set(self.open)


class _GuardedConnection(asyncio.Protocol):
    """One connection: counted, its request heads under a deadline; the rest is
    aiohttp's protocol, to which every call is passed on."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a stream server's  # noqa: S101
        guard = self._guard
        if guard.open >= guard.max_connections:
            guard.refusals.refuse(
                "too_many_connections", _peer(transport), limit=guard.max_connections
            )
            transport.write(_BUSY)
            transport.close()
            return
        guard.opened()
        self._transport = transport
        self._arm()
        self._inner = guard.inner()
        self._inner.connection_made(transport)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.header_timeout_seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._guard.refusals.refuse(
            "header_timeout", _peer(transport), timeout_s=self._guard.header_timeout_seconds
        )
        transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._timer is None and data:
            self._arm()  # the first byte of the next request's head
        window = self._tail + data
        end = _head_end(window)
        if end == len(window):
            self._disarm()  # every head complete: the handler has it
        elif end >= 0:
            self._arm()  # a head complete, and the next one begun (pipelining)
        self._tail = window[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._inner is None:
            return
        self._guard.closed()
        inner, self._inner, self._transport = self._inner, None, None
        inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


def refused(status: int, text: str, *, retry_after: float | None = None) -> web.Response:
    """A short plain answer for a refused request."""
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else {}
    return web.Response(status=status, text=text, headers=headers)
