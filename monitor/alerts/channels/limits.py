"""Per-target send rate limits (token buckets), shared within the process.

Every channel object that points at the same robot/webhook draws from one
bucket, so two channel entries for one WeCom robot cannot together exceed its
20 messages a minute. The registry is created by the caller (``main``) and
passed to ``build_channel``; :data:`SHARED_LIMITERS` is the process-wide
default for callers that do not care.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiolimiter import AsyncLimiter

__all__ = ["DOCUMENTED_LIMITS", "SHARED_LIMITERS", "TargetLimiters"]

#: (messages, per seconds) per target, from each service's documentation
DOCUMENTED_LIMITS: Mapping[str, Sequence[tuple[float, float]]] = {
    "wecom": ((20, 60),),  # 20/min per robot; 45009 beyond
    "dingtalk": ((20, 60),),  # 20/min per robot, then ~10 min throttled (130101)
    "feishu": ((5, 1), (100, 60)),  # 5/s and 100/min per bot
    "slack": ((1, 1),),  # 1/s per incoming webhook (short bursts tolerated)
}


class _Buckets:
    """Several buckets that must all grant a token (Feishu: per second AND per minute)."""

    def __init__(self, limits: Sequence[tuple[float, float]]) -> None:
        self.buckets = tuple(AsyncLimiter(n, per) for n, per in limits)

    async def acquire(self) -> None:
        for bucket in self.buckets:
            await bucket.acquire()


class TargetLimiters:
    """Token buckets keyed by (kind, target URL).

    ``limits`` overrides :data:`DOCUMENTED_LIMITS` per kind (tests pass generous
    limits so they never wait). Kinds without limits get no bucket.
    """

    def __init__(self, limits: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> None:
        self._limits = dict(DOCUMENTED_LIMITS if limits is None else limits)
        self._buckets: dict[tuple[str, str], _Buckets] = {}

    def for_target(self, kind: str, target: str) -> _Buckets | None:
        """The shared bucket of ``target`` (the raw URL: it is only a dict key here)."""
        limits = self._limits.get(kind)
        if not limits:
            return None
        key = (kind, target)
        if key not in self._buckets:
            self._buckets[key] = _Buckets(limits)
        return self._buckets[key]


SHARED_LIMITERS = TargetLimiters()
