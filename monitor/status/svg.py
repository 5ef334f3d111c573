"""The page's two charts as inline SVG, drawn from data and ``now`` (no JS, no library).

* :func:`timeline_svg`: expiries of the next N days, one lane per kind, one
  mark per (kind, day) sized by how many assets it stands for.
* :func:`burndown_svg`: an hour package's remaining hours over its history,
  the forecast line from the last sample to depletion, and its expiry marked.

Every text is escaped here (:func:`markupsafe.escape`); callers pass plain strings
and get :class:`~markupsafe.Markup`, which the page's templates insert as it is.
The coordinates are numbers formatted here, the colours and classes constants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from markupsafe import Markup, escape

from monitor.catalogue import Language
from monitor.forecast import Forecast
from monitor.status import fmt
from monitor.status.i18n import text
from monitor.status.view import DAY, KINDS, Timeline

__all__ = ["SEVERITY_COLOURS", "burndown_svg", "timeline_svg"]

SEVERITY_COLOURS = {
    "expired": "#7f1d1d",
    "critical": "#dc2626",
    "warning": "#d97706",
    "ok": "#16a34a",
    "never": "#94a3b8",
}
_KIND_KEYS = {"service": "services", "timbre": "timbres", "image": "images"}


def _e(value: object) -> str:
    return str(escape(str(value)))


def _n(value: float) -> str:
    """Coordinates with one decimal: small markup, no visible loss."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


# -- timeline ------------------------------------------------------------------------

_TL_W, _TL_LANE, _TL_TOP = 960, 46, 8
_TL_LABEL_END, _TL_EXPIRED_X, _TL_X0, _TL_X1 = 136, 166, 224, 944


def timeline_svg(
    timeline: Timeline,
    now: datetime,
    zone: tzinfo,
    language: Language,
    *,
    ident: str,
    critical_days: float,
    warning_days: float,
) -> Markup:
    horizon = timeline.horizon_days
    plot_w = _TL_X1 - _TL_X0
    bottom = _TL_TOP + _TL_LANE * len(KINDS)
    height = bottom + 30

    def x_of(days: float) -> float:
        return _TL_X0 + min(max(days, 0.0), horizon) / horizon * plot_w

    total = sum(timeline.within.values())
    desc = text(
        language,
        "timeline_desc",
        n=total,
        days=horizon,
        s=timeline.within["service"],
        t=timeline.within["timbre"],
        i=timeline.within["image"],
        x=sum(timeline.expired.values()),
    )
    out = [
        f'<svg class="timeline" viewBox="0 0 {_TL_W} {height}" role="img"'
        f' aria-labelledby="{_e(ident)}-t {_e(ident)}-d" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{_e(ident)}-t">{_e(text(language, "timeline", days=horizon))}</title>',
        f'<desc id="{_e(ident)}-d">{_e(desc)}</desc>',
        # the severity bands: critical, then warning
        f'<rect x="{_TL_X0}" y="{_TL_TOP}" width="{_n(x_of(critical_days) - _TL_X0)}"'
        f' height="{bottom - _TL_TOP}" fill="#fee2e2"/>',
        f'<rect x="{_n(x_of(critical_days))}" y="{_TL_TOP}"'
        f' width="{_n(max(x_of(warning_days) - x_of(critical_days), 0))}"'
        f' height="{bottom - _TL_TOP}" fill="#fef3c7"/>',
    ]
    for day in range(0, horizon + 1, 15):
        x = x_of(day)
        label = (
            text(language, "today")
            if day == 0
            else (now + timedelta(days=day)).astimezone(zone).strftime("%m-%d")
        )
        out.append(
            f'<line x1="{_n(x)}" y1="{_TL_TOP}" x2="{_n(x)}" y2="{bottom + 4}"'
            ' stroke="#cbd5e1" stroke-width="1"/>'
            f'<text x="{_n(x)}" y="{bottom + 20}" text-anchor="middle" class="tick">'
            f"{_e(label)}</text>"
        )
    out.append(
        f'<text x="{_TL_EXPIRED_X}" y="{bottom + 20}" text-anchor="middle" class="tick">'
        f"{_e(text(language, 'expired'))}</text>"
    )
    for lane, kind in enumerate(KINDS):
        cy = _TL_TOP + _TL_LANE * lane + _TL_LANE / 2
        out.append(
            f'<line x1="{_TL_X0}" y1="{_n(cy)}" x2="{_TL_X1}" y2="{_n(cy)}"'
            ' stroke="#94a3b8" stroke-width="1" stroke-dasharray="2 4"/>'
            f'<text x="{_TL_LABEL_END}" y="{_n(cy + 4)}" text-anchor="end" class="lane">'
            f"{_e(text(language, _KIND_KEYS[kind]))}</text>"
        )
        expired = timeline.expired[kind]
        if expired:
            out.append(
                _mark(
                    _TL_EXPIRED_X,
                    cy,
                    expired,
                    colour=SEVERITY_COLOURS["expired"],
                    label=f"{text(language, 'expired')}: {expired}",
                )
            )
    for b in timeline.buckets:
        cy = _TL_TOP + _TL_LANE * KINDS.index(b.kind) + _TL_LANE / 2
        when = fmt.date(now + timedelta(days=b.day + 0.5), zone)
        names = ", ".join(b.names) + (" …" if b.count > len(b.names) else "")
        label = f"{when}: {b.count} × {text(language, 'kind_' + b.kind)} — {names}"
        out.append(
            _mark(
                x_of(b.day + 0.5),
                cy,
                b.count,
                colour=SEVERITY_COLOURS[b.severity],
                label=label,
                cls="bucket",
            )
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text in it went through _e


def _mark(x: float, y: float, count: int, *, colour: str, label: str, cls: str = "") -> str:
    r = min(5.0 + 2.4 * math.sqrt(count - 1), 17.0)
    inner = (
        f'<text x="{_n(x)}" y="{_n(y + 3.5)}" text-anchor="middle" class="count">{count}</text>'
        if count > 1
        else ""
    )
    cls_attr = f' class="{cls}"' if cls else ""
    return (
        f"<g{cls_attr}><title>{_e(label)}</title>"
        f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{colour}" fill-opacity="0.85"'
        f' stroke="#fff" stroke-width="1.5"/>{inner}</g>'
    )


# -- burn-down --------------------------------------------------------------------------

_B_W, _B_H = 480, 220
_B_L, _B_R, _B_T, _B_B = 56, 14, 22, 30
_B_PW, _B_PH = _B_W - _B_L - _B_R, _B_H - _B_T - _B_B
#: the forecast part is at most this many times as wide as the history, so the
#: history never shrinks to a dot; what lies beyond is named at the edge
_B_AHEAD = 4.0
#: width of a date label on the time axis
_B_LABEL_ROOM = 100


@dataclass(frozen=True, slots=True)
class _Frame:
    """The chart's coordinate system: unix time × remaining seconds."""

    t0: float
    end: float
    top: float
    zone: tzinfo

    def x(self, t: float) -> float:
        return _B_L + (t - self.t0) / (self.end - self.t0) * _B_PW

    def y(self, r: float) -> float:
        return _B_T + _B_PH - max(r, 0.0) / (self.top * 1.08) * _B_PH

    def when(self, t: float) -> str:
        fine = self.end - self.t0 < 2 * DAY
        return _dt(t).astimezone(self.zone).strftime("%m-%d %H:%M" if fine else "%m-%d")


def burndown_svg(
    samples: Sequence[tuple[float, float]],
    *,
    forecast: Forecast | None,
    expires_at: datetime | None,
    now: datetime,
    zone: tzinfo,
    language: Language,
    ident: str,
    title: str,
) -> Markup:
    """``samples`` are ``(unix time, remaining seconds)`` in time order (at least two)."""
    t0 = samples[0][0]
    t_last = samples[-1][0]
    anchor = max(now.timestamp(), t_last)
    span = max(anchor - t0, 60.0)
    depletion = forecast.depletion_at.timestamp() if forecast and forecast.depletion_at else None
    expiry = expires_at.timestamp() if expires_at is not None else None
    events = [t for t in (depletion, expiry) if t is not None and t > anchor]
    end = min(events) if events else anchor + span * 0.25
    end = max(min(end, anchor + _B_AHEAD * span), anchor + span * 0.1)
    frame = _Frame(t0, end, max(r for _, r in samples) or 3600.0, zone)
    return Markup(  # noqa: S704 - every text in it went through _e
        "".join(
            [
                f'<svg class="burn" viewBox="0 0 {_B_W} {_B_H}" role="img"'
                f' aria-labelledby="{_e(ident)}-t">',
                f'<title id="{_e(ident)}-t">{_e(title)}</title>',
                _burn_axes(frame, now, language),
                _burn_lines(frame, samples, forecast, expiry, depletion),
                _burn_events(frame, language, expiry, depletion),
                "</svg>",
            ]
        )
    )


def _burn_axes(frame: _Frame, now: datetime, language: Language) -> str:
    out = []
    for value in (0.0, frame.top / 2, frame.top):
        y = frame.y(value)
        out.append(
            f'<line x1="{_B_L}" y1="{_n(y)}" x2="{_B_W - _B_R}" y2="{_n(y)}" stroke="#e2e8f0"/>'
            f'<text x="{_B_L - 6}" y="{_n(y + 4)}" text-anchor="end" class="tick">'
            f"{_e(fmt.hours(value, language))}</text>"
        )
    for t, anchor in ((frame.t0, "start"), (frame.end, "end")):
        out.append(
            f'<text x="{_n(frame.x(t))}" y="{_B_H - 10}" text-anchor="{anchor}" class="tick">'
            f"{_e(frame.when(t))}</text>"
        )
    xn = frame.x(now.timestamp())
    if _B_L <= xn <= _B_W - _B_R:
        out.append(
            f'<line x1="{_n(xn)}" y1="{_B_T}" x2="{_n(xn)}" y2="{_B_T + _B_PH}" stroke="#64748b"'
            ' stroke-width="1"/>'
        )
        # labelled only where it does not collide with the start and end dates
        if _B_L + _B_LABEL_ROOM < xn < _B_W - _B_R - _B_LABEL_ROOM:
            out.append(
                f'<text x="{_n(xn)}" y="{_B_H - 10}" text-anchor="middle" class="tick">'
                f"{_e(text(language, 'chart_now'))}</text>"
            )
    return "".join(out)


def _burn_lines(
    frame: _Frame,
    samples: Sequence[tuple[float, float]],
    forecast: Forecast | None,
    expiry: float | None,
    depletion: float | None,
) -> str:
    t_last, r_last = samples[-1]
    points = " ".join(f"{_n(frame.x(t))},{_n(frame.y(r))}" for t, r in samples)
    base = _n(frame.y(0))
    area = f"{_n(frame.x(frame.t0))},{base} {points} {_n(frame.x(t_last))},{base}"
    out = (
        f'<polygon points="{area}" fill="#2563eb" fill-opacity="0.08"/>'
        f'<polyline class="history" points="{points}" fill="none" stroke="#2563eb"'
        ' stroke-width="2" stroke-linejoin="round"/>'
    )
    if forecast is None:
        return out
    if len(forecast.path) > 2:
        # the weekly model's walk: the week's rhythm, until empty, expiry or the edge
        walked = [(t, r) for t, r in forecast.path if t >= t_last and t <= frame.end]
        if expiry is not None:
            walked = [(t, r) for t, r in walked if t <= expiry]
        if len(walked) >= 2:
            line = " ".join(
                f"{_n(frame.x(t))},{_n(frame.y(r))}" for t, r in [(t_last, r_last), *walked]
            )
            return out + (
                f'<polyline class="forecast" points="{line}" fill="none" stroke="#ea580c"'
                ' stroke-width="2" stroke-dasharray="6 4" stroke-linejoin="round"/>'
            )
    # from the last sample, at the forecast rate, until empty, expiry or the edge
    stop = frame.end
    for t in (expiry, depletion):
        if t is not None and t_last < t < stop:
            stop = t
    r_stop = max(r_last - forecast.rate * (stop - t_last), 0.0)
    return out + (
        f'<line class="forecast" x1="{_n(frame.x(t_last))}" y1="{_n(frame.y(r_last))}"'
        f' x2="{_n(frame.x(stop))}" y2="{_n(frame.y(r_stop))}" stroke="#ea580c"'
        ' stroke-width="2" stroke-dasharray="6 4"/>'
    )


def _burn_events(
    frame: _Frame, language: Language, expiry: float | None, depletion: float | None
) -> str:
    out = []
    beyond: list[str] = []
    if depletion is not None:
        label = text(language, "chart_empty")
        if depletion <= frame.end:
            xd, y0 = frame.x(depletion), frame.y(0)
            out.append(
                f'<circle class="depletion" cx="{_n(xd)}" cy="{_n(y0)}" r="4" fill="#ea580c"/>'
                f'<text x="{_n(xd)}" y="{_n(y0 - 8)}" text-anchor="end" class="note"'
                f' fill="#c2410c">{_e(label)} {_e(frame.when(depletion))}</text>'
            )
        else:
            beyond.append(f"{label} {fmt.date(_dt(depletion), frame.zone)} →")
    if expiry is not None:
        label = text(language, "chart_expires")
        if frame.t0 <= expiry <= frame.end:
            xe = frame.x(expiry)
            out.append(
                f'<line class="expiry" x1="{_n(xe)}" y1="{_B_T}" x2="{_n(xe)}"'
                f' y2="{_B_T + _B_PH}" stroke="#dc2626" stroke-width="2" stroke-dasharray="3 3"/>'
                f'<text x="{_n(xe - 4)}" y="{_B_T - 6}" text-anchor="end" class="note"'
                f' fill="#b91c1c">{_e(label)} {_e(frame.when(expiry))}</text>'
            )
        elif expiry > frame.end:
            beyond.append(f"{label} {fmt.date(_dt(expiry), frame.zone)} →")
    if beyond:
        out.append(
            f'<text x="{_B_W - _B_R}" y="{_B_T - 6}" text-anchor="end" class="note"'
            f' fill="#475569">{_e("  ·  ".join(beyond))}</text>'
        )
    return "".join(out)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
