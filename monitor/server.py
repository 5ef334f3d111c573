"""The daemon's HTTP endpoints: ``/metrics``, ``/healthz``, ``/readyz`` and ``/``.

With a ``status`` source, ``/`` is the status page and ``/api/assets``,
``/api/alerts`` serve its data as JSON (see :mod:`monitor.status`).

A scrape renders the current snapshot (off the event loop, so a big one never
stalls collection) and never calls the gateway. A big plain body is
streamed in the pieces it is made of, and a gzip one is compressed from them,
so a scrape of a big fleet never holds a second copy of it (~5 MB at 10k
assets).
"""

from __future__ import annotations

import asyncio
import html
import ssl
import zlib
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor import __version__
from monitor.snapshot import SnapshotStore
from monitor.status import StatusSource, add_routes

__all__ = ["create_app", "start_server"]

_GZIP_MIN_BYTES = 1024
_STREAM_MIN_BYTES = 256 * 1024  # below this, one plain response is simpler and as cheap


def create_app(
    registry: CollectorRegistry,
    store: SnapshotStore,
    *,
    alive: Callable[[], bool],
    status: StatusSource | None = None,
    grafana_url: str | None = None,
) -> web.Application:
    async def metrics(request: web.Request) -> web.StreamResponse:
        render = getattr(registry, "render_parts", None)
        if render is not None:
            # always the text format 0.0.4, which every Prometheus accepts: it is what
            # the cached exposition is made of
            parts: list[bytes] = await asyncio.to_thread(render)
            content_type = CONTENT_TYPE_LATEST
        else:
            encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
            parts = [await asyncio.to_thread(encoder, registry)]
        headers = {"Content-Type": content_type}
        size = sum(len(p) for p in parts)
        if "gzip" in request.headers.get("Accept-Encoding", "") and size > _GZIP_MIN_BYTES:
            # a tenth of the size: compressed whole, off the loop, sent in one piece
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=await asyncio.to_thread(_gzip, parts), headers=headers)
        if size < _STREAM_MIN_BYTES or request.method == "HEAD":  # HEAD: headers only
            return web.Response(body=b"".join(parts), headers=headers)
        response = web.StreamResponse(headers=headers)
        response.content_length = size
        await response.prepare(request)
        for part in parts:
            await response.write(part)
        await response.write_eof()
        return response

    async def healthz(_: web.Request) -> web.Response:
        if alive():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="scheduler not running\n")

    async def readyz(_: web.Request) -> web.Response:
        pending = [f"{s.account}/{s.family}" for s in store.current.states() if not s.attempted]
        if not pending:
            return web.Response(text="ready\n")
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

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if status is not None:
        add_routes(app, status, grafana_url=grafana_url)
    else:
        app.router.add_get("/", index)
    return app


def _gzip(parts: list[bytes]) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    packed = [packer.compress(part) for part in parts]
    packed.append(packer.flush())
    return b"".join(packed)


async def start_server(
    app: web.Application, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Start serving (HTTPS with ``ssl_context``); return the runner and the bound port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner, int(runner.addresses[0][1])
