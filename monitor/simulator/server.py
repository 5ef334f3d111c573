"""An aiohttp model of the IVH personal-asset gateway (docs/ivh-api.md §1-§4).

API: ``POST /v2/ivh/crmserver/customerassetservice/<endpoint>`` and the
``customerassetsservice`` spelling (§4 "Path spelling"), for the six endpoints.

Behaviour, and the simulator's own choices where the vendor documents none:

- **Auth (§1).** Query ``appkey``, ``timestamp`` (seconds), ``signature``. The
  query is percent-decoded as any gateway does (``+`` as a space, form style),
  then the signature is checked against HMAC-SHA256 over the sorted ``k=v``
  pairs of every other parameter, keyed with the AccessToken, Base64. So a raw
  ``/`` (the vendor's Python demo) still verifies, since ``/`` is legal in a
  query and decodes to itself; it is flagged ``signature_raw_slash`` in the
  request log. A raw ``+`` decodes to a space and fails. Failures answer HTTP
  200 with these codes (no code is documented; chosen in the vendor's style):

  ======  ===========================================================
  100005  ``AuthFailure.InvalidAuthorization`` a parameter is missing
  100005  ``AuthFailure.InvalidAppKey`` unknown appkey
  100005  ``AuthFailure.InvalidTimestamp`` timestamp not an integer
  100005  ``AuthFailure.SignatureExpire`` timestamp off by more than 300 s
  100005  ``AuthFailure.SignatureFailure`` signature mismatch
  ======  ===========================================================

  Every response carries an HTTP ``Date`` from the simulator's clock, so a
  client can measure its skew.
- **Envelope (§2).** The body must be a JSON object with a ``Header`` object
  and a ``Payload`` object, else 100001 ``InvalidParameter.…``. Payload field
  names match case-insensitively, as Go's ``encoding/json`` does (which is why
  the documented ``pageIndex`` slip works); a JSON ``null`` counts as absent.
- **Pagination (§3).** ``PageIndex`` 1-based, default 1; ``PageSize`` 1-100,
  default 10 (the vendor examples' value); 0 counts as absent (Go zero value).
  Over 100, negative, or a non-integer: 100002 / 100001. ``Total`` on every page.
- **Filters (§4).** Exact matches, empty values ignored, except ``TimbreName``
  (substring). ``VirtualmanTypeCode`` (getanchor, getimagebyanchor) and
  ``VirtualmanKey`` (getaction) are required: 100001 when missing. An unknown
  type code gives an empty page; an unknown key no actions.
- **Rate limit.** Optional per-appkey token bucket; over it: 100012
  ``RequestLimitExceeded`` with HTTP 200.

Control API (no auth; refused unless from loopback), JSON in and out:
``GET /_sim/health``; ``GET|POST|DELETE /_sim/faults``, ``DELETE
/_sim/faults/{id}``; ``GET /_sim/requests[?limit=N]``; ``POST /_sim/reset``
(faults, log, rate limiter, clock offset and records back to the start);
``GET /_sim/accounts``; ``GET|PUT /_sim/accounts/{name}/{collection}``;
``GET|PUT /_sim/clock`` (``{"offset_seconds": 600}``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import json
import random
import re
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_plus

import structlog
from aiohttp import web
from pydantic import ValidationError

from monitor.simulator.dataset import (
    COLLECTIONS,
    INTERNATIONAL_GATEWAY,
    Dataset,
    Record,
    SimAccount,
    default_dataset,
    load_dataset,
)
from monitor.simulator.faults import TERMINAL_KINDS, Fault, FaultRegistry
from monitor.text import json_text

__all__ = [
    "ENDPOINTS",
    "RequestLog",
    "RequestRecord",
    "RunningSimulator",
    "create_app",
    "run_simulator",
    "serve",
]

log = structlog.get_logger(__name__)

Clock = Callable[[], float]

API_PREFIX = "/v2/ivh/crmserver"
PATH_SPELLINGS = ("customerassetservice", "customerassetsservice")
#: which spellings a gateway serves (§4 "Path spelling"): ``both`` (the default),
#: ``public`` (one "s" for all six, as the vendor's pages and clients spell them) or
#: ``document`` (as the document we were given spells them: two "s", except getaction)
Spellings = Literal["both", "public", "document"]
ENDPOINTS = (
    "getserviceasset",
    "describetimbre",
    "getanchor",
    "getimagebyanchor",
    "describesmallsampleimage",
    "getaction",
)
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
TIMESTAMP_TOLERANCE_S = 300

_AUTH_MISSING = (
    100005,
    "AuthFailure.InvalidAuthorization:缺少鉴权参数appkey、timestamp或signature",
)
_AUTH_APPKEY = (100005, "AuthFailure.InvalidAppKey:appkey不存在")
_AUTH_TIMESTAMP = (100005, "AuthFailure.InvalidTimestamp:timestamp格式错误")
_AUTH_EXPIRED = (
    100005,
    "AuthFailure.SignatureExpire:签名已过期，timestamp与服务器时间相差超过5分钟",
)
_AUTH_SIGNATURE = (100005, "AuthFailure.SignatureFailure:签名校验失败")
_RATE_LIMITED = (100012, "RequestLimitExceeded:请求过于频繁，请稍后重试")
_INTERNAL = (100000, "InternalError:内部错误")

_STATE_KEY = "monitor.simulator.state"
_TIMESTAMP = re.compile(r"^\d{1,12}$")
_LOOPBACK = ("127.", "::1", "::ffff:127.")

_GARBAGE_PAGE = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>系统繁忙</title></head>'
    "<body><h1>系统繁忙，请稍后再试</h1><p>Service temporarily unavailable.</p>"
    "<hr><center>stgw</center></body></html>\n"
)


class _ApiError(Exception):
    """An application error: HTTP 200 (unless ``status``) with Header.Code != 0."""

    def __init__(self, error: tuple[int, str], status: int = 200) -> None:
        super().__init__(error[1])
        self.code, self.message = error
        self.status = status


# --------------------------------------------------------------------------- request log


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the simulator saw it."""

    at: float
    path: str
    endpoint: str
    appkey: str
    account: str | None
    page_index: int | None
    page_size: int | None
    outcome: str
    """``ok``, ``api_error``, ``http_error``, ``hang``, ``garbage_body``."""
    status: int
    code: int | None
    request_id: str
    faults: tuple[str, ...]
    signature_raw_slash: bool
    duration_s: float


class RequestLog:
    """Counts per account and endpoint, and a bounded log of recent requests."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._lock = threading.Lock()
        self._recent: deque[RequestRecord] = deque(maxlen=maxlen)
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self._recent.append(entry)
            self._counts[(entry.account or entry.appkey or "-", entry.endpoint)] += 1

    def entries(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._recent)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{account name (or unknown appkey): {endpoint: requests}}``."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for (account, endpoint), n in sorted(self._counts.items()):
                out.setdefault(account, {})[endpoint] = n
        return out

    def count(self, account: str | None = None, endpoint: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (acc, ep), n in self._counts.items()
                if account in (None, acc) and endpoint in (None, ep)
            )

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()
            self._counts.clear()

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        entries = self.entries()
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return {
            "total": self.count(),
            "counts": self.counts(),
            "recent": [asdict(entry) for entry in entries],
        }


# --------------------------------------------------------------------------- state


class _TokenBuckets:
    """Per-appkey token buckets on the monotonic clock (skewing the sim clock must not refill)."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def reset(self) -> None:
        self._buckets.clear()


@dataclass
class _State:
    dataset: Dataset
    faults: FaultRegistry
    base_clock: Clock
    latency: float
    limiter: _TokenBuckets | None
    initial: Dataset
    log: RequestLog = field(default_factory=RequestLog)
    clock_offset: float = 0.0
    hung: set[asyncio.Task[Any]] = field(default_factory=set)

    def now(self) -> float:
        return self.base_clock() + self.clock_offset


_STATE = web.AppKey(_STATE_KEY, _State)


# --------------------------------------------------------------------------- helpers


def _parse_query(raw: str) -> tuple[dict[str, str], bool]:
    """Decoded query parameters (first wins) and whether the signature had a raw ``/``."""
    params: dict[str, str] = {}
    raw_slash = False
    for pair in raw.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        name = unquote_plus(key)
        if name == "signature" and "/" in value:
            raw_slash = True
        params.setdefault(name, unquote_plus(value))
    return params, raw_slash


def _expected_signature(params: Mapping[str, str], access_token: str) -> str:
    """Base64 HMAC-SHA256 of the sorted ``k=v&...`` string (docs/ivh-api.md §1), unencoded."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    digest = hmac.new(access_token.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _authenticate(params: Mapping[str, str], account: SimAccount | None, now: float) -> None:
    if not all(params.get(k) for k in ("appkey", "timestamp", "signature")):
        raise _ApiError(_AUTH_MISSING)
    if account is None:
        raise _ApiError(_AUTH_APPKEY)
    if not _TIMESTAMP.match(params["timestamp"]):
        raise _ApiError(_AUTH_TIMESTAMP)
    if abs(now - int(params["timestamp"])) > TIMESTAMP_TOLERANCE_S:
        raise _ApiError(_AUTH_EXPIRED)
    expected = _expected_signature(params, account.access_token)
    if not hmac.compare_digest(expected.encode(), params["signature"].encode()):
        raise _ApiError(_AUTH_SIGNATURE)


def _field(payload: Mapping[str, Any], name: str) -> Any:
    if name in payload:
        return payload[name]
    lowered = name.lower()
    for key, value in payload.items():
        if key.lower() == lowered:
            return value
    return None


def _type_error(name: str) -> _ApiError:
    return _ApiError((100001, f"InvalidParameter.TypeMismatch:参数{name}类型错误"))


def _opt_int(payload: Mapping[str, Any], name: str) -> int | None:
    value = _field(payload, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name)
    return value


def _opt_str(payload: Mapping[str, Any], name: str) -> str:
    value = _field(payload, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(name)
    return value


def _req_str(payload: Mapping[str, Any], name: str) -> str:
    value = _opt_str(payload, name)
    if not value:
        raise _ApiError((100001, f"InvalidParameter.MissingParameter:缺少必填参数{name}"))
    return value


def _opt_str_list(payload: Mapping[str, Any], name: str) -> list[str]:
    value = _field(payload, name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(name)
    return value


def _paging(payload: Mapping[str, Any]) -> tuple[int, int]:
    index = _opt_int(payload, "PageIndex") or 1
    size = _opt_int(payload, "PageSize") or DEFAULT_PAGE_SIZE
    if index < 1:
        raise _ApiError((100002, "InvalidParameterValue.PageIndex:PageIndex必须大于等于1"))
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise _ApiError((100002, "InvalidParameterValue.PageSize:PageSize取值范围为1-100"))
    return index, size


def _peek_paging(payload: Any) -> tuple[int | None, int | None]:
    """Best-effort PageIndex/PageSize for fault matching and the log; never raises."""
    if not isinstance(payload, Mapping):
        return None, None
    index, size = _field(payload, "PageIndex"), _field(payload, "PageSize")
    index = index if isinstance(index, int) and not isinstance(index, bool) else None
    size = size if isinstance(size, int) and not isinstance(size, bool) else None
    return (index or 1), (size or DEFAULT_PAGE_SIZE)


Predicate = Callable[[Record], bool]


def _in(value: Any, allowed: list[str]) -> bool:
    return not allowed or value in allowed


def _services_filter(payload: Mapping[str, Any]) -> Predicate:
    service_type = _opt_str(payload, "ServiceType")
    return lambda r: not service_type or r.get("ServiceType") == service_type


def _timbres_filter(payload: Mapping[str, Any]) -> Predicate:
    key = _opt_str(payload, "TimbreKey")
    name = _opt_str(payload, "TimbreName")
    purchase = _opt_str(payload, "PurchaseType")
    keys = _opt_str_list(payload, "TimbreKeyList")

    def predicate(r: Record) -> bool:
        return (
            (not key or r.get("TimbreKey") == key)
            and (not name or name in str(r.get("TimbreName", "")))
            and (not purchase or r.get("PurchaseType") == purchase)
            and _in(r.get("TimbreKey"), keys)
        )

    return predicate


def _anchors_filter(payload: Mapping[str, Any]) -> Predicate:
    type_code = _req_str(payload, "VirtualmanTypeCode")
    codes = _opt_str_list(payload, "AnchorCodes")
    purchase = _opt_str(payload, "PurchaseType")
    return lambda r: (
        r.get("VirtualmanTypeCode") == type_code
        and _in(r.get("AnchorCode"), codes)
        and (not purchase or r.get("PurchaseType") == purchase)
    )


def _images_filter(payload: Mapping[str, Any]) -> Predicate:
    by_anchor = _anchors_filter(payload)
    key = _opt_str(payload, "VirtualmanKey")
    return lambda r: by_anchor(r) and (not key or r.get("VirtualmanKey") == key)


def _small_sample_filter(payload: Mapping[str, Any]) -> Predicate:
    codes = _opt_str_list(payload, "AnchorCodes")
    key = _opt_str(payload, "VirtualmanKey")
    return lambda r: _in(r.get("AnchorCode"), codes) and (not key or r.get("VirtualmanKey") == key)


# endpoint -> (collection, list field of the Payload, filter builder)
_LISTS: dict[str, tuple[str, str, Callable[[Mapping[str, Any]], Predicate]]] = {
    "getserviceasset": ("services", "ServiceAssetInfos", _services_filter),
    "describetimbre": ("timbres", "TimbreAssets", _timbres_filter),
    "getanchor": ("anchors", "Virtualmans", _anchors_filter),
    "getimagebyanchor": ("images", "Virtualmans", _images_filter),
    "describesmallsampleimage": ("small_sample_images", "Virtualmans", _small_sample_filter),
}


def _payload_of(body: Any) -> dict[str, Any]:
    """The Payload of a request body, checking the envelope (docs/ivh-api.md §2)."""
    if not isinstance(body, dict):
        raise _ApiError((100001, "InvalidParameter.JsonParseError:请求体必须是JSON对象"))
    if not isinstance(body.get("Header"), dict):
        raise _ApiError((100001, "InvalidParameter.MissingHeader:缺少Header或Header不是对象"))
    payload = body.get("Payload")
    if not isinstance(payload, dict):
        raise _ApiError((100001, "InvalidParameter.MissingPayload:缺少Payload或Payload不是对象"))
    return payload


def _serve_endpoint(
    endpoint: str, account: SimAccount, payload: Mapping[str, Any], faults: Sequence[Fault] = ()
) -> tuple[dict[str, Any], list[Any]]:
    """The Payload of a successful answer and the list of records it carries."""
    if endpoint == "getaction":
        actions: list[Any] = account.actions_for(_req_str(payload, "VirtualmanKey"))
        return {"Actions": actions}, actions
    collection, list_key, make_filter = _LISTS[endpoint]
    predicate = make_filter(payload)  # validates filters before paging, like the gateway
    index, size = _paging(payload)
    total, page = _listing_page(
        account, collection, predicate, index=index, size=size, faults=faults
    )
    if any(f.kind == "no_total" for f in faults):
        return {list_key: page}, page
    return {list_key: page, "Total": total}, page


def _listing_page(
    account: SimAccount,
    collection: str,
    predicate: Predicate,
    *,
    index: int,
    size: int,
    faults: Sequence[Fault],
) -> tuple[int, list[Any]]:
    """(Total, rows) of one page, bent by the listing faults (``shift``, ``short_listing``,
    ``total``): the ways an offset-paginated gateway lets a listing fall apart."""
    if any(f.kind == "same_page" for f in faults):
        index = 1
    shift = sum(f.count for f in faults if f.kind == "shift")
    if shift and index > 1:
        # the page starts ``shift`` rows early: read it as two pages' worth and cut
        start = (index - 1) * size - shift
        total, before = account.page(collection, predicate, 1, max(start, 0) + size)
        page: list[Any] = list(before[max(start, 0) :])
    else:
        total, records = account.page(collection, predicate, index, size)
        page = list(records)
    for fault in faults:
        if fault.kind == "short_listing":
            del page[max(len(page) - fault.count, 0) :]
        elif fault.kind == "total" and fault.total is not None:
            total = fault.total
            if fault.fill and page and len(page) < size:
                filler = page[-1]
                page.extend(_made_up(filler, f"{index}-{n}") for n in range(size - len(page)))
    return total, page


def _made_up(template: Any, suffix: str) -> Any:
    """A new row shaped like ``template``, with fresh keys."""
    row = copy.deepcopy(template)
    if isinstance(row, dict):
        for key in ("VirtualmanKey", "TimbreKey", "AnchorCode"):
            if isinstance(row.get(key), str):
                row[key] = f"{row[key]}-fill-{suffix}"
    return row


def _first_int_path(node: Any) -> tuple[Any, Any] | None:
    """(container, key) of the first int (not bool) found depth-first."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return None
    for key, value in items:
        if isinstance(value, int) and not isinstance(value, bool):
            return node, key
        found = _first_int_path(value)
        if found is not None:
            return found
    return None


def _corrupt(records: list[Any], fault: Fault) -> None:
    """Break one record of a page in place (docs/ivh-api.md §6: the rest must survive)."""
    if not records:
        return
    i = min(fault.record, len(records) - 1)
    record = records[i]
    if fault.corruption == "not_object" or not isinstance(record, dict):
        records[i] = "corrupted-record"
    elif fault.corruption == "bad_date":
        for key in ("ExpireDate", "ExpireTime"):
            if key in record:
                record[key] = "2024-02-30 25:61:00" if key == "ExpireDate" else "soon"
                break
        else:
            record["ExpireDate"] = "2024-02-30 25:61:00"
    else:
        target = _first_int_path(record)
        if target is not None:
            # Not a numeric string: those the vendor really sends (§6) and clients may coerce.
            target[0][target[1]] = "n/a"
        else:
            first_str = next((k for k, v in record.items() if isinstance(v, str)), None)
            record[first_str or "corrupted"] = 12345


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


# --------------------------------------------------------------------------- handlers


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


async def _api(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    started = time.monotonic()
    params, raw_slash = _parse_query(request.rel_url.raw_query_string)
    appkey = params.get("appkey", "")
    account = state.dataset.by_appkey(appkey) if appkey else None
    raw = await request.read()
    try:
        body: Any = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    payload = body.get("Payload") if isinstance(body, dict) else None
    endpoint = request.match_info["endpoint"]
    page_index, page_size = (None, None) if endpoint == "getaction" else _peek_paging(payload)
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


def _record(state: _State, call: _Call, started: float) -> None:
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
    log.debug(
        "sim.request",
        endpoint=call.endpoint,
        account=entry.account,
        page_index=call.page_index,
        outcome=call.outcome,
        status=call.status,
        code=call.code,
        faults=entry.faults,
        duration_s=round(duration, 6),
    )


async def _respond(
    state: _State,
    call: _Call,
    params: Mapping[str, str],
    body: Any,
    faults: list[Fault],
) -> web.StreamResponse:
    delay = state.latency + sum(f.seconds for f in faults if f.kind == "latency")
    if delay > 0:
        await asyncio.sleep(delay)
    session_id = _session_id(call.account, state.now())

    def error(exc: _ApiError) -> web.Response:
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
        return error(_ApiError(_RATE_LIMITED))
    try:
        _authenticate(params, call.account, state.now())
        assert call.account is not None  # noqa: S101 - _authenticate guarantees it
        answer, records = _serve_endpoint(call.endpoint, call.account, _payload_of(body), faults)
    except _ApiError as exc:
        return error(exc)
    for fault in faults:
        if fault.kind == "malformed_record":
            _corrupt(records, fault)
    content_type = "application/json"
    if any(f.kind == "wrong_content_type" for f in faults):
        content_type = "text/html"
    return _json(_envelope(call.request_id, session_id, 0, "ok", answer), 200, content_type)


async def _terminal_fault(
    state: _State,
    call: _Call,
    fault: Fault,
    error: Callable[[_ApiError], web.Response],
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
        code = fault.code if fault.code is not None else _INTERNAL[0]
        message = fault.message or (
            _INTERNAL[1] if fault.code is None else "InternalError:模拟错误"
        )
        return error(_ApiError((code, message), status=fault.status or 200))
    if fault.kind == "rate_limit":
        response = error(_ApiError(_RATE_LIMITED, status=fault.status or 200))
        if fault.status == 429:
            response.headers["Retry-After"] = "1"
        return response
    return None


# --------------------------------------------------------------------------- control API


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
    registry = request.app[_STATE].faults
    return _control_json({"faults": [entry.as_dict() for entry in registry.list()]})


async def _faults_post(request: web.Request) -> web.Response:
    registry = request.app[_STATE].faults
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
    registry = request.app[_STATE].faults
    fault_id = request.match_info.get("fault_id")
    if fault_id is None:
        return _control_json({"cleared": registry.clear()})
    if not registry.remove(int(fault_id)):
        raise web.HTTPNotFound(text=json.dumps({"error": "no such fault"}))
    return _control_json({"cleared": 1})


async def _requests_get(request: web.Request) -> web.Response:
    limit_text = request.query.get("limit")
    limit = int(limit_text) if limit_text and limit_text.isdigit() else None
    return _control_json(request.app[_STATE].log.as_dict(limit))


async def _reset(request: web.Request) -> web.Response:
    state = request.app[_STATE]
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
        for account in request.app[_STATE].dataset.accounts
    ]
    return _control_json({"accounts": accounts})


def _account_collection(request: web.Request) -> tuple[SimAccount, str]:
    account = request.app[_STATE].dataset.find(request.match_info["name"])
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
    now = datetime.fromtimestamp(request.app[_STATE].now(), UTC)
    try:
        account.replace(collection, data, now=now)
    except ValueError as exc:
        raise _bad_request(str(exc)) from exc
    return _control_json({"account": account.name, "collection": collection})


async def _clock_get(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    return _control_json({"offset_seconds": state.clock_offset, "now": state.now()})


async def _clock_put(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    data = await _read_json(request)
    offset = data.get("offset_seconds") if isinstance(data, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int | float):
        raise _bad_request("expected {'offset_seconds': <number>}")
    state.clock_offset = float(offset)
    return _control_json({"offset_seconds": state.clock_offset, "now": state.now()})


@web.middleware
async def _loopback_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith("/_sim/") and not (request.remote or "").startswith(_LOOPBACK):
        raise web.HTTPForbidden(text="the simulator's control API answers loopback only")
    return await handler(request)


# --------------------------------------------------------------------------- app and runners


def create_app(
    dataset: Dataset,
    faults: FaultRegistry | None = None,
    *,
    clock: Clock = time.time,
    latency: float = 0.0,
    rate_limit_per_second: float | None = None,
    spellings: Spellings = "both",
) -> web.Application:
    """The simulator as an aiohttp application over ``dataset``.

    ``clock`` is the gateway's clock (epoch seconds) for timestamp checks and
    the ``Date`` header; ``latency`` is added to every API call;
    ``rate_limit_per_second`` enables the per-appkey limiter; ``spellings``
    which path spellings answer (the others are 404s).
    """
    state = _State(
        dataset=dataset,
        faults=faults if faults is not None else FaultRegistry(),
        base_clock=clock,
        latency=latency,
        limiter=_TokenBuckets(rate_limit_per_second) if rate_limit_per_second else None,
        initial=dataset.clone(),
    )
    app = web.Application(middlewares=[_loopback_only])
    app[_STATE] = state
    for endpoint in ENDPOINTS:
        for spelling in _served(spellings, endpoint):
            app.router.add_post(f"{API_PREFIX}/{spelling}/{{endpoint:{endpoint}}}", _api)
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

    async def set_date(request: web.Request, response: web.StreamResponse) -> None:
        del request
        response.headers["Date"] = formatdate(state.now(), usegmt=True)

    async def cancel_hung(app: web.Application) -> None:
        del app
        # Hung requests would otherwise hold the runner's shutdown for its whole timeout.
        for task in list(state.hung):
            task.cancel()

    app.on_response_prepare.append(set_date)
    app.on_shutdown.append(cancel_hung)
    return app


def _served(spellings: Spellings, endpoint: str) -> tuple[str, ...]:
    one, two = PATH_SPELLINGS
    if spellings == "public":
        return (one,)
    if spellings == "document":
        return (one,) if endpoint == "getaction" else (two,)
    return PATH_SPELLINGS


@dataclass
class RunningSimulator:
    """A simulator listening on a local port (see :func:`run_simulator`)."""

    url: str
    host: str
    port: int
    dataset: Dataset
    faults: FaultRegistry
    requests: RequestLog
    app: web.Application

    def set_clock_offset(self, seconds: float) -> None:
        """Skew the simulated gateway's clock by ``seconds`` from the ``clock`` given."""
        self.app[_STATE].clock_offset = seconds


@contextlib.asynccontextmanager
async def run_simulator(
    dataset: Dataset | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock = time.time,
    latency: float = 0.0,
    rate_limit_per_second: float | None = None,
    faults: FaultRegistry | None = None,
    spellings: Spellings = "both",
) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator on ``host:port`` (0 = a free port) for the ``async with`` body.

    Without a dataset, :func:`default_dataset` at ``clock()``. On exit hung
    requests are cancelled and the port is released.
    """
    if dataset is None:
        dataset = default_dataset(datetime.fromtimestamp(clock(), UTC))
    app = create_app(
        dataset,
        faults,
        clock=clock,
        latency=latency,
        rate_limit_per_second=rate_limit_per_second,
        spellings=spellings,
    )
    # handler_cancellation: a client that gives up on a hung request frees its handler.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        url_host = f"[{host}]" if ":" in host else host
        state = app[_STATE]
        yield RunningSimulator(
            url=f"http://{url_host}:{bound_port}",
            host=host,
            port=bound_port,
            dataset=dataset,
            faults=state.faults,
            requests=state.log,
            app=app,
        )
    finally:
        await runner.cleanup()


async def _serve_until_stopped(
    *,
    dataset: Dataset,
    demo: bool,
    host: str,
    port: int,
    latency: float,
    rate_limit_per_second: float | None,
    faults: Iterable[Fault],
    spellings: Spellings = "both",
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    async with run_simulator(
        dataset,
        host=host,
        port=port,
        latency=latency,
        rate_limit_per_second=rate_limit_per_second,
        faults=FaultRegistry(faults),
        spellings=spellings,
    ) as sim:
        log.info("sim.started", url=sim.url, accounts=len(dataset.accounts), demo=demo)
        for account in dataset.accounts:
            # Only the demo dataset's tokens are public; a user's file keeps its secrets.
            token = {"access_token": account.access_token} if demo else {}
            log.info(
                "sim.account",
                name=account.name,
                appkey=account.appkey,
                gateway=account.gateway,
                **token,
            )
        await stop.wait()
        log.info("sim.stopping", url=sim.url)


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    dataset_path: str | Path | None = None,
    *,
    latency: float = 0.0,
    rate_limit_per_second: float | None = None,
    faults: Iterable[Fault] = (),
    spellings: Spellings = "both",
) -> None:
    """Run the simulator until SIGINT/SIGTERM (``ivh-monitor simulate``).

    Logs ``sim.started`` with the URL and one ``sim.account`` per account
    (with the access token only for the public demo dataset).
    """
    now = datetime.now(UTC)
    demo = dataset_path is None
    dataset = default_dataset(now) if demo else load_dataset(Path(str(dataset_path)), now)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _serve_until_stopped(
                dataset=dataset,
                demo=demo,
                host=host,
                port=port,
                latency=latency,
                rate_limit_per_second=rate_limit_per_second,
                faults=list(faults),
                spellings=spellings,
            )
        )
