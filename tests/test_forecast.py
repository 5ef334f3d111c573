"""The forecast core: the weekly profile, the line it falls back to, the band, runaways.

Properties (hypothesis) over any history, then behaviour on usage with a rhythm:
an evening-and-weekend account, an office one across a DST change, a refill, a
stream left running overnight, and the usual Saturday peak that is not one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.forecast import Forecast, Runaway, assess, burn_rate, forecast, forecast_json
from monitor.weekly import fit_weekly, hour_of_week

NOW = datetime(2026, 12, 5, 20, 30, tzinfo=UTC)  # a Saturday
SHANGHAI = ZoneInfo("Asia/Shanghai")
_STEP = 300.0
_DAY = 86400.0

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
histories = st.lists(st.tuples(floats, floats), max_size=60)


def trace(
    rate: Callable[[datetime], float],
    *,
    days: float,
    remaining: float,
    zone: tzinfo = SHANGHAI,
) -> list[tuple[float, float]]:
    """Samples every five minutes for ``days`` up to NOW, burning ``rate(local time)``
    seconds per second, ending at ``remaining``."""
    n = int(days * _DAY / _STEP)
    out = []
    left = remaining
    t = NOW.timestamp()
    for _ in range(n + 1):
        out.append((t, left))
        t -= _STEP
        left += rate(datetime.fromtimestamp(t, zone)) * _STEP
    out.reverse()
    return out


def evening(local: datetime) -> float:
    """Live commerce: evenings, longer and busier on Friday and Saturday."""
    h = local.hour + local.minute / 60
    if local.weekday() in (4, 5):
        return 3.0 if 18 <= h < 24 else 0.0
    return 1.5 if 19.5 <= h < 23 else 0.0


def _valid(fc: Forecast | None) -> None:
    if fc is None:
        return
    for value in (fc.rate, fc.mean_rate, fc.unused_at_expiry, fc.usual_rate, fc.current_rate):
        assert value is None or (math.isfinite(value) and value >= 0)
    assert fc.model in ("weekly", "linear")
    if fc.depletion_earliest and fc.depletion_at:
        assert fc.depletion_earliest <= fc.depletion_at
    if fc.depletion_latest and fc.depletion_at:
        assert fc.depletion_latest >= fc.depletion_at
    forecast_json(fc)


# -- properties ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, floats, st.sampled_from([UTC, SHANGHAI, ZoneInfo("Asia/Kolkata")]))
def test_no_history_makes_it_raise_overflow_or_nan(
    history: list[tuple[float, float]], remaining: float, zone: tzinfo
) -> None:
    fc = assess(
        history, remaining=remaining, now=NOW, expires_at=NOW + timedelta(days=30), zone=zone
    )
    _valid(fc)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 28 * _DAY), st.floats(0, 1e7)), min_size=2, max_size=400),
    st.sampled_from([datetime.min.replace(tzinfo=UTC), NOW, datetime.max.replace(tzinfo=UTC)]),
)
def test_any_order_any_gap_any_expiry(points: list[tuple[float, float]], expires: datetime) -> None:
    start = NOW.timestamp() - 28 * _DAY
    history = [(start + t, r) for t, r in points]  # out of order, duplicates, jumps
    _valid(assess(history, remaining=5e5, now=NOW, expires_at=expires, zone=SHANGHAI))


@settings(max_examples=25, deadline=None)
@given(st.floats(1e3, 1e7), st.floats(1.01, 10))
def test_more_remaining_never_runs_dry_sooner(remaining: float, more: float) -> None:
    history = trace(evening, days=21, remaining=remaining)
    a = assess(history, remaining=remaining, now=NOW, expires_at=None, zone=SHANGHAI)
    b = assess(history, remaining=remaining * more, now=NOW, expires_at=None, zone=SHANGHAI)
    assert a is not None
    assert b is not None
    assert a.model == b.model == "weekly"
    assert a.depletion_at is not None
    assert b.depletion_at is not None
    assert b.depletion_at >= a.depletion_at


@settings(max_examples=20, deadline=None)
@given(st.floats(1.01, 8), st.sampled_from([3, 10, 21]))
def test_more_burn_never_runs_dry_later(factor: float, days: int) -> None:
    remaining = 2e5
    slow = trace(evening, days=days, remaining=remaining)
    fast = trace(lambda t: factor * evening(t), days=days, remaining=remaining)
    a = assess(slow, remaining=remaining, now=NOW, expires_at=None, zone=SHANGHAI)
    b = assess(fast, remaining=remaining, now=NOW, expires_at=None, zone=SHANGHAI)
    assert a is not None
    assert b is not None
    assert a.depletion_at is not None
    assert b.depletion_at is not None
    assert b.depletion_at <= a.depletion_at + timedelta(seconds=1)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.05, 20), st.sampled_from([UTC, SHANGHAI, ZoneInfo("America/New_York")]))
def test_a_constant_rate_gives_the_lines_answer(rate: float, zone: tzinfo) -> None:
    remaining = 1e6
    history = trace(lambda _: rate, days=21, remaining=remaining, zone=zone)
    fc = assess(history, remaining=remaining, now=NOW, expires_at=None, zone=zone)
    line_rate = burn_rate(
        history, now=NOW.timestamp(), window_seconds=7 * _DAY, min_history_seconds=6 * 3600
    )
    assert line_rate is not None
    line = forecast(line_rate, remaining, NOW, None)
    assert fc is not None
    assert fc.model == "weekly"
    assert fc.depletion_at is not None
    assert line.depletion_at is not None
    assert abs((fc.depletion_at - line.depletion_at).total_seconds()) <= 0.01 * remaining / rate
    assert math.isclose(fc.rate, rate, rel_tol=0.01)
    assert not fc.runaway


# -- the weekly model ----------------------------------------------------------------


def test_short_history_falls_back_to_the_line_and_says_so() -> None:
    history = trace(evening, days=3, remaining=2e5)
    fc = assess(history, remaining=2e5, now=NOW, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.model == "linear"
    assert assess(history[-2:], remaining=2e5, now=NOW, expires_at=None) is None


def test_the_week_is_walked_forward_in_the_accounts_zone() -> None:
    """Saturday 20:30 UTC is Sunday 04:30 in Shanghai: nothing burns until the evening."""
    remaining = 1.5 * 3.5 * 3600 * 2  # two evenings' worth: Sunday's and Monday's
    history = trace(evening, days=21, remaining=remaining)
    fc = assess(history, remaining=remaining, now=NOW, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.model == "weekly"
    assert fc.rate < 0.1  # the small hours: idle
    assert fc.depletion_at is not None
    local = fc.depletion_at.astimezone(SHANGHAI)
    assert local.weekday() == 0
    assert 22 <= local.hour <= 23
    # the line runs it dry in a steady trickle: days off
    line = forecast(
        burn_rate(history, now=NOW.timestamp(), window_seconds=7 * _DAY, min_history_seconds=0)
        or 0,
        remaining,
        NOW,
        None,
    )
    assert line.depletion_at is not None
    assert abs((line.depletion_at - fc.depletion_at).total_seconds()) > 6 * 3600
    # a band around it, and a path for the chart that stays flat until Monday evening
    assert fc.depletion_earliest is not None
    assert fc.depletion_latest is not None
    assert fc.path[0] == (NOW.timestamp(), remaining)
    assert len(fc.path) > 10
    sunday_noon = datetime(2026, 12, 6, 12, tzinfo=SHANGHAI).timestamp()
    assert all(r == remaining for t, r in fc.path if t < sunday_noon)


def test_advice_figures_buy_and_unused() -> None:
    remaining = 2e5
    history = trace(evening, days=21, remaining=remaining)
    short = assess(history, remaining=remaining, now=NOW, expires_at=NOW + timedelta(days=60))
    assert short is not None
    assert short.buy_seconds is not None
    assert short.buy_seconds > 0
    long = assess(history, remaining=remaining, now=NOW, expires_at=NOW + timedelta(days=2))
    assert long is not None
    assert long.buy_seconds is None
    assert long.unused_at_expiry is not None
    assert 0 < long.unused_at_expiry < remaining


def test_an_office_profile_across_the_dst_change() -> None:
    ny = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 20, 16, tzinfo=UTC)  # Friday noon in New York, after the change

    def office(local: datetime) -> float:
        return 4.0 if local.weekday() < 5 and 9 <= local.hour < 18 else 0.0

    samples = []
    left = 3e5
    t = now.timestamp()
    for _ in range(int(28 * _DAY / _STEP)):
        samples.append((t, left))
        t -= _STEP
        left += office(datetime.fromtimestamp(t, ny)) * _STEP
    samples.reverse()
    profile = fit_weekly(samples, now=now.timestamp(), zone=ny)
    assert profile is not None
    nine = hour_of_week(datetime(2026, 3, 23, 9, 30, tzinfo=ny).timestamp(), ny)
    assert profile.shape[nine] > 2
    assert profile.shape[nine - 2] < 0.2
    fc = assess(samples, remaining=3e5, now=now, expires_at=None, zone=ny)
    assert fc is not None
    assert fc.depletion_at is not None
    local = fc.depletion_at.astimezone(ny)
    assert local.weekday() < 5
    assert 9 <= local.hour < 18


def test_a_refill_and_a_gap_do_not_break_the_profile() -> None:
    history = trace(evening, days=21, remaining=1e5)
    # a top-up ten days ago (remaining jumps up), and the daemon down for a day
    cut = NOW.timestamp() - 10 * _DAY
    refilled = [(t, r + (0 if t >= cut else -5e4)) for t, r in history]
    gone = [(t, r) for t, r in refilled if not cut - 3 * _DAY < t < cut - 2 * _DAY]
    a = assess(history, remaining=1e5, now=NOW, expires_at=None, zone=SHANGHAI)
    b = assess(gone, remaining=1e5, now=NOW, expires_at=None, zone=SHANGHAI)
    assert a is not None
    assert b is not None
    assert b.model == "weekly"
    assert a.depletion_at is not None
    assert b.depletion_at is not None
    assert abs((a.depletion_at - b.depletion_at).total_seconds()) < 2 * 3600


def test_a_clock_that_jumped_is_not_usage() -> None:
    history = trace(evening, days=14, remaining=1e5)
    # a sample from a clock an hour fast, and one a day behind
    odd = [*history, (NOW.timestamp() - 3 * _DAY + 3600, 9e9), (NOW.timestamp() + 3600, 0.0)]
    a = assess(history, remaining=1e5, now=NOW, expires_at=None, zone=SHANGHAI)
    b = assess(odd, remaining=1e5, now=NOW, expires_at=None, zone=SHANGHAI)
    assert a is not None
    assert b is not None
    assert a.depletion_at is not None
    assert b.depletion_at is not None
    assert abs((a.depletion_at - b.depletion_at).total_seconds()) < 6 * 3600


def test_a_half_hour_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    assert hour_of_week(datetime(2026, 12, 7, 0, 45, tzinfo=kolkata).timestamp(), kolkata) == 0
    history = trace(evening, days=14, remaining=1e5, zone=kolkata)
    fc = assess(history, remaining=1e5, now=NOW, expires_at=None, zone=kolkata)
    assert fc is not None
    assert fc.model == "weekly"


# -- runaways --------------------------------------------------------------------------


def _with_runaway(extra: float, since: float) -> list[tuple[float, float]]:
    """The evening trace with ``extra`` streams for the last ``since`` seconds."""
    start = NOW.timestamp() - since

    def rate(local: datetime) -> float:
        return evening(local) + (extra if local.timestamp() >= start else 0.0)

    return trace(rate, days=21, remaining=3e5)


def test_a_stream_left_running_overnight_is_a_runaway() -> None:
    # 04:30 on Sunday in Shanghai: usually idle; one stream since 03:30
    fc = assess(_with_runaway(1.0, 3600), remaining=3e5, now=NOW, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.runaway
    assert fc.current_rate is not None
    assert math.isclose(fc.current_rate, 1.0, rel_tol=0.02)
    assert fc.usual_rate is not None
    assert fc.usual_rate < fc.current_rate / 3
    assert fc.runaway_depletion_at is not None
    assert fc.runaway_depletion_at < (fc.depletion_at or datetime.max.replace(tzinfo=UTC))


def test_not_sustained_long_enough_is_not_a_runaway() -> None:
    fc = assess(_with_runaway(1.0, 900), remaining=3e5, now=NOW, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert not fc.runaway
    longer = Runaway(factor=3.0, sustained_seconds=600)
    fc = assess(
        _with_runaway(1.0, 900),
        remaining=3e5,
        now=NOW,
        expires_at=None,
        zone=SHANGHAI,
        runaway=longer,
    )
    assert fc is not None
    assert fc.runaway


def test_the_usual_saturday_peak_is_not_a_runaway() -> None:
    """Every Friday and Saturday evening burns at 3 streams: twice a weekday evening, and
    six times the week's mean: the profile knows it."""
    peak = datetime(2026, 12, 5, 21, 15, tzinfo=SHANGHAI).astimezone(UTC)
    history = trace(evening, days=21, remaining=3e5)
    cut = [p for p in history if p[0] <= peak.timestamp()]
    fc = assess(cut, remaining=cut[-1][1], now=peak, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.model == "weekly"
    assert fc.current_rate is not None
    assert fc.current_rate > 2.5
    assert fc.burn_ratio is not None
    assert fc.burn_ratio < 1.5
    assert not fc.runaway


def test_a_peak_starting_an_hour_early_is_not_a_runaway() -> None:
    def early(local: datetime) -> float:
        if local.date() == datetime(2026, 12, 5).date():
            h = local.hour + local.minute / 60
            return 3.0 if 17 <= h < 24 else 0.0
        return evening(local)

    at = datetime(2026, 12, 5, 17, 45, tzinfo=SHANGHAI).astimezone(UTC)
    history = [p for p in trace(early, days=21, remaining=3e5) if p[0] <= at.timestamp()]
    fc = assess(history, remaining=history[-1][1], now=at, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert not fc.runaway


def test_a_runaway_on_the_line_while_history_is_short() -> None:
    start = NOW.timestamp() - 1800

    def rate(local: datetime) -> float:
        return 0.5 + (4.0 if local.timestamp() >= start else 0.0)

    history = trace(rate, days=2, remaining=3e5, zone=UTC)
    fc = assess(history, remaining=3e5, now=NOW, expires_at=None)
    assert fc is not None
    assert fc.model == "linear"
    assert fc.runaway
    steady = assess(
        trace(lambda _: 0.5, days=2, remaining=3e5), remaining=3e5, now=NOW, expires_at=None
    )
    assert steady is not None
    assert not steady.runaway


def test_no_runaway_check_when_disabled_or_without_recent_samples() -> None:
    history = _with_runaway(1.0, 3600)
    off = assess(history, remaining=3e5, now=NOW, expires_at=None, zone=SHANGHAI, runaway=None)
    assert off is not None
    assert not off.runaway
    assert off.current_rate is None
    later = NOW + timedelta(hours=3)  # the daemon could not collect since
    stale = assess(history, remaining=3e5, now=later, expires_at=None, zone=SHANGHAI)
    assert stale is not None
    assert not stale.runaway
    assert stale.current_rate is None


def test_times_are_in_the_zone_of_now() -> None:
    eight = timezone(timedelta(hours=8))
    history = trace(evening, days=21, remaining=2e5)
    fc = assess(history, remaining=2e5, now=NOW.astimezone(eight), expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.depletion_at is not None
    assert fc.depletion_at.utcoffset() == timedelta(hours=8)


# -- robustness: a day off, a burst, a trend --------------------------------------------


def _dry_in(history: list[tuple[float, float]], remaining: float) -> float:
    fc = assess(history, remaining=remaining, now=NOW, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.model == "weekly"
    assert fc.depletion_at is not None
    return (fc.depletion_at - NOW).total_seconds()


def test_a_day_off_or_a_burst_in_history_does_not_move_the_forecast_much() -> None:
    """One idle Wednesday, or one Tuesday burning three times as much, ten days back:
    the run-dry time moves by less than a tenth and the trend stays flat."""
    remaining = 1.5 * 3.5 * 3600 * 6  # a week or so of evenings
    day = (NOW - timedelta(days=10)).astimezone(SHANGHAI).date()

    def day_off(local: datetime) -> float:
        return 0.0 if local.date() == day else evening(local)

    def burst(local: datetime) -> float:
        return evening(local) * (3.0 if local.date() == day else 1.0)

    usual = _dry_in(trace(evening, days=28, remaining=remaining), remaining)
    for rate in (day_off, burst):
        history = trace(rate, days=28, remaining=remaining)
        assert abs(_dry_in(history, remaining) - usual) < 0.1 * usual
        profile = fit_weekly(history, now=NOW.timestamp(), zone=SHANGHAI)
        assert profile is not None
        assert abs(profile.trend) * 28 * _DAY < 0.05 * profile.level


def test_a_growing_package_gets_a_trend_and_runs_dry_sooner() -> None:
    """Evenings growing 8 % a week: the trend is found, and the package runs dry
    earlier than the same trace without growth would say."""
    start = NOW.timestamp() - 28 * _DAY

    def growing(local: datetime) -> float:
        return evening(local) * math.pow(1.08, (local.timestamp() - start) / (7 * _DAY))

    history = trace(growing, days=28, remaining=3e5)
    profile = fit_weekly(history, now=NOW.timestamp(), zone=SHANGHAI)
    assert profile is not None
    weekly_growth = profile.trend * 7 * _DAY / profile.level
    assert 0.04 < weekly_growth < 0.12


def test_a_show_running_late_as_in_a_past_week_is_not_a_runaway() -> None:
    """A Tuesday show that ran on to 01:00 in two of the past four weeks and does again
    today: the same hours of the past weeks are part of the usual burn."""
    now = datetime(2026, 12, 2, 0, 45, tzinfo=SHANGHAI).astimezone(UTC)  # Wednesday 00:45
    today = now.astimezone(SHANGHAI).date()
    late = {today - timedelta(days=7), today - timedelta(days=21), today}

    def rate(local: datetime) -> float:
        h = local.hour + local.minute / 60
        if local.date() in late and h < 1:
            return 1.5
        return evening(local)

    samples = []
    left = 3e5
    t = now.timestamp()
    for _ in range(int(28 * _DAY / _STEP) + 1):
        samples.append((t, left))
        t -= _STEP
        left += rate(datetime.fromtimestamp(t, SHANGHAI)) * _STEP
    samples.reverse()
    fc = assess(samples, remaining=samples[-1][1], now=now, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.current_rate is not None
    assert fc.current_rate > 1.0
    assert not fc.runaway


def test_usage_that_doubles_and_stays_is_a_new_level_not_a_trend() -> None:
    """A campaign doubles the evenings twelve days back, and they stay doubled: the
    forecast burns at the new level (within a tenth), and carries hardly any growth
    forward (the Theil-Sen trend on days read 14 % a week into it)."""
    since = NOW.timestamp() - 12 * _DAY

    def doubled(local: datetime) -> float:
        return evening(local) * (2.0 if local.timestamp() >= since else 1.0)

    profile = fit_weekly(trace(doubled, days=28, remaining=3e5), now=NOW.timestamp(), zone=SHANGHAI)
    assert profile is not None
    new_mean = 2 * (1.5 * 3.5 * 5 + 3.0 * 6 * 2) / 168  # seconds per second
    assert abs(profile.week_rate(NOW.timestamp()) / new_mean - 1) < 0.1
    assert abs(profile.trend) * 7 * _DAY < 0.05 * profile.level


def test_a_holiday_week_in_history_does_not_lower_the_forecast() -> None:
    """A week of no use two to three weeks back: the run-dry time moves by less than a
    tenth, and no recovery from it is read as growth."""
    remaining = 1.5 * 3.5 * 3600 * 6
    off = (NOW.timestamp() - 21 * _DAY, NOW.timestamp() - 14 * _DAY)

    def holiday(local: datetime) -> float:
        return 0.0 if off[0] <= local.timestamp() < off[1] else evening(local)

    usual = _dry_in(trace(evening, days=28, remaining=remaining), remaining)
    history = trace(holiday, days=28, remaining=remaining)
    assert abs(_dry_in(history, remaining) - usual) < 0.1 * usual
    profile = fit_weekly(history, now=NOW.timestamp(), zone=SHANGHAI)
    assert profile is not None
    assert abs(profile.trend) * 7 * _DAY < 0.02 * profile.level


def test_a_shrinking_package_gets_a_falling_trend() -> None:
    """Evenings shrinking 10 % a week: the trend is found and points down."""
    start = NOW.timestamp() - 28 * _DAY

    def shrinking(local: datetime) -> float:
        return evening(local) * math.pow(0.9, (local.timestamp() - start) / (7 * _DAY))

    profile = fit_weekly(
        trace(shrinking, days=28, remaining=3e5), now=NOW.timestamp(), zone=SHANGHAI
    )
    assert profile is not None
    weekly_change = profile.trend * 7 * _DAY / profile.level
    assert -0.14 < weekly_change < -0.05


def test_a_night_session_like_those_of_past_weekend_nights_is_not_a_runaway() -> None:
    """Saturday nights often have a stream from 03:00 to 05:00; this Sunday has one
    too. Past Sundays were idle then, but the weekend's nights were not: the past days
    of the same kind say it is usual. The same stream on a package whose nights are
    always idle is a runaway (test_a_stream_left_running_overnight_is_a_runaway)."""

    def nights(local: datetime) -> float:
        h = local.hour + local.minute / 60
        night = local.weekday() == 5 and 3 <= h < 5  # Saturdays
        today = local.timestamp() >= NOW.timestamp() - 3600
        return evening(local) + (1.0 if night or today else 0.0)

    history = trace(nights, days=28, remaining=3e5)
    fc = assess(history, remaining=3e5, now=NOW, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.current_rate is not None
    assert math.isclose(fc.current_rate, 1.0, rel_tol=0.02)
    assert fc.burn_ratio is not None
    assert fc.burn_ratio >= 3  # the same hours of past weeks were idle ...
    assert not fc.runaway  # ... but not the nights of the past weekend days


def test_a_session_like_those_at_random_quiet_hours_is_not_a_runaway() -> None:
    """A small account has a single stream of an hour at a different quiet time every
    few days (never at this hour). Now it has one more: what it often does at its quiet
    hours, not a runaway. The same stream on a package whose quiet hours are always
    idle is one (test_a_stream_left_running_overnight_is_a_runaway)."""
    start = NOW.timestamp() - 3600
    sessions = [
        (NOW.timestamp() - d * _DAY - (d % 5 + 1) * 3 * 3600, 3600) for d in range(1, 28, 3)
    ]

    def sporadic(local: datetime) -> float:
        t = local.timestamp()
        odd = any(a <= t < a + n for a, n in sessions)
        return evening(local) + (1.0 if odd or t >= start else 0.0)

    history = trace(sporadic, days=28, remaining=3e5)
    fc = assess(history, remaining=3e5, now=NOW, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.burn_ratio is not None
    assert fc.burn_ratio >= 3  # far above the usual for these hours ...
    assert not fc.runaway  # ... but what it does at quiet hours on many days


def test_a_rhythm_that_did_not_predict_the_last_week_leans_to_the_flat_rate() -> None:
    """Three weeks of evening streams, then a week of the same burn in the mornings:
    the shape of the earlier weeks predicted the last week worse than a flat rate, so
    the profile is flat (the line's answer), not a blend of two rhythms."""
    moved = NOW.timestamp() - 7 * _DAY

    def shifted(local: datetime) -> float:
        h = local.hour + local.minute / 60
        if local.timestamp() >= moved:
            return 1.5 if 7 <= h < 11 else 0.0
        return 1.5 if 19 <= h < 23 else 0.0

    history = trace(shifted, days=28, remaining=3e5)
    profile = fit_weekly(history, now=NOW.timestamp(), zone=SHANGHAI)
    assert profile is not None
    assert max(profile.shape) - min(profile.shape) < 0.01
    fc = assess(history, remaining=3e5, now=NOW, expires_at=None, zone=SHANGHAI)
    assert fc is not None
    assert fc.model == "weekly"
    # 04:30 on Sunday in Shanghai, idle in both rhythms: the expected burn is the mean
    assert math.isclose(fc.rate, fc.mean_rate, rel_tol=0.02)
