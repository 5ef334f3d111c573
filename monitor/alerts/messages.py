"""Alert texts in English or Chinese: what, how much, by when, and what to do (pure).

The words are the catalogue's (:mod:`monitor.catalogue`, keys ``alert.*`` and
``resolved.*``); this module formats the facts that fill them.

Each text is also returned cut into pieces (:data:`Parts`): our words and
figures, and the outside text substituted into them (the fields in
:data:`OUTSIDE_FIELDS`: names, ids, account labels, the vendor's errors), so a
chat channel can escape the outside pieces for its markup and leave the rest,
including an operator's ``alerts.templates`` text, as written.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from string import Template
from typing import Any

from monitor.catalogue import TEXTS, Field, Language, Piece, pieces, text
from monitor.text import one_line

__all__ = [
    "OUTSIDE_FIELDS",
    "Parts",
    "advice",
    "joined",
    "render",
    "render_parts",
    "render_resolved_parts",
]

#: alternating pieces: ours (even indexes) and outside text (odd indexes)
Parts = tuple[str, ...]

#: template fields whose values come from outside (the vendor, the operator's
#: account labels): everything else is a figure or a word we formatted
OUTSIDE_FIELDS = frozenset({"account", "asset", "name", "type", "error", "quota_limit"})

#: the texts of each rule, in this order; keys ``alert.<rule>.<part>`` of the catalogue
_PARTS = ("summary", "description", "action")


def _kind_name(language: Language, kind: str) -> str:
    key = f"alert.kind.{kind}"
    return text(language, key) if key in TEXTS else kind


def _fmt_time(value: Any, zone: tzinfo) -> str:
    if isinstance(value, datetime):
        return _fmt_moment(value, zone)
    return str(value)


@functools.lru_cache(maxsize=8192)
def _fmt_moment(value: datetime, zone: tzinfo) -> str:
    """A moment in ``zone`` (the same few dates, every evaluation: formatted once).
    Equal datetimes are the same instant, which ``astimezone`` shows alike."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _hours(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 3600:,.1f}"


class _Builder:
    """Collects pieces, merging neighbours of the same kind."""

    def __init__(self) -> None:
        self.pieces: list[str] = [""]

    def add(self, text: str, *, outside: bool = False) -> None:
        if not text:
            return
        if (len(self.pieces) % 2 == 0) == outside:  # the last piece is of this kind
            self.pieces[-1] += text
        else:
            self.pieces.append(text)

    def extend(self, parts: Parts) -> None:
        for i, piece in enumerate(parts):
            self.add(piece, outside=i % 2 == 1)

    def build(self) -> Parts:
        return tuple(self.pieces)


#: filled texts by (the compiled text's id, the values of its fields); the compiled
#: texts are the catalogue's, alive as long as the process. Bounded by the characters
#: it holds (values and filled pieces), not by entries: emptied once past
#: :data:`_FILLED_MAX_CHARS`. At 10x334 (1,735 alerts) it holds 3,467 texts of 0.55M
#: characters (1.5 MB); the cap (~4 MB at most, 20k entries were ~9) keeps a fleet
#: whose figures change every cycle from piling up dead texts
_FILLED: dict[tuple[int, tuple[str, ...]], Parts] = {}
_FILLED_MAX_CHARS = 1_500_000
_filled_chars = 0
#: the field names of each compiled text, by its id
_NAMES: dict[int, tuple[str, ...]] = {}


def _fill(compiled: tuple[Piece, ...], fields: Mapping[str, str]) -> Parts:
    """A catalogue text with its placeholders filled from ``fields``, as :data:`Parts`:
    the same text and values as an evaluation before give the pieces it made."""
    names = _NAMES.get(id(compiled))
    if names is None:
        names = _NAMES[id(compiled)] = tuple(p.name for p in compiled if isinstance(p, Field))
        _CATALOGUE_TEXTS.append(compiled)  # its id stays its own
    key = (id(compiled), tuple([fields[n] for n in names]))
    done = _FILLED.get(key)
    if done is None:
        global _filled_chars  # noqa: PLW0603 - the cache's own tally
        done = _filled(compiled, fields)
        chars = sum(map(len, key[1])) + sum(map(len, done))
        if _filled_chars + chars > _FILLED_MAX_CHARS:
            _FILLED.clear()
            _filled_chars = 0
        _FILLED[key] = done
        _filled_chars += chars
    return done


#: every compiled text seen by :func:`_fill`, kept alive so that no other object takes
#: its id (they are the catalogue's anyway)
_CATALOGUE_TEXTS: list[tuple[Piece, ...]] = []


def _filled(compiled: tuple[Piece, ...], fields: Mapping[str, str]) -> Parts:
    out = _Builder()
    for piece in compiled:
        if isinstance(piece, Field):
            out.add(fields[piece.name], outside=piece.name in OUTSIDE_FIELDS)
        else:
            out.add(piece)
    return out.build()


def _substitute(template: str, fields: Mapping[str, str]) -> Parts:
    """``Template(template).safe_substitute(fields)``, cut into our and outside pieces.

    For the operator's ``alerts.templates`` only: our own texts are the catalogue's.
    """
    out = _Builder()
    pattern = Template.pattern
    last = 0
    for match in pattern.finditer(template):
        out.add(template[last : match.start()])
        last = match.end()
        name = match["named"] or match["braced"]
        if match["escaped"] is not None:
            out.add(Template.delimiter)
        elif name is not None and name in fields:
            out.add(fields[name], outside=name in OUTSIDE_FIELDS)
        else:  # unknown or invalid: left as written, as safe_substitute does
            out.add(match[0])
    out.add(template[last:])
    return out.build()


def joined(parts: Parts) -> str:
    return "".join(parts)


def _strip(parts: Iterable[str]) -> Parts:
    """``parts`` without the whitespace around the whole text."""
    pieces = list(parts)
    for i in range(len(pieces)):
        pieces[i] = pieces[i].lstrip()
        if pieces[i]:
            break
    for i in reversed(range(len(pieces))):
        pieces[i] = pieces[i].rstrip()
        if pieces[i]:
            break
    return tuple(pieces)


def render(
    rule: str,
    language: Language,
    facts: Mapping[str, Any],
    zone: tzinfo,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``summary``, ``description`` and ``action`` for one alert (see :func:`render_parts`)."""
    return {k: joined(v) for k, v in render_parts(rule, language, facts, zone, overrides).items()}


def render_parts(
    rule: str,
    language: Language,
    facts: Mapping[str, Any],
    zone: tzinfo,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, Parts]:
    """``summary``, ``description`` and ``action`` for one alert, as :data:`Parts`.

    ``facts`` carries raw values (datetimes, seconds); they are formatted here,
    dates in the account's zone. ``overrides`` replace any of the three texts.
    """
    kind = str(facts.get("kind", ""))
    fields: dict[str, str] = {
        # names, ids and types are the vendor's free text: each on one line, inert
        # (monitor.text); how a channel escapes its own markup is the channel's job
        "account": one_line(str(facts.get("account", ""))),
        "asset": one_line(str(facts.get("asset", ""))),
        "name": one_line(str(facts.get("name", ""))),
        "type": one_line(str(facts.get("type", ""))),
        "kind": kind,
        "kind_name": _kind_name(language, kind),
        "expires_at": _fmt_time(facts.get("expires_at"), zone)
        if facts.get("expires_at") is not None
        else text(language, "alert.unknown" if facts.get("expiry") == "unknown" else "alert.never"),
        "days_left": f"{facts['days_left']:.1f}" if facts.get("days_left") is not None else "?",
        "days_ago": f"{-facts['days_left']:.1f}" if facts.get("days_left") is not None else "?",
        "remaining_hours": _hours(facts.get("remaining_seconds")),
        "ordered_hours": _hours(facts.get("ordered_seconds")),
        "unused_hours": _hours(facts.get("unused_seconds")),
        "percent_left": f"{facts['ratio_left'] * 100:.1f}"
        if facts.get("ratio_left") is not None
        else "?",
        "depletion_at": _fmt_time(facts.get("depletion_at"), zone)
        if facts.get("depletion_at") is not None
        else "?",
        "rate_hours_per_day": f"{facts['rate'] * 86400 / 3600:,.2f}"
        if facts.get("rate") is not None
        else "?",
        "quota_limit": str(facts.get("quota_limit", "?")),
        "families": ", ".join(facts.get("families", ())),
        "since": _fmt_time(facts.get("since"), zone) if facts.get("since") else "?",
        "error": one_line(str(facts.get("error") or "?")),
        "figures": "",
    }
    fields.update(_forecast_fields(facts, zone))
    if facts.get("remaining_seconds") is not None and facts.get("ordered_seconds"):
        fields["figures"] = text(language, "alert.figures", **fields)
    parts = {part: _fill(pieces(language, f"alert.{rule}.{part}"), fields) for part in _PARTS}
    if rule in ("hours_depleting", "unused_at_expiry"):
        # the forecast's advice, when it has one, is the action (our words and figures)
        said = advice(facts, language, zone, only="buy" if rule == "hours_depleting" else "move")
        if said:
            parts["action"] = (said[0],)
    # the operator's alerts.templates: their own (string.Template) syntax
    parts.update({part: _substitute(own, fields) for part, own in (overrides or {}).items()})
    return parts


def _rate(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, int | float) else "?"


def _forecast_fields(facts: Mapping[str, Any], zone: tzinfo) -> dict[str, str]:
    """Fields of the runaway and advice texts (figures we format; none from outside)."""
    ratio = facts.get("burn_ratio")
    buy = facts.get("buy_seconds")
    minutes = facts.get("sustained_minutes")
    return {
        "burn_ratio": f"{ratio:.1f}" if isinstance(ratio, int | float) else "?",
        "usual_hours_per_hour": _rate(facts.get("usual_rate")),
        "current_hours_per_hour": _rate(facts.get("current_rate")),
        "sustained_minutes": f"{minutes:g}" if isinstance(minutes, int | float) else "?",
        "runaway_depletion_at": _fmt_time(facts.get("runaway_depletion_at"), zone)
        if facts.get("runaway_depletion_at") is not None
        else "?",
        "buy_hours": f"{max(math.ceil(buy / 3600), 1):,}" if isinstance(buy, int | float) else "?",
        "depletion_earliest": _fmt_time(facts.get("depletion_earliest"), zone),
        "depletion_latest": _fmt_time(facts.get("depletion_latest"), zone),
    }


def advice(
    facts: Mapping[str, Any], language: Language, zone: tzinfo, *, only: str | None = None
) -> list[str]:
    """What to do, from a package's forecast: buy (it runs dry before it expires) or move
    streams onto it (hours will be left at expiry). ``facts`` as the rules give them
    (``depletion_at``, ``expires_at``, ``buy_seconds``, ``unused_seconds`` and the band);
    ``only`` picks one of the two. Empty when there is nothing to advise."""
    fields = {
        **_forecast_fields(facts, zone),
        "depletion_at": _fmt_time(facts.get("depletion_at"), zone),
        "expires_at": _fmt_time(facts.get("expires_at"), zone),
        "unused_hours": _hours(facts.get("unused_seconds")),
        "band": "",
    }
    if (
        facts.get("depletion_earliest") is not None
        and facts.get("depletion_latest") is not None
        and fields["depletion_earliest"] != fields["depletion_latest"]
    ):
        fields["band"] = text(language, "advice.band", **fields)
    out = []
    buy, unused = facts.get("buy_seconds"), facts.get("unused_seconds")
    dated = facts.get("expires_at") is not None
    if only in (None, "buy") and isinstance(buy, int | float) and facts.get("depletion_at"):
        out.extend([text(language, "advice.buy", **fields)] if dated else [])
    if only in (None, "move") and isinstance(unused, int | float) and unused >= 3600:
        out.extend([text(language, "advice.move", **fields)] if dated else [])
    return out


def render_resolved(
    alert: Any,
    *,
    reason: str,
    asset: Any,
    language: Language,
    zone: tzinfo,
    now: datetime,
) -> dict[str, str]:
    """Texts of a resolved alert (see :func:`render_resolved_parts`)."""
    parts = render_resolved_parts(
        alert, reason=reason, asset=asset, language=language, zone=zone, now=now
    )
    return {k: joined(v) for k, v in parts.items()}


def render_resolved_parts(
    alert: Any,
    *,
    reason: str,
    asset: Any,
    language: Language,
    zone: tzinfo,
    now: datetime,
) -> dict[str, Parts]:
    """Texts of a resolved alert, with the asset's current (not stale) figures."""
    expires = (
        _fmt_time(asset.expires_at, zone)
        if asset is not None and asset.expires_at is not None
        else text(
            language,
            "alert.unknown" if asset is not None and asset.expiry_unknown else "alert.never",
        )
    )
    hours = _hours(asset.remaining_seconds if asset is not None else None)
    key = f"resolved.why.{reason}"
    why = text(language, key, expires=expires, hours=hours) if key in TEXTS else reason
    summary = _Builder()
    summary.add(f"[{text(language, 'resolved.head')}] ")
    summary.extend(alert.parts("summary") if "summary" in alert.annotations else (alert.rule,))
    summary.add(f" — {why}")
    when = _fmt_time(now, zone)
    description = _Builder()
    description.extend(alert.parts("description"))
    description.add(" " + text(language, "resolved.at", when=when, why=why))
    return {"summary": summary.build(), "description": _strip(description.build()), "action": ()}
