"""The vendor API of the simulated gateway: the six endpoints (docs/ivh-api.md §4).

``POST /v2/ivh/crmserver/customerassetservice/<endpoint>`` and the
``customerassetsservice`` spelling (§4 "Path spelling"; which ones answer is
:func:`monitor.simulator.server.create_app`'s ``spellings``). A request is
checked as :mod:`monitor.simulator.validate` says (auth, envelope, paging),
answered from the dataset in the vendor's envelope, and bent by the faults it
matches (:mod:`monitor.simulator.faults`).

- **Filters (§4).** Exact matches, empty values ignored, except ``TimbreName``
  (substring). ``VirtualmanTypeCode`` (getanchor, getimagebyanchor) and
  ``VirtualmanKey`` (getaction) are required: 100001 when missing. An unknown
  type code gives an empty page; an unknown key no actions. ``Total`` on every
  page.
- **Rate limit.** Optional per-appkey token bucket; over it: 100012
  ``RequestLimitExceeded`` with HTTP 200.
- Every response carries an HTTP ``Date`` from the simulator's clock (set by
  the application), so a client can measure its skew.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web

from monitor.simulator.dataset import INTERNATIONAL_GATEWAY, SimAccount
from monitor.simulator.faults import TERMINAL_KINDS, Fault, bent_page, corrupt
from monitor.simulator.records import Record
from monitor.simulator.state import STATE, RequestRecord, SimState
from monitor.simulator.validate import (
    INTERNAL,
    RATE_LIMITED,
    ApiError,
    authenticate,
    opt_str,
    opt_str_list,
    paging,
    parse_query,
    payload_of,
    peek_paging,
    req_str,
)
from monitor.text import json_text

__all__ = ["handle"]

log = structlog.get_logger(__name__)

#: the fields of a request's RequestRecord that its ``sim.request`` debug event carries
_LOGGED = ("endpoint", "account", "page_index", "outcome", "status", "code", "faults")

_GARBAGE_PAGE = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>系统繁忙</title></head>'
    "<body><h1>系统繁忙，请稍后再试</h1><p>Service temporarily unavailable.</p>"
    "<hr><center>stgw</center></body></html>\n"
)


# --------------------------------------------------------------------------- listings


Predicate = Callable[[Record], bool]


def _in(value: Any, allowed: list[str]) -> bool:
    return not allowed or value in allowed


def _services_filter(payload: Mapping[str, Any]) -> Predicate:
    service_type = opt_str(payload, "ServiceType")
    return lambda r: not service_type or r.get("ServiceType") == service_type


def _timbres_filter(payload: Mapping[str, Any]) -> Predicate:
    key = opt_str(payload, "TimbreKey")
    name = opt_str(payload, "TimbreName")
    purchase = opt_str(payload, "PurchaseType")
    keys = opt_str_list(payload, "TimbreKeyList")

    def predicate(r: Record) -> bool:
        return (
            (not key or r.get("TimbreKey") == key)
            and (not name or name in str(r.get("TimbreName", "")))
            and (not purchase or r.get("PurchaseType") == purchase)
            and _in(r.get("TimbreKey"), keys)
        )

    return predicate


def _anchors_filter(payload: Mapping[str, Any]) -> Predicate:
    type_code = req_str(payload, "VirtualmanTypeCode")
    codes = opt_str_list(payload, "AnchorCodes")
    purchase = opt_str(payload, "PurchaseType")
    return lambda r: (
        r.get("VirtualmanTypeCode") == type_code
        and _in(r.get("AnchorCode"), codes)
        and (not purchase or r.get("PurchaseType") == purchase)
    )


def _images_filter(payload: Mapping[str, Any]) -> Predicate:
    by_anchor = _anchors_filter(payload)
    key = opt_str(payload, "VirtualmanKey")
    return lambda r: by_anchor(r) and (not key or r.get("VirtualmanKey") == key)


def _small_sample_filter(payload: Mapping[str, Any]) -> Predicate:
    codes = opt_str_list(payload, "AnchorCodes")
    key = opt_str(payload, "VirtualmanKey")
    return lambda r: _in(r.get("AnchorCode"), codes) and (not key or r.get("VirtualmanKey") == key)


# endpoint -> (collection, list field of the Payload, filter builder)
_LISTS: dict[str, tuple[str, str, Callable[[Mapping[str, Any]], Predicate]]] = {
    "getserviceasset": ("services", "ServiceAssetInfos", _services_filter),
    "describetimbre": ("timbres", "TimbreAssets", _timbres_filter),
    "getanchor": ("anchors", "Virtualmans", _anchors_filter),
    "getimagebyanchor": ("images", "Virtualmans", _images_filter),
    "describesmallsampleimage": ("small_sample_images", "Virtualmans", _small_sample_filter),
}


def _serve_endpoint(
    endpoint: str, account: SimAccount, payload: Mapping[str, Any], faults: Sequence[Fault] = ()
) -> tuple[dict[str, Any], list[Any]]:
    """The Payload of a successful answer and the list of records it carries."""
    if endpoint == "getaction":
        actions: list[Any] = account.actions_for(req_str(payload, "VirtualmanKey"))
        return {"Actions": actions}, actions
    collection, list_key, make_filter = _LISTS[endpoint]
    predicate = make_filter(payload)  # validates filters before paging, like the gateway
    index, size = paging(payload)
    total, page = bent_page(account, collection, predicate, index=index, size=size, faults=faults)
    if any(f.kind == "no_total" for f in faults):
        return {list_key: page}, page
    return {list_key: page, "Total": total}, page


# --------------------------------------------------------------------------- answers


def _session_id(account: SimAccount | None, now: float) -> str:
    # Shaped like the vendor's: region prefix, 8 hex, epoch ms, 4 digits.
    region = "sg" if account is not None and account.gateway == INTERNATIONAL_GATEWAY else "gz"
    return f"{region}{uuid.uuid4().hex[:8]}{int(now * 1000)}{random.randint(0, 9999):04d}"


def _envelope(
    request_id: str, session_id: str, code: int, message: str, payload: Mapping[str, Any]
) -> bytes:
    body = {
        "Header": {
            "RequestID": request_id,
            "SessionID": session_id,
            "DialogID": "",
            "Code": code,
            "Message": message,
        },
        "Payload": payload,
    }
    # json_text: a lone surrogate in a dataset name goes out as "\\ud800", as JSON allows
    return json_text(body).encode("utf-8")


def _json(body: bytes, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=body, status=status, content_type=content_type, charset="utf-8")


def _html_error(status: int) -> web.Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    page = (
        f"<html>\n<head><title>{status} {phrase}</title></head>\n<body>\n"
        f"<center><h1>{status} {phrase}</h1></center>\n<hr><center>stgw</center>\n"
        "</body>\n</html>\n"
    )
    return web.Response(text=page, status=status, content_type="text/html")


@dataclass
class _Call:
    """What one API request has become so far; turned into a RequestRecord at the end."""

    endpoint: str
    path: str
    appkey: str
    account: SimAccount | None
    page_index: int | None
    page_size: int | None
    raw_slash: bool
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    outcome: str = "ok"
    status: int = 200
    code: int | None = 0
    faults: list[str] = field(default_factory=list)


async def handle(request: web.Request) -> web.StreamResponse:
    """One call of an endpoint (``request.match_info["endpoint"]``), logged in the request log."""
    state = request.app[STATE]
    started = time.monotonic()
    params, raw_slash = parse_query(request.rel_url.raw_query_string)
    appkey = params.get("appkey", "")
    account = state.dataset.by_appkey(appkey) if appkey else None
    raw = await request.read()
    try:
        body: Any = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    payload = body.get("Payload") if isinstance(body, dict) else None
    endpoint = request.match_info["endpoint"]
    page_index, page_size = (None, None) if endpoint == "getaction" else peek_paging(payload)
    call = _Call(endpoint, request.path, appkey, account, page_index, page_size, raw_slash)
    names = {appkey} | ({account.name} if account is not None else set())
    faults = state.faults.take(names, endpoint, page_index)
    call.faults = [fault.kind for fault in faults]
    drip = next((f for f in faults if f.kind == "drip"), None)
    try:
        response = await _respond(state, call, params, body, faults)
        if drip is not None and isinstance(response, web.Response):
            response = await _drip(request, response, drip.seconds)
    except Exception:
        call.outcome, call.status, call.code = "internal_error", 500, None
        raise
    finally:
        if call.outcome != "hang":  # a hang is logged when it starts
            _record(state, call, started)
    return response


async def _drip(request: web.Request, response: web.Response, seconds: float) -> web.StreamResponse:
    """Headers at once, then the body a byte every ``seconds`` (ends when the client goes)."""
    body = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    for i in range(len(body)):
        await stream.write(body[i : i + 1])
        await asyncio.sleep(seconds)
    await stream.write_eof()
    return stream


def _record(state: SimState, call: _Call, started: float) -> None:
    duration = time.monotonic() - started
    entry = RequestRecord(
        at=state.now(),
        path=call.path,
        endpoint=call.endpoint,
        appkey=call.appkey,
        account=call.account.name if call.account is not None else None,
        page_index=call.page_index,
        page_size=call.page_size,
        outcome=call.outcome,
        status=call.status,
        code=call.code,
        request_id=call.request_id,
        faults=tuple(call.faults),
        signature_raw_slash=call.raw_slash,
        duration_s=duration,
    )
    state.log.record(entry)
    fields = {name: getattr(entry, name) for name in _LOGGED}
    log.debug("sim.request", **fields, duration_s=round(duration, 6))


async def _respond(
    state: SimState,
    call: _Call,
    params: Mapping[str, str],
    body: Any,
    faults: list[Fault],
) -> web.StreamResponse:
    delay = state.latency + sum(f.seconds for f in faults if f.kind == "latency")
    if delay > 0:
        await asyncio.sleep(delay)
    session_id = _session_id(call.account, state.now())

    def error(exc: ApiError) -> web.Response:
        call.outcome, call.status, call.code = "api_error", exc.status, exc.code
        return _json(
            _envelope(call.request_id, session_id, exc.code, exc.message, {}), status=exc.status
        )

    terminal = next((f for f in faults if f.kind in TERMINAL_KINDS), None)
    if terminal is not None:
        response = await _terminal_fault(state, call, terminal, error)
        if response is not None:
            return response
    if (
        state.limiter is not None
        and call.account is not None
        and not state.limiter.allow(call.appkey)
    ):
        return error(ApiError(RATE_LIMITED))
    try:
        authenticate(params, call.account, state.now())
        assert call.account is not None  # noqa: S101 - _authenticate guarantees it
        answer, records = _serve_endpoint(call.endpoint, call.account, payload_of(body), faults)
    except ApiError as exc:
        return error(exc)
    for fault in faults:
        if fault.kind == "malformed_record":
            corrupt(records, fault)
    content_type = "application/json"
    if any(f.kind == "wrong_content_type" for f in faults):
        content_type = "text/html"
    return _json(_envelope(call.request_id, session_id, 0, "ok", answer), 200, content_type)


async def _terminal_fault(
    state: SimState,
    call: _Call,
    fault: Fault,
    error: Callable[[ApiError], web.Response],
) -> web.StreamResponse | None:
    if fault.kind == "hang":
        call.outcome, call.status, call.code = "hang", 0, None
        _record(state, call, time.monotonic())
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - always inside a task in aiohttp
        state.hung.add(task)
        try:
            # Never resolves: cancelled when the client disconnects or the server stops.
            await asyncio.get_running_loop().create_future()
        finally:
            state.hung.discard(task)
    if fault.kind == "http_error":
        status = fault.status or 500
        call.outcome, call.status, call.code = "http_error", status, None
        return _html_error(status)
    if fault.kind == "garbage_body":
        call.outcome, call.status, call.code = "garbage_body", 200, None
        return web.Response(text=_GARBAGE_PAGE, status=200, content_type="text/html")
    if fault.kind == "api_error":
        code = fault.code if fault.code is not None else INTERNAL[0]
        message = fault.message or (INTERNAL[1] if fault.code is None else "InternalError:模拟错误")
        return error(ApiError((code, message), status=fault.status or 200))
    if fault.kind == "rate_limit":
        response = error(ApiError(RATE_LIMITED, status=fault.status or 200))
        if fault.status == 429:
            response.headers["Retry-After"] = "1"
        return response
    return None
