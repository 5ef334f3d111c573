"""The status page as one server-rendered HTML document (pure: data and a query in, text out).

This module builds the page's view model, plain data decided here (counts,
severities, verdicts, links, which rows and charts), and hands it to the
Jinja2 templates in ``templates/``; the templates only lay it out. No script at
all: the table sorts and pages by query parameters
(``?account=…&sort=expires|name|kind|figures&dir=asc|desc&page=N``; every link
keeps the visitor's ``label=`` filter and ``group_by=``), the charts
are inline SVG and the style sheet (``static/status.css``) is inlined, so the
page works on a closed network.

Escaping is not opt-in: the environment autoescapes every template, so every
value from outside (names, ids, messages) is escaped unless it is
:class:`~markupsafe.Markup`. Only two things are: the style sheet (our own
file) and the charts of :mod:`monitor.status.svg`, which escapes every text it
draws. ``tests/status/test_templates.py`` keeps ``|safe`` and
``autoescape false`` out of the templates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, get_args
from urllib.parse import urlencode

from markupsafe import Markup

from monitor.derive import service_display_name
from monitor.domain import Asset
from monitor.forecast import Forecast
from monitor.snapshot import FamilyState
from monitor.status import fmt
from monitor.status.i18n import Language, text
from monitor.status.svg import burndown_svg, timeline_svg
from monitor.status.tenants import GroupTotals, LabelFilter, label_value_ok

if TYPE_CHECKING:
    from jinja2 import Environment

from monitor.status.view import (
    AccountStatus,
    AlertItem,
    ChannelItem,
    Page,
    SortKey,
    StatusData,
    TypeSum,
    asset_severity,
    avatar_types_of,
    burn_candidates,
    expiry_severity,
    hours_by_type,
    not_active_yet,
    paginate,
    quotas_by_type,
    sort_assets,
    timeline_buckets,
)

__all__ = [
    "ACCOUNT_PAGE_ROWS",
    "OVERVIEW_ACCOUNTS",
    "OVERVIEW_ROWS",
    "ViewQuery",
    "parse_query",
    "render_page",
    "usage_shown",
]

#: table rows per account on the overview; the rest is one click away
OVERVIEW_ROWS = 20
#: table rows per page on an account's own page
ACCOUNT_PAGE_ROWS = 100
#: above this many accounts the overview is the at-a-glance table only, each
#: account's details on its own page (a page of every section of 100 accounts
#: is megabytes that nobody reads)
OVERVIEW_ACCOUNTS = 10
#: burn-down charts per account (overview / account page)
OVERVIEW_CHARTS, ACCOUNT_CHARTS = 6, 24
#: alerts listed per account
ALERT_ROWS = 50
#: service types listed in the summary tables
TYPE_ROWS = 12
#: accounts named per channel and per group (the rest counted)
NAMED_ACCOUNTS = 6
#: a voice's avatar types named one by one up to this many; above it, a count
AVATAR_TYPES_NAMED = 3
TIMELINE_DAYS = 90
_SORT_KEYS: tuple[str, ...] = get_args(SortKey)
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
_STAMP = "%Y-%m-%d %H:%M:%S %Z"


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """What the visitor asked for; anything invalid falls back to the default."""

    account: str | None = None
    sort: SortKey = "expires"
    descending: bool = False
    page: int = 1


def parse_query(params: Mapping[str, str]) -> ViewQuery:
    sort = params.get("sort", "expires")
    try:
        page = int(params.get("page", "1"))
    except ValueError:
        page = 1
    return ViewQuery(
        account=params.get("account") or None,
        sort=sort if sort in _SORT_KEYS else "expires",  # type: ignore[arg-type]
        descending=params.get("dir") == "desc",
        page=max(page, 1),
    )


def usage_shown(query: ViewQuery, accounts: Collection[str]) -> frozenset[str] | None:
    """The accounts whose hour-package history the page draws (None: all)."""
    if query.account is not None:
        return frozenset({query.account})
    return None if len(accounts) <= OVERVIEW_ACCOUNTS else frozenset()


# -- the templates -------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    """One environment per process, built on first use: templates compile once.
    Jinja2 itself is imported here, on the first page asked for: a daemon nobody
    opens the page of never holds it (about 3 MB of RSS)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined  # noqa: PLC0415 - lazy

    env = Environment(
        loader=PackageLoader("monitor.status", "templates"),
        # every template, whatever its name: escaping is never opt-in
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(text=text, fmt=fmt)
    return env


@cache
def _stylesheet() -> Markup:
    """``static/status.css``, inlined: the page stays one document (CSP ``style-src
    'unsafe-inline'``, nothing fetched). Our own file, so Markup."""
    css = files("monitor.status").joinpath("static", "status.css").read_text(encoding="utf-8")
    return Markup(css)  # noqa: S704 - package data, not outside text


@dataclass(frozen=True, slots=True)
class _Keep:
    """What every link of the page carries along: the ``?label=`` filter and
    ``?group_by=`` the visitor chose."""

    labels: LabelFilter = ()
    group_by: str | None = None


def _keep(data: StatusData) -> _Keep:
    return _Keep(data.label_filter, data.group_by)


def _href(keep: _Keep = _Keep(), /, **params: object) -> str:
    """A relative link to this page with these query parameters (``None`` dropped),
    ``account`` first, then the kept ``label=`` (repeated) and ``group_by=``. The
    ``:`` of ``label=name:value`` stays as it is; everything else is encoded."""
    account = params.pop("account", None)
    pairs: list[tuple[str, object]] = [] if account is None else [("account", account)]
    pairs += [("label", f"{name}:{value}") for name, value in keep.labels]
    if keep.group_by is not None:
        pairs.append(("group_by", keep.group_by))
    pairs += [(k, v) for k, v in params.items() if v is not None]
    query = urlencode(pairs, safe=":")
    return "?" + query if query else "./"


# -- the view model ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _When:
    """A moment as the page shows it: machine-readable with its offset, and in words in
    an account's zone."""

    iso: str
    local: str


def _when(value: datetime | None, zone: tzinfo) -> _When | None:
    if value is None:
        return None
    return _When(fmt.iso(value), fmt.datetime_local(value, zone))


@dataclass(frozen=True, slots=True)
class _Badge:
    """A coloured label, its severity in words (tooltip, screen readers)."""

    severity: str
    label: str
    word: str


def _badge(severity: str, label: str, lang: Language) -> _Badge:
    return _Badge(severity, label, text(lang, f"sev_word_{severity}"))


@dataclass(frozen=True, slots=True)
class _Counts:
    expired: int
    critical: int
    warning: int


@dataclass(frozen=True, slots=True)
class _GlanceRow:
    name: str
    href: str
    assets: int
    counts: _Counts
    #: the next asset to lapse, and its time left
    next_name: str | None
    next_left: _Badge
    #: the hour package that runs dry first, and when
    dry_name: str | None
    dry_at: _When | None
    #: families not ok (pending aside)
    problems: int
    firing: int
    firing_critical: int


@dataclass(frozen=True, slots=True)
class _SumRow:
    type_name: str
    packages: int
    left: str
    #: "of N", when the total is known and not 0
    of: str | None
    empty: bool


@dataclass(frozen=True, slots=True)
class _SumTable:
    title: str
    caption: str
    empty: str
    left_head: str
    rows: tuple[_SumRow, ...]
    more: int


@dataclass(frozen=True, slots=True)
class _FamilyRow:
    family: str
    state: str
    css: str
    last_success: _When | None
    age: float | None
    error: str
    error_detail: str | None
    oddities: str


@dataclass(frozen=True, slots=True)
class _Header:
    label: str
    #: the link of a sortable column (None: not sortable)
    href: str | None = None
    #: "ascending" / "descending" on the column the table is sorted by
    aria_sort: str | None = None
    arrow: str = ""


@dataclass(frozen=True, slots=True)
class _AssetRow:
    kind: str
    type: str
    name: str
    id: str
    expires_at: _When | None
    severity: str
    left: _Badge
    #: hours / quota / concurrency, and "of N (p%)"
    figures: str
    figures_of: str | None
    #: "not active yet: starts in …" (its start of validity is ahead)
    starts: str | None = None
    #: a voice's avatar types, in words (a count when many, the codes in ``avatar_title``)
    avatar: str | None = None
    avatar_title: str | None = None
    #: an hour package burning far above its usual rate: the badge's words
    runaway: str | None = None


@dataclass(frozen=True, slots=True)
class _AssetTable:
    caption: str
    headers: tuple[_Header, ...]
    rows: tuple[_AssetRow, ...]
    #: the overview's link to the account's own page
    show_all: tuple[str, str] | None
    #: an account page's pager: previous link, next link, "page n of m"
    prev_href: str | None
    next_href: str | None
    page_label: str | None


@dataclass(frozen=True, slots=True)
class _Burn:
    svg: Markup
    name: str
    id: str
    left: str
    rate: str
    verdict: str
    verdict_css: str
    #: which model answered (weekly profile, straight line), in words
    model: str = ""
    #: the run-dry time's band ("likely between … and …")
    band: str | None = None
    #: the runaway badge and its figures (now against usual), when it is one
    runaway: str | None = None
    runaway_detail: str | None = None
    #: what to do, in the page's language (buy before it runs dry, move streams onto it)
    advice: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _AlertRow:
    severity: str
    severity_css: str
    status: str
    status_css: str
    summary: str
    description: str
    started_at: _When
    notified_at: _When | None
    channel: str | None
    delivery_state: str
    delivery_css: str
    delivered_at: _When | None
    delivery_error: str | None


@dataclass(frozen=True, slots=True)
class _AccountView:
    sid: str
    name: str
    zone: tzinfo
    assets: int
    counts: _Counts
    firing: int
    sums: tuple[_SumTable, _SumTable]
    families: tuple[_FamilyRow, ...]
    timeline_svg: Markup
    timeline_beyond: int
    timeline_unknown: int
    table: _AssetTable | None
    burns: tuple[_Burn, ...]
    burns_more: int
    #: whether the account has hour packages with history at all
    has_burns: bool
    alerts: tuple[_AlertRow, ...]
    alerts_more: int
    #: the account's labels, each a link to the accounts that share it
    labels: tuple[_Chip, ...] = ()
    #: its tenant group (``tenants:``)
    tenant: str | None = None
    #: families turned off (``collectors``): rows of their own, never failing
    off: tuple[str, ...] = ()
    #: "starting soon": assets bought but not active yet
    starting: str | None = None


@dataclass(frozen=True, slots=True)
class _Chip:
    """A label as a small pill (``tenant: acme``) with a link: to the accounts with
    it, or (in the filter line) to the page without it. No link for a value a filter
    would refuse."""

    label: str
    href: str | None


@dataclass(frozen=True, slots=True)
class _GroupRow:
    value: str
    #: ``?label=<label>:<value>`` (None: the accounts without the label)
    href: str | None
    accounts: int
    names: str
    hours_left: str
    expiring_7d: int
    expiring_30d: int
    firing: int


@dataclass(frozen=True, slots=True)
class _Groups:
    label: str
    caption: str
    rows: tuple[_GroupRow, ...]


@dataclass(frozen=True, slots=True)
class _ChannelRow:
    name: str
    kind: str
    target: str
    route: str
    #: the accounts its route reaches (the first few), and how many more
    accounts: tuple[str, ...]
    accounts_more: int
    digest: str | None


@dataclass(frozen=True, slots=True)
class _ReloadView:
    ok: bool
    #: the banner when the last reload was refused (None when ok)
    banner: str | None
    #: "loaded at …, last attempt …" for the channels section
    line: str
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _StateView:
    up: bool
    error: str | None
    #: the sentences on lost state files, or ()
    losses: tuple[str, ...]


# -- the document ------------------------------------------------------------------------


def render_page(data: StatusData, query: ViewQuery | None = None) -> tuple[int, str]:
    """``(HTTP status, HTML)``: 404 for an account that does not exist."""
    query = query or ViewQuery()
    context: dict[str, Any] = {"mode": "overview", "accounts": (), "glance": (), "note": None}
    status = 200
    if query.account is not None:
        account = data.account(query.account)
        if account is None:
            status, context["mode"] = 404, "unknown"
        else:
            context["mode"] = "account"
            context["accounts"] = (_account(data, account, query, 0, single=True),)
    elif len(data.accounts) > OVERVIEW_ACCOUNTS:
        context["mode"] = "fleet"
        context["glance"] = _glance(data, own_pages=True)
        context["note"] = text(data.language, "many_accounts", n=len(data.accounts))
    else:
        context["glance"] = _glance(data)
        context["accounts"] = tuple(
            _account(data, a, query, i, single=False) for i, a in enumerate(data.accounts)
        )
    page = (
        _environment()
        .get_template("page.html.j2")
        .render(context, **_document(data, query), lang=data.language)
    )
    return status, page


def _document(data: StatusData, query: ViewQuery) -> dict[str, Any]:
    lang = data.language
    return {
        "html_lang": "zh-CN" if lang == "zh" else "en",
        "css": _stylesheet(),
        "now": data.now,
        "generated": data.now.strftime(_STAMP),
        "grafana_url": data.grafana_url,
        "version": data.version,
        "banner": _evaluation_errors(data),
        "critical_days": f"{data.critical_days:g}",
        "warning_days": f"{data.warning_days:g}",
        "timeline_days": TIMELINE_DAYS,
        "channels": tuple(_channel_row(c, lang) for c in data.channels),
        "queue_depth": data.queue_depth,
        "state": _state(data),
        "http_line": _http(data),
        "reload": _reload(data),
        "filter_chips": _filter_chips(data, query.account),
        "clear_href": _href(_Keep(group_by=data.group_by), account=query.account),
        "back_href": _href(_keep(data)),
        "groups": _groups(data),
    }


# -- tenants: the filter, the groups, the configuration's reload ---------------------------


def _chip_href(keep: _Keep, name: str, value: str) -> str | None:
    """The page filtered to ``name:value`` as well (replacing a filter on the same
    label), the rest kept; None when a filter would refuse the value."""
    if not label_value_ok(value):
        return None
    labels = (*((k, v) for k, v in keep.labels if k != name), (name, value))
    return _href(_Keep(labels, keep.group_by))


def _filter_chips(data: StatusData, account: str | None) -> tuple[_Chip, ...]:
    """The ``?label=`` filter, a chip per label, each with the link to the same page
    (the same account's, on an account page) without it."""
    keep = _keep(data)
    return tuple(
        _Chip(
            f"{name}:{value}",
            _href(
                _Keep(tuple(p for p in keep.labels if p != (name, value)), keep.group_by),
                account=account,
            ),
        )
        for name, value in data.label_filter
    )


def _groups(data: StatusData) -> _Groups | None:
    """The ``?group_by=`` table: totals per value of the label, each a link to its
    accounts (``?label=<label>:<value>``)."""
    label = data.group_by
    if label is None:
        return None
    lang, keep = data.language, _keep(data)
    rows = []
    group: GroupTotals
    for group in data.groups:
        names = group.accounts[:NAMED_ACCOUNTS]
        more = len(group.accounts) - len(names)
        rows.append(
            _GroupRow(
                value=group.value or text(lang, "group_unlabelled", label=label),
                href=_chip_href(keep, label, group.value) if group.value else None,
                accounts=len(group.accounts),
                names=", ".join(names) + (f" +{more}" if more else ""),
                hours_left=fmt.hours(group.hours_left_seconds, lang),
                expiring_7d=group.expiring_7d,
                expiring_30d=group.expiring_30d,
                firing=group.alerts_firing,
            )
        )
    return _Groups(label, text(lang, "groups_caption", label=label), tuple(rows))


def _reload(data: StatusData) -> _ReloadView:
    """The configuration's last reload: a failure banner with its errors, else a line."""
    lang, rl = data.language, data.reload

    def stamp(value: datetime | None) -> str:
        return value.astimezone(data.now.tzinfo).strftime(_STAMP) if value is not None else "—"

    success, attempted = stamp(rl.success_at), stamp(rl.attempted_at)
    if rl.ok:
        line = (
            text(lang, "reload_ok", success=success, attempted=attempted)
            if rl.attempted_at is not None
            else text(lang, "reload_loaded", success=success)
        )
        return _ReloadView(True, None, line, ())
    banner = text(lang, "reload_failed", attempted=attempted, success=success)
    return _ReloadView(False, banner, banner, rl.errors)


def _channel_row(channel: ChannelItem, lang: Language) -> _ChannelRow:
    named = channel.accounts[:NAMED_ACCOUNTS]
    return _ChannelRow(
        name=channel.name,
        kind=channel.kind,
        target=channel.target,
        route=text(lang, "route_routed" if channel.route == "routed" else "route_default"),
        accounts=named,
        accounts_more=len(channel.accounts) - len(named),
        digest=text(lang, "digest_at", at=channel.digest) if channel.digest else None,
    )


def _evaluation_errors(data: StatusData) -> str | None:
    """The banner's words while alert evaluation has failed since start (None otherwise)."""
    errors = data.evaluation_errors
    if not errors:
        return None
    rules = ", ".join(f"{rule} × {n}" for rule, n in sorted(errors.items()))
    when = data.last_evaluation_error_at
    shown = when.strftime(_STAMP) if when is not None else "—"
    return text(data.language, "evaluation_errors", n=sum(errors.values()), rules=rules, when=shown)


# -- at a glance -------------------------------------------------------------------------


def _counts(data: StatusData, account: AccountStatus) -> _Counts:
    expired = critical = warning = 0
    for a in account.assets:
        left = a.expires_in_seconds(data.now)
        if left is None:
            continue
        if left <= 0:
            expired += 1
        if 0 < left < data.critical_days * 86400:
            critical += 1
        if 0 < left < data.warning_days * 86400:
            warning += 1
    return _Counts(expired, critical, warning)


def _family_state(state: FamilyState, data: StatusData) -> str:
    if not state.attempted:
        return "pending"
    if state.success:
        return "ok"
    if state.partial:
        return "partial"
    if state.last_success is None:
        return "failing"
    return "stale" if state.usable(data.now, data.stale_after_seconds) else "dropped"


def _glance(data: StatusData, *, own_pages: bool = False) -> tuple[_GlanceRow, ...]:
    """A row per account; names link to their section below, or with ``own_pages``
    to their own page."""
    lang, now = data.language, data.now
    rows = []
    for i, account in enumerate(data.accounts):
        upcoming = [
            a
            for a in account.assets
            if (left := a.expires_in_seconds(now)) is not None and left > 0
        ]
        nxt = min(upcoming, key=lambda a: a.expires_in_seconds(now) or 0.0, default=None)
        next_left = nxt.expires_in_seconds(now) if nxt is not None else None
        dry = [
            (fc.depletion_at, a)
            for a in account.assets
            if (fc := account.forecasts.get(a.id)) is not None and fc.depletion_at is not None
        ]
        dry_at, dry_asset = min(dry, key=lambda p: (p[0], p[1].id)) if dry else (None, None)
        firing = [x for x in account.alerts if x.alert.status == "firing"]
        rows.append(
            _GlanceRow(
                name=account.name,
                href=_href(_keep(data), account=account.name) if own_pages else f"#acct-{i}",
                assets=len(account.assets),
                counts=_counts(data, account),
                next_name=nxt.name if nxt is not None else None,
                next_left=_badge(
                    expiry_severity(next_left, data.critical_days, data.warning_days),
                    fmt.time_left(next_left, lang),
                    lang,
                ),
                dry_name=dry_asset.name if dry_asset is not None else None,
                dry_at=_when(dry_at, account.zone),
                problems=sum(
                    1 for s in account.families if _family_state(s, data) not in ("ok", "pending")
                ),
                firing=len(firing),
                firing_critical=sum(1 for x in firing if x.alert.severity == "critical"),
            )
        )
    return tuple(rows)


# -- one account ---------------------------------------------------------------------------


def _account(
    data: StatusData, account: AccountStatus, query: ViewQuery, index: int, *, single: bool
) -> _AccountView:
    lang = data.language
    sid = f"acct-{index}"
    timeline = timeline_buckets(
        account.assets,
        data.now,
        horizon_days=TIMELINE_DAYS,
        critical_days=data.critical_days,
        warning_days=data.warning_days,
    )
    tl_svg = timeline_svg(
        timeline,
        data.now,
        account.zone,
        lang,
        ident=f"{sid}-tl",
        critical_days=data.critical_days,
        warning_days=data.warning_days,
    )
    candidates = burn_candidates(account, data.now)
    limit = ACCOUNT_CHARTS if single else OVERVIEW_CHARTS
    alerts = sorted(
        account.alerts,
        key=lambda x: (
            x.alert.status != "firing",
            _SEVERITY_RANK.get(x.alert.severity, 9),
            -x.started_at.timestamp(),
        ),
    )
    return _AccountView(
        sid=sid,
        name=account.name,
        zone=account.zone,
        assets=len(account.assets),
        counts=_counts(data, account),
        firing=sum(1 for x in account.alerts if x.alert.status == "firing"),
        sums=(_hours_table(data, account), _quota_table(data, account)),
        families=tuple(_family_row(s, data, account.zone) for s in account.families),
        timeline_svg=tl_svg,
        timeline_beyond=timeline.beyond,
        timeline_unknown=timeline.unknown,
        table=_asset_table(data, account, query, sid, single=single),
        burns=tuple(
            _burn(data, account, asset, f"{sid}-burn-{n}")
            for n, asset in enumerate(candidates[:limit])
        ),
        burns_more=max(len(candidates) - limit, 0),
        has_burns=bool(candidates),
        alerts=tuple(_alert_row(x, lang, account.zone) for x in alerts[:ALERT_ROWS]),
        alerts_more=max(len(alerts) - ALERT_ROWS, 0),
        labels=tuple(
            _Chip(f"{name}: {value}", _chip_href(_keep(data), name, value))
            for name, value in sorted(account.labels.items())
        ),
        tenant=account.tenant,
        off=tuple(data.disabled_families),
        starting=_starting(data, account),
    )


def _starting(data: StatusData, account: AccountStatus) -> str | None:
    """ "Starting soon": how many assets are not active yet, and the first to start."""
    waiting = not_active_yet(account.assets, data.now)
    if not waiting:
        return None
    first, seconds = waiting[0]
    return text(
        data.language,
        "starting_soon",
        n=len(waiting),
        name=first.name,
        t=fmt.duration(seconds, data.language),
    )


def _avatar(asset: Asset, lang: Language) -> tuple[str | None, str | None]:
    """A voice's avatar types: named when few, counted (the codes as a tooltip) when many."""
    types = avatar_types_of(asset)
    if not types:
        return None, None
    joined = ", ".join(types)
    if len(types) <= AVATAR_TYPES_NAMED:
        return text(lang, "avatar_types", types=joined), None
    return text(lang, "avatar_types_n", n=len(types)), joined


def _sum_table(
    lang: Language, keys: tuple[str, str, str], sums: list[TypeSum], *, hours: bool
) -> _SumTable:
    rows = []
    for s in sums[:TYPE_ROWS]:
        if hours:
            left = fmt.hours(s.left, lang)
            of = text(lang, "of_ordered", total=fmt.hours(s.total or 0.0, lang))
        else:
            left = f"{s.left:,.0f}"
            of = text(lang, "of_ordered", total=f"{s.total or 0:,.0f}")
        rows.append(
            _SumRow(
                type_name=service_display_name(s.type, lang),
                packages=s.packages,
                left=left,
                of=of if s.total else None,
                empty=s.left <= 0,
            )
        )
    title, caption, empty = (text(lang, k) for k in keys)
    return _SumTable(
        title=title,
        caption=caption,
        empty=empty,
        left_head=text(lang, "hours_left" if hours else "quota_left"),
        rows=tuple(rows),
        more=max(len(sums) - TYPE_ROWS, 0),
    )


def _hours_table(data: StatusData, account: AccountStatus) -> _SumTable:
    sums = hours_by_type(account.assets, data.now)
    keys = ("hours_by_type", "hours_caption", "no_hours")
    return _sum_table(data.language, keys, sums, hours=True)


def _quota_table(data: StatusData, account: AccountStatus) -> _SumTable:
    sums = quotas_by_type(account.assets, data.now)
    keys = ("quotas", "quotas_caption", "no_quotas")
    return _sum_table(data.language, keys, sums, hours=False)


def _family_row(state: FamilyState, data: StatusData, zone: tzinfo) -> _FamilyRow:
    st = _family_state(state, data)
    return _FamilyRow(
        family=state.family,
        state=st,
        css={"ok": "good", "pending": "muted"}.get(st, "bad"),
        last_success=_when(state.last_success, zone),
        age=state.age_seconds(data.now),
        error=state.error or "",
        error_detail=state.error_detail or None,
        oddities=_oddities(state, data.language),
    )


def _oddities(state: FamilyState, lang: Language) -> str:
    """Skipped records and anomalies of the last successful collection (by reason), and
    scheduled runs that did not happen."""
    notes = [text(lang, "skipped_n", n=state.skipped_records)] if state.skipped_records else []
    if state.runs_skipped:
        notes.append(text(lang, "runs_skipped_n", n=state.runs_skipped))
    notes += [
        text(lang, "anomaly_n", reason=reason, n=n) for reason, n in sorted(state.anomalies.items())
    ]
    return ", ".join(notes)


def _figures(asset: Asset, lang: Language) -> tuple[str, str | None]:
    """What is left of an asset, and "of N (p%)" where the ordered amount is known."""
    if asset.remaining_seconds is not None:
        left = fmt.hours(asset.remaining_seconds, lang)
        if asset.ordered_seconds:
            pct = 100 * asset.remaining_seconds / asset.ordered_seconds
            of = text(lang, "of_ordered", total=fmt.hours(asset.ordered_seconds, lang))
            return left, f"{of} ({pct:.0f}%)"
        return left, None
    if asset.quota_limit is not None or asset.quota_remaining is not None:
        return text(lang, "quota_of", left=asset.quota_remaining, limit=asset.quota_limit), None
    if asset.concurrency is not None:
        return text(lang, "concurrent", n=asset.concurrency), None
    return "", None


def _asset_table(
    data: StatusData, account: AccountStatus, query: ViewQuery, sid: str, *, single: bool
) -> _AssetTable | None:
    """The assets, sorted, one page of them (None: the account has none)."""
    lang, now = data.language, data.now
    ordered = sort_assets(account.assets, now, query.sort, descending=query.descending)
    if not ordered:
        return None
    page = (
        paginate(ordered, query.page, ACCOUNT_PAGE_ROWS)
        if single
        else paginate(ordered, 1, OVERVIEW_ROWS)
    )
    link_account = account.name if single else None

    def header(key: SortKey | None, label: str) -> _Header:
        if key is None:
            return _Header(text(lang, label))
        active = query.sort == key
        desc = active and not query.descending
        href = _href(_keep(data), account=link_account, sort=key, dir="desc" if desc else None)
        return _Header(
            text(lang, label),
            href=f"{href}#{sid}-assets",
            aria_sort=("descending" if query.descending else "ascending") if active else None,
            arrow=("▼" if query.descending else "▲") if active else "",
        )

    rows = []
    for a in page.items:
        sev = asset_severity(a, now, data.critical_days, data.warning_days)
        left = a.expires_in_seconds(now)
        figures, figures_of = _figures(a, lang)
        starts_in = a.starts_in_seconds(now)
        avatar, avatar_title = _avatar(a, lang)
        fc = account.forecasts.get(a.id)
        rows.append(
            _AssetRow(
                kind=a.kind,
                type=a.type,
                name=a.name,
                id=a.id,
                expires_at=_when(a.expires_at, account.zone),
                severity=sev,
                left=_badge(
                    sev,
                    text(lang, "expiry_unknown") if a.expiry_unknown else fmt.time_left(left, lang),
                    lang,
                ),
                figures=figures,
                figures_of=figures_of,
                starts=(
                    text(lang, "not_active", t=fmt.duration(starts_in, lang))
                    if starts_in is not None
                    else None
                ),
                avatar=avatar,
                avatar_title=avatar_title,
                runaway=_runaway(fc, lang)[0] if fc is not None else None,
            )
        )
    caption = text(
        lang,
        "table_caption",
        shown=len(page.items),
        total=page.total,
        account=account.name,
        key=text(lang, f"sort_{query.sort}"),
    )
    show_all, prev_href, next_href, page_label = _pager(
        lang, account.name, query, sid, page, keep=_keep(data), single=single
    )
    return _AssetTable(
        caption=caption,
        headers=(
            header("kind", "col_kind"),
            header(None, "col_type"),
            header("name", "col_name"),
            header(None, "col_expires"),
            header("expires", "col_left"),
            header("figures", "col_figures"),
        ),
        rows=tuple(rows),
        show_all=show_all,
        prev_href=prev_href,
        next_href=next_href,
        page_label=page_label,
    )


def _pager(
    lang: Language,
    account: str,
    query: ViewQuery,
    sid: str,
    page: Page,
    *,
    keep: _Keep,
    single: bool,
) -> tuple[tuple[str, str] | None, str | None, str | None, str | None]:
    """The overview's "show all" link (href, words), or an account page's previous and
    next links and "page n of m"."""
    common: dict[str, object] = {
        "account": account,
        "sort": query.sort if query.sort != "expires" else None,
        "dir": "desc" if query.descending else None,
    }
    if not single and page.total > len(page.items):
        words = text(lang, "show_all", n=page.total, account=account)
        return (_href(keep, **common), words), None, None, None
    if single and page.pages > 1:
        prev = f"{_href(keep, **common, page=page.number - 1)}#{sid}-assets"
        nxt = f"{_href(keep, **common, page=page.number + 1)}#{sid}-assets"
        return (
            None,
            prev if page.number > 1 else None,
            nxt if page.number < page.pages else None,
            text(lang, "page_of", page=page.number, pages=page.pages),
        )
    return None, None, None, None


# -- burn-down charts ----------------------------------------------------------------------


def _burn(data: StatusData, account: AccountStatus, asset: Asset, ident: str) -> _Burn:
    lang = data.language
    fc = account.forecasts.get(asset.id)
    left = text(lang, "burn_left", hours=fmt.hours(asset.remaining_seconds or 0.0, lang))
    verdict, verdict_css = _verdict(asset, fc, data, account.zone)
    svg = burndown_svg(
        account.usage[asset.id],
        forecast=fc,
        expires_at=asset.expires_at,
        now=data.now,
        zone=account.zone,
        language=lang,
        ident=ident,
        title=f"{asset.name}: {left}; {verdict}",
    )
    # the mean burn expected over the coming week: ``rate`` is this hour's alone
    rate = (
        text(lang, "burn_rate", rate=fmt.hours(fc.mean_rate * 86400, lang))
        if fc is not None and fc.mean_rate > 0
        else ""
    )
    if fc is None:
        return _Burn(svg, asset.name, asset.id, left, rate, verdict, verdict_css)
    runaway, detail = _runaway(fc, lang, account.zone)
    return _Burn(
        svg,
        asset.name,
        asset.id,
        left,
        rate,
        verdict,
        verdict_css,
        model=text(lang, f"model_{fc.model}"),
        band=_band(fc, lang, account.zone),
        runaway=runaway,
        runaway_detail=detail,
        advice=tuple(account.advice.get(asset.id, ())),
    )


def _band(fc: Forecast, lang: Language, zone: tzinfo) -> str | None:
    """The run-dry time's uncertainty band, when the forecast has one."""
    if fc.depletion_at is None or fc.depletion_earliest is None:
        return None
    earliest = fmt.datetime_local(fc.depletion_earliest, zone)
    if fc.depletion_latest is None:
        return text(lang, "band_open", earliest=earliest)
    latest = fmt.datetime_local(fc.depletion_latest, zone)
    if latest == earliest:  # a band narrower than the minute shown says nothing
        return None
    return text(lang, "band", earliest=earliest, latest=latest)


def _runaway(
    fc: Forecast, lang: Language, zone: tzinfo | None = None
) -> tuple[str | None, str | None]:
    """The runaway badge (``burning 4.0× its usual rate``) and, with a zone, its figures:
    the burn now against the usual one, and when it runs dry if it goes on."""
    ratio = fc.burn_ratio
    if not fc.runaway or ratio is None:
        return None, None
    badge = text(lang, "runaway", ratio=f"{ratio:.1f}")
    if zone is None:
        return badge, None
    detail = text(
        lang,
        "runaway_detail",
        current=fmt.hours((fc.current_rate or 0.0) * 3600, lang),
        usual=fmt.hours((fc.usual_rate or 0.0) * 3600, lang),
    )
    if fc.runaway_depletion_at is not None:
        when = fmt.datetime_local(fc.runaway_depletion_at, zone)
        detail += text(lang, "runaway_dry", when=when)
    return badge, detail


def _verdict(asset: Asset, fc: Forecast | None, data: StatusData, zone: tzinfo) -> tuple[str, str]:
    """Will the hours last? One sentence and its colour class."""
    lang = data.language
    expires = asset.expires_at
    if (asset.remaining_seconds or 0.0) <= 0:
        return text(lang, "burn_empty"), "bad"
    if fc is None or (fc.depletion_at is None and expires is None):
        return text(lang, "burn_idle" if fc else "burn_no_forecast"), "muted"
    if fc.depletion_at is not None and (expires is None or fc.depletion_at < expires):
        when = fmt.datetime_local(fc.depletion_at, zone)
        if expires is None:
            return text(lang, "burn_dry", when=when), "warn"
        early = fmt.duration((expires - fc.depletion_at).total_seconds(), lang)
        return text(lang, "burn_dry_before", when=when, days=early), "bad"
    assert expires is not None  # noqa: S101 - both None returned above
    if unused := fc.unused_at_expiry:
        hours = fmt.hours(unused, lang)
        return text(lang, "burn_unused", hours=hours, when=fmt.date(expires, zone)), "warn"
    return text(lang, "burn_lasts", when=fmt.date(expires, zone)), "good"


# -- alerts and channels -----------------------------------------------------------------


def _alert_row(item: AlertItem, lang: Language, zone: tzinfo) -> _AlertRow:
    alert, d = item.alert, item.delivery
    started = _when(item.started_at, zone)
    assert started is not None  # noqa: S101 - a datetime in, a _When out
    return _AlertRow(
        severity=alert.severity,
        severity_css={"critical": "critical", "warning": "warning"}.get(alert.severity, "never"),
        status=alert.status,
        status_css="bad" if alert.status == "firing" else "good",
        summary=alert.annotations.get("summary") or alert.labels.get("alertname", alert.rule),
        description=alert.annotations.get("description", ""),
        started_at=started,
        notified_at=_when(item.last_notified_at, zone),
        channel=d.channel if d is not None else None,
        delivery_state=d.state if d is not None else "",
        delivery_css={"delivered": "good", "pending": "warn"}.get(d.state, "bad") if d else "",
        delivered_at=_when(d.at, zone) if d is not None else None,
        delivery_error=(d.error or None) if d is not None else None,
    )


def _state(data: StatusData) -> _StateView:
    """The state store: up or not, and whether its file was ever lost."""
    lang, st = data.language, data.state
    losses: list[str] = []
    if st.losses and st.lost_at is not None:
        at = st.lost_at.astimezone(data.now.tzinfo).strftime(_STAMP)
        losses.append(text(lang, "state_lost", n=st.losses, file=st.lost_file, at=at))
        losses.append(text(lang, "state_salvaged" if st.salvaged else "state_restored"))
        if st.notifications_lost:
            losses.append(text(lang, "state_notifications_lost", n=st.notifications_lost))
    return _StateView(up=st.up, error=st.error or None, losses=tuple(losses))


def _http(data: StatusData) -> str | None:
    """Refusals of the HTTP endpoints (throttled logins, slow or oversized clients)."""
    lang, http = data.language, data.http
    if http.refused and http.last_refused_at is not None:
        at = http.last_refused_at.astimezone(data.now.tzinfo).strftime(_STAMP)
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(http.refused.items()))
        return text(
            lang,
            "http_refused",
            n=sum(http.refused.values()),
            reasons=reasons,
            when=at,
            failures=http.auth_failures,
        )
    if http.auth_failures:
        return text(lang, "http_auth_failed", failures=http.auth_failures)
    return None
