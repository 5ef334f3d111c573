"""The page's templates: escaping is on everywhere and cannot be switched off quietly.

A hostile name (markup, a template expression, a Jinja tag, an attribute
breakout) shows as the literal text it is in every place the page shows
names: the at-a-glance table, the account links and headings, the asset
table, the alerts, the channels (and the accounts they reach, their digest),
the chart titles and the timeline's tooltips; and so does a hostile label
value, tenant group or group value: the account's labels, the filter chip,
the group table, the reload banner's errors and the forecast's advice. And no
template turns autoescape off or marks a value safe, except what
:data:`ALLOWED` lists with its reason.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import monitor.status
from monitor.alerts.records import Alert
from monitor.domain import Asset
from monitor.forecast import Forecast
from monitor.snapshot import FamilyState
from monitor.status.page import ViewQuery, render_page
from monitor.status.tenants import group_totals
from monitor.status.view import (
    AccountStatus,
    AlertItem,
    ChannelItem,
    Delivery,
    ReloadHealth,
    StatusData,
)

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
PACKAGE = Path(monitor.status.__file__).parent
TEMPLATES = PACKAGE / "templates"

HOSTILE = (
    "<script>alert(1)</script>",
    "{{7*7}}",
    "{% raw %}",
    "{% endraw %}{{ lipsum.__globals__ }}",
    '" onmouseover="alert(1)',
    "' autofocus onfocus='alert(1)",
    "</title><svg onload=alert(1)>",
    "&lt;b&gt; & <!-- -->",
)

#: template constructs that would let a value out unescaped, and where they are
#: allowed, with why (none at present: the style sheet and the charts arrive as
#: Markup from page.py and svg.py, see their docstrings)
UNSAFE_IN_TEMPLATES = re.compile(
    r"\|\s*safe\b|autoescape\s+(false|off|no)|\bautoescape\b|\bMarkup\b|\|\s*unsafe\b", re.I
)
ALLOWED: dict[str, str] = {}

#: Markup() in the package's Python: only where the text is ours or escaped there
MARKUP_CALLS = {
    "page.py": 1,  # the style sheet: package data, not outside text
    "svg.py": 2,  # the two charts: every text in them goes through svg._e
}


class _Page(HTMLParser):
    """Every text node with the tags and classes around it, and every attribute."""

    VOID = frozenset({"meta", "link", "br", "img", "circle", "line", "rect", "polyline"})
    VOID |= {"polygon", "path"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str]] = []
        self.texts: list[tuple[tuple[tuple[str, str], ...], str]] = []
        self.attrs: list[tuple[str, str, str]] = []  # tag, name, value
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
        if tag not in self.VOID:
            named = dict(attrs)
            labelled = f" @{named['aria-labelledby']}" if named.get("aria-labelledby") else ""
            self.stack.append((tag, (named.get("class") or "") + labelled))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack[-1][0] == tag, f"</{tag}> closes <{self.stack[-1][0]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.texts.append((tuple(self.stack), data))

    def text_in(self, *path: str) -> list[str]:
        """Texts inside elements matching ``path`` in order, each ``tag``, ``tag.class``
        or ``tag.@id`` (the element its aria-labelledby names)."""

        def matches(stack: tuple[tuple[str, str], ...]) -> bool:
            i = 0
            for tag, classes in stack:
                want_tag, _, want_class = path[i].partition(".")
                if tag == want_tag and (not want_class or want_class in classes.split()):
                    i += 1
                    if i == len(path):
                        return True
            return False

        return [text for stack, text in self.texts if matches(stack)]


def parsed(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    assert p.stack == [], p.stack
    return p


def _hostile_data(name: str) -> StatusData:
    """One account, its assets, alert, delivery, channel and collection error all named
    ``name``; a second, plain account so the account links are drawn."""
    t = NOW.timestamp()
    hours = Asset(
        account=name,
        kind="service",
        id=f"id-{name}",
        type=f"type-{name}",
        name=name,
        expires_at=NOW + timedelta(days=3),
        category="hours",
        remaining_seconds=10 * 3600,
        ordered_seconds=100 * 3600,
    )
    voice = Asset(
        account=name,
        kind="timbre",
        id="v1",
        type="Timbre",
        name=name,
        expires_at=NOW + timedelta(days=5),
    )
    alert = Alert(
        rule="expiring",
        account=name,
        kind="service",
        asset=hours.id,
        severity="critical",
        status="firing",
        starts_at=NOW,
        labels={"alertname": name},
        annotations={"summary": name, "description": name},
    )
    family = FamilyState(
        name,
        "services",
        300,
        last_success=NOW - timedelta(minutes=5),
        last_attempt=NOW,
        success=False,
        error=name,
        error_detail=name,
        anomalies={name: 1},
    )
    hostile = AccountStatus(
        name=name,
        zone=ZoneInfo("Asia/Shanghai"),
        assets=(hours, voice),
        families=(family,),
        forecasts={
            hours.id: Forecast(rate=1.0, depletion_at=NOW + timedelta(hours=10), unused_at_expiry=0)
        },
        usage={hours.id: [(t - 3600, 11 * 3600.0), (t, 10 * 3600.0)]},
        alerts=(AlertItem(alert, NOW, NOW, None, Delivery(name, "dead", NOW, 3, error=name)),),
        labels={"tenant": name},
        tenant=name,
        advice={hours.id: (name,)},
    )
    plain = AccountStatus(name="plain", zone=UTC, assets=(), families=())
    return StatusData(
        now=NOW,
        language="en",
        critical_days=7,
        warning_days=30,
        stale_after_seconds=3600,
        accounts=(hostile, plain),
        channels=(ChannelItem(name, "webhook", name, "routed", (name, "plain"), digest=name),),
        version="9.9.9",
        reload=ReloadHealth(ok=False, success_at=NOW, attempted_at=NOW, errors=(name,)),
        # the routes' parser refuses such a value; the page escapes it all the same
        label_filter=(("tenant", name),),
        group_by="tenant",
        groups=group_totals((hostile, plain), "tenant", NOW),
    )


def _no_live_markup(page: str, p: _Page, *, charts: int) -> None:
    assert "<script" not in page
    assert "script" not in p.tags
    assert p.tags.count("svg") == charts  # the page's own, no injected one
    handlers = [(tag, attr) for tag, attr, _ in p.attrs if attr.startswith("on")]
    assert handlers == []
    assert not any(attr in ("autofocus", "onload") for _, attr, _ in p.attrs)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_is_literal_text_wherever_the_page_shows_names(name: str) -> None:
    status, page = render_page(_hostile_data(name))
    assert status == 200
    p = parsed(page)
    _no_live_markup(page, p, charts=3)  # two timelines, one burn-down
    places = {
        "glance: account": p.text_in("table.glance", "th", "a"),
        "glance: next to lapse, first to run dry": p.text_in("table.glance", "td"),
        "account links": p.text_in("nav.accounts", "a"),
        "section heading": p.text_in("section.account", "h2"),
        "asset table: name": p.text_in("table.assets", "span.name"),
        "asset table: id": p.text_in("table.assets", "code.id"),
        "asset table: type": p.text_in("table.assets", "td"),
        "collection: error, detail, anomaly": p.text_in("section.account", "div.grid", "td"),
        "timeline tooltip": p.text_in("svg.timeline", "g.bucket", "title"),
        "burn-down chart title": p.text_in("svg.burn", "title"),
        "burn-down caption": p.text_in("figure.burn-chart", "strong"),
        "alerts: caption": p.text_in("table.alerts", "caption"),
        "alerts: summary, description, channel, error": p.text_in("table.alerts", "td"),
        "channels: name, target, accounts, digest": p.text_in("section.@channels", "tbody"),
        "account labels and tenant group": p.text_in("section.account", "p.labels"),
        "filter chip": p.text_in("p.filter", "span.chip"),
        "group table": p.text_in("table.groups", "tbody"),
        "reload banner": p.text_in("div.reload-failed", "li"),
        "forecast advice": p.text_in("figure.burn-chart", "ul.advice", "li"),
    }
    for place, texts in places.items():
        assert any(name in text for text in texts), (place, texts)
    # ... and in the attribute that carries it, exact; a template expression or tag
    # in a name is never evaluated: found literally above
    assert ("table", "data-account", name) in p.attrs
    channels = p.text_in("section.@channels", "tbody")
    assert sum(text.count(name) for text in channels) >= 4  # name, target, account, digest
    # a link that carries a label value encodes it (or, for a value a filter would
    # refuse, there is no link): never a quote or a bracket in an href
    links = [v for tag, attr, v in p.attrs if tag == "a" and attr == "href"]
    assert all(not set(v) & set("<>\"' ") for v in links), links


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_account_name_in_its_own_page_and_its_links(name: str) -> None:
    status, page = render_page(_hostile_data(name), ViewQuery(name, sort="name"))
    assert status == 200
    p = parsed(page)
    _no_live_markup(page, p, charts=2)
    assert p.text_in("section.account", "h2")[0] == name + " "
    # the sort links carry the name as a query parameter, encoded
    links = [v for tag, attr, v in p.attrs if tag == "a" and attr == "href" and "sort=" in v]
    assert links
    assert all(v.startswith("?account=") and "<" not in v and '"' not in v for v in links)


def test_the_environment_escapes_and_is_strict() -> None:
    from jinja2 import UndefinedError

    from monitor.status.page import _environment

    env = _environment()
    assert env is _environment()  # built once, not per request
    assert env.autoescape is True
    assert env.from_string("{{ x }}").render(x="<b>&") == "&lt;b&gt;&amp;"
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()


def test_no_template_switches_escaping_off() -> None:
    templates = sorted(TEMPLATES.glob("*.j2"))
    assert len(templates) >= 5
    found = {
        f"{path.name}:{n}: {line.strip()}"
        for path in templates
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if UNSAFE_IN_TEMPLATES.search(line)
    }
    unexplained = sorted(f for f in found if f.split(": ", 1)[1] not in ALLOWED)
    assert unexplained == []


def test_markup_only_where_the_text_is_ours_or_escaped() -> None:
    calls = {
        path.name: n
        for path in sorted(PACKAGE.glob("*.py"))
        if (n := len(re.findall(r"\bMarkup\(", path.read_text(encoding="utf-8"))))
    }
    assert calls == MARKUP_CALLS


def test_the_page_inlines_the_static_style_sheet() -> None:
    css = (PACKAGE / "static" / "status.css").read_text(encoding="utf-8")
    _, page = render_page(_hostile_data("plain name"))
    assert f"<style>{css}</style>" in page
    assert '<link rel="stylesheet"' not in page  # one document: nothing to fetch
