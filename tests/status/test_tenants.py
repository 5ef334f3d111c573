"""Per-tenant views: ``?label=`` on the page and ``/api/*``, ``/api/groups``, and hostile
query strings refused with one line, over real HTTP on a real (unstarted) daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from monitor.daemon import Daemon
from monitor.demo import DEMO_TENANT, demo_settings
from monitor.domain import FAMILIES
from monitor.simulator import default_dataset, run_simulator
from monitor.status.tenants import parse_group_by, parse_label_filter
from tests.processes import serving

TENANT, MEMBERS = DEMO_TENANT


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Daemon]]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as sim:
        settings, accounts = demo_settings(sim.url, state_dir=str(tmp_path))
        daemon = Daemon(settings, accounts)
        try:
            for account in accounts:
                for family in FAMILIES:
                    await daemon.run_family(account.name, family)
            async with serving(daemon) as url:
                yield url, daemon
        finally:
            await daemon.stop()


async def test_the_label_filter_keeps_one_tenants_accounts(served: tuple[str, Daemon]) -> None:
    url, _ = served
    label = f"tenant:{TENANT}"
    async with httpx.AsyncClient() as http:
        everything = (await http.get(f"{url}/api/assets")).json()
        assets = (await http.get(f"{url}/api/assets", params={"label": label})).json()
        alerts = (await http.get(f"{url}/api/alerts", params={"label": label})).json()
        nobody = (await http.get(f"{url}/api/assets", params={"label": "tenant:nobody"})).json()
        page = await http.get(f"{url}/", params={"label": label})
    assert {a["account"] for a in everything} > set(MEMBERS)
    assert {a["account"] for a in assets} == set(MEMBERS)
    assert len(assets) == sum(1 for a in everything if a["account"] in MEMBERS)
    assert alerts
    assert {a["account"] for a in alerts} <= set(MEMBERS)
    assert nobody == []
    assert page.status_code == 200


async def test_groups_total_hours_expiries_and_alerts(served: tuple[str, Daemon]) -> None:
    url, daemon = served
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{url}/api/groups", params={"group_by": "tenant"})
        one = await http.get(
            f"{url}/api/groups", params={"group_by": "tenant", "label": f"tenant:{TENANT}"}
        )
    assert answer.status_code == 200
    groups = {g["value"]: g for g in answer.json()["groups"]}
    assert set(groups) == {TENANT, ""}
    assert sorted(groups[TENANT]["accounts"]) == sorted(MEMBERS)
    now = daemon.clock()
    assets = [a for a in daemon.store.current.assets(now) if a.account in MEMBERS]
    hours = sum(
        a.remaining_seconds
        for a in assets
        if a.category == "hours"
        and a.remaining_seconds is not None
        and ((left := a.expires_in_seconds(now)) is None or left > 0)
    )
    assert groups[TENANT]["hours_left"] == pytest.approx(hours / 3600, abs=0.01)
    week = sum(
        1 for a in assets if (x := a.expires_in_seconds(now)) is not None and 0 < x <= 7 * 86400
    )
    month = sum(
        1 for a in assets if (x := a.expires_in_seconds(now)) is not None and 0 < x <= 30 * 86400
    )
    assert (
        groups[TENANT]["expiring_within_7_days"],
        groups[TENANT]["expiring_within_30_days"],
    ) == (week, month)
    firing = sum(1 for a in daemon.engine.firing.values() if a.account in MEMBERS)
    assert groups[TENANT]["alerts_firing"] == firing > 0
    assert [g["value"] for g in one.json()["groups"]] == [TENANT]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/assets", {"label": "tenant"}),
        ("/api/assets", {"label": "1bad:x"}),
        ("/api/alerts", {"label": "tenant:"}),
        ("/api/alerts", {"label": "tenant:a b"}),
        ("/api/assets", {"label": "tenant:\x1b[2J"}),
        ("/api/assets", {"label": "tenant:" + "x" * 129}),
        ("/api/assets", {"label": "t" * 64 + ":x"}),
        ("/api/groups", {"group_by": "no-dash"}),
        ("/api/groups", {}),
        ("/", {"label": "<script>:x"}),
        ("/", {"group_by": "a:b"}),
    ],
)
async def test_hostile_filters_are_refused_with_one_line(
    served: tuple[str, Daemon], path: str, params: dict[str, str]
) -> None:
    url, _ = served
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{url}{path}", params=params)
    assert answer.status_code == 400
    line = answer.text if path == "/" else answer.json()["error"] + "\n"
    assert line.count("\n") == 1
    assert line.endswith("\n")
    assert line.startswith(("label: ", "group_by: "))
    # never echoed: the input is not in the answer
    assert "<script>" not in answer.text
    assert "\x1b" not in answer.text


async def test_too_many_label_filters_are_refused(served: tuple[str, Daemon]) -> None:
    url, _ = served
    query = "&".join(f"label=t{i}:x" for i in range(9))
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{url}/api/assets?{query}")
    assert answer.status_code == 400
    assert "at most 8" in answer.json()["error"]


def test_parsers() -> None:
    assert parse_label_filter(["tenant:acme", "team:a:b"]) == (("tenant", "acme"), ("team", "a:b"))
    assert parse_label_filter([]) == ()
    assert parse_group_by(None) is None
    assert parse_group_by("tenant") == "tenant"
    with pytest.raises(ValueError, match=r"^label: "):
        parse_label_filter([":acme"])
