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
from typing import Any, TextIO

from aiohttp import web
from pydantic import SecretStr

from monitor.config import Account, Settings, load_settings
from monitor.simulator import DEMO_ACCOUNTS, Dataset

__all__ = [
    "DEMO_SCHEDULE",
    "DEMO_TENANT",
    "burn_hours",
    "demo_alerts",
    "demo_settings",
    "run_sink",
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
        "rules": {"hours_depleting": {"min_history_hours": 0.01}},
    }


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
