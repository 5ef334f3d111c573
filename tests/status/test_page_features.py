"""What the page shows of tenants (issue 15), forecasts (16) and the ecosystem fit (17).

Against the real daemon over HTTP where the data can be made real (the demo's
accounts on the simulator: the tenant ``acme``, a refused reload, a family
turned off, voices with their avatar types, a runaway burn after weeks of
seeded history), and against :class:`StatusData` built by hand for the rest
and for the Chinese texts. Every assertion is on what a visitor reads or
follows: texts and links.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from monitor.daemon import Daemon
from monitor.demo import DEMO_TENANT, demo_settings
from monitor.domain import FAMILIES, Asset
from monitor.forecast import Forecast
from monitor.simulator import default_dataset, run_simulator
from monitor.status import fmt
from monitor.status.page import ViewQuery, render_page
from monitor.status.tenants import group_totals
from monitor.status.view import ChannelItem, ReloadHealth, forecast_advice
from tests.burning import ACCOUNT, USUAL, burning_daemon
from tests.processes import serving
from tests.status.test_page import NOW, SHANGHAI, asset, data, parse

TENANT, MEMBERS = DEMO_TENANT


def section(page: str, start: str, end: str = "</table>") -> str:
    assert start in page, start
    return page.split(start, 1)[1].split(end, 1)[0]


def hrefs(fragment: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', fragment)]


def words(fragment: str) -> str:
    """The text a visitor reads: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


# -- the real daemon ---------------------------------------------------------------------


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Daemon]]:
    """The demo's accounts, ``actions`` turned off (``collectors``), every other family
    collected once; no configuration file, so a reload is refused."""
    async with run_simulator(default_dataset(datetime.now(UTC))) as sim:
        settings, accounts = demo_settings(
            sim.url, state_dir=str(tmp_path), collectors={"actions": False}
        )
        daemon = Daemon(settings, accounts)
        try:
            for account in accounts:
                for family in FAMILIES:
                    if family != "actions":
                        await daemon.run_family(account.name, family)
            async with serving(daemon) as url:
                yield url, daemon
        finally:
            await daemon.stop()


async def _get(url: str, **params: str | list[str]) -> str:
    async with httpx.AsyncClient() as http:
        answer = await http.get(url, params=params or None)
    assert answer.status_code == 200, answer.text
    parse(answer.text)
    return answer.text


async def test_the_group_table_totals_each_tenant_and_links_to_its_accounts(
    served: tuple[str, Daemon],
) -> None:
    url, daemon = served
    page = await _get(f"{url}/", group_by="tenant")
    async with httpx.AsyncClient() as http:
        api = (await http.get(f"{url}/api/groups", params={"group_by": "tenant"})).json()
    table = section(page, '<table class="groups">')
    # above the overview
    assert page.index('<table class="groups">') < page.index('<table class="glance">')
    rows = table.split("<tbody>", 1)[1].split("</tr>")[:-1]
    assert len(rows) == len(api["groups"]) == 2
    acme, rest = rows
    expected = api["groups"][0]
    assert expected["value"] == TENANT
    cells = [words(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", acme, re.S)]
    hours = fmt.hours(expected["hours_left"] * 3600, "en")
    assert cells[0] == TENANT
    assert cells[1].startswith(f"{len(MEMBERS)} ")
    assert all(m in cells[1] for m in MEMBERS)
    assert cells[2:] == [
        hours,
        str(expected["expiring_within_7_days"]),
        str(expected["expiring_within_30_days"]),
        str(expected["alerts_firing"]),
    ]
    assert expected["alerts_firing"] > 0
    # one link per group with a value, to its accounts, group_by kept
    assert hrefs(acme) == [f"?label=tenant:{TENANT}&group_by=tenant"]
    assert "(without tenant)" in words(rest)
    assert hrefs(rest) == []
    # following it: the chip, the tenant's accounts only, the group of one
    page = await _get(f"{url}/{hrefs(acme)[0]}")
    shown = re.findall(r'<table class="assets" data-account="([^"]+)"', page)
    assert set(shown) <= set(MEMBERS)
    assert shown
    assert words(section(page, '<table class="groups">')).count(TENANT) >= 1
    assert "(without tenant)" not in page
    assert daemon.store.current.accounts  # the daemon still watches every account


async def test_the_label_filter_is_a_chip_that_clears_and_every_link_keeps_it(
    served: tuple[str, Daemon],
) -> None:
    url, _ = served
    page = await _get(f"{url}/", label=f"tenant:{TENANT}", group_by="tenant")
    chip = section(page, '<p class="filter">', "</p>")
    assert f"Showing the accounts with tenant:{TENANT}" in words(chip)
    assert "clear" in words(chip)
    assert hrefs(chip) == ["?group_by=tenant"]  # the filter dropped, the grouping kept
    kept = f"label=tenant:{TENANT}&group_by=tenant"
    # the sort links of every table carry the filter
    sort_links = [h for h in hrefs(page) if "sort=" in h]
    assert sort_links
    assert all(kept in h for h in sort_links)
    # each account's labels, each a link to the accounts that share it
    labels = section(page, '<p class="labels">', "</p>")
    assert f"tenant: {TENANT}" in words(labels)
    assert f"tenant group {TENANT}" in words(labels)
    assert hrefs(labels) == [f"?label=tenant:{TENANT}&group_by=tenant"]
    # an account's own page: its pager, sort links and the way back keep it too
    member = MEMBERS[0]
    one = await _get(f"{url}/", account=member, label=f"tenant:{TENANT}", group_by="tenant")
    assert hrefs(section(one, '<p class="filter">', "</p>")) == [
        f"?account={member}&group_by=tenant"
    ]
    assert f'<p><a href="{html.escape("?" + kept)}">← All accounts</a></p>' in one
    assert all(kept in h for h in hrefs(one) if "sort=" in h)
    # without the filter: no chip, the clear link's target shows every account
    everything = await _get(f"{url}/", group_by="tenant")
    assert '<p class="filter">' not in everything
    assert len(re.findall(r'<table class="assets"', everything)) > len(MEMBERS)


async def test_a_refused_reload_is_a_failure_banner_with_its_errors(
    served: tuple[str, Daemon],
) -> None:
    url, daemon = served
    before = await _get(f"{url}/")
    assert 'class="banner failure reload-failed"' not in before
    assert "Configuration: loaded at" in before
    applied, errors = await daemon.reload()  # no configuration file to read again
    assert not applied
    page = await _get(f"{url}/")
    banner = section(page, '<div class="banner failure reload-failed" role="alert">', "</div>")
    said = words(banner)
    assert said.startswith("Configuration reload failed at")
    assert "stays in use" in said
    assert errors
    assert all(e in said for e in errors)
    assert "config.reload_failed" in said


async def test_a_family_turned_off_shows_as_off_never_failing_or_pending(
    served: tuple[str, Daemon],
) -> None:
    url, daemon = served
    page = await _get(f"{url}/")
    rows = re.findall(r'<tr class="off">(.*?)</tr>', page, re.S)
    assert len(rows) == len(daemon.accounts)  # one per account's collection table
    for row in rows:
        assert words(row).startswith("3D actions off (collectors)")
    for table in re.findall(
        r"<caption>Last collection of each kind of data</caption>(.*?)</table>", page, re.S
    ):
        actions = [r for r in table.split("</tr>") if "3D actions" in r]
        assert len(actions) == 1
        assert "failing" not in actions[0]
        assert "waiting for the first collection" not in actions[0]


async def test_voices_show_their_avatar_types(served: tuple[str, Daemon]) -> None:
    url, daemon = served
    page = await _get(f"{url}/", account="xinghe-live")
    voice = next(
        a
        for a in daemon.store.current.assets(daemon.clock())
        if a.kind == "timbre" and a.account == "xinghe-live" and len(a.avatar_types) > 3
    )
    found = re.findall(r'<span class="avatar-types" title="([^"]*)">([^<]*)</span>', page)
    assert (", ".join(voice.avatar_types), f"{len(voice.avatar_types)} avatar types") in found


# -- a real forecast: weeks of history, then a runaway --------------------------------------


async def test_a_runaway_burn_shows_its_model_band_badge_and_advice(tmp_path: Path) -> None:
    async with burning_daemon(tmp_path) as b:
        await b.burn(USUAL, 20)
        await b.burn(5 * USUAL, 45)
        page = await _get(f"{b.url}/", account=ACCOUNT)
        fc = b.daemon.engine.forecasts[(ACCOUNT, b.asset().id)]
        ident = b.asset().id
    assert fc.runaway
    assert fc.model == "weekly"
    chart = next(
        c
        for c in re.findall(r'<figure class="chart burn-chart">.*?</figure>', page, re.S)
        if f'<code class="id">{ident}</code>' in c
    )
    caption = words(chart.split("<figcaption>", 1)[1])
    assert "forecast: weekly profile" in caption
    # the week's mean burn, not this hour's
    assert f"using {fmt.hours(fc.mean_rate * 86400, 'en')} per day" in caption
    ratio = fc.burn_ratio
    assert ratio is not None
    assert f"runaway burn: {ratio:.1f}× usual" in caption
    assert f"using {fmt.hours((fc.current_rate or 0) * 3600, 'en')} per hour now" in caption
    assert f"usually {fmt.hours((fc.usual_rate or 0) * 3600, 'en')}" in caption
    earliest, latest = fc.depletion_earliest, fc.depletion_latest
    if earliest is not None and latest is not None:
        # shown when it is wider than the minute the page shows
        wide = fmt.datetime_local(earliest, UTC) != fmt.datetime_local(latest, UTC)
        assert ("likely between" in caption) == wide
    # the asset table's row carries the badge too
    row = next(r for r in page.split("<tr") if f'<code class="id">{ident}</code>' in r)
    assert "runaway burn:" in words(row)


# -- the same pieces by hand, and in Chinese ---------------------------------------------------


def _forecast_data(language: str) -> tuple[str, Forecast, Asset]:
    a = asset("h1", 30, hours=40, ordered=100)
    t = NOW.timestamp()
    usage = {"h1": [(t - 7200, 44 * 3600.0), (t - 3600, 42 * 3600.0), (t, 40 * 3600.0)]}
    fc = Forecast(
        rate=0.0,  # nothing expected this hour: the per-day figure is the week's mean
        week_rate=0.5,
        depletion_at=NOW + timedelta(days=3),
        unused_at_expiry=0,
        model="weekly",
        depletion_earliest=NOW + timedelta(days=2),
        depletion_latest=NOW + timedelta(days=4),
        usual_rate=0.25,
        current_rate=1.0,
        runaway=True,
        runaway_depletion_at=NOW + timedelta(hours=40),
        buy_seconds=27 * 86400 * 0.5,
    )
    advice = forecast_advice(a, fc, language, SHANGHAI, now=NOW)  # type: ignore[arg-type]
    d = data([a], language=language, usage=usage, forecasts={"h1": fc})
    account = replace(d.accounts[0], advice={"h1": advice})
    _, page = render_page(replace(d, accounts=(account,)))
    parse(page)
    return page, fc, a


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "using 12.0 h per day",
                "forecast: weekly profile",
                "likely between 2026-11-27 12:00 CST and 2026-11-29 12:00 CST",
                "runaway burn: 4.0× usual",
                "using 1.0 h per hour now, usually 0.2 h",
                "at this burn it runs dry 2026-11-27 04:00 CST",
                "buy about",
            ],
        ),
        (
            "zh",
            [
                "每天消耗 12.0 小时",
                "预测：按每周规律",
                "大致在 2026-11-27 12:00 CST 至 2026-11-29 12:00 CST 之间",
                "异常消耗：平时的 4.0 倍",
                "当前每小时消耗 1.0 小时，通常为 0.2 小时",
                "照此消耗将于 2026-11-27 04:00 CST 耗尽",
                "加购",
            ],
        ),
    ],
)
def test_forecast_model_band_runaway_and_advice(language: str, expected: list[str]) -> None:
    page, _, _ = _forecast_data(language)
    caption = words(section(page, "<figcaption><strong>", "</figcaption>"))
    for said in expected:
        assert said in caption, (said, caption)
    assert words(section(page, '<ul class="advice"', "</ul>"))  # the advice, as a list
    row = words(section(page, '<table class="assets"'))
    assert expected[3] in row


def test_a_linear_forecast_without_a_band_says_so() -> None:
    a = asset("h1", 30, hours=40, ordered=100)
    t = NOW.timestamp()
    usage = {"h1": [(t - 3600, 42 * 3600.0), (t, 40 * 3600.0)]}
    fc = Forecast(rate=2 / 24, depletion_at=NOW + timedelta(days=20), unused_at_expiry=0)
    _, page = render_page(data([a], usage=usage, forecasts={"h1": fc}))
    caption = words(section(page, "<figcaption><strong>", "</figcaption>"))
    assert "forecast: straight line" in caption
    assert "using 2.0 h per day" in caption
    assert "likely between" not in caption
    assert "runaway" not in caption
    # a band narrower than the minute the page shows is left out
    narrow = replace(fc, depletion_earliest=fc.depletion_at, depletion_latest=fc.depletion_at)
    _, page = render_page(data([a], usage=usage, forecasts={"h1": narrow}))
    assert "likely between" not in words(section(page, "<figcaption><strong>", "</figcaption>"))


@pytest.mark.parametrize(
    ("language", "starts", "soon"),
    [
        ("en", "not active yet: starts in 3.0 d", "Starting soon: 1 asset(s) not active yet"),
        ("zh", "尚未生效：3.0 天后生效", "即将生效：1 项资产尚未生效"),
    ],
)
def test_an_asset_not_active_yet_says_when_it_starts(language: str, starts: str, soon: str) -> None:
    waiting = replace(
        asset("i1", 90, kind="image", name="later"), starts_at=NOW + timedelta(days=3)
    )
    active = replace(asset("i2", 90, kind="image", name="now"), starts_at=NOW - timedelta(days=1))
    _, page = render_page(data([waiting, active], language=language))
    parse(page)
    rows = section(page, '<table class="assets"').split("</tr>")
    later = next(r for r in rows if ">later<" in r)
    now = next(r for r in rows if ">now<" in r)
    assert starts in words(later)
    assert "starts" not in words(now)
    assert "生效" not in words(now)
    assert soon in words(section(page, '<p class="starting">', "</p>"))


@pytest.mark.parametrize(
    ("language", "named", "counted"),
    [("en", "avatar types: 2d, 3d", "5 avatar types"), ("zh", "形象类型：2d, 3d", "5 种形象类型")],
)
def test_a_voices_avatar_types_named_or_counted(language: str, named: str, counted: str) -> None:
    few = replace(asset("v1", 90, kind="timbre", name="few"), avatar_types=("2d", "3d"))
    many = replace(
        asset("v2", 90, kind="timbre", name="many"), avatar_types=tuple(f"t{i}" for i in range(5))
    )
    _, page = render_page(data([few, many], language=language))
    assert f'<span class="avatar-types">{named}</span>' in page
    assert f'<span class="avatar-types" title="t0, t1, t2, t3, t4">{counted}</span>' in page


@pytest.mark.parametrize(
    ("language", "off"), [("en", "off (collectors)"), ("zh", "已关闭（collectors）")]
)
def test_families_off_in_both_languages(language: str, off: str) -> None:
    d = replace(data([], language=language), disabled_families=("actions",))
    _, page = render_page(d)
    (row,) = re.findall(r'<tr class="off">(.*?)</tr>', page, re.S)
    assert off in words(row)


def _tenant_data(language: str) -> str:
    acme = asset("h1", 5, hours=10, ordered=100)
    other = asset("h2", 20, hours=30, ordered=100, account="globex")
    d = data([acme], language=language)
    first = replace(d.accounts[0], labels={"tenant": "acme"}, tenant="sg")
    second = replace(first, name="globex", assets=(other,), labels={}, tenant=None)
    accounts = (first, second)
    d = replace(
        d,
        accounts=accounts,
        label_filter=(("region", "sg"),),
        group_by="tenant",
        groups=group_totals(accounts, "tenant", NOW),
        reload=ReloadHealth(
            ok=False,
            success_at=NOW - timedelta(hours=2),
            attempted_at=NOW - timedelta(minutes=1),
            errors=("accounts_dir/acme.yaml: accounts.0.appkey: field required",),
        ),
        channels=(
            ChannelItem("ops", "wecom", "https://x/***", accounts=("acme", "globex")),
            ChannelItem(
                "acme-robot",
                "dingtalk",
                "https://y/***",
                route="routed",
                accounts=("acme",),
                digest="09:00 Asia/Singapore",
            ),
        ),
    )
    _, page = render_page(d)
    parse(page)
    return page


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "Configuration reload failed at",
                "Showing the accounts with region:sg",
                "Groups by tenant",
                "(without tenant)",
                "default: every alert",
                "routed: its match and labels",
                "daily at 09:00 Asia/Singapore",
                "tenant group sg",
            ],
        ),
        (
            "zh",
            [
                "配置重新加载失败",
                "仅显示带以下标签的账号 region:sg",
                "按 tenant 分组",
                "（无 tenant）",
                "默认：全部告警",
                "按路由：按其 match 与 labels",
                "每天 09:00 Asia/Singapore",
                "租户组 sg",
            ],
        ),
    ],
)
def test_tenant_pieces_in_both_languages(language: str, expected: list[str]) -> None:
    page = _tenant_data(language)
    said = words(page)
    for text in expected:
        assert text in said, text
    assert "accounts_dir/acme.yaml: accounts.0.appkey: field required" in said
    groups = section(page, '<table class="groups">')
    # the group links add the group's label to the filter and keep the grouping
    assert hrefs(groups) == ["?label=region:sg&label=tenant:acme&group_by=tenant"]
    totals = words(groups.split("<tbody>", 1)[1].split("</tr>", 1)[0])
    assert totals.split()[:2] == ["acme", "1"]
    assert fmt.hours(10 * 3600, language) in totals  # type: ignore[arg-type]
    channels = section(page, '<section aria-labelledby="channels">', "</section>")
    assert "acme, globex" in words(channels)


def test_a_label_value_a_filter_would_refuse_is_shown_without_a_link() -> None:
    d = data([])
    spaced = replace(d.accounts[0], labels={"team": "live ops"})
    d = replace(d, accounts=(spaced,), group_by="team", groups=group_totals((spaced,), "team", NOW))
    _, page = render_page(d)
    assert "live ops" in words(section(page, '<table class="groups">'))
    assert hrefs(section(page, '<table class="groups">')) == []
    assert hrefs(section(page, '<p class="labels">', "</p>")) == []


def test_the_account_page_of_a_filtered_view_links_back_to_it() -> None:
    d = replace(data([asset("a", 3)]), label_filter=(("tenant", "acme"),))
    _, page = render_page(d, ViewQuery("acme"))
    assert '<p><a href="?label=tenant:acme">← All accounts</a></p>' in page
    assert hrefs(section(page, '<p class="filter">', "</p>")) == ["?account=acme"]
