"""``ivh-monitor report``: one collection of every account, as a table or JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

import httpx

from monitor.client import shared_clients
from monitor.config import Account, Settings
from monitor.domain import FAMILIES, Asset, FamilyResult
from monitor.fetch import collect_account
from monitor.serialise import anchor_record, asset_record, expiry_order
from monitor.text import json_text, printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = [
    "ReportResult",
    "collect_all",
    "exit_status",
    "render_json",
    "render_table",
]

EXIT_OK, EXIT_CRITICAL, EXIT_FAILED = 0, 1, 2
_FAMILY_OF_KIND = {"service": "services", "timbre": "timbres", "image": "images"}
_HOUR = 3600.0
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class ReportResult:
    now: datetime
    accounts: tuple[Account, ...]
    families: tuple[FamilyResult, ...]

    @property
    def assets(self) -> list[Asset]:
        return [a for f in self.families for a in f.assets]

    @property
    def failures(self) -> list[FamilyResult]:
        return [f for f in self.families if not f.ok]


async def collect_all(
    settings: Settings,
    accounts: Sequence[Account],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    show_progress: bool = False,
) -> ReportResult:
    """Collect every family of every account once, accounts concurrently."""
    from rich.console import Console  # noqa: PLC0415 - rich only where a terminal is drawn
    from rich.markup import escape  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    clients = list(shared_clients(accounts, settings.client, transport=transport).values())
    progress = Progress(console=Console(stderr=True), transient=True, disable=not show_progress)
    try:
        with progress:
            total = len(accounts) * len(settings.collectors.enabled())
            task = progress.add_task("collecting", total=total)

            def done(result: FamilyResult) -> None:
                progress.advance(task)
                # the description is rich markup: an account name is text
                description = escape(printable(f"{result.account}: {result.family}"))
                progress.update(task, description=description)

            per_account = await asyncio.gather(
                *(
                    collect_account(
                        c,
                        settings.client.virtualman_type_codes,
                        on_family_done=done,
                        deadlines={f: settings.job_deadline(f) for f in FAMILIES},
                        families=settings.collectors.enabled(),
                    )
                    for c in clients
                )
            )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return ReportResult(now(), tuple(accounts), tuple(r for rs in per_account for r in rs))


def sorted_assets(result: ReportResult) -> list[Asset]:
    return sorted(result.assets, key=lambda a: expiry_order(a, result.now))


def render_json(result: ReportResult, out: TextIO) -> None:
    """The assets as JSON: names exactly as the vendor sent them, each control,
    format or surrogate character as a ``\\uXXXX`` escape (:func:`json_text`)."""
    # a failed family shows assets only when they are what arrived of incomplete listings
    partial = {(f.account, f.family) for f in result.families if not f.ok}
    records = [
        asset_record(
            a,
            result.now,
            "partial" if (a.account, _FAMILY_OF_KIND[a.kind]) in partial else "current",
        )
        for a in sorted_assets(result)
    ]
    # anchors after the assets (they never expire), by account and code
    anchors = sorted(
        ((f, anchor) for f in result.families for anchor in f.anchors),
        key=lambda pair: (pair[1].account, pair[1].code),
    )
    records += [anchor_record(a, "current" if f.ok else "partial") for f, a in anchors]
    out.write(json_text(records, indent=2))
    out.write("\n")


def _span(seconds: float) -> str:
    s = abs(seconds)
    return f"{int(s // _DAY)}d {int(s % _DAY // _HOUR)}h" if s >= _DAY else f"{s / _HOUR:.1f}h"


def _left(seconds: float | None, *, unknown: bool = False, starts_in: float | None = None) -> str:
    start = f"not active yet: starts in {_span(starts_in)}; " if starts_in is not None else ""
    if unknown:
        return start + "expiry unknown"
    if seconds is None:
        return start + "never"
    text = _span(seconds)
    return start + (f"expired {text} ago" if seconds < 0 else text)


#: how many avatar type codes a voice's cell lists before it only counts them
_AVATAR_TYPES_SHOWN = 3


def _figures(asset: Asset) -> str:
    if asset.remaining_seconds is not None:
        text = f"{asset.remaining_seconds / _HOUR:,.1f} h left"
        if asset.ordered_seconds:
            pct = 100 * asset.remaining_seconds / asset.ordered_seconds
            text += f" of {asset.ordered_seconds / _HOUR:,.0f} h ({pct:.0f}%)"
        return text
    if asset.quota_limit is not None or asset.quota_remaining is not None:
        return f"{asset.quota_remaining} of {asset.quota_limit} left"
    if asset.concurrency is not None:
        return f"{asset.concurrency} concurrent"
    if asset.kind == "timbre":
        parts = []
        if asset.audio_seconds is not None:
            parts.append(f"{asset.audio_seconds / _HOUR:,.2f} h audio")
        codes = asset.avatar_types
        if codes:
            shown = ", ".join(codes) if len(codes) <= _AVATAR_TYPES_SHOWN else f"{len(codes)} types"
            parts.append(f"avatars: {shown}")
        return "; ".join(parts)
    if asset.kind == "image" and asset.video_seconds is not None:
        return f"{asset.video_seconds / _HOUR:,.2f} h video"
    return ""


def _cell(text: str) -> Text:
    from rich.text import Text  # noqa: PLC0415 - see collect_all

    # a Text is never parsed: no markup, no emoji codes, no highlighting
    return Text(printable(text))


def render_table(result: ReportResult, console: Console, settings: Settings) -> None:
    """The assets as a rich table; every cell is plain text (:func:`_cell`)."""
    from rich.table import Table  # noqa: PLC0415 - see collect_all

    zones = {a.name: a.zone for a in result.accounts}
    table = Table(title=f"IVH assets at {result.now.astimezone():%Y-%m-%d %H:%M %Z}")
    for column in ("account", "kind", "type", "name", "expires", "left", "figures"):
        table.add_column(column, overflow="fold")
    critical, warning = settings.critical_days * _DAY, settings.warning_days * _DAY
    for asset in sorted_assets(result):
        left = asset.expires_in_seconds(result.now)
        style = ""
        if left is not None:
            style = "red" if left < critical else ("yellow" if left < warning else "")
        expires = (
            asset.expires_at.astimezone(zones.get(asset.account)).strftime("%Y-%m-%d %H:%M %Z")
            if asset.expires_at
            else ("?" if asset.expiry_unknown else "-")
        )
        table.add_row(
            _cell(asset.account),
            _cell(asset.kind),
            _cell(asset.type + (f" ({asset.category})" if asset.category else "")),
            _cell(asset.name),
            _cell(expires),
            _cell(
                _left(
                    left,
                    unknown=asset.expiry_unknown,
                    starts_in=asset.starts_in_seconds(result.now),
                )
            ),
            _cell(_figures(asset)),
            style=style,
        )
    console.print(table)


def print_problems(result: ReportResult, err: TextIO) -> None:
    """Failures, skipped records, anomalies and unknown expiries go to stderr with
    the account and endpoint (or kind) and the asset, one line each: ids, reasons
    and the vendor's messages are outside text (:func:`printable`)."""

    def line(text: str) -> None:
        err.write(printable(text) + "\n")

    for family in result.families:
        for p in family.problems:
            key = f" ({p.key})" if p.key else ""
            line(
                f"warning: {family.account}: {p.endpoint}: skipped record #{p.index}{key}:"
                f" {p.reason}"
            )
        for asset, x in family.anomalies:
            field = f" ({x.detail})" if x.detail else ""
            line(
                f"warning: {family.account}: {x.endpoint}: {asset.kind} {asset.id}:"
                f" {x.reason}{field}, record kept"
            )
        for asset in family.assets:
            if asset.expiry_unknown:
                line(
                    f"warning: {family.account}: {asset.kind} {asset.id}: expiry unknown"
                    " (blank or placeholder date), not alerted as expiring"
                )
        if family.error is not None:
            line(f"error: {family.family}: {family.error}")
        for incomplete in family.incomplete[1:]:  # the first is the family's error
            line(f"error: {family.family}: {incomplete}")


def exit_status(result: ReportResult, critical_days: float) -> int:
    """2 when a collection failed, else 1 when an asset is within the critical
    threshold (or expired), else 0."""
    if result.failures:
        return EXIT_FAILED
    limit = critical_days * _DAY
    for asset in result.assets:
        left = asset.expires_in_seconds(result.now)
        if left is not None and left < limit:
            return EXIT_CRITICAL
    return EXIT_OK
