"""Chat message text: headings in the notification's language, one block per alert.

Pure functions (no I/O, no clock). The annotations arrive already rendered in
the right language; only our own headings and labels are added here, in the
catalogue's words (:mod:`monitor.catalogue`, keys ``chat.*``).

Escaping
--------
Alert text from outside (names, ids, account labels, vendor errors: the
outside pieces of the annotations, ``account``, ``asset``, labels and string
values) goes through the channel style's ``escape`` (``escape.py``): one line,
capped, its markup shown literally. Our headings, bold, colours and mentions,
and the operator's template text, are used as written.

Template fields
---------------
A channel's ``template`` (``string.Template`` syntax, unknown ``$names`` left as
they are) replaces the default text of each alert. Fields, all strings:

``status`` (firing/resolved), ``status_label`` (FIRING / 触发中, RESOLVED / 已恢复),
``severity`` (info/warning/critical), ``severity_label`` (CRITICAL / 严重 …),
``icon`` (🔴 🟠 🔵, ✅ when resolved), ``summary``, ``description``, ``action``,
``rule``, ``account``, ``kind``, ``asset``, ``fingerprint``,
``starts_at`` / ``ends_at`` (in the channel's ``timezone``, ``ends_at`` empty
while firing), ``resolve_reason`` (renewed, topped_up …), ``resolve_reason_label``
(translated), ``label_<name>`` for each label and ``value_<name>`` for each value
(``${value_days_left}``).

Splitting
---------
:func:`pack` fills messages greedily with whole alert blocks while a
channel-supplied ``fits`` test (UTF-8 bytes of the content or of the whole
JSON body, per service) holds; a block too long on its own is cut at line
ends, then at character boundaries (never inside a UTF-8 sequence). Parts are
titled ``… (2/5)``. Nothing is dropped.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from monitor import catalogue
from monitor.alerts.channels import escape
from monitor.alerts.records import Alert, Notification
from monitor.catalogue import Language
from monitor.text import one_line

__all__ = [
    "MARKDOWN",
    "PLAIN",
    "SLACK",
    "Style",
    "alert_fields",
    "halve",
    "pack",
    "render_alert",
    "render_title",
]

_ICONS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
_RESOLVED_ICON = "✅"
_DIGEST_ICON = "📋"
#: the rule name of a digest's blocks (one per account; see alerts/digest.py)
DIGEST_RULE = "digest"


@dataclass(frozen=True, slots=True)
class Style:
    """How one service spells emphasis; ``escape`` shows outside text literally in it."""

    bold: Callable[[str], str]
    escape: escape.Escaper


def _identity(text: str) -> str:
    return text


MARKDOWN = Style(bold=lambda t: f"**{t}**", escape=escape.markdown)
SLACK = Style(bold=lambda t: f"*{t}*", escape=escape.slack)
PLAIN = Style(bold=_identity, escape=escape.plain)

#: template fields we format ourselves (words, enums, times): never escaped.
#: Everything else comes from outside (account labels, asset ids, labels, string
#: values such as names) and is; the annotations are escaped piece by piece.
_OURS = frozenset(
    {
        "status",
        "status_label",
        "severity",
        "severity_label",
        "icon",
        "rule",
        "kind",
        "fingerprint",
        "starts_at",
        "ends_at",
        "resolve_reason",
        "resolve_reason_label",
    }
)
_ANNOTATIONS = ("summary", "description", "action")


def _annotation(alert: Alert, key: str, style: Style) -> str:
    """An annotation with its outside pieces escaped and ours (and the operator's) as written."""
    pieces = alert.parts(key)
    # a whole text of unknown make-up (no pieces) is escaped, but not cut like a name
    limit = escape.MAX_CHARS if alert.annotation_parts.get(key) == pieces else None
    return "".join(
        style.escape(piece, limit) if i % 2 and piece else piece for i, piece in enumerate(pieces)
    )


def _texts(language: Language) -> Callable[[str], str]:
    """``t(word)``: the catalogue's ``chat.<word>`` in ``language``."""
    return lambda word: catalogue.text(language, f"chat.{word}")


def _time(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the model's datetimes are UTC when naive
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def render_title(notification: Notification, language: Language) -> str:
    """``🔴 [FIRING:2 RESOLVED:1] IVH asset alerts``, ``🔴 【触发中 2 · 已恢复 1】IVH 资产告警``.

    The words are the catalogue's; the brackets and separators are each language's layout.
    """
    if notification.reason == "digest" and notification.alerts:
        # a digest's title is its first block's summary (alerts/digest.py)
        return f"{_DIGEST_ICON} {one_line(notification.alerts[0].annotations.get('summary', ''))}"
    t = _texts(language)
    firing = [a for a in notification.alerts if a.status == "firing"]
    resolved = len(notification.alerts) - len(firing)
    icon = _RESOLVED_ICON
    if firing:
        worst = max(firing, key=lambda a: ("info", "warning", "critical").index(a.severity))
        icon = _ICONS[worst.severity]
    counts = [(t("firing"), len(firing)), (t("resolved"), resolved)]
    test = notification.reason == "test"
    if language == "zh":
        inner = " · ".join(f"{label} {n}" for label, n in counts if n)
        prefix = f"【{t('test')}】" if test else ""
        return f"{icon} {prefix}【{inner}】{t('title')}"
    inner = " ".join(f"{label}:{n}" for label, n in counts if n)
    prefix = f"[{t('test')}] " if test else ""
    return f"{icon} {prefix}[{inner}] {t('title')}"


def alert_fields(alert: Alert, language: Language, zone: ZoneInfo, style: Style) -> dict[str, str]:
    """The template fields of one alert (see the module docstring), escaped for ``style``.

    Outside text is escaped (``style.escape``); our words, figures and times are
    not, nor the operator's ``alerts.templates`` text inside the annotations.
    """
    t = _texts(language)
    reason = alert.resolve_reason or ""
    key = f"chat.reason.{reason}"
    reason_label = catalogue.text(language, key) if key in catalogue.TEXTS else reason
    raw: dict[str, str] = {
        "status": alert.status,
        "status_label": t(alert.status),
        "severity": alert.severity,
        "severity_label": t(alert.severity),
        "icon": _RESOLVED_ICON if alert.status == "resolved" else _ICONS[alert.severity],
        "rule": alert.rule,
        "account": alert.account,
        "kind": alert.kind,
        "asset": alert.asset,
        "fingerprint": alert.fingerprint,
        "starts_at": _time(alert.starts_at, zone),
        "ends_at": _time(alert.ends_at, zone) if alert.status == "resolved" else "",
        "resolve_reason": reason,
        "resolve_reason_label": reason_label if alert.status == "resolved" else "",
    }
    fields = {k: v if k in _OURS else style.escape(v) for k, v in raw.items()}
    fields |= {f"label_{k}": style.escape(v) for k, v in alert.labels.items()}
    # numbers are ours (a negative days_left keeps its minus); strings may be names
    fields |= {
        f"value_{k}": style.escape(v) if isinstance(v, str) else "" if v is None else str(v)
        for k, v in alert.values.items()
    }
    fields |= {key: _annotation(alert, key, style) for key in _ANNOTATIONS}
    return fields


def render_alert(
    alert: Alert,
    language: Language,
    zone: ZoneInfo,
    style: Style,
    template: str | None = None,
) -> str:
    """One alert's block of text: the channel's template, or the default layout."""
    if alert.rule == DIGEST_RULE:
        # one account's lines of a daily digest: ours, but for the names in them
        body = _annotation(alert, "description", style)
        return f"{style.bold(style.escape(alert.account))}\n{body}"
    f = alert_fields(alert, language, zone, style)
    if template is not None:
        return string.Template(template).safe_substitute(f)
    t = _texts(language)
    sep = "：" if language == "zh" else ": "
    label = f["status_label"] if alert.status == "resolved" else f["severity_label"]
    head = f"{f['icon']} {style.bold('[' + label + ']')} {f['summary'] or f['rule']}".rstrip()
    lines = [head]
    if alert.status == "resolved" and f["resolve_reason_label"]:
        lines.append(f"{t('reason')}{sep}{f['resolve_reason_label']}")
    if f["description"]:
        lines.append(f["description"])
    if alert.status == "firing" and f["action"]:
        lines.append(f"{style.bold(t('action') + sep.strip())} {f['action']}")
    where = [f"{t('account')}{sep}{f['account']}"]
    if f["asset"]:
        where.append(f"{t('asset')}{sep}{f['asset']}")
    where.append(f"{t('since')}{sep}{f['starts_at']}")
    if f["ends_at"]:
        where.append(f"{t('ended')}{sep}{f['ends_at']}")
    lines.append(" · ".join(where))
    return "\n".join(lines)


# -- splitting ---------------------------------------------------------------------

#: wide enough for any real counter, so a part measured with it fits with the real one
_COUNTER_PROBE = " (999/999)"


def _join(blocks: Sequence[str], sep: str) -> str:
    return sep.join(blocks)


def _cut(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Cut ``text`` into pieces that each pass ``fits``: at line ends, else at characters."""
    pieces: list[str] = []
    current = ""
    for raw_line in text.split("\n"):
        line = raw_line
        candidate = f"{current}\n{line}" if current else line
        if fits(candidate):
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        while line and not fits(line):
            # binary search the longest prefix (in characters, so never a broken
            # UTF-8 sequence) that fits
            lo, hi = 1, len(line)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if fits(line[:mid]):
                    lo = mid
                else:
                    hi = mid - 1
            pieces.append(line[:lo])
            line = line[lo:]
        current = line
    if current:
        pieces.append(current)
    return pieces


def pack(
    title: str,
    blocks: Sequence[str],
    fits: Callable[[str, str], bool],
    *,
    sep: str = "\n\n",
) -> list[tuple[str, str]]:
    """Group ``blocks`` into as few ``(title, body)`` messages as ``fits(title, body)`` allows.

    With more than one message each title gets `` (i/n)``. Raises ``ValueError``
    if even the title alone does not fit (a limit too small to be real).
    """
    probe = title + _COUNTER_PROBE
    if not fits(probe, "x"):
        raise ValueError("message limit too small for the title")
    groups: list[list[str]] = []
    current: list[str] = []
    for block in blocks:
        for piece in _cut(block, lambda body: fits(probe, body)):
            if current and not fits(probe, _join([*current, piece], sep)):
                groups.append(current)
                current = []
            current.append(piece)
    if current or not groups:
        groups.append(current)
    if len(groups) == 1:
        return [(title, _join(groups[0], sep))]
    n = len(groups)
    return [(f"{title} ({i}/{n})", _join(g, sep)) for i, g in enumerate(groups, 1)]


def halve(
    title: str, body: str, measure: Callable[[str, str], int], *, sep: str = "\n\n"
) -> list[tuple[str, str]]:
    """Re-pack a message the service refused as too long into parts about half its size."""
    empty = measure(title + _COUNTER_PROBE, "")
    # a little over half, so separators do not push a third part out
    limit = empty + max((measure(title, body) - empty) * 11 // 20, 16)
    return pack(title, body.split(sep), lambda t, b: measure(t, b) <= limit, sep=sep)
