"""The raw records of the simulator, and the dates written in them.

A record is a plain dict written exactly as the IVH gateway returns it (the
vendor's PascalCase field names, docs/ivh-api.md §4.1-4.6), so the simulator
can serve it verbatim, the vendor's sloppiness included (§6).

Date fields may be written relative to a moment ("now"): ``"+7d"``, ``"-3d"``,
``"+36h"``, ``"+90m"``, ``"+45s"`` (sign required, decimals allowed).
:func:`render_records` turns them into what the vendor sends: ``ExpireDate``
and ``EffectiveDate`` as ``yyyy-MM-dd HH:mm:ss`` in Beijing time (UTC+8, §5),
``ExpireTime`` and ``EffectiveTime`` as epoch milliseconds. Anything else is
kept verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "BEIJING",
    "DatasetError",
    "Record",
    "check_now",
    "format_beijing",
    "render_actions",
    "render_records",
]

Record = dict[str, Any]

# China has observed no DST since 1991, so a fixed offset is exact and needs no tzdata.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

_STRING_DATE_FIELDS = frozenset({"ExpireDate", "EffectiveDate"})
_EPOCH_MS_FIELDS = frozenset({"ExpireTime", "EffectiveTime"})
_RELATIVE = re.compile(r"^([+-])(\d+(?:\.\d+)?)([dhms])$")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


class DatasetError(ValueError):
    """A dataset file or record that cannot be used; the message names file and field."""


def format_beijing(moment: datetime) -> str:
    """Render an aware datetime the way the vendor writes dates (Beijing wall time)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (e.g. datetime.now(UTC))")
    wall = moment.astimezone(BEIJING).replace(tzinfo=None)
    return wall.isoformat(sep=" ", timespec="seconds")  # not strftime: "0001", not "1"


def check_now(now: datetime) -> None:
    """Refuse a naive "now": relative dates need a zone to render in Beijing time."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


def _relative(value: str, now: datetime) -> datetime | None:
    match = _RELATIVE.match(value.strip())
    if match is None:
        return None
    sign, amount, unit = match.groups()
    seconds = float(amount) * _UNIT_SECONDS[unit] * (1 if sign == "+" else -1)
    # Whole seconds: the vendor's strings have no fraction and its ms stamps end in 000.
    return (now + timedelta(seconds=seconds)).replace(microsecond=0)


def _yaml_timestamp(key: str, value: datetime, where: str) -> str:
    """An unquoted YAML timestamp; aware ones are converted, naive ones are Beijing time.
    isoformat, not strftime: glibc's %Y writes year 1 as "1", not "0001"."""
    if not value.tzinfo:
        return value.isoformat(sep=" ", timespec="seconds")
    try:
        return format_beijing(value)
    except OverflowError:
        raise DatasetError(
            f"{where}.{key}: {value.isoformat()} is out of range in Beijing time"
        ) from None


def _render_value(key: str, value: Any, now: datetime, where: str) -> Any:
    if isinstance(value, datetime):
        return _yaml_timestamp(key, value, where)
    if isinstance(value, date):
        return value.isoformat()
    if key not in _STRING_DATE_FIELDS | _EPOCH_MS_FIELDS or not isinstance(value, str):
        return value
    if not value.strip().startswith(("+", "-")):
        return value  # absolute, kept verbatim
    moment = _relative(value, now)
    if moment is None:
        raise DatasetError(
            f"{where}.{key}: bad relative date {value!r} (expected e.g. '+7d', '-3d', '+36h', "
            "'+90m')"
        )
    if key in _STRING_DATE_FIELDS:
        return format_beijing(moment)
    return int(moment.timestamp()) * 1000


def _render_record(record: Mapping[str, Any], now: datetime, where: str) -> Record:
    return {key: _render_value(key, value, now, where) for key, value in record.items()}


def render_records(value: Any, now: datetime, where: str) -> list[Record]:
    """A list of records with their relative dates rendered against ``now``.

    ``None`` is an empty list; anything but a list of mappings is a
    :class:`DatasetError` naming ``where`` (and the index).
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise DatasetError(f"{where}: expected a list of records, got {type(value).__name__}")
    out: list[Record] = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise DatasetError(f"{where}[{i}]: expected a record (mapping)")
        out.append(_render_record(item, now, f"{where}[{i}]"))
    return out


def render_actions(value: Any, now: datetime, where: str) -> dict[str, list[Record]]:
    """The getaction mapping (VirtualmanKey -> actions), rendered as :func:`render_records`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DatasetError(f"{where}: expected a mapping of VirtualmanKey to a list of actions")
    return {
        str(key): render_records(actions, now, f"{where}.{key}") for key, actions in value.items()
    }
