"""Helpers for multi-tenant tests: local webhook receivers over real HTTP, and a daemon
driven step by step (collections, digests, deliveries) on an injected clock."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.config import Account, Settings, load_settings
from monitor.daemon import Daemon
from monitor.domain import FAMILIES
from monitor.simulator import RunningSimulator


@dataclass
class Hook:
    """One local webhook receiver: every payload it accepted, in order."""

    name: str
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def alerts(self) -> list[dict[str, Any]]:
        return [a for body in self.bodies for a in body["alerts"]]

    def accounts(self) -> set[str]:
        return {a["labels"]["account"] for a in self.alerts()}

    def fired(self) -> list[tuple[str, str, str]]:
        """(account, rule, asset) of each firing alert received, digests left out."""
        return [
            (a["labels"]["account"], a["labels"]["rule"], a["labels"]["asset"])
            for a in self.alerts()
            if a["status"] == "firing" and a["labels"]["rule"] != "digest"
        ]

    def resolved(self) -> list[tuple[str, str, str]]:
        return [
            (a["labels"]["account"], a["labels"]["rule"], a["labels"]["asset"])
            for a in self.alerts()
            if a["status"] == "resolved"
        ]

    def digests(self) -> list[dict[str, Any]]:
        return [
            b for b in self.bodies if b["alerts"] and b["alerts"][0]["labels"]["rule"] == "digest"
        ]


@contextlib.asynccontextmanager
async def receivers(*names: str) -> AsyncIterator[dict[str, Hook]]:
    """A webhook receiver per name on 127.0.0.1, each on its own path of one server."""
    hooks = {n: Hook(n) for n in names}

    async def receive(request: web.Request) -> web.Response:
        hook = hooks.get(request.match_info["name"])
        if hook is None:
            return web.Response(status=404)
        hook.bodies.append(json.loads(await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook/{name}", receive)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    for hook in hooks.values():
        hook.url = f"http://127.0.0.1:{port}/hook/{hook.name}"
    try:
        yield hooks
    finally:
        await runner.cleanup()


def account_config(sim: RunningSimulator, name: str, **extra: Any) -> dict[str, Any]:
    found = sim.dataset.find(name)
    assert found is not None, name
    return {
        "name": name,
        "appkey": found.appkey,
        "access_token": found.access_token,
        "base_url": sim.url,
        **extra,
    }


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def settings_of(config: dict[str, Any], state_dir: Path) -> tuple[Settings, list[Account]]:
    settings = load_settings(
        None,
        **{
            "client": {"retries": 0, "rate_limit_per_second": 1000},
            "state_dir": str(state_dir),
            **config,
        },
    )
    return settings, settings.resolved_accounts()


async def collect(daemon: Daemon, *accounts: str) -> None:
    """Every family of these accounts (all without any) collected once, alerts evaluated."""
    for account in accounts or [a.name for a in daemon.accounts]:
        for family in FAMILIES:
            await daemon.run_family(account, family)


async def deliver(daemon: Daemon) -> int:
    """Deliver everything due now; returns how many notifications were attempted."""
    total = 0
    for _ in range(20):  # bounded: each pass takes up to 500
        done = await daemon.dispatcher.deliver_due()
        total += done
        if not done:
            break
    return total


def loader_of(
    holder: dict[str, Any], state_dir: Path
) -> Callable[[], tuple[Settings, list[Account]]]:
    """A reload source reading ``holder["config"]`` at each reload."""
    return lambda: settings_of(holder["config"], state_dir)
