"""Burn rate and forecasts of hour packages, from the monitor's own history (pure).

The API gives only the remaining milliseconds at each poll; the rate at which
a package is used up comes from the history of those figures that the state
store keeps. Two models answer:

- ``weekly`` (:mod:`monitor.weekly`): the burn per hour of the week in the
  account's zone, with its trend, walked forward hour by hour to the time the
  package runs dry and to its expiry. It needs a week of history.
- ``linear``: one straight line over the recent window (``burn_rate``), the
  fallback while history is short. A top-up (remaining going up) starts a new
  window, so a refill never reads as negative usage.

:func:`assess` picks the model, adds the uncertainty band where the data allows,
and tells a *runaway*: a burn far above the usual rate for those hours of the
week, sustained (a stream left running overnight, a stuck job).

Every function is total: whatever the history and the figures (fractional,
zero, huge, not finite, out of order, expiries next to ``datetime.min``/``max``),
they return a result and never raise. A rate below :data:`MIN_BURN_RATE` is zero,
and a depletion further off than :data:`MAX_DEPLETION_SECONDS` (or beyond the
calendar) is "not running dry".
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from monitor.weekly import (
    MAX_DEPLETION_SECONDS,
    WeeklyProfile,
    clean_samples,
    fit_weekly,
    observed_usage,
)

__all__ = [
    "MAX_DEPLETION_SECONDS",
    "MIN_BURN_RATE",
    "RECENT_SECONDS",
    "RUNAWAY_MIN_RATE",
    "Forecast",
    "Model",
    "Runaway",
    "assess",
    "burn_rate",
    "forecast",
    "forecast_json",
]

Model = Literal["weekly", "linear"]

#: remaining may wobble by rounding; only a rise above this is a top-up (seconds)
_TOP_UP_EPSILON = 1.0
#: Burn rates below this (seconds used per second) are zero. One second per
#: million: about 2.6 s of package a month, while even one 1-minute stream a
#: month burns 2.3e-5, 23 times more. What lies under it is the rounding noise of
#: least squares over an idle package's fractional figures (milliseconds / 1000
#: give slopes near 1e-20), which would forecast a depletion in 1e14 years.
MIN_BURN_RATE = 1e-6


def burn_rate(
    samples: Sequence[tuple[float, float]],
    *,
    now: float,
    window_seconds: float,
    min_history_seconds: float,
) -> float | None:
    """Seconds of the package used per second, by least squares over the window.

    ``samples`` are ``(unix time, remaining seconds)`` in time order. ``None``
    when there is too little history to say. Never negative, never ``-0.0``,
    never NaN; below :data:`MIN_BURN_RATE` it is ``0.0``.
    """
    points = [
        p
        for p in samples
        if math.isfinite(p[0]) and math.isfinite(p[1]) and now - window_seconds <= p[0] <= now
    ]
    start = 0
    for i in range(1, len(points)):
        if points[i][1] > points[i - 1][1] + _TOP_UP_EPSILON:
            start = i
    points = points[start:]
    if len(points) < 2 or points[-1][0] - points[0][0] < max(min_history_seconds, 1.0):
        return None
    # relative to the first point: sums of small differences lose less to rounding
    t0, r0 = points[0]
    shifted = [(t - t0, r - r0) for t, r in points]
    n = len(shifted)
    mean_t = sum(t for t, _ in shifted) / n
    mean_r = sum(r for _, r in shifted) / n
    var = sum((t - mean_t) ** 2 for t, _ in shifted)
    if not var > 0 or not math.isfinite(var):
        return None
    slope = sum((t - mean_t) * (r - mean_r) for t, r in shifted) / var
    if not math.isfinite(slope):
        return None  # figures so huge that their products overflow: no rate to tell
    rate = -slope
    return rate if rate >= MIN_BURN_RATE else 0.0


@dataclass(frozen=True, slots=True)
class Forecast:
    #: seconds used per second expected now (the weekly profile's hour, or the line)
    rate: float
    #: when the package runs dry at the forecast burn; ``None`` when it is not being
    #: used, or would last beyond :data:`MAX_DEPLETION_SECONDS`
    depletion_at: datetime | None
    #: seconds still unused when it expires at the forecast burn; ``None`` if it
    #: never expires
    unused_at_expiry: float | None
    #: which model answered
    model: Model = "linear"
    #: the mean burn expected over the coming week (``None``: the same as ``rate``)
    week_rate: float | None = None
    #: the uncertainty band of ``depletion_at`` (about 90 %); ``None`` where the data
    #: does not allow one (``latest``: also when it may never run dry)
    depletion_earliest: datetime | None = None
    depletion_latest: datetime | None = None
    #: the runaway check: the usual burn for the last ``sustained`` period (never below
    #: half the week's mean), the burn observed then, and the verdict; ``None`` when
    #: not checked (disabled, or too little recent history)
    usual_rate: float | None = None
    current_rate: float | None = None
    runaway: bool = False
    #: when it runs dry if the current (runaway) burn goes on
    runaway_depletion_at: datetime | None = None
    #: hours to buy (seconds) so it lasts until it expires, when it runs dry first
    buy_seconds: float | None = None
    #: ``(unix time, remaining seconds)`` of the forecast for a chart, from now to
    #: depletion, expiry or the chart's edge (at most :data:`_PATH_POINTS`)
    path: tuple[tuple[float, float], ...] = ()

    @property
    def mean_rate(self) -> float:
        """The mean burn expected over the coming week (seconds per second)."""
        return self.rate if self.week_rate is None else self.week_rate

    @property
    def burn_ratio(self) -> float | None:
        """The current burn over the usual one, when both are known."""
        if self.current_rate is None or not self.usual_rate:
            return None
        ratio = self.current_rate / self.usual_rate
        return ratio if math.isfinite(ratio) else None


def forecast(rate: float, remaining: float, now: datetime, expires_at: datetime | None) -> Forecast:
    """The package's future at ``rate``; never raises (see the module's docstring)."""
    rate = rate if math.isfinite(rate) and rate >= MIN_BURN_RATE else 0.0
    if not math.isfinite(remaining):
        return Forecast(rate, None, None)
    remaining = max(0.0, remaining)  # 0.0 first: max(0.0, -0.0) is 0.0
    depletion = None
    if rate > 0:
        lasts = remaining / rate
        if lasts <= MAX_DEPLETION_SECONDS:
            try:
                depletion = now + timedelta(seconds=lasts)
            except OverflowError:  # ``now`` itself near the end of the calendar
                depletion = None
    unused = None
    if expires_at is not None:
        left = max((expires_at - now).total_seconds(), 0.0)
        unused = max(0.0, remaining - rate * left)
    return Forecast(rate, depletion, unused)


# -- the weekly model, the band and runaways ------------------------------------------

#: a runaway burns at least this much (seconds per second: six minutes an hour), so
#: a few minutes on an idle package is not one
RUNAWAY_MIN_RATE = 0.1
#: the usual burn is never taken below this share of the week's mean, so an hour
#: that is usually idle does not make any use a runaway
_USUAL_FLOOR = 0.5
#: the usual burn is the highest of the profile an hour either way, so a peak that
#: starts a little early is not a runaway
_TIMING_SLACK = 3600.0
#: the usual burn also looks at the same hours of this many past weeks
_USUAL_WEEKS = 4
_WEEK = 7 * 86400.0
#: the weekly profile leaves out the last this many seconds, so a runaway going on
#: now does not raise the usual rate it is measured against
RECENT_SECONDS = 6 * 3600.0
#: z of the band: about 90 % of outcomes inside it
_BAND_Z = 1.645
_PATH_POINTS = 120
#: the path reaches at most this far ahead (a chart shows no more)
_PATH_SECONDS = 35 * 86400.0
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Runaway:
    """The runaway check's thresholds for one asset."""

    factor: float = 3.0
    sustained_seconds: float = 1800.0


def _at(now: datetime, t: float | None) -> datetime | None:
    if t is None or not math.isfinite(t):
        return None
    if (t - now.timestamp()) > MAX_DEPLETION_SECONDS:
        return None
    try:
        return datetime.fromtimestamp(t, UTC).astimezone(now.tzinfo or UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _seconds_until(now: datetime, then: datetime | None) -> float | None:
    if then is None:
        return None
    try:
        return (then - now).total_seconds()
    except OverflowError:
        return None


def _observed(samples: list[tuple[float, float]], start: float, end: float) -> tuple[float, float]:
    """(seconds used, seconds observed) from ``start`` to ``end``."""
    used = cover = 0.0
    for t0, t1, rate in observed_usage(samples, start, end):
        used += rate * (t1 - t0)
        cover += t1 - t0
    return used, cover


def _runaway_check(
    samples: list[tuple[float, float]],
    now: float,
    check: Runaway,
    usual: float | None,
) -> tuple[float | None, float | None, bool]:
    """(usual rate, current rate, runaway) over the last ``sustained`` seconds."""
    w = check.sustained_seconds
    if usual is None or not w > 0 or not samples or samples[-1][0] < now - max(w / 2, 600.0):
        return None, None, False
    used, cover = _observed(samples, now - w, now)
    if cover < 0.75 * w:
        return usual, None, False
    current = used / cover
    tail_used, tail_cover = _observed(samples, now - w / 4, now)
    tail = tail_used / tail_cover if tail_cover > 0 else current
    limit = check.factor * usual
    runaway = current >= RUNAWAY_MIN_RATE and current >= limit and tail >= limit
    return usual, current, runaway


#: a runaway burns more than this many times what the same time of day (within
#: :data:`_ENVELOPE_SLACK`) burnt on the third busiest of the past days of its kind
#: (weekdays, or weekend days): a package that often has a session or two at
#: night, or a peak that runs high now and then, is doing what it does
_ENVELOPE_MARGIN = 1.25
_ENVELOPE_SLACK = 1800.0
_ENVELOPE_STEP = 900.0
_ENVELOPE_RANK = 3
_ENVELOPE_DAYS = 28


def _envelope(samples: list[tuple[float, float]], now: float, w: float, zone: tzinfo) -> float:
    """The third highest, over the past days of the same kind as today (Monday to Friday,
    or the weekend, in ``zone``), of the day's highest burn over ``w`` seconds ending
    within :data:`_ENVELOPE_SLACK` of this time of day. Days with a past runaway are
    one or two of them, so they do not make it the usual."""
    if not samples:
        return 0.0
    weekend = _weekend(now, zone)
    highs: list[float] = []
    steps = int(2 * _ENVELOPE_SLACK / _ENVELOPE_STEP)
    for back in range(1, _ENVELOPE_DAYS + 1):
        day = now - back * _DAY
        if day - _ENVELOPE_SLACK < samples[0][0]:
            break
        if _weekend(day, zone) != weekend:
            continue
        high = 0.0
        for i in range(steps + 1):
            end = day - _ENVELOPE_SLACK + i * _ENVELOPE_STEP
            used, cover = _observed(samples, end - w, end)
            if cover >= 0.75 * w:
                high = max(high, used / cover)
        highs.append(high)
    if len(highs) < _ENVELOPE_RANK:
        return 0.0
    return sorted(highs)[-_ENVELOPE_RANK]


#: a burn that the package reached at its quiet hours on at least this many of the
#: past :data:`_ENVELOPE_DAYS` days is what it does, not a runaway
_QUIET_DAYS = 3
_QUIET_STEP = 900.0


def _quiet_days(  # noqa: PLR0917 - private, called once
    profile: WeeklyProfile,
    samples: list[tuple[float, float]],
    now: float,
    w: float,
    level: float,
    quiet: float,
) -> int:
    """On how many of the past days (24-hour blocks back from ``now``) the package burnt
    at least ``level`` over ``w`` seconds where the profile's rate, an hour either way,
    is at most ``quiet``: a small account's sessions at random hours. Counting stops at
    :data:`_QUIET_DAYS`."""
    if not samples:
        return 0
    start = max(now - _ENVELOPE_DAYS * _DAY, samples[0][0])
    end = now - w
    if not end > start:
        return 0
    step = _QUIET_STEP
    n = int((end - start) // step) + 1
    used = [0.0] * n
    cover = [0.0] * n
    for t0, t1, rate in observed_usage(samples, start, end):
        t = t0
        while t < t1:  # bounded: one bin a turn, a span is at most six hours
            i = min(int((t - start) // step), n - 1)
            stop = min(start + (i + 1) * step, t1)
            if not stop > t:
                break
            used[i] += rate * (stop - t)
            cover[i] += stop - t
            t = stop
    span = max(round(w / step), 1)
    slack = round(_TIMING_SLACK / step)
    # the profile's expected burn from ``start - slack`` to each bin edge, in one walk
    edges = [start + (j - slack) * step for j in range(n + span + 2 * slack + 1)]
    expected = profile.cumulative(edges[0], edges)
    limit = quiet * span * step
    days: set[int] = set()
    u, c = sum(used[:span]), sum(cover[:span])
    for i in range(n - span + 1):
        if i:
            u += used[i + span - 1] - used[i - 1]
            c += cover[i + span - 1] - cover[i - 1]
        day = int((now - start - i * step) // _DAY)
        if day in days or c < 0.75 * span * step or u < level * c:
            continue
        if all(
            expected[i + s + span] - expected[i + s] <= limit
            for s in range(0, 2 * slack + 1, slack)
        ):
            days.add(day)
            if len(days) >= _QUIET_DAYS:
                break
    return len(days)


def _weekend(t: float, zone: tzinfo) -> bool:
    try:
        return datetime.fromtimestamp(t, zone).weekday() >= 5
    except (OverflowError, OSError, ValueError):
        return False


def _weekly_usual(
    profile: WeeklyProfile, samples: list[tuple[float, float]], now: float, w: float
) -> float:
    """The usual burn for the last ``w`` seconds: the highest of the profile's rate then
    and of what the same hours of the past weeks burnt (their second highest: one
    unusual week, such as a past runaway, does not make itself the usual)."""
    best = 0.0
    for shift in (-_TIMING_SLACK, 0.0, _TIMING_SLACK):
        best = max(best, profile.used_between(now - w + shift, now + shift) / w)
    weeks: list[float] = []
    for back in range(1, _USUAL_WEEKS + 1):
        seen = []
        for shift in (-_TIMING_SLACK, 0.0, _TIMING_SLACK):
            end = now + shift - back * _WEEK
            used, cover = _observed(samples, end - w, end)
            if cover >= 0.75 * w:
                seen.append(used / cover)
        if seen:
            weeks.append(max(seen))
    if len(weeks) >= 2:
        best = max(best, sorted(weeks)[-2])
    return max(best, _USUAL_FLOOR * profile.week_rate(now))


def _path(
    now: float,
    remaining: float,
    end: float,
    used_by: Callable[[Sequence[float]], Sequence[float]],
) -> tuple[tuple[float, float], ...]:
    """Points of the forecast from ``now`` to ``end`` (at most :data:`_PATH_SECONDS`),
    stopping where it runs dry."""
    end = min(end, now + _PATH_SECONDS)
    if not end > now or not math.isfinite(end):
        return ((now, remaining),)
    step = (end - now) / (_PATH_POINTS - 1)
    times = [now + i * step for i in range(1, _PATH_POINTS)]
    out = [(now, remaining)]
    for t, used in zip(times, used_by(times), strict=True):
        left = max(remaining - used, 0.0)
        out.append((t, left))
        if left <= 0:
            break
    return tuple(out)


def assess(
    samples: Sequence[tuple[float, float]],
    *,
    remaining: float,
    now: datetime,
    expires_at: datetime | None,
    zone: tzinfo = UTC,
    window_seconds: float = 7 * _DAY,
    min_history_seconds: float = 6 * 3600.0,
    history_seconds: float = 28 * _DAY,
    runaway: Runaway | None = Runaway(),
    weekly: bool = True,
    profile: WeeklyProfile | None = None,
    chart_seconds: float | None = None,
) -> Forecast | None:
    """The package's future from its history; ``None`` with too little history for either
    model. ``profile`` is a weekly profile fitted earlier (the daemon refits hourly);
    without it, it is fitted here (unless ``weekly`` is false). ``chart_seconds`` bounds
    the forecast ``path`` (default: up to expiry or depletion, at most a year)."""
    try:
        nowt = now.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    clean = clean_samples(samples, nowt)
    if weekly and profile is None:
        profile = fit_weekly(
            clean,
            now=nowt,
            zone=zone,
            history_seconds=history_seconds,
            clean=True,
            recent_seconds=RECENT_SECONDS,
        )
    if not weekly:
        profile = None
    if not math.isfinite(remaining):
        return None
    remaining = max(0.0, remaining)
    if profile is not None:
        return _weekly(profile, clean, remaining, now, expires_at, runaway, chart_seconds)
    return _linear(
        clean,
        remaining,
        now,
        expires_at,
        runaway,
        window_seconds,
        min_history_seconds,
        chart_seconds,
    )


def _band(
    now: datetime,
    depletion: datetime | None,
    spread: float | None,
    days: float,
    walk: Callable[[float], datetime | None],
) -> tuple[datetime | None, datetime | None]:
    if spread is None or not days > 0:
        return None, None
    until = _seconds_until(now, depletion)
    n = max((until if until is not None else 7 * _DAY) / _DAY, 1.0)
    sigma = _BAND_Z * spread * math.sqrt(1 / n + 1 / max(days, 1.0))
    early = walk(1.0 + sigma)
    late = walk(1.0 - sigma) if sigma < 0.95 else None
    return early, late


def _weekly(  # noqa: PLR0917 - private, called once with everything assess has
    profile: WeeklyProfile,
    clean: list[tuple[float, float]],
    remaining: float,
    now: datetime,
    expires_at: datetime | None,
    check: Runaway | None,
    chart_seconds: float | None,
) -> Forecast:
    nowt = now.timestamp()
    rate = profile.rate_at(nowt)
    rate = rate if rate >= MIN_BURN_RATE else 0.0
    week = profile.week_rate(nowt)
    week = week if week >= MIN_BURN_RATE else 0.0
    depletion = _at(now, profile.time_to_use(remaining, nowt)) if week > 0 else None

    def walk(scale: float) -> datetime | None:
        return _at(now, profile.time_to_use(remaining, nowt, scale)) if week > 0 else None

    early, late = _band(now, depletion, profile.spread, profile.days, walk) if week else (None,) * 2
    left = _seconds_until(now, expires_at)
    unused = buy = None
    if left is not None:
        left = max(left, 0.0)
        need = profile.used_between(nowt, nowt + min(left, MAX_DEPLETION_SECONDS)) if week else 0.0
        unused = max(0.0, remaining - need)
        if depletion is not None and expires_at is not None and depletion < expires_at:
            buy = max(need - remaining, 0.0)
    usual = current = None
    flagged = False
    runaway_at = None
    if check is not None:
        usual, current, flagged = _runaway_check(
            clean, nowt, check, _weekly_usual(profile, clean, nowt, check.sustained_seconds)
        )
        if flagged and current is not None:
            # only now, as it reads the past days: the usual path stays cheap
            high = _envelope(clean, nowt, check.sustained_seconds, profile.zone)
            flagged = current > _ENVELOPE_MARGIN * high
        if flagged and current is not None:
            # a burn this package often reaches at its quiet hours is one of its
            # sessions (a small account's few, at random times), not a runaway
            quiet = current / check.factor
            level = current / _ENVELOPE_MARGIN
            seen = _quiet_days(profile, clean, nowt, check.sustained_seconds, level, quiet)
            flagged = seen < _QUIET_DAYS
        if flagged and current:
            runaway_at = _at(now, nowt + remaining / current)
    end = _chart_end(nowt, depletion, expires_at, chart_seconds)
    path = _path(nowt, remaining, end, lambda ts: profile.cumulative(nowt, ts))
    return Forecast(
        rate,
        depletion,
        unused,
        "weekly",
        week,
        early,
        late,
        usual,
        current,
        flagged,
        runaway_at,
        buy,
        path,
    )


def _chart_end(
    nowt: float, depletion: datetime | None, expires_at: datetime | None, chart: float | None
) -> float:
    ends = [nowt + (chart if chart is not None and chart > 0 else 365 * _DAY)]
    for when in (depletion, expires_at):
        if when is not None:
            with contextlib.suppress(OverflowError, OSError, ValueError):
                ends.append(when.timestamp())
    return max(min(ends), nowt)


def _linear(  # noqa: PLR0917 - private, called once with everything assess has
    clean: list[tuple[float, float]],
    remaining: float,
    now: datetime,
    expires_at: datetime | None,
    check: Runaway | None,
    window: float,
    min_history: float,
    chart_seconds: float | None,
) -> Forecast | None:
    nowt = now.timestamp()
    rate = burn_rate(clean, now=nowt, window_seconds=window, min_history_seconds=min_history)
    if rate is None:
        return None
    base = forecast(rate, remaining, now, expires_at)
    flat = fit_weekly(
        clean, now=nowt, zone=UTC, history_seconds=window, min_days=3, weekly=False, clean=True
    )

    def walk(scale: float) -> datetime | None:
        return forecast(rate * scale, remaining, now, None).depletion_at

    early, late = (
        _band(now, base.depletion_at, flat.spread, flat.days, walk)
        if flat is not None and rate > 0
        else (None, None)
    )
    buy = None
    left = _seconds_until(now, expires_at)
    if base.depletion_at is not None and expires_at is not None and base.depletion_at < expires_at:
        buy = max(rate * (left or 0.0) - remaining, 0.0)
    usual = current = None
    flagged = False
    runaway_at = None
    if check is not None:
        # the usual burn: the line over the window before the period checked
        before = nowt - check.sustained_seconds
        baseline = burn_rate(
            [p for p in clean if p[0] <= before],
            now=before,
            window_seconds=window,
            min_history_seconds=max(min_history, 2 * check.sustained_seconds),
        )
        usual, current, flagged = _runaway_check(clean, nowt, check, baseline)
        if flagged and current:
            runaway_at = _at(now, nowt + remaining / current)
    end = _chart_end(nowt, base.depletion_at, expires_at, chart_seconds)
    path = _path(nowt, remaining, end, lambda ts: [rate * (t - nowt) for t in ts])
    return Forecast(
        base.rate,
        base.depletion_at,
        base.unused_at_expiry,
        "linear",
        None,
        early,
        late,
        usual,
        current,
        flagged,
        runaway_at,
        buy,
        path,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 9)


def forecast_json(fc: Forecast) -> dict[str, object]:
    """The JSON shape of a forecast: ``ivh-monitor forecast --format json`` and the
    ``forecast`` of an hour package in ``/api/assets`` (docs/forecast.md)."""
    return {
        "model": fc.model,
        "depletion_at": _iso(fc.depletion_at),
        "depletion_earliest": _iso(fc.depletion_earliest),
        "depletion_latest": _iso(fc.depletion_latest),
        "unused_at_expiry_seconds": _num(fc.unused_at_expiry),
        "buy_seconds": _num(fc.buy_seconds),
        "rate_seconds_per_second": _num(fc.rate),
        "mean_rate_seconds_per_second": _num(fc.mean_rate),
        "usual_rate_seconds_per_second": _num(fc.usual_rate),
        "current_rate_seconds_per_second": _num(fc.current_rate),
        "burn_ratio": _num(fc.burn_ratio),
        "runaway": fc.runaway,
        "runaway_depletion_at": _iso(fc.runaway_depletion_at),
    }
