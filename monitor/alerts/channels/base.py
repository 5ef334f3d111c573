"""The channel interface and the HTTP sender every kind builds on.

A send is: filter the notification (rules, severity, resolved) → build one or
more *parts* (a message too long for the service is split) → for each part
sign, wait for the target's rate limiter, POST, classify the answer.

Partial delivery
----------------
Each part has a stable ``key`` (its position and a digest of its unsigned
payload). :class:`SendReport` lists the keys delivered so far; pass them back
as ``delivered_parts`` when retrying the same notification and those parts are
skipped; ``on_part`` tells the caller each one as it is accepted, so it can
record it at once (the dispatcher writes it to the outbox). The channel also
remembers them itself (in memory, per notification id) so a retry in the same
process skips them even if the caller forgets. After a restart without the
caller's record, parts are sent again: delivery is at-least-once, never
at-most-once.

Deadline
--------
Each POST is bounded by the channel's ``timeout_seconds`` from connecting to
the last byte of the answer (httpx's timeouts bound each read only, so a
receiver dripping its answer would hold it for ever); running out is a
retryable failure. At most ``_ANSWER_MAX`` (64 KiB) of the answer is read, then
the connection is dropped: a receiver sending a huge or endless body gets its
status judged (2xx delivered where the kind needs no body), and a verdict that
needs the body (a chat robot's JSON error code) is a retryable "answer too
large". Chat channels stop at the first failing
part (keeps messages in order and does not hammer a rate-limited robot);
Alertmanager posts to every instance regardless.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import hashlib
import json
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
import structlog

from monitor import __version__
from monitor.alerts.channels.config import _ChannelBase
from monitor.alerts.channels.limits import TargetLimiters
from monitor.alerts.records import SEVERITY_ORDER, DeliveryOutcome, DeliveryResult, Notification
from monitor.log import SecretScrubber

__all__ = ["Channel", "Clock", "PartResult", "PartsDelivered", "SendReport"]

_log = structlog.get_logger("monitor.alerts.channels")


@cache
def _tls_context() -> ssl.SSLContext:
    """The TLS context of every channel's client: the one httpx would build for each
    (certifi's bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as httpx reads them),
    built once; each copy of the bundle costs ~1.3 MB resident."""
    return httpx.create_ssl_context()


#: seconds since the epoch; injected so tests pin signatures and endsAt
Clock = Callable[[], float]
#: told the keys of the parts delivered so far (see ``Channel.send``)
PartsDelivered = Callable[[frozenset[str]], None]

_MEMORY_SIZE = 1024  # notifications whose delivered parts we remember in process
_DETAIL_MAX = 300  # characters of a receiver's answer kept in a detail
#: bytes of a receiver's answer read at most (chat robots answer a few dozen)
_ANSWER_MAX = 64 * 1024
#: headers of the answer as sent, not of the capped, decoded copy that is classified
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class PartResult:
    """The verdict on one part (one message / one Alertmanager instance)."""

    key: str
    index: int  # 1-based position among the notification's parts
    result: DeliveryResult


@dataclass(frozen=True, slots=True)
class SendReport:
    """What became of one notification on one channel.

    ``result`` is the verdict for the whole notification: ``delivered`` only if
    every part is; otherwise ``retry`` if any failed part may succeed later (with
    the longest ``retry_after`` asked for), else ``permanent`` or ``too_long``
    (treat ``too_long`` as permanent: splitting was already tried).
    """

    result: DeliveryResult
    #: parts attempted by this call, in order (skipped/unattempted parts absent)
    parts: tuple[PartResult, ...]
    #: keys of every part known delivered, from this call and earlier ones
    delivered_parts: frozenset[str]
    total_parts: int

    @property
    def outcome(self) -> DeliveryOutcome:
        return self.result.outcome


@runtime_checkable
class Channel(Protocol):
    """An alert channel: ``await channel.send(notification)``."""

    @property
    def name(self) -> str:
        """The configured channel name."""
        ...

    @property
    def kind(self) -> str:
        """``webhook``, ``alertmanager``, ``wecom``, ``dingtalk``, ``feishu`` or ``slack``."""
        ...

    def masked_url(self) -> str:
        """The target, credentials masked: the only form fit for logs."""
        ...

    def select(self, notification: Notification) -> Notification | None:
        """The notification reduced to what this channel wants, or None if nothing."""
        ...

    async def send(
        self,
        notification: Notification,
        *,
        delivered_parts: Collection[str] = (),
        on_part: PartsDelivered | None = None,
    ) -> SendReport:
        """Deliver (never raises for a network or receiver failure).

        ``on_part`` is called with the keys delivered so far each time a part is
        accepted while others remain, so the caller can record them at once.
        """
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Part:
    key: str
    payload: Any  # JSON-able, unsigned
    #: (title, body) the part was built from, so a "too long" answer can re-split it
    text: tuple[str, str] | None = None
    url: str | None = None  # a target other than the channel's URL (Alertmanager)


def dumps(payload: Any) -> bytes:
    """The JSON we send (compact, UTF-8): what limits are measured on."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def rfc3339(value: datetime) -> str:
    """Go's ``time.Time`` JSON form in UTC: ``2024-05-01T08:00:00.5Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def part_key(index: int, total: int, payload: Any) -> str:
    return f"{index}/{total}:{hashlib.sha256(dumps(payload)).hexdigest()[:12]}"


def retry_after(response: httpx.Response, now: float) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date), None if absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def json_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def classify_status(response: httpx.Response, now: float, service: str) -> DeliveryResult:
    """The HTTP-level verdict: 2xx delivered, 408/429/5xx retry, anything else permanent."""
    status = response.status_code
    answer = response.text[:_DETAIL_MAX].strip()
    if 200 <= status < 300:
        return DeliveryResult("delivered", code=status)
    if status in (408, 429) or status >= 500:
        return DeliveryResult(
            "retry",
            detail=f"{service} answered HTTP {status}: {answer}".rstrip(": "),
            retry_after=retry_after(response, now),
            code=status,
        )
    if 300 <= status < 400:
        return DeliveryResult(
            "permanent",
            detail=f"{service} answered HTTP {status} (a redirect; not followed: fix the URL)",
            code=status,
        )
    if status == 410:
        return DeliveryResult(
            "permanent", detail=f"endpoint gone: {service} answered HTTP 410", code=status
        )
    return DeliveryResult(
        "permanent",
        detail=f"{service} refused with HTTP {status}: {answer}".rstrip(": "),
        code=status,
    )


def _merge(first: DeliveryResult | None, new: DeliveryResult) -> DeliveryResult:
    """The notification's verdict so far: any retry wins (longest wait); else the first."""
    if first is None:
        return new
    if new.outcome == "retry" and first.outcome != "retry":
        return new
    if new.outcome == first.outcome == "retry":
        waits = [w for w in (first.retry_after, new.retry_after) if w is not None]
        return dataclasses.replace(first, retry_after=max(waits) if waits else None)
    return first


class HTTPChannel:
    """Common machinery; a kind supplies ``_parts``, ``_request`` and ``_classify``."""

    kind: ClassVar[str]
    #: stop at the first failed part (chat: keep order, spare a throttled robot)
    _stop_on_failure: ClassVar[bool] = True
    #: name of the service in details ("WeCom", "DingTalk", …)
    _service: ClassVar[str]

    def __init__(
        self,
        config: _ChannelBase,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.time,
        limiters: TargetLimiters | None = None,
    ) -> None:
        self.name = config.name
        self._config = config
        self._clock = clock
        self._scrubber = SecretScrubber(config.secret_values())
        proxy = None
        if transport is None and config.proxy is not None:
            proxy = config.proxy.get_secret_value()
        self._client = httpx.AsyncClient(
            transport=transport,
            proxy=proxy,
            verify=_tls_context() if transport is None else True,
            timeout=config.timeout_seconds,
            follow_redirects=False,  # a redirected webhook is a misconfiguration, not success
            headers={
                "User-Agent": f"ivh-monitor/{__version__}",
                **{k: v.get_secret_value() for k, v in config.headers.items()},
            },
        )
        self._limiter = None
        if limiters is not None:
            self._limiter = limiters.for_target(self.kind, self._target_key())
        self._memory: OrderedDict[str, frozenset[str]] = OrderedDict()

    # -- what a kind provides --------------------------------------------------------

    def _target_key(self) -> str:
        """What identifies the target for rate limiting (the robot, not the host)."""
        return self._config.masked_url() + "\x00" + "\x00".join(self._config.secret_values())

    def _parts(self, notification: Notification) -> list[_Part]:
        raise NotImplementedError

    def _request(
        self, part: _Part, notification: Notification
    ) -> tuple[str, bytes, dict[str, str]]:
        """URL, body and extra headers of one attempt (signatures are made here)."""
        raise NotImplementedError

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        raise NotImplementedError

    def _resplit(self, part: _Part) -> list[_Part]:
        """Smaller parts for a part the service called too long ([] if not possible)."""
        return []

    # -- the public face ---------------------------------------------------------------

    def masked_url(self) -> str:
        return self._config.masked_url()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, target={self.masked_url()!r})"

    async def __aenter__(self) -> HTTPChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def select(self, notification: Notification) -> Notification | None:
        cfg = self._config
        language = cfg.language or notification.language
        # a test message must get through every filter; a digest was made for this channel
        if notification.reason in ("test", "digest"):
            return dataclasses.replace(notification, language=language)
        floor = SEVERITY_ORDER[cfg.min_severity]
        alerts = tuple(
            a
            for a in notification.alerts
            if (not cfg.rules or a.rule in cfg.rules)
            and SEVERITY_ORDER[a.severity] >= floor
            and (cfg.send_resolved or a.status == "firing")
        )
        if not alerts:
            return None
        return dataclasses.replace(notification, alerts=alerts, language=language)

    async def send(
        self,
        notification: Notification,
        *,
        delivered_parts: Collection[str] = (),
        on_part: PartsDelivered | None = None,
    ) -> SendReport:
        log = _log.bind(
            channel=self.name,
            kind=self.kind,
            target=self.masked_url(),
            notification_id=notification.id,
        )
        selected = self.select(notification)
        if selected is None:
            log.debug("channel.skipped", reason="no alert passes this channel's filters")
            return SendReport(
                DeliveryResult("delivered", detail="nothing for this channel after its filters"),
                (),
                frozenset(delivered_parts),
                0,
            )
        parts = self._parts(selected)
        done = set(delivered_parts) | self._memory.get(notification.id, frozenset())
        attempts: list[PartResult] = []
        failure: DeliveryResult | None = None
        started = time.monotonic()
        for index, part in enumerate(parts, 1):
            if part.key in done:
                continue
            if failure is not None and self._stop_on_failure:
                break
            result = await self._deliver(part, selected, done)
            attempts.append(PartResult(part.key, index, result))
            if result.outcome == "delivered":
                done.add(part.key)
                if on_part is not None and any(p.key not in done for p in parts):
                    on_part(frozenset(done))
            else:
                failure = _merge(failure, result)
        delivered = sum(p.key in done for p in parts)
        duration = round(time.monotonic() - started, 3)
        if failure is None:
            self._memory.pop(notification.id, None)
            log.debug("channel.sent", parts=len(parts), sent=len(attempts), duration_s=duration)
            last = attempts[-1].result if attempts else DeliveryResult("delivered")
            detail = f"{len(parts)} message(s)" if len(parts) > 1 else last.detail
            return SendReport(
                DeliveryResult("delivered", detail=detail, code=last.code),
                tuple(attempts),
                frozenset(done),
                len(parts),
            )
        self._remember(notification.id, frozenset(done))
        if len(parts) > 1:
            failed = next(p for p in attempts if p.result.outcome != "delivered")
            failure = dataclasses.replace(
                failure,
                detail=f"part {failed.index}/{len(parts)}: {failure.detail}"
                f" ({delivered}/{len(parts)} parts delivered)",
            )
        # the dispatcher logs the canonical alert.delivery_failed line; this one
        # adds the per-part view
        log.info(
            "channel.send_failed",
            outcome=failure.outcome,
            code=failure.code,
            detail=failure.detail,
            retry_after=failure.retry_after,
            parts=len(parts),
            parts_delivered=delivered,
            duration_s=duration,
        )
        return SendReport(failure, tuple(attempts), frozenset(done), len(parts))

    # -- internals ------------------------------------------------------------------

    def _remember(self, notification_id: str, keys: frozenset[str]) -> None:
        self._memory[notification_id] = keys
        self._memory.move_to_end(notification_id)
        while len(self._memory) > _MEMORY_SIZE:
            self._memory.popitem(last=False)

    async def _deliver(
        self, part: _Part, notification: Notification, done: set[str]
    ) -> DeliveryResult:
        result = await self._post(part, notification)
        if result.outcome != "too_long":
            return result
        # our byte count said it fits but the service disagrees: halve it once
        smaller = self._resplit(part)
        if not smaller:
            return result
        for piece in smaller:
            if piece.key in done:
                continue
            piece_result = await self._post(piece, notification)
            if piece_result.outcome != "delivered":
                return piece_result
            done.add(piece.key)
        return DeliveryResult(
            "delivered", detail=f"re-split into {len(smaller)} after: {result.detail}"
        )

    async def _post(self, part: _Part, notification: Notification) -> DeliveryResult:
        if self._limiter is not None:
            await self._limiter.acquire()
        url, body, headers = self._request(part, notification)
        deadline = self._config.timeout_seconds
        # the answer is read up to _ANSWER_MAX bytes (decoded), uncompressed if the
        # receiver obliges: a huge or endless body costs a bounded read, not memory
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity", **headers}
        try:
            # httpx's timeouts bound each read, so a receiver that drips its answer
            # could hold the delivery for ever: bound the whole exchange, from
            # connecting to the last byte of the body
            async with asyncio.timeout(deadline):
                stream = self._client.stream("POST", url, content=body, headers=headers)
                async with stream as streamed:
                    answer, complete = await _read_capped(streamed, _ANSWER_MAX)
        except TimeoutError:
            return DeliveryResult(
                "retry", detail=f"{self._service}: no complete answer within {deadline:g} s"
            )
        except httpx.TimeoutException as exc:
            return DeliveryResult(
                "retry", detail=f"{self._service}: timed out ({type(exc).__name__})"
            )
        except httpx.HTTPError as exc:
            # exception texts may quote the URL: scrub before it goes anywhere
            detail = self._scrubber.scrub(f"{self._service}: {type(exc).__name__}: {exc}")
            return DeliveryResult("retry", detail=detail)
        plain = [(k, v) for k, v in streamed.headers.multi_items() if k not in _FRAMING]
        response = httpx.Response(
            streamed.status_code, headers=plain, content=answer, request=streamed.request
        )
        result = self._classify(response)
        if not complete and 200 <= response.status_code < 300 and result.outcome != "delivered":
            # the status says yes but the verdict needs the body (a chat robot's JSON
            # errcode), which was cut off: the receiver may answer briefly next time
            result = DeliveryResult(
                "retry",
                detail=f"{self._service}: answer too large (over {_ANSWER_MAX // 1024} KiB),"
                f" HTTP {response.status_code}",
                code=response.status_code,
            )
        return dataclasses.replace(result, detail=self._scrubber.scrub(result.detail))


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """The (decoded) body up to ``cap`` bytes, and whether that was all of it; the
    rest is never read (leaving the ``stream`` block closes the connection)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        if size + len(chunk) > cap:
            chunks.append(chunk[: cap - size])
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), True


def classify_coded(
    response: httpx.Response,
    now: float,
    service: str,
    *,
    code_keys: tuple[str, ...],
    message_keys: tuple[str, ...],
    known: dict[int, tuple[DeliveryOutcome, str, float | None]],
) -> DeliveryResult:
    """Verdict for a chat robot that answers ``{"<code>": 0, …}`` (errors often with HTTP 200).

    ``known`` maps an error code to (outcome, explanation, retry_after); other
    non-zero codes are permanent. A body without a code falls back to the HTTP
    status; a 2xx body that is not the service's JSON is permanent (a wrong URL
    answered by some other server must not count as delivered).
    """
    body = json_body(response)
    code_value = next((body[k] for k in code_keys if body and k in body), None)
    if body is None or not isinstance(code_value, int):
        result = classify_status(response, now, service)
        if result.outcome == "delivered":
            return DeliveryResult(
                "permanent",
                detail=f"{service} answered HTTP {response.status_code} without its JSON "
                "error code: is the URL right?",
                code=response.status_code,
            )
        return result
    message = next((str(body[k]) for k in message_keys if k in body), "")[:_DETAIL_MAX]
    if code_value == 0:
        return DeliveryResult("delivered", code=0)
    outcome, explanation, wait = known.get(code_value, ("permanent", "", None))
    if outcome == "retry":
        wait = retry_after(response, now) or wait
    detail = f"{service} error {code_value}: {message}"
    if explanation:
        detail += f" — {explanation}"
    return DeliveryResult(outcome, detail=detail, retry_after=wait, code=code_value)
