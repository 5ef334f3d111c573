"""The daily digest (资产日报): one message a day per channel at a local time (pure).

For each account the channel routes: what expired, what expires within N days,
what runs dry within N days at the current burn, and the hours and quotas left
per service type. The digest is one :class:`Notification` (reason
``digest``) with one block per account, so a chat channel splits a long one
between accounts; it goes through the outbox like any alert.

Its id is ``digest:<channel>:<local date>``: the daemon enqueues it only if
no entry with that id exists, so a restart (or two evaluations in the same
minute) never sends one day's digest twice. The local date is that of the
digest's zone; it is due from ``at`` on that date until midnight, so a daemon
that was down at ``at`` sends it when it is back the same day, and on a DST
change an ``at`` that does not exist that day (02:30 when clocks jump to
03:00) is due from the first minute after it.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from monitor.alerts.channels.config import DigestConfig
from monitor.alerts.channels.render import DIGEST_RULE
from monitor.alerts.records import Alert, Notification
from monitor.catalogue import TEXTS, Language
from monitor.domain import Asset
from monitor.forecast import Forecast
from monitor.text import one_line

__all__ = ["AccountDigest", "build_digest", "digest_day", "digest_id", "running_dry"]

_DAY = 86400.0
#: lines per section of one account, at most (then "… and N more")
_MAX_LINES = 20
#: the digest's phrases (the catalogue's ``digest.*``), raw: :func:`_fmt` keeps the
#: outside values it fills in apart from our words
_DIGEST_EN = {k.removeprefix("digest."): v[0] for k, v in TEXTS.items() if k.startswith("digest.")}
_DIGEST_ZH = {k.removeprefix("digest."): v[1] for k, v in TEXTS.items() if k.startswith("digest.")}


def digest_id(channel: str, day: date) -> str:
    """The outbox id of one channel's digest of one local day."""
    return f"digest:{channel}:{day.isoformat()}"


def digest_day(config: DigestConfig, zone: tzinfo, now: datetime) -> date | None:
    """The local date whose digest is due at ``now`` (from ``at`` until midnight), or
    None before ``at``."""
    local = now.astimezone(zone)
    if (local.hour, local.minute) >= config.hour_minute:
        return local.date()
    return None


def running_dry(forecast: Forecast | None) -> tuple[datetime | None, float | None]:
    """(when the package runs dry, hours used per day) at the current burn, from the
    forecast model; the one place the digest reads it (monitor/forecast.py)."""
    if forecast is None:
        return None, None
    return forecast.depletion_at, forecast.rate * _DAY / 3600


@dataclass(frozen=True, slots=True)
class AccountDigest:
    """What the digest is told of one account."""

    name: str
    assets: Sequence[Asset]
    forecasts: Mapping[str, Forecast] = field(default_factory=dict)
    #: whether any of its data was collected (else "no data yet")
    collected: bool = True


#: a line as alternating pieces, ours (even) and outside text (odd), as Alert.parts
_Line = tuple[str, ...]
#: the fields of the digest's lines that quote outside text
_OUTSIDE = frozenset({"name", "type"})


def _fmt(template: str, **fields: str) -> _Line:
    """``template.format(**fields)`` cut into ours and outside pieces."""
    pieces = [""]
    for literal, name, _, _ in string.Formatter().parse(template):
        if len(pieces) % 2 == 0:
            pieces.append("")
        pieces[-1] += literal
        if name is None:
            continue
        if name in _OUTSIDE:
            pieces.append(fields[name])
        else:
            if len(pieces) % 2 == 0:
                pieces.append("")
            pieces[-1] += fields[name]
    return tuple(pieces)


def _joined(lines: Iterable[_Line]) -> _Line:
    """Lines joined by line breaks, neighbouring pieces of a kind merged."""
    pieces = [""]
    for n, line in enumerate(lines):
        if n:
            if len(pieces) % 2 == 0:
                pieces.append("")
            pieces[-1] += "\n"
        for i, piece in enumerate(line):
            if (len(pieces) % 2 == 0) == (i % 2 == 1):
                pieces[-1] += piece
            else:
                pieces.append(piece)
    return tuple(pieces)


def _when(value: datetime, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _capped(lines: list[_Line], texts: Mapping[str, str]) -> list[_Line]:
    if len(lines) <= _MAX_LINES:
        return lines
    return [*lines[:_MAX_LINES], _fmt(texts["more"], n=str(len(lines) - _MAX_LINES))]


def _num(value: float) -> str:
    return f"{value:,.1f}"


def _account_lines(  # noqa: PLR0912 - one pass, a branch per section
    account: AccountDigest,
    now: datetime,
    *,
    within_days: float,
    zone: tzinfo,
    texts: Mapping[str, str],
    forget_after_days: float,
) -> list[_Line]:
    if not account.collected:
        return [(texts["no_data"],)]
    horizon = within_days * _DAY
    expired: list[tuple[float, _Line]] = []
    expiring: list[tuple[float, _Line]] = []
    dry: list[tuple[float, _Line]] = []
    hours: dict[str, float] = {}
    quotas: dict[str, tuple[float, float | None]] = {}
    for a in account.assets:
        name, kind_type = one_line(a.name or a.id), one_line(a.type)
        left = a.expires_in_seconds(now)
        live = left is None or left > 0
        if left is not None and left <= 0 and a.expires_at is not None:
            if forget_after_days == 0 or -left <= forget_after_days * _DAY:
                line = _fmt(
                    texts["expired_line"], name=name, type=kind_type, when=_when(a.expires_at, zone)
                )
                expired.append((left, line))
        elif left is not None and left <= horizon and a.expires_at is not None:
            line = _fmt(
                texts["expiring_line"],
                name=name,
                type=kind_type,
                when=_when(a.expires_at, zone),
                days_left=f"{left / _DAY:.1f}",
            )
            expiring.append((left, line))
        if not live:
            continue
        if a.category == "hours" and a.remaining_seconds is not None:
            hours[kind_type] = hours.get(kind_type, 0.0) + a.remaining_seconds
            at, rate = running_dry(account.forecasts.get(a.id))
            if at is not None and rate is not None and (at - now).total_seconds() <= horizon:
                line = _fmt(
                    texts["dry_line"],
                    name=name,
                    type=kind_type,
                    when=_when(at, zone),
                    hours=_num(a.remaining_seconds / 3600),
                    rate=f"{rate:,.2f}",
                )
                dry.append(((at - now).total_seconds(), line))
        if a.category == "quota" and a.quota_remaining is not None:
            left_q, limit_q = quotas.get(kind_type, (0.0, 0.0))
            limit = None if limit_q is None or a.quota_limit is None else limit_q + a.quota_limit
            quotas[kind_type] = (left_q + a.quota_remaining, limit)
    lines: list[_Line] = []
    days = f"{within_days:g}"
    sections = (
        (texts["expired"], expired),
        (texts["expiring"].format(days=days), expiring),
        (texts["running_dry"].format(days=days), dry),
    )
    for heading, found in sections:
        if found:
            lines.append((f"{heading}:",))
            lines.extend(_capped([line for _, line in sorted(found)], texts))
    if not expired and not expiring and not dry:
        lines.append((texts["nothing"].format(days=days),))
    left_lines = [
        _fmt(texts["hours_line"], type=t, hours=_num(s / 3600)) for t, s in sorted(hours.items())
    ]
    left_lines += [
        _fmt(texts["quota_line"], type=t, left=f"{q:g}", limit="?" if lim is None else f"{lim:g}")
        for t, (q, lim) in sorted(quotas.items())
    ]
    if left_lines:
        lines.append((f"{texts['left']}:",))
        lines.extend(_capped(left_lines, texts))
    return lines


def build_digest(
    channel: str,
    day: date,
    accounts: Iterable[AccountDigest],
    *,
    now: datetime,
    within_days: float,
    language: str,
    zone: tzinfo,
    forget_after_days: float = 30.0,
) -> Notification:
    """One channel's digest of ``day``: a block per account, in ``language``, times in
    ``zone``. The names in it are outside text: each block's description is one
    outside piece, escaped by the channel."""
    lang: Language = "zh" if language == "zh" else "en"
    texts = _DIGEST_ZH if lang == "zh" else _DIGEST_EN
    title = texts["title"].format(date=day.isoformat())
    blocks = []
    for account in accounts:
        parts = _joined(
            _account_lines(
                account,
                now,
                within_days=within_days,
                zone=zone,
                texts=texts,
                forget_after_days=forget_after_days,
            )
        )
        body = "".join(parts)
        blocks.append(
            Alert(
                rule=DIGEST_RULE,
                account=account.name,
                kind="account",
                asset="",
                severity="info",
                status="firing",
                starts_at=now,
                labels={
                    "alertname": "IvhAssetDigest",
                    "severity": "info",
                    "rule": DIGEST_RULE,
                    "account": account.name,
                    "kind": "account",
                    "asset": "",
                },
                annotations={"summary": title, "description": body},
                # names and types are outside text (escaped by the channel), the rest ours
                annotation_parts={"summary": (title,), "description": parts},
            )
        )
    return Notification(
        id=digest_id(channel, day),
        channel=channel,
        reason="digest",
        created_at=now,
        alerts=tuple(blocks),
        language=lang,
        timezone=str(zone),
    )


def next_due(config: DigestConfig, zone: tzinfo, now: datetime) -> datetime:
    """The next instant the digest falls due after today's (for the status page)."""
    local = now.astimezone(zone)
    hour, minute = config.hour_minute
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(
            hour=hour, minute=minute, second=0, microsecond=0
        )
    return candidate
