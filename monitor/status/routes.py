"""The status page's routes on the daemon's one aiohttp app: ``/``, ``/api/assets``,
``/api/alerts``.

Reading happens on the event loop (SQLite's thread); rendering and JSON
encoding of a big account go to a worker thread, so collection never stalls.
Everything sits on the same app as ``/metrics``, behind the same middleware.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC
from typing import Any

from aiohttp import web

from monitor.domain import Asset, Family
from monitor.forecast import forecast_json
from monitor.httpguard import Refusals
from monitor.status.api import alerts_json, assets_json
from monitor.status.gather import StatusReader, StatusSource
from monitor.status.page import parse_query, render_page, usage_shown
from monitor.status.view import forecast_advice
from monitor.text import json_text

__all__ = ["add_routes"]

_FAMILY_OF_KIND: dict[str, Family] = {"service": "services", "timbre": "timbres", "image": "images"}

#: the page has no script at all; forbid any, and anything not inline
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def _json(data: Any) -> str:
    # exact data; control/bidi/surrogate characters as \uXXXX (a lone surrogate
    # would not even encode as UTF-8)
    return json_text(data, indent=1)


def _json_response(body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=body,
        content_type="application/json",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )


def add_routes(
    app: web.Application,
    source: StatusSource,
    *,
    grafana_url: str | None = None,
    http: Refusals | None = None,
) -> None:
    reader = StatusReader(source, grafana_url=grafana_url, http=http)
    names = {a.name for a in source.accounts}

    async def index(request: web.Request) -> web.Response:
        query = parse_query(request.query)
        data = reader.read(usage_shown(query, names))
        status, page = await asyncio.to_thread(render_page, data, query)
        return web.Response(
            status=status, text=page, content_type="text/html", charset="utf-8", headers=_HEADERS
        )

    async def api_assets(request: web.Request) -> web.Response:
        account = request.query.get("account")
        if account is not None and account not in names:
            return _json_response(_json({"error": "unknown account"}), 404)
        now = reader.now()
        snap = source.store.current
        assets = [a for a in snap.assets(now) if account is None or a.account == account]

        def data(asset: Asset) -> str:
            return snap.families[(asset.account, _FAMILY_OF_KIND[asset.kind])].data

        forecasts = source.engine.forecasts
        alerts = source.engine.config
        zones = {a.name: a.zone for a in source.accounts}

        def forecast(asset: Asset) -> dict[str, Any] | None:
            fc = forecasts.get((asset.account, asset.id)) if asset.kind == "service" else None
            if fc is None:
                return None
            said = forecast_advice(
                asset,
                fc,
                alerts.language,
                zones.get(asset.account, UTC),
                now=now,
                unused_ratio=alerts.rules.unused_at_expiry.ratio,
            )
            return {**forecast_json(fc), "advice": list(said)}

        body = await asyncio.to_thread(lambda: _json(assets_json(assets, now, data, forecast)))
        return _json_response(body)

    async def api_alerts(request: web.Request) -> web.Response:
        account = request.query.get("account")
        if account is not None and account not in names:
            return _json_response(_json({"error": "unknown account"}), 404)
        status = request.query.get("status")
        try:
            found = reader.alerts(account)
        except sqlite3.Error:  # the store logs why (state.unavailable)
            return _json_response(_json({"error": "state store unavailable"}), 503)
        items = [x for x in found if status is None or x.alert.status == status]
        return _json_response(_json(alerts_json(items)))

    app.router.add_get("/", index)
    app.router.add_get("/api/assets", api_assets)
    app.router.add_get("/api/alerts", api_alerts)
