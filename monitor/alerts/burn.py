"""Burn rate and forecasts of hour packages, from the monitor's own history (pure).

The API gives only the remaining milliseconds at each poll; the rate at which
a package is used up comes from the history of those figures that the state
store keeps. A top-up (remaining going up) starts a new window, so a refill
never reads as negative usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Forecast", "burn_rate", "forecast"]

#: remaining may wobble by rounding; only a rise above this is a top-up (seconds)
_TOP_UP_EPSILON = 1.0


def burn_rate(
    samples: Sequence[tuple[float, float]],
    *,
    now: float,
    window_seconds: float,
    min_history_seconds: float,
) -> float | None:
    """Seconds of the package used per second, by least squares over the window.

    ``samples`` are ``(unix time, remaining seconds)`` in time order. ``None``
    when there is too little history to say.
    """
    points = [p for p in samples if now - window_seconds <= p[0] <= now]
    start = 0
    for i in range(1, len(points)):
        if points[i][1] > points[i - 1][1] + _TOP_UP_EPSILON:
            start = i
    points = points[start:]
    if len(points) < 2 or points[-1][0] - points[0][0] < max(min_history_seconds, 1.0):
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var <= 0:
        return None
    slope = sum((t - mean_t) * (r - mean_r) for t, r in points) / var
    return max(-slope, 0.0)


@dataclass(frozen=True, slots=True)
class Forecast:
    rate: float
    #: when the package runs dry at this rate; ``None`` when it is not being used
    depletion_at: datetime | None
    #: seconds still unused when it expires at this rate; ``None`` if it never expires
    unused_at_expiry: float | None


def forecast(rate: float, remaining: float, now: datetime, expires_at: datetime | None) -> Forecast:
    depletion = None if rate <= 0 else now + timedelta(seconds=remaining / rate)
    unused = None
    if expires_at is not None:
        left = max((expires_at - now).total_seconds(), 0.0)
        unused = max(remaining - rate * left, 0.0)
    return Forecast(rate, depletion, unused)
