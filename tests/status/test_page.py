"""The status page's rendering: pure functions of data and ``now`` (no server)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.alerts.records import Alert
from monitor.domain import Asset, Kind
from monitor.forecast import Forecast
from monitor.snapshot import FamilyState
from monitor.status.gather import downsample
from monitor.status.page import (
    ACCOUNT_PAGE_ROWS,
    OVERVIEW_ACCOUNTS,
    OVERVIEW_ROWS,
    ViewQuery,
    parse_query,
    render_page,
)
from monitor.status.svg import burndown_svg
from monitor.status.view import (
    AccountStatus,
    AlertItem,
    ChannelItem,
    Delivery,
    StatusData,
    expiry_severity,
    hours_by_type,
    paginate,
    quotas_by_type,
    sort_assets,
    timeline_buckets,
)

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = 86400.0


def asset(
    asset_id: str,
    days: float | None,
    *,
    kind: Kind = "service",
    name: str | None = None,
    account: str = "acme",
    hours: float | None = None,
    ordered: float | None = None,
    quota: tuple[int, int] | None = None,
    type_: str = "BroadcastHour",
) -> Asset:
    category: Any = None
    if kind == "service":
        category = "quota" if quota else "hours" if hours is not None else "concurrency"
    return Asset(
        account=account,
        kind=kind,
        id=asset_id,
        type=type_,
        name=name or f"asset {asset_id}",
        expires_at=None if days is None else NOW + timedelta(days=days),
        category=category,
        remaining_seconds=None if hours is None else hours * 3600,
        ordered_seconds=None if ordered is None else ordered * 3600,
        quota_limit=quota[0] if quota else None,
        quota_remaining=quota[1] if quota else None,
    )


def families(account: str = "acme") -> tuple[FamilyState, ...]:
    return (
        FamilyState(account, "services", 300, last_success=NOW, last_attempt=NOW, success=True),
        FamilyState(
            account,
            "timbres",
            1800,
            last_success=NOW - timedelta(minutes=40),
            last_attempt=NOW,
            success=False,
            error="transport",
        ),
        FamilyState(account, "images", 1800),
    )


def data(
    assets: list[Asset],
    *,
    language: Any = "en",
    usage: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    forecasts: dict[str, Forecast] | None = None,
    alerts: tuple[AlertItem, ...] = (),
    channels: tuple[ChannelItem, ...] = (),
) -> StatusData:
    return StatusData(
        now=NOW,
        language=language,
        critical_days=7,
        warning_days=30,
        stale_after_seconds=3600,
        accounts=(
            AccountStatus(
                name="acme",
                zone=SHANGHAI,
                assets=tuple(assets),
                families=families(),
                forecasts=forecasts or {},
                usage=usage or {},
                alerts=alerts,
            ),
        ),
        channels=channels,
        version="9.9.9",
    )


class _Checker(HTMLParser):
    """Well-formedness enough for our markup: every non-void tag closed in order."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "circle", "line", "rect"})
    VOID |= {"polyline", "polygon", "path"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"unexpected </{tag}>"
        assert self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1]}>"
        self.stack.pop()


def parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [], checker.stack
    return checker


def table_names(page: str) -> list[str]:
    body = page.split('<table class="assets"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<span class="name">(.*?)</span>', body)


# -- figures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (None, "never"),
        (-1, "expired"),
        (0, "expired"),
        (0.01, "critical"),
        (6.99, "critical"),
        (7, "warning"),
        (29.99, "warning"),
        (30, "ok"),
        (400, "ok"),
    ],
)
def test_severity_at_thresholds(days: float | None, expected: str) -> None:
    assert expiry_severity(None if days is None else days * DAY, 7, 30) == expected


@pytest.mark.parametrize(("days", "css"), [(6.9, "sev-critical"), (7.1, "sev-warning")])
def test_days_left_coloured_by_severity(days: float, css: str) -> None:
    _, page = render_page(data([asset("a", days)]))
    row = page.split('<table class="assets"', 1)[1].split("</tbody>", 1)[0]
    assert f'class="badge {css}"' in row


def test_hours_and_quotas_per_type_skip_expired() -> None:
    assets = [
        asset("h1", 10, hours=10, ordered=100),
        asset("h2", 20, hours=5, ordered=None),
        asset("h3", -1, hours=1000, ordered=1000),
        asset("q1", 10, quota=(10, 3), type_="ImageAsset"),
        asset("q2", 10, quota=(5, 5), type_="ImageAsset"),
    ]
    (hours,) = hours_by_type(assets, NOW)
    assert (hours.packages, hours.left, hours.total) == (2, 15 * 3600, None)
    (quota,) = quotas_by_type(assets, NOW)
    assert (quota.packages, quota.left, quota.total) == (2, 8, 15)


def test_table_order_is_what_lapses_next() -> None:
    assets = [
        asset("never", None),
        asset("old", -300),
        asset("recent", -1),
        asset("later", 40),
        asset("soon", 2),
    ]
    ids = [a.id for a in sort_assets(assets, NOW, "expires")]
    assert ids == ["soon", "later", "recent", "old", "never"]
    assert [a.id for a in sort_assets(assets, NOW, "expires", descending=True)] == ids[::-1]


def test_pagination_clamps() -> None:
    items = [asset(str(i), i) for i in range(250)]
    page = paginate(items, 3, 100)
    assert (page.number, page.pages, page.total, len(page.items)) == (3, 3, 250, 50)
    assert paginate(items, 99, 100).number == 3
    assert paginate([], 1, 100).pages == 1


def test_parse_query_falls_back_on_nonsense() -> None:
    q = parse_query({"sort": "<script>", "page": "x", "dir": "sideways"})
    assert q == ViewQuery()
    q = parse_query({"account": "acme", "sort": "name", "dir": "desc", "page": "2"})
    assert q == ViewQuery("acme", "name", descending=True, page=2)


def test_timeline_aggregates_by_kind_and_day() -> None:
    assets = [
        *(asset(f"s{i}", 3.5, name=f"s{i}") for i in range(10)),
        asset("v", 3.2, kind="timbre"),
        asset("gone", -2, kind="image"),
        asset("far", 200),
        asset("forever", None),
    ]
    tl = timeline_buckets(assets, NOW, horizon_days=90, critical_days=7, warning_days=30)
    services = [b for b in tl.buckets if b.kind == "service"]
    assert [(b.day, b.count, b.severity) for b in services] == [(3, 10, "critical")]
    assert len(services[0].names) < 10  # a few names for the tooltip, not all
    assert tl.expired["image"] == 1
    assert tl.within["timbre"] == 1
    assert tl.beyond == 2


# -- the page ------------------------------------------------------------------------


def test_page_is_well_formed_and_accessible() -> None:
    assets = [
        asset("h1", 3, hours=10, ordered=100),
        asset("v1", 12, kind="timbre"),
        asset("i1", 45, kind="image"),
    ]
    status, page = render_page(data(assets))
    assert status == 200
    checker = parse(page)
    tags = [t for t, _ in checker.tags]
    assert tags.count("caption") >= 4
    assert "time" in tags
    svgs = [a for t, a in checker.tags if t == "svg"]
    assert svgs
    assert all(a.get("role") == "img" and a.get("aria-labelledby") for a in svgs)
    assert "<script" not in page
    assert 'href="metrics"' in page
    assert "https://" not in page.replace("http://www.w3.org", "")  # no CDN, nothing external
    # dates in the account's zone, machine-readable with their offset
    assert '<time datetime="2026-11-28T04:00:00+00:00">2026-11-28 12:00 CST</time>' in page


def test_everything_is_escaped() -> None:
    evil = '<script>alert("x")</script>&'
    assets = [
        asset("x<y>", 3, name=evil, hours=1, ordered=2),
        asset("t", 5, kind="timbre", name=evil),
    ]
    usage = {"x<y>": [(NOW.timestamp() - 600, 7200.0), (NOW.timestamp(), 3600.0)]}
    alert = Alert(
        rule="expiring",
        account="acme",
        kind="service",
        asset="x<y>",
        severity="critical",
        status="firing",
        starts_at=NOW,
        annotations={"summary": evil, "description": evil},
    )
    delivery = Delivery("hook", "dead", NOW, 3, error=evil)
    _, page = render_page(
        data(
            assets,
            usage=usage,
            alerts=(AlertItem(alert, NOW, NOW, None, delivery),),
            channels=(ChannelItem("hook", "webhook", evil),),
        )
    )
    parse(page)
    assert "<script" not in page
    # markupsafe writes a double quote as &#34; (html.escape wrote &quot;): the same character
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;" in page


def test_chinese() -> None:
    _, zh = render_page(data([asset("a", 3, hours=5, ordered=10)], language="zh"))
    _, en = render_page(data([asset("a", 3, hours=5, ordered=10)], language="en"))
    assert '<html lang="zh-CN">' in zh
    assert "到期时间线" in zh
    assert "3.0 天" in zh
    assert "Expiry timeline" not in zh
    assert '<html lang="en">' in en
    assert "Expiry timeline" in en
    assert "3.0 d" in en


def test_collection_staleness_shown() -> None:
    _, page = render_page(data([]))
    assert "stale: last attempt failed" in page
    assert "transport" in page
    assert "waiting for the first collection" in page
    assert "40 min ago" in page


def test_overview_shows_soonest_then_links_to_all() -> None:
    assets = [asset(f"a{i:03}", i + 0.5, name=f"n{i:03}") for i in range(120)]
    _, page = render_page(data(assets))
    names = table_names(page)
    assert names == [f"n{i:03}" for i in range(OVERVIEW_ROWS)]
    assert "Show all 120 assets of acme" in page
    assert 'href="?account=acme"' in page


@pytest.mark.parametrize("count", [OVERVIEW_ACCOUNTS, OVERVIEW_ACCOUNTS + 1])
def test_many_accounts_get_a_glance_table_that_links_to_their_pages(count: int) -> None:
    one = data([asset("a1", 3, name="soon")]).accounts[0]
    fleet = replace(
        data([]),
        accounts=tuple(
            replace(one, name=f"acct-{i:03}", families=families(f"acct-{i:03}"))
            for i in range(count)
        ),
    )
    _, page = render_page(fleet)
    parse(page)
    glance = page.split('<table class="glance">', 1)[1].split("</table>", 1)[0]
    assert glance.count("<tr>") == count + 1  # every account, with its next expiry
    assert glance.count("soon") == count
    if count > OVERVIEW_ACCOUNTS:
        assert 'href="?account=acct-000"' in glance
        assert '<section class="account"' not in page
        assert f"{count} accounts: open one" in page
    else:
        assert 'href="#acct-0"' in glance
        assert page.count('<section class="account"') == count


def test_account_page_paginates_and_sorts() -> None:
    assets = [asset(f"a{i:03}", i + 0.5, name=f"n{i:03}") for i in range(250)]
    d = data(assets)
    _, first = render_page(d, ViewQuery("acme"))
    assert table_names(first)[:2] == ["n000", "n001"]
    assert len(table_names(first)) == ACCOUNT_PAGE_ROWS
    assert "Page 1 of 3" in first
    assert 'rel="next" href="?account=acme&amp;page=2#acct-0-assets"' in first
    _, last = render_page(d, ViewQuery("acme", page=3))
    assert table_names(last)[-1] == "n249"
    assert 'rel="prev"' in last
    assert 'rel="next"' not in last
    _, by_name_desc = render_page(d, ViewQuery("acme", sort="name", descending=True))
    assert table_names(by_name_desc)[0] == "n249"
    assert 'aria-sort="descending"' in by_name_desc
    status, _ = render_page(d, ViewQuery("nobody"))
    assert status == 404


def test_burndown_has_history_forecast_and_expiry() -> None:
    t = NOW.timestamp()
    samples = [(t - 3600 * (6 - i), 3600.0 * (100 - 2 * i)) for i in range(7)]
    fc = Forecast(rate=2.0, depletion_at=NOW + timedelta(hours=44), unused_at_expiry=0)
    svg = burndown_svg(
        samples,
        forecast=fc,
        expires_at=NOW + timedelta(hours=20),
        now=NOW,
        zone=SHANGHAI,
        language="en",
        ident="b",
        title="t",
    )
    parse(svg)
    assert 'class="history"' in svg
    assert 'class="forecast"' in svg
    assert 'class="expiry"' in svg  # within the chart: marked as a line
    assert "empty" in svg  # depletion after expiry: named at the edge
    # the forecast stops at the expiry line
    x_exp = re.search(r'class="expiry" x1="([\d.]+)"', svg)
    x_fc = re.search(r'class="forecast"[^>]* x2="([\d.]+)"', svg)
    assert x_exp is not None
    assert x_fc is not None
    assert x_exp.group(1) == x_fc.group(1)


def test_burndown_chart_and_verdict_on_page() -> None:
    a = asset("h1", 30, hours=10, ordered=100)
    t = NOW.timestamp()
    usage = {"h1": [(t - 7200, 14 * 3600.0), (t - 3600, 12 * 3600.0), (t, 10 * 3600.0)]}
    fc = Forecast(rate=2.0, depletion_at=NOW + timedelta(hours=5), unused_at_expiry=0)
    _, page = render_page(data([a], usage=usage, forecasts={"h1": fc}))
    assert 'class="burn"' in page
    assert "runs dry" in page
    assert "top up" in page
    _, idle = render_page(data([a], usage=usage))
    assert "too little history for a forecast" in idle


def test_ten_thousand_assets_stay_bounded() -> None:
    kinds: list[Kind] = ["service", "timbre", "image"]
    assets = [
        asset(
            f"id-{i}",
            (i % 500) - 50 + 0.3,
            kind=kinds[i % 3],
            hours=float(i % 300) if i % 3 == 0 else None,
            ordered=300.0 if i % 3 == 0 else None,
            type_=f"Type{i % 40}",
        )
        for i in range(10_000)
    ]
    t = NOW.timestamp()
    usage = {
        a.id: downsample([(t - 60.0 * (5000 - k), 1e6 - k) for k in range(5000)])
        for a in assets[:3000:3]
    }
    d = data(assets, usage=usage)
    status, page = render_page(d)
    assert status == 200
    parse(page)
    assert len(page) < 400_000, len(page)
    assert len(table_names(page)) == OVERVIEW_ROWS
    assert "Show all 10000 assets of acme" in page
    assert "more packages with history" in page
    assert "more types" in page
    _, account_page = render_page(d, ViewQuery("acme", page=50))
    assert len(account_page) < 600_000
    assert "Page 50 of 100" in account_page


def test_downsample_keeps_ends() -> None:
    points = [(float(i), float(-i)) for i in range(10_000)]
    small = downsample(points, 100)
    assert len(small) == 100
    assert small[0] == points[0]
    assert small[-1] == points[-1]
    assert downsample(points[:5], 100) == tuple(points[:5])


def test_render_does_not_mutate_input() -> None:
    d = data([asset("b", 5), asset("a", 1)])
    before = replace(d)
    render_page(d)
    assert d == before
