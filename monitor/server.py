"""The daemon's HTTP endpoints: ``/metrics``, ``/healthz``, ``/readyz`` and ``/``.

With a ``status`` source, ``/`` is the status page and ``/api/assets``,
``/api/alerts`` serve its data as JSON (see :mod:`monitor.status`).

A scrape renders the current snapshot (off the event loop, so a big one never
stalls collection) and never calls the gateway: in OpenMetrics 1.0.0 when the
scraper's ``Accept`` asks for it, else in the text format 0.0.4. A big plain body is
streamed in the pieces it is made of, and a gzip one is made of them: the per-asset
lines are kept deflated (:mod:`monitor.packed`), the rest deflated once while it
stays the same, so a scrape of a big fleet never holds a plain copy of it (~8.6 MB
at 10k assets). From its render to its last byte handed to the socket, a scrape is
served ahead of the collecting side (:mod:`monitor.precedence`, with ``precedence``).

The app is served from a thread of its own, with its own event loop
(:func:`start_server`): a scrape, ``/healthz`` and ``/readyz`` never wait for a
turn of the collecting loop, however many jobs it runs. Every other route (the
status page and its API read the state store, which is that loop's; a reload) is
handed to the collecting loop with a deadline.

What guards the endpoints against the network (connection bound, header
deadline, refusals counted and logged once a minute) is
:mod:`monitor.httpguard`'s; basic auth is :mod:`monitor.auth`'s.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import html
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE,
)

from monitor import __version__
from monitor.auth import BasicAuth
from monitor.config import HttpConfig
from monitor.httpguard import ConnectionGuard, Refusals, refused, server_log
from monitor.packed import Gzipper, Piece, batches, size_of, unpack
from monitor.precedence import Precedence
from monitor.snapshot import SnapshotStore
from monitor.status import StatusSource, add_routes
from monitor.text import printable

__all__ = ["MAIN_LOOP", "Serving", "create_app", "start_server"]

_GZIP_MIN_BYTES = 1024
_STREAM_MIN_BYTES = 256 * 1024  # below this, one plain response is simpler and as cheap
#: a streamed body is written in pieces of this size: the parts are thousands (a
#: family's lines of one account), and a write each is a send each; each send and each
#: call into zlib gives up the GIL, to get it back only when the others let go of it.
#: 1 MiB: ~9 at 10k assets; under load.py's collection, 1 MiB against 256 KiB took the
#: max of a plain scrape from ~190 to ~130 ms, for ~1 MiB more held while one is sent
_WRITE_BATCH_BYTES = 1024 * 1024
#: the daemon reads no request body: anything announcing more is refused (413)
MAX_BODY_BYTES = 64 * 1024
#: bounds on a request head (a line and a header: aiohttp's default; headers: fewer
#: than its 128, no client of ours sends more than a dozen): beyond, 400
_MAX_LINE_BYTES = 8190
_MAX_HEADERS = 100

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the loop that started the server (the collecting one), set by :func:`start_server`
MAIN_LOOP: Final = web.AppKey("main_loop", asyncio.AbstractEventLoop)
#: the routes answered on the server's own thread: they read the current snapshot
#: (one immutable reference) and thread-safe metrics only; every other route runs on
#: the loop that started the server (the state store is that thread's)
_OWN_THREAD_ROUTES: Final = frozenset({"/metrics", "/healthz", "/readyz"})


def _handover(own: frozenset[str]) -> Middleware:
    """Runs a request's handler on :data:`MAIN_LOOP` unless its route is in ``own``;
    answers 503 when that loop does not answer within
    :data:`MAIN_LOOP_DEADLINE_SECONDS` (or has ended)."""

    @web.middleware
    async def handover(request: web.Request, handler: _Handler) -> web.StreamResponse:
        main = request.app.get(MAIN_LOOP)
        resource = request.match_info.route.resource
        if (
            main is None
            or main is asyncio.get_running_loop()
            or request.match_info.http_exception is not None  # 404, 405: nothing to run
            or (resource is not None and resource.canonical in own)
        ):
            return await handler(request)
        try:
            handed = asyncio.run_coroutine_threadsafe(_run(handler, request), main)
        except RuntimeError:  # that loop has ended: the daemon is stopping
            return refused(503, "shutting down\n")
        answer: Awaitable[web.StreamResponse] = asyncio.wrap_future(handed)
        if request.method not in ("GET", "HEAD"):
            # a change (a reload) is carried through however long it takes: cut
            # midway it would leave its status half-written; only the answer is late
            answer = asyncio.shield(answer)
        try:
            return await asyncio.wait_for(answer, MAIN_LOOP_DEADLINE_SECONDS)
        except TimeoutError:  # a read is cancelled there too; a change runs on
            return refused(503, "busy, try again\n", retry_after=1)

    return handover


async def _run(handler: _Handler, request: web.Request) -> web.StreamResponse:
    return await handler(request)


def _limits(refusals: Refusals) -> Middleware:
    @web.middleware
    async def limits(request: web.Request, handler: _Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            refusals.refuse("too_large", request.remote, content_length=length)
            return refused(413, "request body too large\n")
        return await handler(request)

    return limits


def _metrics_handler(
    registry: CollectorRegistry, precedence: Precedence | None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``/metrics``: OpenMetrics when the scraper asks for it, else the text format
    0.0.4; gzipped when asked and worth it, streamed in parts when large; the
    background steps aside meanwhile (``precedence``)."""

    #: by content type: a scraper's bodies are made of the same pieces from one to the
    #: next, another format's are not (each keeps what it can reuse of the last body)
    gzippers: dict[str, Gzipper] = {}

    async def metrics(request: web.Request) -> web.StreamResponse:
        if precedence is None:
            return await serve(request)
        with precedence.serving():
            return await serve(request)

    def rendered(accept: str, gzipped: bool) -> tuple[list[Piece] | bytes, str]:
        """The body (its pieces; gzipped, one ``bytes``) and its content type: one trip
        off the server's loop for both (under contention, every trip between threads
        waits for the GIL)."""
        encoder, content_type = choose_encoder(accept)
        render = getattr(registry, "render_pieces", None) or getattr(registry, "render_parts", None)
        parts: list[Piece]
        if render is None:
            parts = [encoder(registry)]
        elif content_type.startswith("application/openmetrics-text"):
            # the scraper asked for OpenMetrics (Prometheus does, first, by default)
            parts = render("openmetrics")
            content_type = OPENMETRICS_CONTENT_TYPE
        else:
            # the text format 0.0.4, which every scraper reads, whatever version its
            # Accept named: the header says what the body is
            parts = render()
            content_type = CONTENT_TYPE_PLAIN_0_0_4
        if gzipped and sum(size_of(p) for p in parts) > _GZIP_MIN_BYTES:
            # a tenth of the size: the per-asset pieces are deflated already
            gzip = gzippers.get(content_type) or gzippers.setdefault(content_type, Gzipper())
            return gzip(parts), content_type
        return parts, content_type

    async def serve(request: web.Request) -> web.StreamResponse:
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
        body, content_type = await asyncio.to_thread(
            rendered, request.headers.get("Accept", ""), gzipped
        )
        headers = {"Content-Type": content_type}
        if isinstance(body, bytes):
            headers["Content-Encoding"] = "gzip"
            size = len(body)
        else:
            size = sum(size_of(p) for p in body)
            if size < _STREAM_MIN_BYTES and request.method != "HEAD":
                body = b"".join(unpack(p) for p in body)
        # written here, not after the handler returns: a scrape is served (the
        # background steps aside) until its last byte is handed to the socket
        response = web.StreamResponse(headers=headers)
        response.content_length = size
        await response.prepare(request)
        if request.method == "HEAD":  # the headers only
            pass
        elif isinstance(body, bytes):
            await response.write(body)
        else:
            # inflated batch by batch (one call into zlib each), the loop let go of
            # between them: at 10k assets the whole is ~8.6 MB and 10 ms of CPU, and a
            # write to a socket that keeps up never yields
            for batch in batches(body, _WRITE_BATCH_BYTES):
                await response.write(batch)
                await asyncio.sleep(0)
        await response.write_eof()
        return response

    return metrics


def create_app(
    registry: CollectorRegistry,
    store: SnapshotStore,
    *,
    alive: Callable[[], bool],
    status: StatusSource | None = None,
    grafana_url: str | None = None,
    refusals: Refusals | None = None,
    auth: BasicAuth | None = None,
    reload: Callable[[], Awaitable[tuple[bool, list[str]]]] | None = None,
    precedence: Precedence | None = None,
) -> web.Application:
    """The daemon's app; with ``auth``, every route but the probes behind basic auth.

    With ``reload``, ``POST /-/reload`` reloads the configuration (as Prometheus'
    lifecycle endpoint: 200 when applied, 500 with the first error when refused;
    any other method 405)."""
    refusals = refusals if refusals is not None else Refusals()

    metrics = _metrics_handler(registry, precedence)

    async def healthz(_: web.Request) -> web.Response:
        if alive():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="scheduler not running\n")

    async def readyz(_: web.Request) -> web.Response:
        snap = store.current
        pending = [f"{s.account}/{s.family}" for s in snap.states() if not s.attempted]
        if not pending:
            off = f"collectors off: {', '.join(snap.disabled)}\n" if snap.disabled else ""
            return web.Response(text="ready\n" + off)
        return web.Response(
            status=503, text="waiting for first collection of: " + ", ".join(pending) + "\n"
        )

    async def index(_: web.Request) -> web.Response:
        rows = "".join(
            f"<tr><td>{html.escape(s.account)}</td><td>{s.family}</td>"
            f"<td>{'ok' if s.success else ('pending' if not s.attempted else 'failing')}</td>"
            f"<td>{len(s.assets)}</td></tr>"
            for s in store.current.states()
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>ivh-monitor</title>"
            "</head><body><h1>ivh-monitor</h1>"
            f"<p>version {__version__}</p><ul>"
            "<li><a href='metrics'>/metrics</a></li>"
            "<li><a href='healthz'>/healthz</a></li>"
            "<li><a href='readyz'>/readyz</a></li></ul>"
            "<table border='1'><tr><th>account</th><th>family</th><th>status</th>"
            f"<th>assets</th></tr>{rows}</table></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def reload_config(_: web.Request) -> web.Response:
        assert reload is not None  # noqa: S101 - routed only with it
        applied, errors = await reload()
        if applied:
            return web.Response(text="configuration reloaded\n")
        more = f" (and {len(errors) - 1} more; see the log)" if len(errors) > 1 else ""
        first = printable(errors[0] if errors else "unknown error")
        return web.Response(status=500, text=f"failed to reload config: {first}{more}\n")

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_limits(refusals)])
    if auth is not None:
        app.middlewares.append(auth.middleware)
        app.on_cleanup.append(auth.close)
    own = _OWN_THREAD_ROUTES if status is not None else _OWN_THREAD_ROUTES | {"/"}
    app.middlewares.append(_handover(own))
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if reload is not None:
        app.router.add_post("/-/reload", reload_config)
    if status is not None:
        add_routes(app, status, grafana_url=grafana_url, http=refusals)
    else:
        app.router.add_get("/", index)
    return app


class Serving:
    """A listening daemon server on its own thread and event loop; :meth:`cleanup`
    stops it (and ends the thread)."""

    def __init__(self, thread: _ServerThread, port: int) -> None:
        self._thread = thread
        self.port = port

    @property
    def guard(self) -> ConnectionGuard:
        guard = self._thread.guard
        assert guard is not None  # set before the port is known  # noqa: S101
        return guard

    async def cleanup(self) -> None:
        """Stop listening, end the open connections (aiohttp's shutdown), end the thread."""
        await asyncio.to_thread(self._thread.stop)


async def start_server(
    app: web.Application,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    limits: HttpConfig | None = None,
    refusals: Refusals | None = None,
) -> tuple[Serving, int]:
    """Start serving (HTTPS with ``ssl_context``) within ``limits``; return the
    server and the bound port.

    The app is served from a thread of its own with its own event loop (as
    prometheus_client's ``start_http_server`` serves from a daemon thread): a
    scrape never waits for a turn of the collecting loop, however busy it is. The
    routes that need the calling loop's objects (the state store, a reload) are
    handed to it (:func:`on_main_loop`). A port that cannot be bound raises the
    ``OSError`` here, as before."""
    app[MAIN_LOOP] = asyncio.get_running_loop()
    thread = _ServerThread(
        app,
        host,
        port,
        ssl_context=ssl_context,
        limits=limits if limits is not None else HttpConfig(),
        refusals=refusals if refusals is not None else Refusals(),
    )
    thread.start()
    try:
        bound = await asyncio.wrap_future(thread.started)
    finally:
        started = thread.started
        if not started.done() or started.cancelled() or started.exception() is not None:
            await asyncio.to_thread(thread.stop)
    return Serving(thread, bound), bound


#: how long the server thread waits for the collecting loop to answer a request
#: handed to it (the status page, a reload) before it answers 503
MAIN_LOOP_DEADLINE_SECONDS: Final = 30.0
#: how long stopping waits for the server thread (aiohttp's own shutdown is bounded)
_STOP_JOIN_SECONDS: Final = 90.0


class _ServerThread:
    """The HTTP server's thread: its loop serves the app until :meth:`stop`."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        limits: HttpConfig,
        refusals: Refusals,
    ) -> None:
        # a daemon thread, as a safety net only: stop() ends it on every orderly path
        self._thread = threading.Thread(target=self._run, name="ivh-http", daemon=True)
        self._app = app
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._limits = limits
        self._refusals = refusals
        #: the bound port, or why it could not be bound
        self.started: concurrent.futures.Future[int] = concurrent.futures.Future()
        self.guard: ConnectionGuard | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()  # the loop and its stop event exist

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to the starting loop
            if not self.started.done():
                self.started.set_exception(exc)
            else:
                raise
        finally:
            self._ready.set()

    def stop(self) -> None:
        """End serving (from any other thread) and wait for the thread."""
        self._ready.wait(_STOP_JOIN_SECONDS)
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(_STOP_JOIN_SECONDS)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = stop = asyncio.Event()
        self._ready.set()
        limits = self._limits
        runner = web.AppRunner(
            self._app,
            access_log=None,
            handle_signals=False,
            # idle keep-alive connections; a request head's deadline is the guard's
            keepalive_timeout=limits.idle_timeout_seconds,
            max_line_size=_MAX_LINE_BYTES,
            max_field_size=_MAX_LINE_BYTES,
            max_headers=_MAX_HEADERS,
            lingering_time=min(limits.header_timeout_seconds, 2.0),
            logger=server_log(self._refusals),
        )
        await runner.setup()
        protocol = runner.server
        assert protocol is not None  # set up just above  # noqa: S101
        self.guard = ConnectionGuard(
            protocol,
            self._refusals,
            max_connections=limits.max_connections,
            header_timeout_seconds=limits.header_timeout_seconds,
        )
        try:
            server = await self._loop.create_server(
                self.guard,
                self._host or None,
                self._port,
                ssl=self._ssl,
                ssl_handshake_timeout=limits.header_timeout_seconds if self._ssl else None,
                reuse_address=True,
            )
        except OSError as exc:
            await runner.cleanup()
            if self.started.set_running_or_notify_cancel():
                self.started.set_exception(exc)
            return
        # the start may have been cancelled meanwhile: then nobody serves this port
        if self.started.set_running_or_notify_cancel():
            self.started.set_result(int(server.sockets[0].getsockname()[1]))
            await stop.wait()
        server.close()  # no new connections; then aiohttp ends the open ones
        await runner.cleanup()
        await server.wait_closed()
