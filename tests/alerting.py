"""Helpers for alert tests: assets, a snapshot, a clock and a capturing webhook."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from monitor.domain import Asset, FamilyResult
from monitor.snapshot import SnapshotStore

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
INTERVALS = {"services": 300.0, "timbres": 1800.0, "images": 1800.0, "actions": 86400.0}


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def service(
    asset_id: str = "BroadcastHour-1",
    *,
    account: str = "acme",
    expires_in_days: float | None = 100,
    remaining_h: float | None = 500,
    ordered_h: float | None = 1000,
    category: str = "hours",
    quota: tuple[int, int] | None = None,
    now: datetime = T0,
) -> Asset:
    return Asset(
        account=account,
        kind="service",
        id=asset_id,
        type=asset_id.split("-", maxsplit=1)[0],
        name=f"package {asset_id}",
        expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
        category=category,  # type: ignore[arg-type]
        ordered_seconds=None if ordered_h is None else ordered_h * 3600,
        remaining_seconds=None if remaining_h is None else remaining_h * 3600,
        quota_limit=None if quota is None else quota[0],
        quota_remaining=None if quota is None else quota[1],
    )


def voice(
    key: str, *, account: str = "acme", expires_in_days: float | None, now: datetime = T0
) -> Asset:
    return Asset(
        account=account,
        kind="timbre",
        id=key,
        type="Boutique",
        name=f"voice {key}",
        expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
    )


def snapshot_store(
    accounts: tuple[str, ...] = ("acme",), stale_after: float = 3600
) -> SnapshotStore:
    return SnapshotStore(accounts, INTERVALS, stale_after)  # type: ignore[arg-type]


def collected(store: SnapshotStore, at: datetime, *assets: Asset, account: str = "acme") -> None:
    """Every family of ``account`` collected successfully with these assets."""
    by_family: dict[str, list[Asset]] = {"services": [], "timbres": [], "images": []}
    for a in assets:
        by_family[{"service": "services", "timbre": "timbres", "image": "images"}[a.kind]].append(a)
    for family, items in by_family.items():
        store.apply(FamilyResult(account, family, assets=tuple(items)), at)  # type: ignore[arg-type]
    store.apply(FamilyResult(account, "actions"), at)


@dataclass
class Receiver:
    """A webhook receiver behind httpx.MockTransport: records bodies, can fail on demand."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.fail_with:
            return httpx.Response(self.fail_with.pop(0), text="receiver down")
        self.bodies.append(json.loads(request.content))
        self.headers.append(dict(request.headers))
        return httpx.Response(200, text="ok")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def alerts(self) -> list[tuple[str, str, str, str]]:
        """(status, rule, asset, severity) of every alert received, in order."""
        return [
            (a["status"], a["labels"]["rule"], a["labels"]["asset"], a["labels"]["severity"])
            for body in self.bodies
            for a in body["alerts"]
        ]
