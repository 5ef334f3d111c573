"""What one running simulator holds: its dataset, faults, request log, clock and rate limiter.

The vendor endpoints (:mod:`monitor.simulator.api`) and the control API
(:mod:`monitor.simulator.control`) share one :class:`SimState`, stored on the
aiohttp application under :data:`STATE`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from monitor.simulator.dataset import Dataset
from monitor.simulator.faults import FaultRegistry

__all__ = ["STATE", "Clock", "RequestLog", "RequestRecord", "SimState", "TokenBuckets"]

Clock = Callable[[], float]


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


class TokenBuckets:
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
class SimState:
    """The state of one simulator application; ``initial`` is what ``/_sim/reset`` restores."""

    dataset: Dataset
    faults: FaultRegistry
    base_clock: Clock
    latency: float
    limiter: TokenBuckets | None
    initial: Dataset
    log: RequestLog = field(default_factory=RequestLog)
    clock_offset: float = 0.0
    hung: set[asyncio.Task[Any]] = field(default_factory=set)

    def now(self) -> float:
        """The simulated gateway's clock: the base clock plus the offset set by the control API."""
        return self.base_clock() + self.clock_offset


STATE = web.AppKey("monitor.simulator.state", SimState)
