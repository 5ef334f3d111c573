"""The actions of an account's 3D images are fetched a few at a time: a key waiting its
turn holds no coroutines (a full garbage collection walks every one alive), and the
collection's outcome is what it was with a task per key: every image's actions, the
first failure cancelling the rest, nothing left running afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from monitor.aio import Throttled
from monitor.client import IVHClient, Listing
from monitor.config import ClientConfig
from monitor.errors import HTTPStatusError
from monitor.fetch import collect_account, collect_family
from monitor.simulator import Dataset, Fault, run_simulator
from monitor.vendor import Action
from tests.conftest import FAST, account_for, sim_account

IMAGES = 40


def _dataset() -> Dataset:
    dataset = Dataset([sim_account()])
    account = dataset.account("t1")
    account.replace(
        "images",
        [
            {"VirtualmanKey": f"k{i:03d}", "AnchorCode": "a", "VirtualmanTypeCode": "cartoon_3d"}
            for i in range(IMAGES)
        ],
    )
    account.replace(
        "actions",
        {f"k{i:03d}": [{"ActionCode": f"a{j}"} for j in range(i % 3)] for i in range(IMAGES)},
    )
    return dataset


class _Counting:
    """``client.actions`` that counts the calls alive at once (started, not ended)."""

    def __init__(self, inner: Callable[[str], Awaitable[Listing[Action]]]) -> None:
        self.inner = inner
        self.alive = 0
        self.most = 0
        self.called: list[str] = []

    async def __call__(self, key: str) -> Listing[Action]:
        self.alive += 1
        self.most = max(self.most, self.alive)
        self.called.append(key)
        try:
            return await self.inner(key)
        finally:
            self.alive -= 1


@pytest.mark.parametrize("slots", [1, 3])
async def test_actions_are_fetched_a_few_at_a_time_and_all_arrive(slots: int) -> None:
    async with run_simulator(_dataset()) as sim:
        config = ClientConfig(**{**FAST, "max_concurrency": slots})
        async with IVHClient(account_for(sim), config) as client:
            counting = _Counting(client.actions)
            client.actions = counting  # type: ignore[method-assign, assignment]
            results = await collect_account(client, ["cartoon_3d"])
            keys = [f"k{i:03d}" for i in range(IMAGES)]
            alone = await collect_family(client, "actions", image_keys=keys)
    assert all(r.ok for r in results), [str(r.error) for r in results]
    actions = next(r for r in results if r.family == "actions")
    expected = {f"k{i:03d}": i % 3 for i in range(IMAGES)}
    assert actions.actions == expected
    assert alone.actions == expected
    images = next(r for r in results if r.family == "images")
    assert {a.id: a.actions for a in images.assets} == expected
    # never more calls alive than the account's slots; each image asked once a
    # collection, in the order the walk listed them
    assert counting.most <= slots
    assert counting.called == keys + keys
    assert counting.alive == 0


async def test_a_failing_action_fails_the_family_and_cancels_the_rest() -> None:
    async with run_simulator(_dataset()) as sim:
        sim.faults.add(Fault(kind="http_error", endpoint="getaction", status=400))
        config = ClientConfig(**{**FAST, "max_concurrency": 2, "retries": 0})
        async with IVHClient(account_for(sim), config) as client:
            counting = _Counting(client.actions)
            client.actions = counting  # type: ignore[method-assign, assignment]
            results = await collect_account(client, ["cartoon_3d"])
            calls = [e for e in sim.requests.entries() if e.endpoint == "getaction"]
    actions = next(r for r in results if r.family == "actions")
    assert not actions.ok
    assert isinstance(actions.error, HTTPStatusError)
    # the images still succeed (without actions), and the first failure stopped the
    # queue: far fewer than the 40 images were asked, nothing is left running
    assert next(r for r in results if r.family == "images").ok
    assert len(calls) < IMAGES
    assert counting.alive == 0


async def _slow(key: str, started: list[str], release: asyncio.Event) -> str:
    started.append(key)
    await release.wait()
    if key == "boom":
        raise ValueError(key)
    return key.upper()


async def test_throttled_runs_width_at_once_and_in_order() -> None:
    started: list[str] = []
    release = asyncio.Event()
    fetches: Throttled[str, str] = Throttled(lambda k: _slow(k, started, release), 2)
    fetches.start(["a", "b", "c", "a"])
    fetches.start(["d", "b"])  # started twice: fetched once
    await asyncio.sleep(0.01)
    assert started == ["a", "b"]
    release.set()
    got = await asyncio.gather(*(fetches.futures[k] for k in "abcd"))
    assert got == ["A", "B", "C", "D"]
    assert started == ["a", "b", "c", "d"]
    await fetches.aclose()


async def test_throttled_failure_and_cancellation() -> None:
    started: list[str] = []
    release = asyncio.Event()
    fetches: Throttled[str, str] = Throttled(lambda k: _slow(k, started, release), 1)
    fetches.start(["boom", "x", "y"])
    fetches.futures["y"].cancel()  # cancelled while queued: never called
    release.set()
    with pytest.raises(ValueError, match="boom"):
        await fetches.futures["boom"]
    assert await fetches.futures["x"] == "X"
    assert started == ["boom", "x"]

    hanging: list[str] = []
    never = asyncio.Event()
    stuck: Throttled[str, str] = Throttled(lambda k: _slow(k, hanging, never), 2)
    stuck.start(["p", "q", "r"])
    await asyncio.sleep(0.01)
    stuck.futures["p"].cancel()  # a cancelled future cancels its call; the next starts
    await asyncio.sleep(0.01)
    assert hanging == ["p", "q", "r"]
    await stuck.aclose()  # cancels what runs, waits for it
    assert all(f.cancelled() for f in stuck.futures.values())
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
