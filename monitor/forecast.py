"""Burn rate and forecasts of hour packages, from the monitor's own history (pure).

The API gives only the remaining milliseconds at each poll; the rate at which
a package is used up comes from the history of those figures that the state
store keeps. A top-up (remaining going up) starts a new window, so a refill
never reads as negative usage.

Both functions are total: whatever the history and the figures (fractional,
zero, huge, not finite, expiries next to ``datetime.min``/``max``), they
return a result and never raise. A rate below :data:`MIN_BURN_RATE` is zero,
and a depletion further off than :data:`MAX_DEPLETION_SECONDS` (or beyond the
calendar) is "not running dry".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["MAX_DEPLETION_SECONDS", "MIN_BURN_RATE", "Forecast", "burn_rate", "forecast"]

#: remaining may wobble by rounding; only a rise above this is a top-up (seconds)
_TOP_UP_EPSILON = 1.0
#: Burn rates below this (seconds used per second) are zero. One second per
#: million: about 2.6 s of package a month, while even one 1-minute stream a
#: month burns 2.3e-5, 23 times more. What lies under it is the rounding noise of
#: least squares over an idle package's fractional figures (milliseconds / 1000
#: give slopes near 1e-20), which would forecast a depletion in 1e14 years.
MIN_BURN_RATE = 1e-6
#: A package lasting longer than this at its rate is not running dry (100 years:
#: beyond any horizon a rule can have, and well inside the calendar)
MAX_DEPLETION_SECONDS = 100 * 365.25 * 86400.0


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
    rate: float
    #: when the package runs dry at this rate; ``None`` when it is not being used,
    #: or would last beyond :data:`MAX_DEPLETION_SECONDS`
    depletion_at: datetime | None
    #: seconds still unused when it expires at this rate; ``None`` if it never expires
    unused_at_expiry: float | None


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
