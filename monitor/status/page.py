"""The status page as one server-rendered HTML document (pure: data and a query in, text out).

No script at all: the table sorts and pages by query parameters
(``?account=…&sort=expires|name|kind|figures&dir=asc|desc&page=N``), the charts
are inline SVG and the style sheet is inline, so the page works on a closed
network. Every value from outside (names, ids, messages) goes through
:func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape
from typing import get_args
from urllib.parse import urlencode

from monitor.derive import service_display_name
from monitor.domain import Asset
from monitor.forecast import Forecast
from monitor.snapshot import FamilyState
from monitor.status import fmt
from monitor.status.i18n import Language, text
from monitor.status.svg import burndown_svg, timeline_svg
from monitor.status.view import (
    AccountStatus,
    AlertItem,
    SortKey,
    StatusData,
    TypeSum,
    asset_severity,
    burn_candidates,
    expiry_severity,
    hours_by_type,
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
TIMELINE_DAYS = 90
_SORT_KEYS: tuple[str, ...] = get_args(SortKey)
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


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


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _href(**params: object) -> str:
    """A relative link to this page with these query parameters (``None`` dropped)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return _e("?" + query if query else "./")


def _time(value: datetime, zone: tzinfo) -> str:
    return f'<time datetime="{_e(fmt.iso(value))}">{_e(fmt.datetime_local(value, zone))}</time>'


# -- the document ------------------------------------------------------------------------


def render_page(data: StatusData, query: ViewQuery | None = None) -> tuple[int, str]:
    """``(HTTP status, HTML)``: 404 for an account that does not exist."""
    query = query or ViewQuery()
    lang = data.language
    if query.account is not None:
        account = data.account(query.account)
        if account is None:
            body = f'<p class="empty">{_e(text(lang, "unknown_account"))}</p>' + _back(lang)
            return 404, _document(data, body)
        body = _back(lang) + _account_section(data, account, query, 0, single=True)
        return 200, _document(data, body)
    if len(data.accounts) > OVERVIEW_ACCOUNTS:
        note = text(lang, "many_accounts", n=len(data.accounts))
        return 200, _document(
            data,
            _glance(data, own_pages=True) + f'<p class="muted">{_e(note)}</p>' + _channels(data),
        )
    sections = [_glance(data)]
    if len(data.accounts) > 1:
        links = "".join(
            f'<li><a href="#acct-{i}">{_e(a.name)}</a></li>' for i, a in enumerate(data.accounts)
        )
        label = _e(text(lang, "accounts"))
        sections.append(f'<nav class="accounts" aria-label="{label}"><ul>{links}</ul></nav>')
    sections.extend(
        _account_section(data, a, query, i, single=False) for i, a in enumerate(data.accounts)
    )
    sections.append(_channels(data))
    return 200, _document(data, "".join(sections))


def _back(lang: Language) -> str:
    return f'<p><a href="./">{_e(text(lang, "back"))}</a></p>'


def _document(data: StatusData, body: str) -> str:
    lang = data.language
    grafana = (
        f'<a href="{_e(data.grafana_url)}">{_e(text(lang, "grafana"))}</a>'
        if data.grafana_url
        else f'<span class="muted">{_e(text(lang, "grafana_hint"))}</span>'
    )
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="refresh" content="60">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(text(lang, 'title'))} · ivh-monitor</title>"
        f"<style>{_CSS}</style></head><body>"
        "<header><div>"
        f"<h1>{_e(text(lang, 'title'))}</h1>"
        f'<p class="tagline">{_e(text(lang, "tagline"))}</p></div>'
        f'<nav aria-label="{_e(text(lang, "links"))}"><ul>'
        f'<li><a href="metrics">{_e(text(lang, "metrics"))}</a></li>'
        f'<li><a href="api/assets">{_e(text(lang, "api_assets"))}</a></li>'
        f'<li><a href="api/alerts">{_e(text(lang, "api_alerts"))}</a></li>'
        f"<li>{grafana}</li></ul>"
        f'<p class="muted">{_e(text(lang, "generated"))}'
        f' <time datetime="{_e(fmt.iso(data.now))}">'
        f"{_e(data.now.strftime('%Y-%m-%d %H:%M:%S %Z'))}</time>"
        f" · {_e(text(lang, 'refresh_note'))}</p></nav></header>"
        f"<main>{_evaluation_errors(data)}{body}</main>"
        f'<footer class="muted">{_e(text(lang, "version", v=data.version))} · '
        + " · ".join(
            f'<a href="{path}">/{path}</a>'
            for path in ("metrics", "healthz", "readyz", "api/assets", "api/alerts")
        )
        + "</footer>"
        "</body></html>"
    )


def _evaluation_errors(data: StatusData) -> str:
    """A banner while alert evaluation has failed since start (nothing otherwise)."""
    errors = data.evaluation_errors
    if not errors:
        return ""
    rules = ", ".join(f"{rule} × {n}" for rule, n in sorted(errors.items()))
    when = data.last_evaluation_error_at
    shown = when.strftime("%Y-%m-%d %H:%M:%S %Z") if when is not None else "—"
    words = text(
        data.language, "evaluation_errors", n=sum(errors.values()), rules=rules, when=shown
    )
    return f'<p class="banner" role="alert">{_e(words)}</p>'


# -- at a glance -------------------------------------------------------------------------


def _badge(severity: str, label: str, lang: Language) -> str:
    word = text(lang, f"sev_word_{severity}")
    return (
        f'<span class="badge sev-{_e(severity)}" title="{_e(word)}">{_e(label)}'
        f'<span class="sr-only"> ({_e(word)})</span></span>'
    )


def _counts(data: StatusData, account: AccountStatus) -> tuple[int, int, int]:
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
    return expired, critical, warning


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


def _glance(data: StatusData, *, own_pages: bool = False) -> str:
    """The table of every account; names link to their section below, or with
    ``own_pages`` to their own page."""
    lang, now = data.language, data.now
    head = "".join(
        f'<th scope="col">{_e(h)}</th>'
        for h in (
            text(lang, "account"),
            text(lang, "assets"),
            text(lang, "expired"),
            text(lang, "within_days", days=f"{data.critical_days:g}"),
            text(lang, "within_days", days=f"{data.warning_days:g}"),
            text(lang, "next_expiry"),
            text(lang, "first_dry"),
            text(lang, "collection"),
            text(lang, "firing"),
        )
    )
    rows = []
    for i, account in enumerate(data.accounts):
        expired, critical, warning = _counts(data, account)
        upcoming = [
            a
            for a in account.assets
            if (left := a.expires_in_seconds(now)) is not None and left > 0
        ]
        nxt = min(upcoming, key=lambda a: a.expires_in_seconds(now) or 0.0, default=None)
        next_cell = "—"
        if nxt is not None:
            left = nxt.expires_in_seconds(now)
            sev = expiry_severity(left, data.critical_days, data.warning_days)
            next_cell = f"{_e(nxt.name)} {_badge(sev, fmt.time_left(left, lang), lang)}"
        dry = [
            (fc.depletion_at, a)
            for a in account.assets
            if (fc := account.forecasts.get(a.id)) is not None and fc.depletion_at is not None
        ]
        dry_cell = "—"
        if dry:
            at, asset = min(dry, key=lambda p: (p[0], p[1].id))
            dry_cell = f"{_e(asset.name)} · {_time(at, account.zone)}"
        problems = sum(
            1 for s in account.families if _family_state(s, data) not in ("ok", "pending")
        )
        collection = (
            _e(text(lang, "all_ok"))
            if not problems
            else f'<span class="bad">{_e(text(lang, "n_problems", n=problems))}</span>'
        )
        firing = [x for x in account.alerts if x.alert.status == "firing"]
        n_crit = sum(1 for x in firing if x.alert.severity == "critical")
        firing_cell = (
            f'{len(firing)} <span class="muted">({n_crit} {_e(text(lang, "sev_critical"))})</span>'
            if firing
            else "0"
        )
        href = _href(account=account.name) if own_pages else f"#acct-{i}"
        rows.append(
            f'<tr><th scope="row"><a href="{href}">{_e(account.name)}</a></th>'
            f'<td class="num">{len(account.assets)}</td>'
            f'<td class="num">{_count_cell(expired, "expired")}</td>'
            f'<td class="num">{_count_cell(critical, "critical")}</td>'
            f'<td class="num">{_count_cell(warning, "warning")}</td>'
            f"<td>{next_cell}</td><td>{dry_cell}</td><td>{collection}</td>"
            f'<td class="num">{firing_cell}</td></tr>'
        )
    return (
        f'<section aria-labelledby="glance"><h2 id="glance">{_e(text(lang, "glance"))}</h2>'
        f'<div class="scroll"><table class="glance">'
        f"<caption>{_e(text(lang, 'glance_caption'))}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _count_cell(n: int, severity: str) -> str:
    return f'<span class="count sev-text-{severity}">{n}</span>' if n else "0"


# -- one account ---------------------------------------------------------------------------


def _account_section(
    data: StatusData, account: AccountStatus, query: ViewQuery, index: int, *, single: bool
) -> str:
    lang = data.language
    sid = f"acct-{index}"
    expired, critical, warning = _counts(data, account)
    firing = sum(1 for x in account.alerts if x.alert.status == "firing")
    cards = "".join(
        f'<div class="card{cls}"><div class="big">{value}</div><div>{_e(label)}</div></div>'
        for value, label, cls in (
            (len(account.assets), text(lang, "assets"), ""),
            (expired, text(lang, "expired"), " sev-expired" if expired else ""),
            (
                critical,
                text(lang, "within_days", days=f"{data.critical_days:g}"),
                " sev-critical" if critical else "",
            ),
            (
                warning,
                text(lang, "within_days", days=f"{data.warning_days:g}"),
                " sev-warning" if warning else "",
            ),
            (firing, text(lang, "firing"), " sev-critical" if firing else ""),
        )
    )
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
    unknown = (
        f' · <span class="warn">{_e(text(lang, "timeline_unknown", n=timeline.unknown))}</span>'
        if timeline.unknown
        else ""
    )
    beyond = (
        f'<figcaption class="muted">{_e(text(lang, "timeline_beyond", n=timeline.beyond))}'
        f"{unknown}</figcaption>"
    )
    return (
        f'<section class="account" id="{sid}" aria-labelledby="{sid}-h">'
        f'<h2 id="{sid}-h">{_e(account.name)}'
        f' <small class="muted">{_e(text(lang, "zone"))}: {_e(account.zone)}</small></h2>'
        f'<div class="cards">{cards}</div>'
        '<div class="grid">'
        + _hours_table(data, account)
        + _quota_table(data, account)
        + _collection_table(data, account)
        + "</div>"
        f'<h3 id="{sid}-tl-h">{_e(text(lang, "timeline", days=TIMELINE_DAYS))}</h3>'
        f'<figure class="chart">{tl_svg}{beyond}</figure>'
        + _asset_table(data, account, query, sid, single=single)
        + _burndowns(data, account, sid, single=single)
        + _alerts(data, account, sid)
        + "</section>"
    )


def _type_name(service_type: str, lang: Language) -> str:
    return service_display_name(service_type, lang)


def _sum_table(
    lang: Language, title: str, caption: str, sums: list[TypeSum], *, empty: str, hours: bool
) -> str:
    if not sums:
        return f'<div><h3>{_e(title)}</h3><p class="empty">{_e(empty)}</p></div>'
    rows = []
    for s in sums[:TYPE_ROWS]:
        if hours:
            left = _e(fmt.hours(s.left, lang))
            of = text(lang, "of_ordered", total=fmt.hours(s.total or 0.0, lang))
        else:
            left = f"{s.left:,.0f}"
            of = text(lang, "of_ordered", total=f"{s.total or 0:,.0f}")
        total = f' <span class="muted">{_e(of)}</span>' if s.total else ""
        cls = ' class="bad"' if s.left <= 0 else ""
        rows.append(
            f'<tr><th scope="row">{_e(_type_name(s.type, lang))}</th>'
            f'<td class="num">{s.packages}</td><td class="num"><span{cls}>{left}</span>{total}'
            "</td></tr>"
        )
    more = (
        f'<p class="muted">{_e(text(lang, "more_types", n=len(sums) - TYPE_ROWS))}</p>'
        if len(sums) > TYPE_ROWS
        else ""
    )
    left_head = text(lang, "hours_left" if hours else "quota_left")
    return (
        f"<div><h3>{_e(title)}</h3><table><caption>{_e(caption)}</caption><thead><tr>"
        f'<th scope="col">{_e(text(lang, "service_type"))}</th>'
        f'<th scope="col">{_e(text(lang, "packages"))}</th>'
        f'<th scope="col">{_e(left_head)}</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}</div>"
    )


def _hours_table(data: StatusData, account: AccountStatus) -> str:
    lang = data.language
    sums = hours_by_type(account.assets, data.now)
    titles = ("hours_by_type", "hours_caption", "no_hours")
    title, caption, empty = (text(lang, t) for t in titles)
    return _sum_table(lang, title, caption, sums, empty=empty, hours=True)


def _quota_table(data: StatusData, account: AccountStatus) -> str:
    lang = data.language
    sums = quotas_by_type(account.assets, data.now)
    title, caption, empty = (text(lang, t) for t in ("quotas", "quotas_caption", "no_quotas"))
    return _sum_table(lang, title, caption, sums, empty=empty, hours=False)


def _collection_table(data: StatusData, account: AccountStatus) -> str:
    lang = data.language
    rows = []
    for state in account.families:
        st = _family_state(state, data)
        last = _time(state.last_success, account.zone) if state.last_success else "—"
        age = state.age_seconds(data.now)
        cls = {"ok": "good", "pending": "muted"}.get(st, "bad")
        rows.append(
            f'<tr><th scope="row">{_e(text(lang, state.family))}</th>'
            f'<td><span class="{cls}">{_e(text(lang, "st_" + st))}</span></td>'
            f"<td>{last}</td>"
            f"<td>{_e(fmt.ago(age, lang)) if age is not None else '—'}</td>"
            f"<td>{_e(state.error or '')}"
            + (f"<br><small>{_e(state.error_detail)}</small>" if state.error_detail else "")
            + f"</td><td>{_oddities(state, lang)}</td></tr>"
        )
    return (
        f"<div><h3>{_e(text(lang, 'collection'))}</h3><table>"
        f"<caption>{_e(text(lang, 'collection_caption'))}</caption><thead><tr>"
        + "".join(
            f'<th scope="col">{_e(text(lang, k))}</th>'
            for k in ("family", "state", "last_success", "age", "error", "anomalies")
        )
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
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
    return f'<span class="warn">{_e(", ".join(notes))}</span>' if notes else ""


def _figures(asset: Asset, lang: Language) -> str:
    if asset.remaining_seconds is not None:
        left = fmt.hours(asset.remaining_seconds, lang)
        if asset.ordered_seconds:
            pct = 100 * asset.remaining_seconds / asset.ordered_seconds
            return (
                f"{_e(left)} <span class='muted'>"
                f"{_e(text(lang, 'of_ordered', total=fmt.hours(asset.ordered_seconds, lang)))}"
                f" ({pct:.0f}%)</span>"
            )
        return _e(left)
    if asset.quota_limit is not None or asset.quota_remaining is not None:
        return _e(text(lang, "quota_of", left=asset.quota_remaining, limit=asset.quota_limit))
    if asset.concurrency is not None:
        return _e(text(lang, "concurrent", n=asset.concurrency))
    return ""


def _asset_table(
    data: StatusData, account: AccountStatus, query: ViewQuery, sid: str, *, single: bool
) -> str:
    lang, now = data.language, data.now
    ordered = sort_assets(account.assets, now, query.sort, descending=query.descending)
    if single:
        page = paginate(ordered, query.page, ACCOUNT_PAGE_ROWS)
    else:
        page = paginate(ordered, 1, OVERVIEW_ROWS)
    title = f'<h3 id="{sid}-assets">{_e(text(lang, "table"))}</h3>'
    if not ordered:
        return title + f'<p class="empty">{_e(text(lang, "no_assets"))}</p>'
    link_account = account.name if single else None

    def header(key: SortKey | None, label: str, cls: str = "") -> str:
        cls_attr = f' class="{cls}"' if cls else ""
        if key is None:
            return f'<th scope="col"{cls_attr}>{_e(label)}</th>'
        active = query.sort == key
        desc = active and not query.descending
        aria = f' aria-sort="{"descending" if query.descending else "ascending"}"' if active else ""
        arrow = ("▼" if query.descending else "▲") if active else ""
        href = _href(account=link_account, sort=key, dir="desc" if desc else None)
        return (
            f'<th scope="col"{cls_attr}{aria}><a href="{href}#{sid}-assets">{_e(label)}'
            f'<span aria-hidden="true">{arrow}</span></a></th>'
        )

    rows = []
    for a in page.items:
        left = a.expires_in_seconds(now)
        sev = asset_severity(a, now, data.critical_days, data.warning_days)
        expires = _time(a.expires_at, account.zone) if a.expires_at else "—"
        left_text = text(lang, "expiry_unknown") if a.expiry_unknown else fmt.time_left(left, lang)
        rows.append(
            f'<tr class="row-{sev}"><td>{_e(text(lang, "kind_" + a.kind))}</td>'
            f"<td>{_e(a.type)}</td>"
            f'<td><span class="name">{_e(a.name)}</span>'
            f' <code class="id">{_e(a.id)}</code></td>'
            f"<td>{expires}</td>"
            f'<td class="left">{_badge(sev, left_text, lang)}</td>'
            f"<td>{_figures(a, lang)}</td></tr>"
        )
    sort_label = text(lang, f"sort_{query.sort}")
    caption = text(
        lang,
        "table_caption",
        shown=len(page.items),
        total=page.total,
        account=account.name,
        key=sort_label,
    )
    table = (
        f'<div class="scroll"><table class="assets" data-account="{_e(account.name)}">'
        f"<caption>{_e(caption)}</caption><thead><tr>"
        + header("kind", text(lang, "col_kind"))
        + header(None, text(lang, "col_type"))
        + header("name", text(lang, "col_name"))
        + header(None, text(lang, "col_expires"))
        + header("expires", text(lang, "col_left"))
        + header("figures", text(lang, "col_figures"))
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    footer = ""
    if not single and page.total > len(page.items):
        href = _href(
            account=account.name,
            sort=query.sort if query.sort != "expires" else None,
            dir="desc" if query.descending else None,
        )
        footer = (
            f'<p class="more"><a href="{href}">'
            f"{_e(text(lang, 'show_all', n=page.total, account=account.name))}</a></p>"
        )
    elif single and page.pages > 1:
        common = {
            "account": account.name,
            "sort": query.sort if query.sort != "expires" else None,
            "dir": "desc" if query.descending else None,
        }
        prev = (
            f'<a rel="prev" href="{_href(**common, page=page.number - 1)}#{sid}-assets">'
            f"{_e(text(lang, 'prev'))}</a>"
            if page.number > 1
            else ""
        )
        nxt = (
            f'<a rel="next" href="{_href(**common, page=page.number + 1)}#{sid}-assets">'
            f"{_e(text(lang, 'next'))}</a>"
            if page.number < page.pages
            else ""
        )
        footer = (
            f'<nav class="pager" aria-label="{_e(text(lang, "table"))}">{prev}'
            f"<span>{_e(text(lang, 'page_of', page=page.number, pages=page.pages))}</span>"
            f"{nxt}</nav>"
        )
    return title + table + footer


# -- burn-down charts ----------------------------------------------------------------------


def _burndowns(data: StatusData, account: AccountStatus, sid: str, *, single: bool) -> str:
    lang, now = data.language, data.now
    title = f'<h3 id="{sid}-burn">{_e(text(lang, "burndown"))}</h3>'
    candidates = burn_candidates(account, now)
    if not candidates:
        return title + f'<p class="empty">{_e(text(lang, "burn_none"))}</p>'
    limit = ACCOUNT_CHARTS if single else OVERVIEW_CHARTS
    legend = (
        '<span class="legend" aria-hidden="true">'
        + " ".join(
            f'<span class="key {cls}"></span>{_e(text(lang, key))}'
            for cls, key in (
                ("history", "chart_history"),
                ("forecast", "chart_forecast"),
                ("expiry", "chart_expires"),
            )
        )
        + "</span>"
    )
    figures = []
    for n, asset in enumerate(candidates[:limit]):
        fc = account.forecasts.get(asset.id)
        remaining = asset.remaining_seconds or 0.0
        verdict, verdict_cls = _verdict(asset, fc, data, account.zone)
        title_text = f"{asset.name}: {text(lang, 'burn_left', hours=fmt.hours(remaining, lang))}"
        svg = burndown_svg(
            account.usage[asset.id],
            forecast=fc,
            expires_at=asset.expires_at,
            now=now,
            zone=account.zone,
            language=lang,
            ident=f"{sid}-burn-{n}",
            title=f"{title_text}; {verdict}",
        )
        rate = (
            text(lang, "burn_rate", rate=fmt.hours(fc.rate * 86400, lang))
            if fc is not None and fc.rate > 0
            else ""
        )
        figures.append(
            f'<figure class="chart burn-chart">{svg}<figcaption>'
            f'<strong>{_e(asset.name)}</strong> <code class="id">{_e(asset.id)}</code><br>'
            f"{_e(text(lang, 'burn_left', hours=fmt.hours(remaining, lang)))}"
            f"{' · ' + _e(rate) if rate else ''}<br>"
            f'<span class="{verdict_cls}">{_e(verdict)}</span>'
            f"{legend}"
            "</figcaption></figure>"
        )
    more = (
        f'<p class="more">{_e(text(lang, "burn_more", n=len(candidates) - limit))}</p>'
        if len(candidates) > limit
        else ""
    )
    return title + f'<div class="burns">{"".join(figures)}</div>' + more


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


def _alerts(data: StatusData, account: AccountStatus, sid: str) -> str:
    lang = data.language
    title = f'<h3 id="{sid}-alerts">{_e(text(lang, "alerts"))}</h3>'
    if not account.alerts:
        return title + f'<p class="empty">{_e(text(lang, "no_alerts"))}</p>'
    ordered = sorted(
        account.alerts,
        key=lambda x: (
            x.alert.status != "firing",
            _SEVERITY_RANK.get(x.alert.severity, 9),
            -x.started_at.timestamp(),
        ),
    )
    rows = [_alert_row(x, lang, account.zone) for x in ordered[:ALERT_ROWS]]
    more = (
        f'<p class="more">{_e(text(lang, "more_alerts", n=len(ordered) - ALERT_ROWS))}</p>'
        if len(ordered) > ALERT_ROWS
        else ""
    )
    head = "".join(
        f'<th scope="col">{_e(text(lang, k))}</th>'
        for k in ("col_severity", "state", "col_alert", "col_since", "col_notified", "col_delivery")
    )
    return (
        title + f'<div class="scroll"><table class="alerts">'
        f"<caption>{_e(text(lang, 'alerts_caption', account=account.name))}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{more}"
    )


def _alert_row(item: AlertItem, lang: Language, zone: tzinfo) -> str:
    alert = item.alert
    sev_class = {"critical": "critical", "warning": "warning"}.get(alert.severity, "never")
    summary = alert.annotations.get("summary") or alert.labels.get("alertname", alert.rule)
    description = alert.annotations.get("description", "")
    notified = _time(item.last_notified_at, zone) if item.last_notified_at else "—"
    delivery = "—"
    if item.delivery is not None:
        d = item.delivery
        cls = {"delivered": "good", "pending": "warn"}.get(d.state, "bad")
        error = f'<br><span class="muted">{_e(d.error)}</span>' if d.error else ""
        delivery = (
            f'{_e(d.channel)}: <span class="{cls}">{_e(text(lang, "dl_" + d.state))}</span>'
            f" {_time(d.at, zone)}{error}"
        )
    status_cls = "bad" if alert.status == "firing" else "good"
    return (
        f'<tr><td><span class="badge sev-{sev_class}">{_e(text(lang, "sev_" + alert.severity))}'
        f'</span></td><td><span class="{status_cls}">{_e(text(lang, "status_" + alert.status))}'
        f"</span></td><td>{_e(summary)}"
        + (f'<br><span class="muted">{_e(description)}</span>' if description else "")
        + f"</td><td>{_time(item.started_at, zone)}</td><td>{notified}</td>"
        f"<td>{delivery}</td></tr>"
    )


def _channels(data: StatusData) -> str:
    lang = data.language
    title = f'<h2 id="channels">{_e(text(lang, "channels"))}</h2>'
    if not data.channels:
        body = f'<p class="empty">{_e(text(lang, "no_channels"))}</p>'
    else:
        rows = "".join(
            f'<tr><th scope="row">{_e(c.name)}</th><td>{_e(c.kind)}</td>'
            f"<td><code>{_e(c.target)}</code></td></tr>"
            for c in data.channels
        )
        body = (
            f"<table><caption>{_e(text(lang, 'channels_caption', n=data.queue_depth))}</caption>"
            f'<thead><tr><th scope="col">{_e(text(lang, "col_channel"))}</th>'
            f'<th scope="col">{_e(text(lang, "col_type"))}</th>'
            f'<th scope="col">{_e(text(lang, "col_target"))}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return f'<section aria-labelledby="channels">{title}{body}{_state(data)}{_http(data)}</section>'


def _state(data: StatusData) -> str:
    """The state store: up or not, and whether its file was ever lost."""
    lang, st = data.language, data.state
    if st.up:
        verdict = f'<span class="good">{_e(text(lang, "state_ok"))}</span>'
    else:
        error = f' <span class="muted">{_e(st.error)}</span>' if st.error else ""
        verdict = f'<span class="bad">{_e(text(lang, "state_down"))}</span>{error}'
    line = f'<p class="state-store">{_e(text(lang, "state_store"))}: {verdict}</p>'
    if st.losses and st.lost_at is not None:
        at = st.lost_at.astimezone(data.now.tzinfo).strftime("%Y-%m-%d %H:%M:%S %Z")
        what = text(lang, "state_lost", n=st.losses, file=st.lost_file, at=at)
        kept = text(lang, "state_salvaged" if st.salvaged else "state_restored")
        parts = [_e(what), _e(kept)]
        if st.notifications_lost:
            parts.append(_e(text(lang, "state_notifications_lost", n=st.notifications_lost)))
        line += f'<p class="state-store warn">{"; ".join(parts)}.</p>'
    return line


def _http(data: StatusData) -> str:
    """Refusals of the HTTP endpoints (throttled logins, slow or oversized clients)."""
    lang, http = data.language, data.http
    if http.refused and http.last_refused_at is not None:
        at = http.last_refused_at.astimezone(data.now.tzinfo).strftime("%Y-%m-%d %H:%M:%S %Z")
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(http.refused.items()))
        line = text(
            lang,
            "http_refused",
            n=sum(http.refused.values()),
            reasons=reasons,
            when=at,
            failures=http.auth_failures,
        )
    elif http.auth_failures:
        line = text(lang, "http_auth_failed", failures=http.auth_failures)
    else:
        return ""
    return f'<p class="http-refusals warn">{_e(line)}</p>'


_CSS = """
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:flex-end;gap:1rem;
padding:1rem 1.5rem;background:#0f172a;color:#f8fafc}
header h1{margin:0;font-size:1.4rem}header .tagline{margin:.2rem 0 0;color:#cbd5e1}
header nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:1rem;margin:0;padding:0}
header a{color:#93c5fd}header .muted{color:#94a3b8;margin:.3rem 0 0;font-size:.85rem}
main{padding:1rem 1.5rem;max-width:1400px;margin:0 auto}
footer{padding:1rem 1.5rem;text-align:center}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
section.account{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:.5rem 1.2rem 1.2rem;margin:1.2rem 0;box-shadow:0 1px 2px rgba(15,23,42,.05)}
nav.accounts ul{list-style:none;display:flex;flex-wrap:wrap;gap:.5rem;padding:0;margin:0}
nav.accounts a{display:inline-block;padding:.2rem .7rem;border:1px solid var(--line);
border-radius:999px;background:#fff;text-decoration:none}
a{color:var(--accent)}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.9rem}
caption{text-align:left;color:var(--muted);font-size:.8rem;padding:.2rem 0}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
thead th{background:#f1f5f9;font-weight:600;white-space:nowrap}
thead th a{color:inherit;text-decoration:none}thead th a:hover{text-decoration:underline}
table.glance th[scope=row]{white-space:nowrap}
.grid>div{min-width:0;overflow-x:auto}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
.cards{display:flex;flex-wrap:wrap;gap:.7rem;margin:.5rem 0}
.card{flex:1 1 120px;border:1px solid var(--line);border-radius:8px;padding:.5rem .8rem;
background:#fff}
.card .big{font-size:1.6rem;font-weight:700;font-variant-numeric:tabular-nums}
.card.sev-expired{border-color:#7f1d1d}.card.sev-critical{border-color:#fca5a5;background:#fef2f2}
.card.sev-warning{border-color:#fcd34d;background:#fffbeb}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:1rem}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:999px;font-size:.8rem;
font-weight:600;white-space:nowrap;font-variant-numeric:tabular-nums}
.sev-expired.badge{background:#7f1d1d;color:#fff}
.sev-critical.badge{background:#fee2e2;color:#991b1b}
.sev-warning.badge{background:#fef3c7;color:#92400e}
.sev-ok.badge{background:#dcfce7;color:#166534}
.sev-never.badge{background:#f1f5f9;color:#475569}
.sev-unknown.badge{background:#ede9fe;color:#5b21b6}
.sev-text-expired{color:#7f1d1d;font-weight:700}.sev-text-critical{color:#b91c1c;font-weight:700}
.sev-text-warning{color:#b45309;font-weight:700}
tr.row-expired td{background:#fef2f2}
.muted{color:var(--muted)}.bad{color:#b91c1c;font-weight:600}.warn{color:#b45309}
.banner{border:1px solid #fcd34d;background:#fffbeb;color:#92400e;border-radius:8px;
padding:.6rem 1rem;margin:.5rem 0 1rem;font-weight:600}
.good{color:#15803d}.empty{color:var(--muted);font-style:italic}
code.id{font-size:.75rem;color:var(--muted)}
figure.chart{margin:.3rem 0;background:#fff}
svg{width:100%;height:auto;font-family:inherit}
svg .tick{font-size:11px;fill:#64748b}svg .lane{font-size:12px;fill:#0f172a;font-weight:600}
svg .count{font-size:9px;fill:#fff;font-weight:700;pointer-events:none}svg .note{font-size:11px}
.burns{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1rem}
.burn-chart{border:1px solid var(--line);border-radius:8px;padding:.5rem}
.burn-chart figcaption{font-size:.85rem}
.legend{display:block;color:var(--muted);font-size:.75rem;margin-top:.2rem}
.key{display:inline-block;width:18px;height:0;border-top:2px solid;vertical-align:middle;
margin-right:.2rem}
.key.history{border-color:#2563eb}.key.forecast{border-color:#ea580c;border-top-style:dashed}
.key.expiry{border-color:#dc2626;border-top-style:dotted}
.pager{display:flex;gap:1rem;align-items:center;margin:.5rem 0}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
"""
