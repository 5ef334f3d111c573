"""The simulator's control API under ``/_sim/`` (no auth; refused unless from loopback).

JSON in and out: ``GET /_sim/health``; ``GET|POST|DELETE /_sim/faults``,
``DELETE /_sim/faults/{id}``; ``GET /_sim/requests[?limit=N]``; ``POST
/_sim/reset`` (faults, log, rate limiter, clock offset and records back to the
start); ``GET /_sim/accounts``; ``GET|PUT /_sim/accounts/{name}/{collection}``;
``GET|PUT /_sim/clock`` (``{"offset_seconds": 600}``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from monitor.simulator.dataset import COLLECTIONS, SimAccount
from monitor.simulator.faults import Fault
from monitor.simulator.state import STATE
from monitor.text import json_text

__all__ = ["add_routes", "loopback_only"]

_LOOPBACK = ("127.", "::1", "::ffff:127.")


def _control_json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=json_text)


async def _read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body is not JSON: {exc}"}), content_type="application/json"
        ) from exc


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _health(request: web.Request) -> web.Response:
    del request
    return _control_json({"status": "ok"})


async def _faults_get(request: web.Request) -> web.Response:
    registry = request.app[STATE].faults
    return _control_json({"faults": [entry.as_dict() for entry in registry.list()]})


async def _faults_post(request: web.Request) -> web.Response:
    registry = request.app[STATE].faults
    data = await _read_json(request)
    specs = data.get("faults", data) if isinstance(data, dict) else data
    specs = specs if isinstance(specs, list) else [specs]
    try:
        parsed = [Fault.model_validate(spec) for spec in specs]
    except ValidationError as exc:
        raise _bad_request(str(exc)) from exc
    ids = [registry.add(fault) for fault in parsed]
    added = [entry.as_dict() for entry in registry.list() if entry.id in ids]
    return _control_json({"faults": added}, status=201)


async def _faults_delete(request: web.Request) -> web.Response:
    registry = request.app[STATE].faults
    fault_id = request.match_info.get("fault_id")
    if fault_id is None:
        return _control_json({"cleared": registry.clear()})
    if not registry.remove(int(fault_id)):
        raise web.HTTPNotFound(text=json.dumps({"error": "no such fault"}))
    return _control_json({"cleared": 1})


async def _requests_get(request: web.Request) -> web.Response:
    limit_text = request.query.get("limit")
    limit = int(limit_text) if limit_text and limit_text.isdigit() else None
    return _control_json(request.app[STATE].log.as_dict(limit))


async def _reset(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.faults.clear()
    state.log.clear()
    state.clock_offset = 0.0
    if state.limiter is not None:
        state.limiter.reset()
    state.dataset.restore(state.initial)
    return _control_json({"reset": True})


async def _accounts_get(request: web.Request) -> web.Response:
    accounts = [
        {
            "name": account.name,
            "appkey": account.appkey,
            "gateway": account.gateway,
            "records": {c: len(account.records(c)) for c in COLLECTIONS if c != "actions"},
        }
        for account in request.app[STATE].dataset.accounts
    ]
    return _control_json({"accounts": accounts})


def _account_collection(request: web.Request) -> tuple[SimAccount, str]:
    account = request.app[STATE].dataset.find(request.match_info["name"])
    if account is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "no such account"}))
    collection = request.match_info["collection"]
    if collection not in COLLECTIONS:
        raise _bad_request(f"unknown collection {collection!r}; one of {list(COLLECTIONS)}")
    return account, collection


async def _collection_get(request: web.Request) -> web.Response:
    account, collection = _account_collection(request)
    if collection == "actions":
        return _control_json(account.to_dict()["actions"])
    return _control_json(account.records(collection))


async def _collection_put(request: web.Request) -> web.Response:
    account, collection = _account_collection(request)
    data = await _read_json(request)
    now = datetime.fromtimestamp(request.app[STATE].now(), UTC)
    try:
        account.replace(collection, data, now=now)
    except ValueError as exc:
        raise _bad_request(str(exc)) from exc
    return _control_json({"account": account.name, "collection": collection})


async def _clock_get(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _control_json({"offset_seconds": state.clock_offset, "now": state.now()})


async def _clock_put(request: web.Request) -> web.Response:
    state = request.app[STATE]
    data = await _read_json(request)
    offset = data.get("offset_seconds") if isinstance(data, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int | float):
        raise _bad_request("expected {'offset_seconds': <number>}")
    state.clock_offset = float(offset)
    return _control_json({"offset_seconds": state.clock_offset, "now": state.now()})


@web.middleware
async def loopback_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith("/_sim/") and not (request.remote or "").startswith(_LOOPBACK):
        raise web.HTTPForbidden(text="the simulator's control API answers loopback only")
    return await handler(request)


def add_routes(app: web.Application) -> None:
    """Route ``/_sim/...`` to the control handlers (the app must hold a :data:`STATE`)."""
    app.router.add_get("/_sim/health", _health)
    app.router.add_get("/_sim/faults", _faults_get)
    app.router.add_post("/_sim/faults", _faults_post)
    app.router.add_delete("/_sim/faults", _faults_delete)
    app.router.add_delete(r"/_sim/faults/{fault_id:\d+}", _faults_delete)
    app.router.add_get("/_sim/requests", _requests_get)
    app.router.add_post("/_sim/reset", _reset)
    app.router.add_get("/_sim/accounts", _accounts_get)
    app.router.add_get("/_sim/accounts/{name}/{collection}", _collection_get)
    app.router.add_put("/_sim/accounts/{name}/{collection}", _collection_put)
    app.router.add_get("/_sim/clock", _clock_get)
    app.router.add_put("/_sim/clock", _clock_put)
