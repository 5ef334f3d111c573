"""Alert texts in English or Chinese: what, how much, by when, and what to do (pure).

Each text is also returned cut into pieces (:data:`Parts`): our words and
figures, and the outside text substituted into them (the fields in
:data:`OUTSIDE_FIELDS`: names, ids, account labels, the vendor's errors), so a
chat channel can escape the outside pieces for its markup and leave the rest,
including an operator's ``alerts.templates`` text, as written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from string import Template
from typing import Any

from monitor.text import one_line

__all__ = [
    "OUTSIDE_FIELDS",
    "Parts",
    "advice",
    "joined",
    "render",
    "render_parts",
    "render_resolved_parts",
]

#: alternating pieces: ours (even indexes) and outside text (odd indexes)
Parts = tuple[str, ...]

#: template fields whose values come from outside (the vendor, the operator's
#: account labels): everything else is a figure or a word we formatted
OUTSIDE_FIELDS = frozenset({"account", "asset", "name", "type", "error", "quota_limit"})

_KIND = {
    "en": {
        "service": "service package",
        "timbre": "voice",
        "image": "avatar image",
        "account": "account",
    },
    "zh": {"service": "服务包", "timbre": "音色", "image": "形象", "account": "账号"},
}

# (summary, description, action) per rule and language; string.Template fields.
_TEXTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "expiring": {
        "en": (
            '$kind_name "$name" of $account expires in $days_left days',
            '$kind_name "$name" ($type, $asset) of account $account expires on'
            " $expires_at ($days_left days left).$figures",
            "Renew it in the IVH console before $expires_at, or it stops working.",
        ),
        "zh": (
            "账号 $account 的$kind_name「$name」将在 $days_left 天后到期",
            "账号 $account 的$kind_name「$name」（$type，$asset）将于 $expires_at 到期，"
            "剩余 $days_left 天。$figures",
            "请在 $expires_at 前到数智人控制台续费，否则将无法使用。",
        ),
    },
    "expired": {
        "en": (
            '$kind_name "$name" of $account has expired',
            '$kind_name "$name" ($type, $asset) of account $account expired on'
            " $expires_at ($days_ago days ago).$figures",
            "Renew or replace it in the IVH console; streams and videos using it fail.",
        ),
        "zh": (
            "账号 $account 的$kind_name「$name」已过期",
            "账号 $account 的$kind_name「$name」（$type，$asset）已于 $expires_at 过期"
            "（$days_ago 天前）。$figures",
            "请到数智人控制台续费或更换；使用它的直播和视频任务会失败。",
        ),
    },
    "hours_low": {
        "en": (
            'Hour package "$name" of $account is down to $remaining_hours h ($percent_left%)',
            "$name ($type) of account $account has $remaining_hours of $ordered_hours hours"
            " left ($percent_left%); it expires on $expires_at.",
            "Buy more hours before it runs out; live streams stop when it does.",
        ),
        "zh": (
            "账号 $account 的小时包「$name」仅剩 $remaining_hours 小时（$percent_left%）",
            "账号 $account 的 $name（$type）剩余 $remaining_hours / $ordered_hours 小时"
            "（$percent_left%），$expires_at 到期。",
            "请在用完前加购时长；时长耗尽后直播会中断。",
        ),
    },
    "hours_depleting": {
        "en": (
            'Hour package "$name" of $account runs dry around $depletion_at',
            "At the recent rate of $rate_hours_per_day h/day, $name ($type) of account"
            " $account uses up its $remaining_hours h left around $depletion_at"
            " (expires $expires_at).",
            "Buy more hours or reduce usage before $depletion_at.",
        ),
        "zh": (
            "账号 $account 的小时包「$name」预计在 $depletion_at 前后耗尽",
            "按近期每天 $rate_hours_per_day 小时的用量，账号 $account 的 $name（$type）"
            "剩余的 $remaining_hours 小时预计在 $depletion_at 前后耗尽（$expires_at 到期）。",
            "请在 $depletion_at 前加购时长或降低用量。",
        ),
    },
    "unused_at_expiry": {
        "en": (
            'Hour package "$name" of $account will expire with $unused_hours h unused',
            "At the recent rate of $rate_hours_per_day h/day, $name ($type) of account"
            " $account still has $unused_hours of $ordered_hours hours left when it"
            " expires on $expires_at ($days_left days).",
            "Use it or lose it: schedule more work on it before $expires_at.",
        ),
        "zh": (
            "账号 $account 的小时包「$name」到期时预计仍有 $unused_hours 小时未用",
            "按近期每天 $rate_hours_per_day 小时的用量，账号 $account 的 $name（$type）"
            "于 $expires_at 到期（剩 $days_left 天）时"
            "仍将剩余 $unused_hours / $ordered_hours 小时。",
            "过期作废：请在 $expires_at 前安排使用。",
        ),
    },
    "quota_exhausted": {
        "en": (
            'Quota "$name" of $account is used up',
            "$name ($type) of account $account has 0 of $quota_limit left; it expires on"
            " $expires_at.",
            "Buy more quota before the next customisation.",
        ),
        "zh": (
            "账号 $account 的配额「$name」已用完",
            "账号 $account 的 $name（$type）剩余 0 / $quota_limit，$expires_at 到期。",
            "下次定制前请加购配额。",
        ),
    },
    "collection_failing": {
        "en": (
            "ivh-monitor cannot collect account $account",
            "Collecting $families of account $account has failed since $since; the"
            " figures shown are stale or missing. Last error: $error.",
            "Check the account's AppKey/AccessToken, the clock (NTP) and the gateway;"
            " see the monitor's api.call_failed log events.",
        ),
        "zh": (
            "ivh-monitor 无法采集账号 $account",
            "账号 $account 的 $families 采集自 $since 起一直失败，数据已过时或缺失。"
            "最近错误：$error。",
            "请检查该账号的 AppKey/AccessToken、系统时钟（NTP）和网关；"
            "详见监控的 api.call_failed 日志。",
        ),
    },
    "expiry_unknown": {
        "en": (
            '$kind_name "$name" of $account has no known expiry date',
            '$kind_name "$name" ($type, $asset) of account $account: the IVH API gives no'
            " usable expiry date (blank or a placeholder such as 0001-01-01), so no"
            " expiry alert can warn before it lapses.$figures",
            "Look the expiry up in the IVH console and, if it persists, ask vendor support"
            " why the API leaves it blank.",
        ),
        "zh": (
            "账号 $account 的$kind_name「$name」到期时间未知",
            "账号 $account 的$kind_name「$name」（$type，$asset）：数智人接口未给出可用的到期时间"
            "（为空或为 0001-01-01 之类的占位日期），因此无法在到期前告警。$figures",
            "请到数智人控制台查看到期时间；若持续如此，请联系厂商支持询问接口为何未返回。",
        ),
    },
    # -- issue 16: runaway burn and forecast advice (one block, to move as a whole) --
    "runaway_burn": {
        "en": (
            'Hour package "$name" of $account is burning $burn_ratio× its usual rate',
            "$name ($type) of account $account has used $current_hours_per_hour h per hour"
            " for the last $sustained_minutes minutes, against a usual $usual_hours_per_hour"
            " h per hour for this time of the week. If it goes on, its $remaining_hours h"
            " left are gone by $runaway_depletion_at.",
            "Look for a stream left running or a stuck job on this package and stop it;"
            " if the extra use is intended, ignore this alert until it ends.",
        ),
        "zh": (
            "账号 $account 的小时包「$name」消耗速度为平时的 $burn_ratio 倍",
            "账号 $account 的 $name（$type）最近 $sustained_minutes 分钟每小时消耗"
            " $current_hours_per_hour 小时，而每周这个时段通常每小时消耗"
            " $usual_hours_per_hour 小时。"
            "照此下去，剩余的 $remaining_hours 小时将在 $runaway_depletion_at 前后用完。",
            "请检查是否有忘记关闭的直播或卡住的任务在使用该小时包并停止它；"
            "若是计划内的额外使用，可在其结束前忽略本告警。",
        ),
    },
}

#: advice from the forecast, for alert actions and the status page (issue 16 block)
_ADVICE: dict[str, dict[str, str]] = {
    "en": {
        "buy": "At the forecast burn this package runs dry on $depletion_at$band, before it"
        " expires on $expires_at: buy about $buy_hours h by $depletion_at.",
        "move": "$unused_hours h will be unused at expiry ($expires_at): move streams onto it"
        " first.",
        "band": " (likely between $depletion_earliest and $depletion_latest)",
    },
    "zh": {
        "buy": "按预测用量，该小时包将在 $depletion_at$band 用完，早于 $expires_at 到期："
        "请在 $depletion_at 前加购约 $buy_hours 小时。",
        "move": "到期（$expires_at）时将有 $unused_hours 小时未用：请优先把直播安排到该小时包上。",
        "band": "（大致在 $depletion_earliest 至 $depletion_latest 之间）",
    },
}
# -- end of the issue 16 block ---------------------------------------------------

_NEVER = {"en": "never", "zh": "永不"}
_UNKNOWN = {"en": "unknown", "zh": "未知"}


def _fmt_time(value: Any, zone: tzinfo) -> str:
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    return str(value)


def _hours(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 3600:,.1f}"


class _Builder:
    """Collects pieces, merging neighbours of the same kind."""

    def __init__(self) -> None:
        self.pieces: list[str] = [""]

    def add(self, text: str, *, outside: bool = False) -> None:
        if not text:
            return
        if (len(self.pieces) % 2 == 0) == outside:  # the last piece is of this kind
            self.pieces[-1] += text
        else:
            self.pieces.append(text)

    def extend(self, parts: Parts) -> None:
        for i, piece in enumerate(parts):
            self.add(piece, outside=i % 2 == 1)

    def build(self) -> Parts:
        return tuple(self.pieces)


def _substitute(template: str, fields: Mapping[str, str]) -> Parts:
    """``Template(template).safe_substitute(fields)``, cut into our and outside pieces."""
    out = _Builder()
    pattern = Template.pattern
    last = 0
    for match in pattern.finditer(template):
        out.add(template[last : match.start()])
        last = match.end()
        name = match["named"] or match["braced"]
        if match["escaped"] is not None:
            out.add(Template.delimiter)
        elif name is not None and name in fields:
            out.add(fields[name], outside=name in OUTSIDE_FIELDS)
        else:  # unknown or invalid: left as written, as safe_substitute does
            out.add(match[0])
    out.add(template[last:])
    return out.build()


def joined(parts: Parts) -> str:
    return "".join(parts)


def _strip(parts: Iterable[str]) -> Parts:
    """``parts`` without the whitespace around the whole text."""
    pieces = list(parts)
    for i in range(len(pieces)):
        pieces[i] = pieces[i].lstrip()
        if pieces[i]:
            break
    for i in reversed(range(len(pieces))):
        pieces[i] = pieces[i].rstrip()
        if pieces[i]:
            break
    return tuple(pieces)


def render(
    rule: str,
    language: str,
    facts: Mapping[str, Any],
    zone: tzinfo,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``summary``, ``description`` and ``action`` for one alert (see :func:`render_parts`)."""
    return {k: joined(v) for k, v in render_parts(rule, language, facts, zone, overrides).items()}


def render_parts(
    rule: str,
    language: str,
    facts: Mapping[str, Any],
    zone: tzinfo,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, Parts]:
    """``summary``, ``description`` and ``action`` for one alert, as :data:`Parts`.

    ``facts`` carries raw values (datetimes, seconds); they are formatted here,
    dates in the account's zone. ``overrides`` replace any of the three texts.
    """
    lang = "zh" if language == "zh" else "en"
    summary, description, action = _TEXTS[rule][lang]
    texts = {"summary": summary, "description": description, "action": action}
    texts.update(overrides or {})
    kind = str(facts.get("kind", ""))
    fields: dict[str, str] = {
        # names, ids and types are the vendor's free text: each on one line, inert
        # (monitor.text); how a channel escapes its own markup is the channel's job
        "account": one_line(str(facts.get("account", ""))),
        "asset": one_line(str(facts.get("asset", ""))),
        "name": one_line(str(facts.get("name", ""))),
        "type": one_line(str(facts.get("type", ""))),
        "kind": kind,
        "kind_name": _KIND[lang].get(kind, kind),
        "expires_at": _fmt_time(facts.get("expires_at"), zone)
        if facts.get("expires_at") is not None
        else (_UNKNOWN if facts.get("expiry") == "unknown" else _NEVER)[lang],
        "days_left": f"{facts['days_left']:.1f}" if facts.get("days_left") is not None else "?",
        "days_ago": f"{-facts['days_left']:.1f}" if facts.get("days_left") is not None else "?",
        "remaining_hours": _hours(facts.get("remaining_seconds")),
        "ordered_hours": _hours(facts.get("ordered_seconds")),
        "unused_hours": _hours(facts.get("unused_seconds")),
        "percent_left": f"{facts['ratio_left'] * 100:.1f}"
        if facts.get("ratio_left") is not None
        else "?",
        "depletion_at": _fmt_time(facts.get("depletion_at"), zone)
        if facts.get("depletion_at") is not None
        else "?",
        "rate_hours_per_day": f"{facts['rate'] * 86400 / 3600:,.2f}"
        if facts.get("rate") is not None
        else "?",
        "quota_limit": str(facts.get("quota_limit", "?")),
        "families": ", ".join(facts.get("families", ())),
        "since": _fmt_time(facts.get("since"), zone) if facts.get("since") else "?",
        "error": one_line(str(facts.get("error") or "?")),
        "figures": "",
    }
    fields.update(_forecast_fields(facts, zone))
    if rule in ("hours_depleting", "unused_at_expiry") and "action" not in (overrides or {}):
        said = advice(facts, lang, zone, only="buy" if rule == "hours_depleting" else "move")
        if said:
            texts["action"] = said[0]
    if facts.get("remaining_seconds") is not None and facts.get("ordered_seconds"):
        fields["figures"] = (
            f" {fields['remaining_hours']} / {fields['ordered_hours']} h left."
            if lang == "en"
            else f"剩余 {fields['remaining_hours']} / {fields['ordered_hours']} 小时。"
        )
    return {key: _substitute(text, fields) for key, text in texts.items()}


def _rate(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, int | float) else "?"


def _forecast_fields(facts: Mapping[str, Any], zone: tzinfo) -> dict[str, str]:
    """Fields of the runaway and advice texts (figures we format; none from outside)."""
    ratio = facts.get("burn_ratio")
    buy = facts.get("buy_seconds")
    minutes = facts.get("sustained_minutes")
    return {
        "burn_ratio": f"{ratio:.1f}" if isinstance(ratio, int | float) else "?",
        "usual_hours_per_hour": _rate(facts.get("usual_rate")),
        "current_hours_per_hour": _rate(facts.get("current_rate")),
        "sustained_minutes": f"{minutes:g}" if isinstance(minutes, int | float) else "?",
        "runaway_depletion_at": _fmt_time(facts.get("runaway_depletion_at"), zone)
        if facts.get("runaway_depletion_at") is not None
        else "?",
        "buy_hours": f"{max(math.ceil(buy / 3600), 1):,}" if isinstance(buy, int | float) else "?",
        "depletion_earliest": _fmt_time(facts.get("depletion_earliest"), zone),
        "depletion_latest": _fmt_time(facts.get("depletion_latest"), zone),
    }


def advice(
    facts: Mapping[str, Any], language: str, zone: tzinfo, *, only: str | None = None
) -> list[str]:
    """What to do, from a package's forecast: buy (it runs dry before it expires) or move
    streams onto it (hours will be left at expiry). ``facts`` as the rules give them
    (``depletion_at``, ``expires_at``, ``buy_seconds``, ``unused_seconds`` and the band);
    ``only`` picks one of the two. Empty when there is nothing to advise."""
    lang = "zh" if language == "zh" else "en"
    texts = _ADVICE[lang]
    fields = {
        **_forecast_fields(facts, zone),
        "depletion_at": _fmt_time(facts.get("depletion_at"), zone),
        "expires_at": _fmt_time(facts.get("expires_at"), zone),
        "unused_hours": _hours(facts.get("unused_seconds")),
        "band": "",
    }
    if (
        facts.get("depletion_earliest") is not None
        and facts.get("depletion_latest") is not None
        and fields["depletion_earliest"] != fields["depletion_latest"]
    ):
        fields["band"] = Template(texts["band"]).safe_substitute(fields)
    out = []
    buy, unused = facts.get("buy_seconds"), facts.get("unused_seconds")
    dated = facts.get("expires_at") is not None
    if only in (None, "buy") and isinstance(buy, int | float) and facts.get("depletion_at"):
        out.extend([Template(texts["buy"]).safe_substitute(fields)] if dated else [])
    if only in (None, "move") and isinstance(unused, int | float) and unused >= 3600:
        out.extend([Template(texts["move"]).safe_substitute(fields)] if dated else [])
    return out


_RESOLVED = {
    "en": {
        "renewed": "renewed: now expires {expires}",
        "topped_up": "topped up: {hours} h left",
        "gone": "no longer listed by the IVH API",
        "recovered": "back within thresholds",
        "expiry_known": "expiry known again: {expires}",
        "expiry_unknown": "its expiry date is no longer given",
    },
    "zh": {
        "renewed": "已续期：新到期时间 {expires}",
        "topped_up": "已加购：剩余 {hours} 小时",
        "gone": "数智人接口已不再返回该资产",
        "recovered": "已恢复到阈值以内",
        "expiry_known": "到期时间已可知：{expires}",
        "expiry_unknown": "接口不再给出其到期时间",
    },
}


def render_resolved(
    alert: Any,
    *,
    reason: str,
    asset: Any,
    language: str,
    zone: tzinfo,
    now: datetime,
) -> dict[str, str]:
    """Texts of a resolved alert (see :func:`render_resolved_parts`)."""
    parts = render_resolved_parts(
        alert, reason=reason, asset=asset, language=language, zone=zone, now=now
    )
    return {k: joined(v) for k, v in parts.items()}


def render_resolved_parts(
    alert: Any,
    *,
    reason: str,
    asset: Any,
    language: str,
    zone: tzinfo,
    now: datetime,
) -> dict[str, Parts]:
    """Texts of a resolved alert, with the asset's current (not stale) figures."""
    lang = "zh" if language == "zh" else "en"
    expires = (
        _fmt_time(asset.expires_at, zone)
        if asset is not None and asset.expires_at is not None
        else (_UNKNOWN if asset is not None and asset.expiry_unknown else _NEVER)[lang]
    )
    hours = _hours(asset.remaining_seconds if asset is not None else None)
    why = _RESOLVED[lang].get(reason, reason).format(expires=expires, hours=hours)
    head = "已恢复" if lang == "zh" else "Resolved"
    summary = _Builder()
    summary.add(f"[{head}] ")
    summary.extend(alert.parts("summary") if "summary" in alert.annotations else (alert.rule,))
    summary.add(f" — {why}")
    when = _fmt_time(now, zone)
    description = _Builder()
    description.extend(alert.parts("description"))
    description.add(
        f" 已于 {when} 恢复：{why}。" if lang == "zh" else f" Resolved at {when}: {why}."
    )
    return {"summary": summary.build(), "description": _strip(description.build()), "action": ()}
