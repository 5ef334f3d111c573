"""``ivh-monitor alerts list`` and ``ivh-monitor alerts test``."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import TextIO

from rich.table import Table
from rich.text import Text

from monitor.alerts.channels import build_channel
from monitor.alerts.records import Alert, Notification
from monitor.alerts.store import StateStore
from monitor.config import Settings
from monitor.console import table_console
from monitor.errors import ConfigError
from monitor.text import json_text, printable

__all__ = ["list_alerts", "send_test"]


def _store(settings: Settings) -> StateStore | None:
    """The daemon's state store; ``None`` when it has none yet (a fresh state dir)."""
    path = settings.effective_state_dir() / "state.sqlite3"
    if not path.exists():
        return None
    return StateStore(path)


def _text(text: str, style: str = "") -> Text:
    # names, summaries (which quote them) and receivers' answers are outside text:
    # a Text is never parsed as markup, printable() leaves no control character
    return Text(printable(text), style=style)


def list_alerts(
    settings: Settings, out: TextIO, *, fmt: str = "table", err: TextIO | None = None
) -> int:
    store = _store(settings)
    if store is None:
        err = err if err is not None else sys.stderr
        # not a configuration error: the daemon has simply not kept any state here yet
        where = settings.effective_state_dir()
        err.write(
            printable(
                f"ivh-monitor: no alert state in {where} yet: no alerts so far (the daemon"
                " writes it once it runs with this state_dir)"
            )
            + "\n"
        )
        rows, pending, dead = [], [], []
    else:
        try:
            rows = store.alerts()
            pending = store.outbox(states=("pending",))
            dead = store.outbox(states=("dead",), limit=20)
        finally:
            store.close()
    if fmt == "json":
        out.write(
            json_text(
                {
                    "alerts": [
                        {
                            "status": r.alert.status,
                            "rule": r.alert.rule,
                            "severity": r.alert.severity,
                            "account": r.alert.account,
                            "kind": r.alert.kind,
                            "asset": r.alert.asset,
                            "summary": r.alert.annotations.get("summary", ""),
                            "started_at": r.started_at.isoformat(),
                            "last_notified_at": r.last_notified_at.isoformat()
                            if r.last_notified_at
                            else None,
                            "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
                            "resolve_reason": r.alert.resolve_reason,
                        }
                        for r in rows
                    ],
                    "pending_notifications": len(pending),
                    "dead_notifications": [
                        {"id": e.id, "channel": e.channel, "error": e.last_error} for e in dead
                    ],
                },
                indent=2,
            )
        )
        out.write("\n")
        return 0
    console = table_console(out)
    table = Table(title="ivh-monitor alerts")
    for column in ("status", "severity", "rule", "account", "asset", "summary", "since"):
        table.add_column(column, overflow="fold")
    for r in sorted(rows, key=lambda r: (r.alert.status != "firing", r.alert.severity)):
        style = {"critical": "red", "warning": "yellow"}.get(r.alert.severity, "")
        firing = r.alert.status == "firing"
        table.add_row(
            *(
                _text(cell)
                for cell in (
                    "firing" if firing else f"resolved ({r.alert.resolve_reason})",
                    r.alert.severity,
                    r.alert.rule,
                    r.alert.account,
                    r.alert.asset or "-",
                    r.alert.annotations.get("summary", ""),
                    r.started_at.strftime("%Y-%m-%d %H:%M UTC"),
                )
            ),
            style=style if firing else "dim",
        )
    console.print(table)
    console.print(_text(f"{len(pending)} notification(s) pending delivery"))
    for e in dead:
        console.print(_text(f"dead-lettered: {e.channel} {e.id}: {e.last_error}", style="red"))
    return 0


async def send_test(settings: Settings, only: str | None, out: TextIO = sys.stdout) -> int:
    """A test message to each channel (or one); exit 1 if any was not delivered."""
    alerts = settings.effective_alerts()
    configs = [c for c in alerts.channels if only is None or c.name == only]
    if not alerts.channels:
        raise ConfigError(
            [
                "alerts.channels: no channel configured, so there is nothing to test; add one"
                " under alerts.channels (or set IVH_MONITOR_ALERT_WEBHOOK_URL)"
            ]
        )
    if not configs:
        names = ", ".join(c.name for c in alerts.channels) or "none configured"
        raise ConfigError([f"alerts.channels: no channel {only!r} (channels: {names})"])
    now = datetime.now(UTC)
    sample = Alert(
        rule="expiring",
        account="test",
        kind="service",
        asset="test",
        severity="warning",
        status="firing",
        starts_at=now,
        labels={
            "alertname": "IVHMonitorTest",
            "severity": "warning",
            "rule": "expiring",
            "account": "test",
            "kind": "service",
            "asset": "test",
        },
        annotations={
            "summary": "ivh-monitor test message / 测试消息",
            "description": "If you can read this, the channel works.",
            "action": "Nothing to do.",
        },
    )
    failed = 0
    for config in configs:
        channel = build_channel(config)
        try:
            report = await channel.send(
                Notification(
                    id=str(uuid.uuid4()),
                    channel=config.name,
                    reason="test",
                    created_at=now,
                    alerts=(sample,),
                    language=alerts.language,
                )
            )
        finally:
            await channel.aclose()
        ok = report.outcome == "delivered"
        failed += not ok
        detail = "" if ok else f": {report.result.detail}"  # the receiver's words
        line = f"{config.name} ({config.type}, {channel.masked_url()}): {report.outcome}{detail}"
        out.write(printable(line) + "\n")
    return 1 if failed else 0
