"""The weekly profile of an hour package's burn, and walking it forward (pure).

Usage is not even: a live-commerce account streams every evening and longer at
weekends, an office deployment on weekdays from nine to six. The profile holds
the package's burn per hour of the week *in the account's zone*, as a shape
(168 factors averaging 1) times a level (seconds used per second) with a trend.

It is fitted from the monitor's own history of ``(unix time, remaining
seconds)`` samples:

- Each pair of consecutive samples gives the usage between them (the drop of
  remaining), spread evenly over that span and binned into UTC hours (each
  hour's hour of the week is that of its middle, in the zone: DST and half-hour
  zones included).
- What is not usage is not counted, and not guessed either: a rise (a top-up,
  a refill) or a gap longer than :data:`MAX_GAP_SECONDS` (the daemon was down)
  leaves those hours unobserved; so does a span whose burn would exceed
  :data:`MAX_RATE` (a clock that jumped, a figure that is no reading).
- Whole weeks back from ``now`` give the level and, when the weeks agree on it,
  the trend (see :func:`_weeks_level`); the scatter of days (24-hour blocks back
  from ``now``) around the model gives the uncertainty band.

Everything here is total: no history, however odd, makes it raise, overflow or
return NaN. Loops are bounded by the history window and by the walk's limits.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

__all__ = [
    "HOURS_OF_WEEK",
    "MAX_DEPLETION_SECONDS",
    "MAX_GAP_SECONDS",
    "MAX_RATE",
    "WeeklyProfile",
    "clean_samples",
    "fit_weekly",
    "hour_of_week",
    "observed_usage",
]

HOURS_OF_WEEK = 168
_HOUR = 3600.0
_DAY = 86400.0
_WEEK = 7 * _DAY
#: remaining may wobble by rounding; only a rise above this is a top-up (seconds)
TOP_UP_EPSILON = 1.0
#: a span between two samples longer than this is a gap: its usage is not placed
MAX_GAP_SECONDS = 6 * _HOUR
#: seconds used per second above which a span is not usage but a broken reading
#: (ten thousand streams at once on one package)
MAX_RATE = 10_000.0
#: the first and last instants a zone conversion can take (datetime's range)
_T_MIN = 0.0
_T_MAX = 253_402_214_400.0  # 9999-12-31T00:00:00Z
#: a package lasting longer than this is not running dry (100 years: beyond any
#: horizon a rule can have, and well inside the calendar)
MAX_DEPLETION_SECONDS = 100 * 365.25 * 86400.0
#: history older than this is not read (eight weeks)
MAX_HISTORY_SECONDS = 8 * _WEEK
#: an hour counts as observed when samples cover at least this much of it
_MIN_COVER = 0.5 * _HOUR
#: a day counts when its observed hours cover at least this much of it
_MIN_DAY_COVER = 0.5 * _DAY
#: recent days weigh more: a day this old weighs half as much as today
_HALF_LIFE = 10 * _DAY
#: a trend this many standard errors from none keeps half its slope
_TREND_T = 2.0
#: a week earlier than the last joins its level while within this many standard errors
_POOL_Z = 2.0
#: the trend is walked forward at most this far (then the level stays), and the
#: level never more than doubles or falls below a quarter of today's
_TREND_HORIZON = 4 * _WEEK
_LEVEL_MAX, _LEVEL_MIN = 2.0, 0.25


def clean_samples(samples: Sequence[tuple[float, float]], now: float) -> list[tuple[float, float]]:
    """Finite samples inside the calendar and not after ``now``, in time order, one per
    instant (the last reading of an instant wins)."""
    keyed: list[tuple[float, float]] = []
    ordered = True
    last = -math.inf
    for t, r in samples:
        try:
            tf, rf = float(t), float(r)
        except (TypeError, ValueError, OverflowError):
            continue
        if not (math.isfinite(tf) and math.isfinite(rf) and _T_MIN <= tf <= min(now, _T_MAX)):
            continue
        ordered = ordered and tf >= last
        last = tf
        keyed.append((tf, rf))
    if not ordered:
        keyed.sort(key=lambda p: p[0])  # stable: readings of one instant keep their order
    out: list[tuple[float, float]] = []
    for t, r in keyed:
        if out and out[-1][0] == t:
            out[-1] = (t, r)
        else:
            out.append((t, r))
    return out


def hour_of_week(t: float, zone: tzinfo) -> int:
    """0 = Monday 00:00-01:00 in ``zone`` … 167 = Sunday 23:00-24:00."""
    try:
        local = datetime.fromtimestamp(t, zone)
    except (OverflowError, OSError, ValueError):
        return 0
    return local.weekday() * 24 + local.hour


@functools.lru_cache(maxsize=1 << 16)
def _slot_hour(k: int, zone: tzinfo) -> int:
    """The hour of the week of UTC hour ``k`` (its middle), memoised: walks and fits
    ask for the same hours again and again."""
    return hour_of_week((k + 0.5) * _HOUR, zone)


def observed_usage(
    samples: Sequence[tuple[float, float]], start: float, end: float
) -> Iterator[tuple[float, float, float]]:
    """``(t0, t1, rate)`` of each span between consecutive samples that is usage:
    no top-up, no gap, no broken reading; clipped to ``[start, end]``."""
    # from the last sample at or before ``start``: a long history is not read whole
    first = max(bisect.bisect_left(samples, (start, -math.inf)) - 1, 0)
    for (t0, r0), (t1, r1) in itertools.pairwise(samples[first:]):
        dt = t1 - t0
        if dt <= 0 or dt > MAX_GAP_SECONDS or t1 <= start or t0 >= end:
            continue
        drop = r0 - r1
        if drop < -TOP_UP_EPSILON or not math.isfinite(drop):
            continue  # a top-up or refill: its usage is hidden, so unobserved
        rate = max(drop, 0.0) / dt
        if rate > MAX_RATE:
            continue
        yield max(t0, start), min(t1, end), rate


@dataclass(frozen=True, slots=True)
class WeeklyProfile:
    """Burn per hour of the week: ``level(t) × shape[hour of week]`` seconds per second."""

    zone: tzinfo
    #: when it was fitted (unix time); the trend runs from here
    at: float
    #: deseasonalised burn at ``at`` (seconds per second)
    level: float
    #: change of the level per second (0 when not significant)
    trend: float
    #: 168 factors, Monday 00:00 first, averaging 1
    shape: tuple[float, ...]
    #: relative scatter of a day's usage around the model (None: too few days)
    spread: float | None
    #: days of history that were observed
    days: float

    def level_at(self, t: float) -> float:
        tau = min(max(t - self.at, 0.0), _TREND_HORIZON)
        raw = self.level + self.trend * tau
        return min(max(raw, _LEVEL_MIN * self.level), _LEVEL_MAX * self.level)

    def rate_at(self, t: float) -> float:
        """Expected seconds used per second at ``t`` (the hour of the week it falls in)."""
        return self.level_at(t) * self.shape[_slot_hour(math.floor(t / _HOUR), self.zone)]

    def week_rate(self, t: float) -> float:
        """The mean expected burn over the week from ``t``."""
        return self.level_at(t + _WEEK / 2)

    # -- walking forward -----------------------------------------------------------

    def _hours(self, start: float, limit: int) -> Iterator[tuple[float, float, float]]:
        t = start
        for _ in range(limit):
            k = math.floor(t / _HOUR)
            t1 = (k + 1) * _HOUR
            yield t, t1, self.rate_at(t)
            t = t1

    def time_to_use(self, amount: float, start: float, scale: float = 1.0) -> float | None:
        """When ``amount`` seconds are used from ``start`` on (None: not within ``horizon``:
        never, or beyond :data:`monitor.forecast.MAX_DEPLETION_SECONDS`)."""
        if not amount > 0:
            return start
        left = amount
        t = start
        # hour by hour while the trend moves the level, then whole weeks at a time
        done = amount * 1e-9  # what rounding leaves of an amount used up exactly
        for t0, t1, rate in self._hours(start, int(_TREND_HORIZON / _HOUR) + 2):
            use = rate * scale * (t1 - t0)
            if use >= left - done:
                return min(t0 + left / (rate * scale), t1)
            left -= use
            t = t1
        week = sum(r * scale * (b - a) for a, b, r in self._hours(t, HOURS_OF_WEEK))
        if not week > 0:
            return None
        weeks = math.floor(left / week) - 1
        if weeks > 0:
            if t - start + weeks * _WEEK > MAX_DEPLETION_SECONDS:
                return None
            t += weeks * _WEEK
            left -= weeks * week
        for t0, t1, rate in self._hours(t, 3 * HOURS_OF_WEEK):
            use = rate * scale * (t1 - t0)
            if use > 0 and use >= left - done:
                at = min(t0 + left / (rate * scale), t1)
                return at if at - start <= MAX_DEPLETION_SECONDS else None
            left -= use
        return None  # not reached: three weeks hold more than the one left

    def cumulative(self, start: float, times: Sequence[float]) -> list[float]:
        """Seconds expected to be used from ``start`` to each of ``times`` (ascending, at
        most :data:`_TREND_HORIZON` + a week after ``start``), in one walk."""
        out: list[float] = []
        total = 0.0
        i = 0
        limit = int((_TREND_HORIZON + _WEEK) / _HOUR) + 2
        for t0, t1, rate in self._hours(start, limit):
            while i < len(times) and times[i] <= t1:
                out.append(total + rate * max(times[i] - t0, 0.0))
                i += 1
            if i >= len(times):
                break
            total += rate * (t1 - t0)
        out.extend([total] * (len(times) - len(out)))
        return out

    def used_between(self, start: float, end: float, scale: float = 1.0) -> float:
        """Seconds expected to be used from ``start`` to ``end``."""
        if not end > start:
            return 0.0
        total = 0.0
        t = start
        for t0, t1, rate in self._hours(start, int(_TREND_HORIZON / _HOUR) + 2):
            stop = min(t1, end)
            total += rate * scale * (stop - t0)
            t = stop
            if stop >= end:
                return total
        week = sum(r * scale * (b - a) for a, b, r in self._hours(t, HOURS_OF_WEEK))
        weeks = math.floor((end - t) / _WEEK)
        if weeks > 0:
            total += weeks * week
            t += weeks * _WEEK
        for t0, t1, rate in self._hours(t, HOURS_OF_WEEK + 2):
            stop = min(t1, end)
            total += rate * scale * (stop - t0)
            if stop >= end:
                break
        return total


@dataclass(slots=True)
class _Bins:
    used: dict[int, float]
    cover: dict[int, float]


def _bin(samples: Sequence[tuple[float, float]], start: float, end: float) -> _Bins:
    """Usage and observed seconds per UTC hour (keyed by hour index)."""
    bins = _Bins({}, {})
    for t0, t1, rate in observed_usage(samples, start, end):
        t = t0
        while t < t1:  # bounded: a span is at most MAX_GAP_SECONDS (six hours)
            k = math.floor(t / _HOUR)
            stop = min((k + 1) * _HOUR, t1)
            bins.used[k] = bins.used.get(k, 0.0) + rate * (stop - t)
            bins.cover[k] = bins.cover.get(k, 0.0) + (stop - t)
            t = stop
    return bins


_Week = tuple[float, float, float, int, float]  # x, level, expected, days, sum of squares


def _noise(week: _Week) -> float:
    """The standard error of a week's level, from the scatter of its days' levels."""
    _, level, expected, n, sq = week
    var = max(sq / expected - level * level, 0.0)
    return math.sqrt(var / (n - 1)) if n > 1 else level


def _weeks_level(days: dict[int, list[float]]) -> tuple[float | None, float]:
    """Level at ``now`` and trend per second from whole weeks back from ``now``.

    Each week's level is its usage over what the shape expects of it: a whole week
    holds every hour of the week once, so the rhythm cancels out. The trend is kept
    only when the weeks agree on it: the median slope between pairs of weeks
    (Theil-Sen) and the slope between the last two weeks must point the same way;
    the smaller of the two is taken, then shrunk by how far the last two weeks'
    difference could be noise. A holiday week is one low point, which neither the
    median nor the last pair follows; a step (usage doubling and staying) leaves
    at most the smaller slope. The level is the last week's, carried half a week
    along the trend; without a trend it pools the weeks before it that do not
    differ from it by more than their noise, so a steady package gets a steadier
    level than one week gives, and a package that stepped up only the weeks since."""
    weeks: list[_Week] = []
    for b in range(int(MAX_HISTORY_SECONDS // _WEEK)):
        used = expected = sq = 0.0
        n = 0
        for j in range(7 * b, 7 * b + 7):
            d = days.get(j)
            if d is None or d[2] < _MIN_DAY_COVER or not d[1] > 0:
                continue
            used += d[0]
            expected += d[1]
            sq += d[0] * d[0] / d[1]
            n += 1
        if n >= 4 and expected > 0:
            weeks.append((-(b + 0.5) * _WEEK, used / expected, expected, n, sq))
    if not weeks or weeks[0][0] != -0.5 * _WEEK:
        return None, 0.0
    x0, l0, e0 = weeks[0][:3]

    slope = 0.0
    if len(weeks) >= 3:
        pairs = sorted(
            (wj[1] - wi[1]) / (wj[0] - wi[0]) for i, wi in enumerate(weeks) for wj in weeks[i + 1 :]
        )
        half = len(pairs) // 2
        ts = pairs[half] if len(pairs) % 2 else (pairs[half - 1] + pairs[half]) / 2
        last = (l0 - weeks[1][1]) / (x0 - weeks[1][0])
        if ts * last > 0:
            slope = math.copysign(min(abs(ts), abs(last)), ts)
            # kept as far as the last two weeks differ beyond their noise: half at
            # two standard errors (:data:`_TREND_T`), nearly all at six
            se = math.hypot(_noise(weeks[0]), _noise(weeks[1]))
            z2 = ((l0 - weeks[1][1]) / se) ** 2 if se > 0 else math.inf
            slope *= 1.0 if math.isinf(z2) else z2 / (z2 + _TREND_T * _TREND_T)
    if slope:
        return l0 - slope * x0, slope
    used, expected = l0 * e0, e0
    s0 = _noise(weeks[0])
    for w in weeks[1:]:
        if abs(w[1] - l0) > _POOL_Z * math.hypot(s0, _noise(w)):
            break
        used += w[1] * w[2]
        expected += w[2]
    return used / expected, 0.0


def fit_weekly(
    samples: Sequence[tuple[float, float]],
    *,
    now: float,
    zone: tzinfo,
    history_seconds: float = 4 * _WEEK,
    min_days: float = 7.0,
    weekly: bool = True,
    clean: bool = False,
    recent_seconds: float = 0.0,
) -> WeeklyProfile | None:
    """The profile of the last ``history_seconds`` before ``now``; ``None`` when fewer than
    ``min_days`` are observed or too few hours of the week (then the line answers).

    ``samples`` need not be clean (see :func:`clean_samples`). With ``weekly=False``
    the shape is flat: the same level and band machinery for a plain rate; with
    ``clean=True`` the samples are taken as :func:`clean_samples` left them. The last
    ``recent_seconds`` are left out: a runaway going on now must not become the usual.
    """
    if not math.isfinite(now) or not _T_MIN <= now <= _T_MAX:
        return None
    span = (
        min(max(history_seconds, 0.0), MAX_HISTORY_SECONDS)
        if math.isfinite(history_seconds)
        else 0.0
    )
    start = now - span
    cut = now - min(max(recent_seconds, 0.0), span / 4) if math.isfinite(recent_seconds) else now
    bins = _bin(samples if clean else clean_samples(samples, now), start, cut)
    slots = [k for k, c in bins.cover.items() if c >= _MIN_COVER]
    if not slots:
        return None
    how = {k: _slot_hour(k, zone) for k in slots}
    first = min(slots) * _HOUR
    days_seen = (now - first) / _DAY
    if weekly and (days_seen < min_days or len(set(how.values())) < 0.8 * HOURS_OF_WEEK):
        return None
    if not weekly and days_seen < min_days:
        return None

    def weight(k: int) -> float:
        age = (now - (k + 0.5) * _HOUR) / _HALF_LIFE
        return (bins.cover[k] / _HOUR) * math.pow(0.5, age)

    # a first shape: the mean burn at each hour of the week over the mean burn
    shape = [1.0] * HOURS_OF_WEEK
    if weekly:
        shape = _shape(slots, how, bins, weight, lambda _k: 1.0)
    level, trend, spread = _level(slots, how, bins, shape, now)
    if weekly and level > 0:
        # again against the level and trend, so a growing package's early weeks
        # do not flatten its shape
        shape = _shape(slots, how, bins, weight, lambda k: _level_of(level, trend, k, now))
        keep = _backtest(slots, how, bins, weight, lambda k: _level_of(level, trend, k, now), now)
        shape = [1.0 + keep * (x - 1.0) for x in shape]
        level, trend, spread = _level(slots, how, bins, shape, now)
    return WeeklyProfile(zone, now, level, trend, tuple(shape), spread, days_seen)


def _backtest(  # noqa: PLR0917 - private, called once with what fit_weekly has
    slots: Sequence[int],
    how: dict[int, int],
    bins: _Bins,
    w_of: Callable[[int], float],
    l_of: Callable[[int], float],
    now: float,
) -> float:
    """How much of the shape to keep (0 = flat, 1 = all of it), from a backtest: the
    shape fitted without the last week, against that week's hours. It is the least
    squares weight of the shape's departures from the week's mean rate: a rhythm that
    predicted the last week keeps its shape (1), one that did no better than the flat
    rate leans to it (a package without a real rhythm gets the line's answer)."""
    cut = math.floor((now - _WEEK) / _HOUR)
    past = [k for k in slots if k < cut]
    last = [k for k in slots if k >= cut]
    if len(past) < 24 * 7 or not last:
        return 1.0
    shape = _shape(past, how, bins, w_of, l_of)
    rates = [bins.used[k] / bins.cover[k] for k in last]
    mean = sum(rates) / len(rates)
    num = den = 0.0
    for k, y in zip(last, rates, strict=True):
        d = mean * (shape[how[k]] - 1.0)
        num += (y - mean) * d
        den += d * d
    return min(max(num / den, 0.0), 1.0) if den > 0 else 1.0


def _level_of(level: float, trend: float, k: int, now: float) -> float:
    raw = level + trend * ((k + 0.5) * _HOUR - now)
    return max(raw, _LEVEL_MIN * level)


def _shape(
    slots: Sequence[int],
    how: dict[int, int],
    bins: _Bins,
    w_of: Callable[[int], float],
    l_of: Callable[[int], float],
) -> list[float]:
    num = [0.0] * HOURS_OF_WEEK
    den = [0.0] * HOURS_OF_WEEK
    sq = [0.0] * HOURS_OF_WEEK
    count = [0] * HOURS_OF_WEEK
    for k in slots:
        w = w_of(k)
        level = l_of(k)
        rate = bins.used[k] / bins.cover[k]
        h = how[k]
        num[h] += w * rate
        den[h] += w * level
        if level > 0:
            sq[h] += w * level * (rate / level) ** 2
        count[h] += 1
    raw: list[float | None] = [
        num[h] / den[h] if den[h] > 0 else None for h in range(HOURS_OF_WEEK)
    ]
    raw = _shrunk(raw, sq, den, count)
    # an hour of the week never observed: the mean of that hour on the other days
    for h in range(HOURS_OF_WEEK):
        if raw[h] is None:
            same = [raw[d * 24 + h % 24] for d in range(7)]
            known = [x for x in same if x is not None]
            raw[h] = sum(known) / len(known) if known else None
    known_all = [x for x in raw if x is not None]
    fill = sum(known_all) / len(known_all) if known_all else 1.0
    filled = [fill if x is None else x for x in raw]
    mean = sum(filled) / HOURS_OF_WEEK
    if not mean > 0 or not math.isfinite(mean):
        return [1.0] * HOURS_OF_WEEK
    return [x / mean for x in filled]


def _shrunk(
    raw: list[float | None], sq: Sequence[float], den: Sequence[float], count: Sequence[int]
) -> list[float | None]:
    """The hours' means pulled towards their common mean by as much as their differences
    could be noise (James-Stein): a flat package gets a flat shape (the line's answer),
    a strong rhythm keeps its own, a noisy one something between."""
    seen = [h for h in range(HOURS_OF_WEEK) if raw[h] is not None and count[h] > 1]
    if len(seen) < 2:
        return raw
    means = [raw[h] or 0.0 for h in seen]
    grand = sum(means) / len(means)
    between = sum((m - grand) ** 2 for m in means) / (len(means) - 1)
    noise = 0.0
    for h, m in zip(seen, means, strict=True):
        var = max(sq[h] / den[h] - m * m, 0.0) * count[h] / (count[h] - 1)
        noise += var / count[h]
    noise /= len(seen)
    keep = max(0.0, 1.0 - noise / between) if between > 0 else 0.0
    return [None if x is None else grand + keep * (x - grand) for x in raw]


def _level(
    slots: Sequence[int], how: dict[int, int], bins: _Bins, shape: Sequence[float], now: float
) -> tuple[float, float, float | None]:
    """Level at ``now``, trend per second, and the relative scatter of days."""
    days: dict[int, list[float]] = {}
    for k in slots:
        j = math.floor((now - k * _HOUR) / _DAY)  # 0 = the last 24 hours
        used, cover = bins.used[k], bins.cover[k]
        d = days.setdefault(j, [0.0, 0.0, 0.0])
        d[0] += used
        d[1] += shape[how[k]] * cover  # what the shape expects at level 1
        d[2] += cover
    points = []
    for j, (used, expected, cover) in days.items():
        if cover < _MIN_DAY_COVER or not expected > 0:
            continue
        x = -(j + 0.5) * _DAY
        # weighed by what the shape expects of it: a day that is usually idle says
        # little about the level
        w = (expected / _DAY) * math.pow(0.5, -x / _HALF_LIFE)
        points.append((x, used / expected, w))
    if not points:
        total = sum(bins.cover[k] * shape[how[k]] for k in slots)
        level = sum(bins.used[k] for k in slots) / total if total > 0 else 0.0
        return max(level, 0.0), 0.0, None
    sw = sum(w for _, _, w in points)
    mean = sum(y * w for _, y, w in points) / sw
    a, b = _weeks_level(days)
    if a is None:  # no whole recent week to tell: the mean of the days, no trend
        a, b = mean, 0.0
    if not a > 0:
        return max(mean, 0.0), 0.0, None
    spread = None
    if len(points) >= 3:
        rel = [(y / max(a + b * x, _LEVEL_MIN * a) - 1.0) ** 2 for x, y, _ in points]
        spread = math.sqrt(sum(rel) / len(rel))
    level = a if math.isfinite(a) else 0.0
    trend = b if math.isfinite(b) else 0.0
    return level, trend, spread if spread is None or math.isfinite(spread) else None
