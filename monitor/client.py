"""The signed, paginating, rate-limited IVH client (docs/ivh-api.md §1–§4).

One long-lived :class:`IVHClient` per account. It signs every call, wraps the
payload in the ``{Header, Payload}`` envelope, turns every failure into a typed
:mod:`monitor.errors` exception, retries only what can succeed on retry, walks
list endpoints to the end, and parses records with :mod:`monitor.vendor` so
that no raw dict leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import re
import ssl
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar, overload

import aiohttp
import httpx
import stamina
import structlog
import yarl
from aiolimiter import AsyncLimiter
from httpx_aiohttp import HttpxAiohttpClient
from httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

from monitor import __version__
from monitor.aio import all_or_cancel
from monitor.config import Account, ClientConfig
from monitor.endpoints import DEFAULT_PATHS, alternate_path, alternate_paths
from monitor.errors import (
    APIError,
    AuthError,
    DeadlineError,
    HTTPStatusError,
    IncompleteListingError,
    ParseError,
    TransportError,
    UpstreamError,
)
from monitor.precedence import no_pause
from monitor.signing import signed_query
from monitor.vendor import (
    Action,
    AnchorRecord,
    ImageAsset,
    RecordProblem,
    ServiceAsset,
    SmallSampleImage,
    TimbreAsset,
    _Vendor,
    parse_records,
)

__all__ = ["Boil", "CallObserver", "IVHClient", "Listing", "default_tls_context", "shared_clients"]

log = structlog.get_logger("monitor.client")

M = TypeVar("M", bound=_Vendor)
T = TypeVar("T")
#: what a walk makes of each page's records as the page arrives
Boil = Callable[[list[M]], Iterable[T]]

#: (endpoint, outcome, seconds) for every attempt; outcomes form a bounded set
CallObserver = Callable[[str, str, float], None]

_SIGNATURE_WINDOW_SECONDS = 300.0  # docs/ivh-api.md §1
#: structlog's filtering loggers above debug (what ``log.configure_logging`` sets up):
#: under one of them ``api.call`` is dropped, and a call need not build it (binding a
#: logger through the lazy proxy and its fields: some 4 us of a request's CPU)
_ABOVE_DEBUG = frozenset(
    structlog.make_filtering_bound_logger(level)
    for level in (logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
)


def _debug_may_log() -> bool:
    """False only when the configured logger certainly drops debug events."""
    return structlog.get_config()["wrapper_class"] not in _ABOVE_DEBUG


_MAX_BODY_BYTES = 32 * 1024 * 1024
_CHUNK = 16 * 1024  # what the aiohttp transport reads at a time


@dataclass(slots=True, frozen=True)
class _Route:
    """Where the direct route sends a path's requests: URL (no query), headers, session."""

    url: str
    headers: dict[str, str]
    session: aiohttp.ClientSession


@dataclass(slots=True, frozen=True)
class _Answer:
    """What an exchange needs of a response, whichever route it took."""

    status_code: int
    reason_phrase: str
    header: Callable[[str], str | None]
    body: bytes


class PageOrder(Generic[T]):
    """Items put page by page, read back in page order however the pages arrived
    (the windows of a walk answer in any order)."""

    def __init__(self) -> None:
        self._pages: dict[int, list[T]] = {}

    def put(self, index: int, items: Iterable[T]) -> None:
        self._pages[index] = list(items)

    def __iter__(self) -> Iterator[T]:
        for index in sorted(self._pages):
            yield from self._pages[index]


@dataclass(slots=True)
class Listing(Generic[T]):
    """Every record of a (paginated) list in page order, plus what could not be read.

    ``records`` are what the walk's ``boil`` made of each page (the vendor models
    themselves by default); ``rows`` counts every row delivered, readable or not.
    """

    records: list[T] = field(default_factory=list)
    problems: list[RecordProblem] = field(default_factory=list)
    pages: int = 0
    total: int = 0
    rows: int = 0


@dataclass(slots=True)
class _Walk(Generic[T]):
    """One walk through a listing, and what is wrong with it (``reason``)."""

    listing: Listing[T]
    reason: str | None = None
    #: the row identities page by page: two walks that agree are a stable listing
    signature: int = 0
    #: every row seen on two pages is a keyless row (a service package): those may be
    #: twins, identical packages; a key on two pages never is
    twins: bool = False


_REASONS = {
    "short": "fewer rows than Total",
    "extra": "more rows than Total",
    "repeated": "a row repeated across pages",
    "total_changed": "Total changed between pages",
    "too_large": "Total beyond client.max_pages",
    "no_total": "no readable Total",
}
#: the page size of the walk that tells twin service packages from repeated pages
_OTHER_PAGE_SIZE = 100
_KEY_FIELDS = ("VirtualmanKey", "TimbreKey", "AnchorCode")


#: ``json.dumps(row, sort_keys=True, default=str)`` and ``json.dumps(body,
#: ensure_ascii=False)`` made once: ``dumps`` with any argument builds a new encoder
#: each call (half the cost of encoding a request's body)
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str)
_BODY = json.JSONEncoder(ensure_ascii=False)


def _identity(row: object) -> object:
    """What makes a row the same row on another page: its key, or (service packages
    have none, §4.1) its whole content."""
    if isinstance(row, dict):
        for name in _KEY_FIELDS:
            value = row.get(name)
            if isinstance(value, str) and value:
                return (name, value)
        return _CANONICAL.encode(row)
    return ("row", repr(row)[:200])  # not a record: never a twin


def _outcome(exc: UpstreamError) -> str:
    if isinstance(exc, AuthError):
        return "auth_error"
    if isinstance(exc, APIError):
        return "rate_limited" if exc.rate_limited else "api_error"
    if isinstance(exc, HTTPStatusError):
        return "rate_limited" if exc.status == 429 else "http_error"
    if isinstance(exc, DeadlineError):
        return "deadline"
    if isinstance(exc, TransportError):
        return "transport_error"
    return "parse_error"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class IVHClient:
    """Async client for one account.

    ``transport`` lets tests and benchmarks pass an ``httpx.MockTransport`` or a
    tuned transport; ``clock`` (Unix seconds) signs requests and measures skew.
    """

    def __init__(
        self,
        account: Account,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        observer: CallObserver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        in_flight: asyncio.Semaphore | None = None,
        pause: Callable[[], None] = no_pause,
    ) -> None:
        """``ssl_context``: share one across clients (building one costs ~20 ms and ~1 MB);
        ``in_flight``: a bound on requests in flight shared by every account's client;
        ``pause``: called before each response and each page is parsed (the daemon's
        :meth:`~monitor.precedence.Precedence.step_aside`: a scrape first)."""
        self.account = account
        self._pause = pause
        self._config = config
        self._clock = clock
        self._observer = observer
        self._paths: dict[str, str] = {**DEFAULT_PATHS, **config.endpoints}
        self._fixed_paths = frozenset(config.endpoints)  # configured paths are never swapped
        #: whether a call has found which path spelling this gateway answers (§4)
        self._spelling_known = False
        #: the call finding it out, while one is in flight
        self._probe: asyncio.Future[None] | None = None
        #: a probe got no answer in time: calls no longer wait for one another
        self._probe_stalled = False
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._in_flight = in_flight
        rate = config.rate_limit_per_second
        # aiolimiter allows a burst of max_rate per period; for rates under 1/s
        # the period stretches instead.
        self._limiter = AsyncLimiter(rate, 1.0) if rate >= 1 else AsyncLimiter(1, 1.0 / rate)
        # httpx's API over one aiohttp session per client (about half the CPU of
        # httpcore per request); a ``transport`` passed in is used as it is, and
        # environment proxies resolve as httpx resolves them (each an aiohttp transport)
        self._http = HttpxAiohttpClient(
            base_url=account.base_url,
            transport=transport,
            verify=ssl_context if ssl_context is not None else True,
            timeout=httpx.Timeout(config.timeout_seconds),
            limits=httpx.Limits(max_connections=config.max_concurrency),
            headers={
                "Content-Type": "application/json;charset=utf-8",
                "User-Agent": f"ivh-monitor/{__version__}",
                "Accept-Encoding": "gzip, deflate",  # what _Inflater decodes
            },
        )
        #: seconds our clock is ahead of the gateway's, from the last ``Date`` header
        self.clock_skew_seconds: float | None = None
        #: the direct route (see ``_direct``): URLs by path, the request headers, the
        #: aiohttp timeouts, exactly as httpx would hand them to the aiohttp transport
        #: (timestamp, its signed query) and (Date header, its Unix time): the last of each
        self._last_query: tuple[int, str] = (-1, "")
        self._last_date: tuple[str, float] = ("", 0.0)
        self._direct_urls: dict[str, tuple[str, dict[str, str]]] = {}
        self._direct_timeout = aiohttp.ClientTimeout(
            sock_connect=config.timeout_seconds,
            sock_read=config.timeout_seconds,
            connect=config.timeout_seconds,
        )

    async def __aenter__(self) -> IVHClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def concurrency(self) -> int:
        """Requests this client has in flight at most (``client.max_concurrency``)."""
        return self._config.max_concurrency

    def __repr__(self) -> str:
        return f"IVHClient(account={self.account.name!r}, base_url={self.account.base_url!r})"

    # -- one call ---------------------------------------------------------------

    async def call(self, endpoint: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Call an endpoint, retrying transient failures; return its ``Payload``.

        The first attempt runs outside stamina's retry context: entering one leaves
        some fifty objects in reference cycles (its retry state), and with a few
        hundred calls a cycle those were what made Python's full garbage collections
        frequent, each holding the event loop for 100-300 ms. Only a call that failed
        enters the context, which is handed that first failure as its own first
        attempt: the hook, the attempts, the backoff before the second try and the
        time budget (counted from the first try) are stamina's, as before.
        """
        started = time.monotonic()
        try:
            return await self._call_once(endpoint, payload)
        except UpstreamError as exc:
            first = exc
        self._log_failure(first, 1)
        return await self._retry(endpoint, payload, first, started)

    async def _retry(
        self, endpoint: str, payload: Mapping[str, Any], first: UpstreamError, started: float
    ) -> dict[str, Any]:
        cfg = self._config
        left = cfg.retry_budget_seconds - (time.monotonic() - started)
        if not first.retryable or cfg.retries < 1 or left <= 0:
            raise first  # what stamina would do: no retry for it, or none left
        attempt = 0
        async for retrying in stamina.retry_context(
            on=self._retry_hook,
            attempts=cfg.retries + 1,
            timeout=left,
            wait_initial=cfg.backoff_initial_seconds,
            wait_max=cfg.backoff_max_seconds,
            wait_jitter=cfg.backoff_initial_seconds,
        ):
            with retrying:
                attempt += 1
                if attempt == 1:
                    raise first  # the attempt made above, failed: stamina decides what next
                try:
                    return await self._call_once(endpoint, payload)
                except UpstreamError as exc:
                    self._log_failure(exc, attempt)
                    raise
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    def _log_failure(self, exc: UpstreamError, attempt: int) -> None:
        will_retry = exc.retryable and attempt <= self._config.retries
        log.warning("api.call_failed", attempt=attempt, will_retry=will_retry, **exc.log_fields())

    def _retry_hook(self, exc: Exception) -> bool | float:
        if not isinstance(exc, UpstreamError) or not exc.retryable:
            return False
        if isinstance(exc, HTTPStatusError) and exc.retry_after is not None:
            return min(exc.retry_after, 60.0)
        if isinstance(exc, APIError) and exc.rate_limited:
            # the gateway's bucket refills in about one request interval: waiting the
            # exponential backoff instead would idle the account for nothing
            return random.uniform(1.0, 2.0) / self._config.rate_limit_per_second
        return True

    async def _call_once(self, endpoint: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        if self._spelling_known or self._probe_stalled or endpoint in self._fixed_paths:
            return await self._post_either(endpoint, payload)
        while self._probe is not None:
            # docs/ivh-api.md §4: the two documents disagree on the spelling. One call at a
            # time finds out which one this gateway answers; the account's other calls
            # wait for it, so concurrent walks don't each spend a 404 finding out.
            await asyncio.shield(self._probe)
            if self._spelling_known or self._probe_stalled:
                return await self._post_either(endpoint, payload)
        self._probe = asyncio.get_running_loop().create_future()
        try:
            return await self._post_either(endpoint, payload)
        except HTTPStatusError:
            self._spelling_known = True  # an answer (404 on both: the endpoint is wrong)
            raise
        except APIError:
            self._spelling_known = True  # the gateway answered: the path is right
            raise
        except TransportError:
            # no answer in time: a hung gateway must not queue every call behind one
            # probe after another; the others go on (a 404 already taught the table)
            self._probe_stalled = True
            raise
        finally:
            self._probe.set_result(None)
            self._probe = None

    async def _post_either(self, endpoint: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST to the endpoint's path; on 404 try its other spelling once and keep
        whichever answers. While the spelling is not known, a 404 switches the whole
        table to the other document's at once."""
        path = self._paths[endpoint]
        try:
            result = await self._post(endpoint, path, payload)
        except HTTPStatusError as exc:
            alt = alternate_path(path)
            if exc.status != 404 or alt is None or endpoint in self._fixed_paths:
                raise
        else:
            self._spelling_known = True
            return result
        if not self._spelling_known:
            for name, other in alternate_paths(path).items():
                if name not in self._fixed_paths:
                    self._paths[name] = other
        self._paths[endpoint] = alt
        log.info("api.path_fallback", account=self.account.name, endpoint=endpoint, path=alt)
        result = await self._post(endpoint, alt, payload)
        self._spelling_known = True
        return result

    async def _post(self, endpoint: str, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        body = _BODY.encode({"Header": {}, "Payload": dict(payload)})
        async with self._semaphore, self._in_flight or contextlib.nullcontext():
            await self._limiter.acquire()
            started = time.perf_counter()
            outcome = "success"
            try:
                return await self._exchange(endpoint, path, body)
            except UpstreamError as exc:
                outcome = _outcome(exc)
                raise
            finally:
                elapsed = time.perf_counter() - started
                if self._observer is not None:
                    self._observer(endpoint, outcome, elapsed)
                if _debug_may_log():
                    log.debug(
                        "api.call",
                        account=self.account.name,
                        endpoint=endpoint,
                        page=payload.get("PageIndex"),
                        outcome=outcome,
                        duration_s=round(elapsed, 4),
                    )

    async def _exchange(self, endpoint: str, path: str, body: str) -> dict[str, Any]:
        acct = self.account
        now = self._clock()
        query = self._signed(int(now))
        ctx = {"account": acct.name, "endpoint": endpoint}
        deadline = self._config.timeout_seconds
        try:
            # One deadline for the whole exchange, connect to last byte: httpx's own
            # timeouts bound each read, so a peer dripping a byte at a time never trips them.
            async with asyncio.timeout(deadline):
                response = await self._send(path, query, body, endpoint)
        except TimeoutError:
            raise DeadlineError(
                f"no complete answer within {deadline:g} s (client.timeout_seconds)", **ctx
            ) from None
        except httpx.TimeoutException as exc:
            raise TransportError(_transport_text(exc), **ctx) from None
        except (zlib.error, httpx.DecodingError):
            # a body that contradicts its Content-Encoding (httpx's error when a transport
            # decoded it already, as httpx.MockTransport does)
            raise ParseError("body does not decode as its Content-Encoding says", **ctx) from None
        except httpx.TransportError as exc:
            raise TransportError(_transport_text(exc), **ctx) from None
        self._note_skew(response.header("date"), now)

        raw = response.body
        self._pause()  # what follows is the CPU of the call: a scrape first
        envelope = _decode(raw)
        header = envelope.get("Header") if isinstance(envelope, dict) else None
        request_id = _request_id(header)
        if response.status_code >= 300:
            message = _message(header) or response.reason_phrase or "HTTP error"
            raise HTTPStatusError(
                f"HTTP {response.status_code}: {message}",
                status=response.status_code,
                request_id=request_id,
                retry_after=_retry_after(response.header("retry-after")),
                **ctx,
            )
        if not isinstance(header, dict):
            ctype = response.header("content-type") or "none"
            raise ParseError(
                f"response is not the documented {{Header, Payload}} envelope"
                f" (content-type {ctype}, {len(raw)} bytes)",
                **ctx,
            )
        code = _code(header.get("Code"))
        if code is None:
            raise ParseError("Header.Code missing or not a number", request_id=request_id, **ctx)
        if code != 0:
            message = _message(header) or "no message"
            if code == 100005 or message.startswith("AuthFailure"):
                skew = self.clock_skew_seconds
                raise AuthError(
                    message,
                    code=code,
                    request_id=request_id,
                    clock_skew_seconds=(
                        skew if skew is not None and abs(skew) > _SIGNATURE_WINDOW_SECONDS else None
                    ),
                    **ctx,
                )
            raise APIError(message, code=code, request_id=request_id, **ctx)
        result = envelope.get("Payload")
        if result is None:
            return {}
        if not isinstance(result, dict):
            raise ParseError("Payload is not an object", request_id=request_id, **ctx)
        return result

    async def _send(self, path: str, query: str, body: str, endpoint: str) -> _Answer:
        route = self._direct(path)
        if route is not None:
            return await self._exchange_direct(route, query, body, endpoint)
        return await self._exchange_httpx(f"{path}?{query}", body, endpoint)

    async def _exchange_httpx(self, target: str, body: str, endpoint: str) -> _Answer:
        async with self._http.stream("POST", target, content=body.encode("utf-8")) as streamed:
            raw = await self._read_bounded(streamed, endpoint)
        return _Answer(streamed.status_code, streamed.reason_phrase, streamed.headers.get, raw)

    def _direct(self, path: str) -> _Route | None:
        """(URL, session) for a request straight to the aiohttp session of the client's
        own transport, or ``None`` to go through httpx.

        httpx's request machinery (URL parsing and merging, cookies, auth, redirects,
        its Request and Response objects) cost more CPU than the aiohttp request
        under it. The direct route sends what that transport would send (the URL and
        headers httpx builds, worked out once per path; the same session, timeouts
        and flags; aiohttp's errors mapped to httpx's as the transport maps them),
        and is taken only where httpx would pick that transport: no ``transport``
        passed in, no proxy mounted for the URL.
        """
        cached = self._direct_urls.get(path)
        http = self._http
        # httpx's private attributes: a release without them takes httpx's route
        transport = getattr(http, "_transport", None)
        if not isinstance(transport, AiohttpTransport):
            return None
        if cached is None:
            url, plain, headers = _built(http, path)
            pick = getattr(http, "_transport_for_url", None)
            if pick is None or pick(url) is not transport:
                return None  # a proxy for this URL: httpx's route
            cached = self._direct_urls[path] = (plain, headers)
        if not isinstance(transport.client, aiohttp.ClientSession):
            transport.client = transport.get_client()
        return _Route(cached[0], cached[1], transport.client)

    async def _exchange_direct(
        self, route: _Route, query: str, body: str, endpoint: str
    ) -> _Answer:
        with map_aiohttp_exceptions():
            async with route.session.request(
                "POST",
                yarl.URL(f"{route.url}?{query}", encoded=True),
                headers=route.headers,
                data=body.encode("utf-8") or None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._direct_timeout,
            ) as response:
                inflater = _Inflater(
                    [
                        c
                        for v in response.headers.getall("content-encoding", ())
                        for c in v.split(",")
                    ]
                )
                raw = await self._inflate_bounded(
                    response.content.iter_chunked(_CHUNK), inflater, endpoint
                )
                status = response.status
                reason = response.reason or httpx.codes.get_reason_phrase(status)
                return _Answer(status, reason, response.headers.get, raw)

    async def _read_bounded(self, response: httpx.Response, endpoint: str) -> bytes:
        """The decoded body, refused as soon as it would pass ``_MAX_BODY_BYTES``.

        Decoded here rather than by httpx, whose decoders inflate each network
        chunk whole: a 64 KiB chunk of a gzip bomb is 64 MiB before any check.
        """
        if response.is_stream_consumed:  # read (and decoded) by the transport already
            raws: AsyncIterator[bytes] = _once(response.content)
            inflater = _Inflater(())
        else:
            raws = response.aiter_raw()
            inflater = _Inflater(response.headers.get_list("content-encoding", split_commas=True))
        return await self._inflate_bounded(raws, inflater, endpoint)

    async def _inflate_bounded(
        self, raws: AsyncIterator[bytes], inflater: _Inflater, endpoint: str
    ) -> bytes:
        """The body of ``raws`` decoded by ``inflater``, refused as soon as it would
        pass ``_MAX_BODY_BYTES`` (both routes of an exchange read through this)."""
        chunks: list[bytes] = []
        size = 0

        def take(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > _MAX_BODY_BYTES:
                raise ParseError(
                    f"response larger than {_MAX_BODY_BYTES // (1024 * 1024)} MiB; refused",
                    account=self.account.name,
                    endpoint=endpoint,
                )
            chunks.append(chunk)

        async for raw in raws:
            take(inflater.feed(raw, _MAX_BODY_BYTES - size))
        take(inflater.flush())
        return b"".join(chunks)

    def _signed(self, timestamp: int) -> str:
        """The signed query for ``timestamp``: the same for every call within a second
        (it signs only appkey and timestamp), so it is signed once a second."""
        if self._last_query[0] != timestamp:
            acct = self.account
            token = acct.access_token.get_secret_value()
            self._last_query = (timestamp, signed_query(acct.appkey, token, timestamp))
        return self._last_query[1]

    def _note_skew(self, date_header: str | None, sent_at: float) -> None:
        if not date_header:
            return
        if date_header == self._last_date[0]:
            server = self._last_date[1]  # one Date a second: parsed once
        else:
            try:
                server = parsedate_to_datetime(date_header).timestamp()
            except (TypeError, ValueError):
                return
            self._last_date = (date_header, server)
        self.clock_skew_seconds = sent_at - server

    # -- lists ------------------------------------------------------------------

    @overload
    async def walk(
        self,
        endpoint: str,
        list_field: str,
        model: type[M],
        payload: Mapping[str, Any] | None = None,
    ) -> Listing[M]: ...

    @overload
    async def walk(
        self,
        endpoint: str,
        list_field: str,
        model: type[M],
        payload: Mapping[str, Any] | None = None,
        *,
        boil: Boil[M, T],
    ) -> Listing[T]: ...

    async def walk(
        self,
        endpoint: str,
        list_field: str,
        model: type[M],
        payload: Mapping[str, Any] | None = None,
        *,
        boil: Boil[M, Any] = list,
    ) -> Listing[Any]:
        """Every page of a list endpoint (docs/ivh-api.md §3), checked for completeness.

        Pages after the first are fetched a window at a time (as many as may be
        in flight) up to ``Total``. ``boil`` turns each page's records into what
        the caller keeps as the page arrives (a big listing then never sits in
        memory as vendor models, 1-2 KB a record); ``records`` come back in page
        order however the pages arrived.

        The walk is complete only when the rows delivered add up to ``Total``,
        with no page short before the end, no ``Total`` changing between pages
        and no row on two pages (offset pages shift under a purchase). Otherwise
        the listing is walked once more; inconsistent again, it raises
        :class:`IncompleteListingError` carrying what arrived. A ``Total`` beyond
        ``max_pages`` pages fails at once: memory stays bounded whatever it claims.
        """
        base = dict(payload or {})
        name = endpoint + (f"({','.join(str(v) for v in base.values())})" if base else "")
        first = await self._walk_once(
            endpoint, list_field, model, base, boil, size=self._config.page_size
        )
        if first.reason is None:
            return first.listing
        walk = first
        if first.reason != "too_large":
            log.warning(
                "api.listing_inconsistent",
                account=self.account.name,
                endpoint=endpoint,
                listing=name,
                rows=first.listing.rows,
                total=first.listing.total,
                reason=first.reason,
                will_retry=True,
            )
            size = self._config.page_size
            if first.reason == "repeated" and first.twins:
                # Keyless rows (service packages) on two pages: identical twins that
                # straddle a page boundary, or a gateway repeating or overlapping its
                # pages. A walk with other page boundaries tells them apart: twins are
                # the same rows there too, a broken listing is not.
                size = _OTHER_PAGE_SIZE if size != _OTHER_PAGE_SIZE else size - 1
            walk = await self._walk_once(endpoint, list_field, model, base, boil, size=size)
            if walk.reason is None:
                return walk.listing
            if (
                walk.reason == first.reason == "repeated"
                and walk.twins
                and first.twins
                and walk.listing.rows == walk.listing.total == first.listing.total
                and walk.signature == first.signature
            ):
                return walk.listing
        got = walk.listing
        reason = walk.reason or "short"
        if reason == "too_large":
            limit = self._config.max_pages * self._config.page_size
            message = (
                f"incomplete listing {name}: Total {got.total} is beyond client.max_pages"
                f" ({self._config.max_pages} pages, {limit} rows); not walked"
            )
        else:
            message = (
                f"incomplete listing {name}: {got.rows} rows delivered, Total {got.total}"
                f" ({_REASONS.get(reason, reason)}), on two walks"
            )
        raise IncompleteListingError(
            message,
            account=self.account.name,
            endpoint=endpoint,
            listing=name,
            rows=got.rows,
            total=got.total,
            reason=reason,
            partial=got,
        )

    async def _walk_once(
        self,
        endpoint: str,
        list_field: str,
        model: type[M],
        base: Mapping[str, Any],
        boil: Boil[M, T],
        *,
        size: int,
    ) -> _Walk[T]:
        max_pages = self._config.max_pages
        listing: Listing[T] = Listing()
        pages: PageOrder[T] = PageOrder()
        counts: dict[int, int] = {}
        totals: dict[int, int | None] = {}
        identities: dict[int, list[object]] = {}

        async def page(index: int) -> None:
            got = await self.call(endpoint, {**base, "PageIndex": index, "PageSize": size})
            raw = got.get(list_field)
            self._pause()
            records, problems = parse_records(raw, model, offset=(index - 1) * size)
            pages.put(index, boil(records))
            listing.problems.extend(problems)
            rows: list[object] = raw if isinstance(raw, list) else ([raw] if raw else [])
            counts[index] = len(rows)
            totals[index] = _total(got.get("Total"))
            identities[index] = [_identity(r) for r in rows]

        await page(1)
        total = totals[1]
        reason: str | None = None
        if total is None and counts[1]:
            # rows, and no Total to count them against: walked to the first short page
            # for what it shows, but never complete
            reason = "no_total"
        if total is not None and -(-total // size) > max_pages:  # ceil in ints (huge Totals)
            reason = "too_large"
        else:
            index = 1
            # a known Total says how many pages; without one, walk to the first short page
            last = max_pages if total is None else min(-(-total // size), max_pages)
            while counts[index] >= size and index < last:
                window = range(index + 1, min(index + self._config.max_concurrency, last) + 1)
                await all_or_cancel(page(i) for i in window)
                short = [i for i in window if counts[i] < size]
                index = short[0] if short else window[-1]
            if total is None and counts[index] >= size and index >= max_pages:
                reason = reason or "too_large"
        listing.records = list(pages)
        listing.problems.sort(key=lambda p: p.index)
        listing.pages = len(counts)
        listing.rows = sum(counts.values())
        listing.total = listing.rows if total is None else total
        verdict, signature, twins = _verdict(listing, totals, identities)
        return _Walk(listing, reason or verdict, signature, twins)

    # -- the six endpoints --------------------------------------------------------

    async def service_assets(self, boil: Boil[ServiceAsset, Any] = list) -> Listing[Any]:
        return await self.walk("getserviceasset", "ServiceAssetInfos", ServiceAsset, boil=boil)

    async def timbres(self, boil: Boil[TimbreAsset, Any] = list) -> Listing[Any]:
        return await self.walk("describetimbre", "TimbreAssets", TimbreAsset, boil=boil)

    async def anchors(self, type_code: str) -> Listing[AnchorRecord]:
        return await self.walk(
            "getanchor", "Virtualmans", AnchorRecord, {"VirtualmanTypeCode": type_code}
        )

    async def images(self, type_code: str, boil: Boil[ImageAsset, Any] = list) -> Listing[Any]:
        return await self.walk(
            "getimagebyanchor",
            "Virtualmans",
            ImageAsset,
            {"VirtualmanTypeCode": type_code},
            boil=boil,
        )

    async def small_sample_images(self, boil: Boil[SmallSampleImage, Any] = list) -> Listing[Any]:
        return await self.walk(
            "describesmallsampleimage", "Virtualmans", SmallSampleImage, boil=boil
        )

    async def actions(self, virtualman_key: str) -> Listing[Action]:
        got = await self.call("getaction", {"VirtualmanKey": virtualman_key})
        records, problems = parse_records(got.get("Actions"), Action)
        rows = len(got["Actions"]) if isinstance(got.get("Actions"), list) else len(records)
        return Listing(records=records, problems=problems, pages=1, total=rows, rows=rows)


def _transport_text(exc: httpx.TransportError) -> str:
    """What failed on the way, in words an operator can act on.

    httpx-aiohttp maps every aiohttp connection error to ``httpx.ConnectTimeout``
    (its table maps ``ClientConnectionError`` first), so a refused port, a failed
    certificate check or a dropped connection would read "timed out": the aiohttp
    error it was raised from says what it was. A real timeout is one of
    :class:`TimeoutError`."""
    cause = exc.__cause__
    if isinstance(exc, httpx.TimeoutException):
        if cause is None or isinstance(cause, TimeoutError):
            return f"timed out ({type(exc).__name__})"
        return f"{type(cause).__name__}: {cause}"
    return f"{type(exc).__name__}: {exc}"


def default_tls_context() -> ssl.SSLContext:
    """The system CAs' client context aiohttp builds at import for its verified requests
    (``ssl.create_default_context()``, ALPN http/1.1): shared, not a copy of the same
    bundle built again (~0.8 MB resident each); built here if aiohttp has none."""
    made = getattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", None)
    return made if isinstance(made, ssl.SSLContext) else ssl.create_default_context()


def shared_clients(
    accounts: Sequence[Account],
    config: ClientConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    observer: Callable[[str], CallObserver | None] = lambda _: None,
) -> dict[str, IVHClient]:
    """One client per account, sharing one TLS context and one bound on requests in
    flight across accounts (a fleet must not open thousands of sockets at once)."""
    context = default_tls_context()
    in_flight = asyncio.Semaphore(config.max_in_flight_total)
    return {
        a.name: IVHClient(
            a,
            config,
            transport=transport,
            observer=observer(a.name),
            ssl_context=context,
            in_flight=in_flight,
        )
        for a in accounts
    }


_Built = tuple[httpx.URL, str, dict[str, str]]
#: what httpx builds for a path (``_built``), by base URL, path and client headers
_BUILT: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Built] = {}
_BUILT_MAX = 1024


def _built(http: httpx.AsyncClient, path: str) -> _Built:
    """The URL httpx builds for a POST to ``path`` (with and without its query) and
    its headers but Content-Length. Building a request costs httpx some 100 us of URL
    parsing and merging, and a new client (every account of a fleet, on its first
    cycle) needs one for each endpoint; the result depends only on the base URL, the
    path and the client's headers (and on cookies and default query parameters, which
    our clients have none of: with any, it is built for that client alone), so
    clients alike share it."""
    if http.cookies or http.params:
        return _build(http, path)
    key = (str(http.base_url), path, tuple(http.headers.multi_items()))
    found = _BUILT.get(key)
    if found is None:
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        found = _BUILT[key] = _build(http, path)
    return found


def _build(http: httpx.AsyncClient, path: str) -> _Built:
    request = http.build_request("POST", path, content=b"")
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return request.url, str(request.url.copy_with(query=None)), headers


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class _Inflater:
    """Content-Encoding decoding (gzip, deflate, identity) that never produces much
    more than it is asked for. Unknown codings are ignored, as httpx does; bytes
    after the end of the compressed body (other than further gzip members) and a
    body that ends early are errors."""

    def __init__(self, codings: Sequence[str]) -> None:
        known = [c.strip().lower() for c in codings]
        known = [c for c in known if c in ("gzip", "x-gzip", "deflate")]
        if len(known) > 1:
            raise zlib.error(f"stacked Content-Encoding {', '.join(known)}")
        self._deflate = bool(known) and known[0] == "deflate"
        self._fed = False
        self._z: Any = None
        if self._deflate:
            self._z = zlib.decompressobj()  # zlib-wrapped; raw deflate is tried on error
        elif known:
            self._z = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)

    def feed(self, data: bytes, room: int) -> bytes:
        """At most ``room + 1`` bytes of output: one more than the room says "too big"."""
        if self._z is None or not data:
            return data
        first, self._fed = not self._fed, True
        try:
            out = bytes(self._z.decompress(data, max(room, 0) + 1))
        except zlib.error:
            if not (first and self._deflate):
                raise
            # some servers send raw deflate under "deflate" (RFC 9110 says zlib), as
            # httpx also tolerates
            self._z = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
            out = bytes(self._z.decompress(data, max(room, 0) + 1))
        while self._z.eof and self._z.unused_data and len(out) <= room:
            rest = self._z.unused_data
            if self._deflate or not b"\x1f\x8b".startswith(rest[:2]):
                raise zlib.error("data after the end of the compressed body")
            self._z = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)  # the next gzip member
            out += self._z.decompress(rest, max(room - len(out), 0) + 1)
        return out

    def flush(self) -> bytes:
        if self._z is None:
            return b""
        if self._fed and not self._z.eof:
            raise zlib.error("the compressed body ends early")
        return bytes(self._z.flush())


def _decode(raw: bytes) -> Any:
    try:
        data = json.loads(raw)
        # "\ud800" is valid JSON but no character: json.loads keeps it as a lone
        # surrogate, which no UTF-8 output (sqlite, a reply body) can encode. Only
        # a body spelling a \uD... escape can hold one: U+FFFD here, at the edge.
        return _no_surrogates(data) if b"\\ud" in raw or b"\\uD" in raw else data
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_no_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_no_surrogates(k): _no_surrogates(v) for k, v in value.items()}
    return value


def _verdict(
    listing: Listing[Any],
    totals: Mapping[int, int | None],
    identities: Mapping[int, Sequence[object]],
) -> tuple[str | None, int, bool]:
    """What is wrong with a walk (``None``: complete), a signature of the rows it
    delivered (as a multiset: the same rows whatever the page boundaries), and whether
    every row seen on two pages is keyless (then they may be twins)."""
    seen: set[object] = set()
    repeats: set[object] = set()
    for index in sorted(identities):
        ids = set(identities[index])
        repeats |= seen & ids
        seen |= ids
    twins = all(isinstance(r, str) for r in repeats)
    signature = 0
    if repeats and twins:  # only then is it compared with another walk's
        counted = Counter(i for ids in identities.values() for i in ids)
        signature = hash(tuple(sorted((str(k), n) for k, n in counted.items())))
    if len({t for t in totals.values() if t is not None}) > 1:
        return "total_changed", signature, twins
    if repeats:
        return "repeated", signature, twins
    if listing.rows < listing.total:
        return "short", signature, twins
    if listing.rows > listing.total:
        return "extra", signature, twins
    return None, signature, twins


def _total(value: object) -> int | None:
    """``Total`` as a count; ``None`` when absent or unreadable (not a whole number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float):
        return max(int(value), 0) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return max(int(value.strip()), 0)
    return None


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _request_id(header: object) -> str | None:
    if isinstance(header, dict):
        rid = header.get("RequestID") or header.get("RequestId")
        if isinstance(rid, str) and rid:
            return rid[:128]
    return None


def _message(header: object) -> str | None:
    if isinstance(header, dict):
        msg = header.get("Message")
        if isinstance(msg, str) and msg:
            return msg[:500]
    return None
