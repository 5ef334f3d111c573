"""Structured concurrency for fan-outs: no request outlives the work that needed it."""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["Throttled", "all_or_cancel", "reap"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


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


class Throttled(Generic[K, T]):
    """``fn(key)`` for each key started, at most ``width`` of them running at once, in
    the order they were started; each key's outcome is the future ``futures[key]``
    (a key started twice is fetched once).

    A key waiting for its turn is an entry in a queue, not a task: a task per key
    would hold a chain of suspended coroutines each (the client's call path, down to
    the account's semaphore), some 3,000 chains and 30,000 coroutines at 100 accounts,
    all of which every full garbage collection walks while it stops the daemon.
    Cancelling a key's future cancels its call; :meth:`aclose` cancels everything not
    finished and waits for it to end.
    """

    def __init__(self, fn: Callable[[K], Awaitable[T]], width: int) -> None:
        self._fn = fn
        self._width = max(1, width)
        self._queue: deque[K] = deque()
        self._running: set[asyncio.Future[T]] = set()
        self._closed = False
        self.futures: dict[K, asyncio.Future[T]] = {}

    def start(self, keys: Iterable[K]) -> None:
        loop = asyncio.get_running_loop()
        for key in keys:
            if key not in self.futures:
                self.futures[key] = loop.create_future()
                self._queue.append(key)
        self._launch()

    def _launch(self) -> None:
        while self._queue and len(self._running) < self._width and not self._closed:
            key = self._queue.popleft()
            future = self.futures[key]
            if future.done():
                continue  # cancelled while it waited: never called
            task = asyncio.ensure_future(self._fn(key))
            self._running.add(task)
            task.add_done_callback(functools.partial(self._landed, future))
            future.add_done_callback(functools.partial(_cancel, task))

    def _landed(self, future: asyncio.Future[T], task: asyncio.Future[T]) -> None:
        self._running.discard(task)
        if task.cancelled():
            future.cancel()
        elif (exc := task.exception()) is not None:  # retrieved here, whoever waits
            if not future.done():
                future.set_exception(exc)
        elif not future.done():
            future.set_result(task.result())
        self._launch()

    async def aclose(self) -> None:
        """Cancel what has not finished (queued or running) and wait for it to end."""
        self._closed = True
        self._queue.clear()
        await reap([*self._running, *self.futures.values()])


def _cancel(task: asyncio.Future[Any], future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        task.cancel()
