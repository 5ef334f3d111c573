"""Structured concurrency for fan-outs: no request outlives the work that needed it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

__all__ = ["all_or_cancel", "reap"]

T = TypeVar("T")


async def reap(futures: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel whatever is still running and wait for it to end (its errors retrieved)."""
    pending = list(futures)
    for future in pending:
        future.cancel()  # a no-op on a finished one
    await asyncio.gather(*pending, return_exceptions=True)


async def all_or_cancel(aws: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather``, except that the first failure cancels the others (and
    waits for them) before it propagates: a family that failed leaves no walks
    retrying in the background. Unlike ``TaskGroup`` it raises the error itself,
    not an ``ExceptionGroup``."""
    tasks: list[asyncio.Future[T]] = []
    try:
        tasks.extend(asyncio.ensure_future(a) for a in aws)
        return list(await asyncio.gather(*tasks))
    finally:
        await reap(tasks)
