"""Shared fixtures: the vendor's documented examples and a clean environment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

FIXTURES = Path(__file__).parent / "fixtures"


def vendor_example(name: str) -> dict[str, Any]:
    """The vendor's documented response for an endpoint (tests/fixtures/README.md)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.response.json").read_text("utf-8"))
    return data


@pytest.fixture(autouse=True)
def _no_ivh_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's own IVH_MONITOR_* variables, and a test that
    runs the CLI (which configures logging) leaves no global logging set-up behind."""
    for key in list(os.environ):
        if key.startswith("IVH_MONITOR_"):
            monkeypatch.delenv(key)
    yield
    structlog.reset_defaults()


# -- the simulator over real HTTP ------------------------------------------------

from collections.abc import AsyncIterator, Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import pytest_asyncio  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from monitor.client import IVHClient  # noqa: E402
from monitor.config import Account, ClientConfig  # noqa: E402
from monitor.simulator import (  # noqa: E402
    Dataset,
    RunningSimulator,
    SimAccount,
    default_dataset,
    run_simulator,
)

TEST_TOKEN = "at-test-7d1e5c0b-never-logged"

#: fast retries so fault tests don't wait on production backoff
FAST = {"backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05, "rate_limit_per_second": 1000}


def sim_account(name: str = "t1", **collections: object) -> SimAccount:
    return SimAccount(name, f"ak-{name}", TEST_TOKEN, **collections)  # type: ignore[arg-type]


def account_for(sim: RunningSimulator, name: str = "t1", token: str = TEST_TOKEN) -> Account:
    return Account(
        name=name,
        appkey=f"ak-{name}",
        access_token=SecretStr(token),
        base_url=sim.url,
        zone=ZoneInfo("Asia/Shanghai"),
        labels={},
    )


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """A simulator with one empty test account ``t1``; tests fill it."""
    async with run_simulator(Dataset([sim_account()])) as running:
        yield running


@pytest_asyncio.fixture
async def demo_sim() -> AsyncIterator[RunningSimulator]:
    """A simulator serving the demo accounts (``DEMO_ACCOUNTS``), dated from now."""
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


@pytest_asyncio.fixture
async def make_client(
    sim: RunningSimulator,
) -> AsyncIterator[Callable[..., IVHClient]]:
    clients: list[IVHClient] = []

    def make(name: str = "t1", token: str = TEST_TOKEN, **config: object) -> IVHClient:
        client = IVHClient(account_for(sim, name, token), ClientConfig(**{**FAST, **config}))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
