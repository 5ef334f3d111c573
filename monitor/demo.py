"""The embedded demo: the simulator, usage that burns hours, and a local alert sink.

``ivh-monitor demo`` runs the real daemon against the simulator's demo
accounts with short intervals; alerts go to a webhook sink on 127.0.0.1 that
prints each one it receives, so the whole path (rules → outbox → channel →
receiver) is visible in one terminal.

Two of the demo accounts belong to one tenant (label ``tenant: acme``, English
and Asia/Singapore): their alerts, and a daily digest, also go to the
tenant's own sink, whose lines read ``[alert sink acme]``; the operator's sink
(``[alert sink]``) gets every alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TextIO

from aiohttp import web
from pydantic import SecretStr

from monitor.config import Account, Settings, load_settings
from monitor.simulator import DEMO_ACCOUNTS, Dataset

if TYPE_CHECKING:
    from monitor.alerts.store import StateStore
    from monitor.daemon import Daemon

__all__ = [
    "DEMO_SCHEDULE",
    "DEMO_TENANT",
    "burn_hours",
    "demo_alerts",
    "demo_settings",
    "run_sink",
    "seed_demo_history",
    "seed_history",
]

#: short intervals so the demo shows changes within a minute or two
DEMO_SCHEDULE = {
    "services_seconds": 20,
    "timbres_seconds": 60,
    "images_seconds": 60,
    "actions_seconds": 300,
    "jitter_seconds": 2,
}

#: (account, ServiceType, hours used per minute of demo time) — the demo's live usage
_BURNERS = (
    ("xinghe-live", "BroadcastHour", 0.4),
    ("horizon-sg", "HalfRealistic3DBroadcastHour", 2.0),
)
#: the seeded history's usual burn at this hour, as a share of the live burn above: at
#: about its usual rate (a weekly forecast, no runaway), and at a fifth of it (the live
#: burn is then a runaway, caught after runaway_burn's sustained_minutes)
_USUAL_SHARE = {"xinghe-live": 1.0, "horizon-sg": 0.2}
#: weeks of history the demo writes before its first sample, five minutes apart
_SEED_WEEKS = 3


#: the demo's tenant: its label value and the accounts that carry it
DEMO_TENANT = ("acme", ("xinghe-live", "horizon-sg"))


def demo_settings(base_url: str, **overrides: Any) -> tuple[Settings, list[Account]]:
    """Settings for the simulator's demo accounts at ``base_url``; two of them are the
    tenant ``acme``'s (label ``tenant: acme``, English, Asia/Singapore)."""
    tenant, members = DEMO_TENANT
    settings = load_settings(
        None,
        accounts=[
            {
                "name": name,
                "appkey": appkey,
                "access_token": SecretStr(token),
                "base_url": base_url,
                "labels": {"tenant": tenant} if name in members else {},
            }
            for name, appkey, token in DEMO_ACCOUNTS
        ],
        tenants=[
            {
                "name": tenant,
                "labels": {"tenant": tenant},
                "messages": {"language": "en", "timezone": "Asia/Singapore"},
            }
        ],
        client={"rate_limit_per_second": 50, "max_concurrency": 8},
        **overrides,
    )
    return settings, settings.resolved_accounts()


async def burn_hours(dataset: Dataset, *, every: float = 10.0) -> None:
    """Use up hours of a few packages, so burn rates and forecasts have something to show."""
    while True:
        await asyncio.sleep(every)
        for account, service_type, per_minute in _BURNERS:
            sim = dataset.find(account)
            if sim is None:
                continue
            for record in sim.records("services"):
                if record.get("ServiceType") != service_type:
                    continue
                detail = record.get("UniversalHourInfoDetail") or {}
                left = int(detail.get("RemainMilliseconds", 0))
                used = int(per_minute * 3_600_000 * every / 60)
                sim.set_service_figures(service_type, RemainMilliseconds=max(left - used, 0))
                break


def demo_alerts(operator_sink: str, tenant_sink: str) -> dict[str, Any]:
    """The demo's alert settings: the operator's sink gets every alert (a default
    route), the tenant's sink its two accounts' alerts and a daily digest."""
    tenant, _ = DEMO_TENANT
    return {
        "channels": [
            {"name": "demo-sink", "type": "webhook", "url": operator_sink},
            {
                "name": f"{tenant}-sink",
                "type": "webhook",
                "url": tenant_sink,
                "labels": {"tenant": tenant},
                # due from midnight: the demo shows the day's digest at once
                "digest": {"at": "00:00", "within_days": 30},
            },
        ],
        # forecasts after minutes of demo history, not hours
        "rules": {
            "hours_depleting": {"min_history_hours": 0.01},
            # the seeded weeks (seed_demo_history) give the weekly model; a runaway
            # is told after five minutes
            "runaway_burn": {"sustained_minutes": 5},
        },
    }


def _seed_rate(t: float, now: float, zone: tzinfo, usual: float) -> float:
    """A weekly rhythm whose peak is at ``now``'s hour of the day: ``usual`` at that hour,
    a third of it twelve hours away, a quarter more on Fridays and Saturdays."""
    local = datetime.fromtimestamp(t, zone)
    hour = datetime.fromtimestamp(now, zone).hour
    away = min(abs(local.hour - hour), 24 - abs(local.hour - hour))
    weekend = 1.25 if local.weekday() in (4, 5) else 1.0
    return usual * weekend * (1 / 3 + (2 / 3) * max(0.0, 1 - away / 12))


def seed_history(
    store: StateStore,
    account: str,
    asset: str,
    first: tuple[float, float],
    *,
    ordered: float,
    zone: tzinfo,
    usual: float,
) -> int:
    """Write ``_SEED_WEEKS`` of made-up history before the ``first`` real sample, with a
    top-up whenever it would exceed ``ordered``; returns the samples written."""
    t_first, remaining = first
    step = 300.0
    rows = []
    left = remaining
    t = t_first
    for _ in range(int(_SEED_WEEKS * 7 * 86400 / step)):
        t -= step
        left += _seed_rate(t, t_first, zone, usual) * step
        if ordered > 0 and left > ordered:
            left -= 0.8 * ordered  # going back in time: a top-up happened here
        rows.append((t, left))
    for at, value in rows:
        store.record_usage(account, [(asset, value)], datetime.fromtimestamp(at, UTC))
    return len(rows)


async def seed_demo_history(daemon: Daemon, *, tries: int = 120) -> None:
    """Once the demo's first services collection recorded its samples, give the burning
    packages weeks of history, so the weekly forecast and a runaway show in minutes."""
    engine, store = daemon.engine, daemon.state
    zones = {a.name: a.zone for a in daemon.accounts}
    for _ in range(tries):
        await asyncio.sleep(1.0)
        done = 0
        for account, service_type, per_minute in _BURNERS:
            snap = daemon.store.current
            state = snap.families.get((account, "services"))
            if state is None or state.last_success is None:
                continue
            since = state.last_success - timedelta(hours=1)
            history = store.usage(account, since)
            for asset in state.assets:
                if asset.type != service_type or not history.get(asset.id):
                    continue
                seed_history(
                    store,
                    account,
                    asset.id,
                    history[asset.id][0],
                    ordered=asset.ordered_seconds or 0.0,
                    zone=zones.get(account, UTC),
                    usual=per_minute * 60 * _USUAL_SHARE.get(account, 1.0),
                )
                done += 1  # every package of the type: the burner's is one of them
        if done:
            engine.refit()
            return


def _line(alert: dict[str, Any], status: str, name: str | None = None) -> str:
    labels = alert.get("labels", {})
    annotations = alert.get("annotations", {})
    summary = annotations.get("summary", "")
    sink = f"[alert sink {name}]" if name else "[alert sink]"
    if labels.get("rule") == "digest":
        lines = str(annotations.get("description", "")).splitlines()
        body = "".join(f"{sink}     {line}\n" for line in lines)
        return f"{sink} DIGEST   {labels.get('account', '')}: {summary}\n{body}"
    mark = "FIRING  " if status == "firing" else "RESOLVED"
    return f"{sink} {mark} {labels.get('severity', ''):8} {summary}\n"


@contextlib.asynccontextmanager
async def run_sink(
    out: TextIO = sys.stderr, host: str = "127.0.0.1", port: int = 0, *, name: str | None = None
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver that prints what it gets (lines ``[alert sink <name>]``);
    yields (url, received payloads)."""
    received: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="not JSON")
        received.append(payload)
        for alert in payload.get("alerts", []):
            out.write(_line(alert, alert.get("status", ""), name))
        out.flush()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/alerts", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        bound = runner.addresses[0][1]
        yield f"http://{host}:{bound}/alerts", received
    finally:
        await runner.cleanup()
