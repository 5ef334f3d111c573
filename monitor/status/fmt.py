"""Numbers, durations and dates as the page shows them (not escaped: callers escape)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from monitor.catalogue import Language
from monitor.status.i18n import text

__all__ = ["ago", "date", "datetime_local", "duration", "hours", "iso", "time_left"]

_DAY = 86400.0
_HOUR = 3600.0


def duration(seconds: float, language: Language) -> str:
    """A positive span in the largest unit that fits: 4.9 d, 18.3 h, 12 min, 40 s."""
    s = abs(seconds)
    if s >= _DAY:
        return text(language, "unit_d", v=f"{s / _DAY:,.1f}")
    if s >= _HOUR:
        return text(language, "unit_h", v=f"{s / _HOUR:,.1f}")
    if s >= 60:
        return text(language, "unit_min", v=f"{s // 60:.0f}")
    return text(language, "unit_s", v=f"{s:.0f}")


def time_left(seconds: float | None, language: Language) -> str:
    if seconds is None:
        return text(language, "never")
    if seconds <= 0:
        return text(language, "expired_ago", t=duration(seconds, language))
    return duration(seconds, language)


def ago(seconds: float, language: Language) -> str:
    return text(language, "ago", t=duration(max(seconds, 0.0), language))


def hours(seconds: float, language: Language) -> str:
    h = seconds / _HOUR
    return text(language, "unit_h", v=f"{h:,.1f}" if h < 1000 else f"{h:,.0f}")


def iso(value: datetime) -> str:
    """For ``<time datetime=...>``: machine-readable, with its offset."""
    return value.isoformat(timespec="seconds")


def datetime_local(value: datetime, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z").strip()


def date(value: datetime, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d")
