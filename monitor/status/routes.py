"""The status page's routes on the daemon's one aiohttp app: ``/``, ``/api/assets``,
``/api/alerts``, ``/api/groups``.

Each takes ``?label=name:value`` (repeatable: all must hold) to show one
tenant's accounts, and ``/`` and ``/api/groups`` take ``?group_by=label`` for
totals per group; a malformed one is answered 400 with one line
(:mod:`monitor.status.tenants`).

Reading happens on the event loop (SQLite's thread); rendering and JSON
encoding of a big account go to a worker thread, so collection never stalls.
Everything sits on the same app as ``/metrics``, behind the same middleware.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from monitor.domain import Asset, Family
from monitor.forecast import forecast_json
from monitor.httpguard import Refusals
from monitor.status.api import alerts_json, assets_json
from monitor.status.gather import StatusReader, StatusSource
from monitor.status.page import parse_query, render_page, usage_shown
from monitor.status.tenants import (
    LabelFilter,
    group_record,
    group_totals,
    parse_group_by,
    parse_label_filter,
    selected,
)
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


def _tenant_query(request: web.Request) -> tuple[LabelFilter, str | None]:
    """``?label=`` and ``?group_by=``; raises ``ValueError`` (one line) when bad."""
    return (
        parse_label_filter(request.query.getall("label", [])),
        parse_group_by(request.query.get("group_by")),
    )


def _forecast_of(source: StatusSource, now: datetime) -> Callable[[Asset], dict[str, Any] | None]:
    """An hour package's forecast in ``/api/assets``, with the advice the page shows."""
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

    return forecast


def add_routes(
    app: web.Application,
    source: StatusSource,
    *,
    grafana_url: str | None = None,
    http: Refusals | None = None,
) -> None:
    reader = StatusReader(source, grafana_url=grafana_url, http=http)

    def chosen(wanted: LabelFilter) -> set[str]:
        """The accounts the filter keeps (all without one)."""
        labels = reader.labels()
        return {n for n, lbls in labels.items() if selected(lbls, wanted)}

    async def index(request: web.Request) -> web.Response:
        try:
            wanted, group_by = _tenant_query(request)
        except ValueError as exc:
            return web.Response(status=400, text=f"{exc}\n", headers=_HEADERS)
        query = parse_query(request.query)
        keep = chosen(wanted)
        data = reader.read(usage_shown(query, keep), only=lambda a: a.name in keep)
        data = replace(
            data,
            label_filter=wanted,
            group_by=group_by,
            groups=group_totals(data.accounts, group_by, data.now) if group_by else (),
        )
        status, page = await asyncio.to_thread(render_page, data, query)
        return web.Response(
            status=status, text=page, content_type="text/html", charset="utf-8", headers=_HEADERS
        )

    async def api_assets(request: web.Request) -> web.Response:
        try:
            wanted, _ = _tenant_query(request)
        except ValueError as exc:
            return _json_response(_json({"error": str(exc)}), 400)
        account = request.query.get("account")
        if account is not None and account not in reader.names():
            return _json_response(_json({"error": "unknown account"}), 404)
        keep = chosen(wanted)
        now = reader.now()
        snap = source.store.current
        assets = [
            a
            for a in snap.assets(now)
            if (account is None or a.account == account) and a.account in keep
        ]

        def data(asset: Asset) -> str:
            return snap.families[(asset.account, _FAMILY_OF_KIND[asset.kind])].data

        forecast = _forecast_of(source, now)

        body = await asyncio.to_thread(lambda: _json(assets_json(assets, now, data, forecast)))
        return _json_response(body)

    async def api_alerts(request: web.Request) -> web.Response:
        try:
            wanted, _ = _tenant_query(request)
        except ValueError as exc:
            return _json_response(_json({"error": str(exc)}), 400)
        account = request.query.get("account")
        if account is not None and account not in reader.names():
            return _json_response(_json({"error": "unknown account"}), 404)
        status = request.query.get("status")
        try:
            found = reader.alerts(account)
        except sqlite3.Error:  # the store logs why (state.unavailable)
            return _json_response(_json({"error": "state store unavailable"}), 503)
        # a removed account's resolved alerts stay listed, but no filter selects them
        keep = chosen(wanted) if wanted else None
        items = [
            x
            for x in found
            if (status is None or x.alert.status == status)
            and (keep is None or x.alert.account in keep)
        ]
        return _json_response(_json(alerts_json(items)))

    async def api_groups(request: web.Request) -> web.Response:
        try:
            wanted, group_by = _tenant_query(request)
        except ValueError as exc:
            return _json_response(_json({"error": str(exc)}), 400)
        if group_by is None:
            return _json_response(_json({"error": "group_by: required, a label name"}), 400)
        keep = chosen(wanted)
        data = reader.read(set(), only=lambda a: a.name in keep)
        groups = group_totals(data.accounts, group_by, data.now)
        return _json_response(
            _json({"group_by": group_by, "groups": [group_record(g) for g in groups]})
        )

    app.router.add_get("/", index)
    app.router.add_get("/api/assets", api_assets)
    app.router.add_get("/api/alerts", api_alerts)
    app.router.add_get("/api/groups", api_groups)
