"""Per-tenant views: the ``?label=`` filter and the overview's groups (pure).

``?label=tenant:acme`` keeps the accounts whose label ``tenant`` is exactly
``acme`` (repeat it to ask for several labels, all of which must hold);
``?group_by=tenant`` groups the overview by that label's value. Input is
checked strictly and bounded; anything else is refused with a one-line
error (the routes answer 400).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.status.view import DAY, AccountStatus

__all__ = [
    "GroupTotals",
    "LabelFilter",
    "group_totals",
    "label_value_ok",
    "parse_group_by",
    "parse_label_filter",
]

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,62}")
#: a label value: printable, no separators that would confuse a URL or a log line
_LABEL_VALUE = re.compile(r"[^\x00-\x1f\x7f\s]{1,128}")
#: ``label=`` parameters at most in one request
_MAX_LABELS = 8

#: (label, value) pairs that must all hold
LabelFilter = tuple[tuple[str, str], ...]


def parse_label_filter(values: Sequence[str]) -> LabelFilter:
    """``["tenant:acme", ...]`` → ``(("tenant", "acme"), ...)``; ``ValueError`` (one line,
    naming the parameter, never echoing it) for anything else."""
    if len(values) > _MAX_LABELS:
        raise ValueError(f"label: at most {_MAX_LABELS} label filters")
    out: list[tuple[str, str]] = []
    for raw in values:
        name, sep, value = raw.partition(":")
        if not sep or not _LABEL_NAME.fullmatch(name) or not _LABEL_VALUE.fullmatch(value):
            raise ValueError(
                "label: expected name:value, a label name ([a-zA-Z_][a-zA-Z0-9_]*) and a value"
                " of 1 to 128 printable characters without spaces"
            )
        out.append((name, value))
    return tuple(out)


def label_value_ok(value: str) -> bool:
    """Whether ``?label=name:value`` with this value would be accepted (a label value
    from the config may hold what a filter refuses, e.g. a space)."""
    return _LABEL_VALUE.fullmatch(value) is not None


def parse_group_by(value: str | None) -> str | None:
    """A label name to group by, or None; ``ValueError`` for anything but a label name."""
    if value is None or value == "":
        return None
    if not _LABEL_NAME.fullmatch(value):
        raise ValueError("group_by: expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
    return value


def selected(labels: Mapping[str, str], wanted: LabelFilter) -> bool:
    """Whether an account's labels hold every wanted (label, value)."""
    return all(labels.get(k) == v for k, v in wanted)


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """One group of accounts by a label's value (``""``: accounts without the label)."""

    label: str
    value: str
    accounts: tuple[str, ...]
    #: hours left in live hour packages, seconds
    hours_left_seconds: float
    expiring_7d: int
    expiring_30d: int
    alerts_firing: int


def group_totals(
    accounts: Iterable[AccountStatus], label: str, now: datetime
) -> tuple[GroupTotals, ...]:
    """Totals per value of ``label``, biggest group first, accounts without it last."""
    groups: dict[str, list[AccountStatus]] = {}
    for account in accounts:
        groups.setdefault(account.labels.get(label, ""), []).append(account)
    out = []
    for value, members in groups.items():
        hours = 0.0
        week = month = firing = 0
        for account in members:
            for asset in account.assets:
                left = asset.expires_in_seconds(now)
                live = left is None or left > 0
                if live and asset.category == "hours" and asset.remaining_seconds is not None:
                    hours += asset.remaining_seconds
                if left is not None and 0 < left <= 30 * DAY:
                    month += 1
                    week += left <= 7 * DAY
            firing += sum(1 for item in account.alerts if item.alert.status == "firing")
        out.append(
            GroupTotals(label, value, tuple(a.name for a in members), hours, week, month, firing)
        )
    return tuple(sorted(out, key=lambda g: (g.value == "", -len(g.accounts), g.value)))


def group_record(group: GroupTotals) -> dict[str, object]:
    """One group of ``/api/groups``."""
    return {
        "label": group.label,
        "value": group.value,
        "accounts": list(group.accounts),
        "hours_left": round(group.hours_left_seconds / 3600, 3),
        "expiring_within_7_days": group.expiring_7d,
        "expiring_within_30_days": group.expiring_30d,
        "alerts_firing": group.alerts_firing,
    }
