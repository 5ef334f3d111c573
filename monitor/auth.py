"""Basic auth against the web config's bcrypt hashes, safe to face a network.

bcrypt is slow on purpose (a quarter of a second at cost 12), so:

- **off the loop, bounded**: checks run in a pool of two threads; at most
  ``http.auth_max_pending`` are queued or running, and a request beyond that is
  answered 503 at once (``auth_busy``) instead of waiting in an unbounded queue.
  ``/healthz`` and the rest keep answering while the pool is busy.
- **no user enumeration**: an unknown user is checked against a dummy hash of
  the dearest configured cost, so it costs what a known one does (as
  exporter-toolkit does).
- **throttled per client address**: each address may fail
  ``http.auth_failure_burst`` times, then one more time every
  ``http.auth_failure_refill_seconds`` (a token bucket; an attempt takes a token
  while it is checked, a success gives it back). An address out of tokens is
  answered 429 with ``Retry-After`` for every protected request, a correct
  password included: answering that one would let the guessing go on, now with a
  yes/no for each guess. The address is the TCP peer's: ``X-Forwarded-For`` is
  not trusted (anyone can send it). IPv6 clients are keyed by their /64, which
  one host usually holds whole. The table keeps the 4096 most recent addresses.
- **good credentials cached**: Prometheus sends the same ones every scrape; a
  hit costs an HMAC (keyed per process, so the cache holds no password and
  cannot be probed offline), and the cache holds at most 256 entries.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import bcrypt
from aiohttp import web
from pydantic import SecretStr

from monitor.config import HttpConfig
from monitor.httpguard import Refusals, refused
from monitor.webconfig import bcrypt_cost

__all__ = ["BasicAuth"]

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_CACHE_SIZE = 256
_MAX_CLIENTS = 4096
_WORKERS = 2
#: bcrypt reads 72 bytes of a password at most, and refuses longer ones
_MAX_PASSWORD_BYTES = 72
_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="ivh-monitor", charset="UTF-8"'}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _dummy_hash(cost: int) -> bytes:
    """A well-formed hash of that cost that no password matches (a random digest:
    a match is a 2^-184 chance), built without paying for a bcrypt round."""
    digest = "".join(secrets.choice(_B64) for _ in range(30)) + secrets.choice(_B64[::4])
    return bcrypt.gensalt(cost) + digest.encode()


def client_key(remote: str | None) -> str:
    """The throttle's key for a peer address: the address, or an IPv6 /64."""
    if remote is None:
        return "?"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _credentials(header: str) -> tuple[str, bytes] | None:
    """``(user, password)`` of a Basic ``Authorization`` header; None if malformed."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(value.strip(), validate=True).partition(b":")
        return (user.decode(), password) if colon else None
    except (binascii.Error, UnicodeDecodeError):
        return None


class _Throttle:
    """Token buckets of failed attempts, one per client key, the table bounded."""

    def __init__(self, burst: int, refill_seconds: float, clock: Callable[[], float]) -> None:
        self._burst = float(burst)
        self._refill = refill_seconds
        self._clock = clock
        #: key -> (tokens, when counted); least recently used first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: str, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return self._burst
        tokens, at = entry
        return min(self._burst, tokens + (now - at) / self._refill)

    def retry_after(self, key: str) -> float | None:
        """Seconds until the key may try again, or None if it may now."""
        tokens = self._tokens(key, self._clock())
        return None if tokens >= 1 else (1 - tokens) * self._refill

    def take(self, key: str) -> None:
        now = self._clock()
        self._buckets[key] = (max(0.0, self._tokens(key, now) - 1), now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > _MAX_CLIENTS:
            self._buckets.popitem(last=False)

    def give_back(self, key: str) -> None:
        now = self._clock()
        tokens = self._tokens(key, now) + 1
        if tokens >= self._burst:
            self._buckets.pop(key, None)  # a full bucket is no entry at all
        else:
            self._buckets[key] = (tokens, now)


class BasicAuth:
    """The middleware and what it needs; :meth:`close` at the app's cleanup."""

    def __init__(
        self,
        users: Mapping[str, SecretStr],
        refusals: Refusals,
        limits: HttpConfig,
        *,
        protect_health: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hashes = {u: h.get_secret_value().encode() for u, h in users.items()}
        cost = max(bcrypt_cost(h.decode()) for h in self._hashes.values())
        self._dummy = _dummy_hash(cost)
        self._refusals = refusals
        self._metrics = refusals.metrics
        self._protect_health = protect_health
        self._max_pending = limits.auth_max_pending
        self._pending = 0
        self._throttle = _Throttle(
            limits.auth_failure_burst, limits.auth_failure_refill_seconds, clock
        )
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="bcrypt")

    async def close(self, _: web.Application | None = None) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _token(self, user: str, password: bytes) -> bytes:
        return hmac.new(self._key, user.encode() + b"\x00" + password, hashlib.sha256).digest()

    def _release(self, _: Future[bool]) -> None:
        self._pending -= 1
        if self._metrics is not None:
            self._metrics.checks_in_flight.set(self._pending)

    async def _check(self, password: bytes, hashed: bytes) -> bool:
        loop = asyncio.get_running_loop()
        self._pending += 1
        if self._metrics is not None:
            self._metrics.hash_checks.inc()
            self._metrics.checks_in_flight.set(self._pending)
        job = self._pool.submit(bcrypt.checkpw, password, hashed)

        def done(finished: Future[bool]) -> None:
            # released when the thread is done, not when a gone client's request
            # is: the bound is on work the pool really holds
            with contextlib.suppress(RuntimeError):  # the loop closed at shutdown
                loop.call_soon_threadsafe(self._release, finished)

        job.add_done_callback(done)
        try:
            return await asyncio.wrap_future(job)
        except ValueError:  # refused at load; kept from becoming a 500 all the same
            return False

    async def _verify(self, request: web.Request, key: str) -> web.StreamResponse | None:
        """None when the credentials are good; else the answer to send."""
        header = request.headers.get("Authorization")
        if header is None:
            return web.Response(status=401, text="Unauthorized\n", headers=_CHALLENGE)
        credentials = _credentials(header)
        if credentials is None:
            self._throttle.take(key)
            self._refusals.auth_failed("malformed", request.remote)
            return web.Response(status=401, text="Unauthorized\n", headers=_CHALLENGE)
        user, password = credentials
        token = self._token(user, password)
        if token in self._verified:
            self._verified.move_to_end(token)
            return None
        if self._pending >= self._max_pending:
            self._refusals.refuse("auth_busy", request.remote, pending=self._pending)
            return refused(503, "password checks busy, retry\n", retry_after=1)
        expected = self._hashes.get(user)
        self._throttle.take(key)  # while it is checked: a burst of guesses in parallel
        good = len(password) <= _MAX_PASSWORD_BYTES and await self._check(
            password, expected if expected is not None else self._dummy
        )
        if not good or expected is None:
            self._refusals.auth_failed("invalid", request.remote)
            return web.Response(status=401, text="Unauthorized\n", headers=_CHALLENGE)
        self._throttle.give_back(key)
        self._verified[token] = None
        while len(self._verified) > _CACHE_SIZE:
            self._verified.popitem(last=False)
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._protect_health and request.path in OPEN_PATHS:
            return await handler(request)
        key = client_key(request.remote)
        wait = self._throttle.retry_after(key)
        if wait is not None:
            # before the cache too: a cache lookup is a (cheap) answer to a guess
            self._refusals.refuse("auth_throttled", request.remote, retry_after_s=math.ceil(wait))
            return refused(429, "too many failed logins, retry later\n", retry_after=wait)
        answer = await self._verify(request, key)
        if answer is not None:
            return answer
        return await handler(request)
