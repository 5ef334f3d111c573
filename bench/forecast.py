"""The weekly forecast against the 7-day line, on usage traces of several rhythms.

    python3 dev.py bench forecast.py            # 8 seeds per rhythm (a few minutes)
    python3 dev.py bench forecast.py --seeds 4  # fewer traces

Each trace is five-minute samples of one package's remaining seconds, as the
daemon records them, from a model of usage (streams that start and stop, with
day-to-day variation), not from fixed curves:

- ``evening`` (Asia/Shanghai): live commerce, most evenings, longer and with more
  streams on Friday and Saturday, Sunday afternoons;
- ``office`` (America/New_York, across the DST change): weekdays 9-18 with a lunch
  dip, nothing at weekends;
- ``growth`` (Europe/Berlin): the evening rhythm growing by 4-10 % a week;
- ``noisy`` (Asia/Kolkata, a half-hour zone): the evening rhythm with skipped days,
  extra streams and jittered times;
- ``flat`` (UTC): round-the-clock use with small hourly noise;
- ``random`` (UTC): streams at random times, no rhythm (reported, no target);
- ``runaway``: an evening trace with a stream left running overnight, or a job
  stuck at several times the usual rate in the day.

Four more rhythms come from a second, independent model of usage (sessions
arriving at random, a Poisson process whose intensity follows the local hour,
each lasting a log-normal time), so that nothing is tuned to the first one:

- ``step`` (America/Sao_Paulo): afternoons and weekend mornings; usage doubles
  on one day in the middle of the history and stays (a new customer campaign);
- ``decline`` (Asia/Tokyo): evenings and weekends, shrinking 10 % a week;
- ``bimodal`` (Europe/London, across a DST change): lunch and evening peaks
  every day; ``bimodal-small`` is the same for an account an eighth the size,
  whose few sessions at a time are mostly chance;
- ``holiday`` (America/Chicago): office hours with one holiday week of
  near-zero use inside the history;
- ``runaway-session``: the bimodal trace with a batch stuck at three times the
  day's peak, at any time of day.

Every trace knows its expected usage (for the first model's, the mean of more days
drawn from the same generator), so the table also gives the *oracle's* ratio: the
error of a forecast that knew it, over the line's. It is the best a
forecast can do there: where it is above ½, chance alone keeps the target out of
reach.

For each trace the forecast is asked at moments spread over its last week,
with remaining set so the package truly runs dry 1-10 days later, and the error
of the run-dry time is compared with the 7-day line's (``burn_rate`` +
``forecast``), side by side. Runaway detection is checked on every runaway
trace and, hour by hour over a week, on the traces without one.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from _common import out, table

from monitor.forecast import Runaway, assess, burn_rate, forecast
from monitor.weekly import fit_weekly

_STEP = 300.0  # seconds between samples
_HOUR = 3600.0
_DAY = 86400.0
_HISTORY_DAYS = 28
_MISS_HOURS = 30 * 24.0  # the error counted when a forecast says "never"
#: days drawn per day of a stream trace for its expected usage (the oracle)
_ORACLE_DRAWS = 32


@dataclass
class Trace:
    name: str
    zone: tzinfo
    start: float
    #: seconds used in each step from ``start``
    used: list[float]
    #: runaway: (start, end) unix times
    runaway: tuple[float, float] | None = None
    #: sessions outside the rhythm (the noisy trace's extras): (start, end) unix times
    extras: list[tuple[float, float]] = field(default_factory=list)
    #: the expected usage of each step, where the model knows it (the oracle)
    expected: list[float] | None = None

    def t(self, i: int) -> float:
        return self.start + i * _STEP


#: a day's streams: (start hour, end hour, concurrent streams[, outside the rhythm])
Stream = tuple[float, float, float] | tuple[float, float, float, bool]
Streams = Callable[[datetime, random.Random], list[Stream]]


def _build(  # noqa: PLR0917 - a trace reads best as its ingredients in order
    name: str,
    zone: tzinfo,
    days: int,
    rng: random.Random,
    day_streams: Streams,
    start: datetime,
    draws: int = _ORACLE_DRAWS,
) -> Trace:
    """Usage from streams: each day's ``(start hour, end hour, concurrent streams)``.

    The expected usage (the oracle's) is the mean of ``draws`` more days drawn from
    the same generator, with generators of their own (the trace itself is unchanged)."""
    t0 = start.timestamp()
    n = int(days * _DAY / _STEP)
    used = [0.0] * n
    expected = [0.0] * n
    local0 = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    extras = []
    for d in range(-1, days + 1):
        day = (local0 + timedelta(days=d)).replace(hour=0)
        for stream in day_streams(day, rng):
            ta, tb = _place(used, t0, zone, day, stream, weight=1.0)
            if len(stream) > 3:
                extras.append((ta, tb))
        for r in range(draws):
            other = random.Random(f"{name}/{t0}/{d}/{r}")
            for stream in day_streams(day, other):
                _place(expected, t0, zone, day, stream, weight=1.0 / draws)
    return Trace(name, zone, t0, used, extras=extras, expected=expected if draws else None)


def _place(
    used: list[float], t0: float, zone: tzinfo, day: datetime, stream: Stream, *, weight: float
) -> tuple[float, float]:
    """Adds one stream of ``day`` to ``used`` (× ``weight``); its (start, end) unix times."""
    a, b, k = stream[:3]
    s = datetime.fromisoformat(day.replace(tzinfo=None).isoformat()).replace(tzinfo=zone)
    # wall-clock hours in the zone (DST included)
    ta, tb = (s + timedelta(hours=a)).timestamp(), (s + timedelta(hours=b)).timestamp()
    n = len(used)
    i = max(int((ta - t0) // _STEP), 0)
    while i < n and t0 + i * _STEP < tb:
        lo, hi = max(ta, t0 + i * _STEP), min(tb, t0 + (i + 1) * _STEP)
        if hi > lo:
            used[i] += weight * k * (hi - lo)
        i += 1
    return ta, tb


def _evening(scale: float = 1.0, noisy: bool = False) -> Streams:
    def streams(day: datetime, rng: random.Random) -> list[Stream]:
        wd = day.weekday()
        out_: list[Stream] = []
        j = (lambda: rng.uniform(-0.75, 0.75)) if noisy else (lambda: rng.uniform(-0.25, 0.25))
        if noisy and rng.random() < 0.15:
            return out_  # a day off
        if wd in (4, 5):  # Friday, Saturday: longer, more streams
            out_.append((18 + j(), 25.5 + j(), 3 * scale * rng.uniform(0.8, 1.2)))
        elif wd == 6:
            out_.append((14 + j(), 21 + j(), 2 * scale * rng.uniform(0.8, 1.2)))
        else:
            out_.append((19.5 + j(), 23 + j(), 1.5 * scale * rng.uniform(0.7, 1.3)))
        out_.append((10 + j(), 11 + j(), 0.5 * scale))  # a morning rehearsal
        if noisy and rng.random() < 0.3:
            a = rng.uniform(8, 20)
            out_.append((a, a + rng.uniform(0.5, 3), rng.uniform(0.5, 2), True))
        return out_

    return streams


def _office(day: datetime, rng: random.Random) -> list[Stream]:
    if day.weekday() >= 5:
        return []
    k = rng.uniform(3, 5)
    return [
        (9 + rng.uniform(-0.3, 0.3), 12, k),
        (13, 18 + rng.uniform(-0.5, 0.5), k * rng.uniform(0.8, 1.1)),
    ]


def _flat(day: datetime, rng: random.Random) -> list[Stream]:
    return [(h, h + 1, 2.0 * rng.uniform(0.9, 1.1)) for h in range(24)]


def _random(day: datetime, rng: random.Random) -> list[Stream]:
    out_: list[Stream] = []
    for _ in range(rng.randint(1, 6)):
        a = rng.uniform(0, 24)
        out_.append((a, a + rng.expovariate(1 / 1.5), 1.0))
    return out_


def _growth(rate: float, t0: datetime) -> Streams:
    base = _evening()

    def streams(day: datetime, rng: random.Random) -> list[Stream]:
        weeks = (day - t0.astimezone(day.tzinfo)).total_seconds() / (7 * _DAY)
        f = (1 + rate) ** weeks
        return [(s[0], s[1], s[2] * f) for s in base(day, rng)]

    return streams


#: sessions starting per hour at a local time: (local datetime, unix time) -> rate
Intensity = Callable[[datetime, float], float]


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; ``mean`` is small here)."""
    if mean > 30:  # the normal approximation (Knuth's loop would underflow)
        return max(round(rng.gauss(mean, math.sqrt(mean))), 0)
    limit, k, p = math.exp(-mean), 0, 1.0
    while k < 1000:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
    return k


def _duration(rng: random.Random) -> float:
    return min(rng.lognormvariate(math.log(2400), 0.6), 5 * _HOUR)


def _kernel() -> list[float]:
    """Seconds a session started in a step uses in each following step, on average."""
    rng = random.Random(7)
    k = [0.0] * (int(5 * _HOUR / _STEP) + 2)
    runs = 4000
    for _ in range(runs):
        a = rng.uniform(0, _STEP)
        b = a + _duration(rng)
        for d in range(len(k)):
            k[d] += max(min(b, (d + 1) * _STEP) - max(a, d * _STEP), 0.0) / runs
    return k


_KERNEL: list[float] = []


def _sessions(  # noqa: PLR0917 - a trace reads best as its ingredients in order
    name: str,
    zone: tzinfo,
    days: int,
    rng: random.Random,
    intensity: Intensity,
    start: datetime,
    size: float = 8.0,
) -> Trace:
    """Usage from sessions arriving at random (the second model of usage): in each
    step, a Poisson number of sessions start, at ``size`` × ``intensity`` per hour for
    that local time; each lasts a log-normal time (median 40 min) and burns one
    stream. The trace also holds its expected usage (the oracle's forecast)."""
    if not _KERNEL:
        _KERNEL.extend(_kernel())
    t0 = start.timestamp()
    n = int(days * _DAY / _STEP)
    used = [0.0] * n
    expected = [0.0] * n
    for i in range(n):
        t = t0 + i * _STEP
        lam = size * intensity(datetime.fromtimestamp(t, zone), t) * _STEP / _HOUR
        for d, kd in enumerate(_KERNEL[: n - i]):
            expected[i + d] += lam * kd
        for _ in range(_poisson(rng, lam)):
            a = t + rng.uniform(0, _STEP)
            b = a + _duration(rng)
            j = i
            while j < n and t0 + j * _STEP < b:
                lo, hi = max(a, t0 + j * _STEP), min(b, t0 + (j + 1) * _STEP)
                used[j] += max(hi - lo, 0.0)
                j += 1
    return Trace(name, zone, t0, used, expected=expected)


def _hour(local: datetime) -> float:
    return local.hour + local.minute / 60


def _step_usage(at: float) -> Intensity:
    def rate(local: datetime, t: float) -> float:
        h, wd = _hour(local), local.weekday()
        base = 0.05
        if wd < 5 and 14 <= h < 20:
            base = 2.0
        elif wd >= 5 and 9 <= h < 15:
            base = 1.2
        return base * (2.0 if t >= at else 1.0)

    return rate


def _decline_usage(t0: float) -> Intensity:
    def rate(local: datetime, t: float) -> float:
        h, wd = _hour(local), local.weekday()
        base = 0.1
        if 18 <= h < 23:
            base = 3.0
        if wd >= 5 and 12 <= h < 18:
            base = 2.0
        return base * 0.9 ** ((t - t0) / (7 * _DAY))

    return rate


def _bimodal_usage(local: datetime, t: float) -> float:
    h, wd = _hour(local), local.weekday()
    if 11.5 <= h < 13.5:
        return 3.0 if wd >= 5 else 2.0
    if 19 <= h < 22:
        return 3.0
    return 0.1


def _holiday_usage(off: tuple[float, float]) -> Intensity:
    def rate(local: datetime, t: float) -> float:
        h, wd = _hour(local), local.weekday()
        base = 4.0 if wd < 5 and 8 <= h < 17 else 0.02
        return base * (0.03 if off[0] <= t < off[1] else 1.0)

    return rate


def new_traces(seed: int) -> list[Trace]:
    """The rhythms of the second model of usage (see the module's docstring)."""
    rng = random.Random(5000 + seed)
    days = _HISTORY_DAYS + 7 + 12
    start = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=rng.randint(0, 300))
    t0 = start.timestamp()
    step_at = t0 + rng.uniform(10, 20) * _DAY
    # London leaves summer time on 25 October 2026: the change falls 10-20 days into
    # the history, 8-25 days before the last week's forecasts
    dst_start = datetime(2026, 10, 25, tzinfo=UTC) - timedelta(days=rng.randint(10, 20))
    off0 = t0 + rng.randint(8, 16) * _DAY
    return [
        _sessions("step", ZoneInfo("America/Sao_Paulo"), days, rng, _step_usage(step_at), start),
        _sessions("decline", ZoneInfo("Asia/Tokyo"), days, rng, _decline_usage(t0), start),
        _sessions("bimodal", ZoneInfo("Europe/London"), days, rng, _bimodal_usage, dst_start),
        _sessions(
            "bimodal-small", ZoneInfo("Europe/London"), days, rng, _bimodal_usage, dst_start, 1.0
        ),
        _sessions(
            "holiday",
            ZoneInfo("America/Chicago"),
            days,
            rng,
            _holiday_usage((off0, off0 + 7 * _DAY)),
            start,
        ),
    ]


def traces(seed: int) -> list[Trace]:
    rng = random.Random(seed)
    days = _HISTORY_DAYS + 7 + 12
    # starts spread over the year; the office trace crosses the March DST change
    start = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=rng.randint(0, 300))
    office_start = datetime(2026, 2, 9, tzinfo=UTC) + timedelta(days=rng.randint(0, 20))
    return [
        _build("evening", ZoneInfo("Asia/Shanghai"), days, rng, _evening(), start),
        _build("office", ZoneInfo("America/New_York"), days, rng, _office, office_start),
        _build(
            "growth",
            ZoneInfo("Europe/Berlin"),
            days,
            rng,
            _growth(rng.uniform(0.04, 0.10), start),
            start,
        ),
        _build("noisy", ZoneInfo("Asia/Kolkata"), days, rng, _evening(noisy=True), start),
        _build("flat", UTC, days, rng, _flat, start),
        _build("random", UTC, days, rng, _random, start),
    ]


def _runaway_traces(seed: int) -> list[tuple[Trace, float]]:
    """Evening traces with a runaway starting in their last week; (trace, evaluate at)."""
    rng = random.Random(1000 + seed)
    start = datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=rng.randint(0, 300))
    days = _HISTORY_DAYS + 7
    zone = ZoneInfo("Asia/Shanghai")
    found = []
    for variant in ("overnight", "daytime", "peak"):
        tr = _build(f"runaway-{variant}", zone, days, rng, _evening(), start, 0)
        day = datetime.fromtimestamp(tr.t(len(tr.used) - 1), zone).replace(
            hour=0, minute=0, second=0, microsecond=0
        ) - timedelta(days=rng.randint(1, 5))
        if variant == "overnight":  # a stream left running, after even a Saturday show
            a = (day + timedelta(hours=rng.uniform(2.5, 4))).timestamp()
            k, length = 1.0, 6 * _HOUR
        elif variant == "daytime":  # a job stuck on a weekday afternoon, usually idle
            while day.weekday() > 3:
                day -= timedelta(days=1)
            a = (day + timedelta(hours=rng.uniform(12, 15))).timestamp()
            k, length = rng.uniform(1.0, 3.0), 3 * _HOUR
        else:  # at the Friday/Saturday peak, a fleet of extra streams (5x the peak)
            while day.weekday() != 5:
                day -= timedelta(days=1)
            a = (day + timedelta(hours=rng.uniform(19, 21))).timestamp()
            k, length = 12.0, 2 * _HOUR
        b = a + length
        for i in range(len(tr.used)):
            lo, hi = max(a, tr.t(i)), min(b, tr.t(i + 1))
            if hi > lo:
                tr.used[i] += k * (hi - lo)
        tr.runaway = (a, b)
        found.append((tr, a + 1800 + 15 * 60))
    # the second model: a batch stuck at three times the day's peak, at any time of day
    tr = _sessions(
        "runaway-session",
        ZoneInfo("Europe/London"),
        days,
        rng,
        _bimodal_usage,
        start,
    )
    a = tr.t(len(tr.used) - 1) - rng.uniform(1.5, 5) * _DAY
    b = a + 4 * _HOUR
    peak = 3 * max(tr.expected or [0.0]) / _STEP
    for i in range(len(tr.used)):
        lo, hi = max(a, tr.t(i)), min(b, tr.t(i + 1))
        if hi > lo:
            tr.used[i] += peak * (hi - lo)
    tr.runaway = (a, b)
    found.append((tr, a + 1800 + 15 * 60))
    return found


def _history(tr: Trace, i_now: int, remaining_now: float) -> list[tuple[float, float]]:
    """Samples up to step ``i_now`` (inclusive), with ``remaining_now`` at the end."""
    first = max(0, i_now - int(_HISTORY_DAYS * _DAY / _STEP))
    out_: list[tuple[float, float]] = []
    left = remaining_now
    for i in range(i_now, first - 1, -1):
        out_.append((tr.t(i), left))
        left += tr.used[i - 1] if i > 0 else 0.0
    out_.reverse()
    return out_


def _true_dry(tr: Trace, i_now: int, remaining: float) -> float:
    left = remaining
    for i in range(i_now, len(tr.used)):
        if left <= 0:
            return tr.t(i)
        if tr.used[i] >= left:
            return tr.t(i) + _STEP * left / tr.used[i]
        left -= tr.used[i]
    return math.inf


def _err_hours(pred: datetime | None, truth: float) -> float:
    if pred is None:
        return _MISS_HOURS
    return min(abs(pred.timestamp() - truth) / _HOUR, _MISS_HOURS)


def _oracle_dry(tr: Trace, i_now: int, remaining: float) -> float | None:
    """When the expected usage (the model's own, unknown to the forecast) uses it up."""
    if tr.expected is None:
        return None
    left = remaining
    for i in range(i_now, len(tr.expected)):
        e = tr.expected[i]
        if e >= left:
            return tr.t(i) + _STEP * left / e
        left -= e
    return math.inf


def compare(
    tr: Trace, rng: random.Random, points: int
) -> tuple[list[float], list[float], int, list[float]]:
    """(weekly errors, line errors, how often weekly answered, the oracle's errors) in
    hours."""
    errs_w: list[float] = []
    errs_l: list[float] = []
    errs_o: list[float] = []
    weekly = 0
    first = int(_HISTORY_DAYS * _DAY / _STEP)
    for _ in range(points):
        i_now = first + rng.randrange(int(7 * _DAY / _STEP))
        horizon = rng.uniform(1, 10) * _DAY
        j = min(i_now + int(horizon / _STEP), len(tr.used))
        remaining = sum(tr.used[i_now:j])
        if remaining <= 0:
            continue
        truth = _true_dry(tr, i_now, remaining)
        samples = _history(tr, i_now, remaining)
        now = datetime.fromtimestamp(tr.t(i_now), UTC)
        fc = assess(samples, remaining=remaining, now=now, expires_at=None, zone=tr.zone)
        rate = burn_rate(
            samples, now=now.timestamp(), window_seconds=7 * _DAY, min_history_seconds=6 * _HOUR
        )
        line = forecast(rate or 0.0, remaining, now, None)
        errs_w.append(_err_hours(fc.depletion_at if fc else None, truth))
        errs_l.append(_err_hours(line.depletion_at, truth))
        weekly += fc is not None and fc.model == "weekly"
        oracle = _oracle_dry(tr, i_now, remaining)
        if oracle is not None:
            errs_o.append(min(abs(oracle - truth) / _HOUR, _MISS_HOURS))
    return errs_w, errs_l, weekly, errs_o


def false_flags(tr: Trace) -> tuple[int, int, int]:
    """(hours flagged, hours checked, flags on sessions outside the rhythm) over the
    trace's last week, hour by hour."""
    first = int(_HISTORY_DAYS * _DAY / _STEP)
    flagged = checked = unusual = 0
    profile = None
    for h in range(7 * 24):
        i_now = first + int(h * _HOUR / _STEP)
        remaining = 1e7
        samples = _history(tr, i_now, remaining)
        nowt = tr.t(i_now)
        if profile is None or h % 24 == 0:
            profile = fit_weekly(samples, now=nowt, zone=tr.zone)
        fc = assess(
            samples,
            remaining=remaining,
            now=datetime.fromtimestamp(nowt, UTC),
            expires_at=None,
            zone=tr.zone,
            profile=profile,
            runaway=Runaway(),
        )
        near = any(a < nowt and b > nowt - 2 * _HOUR for a, b in tr.extras)
        if near:
            unusual += bool(fc and fc.runaway)
            continue
        checked += 1
        flagged += bool(fc and fc.runaway)
    return flagged, checked, unusual


_RHYTHMIC = (
    "evening",
    "office",
    "growth",
    "noisy",
    "step",
    "decline",
    "bimodal",
    "bimodal-small",
    "holiday",
)


def main() -> int:  # noqa: PLR0915 - one run, one table: read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--points", type=int, default=12, help="forecasts asked per trace")
    args = parser.parse_args()
    began = time.perf_counter()
    errors: dict[str, tuple[list[float], list[float], list[int], list[float]]] = {}
    flags: dict[str, list[int]] = {}
    for seed in range(args.seeds):
        rng = random.Random(seed)
        for tr in traces(seed) + new_traces(seed):
            w, line, n, oracle = compare(tr, rng, args.points)
            e = errors.setdefault(tr.name, ([], [], [0, 0], []))
            e[0].extend(w)
            e[1].extend(line)
            e[3].extend(oracle)
            e[2][0] += n
            e[2][1] += len(w)
            f, c, u = false_flags(tr)
            fl = flags.setdefault(tr.name, [0, 0, 0])
            fl[0] += f
            fl[1] += c
            fl[2] += u
    rows = []
    verdicts: list[tuple[str, str, bool]] = []
    for name, (w, line, (n_weekly, n), oracle) in errors.items():
        mw, ml = statistics.median(w), statistics.median(line)
        mo = statistics.median(oracle) if oracle else None
        p90w = statistics.quantiles(w, n=10)[-1] if len(w) > 1 else mw
        p90l = statistics.quantiles(line, n=10)[-1] if len(line) > 1 else ml
        fl = flags[name]
        rows.append(
            [
                name,
                len(w),
                f"{n_weekly}/{n}",
                f"{mw:.1f}",
                f"{ml:.1f}",
                f"{mw / ml:.2f}" if ml else "-",
                f"{mo / ml:.2f}" if mo is not None and ml else "-",
                f"{p90w:.1f}",
                f"{p90l:.1f}",
                f"{fl[0]}/{fl[1]}",
                str(fl[2]) if name == "noisy" else "-",
            ]
        )
        if name in _RHYTHMIC:
            bound = f"; oracle {mo / ml:.2f}" if mo is not None and ml else ""
            verdicts.append(
                (
                    f"median error ≤ ½ line's ({name})",
                    f"{mw:.1f} h vs {ml:.1f} h ({mw / ml:.2f}{bound})" if ml else "-",
                    mw <= ml / 2,
                )
            )
        elif name == "flat":
            verdicts.append(
                ("median error ≤ line's (flat)", f"{mw:.1f} h vs {ml:.1f} h", mw <= ml * 1.0001)
            )
        if name != "random":
            verdicts.append((f"no false runaway ({name})", f"{fl[0]} of {fl[1]} hours", fl[0] == 0))
    out(
        table(
            [
                "trace",
                "forecasts",
                "weekly answered",
                "median err h (weekly)",
                "median err h (line)",
                "ratio",
                "oracle's ratio",
                "p90 err h (weekly)",
                "p90 err h (line)",
                "runaway flags / hours",
                "flags on extra sessions",
            ],
            rows,
        )
    )
    caught = total = caught_running = 0
    late: list[str] = []
    delays: list[float] = []
    for seed in range(args.seeds):
        for tr, at in _runaway_traces(seed):
            a, b = tr.runaway or (at, at)
            total += 1
            # asked every 15 min while it runs, from the first check (45 min in) on
            check, first = at, True
            while check < b:
                i_now = int((check - tr.start) // _STEP)
                samples = _history(tr, i_now, 1e7)
                fc = assess(
                    samples,
                    remaining=1e7,
                    now=datetime.fromtimestamp(tr.t(i_now), UTC),
                    expires_at=None,
                    zone=tr.zone,
                )
                if fc is not None and fc.runaway:
                    caught += first
                    caught_running += 1
                    delays.append((check - a) / 60)
                    break
                if first:
                    ratio = fc.burn_ratio if fc else None
                    late.append(f"{tr.name} seed {seed} (ratio {ratio} 45 min in)")
                first = False
                check += 15 * 60
    out()
    out(f"runaway traces caught 45 min after the start: {caught}/{total}")
    out(
        f"runaway traces caught while they run (checked every 15 min): {caught_running}/{total};"
        f" minutes from the start to the flag: median {statistics.median(delays or [0]):.0f},"
        f" max {max(delays or [0]):.0f}"
    )
    for miss in late:
        out(f"  not at 45 min: {miss}")
    verdicts.append(
        ("runaway caught while it runs", f"{caught_running}/{total}", caught_running == total)
    )
    verdicts.append(("runaway caught 45 min in", f"{caught}/{total}", caught == total))
    out()
    out(
        table(
            ["target", "measured", "verdict"],
            [[a, b, "pass" if ok else "MISS"] for a, b, ok in verdicts],
        )
    )
    out(f"\n({time.perf_counter() - began:.0f} s)")
    return 0 if all(ok for _, _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
