"""The weekly forecast against the 7-day line, on usage traces of several rhythms.

    python3 dev.py bench forecast.py            # 4 seeds per rhythm (about a minute)
    python3 dev.py bench forecast.py --seeds 8  # more traces

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

    def t(self, i: int) -> float:
        return self.start + i * _STEP


#: a day's streams: (start hour, end hour, concurrent streams[, outside the rhythm])
Stream = tuple[float, float, float] | tuple[float, float, float, bool]
Streams = Callable[[datetime, random.Random], list[Stream]]


def _build(  # noqa: PLR0917 - a trace reads best as its ingredients in order
    name: str, zone: tzinfo, days: int, rng: random.Random, day_streams: Streams, start: datetime
) -> Trace:
    """Usage from streams: each day's ``(start hour, end hour, concurrent streams)``."""
    t0 = start.timestamp()
    n = int(days * _DAY / _STEP)
    used = [0.0] * n
    local0 = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    extras = []
    for d in range(-1, days + 1):
        day = (local0 + timedelta(days=d)).replace(hour=0)
        for stream in day_streams(day, rng):
            a, b, k = stream[:3]
            s = day.replace(tzinfo=None)
            # wall-clock hours in the zone (DST included)
            sa = datetime.fromisoformat(s.isoformat()).replace(tzinfo=zone) + timedelta(hours=a)
            sb = datetime.fromisoformat(s.isoformat()).replace(tzinfo=zone) + timedelta(hours=b)
            ta, tb = sa.timestamp(), sb.timestamp()
            if len(stream) > 3:
                extras.append((ta, tb))
            i = max(int((ta - t0) // _STEP), 0)
            while i < n and t0 + i * _STEP < tb:
                lo, hi = max(ta, t0 + i * _STEP), min(tb, t0 + (i + 1) * _STEP)
                if hi > lo:
                    used[i] += k * (hi - lo)
                i += 1
    return Trace(name, zone, t0, used, extras=extras)


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
        tr = _build(f"runaway-{variant}", zone, days, rng, _evening(), start)
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


def compare(tr: Trace, rng: random.Random, points: int) -> tuple[list[float], list[float], int]:
    """(weekly errors, line errors, how often weekly answered) in hours."""
    errs_w: list[float] = []
    errs_l: list[float] = []
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
    return errs_w, errs_l, weekly


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


def main() -> int:  # noqa: PLR0915 - one run, one table: read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--points", type=int, default=12, help="forecasts asked per trace")
    args = parser.parse_args()
    began = time.perf_counter()
    errors: dict[str, tuple[list[float], list[float], list[int]]] = {}
    flags: dict[str, list[int]] = {}
    for seed in range(args.seeds):
        rng = random.Random(seed)
        for tr in traces(seed):
            w, line, n = compare(tr, rng, args.points)
            e = errors.setdefault(tr.name, ([], [], [0, 0]))
            e[0].extend(w)
            e[1].extend(line)
            e[2][0] += n
            e[2][1] += len(w)
            f, c, u = false_flags(tr)
            fl = flags.setdefault(tr.name, [0, 0, 0])
            fl[0] += f
            fl[1] += c
            fl[2] += u
    rows = []
    verdicts: list[tuple[str, str, bool]] = []
    for name, (w, line, (n_weekly, n)) in errors.items():
        mw, ml = statistics.median(w), statistics.median(line)
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
                f"{p90w:.1f}",
                f"{p90l:.1f}",
                f"{fl[0]}/{fl[1]}",
                str(fl[2]) if name == "noisy" else "-",
            ]
        )
        if name in ("evening", "office", "growth", "noisy"):
            verdicts.append(
                (f"median error ≤ ½ line's ({name})", f"{mw:.1f} h vs {ml:.1f} h", mw <= ml / 2)
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
                "p90 err h (weekly)",
                "p90 err h (line)",
                "runaway flags / hours",
                "flags on extra sessions",
            ],
            rows,
        )
    )
    caught = total = 0
    late: list[str] = []
    for seed in range(args.seeds):
        for tr, at in _runaway_traces(seed):
            i_now = int((at - tr.start) // _STEP)
            samples = _history(tr, i_now, 1e7)
            fc = assess(
                samples,
                remaining=1e7,
                now=datetime.fromtimestamp(tr.t(i_now), UTC),
                expires_at=None,
                zone=tr.zone,
            )
            total += 1
            if fc is not None and fc.runaway:
                caught += 1
            else:
                ratio = fc.burn_ratio if fc else None
                late.append(f"{tr.name} seed {seed} (ratio {ratio})")
    out()
    out(f"runaway traces caught 45 min after the start: {caught}/{total}")
    for miss in late:
        out(f"  missed: {miss}")
    verdicts.append(("runaway caught on every runaway trace", f"{caught}/{total}", caught == total))
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
