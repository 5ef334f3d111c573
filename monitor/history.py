"""A usage history file: CSV ``timestamp,remaining_seconds`` (pure).

What ``ivh-monitor forecast`` reads: one row per sample, as a Prometheus range
query of ``ivh_service_remaining_seconds`` exported to CSV would give. A
timestamp is epoch seconds (``1733097600``, ``1733097600.5``) or ISO 8601
(``2026-12-01T08:00:00Z``, ``2026-12-01 16:00:00+08:00``); one without an offset
is read in the zone given. Anything else is a :class:`HistoryError` naming the
line and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo

__all__ = ["HEADER", "HistoryError", "parse_history", "parse_time"]

HEADER = ("timestamp", "remaining_seconds")
#: the calendar datetime can hold (and a zone convert)
_T_MIN, _T_MAX = 0.0, 253_402_214_400.0
_MAX_ROWS = 10_000_000


class HistoryError(ValueError):
    """Bad input, one line: where and what."""


def _show(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return repr(shown)


def parse_time(text: str, zone: tzinfo = UTC) -> float:
    """Epoch seconds or ISO 8601 (no offset: in ``zone``) as unix time; ``ValueError``."""
    value = text.strip()
    if not value:
        raise ValueError("is empty")
    try:
        t = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{_show(value)} is neither epoch seconds nor an ISO 8601 time"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        try:
            t = moment.timestamp()
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{_show(value)} is outside the calendar") from None
    if not math.isfinite(t) or not _T_MIN <= t <= _T_MAX:
        raise ValueError(f"{_show(value)} is outside 1970-01-01 .. 9999-12-31")
    return t


def parse_history(lines: Iterable[str], zone: tzinfo = UTC) -> list[tuple[float, float]]:
    """``(unix time, remaining seconds)`` of each row, in file order.

    Blank lines and lines starting with ``#`` are skipped; the first other line must
    be the header (extra columns after the two are ignored)."""
    samples: list[tuple[float, float]] = []
    header = False
    for number, raw in enumerate(lines, start=1):
        line = raw.lstrip("\ufeff").strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip().strip('"') for c in line.split(",")]
        if not header:
            if tuple(c.lower() for c in cells[:2]) != HEADER:
                raise HistoryError(
                    f"line {number}: the header must be 'timestamp,remaining_seconds',"
                    f" not {_show(line)}"
                )
            header = True
            continue
        if len(cells) < 2:
            raise HistoryError(f"line {number}: expected 'timestamp,remaining_seconds'")
        try:
            t = parse_time(cells[0], zone)
        except ValueError as exc:
            raise HistoryError(f"line {number}: timestamp {exc}") from None
        try:
            remaining = float(cells[1])
        except ValueError:
            raise HistoryError(
                f"line {number}: remaining_seconds {_show(cells[1])} is not a number"
            ) from None
        if not math.isfinite(remaining) or remaining < 0:
            raise HistoryError(
                f"line {number}: remaining_seconds {_show(cells[1])} is not a finite"
                " number of seconds >= 0"
            )
        samples.append((t, remaining))
        if len(samples) > _MAX_ROWS:
            raise HistoryError(f"line {number}: more than {_MAX_ROWS:,} samples")
    if not header:
        raise HistoryError("line 1: no header 'timestamp,remaining_seconds' (the file is empty)")
    if not samples:
        raise HistoryError("no samples after the header")
    return samples
