"""Every text ivh-monitor shows people, in English and Chinese: one table, one syntax.

The status page, the alert texts and the chat headings all read their words
from :data:`TEXTS`. A key names its room (``page.*`` for the status page,
``alert.*`` and ``resolved.*`` for the alert texts, ``chat.*`` for the chat
headings and labels) and maps to ``(en, zh)``. Which language is shown is
``alerts.language`` (:data:`Language`, declared here and nowhere else).

Placeholders
------------
One syntax: ``{name}``, ``name`` a lower-case identifier. A text holds no other
brace. Both languages of a key use the same placeholders. :func:`text` fills
them in one pass: a value is inserted as it is, never read as a template
itself, so a name holding ``{x}``, ``$x`` or ``%s`` shows exactly that. The
table is checked when this module is imported (a stray brace, an unnamed or
mismatched placeholder, an empty text fail the import), so filling a text is
a dictionary read and one ``str.format_map`` (:func:`pieces` gives the same
text cut at its placeholders, for callers that treat values apart).

The operator's own templates (``alerts.templates`` and a channel's
``template``) are configuration, not catalogue texts: they keep their
documented ``string.Template`` syntax (``$name``).

Glossary
--------
One Chinese word per shared term, in every text (``tests/test_catalogue.py``
checks each English term against its Chinese word, and that no text uses the
words in the last column; :data:`GLOSSARY` is the table it reads):

=========================================  ============  ==================
English                                    中文          not
=========================================  ============  ==================
critical                                   严重          紧急
warning                                    警告          注意
info                                       提示
firing                                     触发中
resolved                                   恢复
alert                                      告警          警报
account                                    账号          帐号, 账户
asset                                      资产
service, service package                   服务包        服务 (alone)
service type                               服务类型
hour package                               时长包        小时包
hours (what is left, what to buy)          时长
h, hours (after a figure: the unit)        小时
day, days                                  天
quota                                      配额          额度
voice                                      音色          声音
image, avatar image                        形象          图片
3D action                                  动作
expiry, expires, expiring, lapses          到期          期满
expired                                    过期          失效
never expires                              永不过期
renew, renewed                             续费          续期
top up, buy more                           加购          充值, 续购
runs dry                                   耗尽
used up                                    用完
stale                                      陈旧          过时
collect, collection                        采集
usage                                      用量
forecast                                   预测
history                                    历史
notification                               通知
channel                                    渠道
delivery                                   投递
threshold                                  阈值
rule                                       规则
time zone                                  时区
pending                                    待发送
log event                                  日志事件
failed login                               登录失败
concurrent                                 并发
IVH console                                数智人控制台
IVH API                                    数智人接口
test                                       测试
=========================================  ============  ==================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, NamedTuple, Protocol

__all__ = [
    "GLOSSARY",
    "LANGUAGES",
    "TEXTS",
    "Field",
    "Language",
    "Piece",
    "Term",
    "Texts",
    "pieces",
    "placeholders",
    "room",
    "text",
]

#: the languages of every text; ``alerts.language`` is one of them
Language = Literal["en", "zh"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "zh")


_TEXTS: dict[str, tuple[str, str]] = {
    # key: (en, zh)
    # -- the status page (keys page.*; monitor.status.i18n.text adds the prefix)
    "page.title": ("IVH asset status", "IVH 数智人资产状态"),
    "page.tagline": (
        "What lapses next, and will the hours last?",
        "下一个到期的是什么？时长够用吗？",
    ),
    "page.generated": ("Generated", "生成于"),
    "page.refresh_note": ("refreshes every minute", "每分钟自动刷新"),
    "page.links": ("More", "更多"),
    "page.metrics": ("Prometheus metrics", "Prometheus 指标"),
    "page.grafana": ("Grafana dashboard", "Grafana 仪表盘"),
    "page.grafana_hint": (
        "Grafana: import dashboards/ivh-monitor.json (uid ivh-monitor)",
        "Grafana：导入 dashboards/ivh-monitor.json（uid ivh-monitor）",
    ),
    "page.api_assets": ("assets JSON", "资产 JSON"),
    "page.api_alerts": ("alerts JSON", "告警 JSON"),
    "page.glance": ("At a glance", "概览"),
    "page.glance_caption": (
        "Every account: what expires first and which hour package runs dry first",
        "各账号：最先到期的资产与最先耗尽的时长包",
    ),
    "page.account": ("Account", "账号"),
    "page.accounts": ("Accounts", "账号"),
    "page.many_accounts": (
        "{n} accounts: open one for its assets, charts and alerts.",
        "共 {n} 个账号：点击账号查看其资产、图表与告警。",
    ),
    "page.zone": ("time zone", "时区"),
    "page.assets": ("Assets", "资产"),
    "page.expired": ("Expired", "已过期"),
    "page.within_days": ("Within {days} days", "{days} 天内到期"),
    "page.next_expiry": ("Next to lapse", "最先到期"),
    "page.first_dry": ("First to run dry", "最先耗尽"),
    "page.collection": ("Collection", "采集"),
    "page.firing": ("Firing alerts", "触发中的告警"),
    "page.none": ("none", "无"),
    "page.all_ok": ("ok", "正常"),
    "page.n_problems": ("{n} failing", "{n} 项失败"),
    "page.services": ("Service packages", "服务包"),
    "page.timbres": ("Voices", "音色"),
    "page.images": ("Avatar images", "形象"),
    "page.actions": ("3D actions", "3D 动作"),
    "page.kind_service": ("service", "服务包"),
    "page.kind_timbre": ("voice", "音色"),
    "page.kind_image": ("image", "形象"),
    "page.hours_by_type": ("Hours left by service type", "各服务类型剩余时长"),
    "page.hours_caption": (
        "Hour packages that have not expired, summed per service type",
        "未过期的时长包，按服务类型汇总",
    ),
    "page.service_type": ("Service type", "服务类型"),
    "page.packages": ("Packages", "包数"),
    "page.hours_left": ("Hours left", "剩余时长"),
    "page.of_ordered": ("of {total}", "共 {total}"),
    "page.quotas": ("Quotas left", "剩余配额"),
    "page.quotas_caption": (
        "Quota packages that have not expired, summed per type",
        "未过期的配额包，按类型汇总",
    ),
    "page.quota_left": ("Left", "剩余"),
    "page.no_hours": ("No hour packages.", "没有时长包。"),
    "page.no_quotas": ("No quota packages.", "没有配额包。"),
    "page.more_types": ("…and {n} more types", "……还有 {n} 种类型"),
    "page.collection_caption": ("Last collection of each kind of data", "每类数据的最近一次采集"),
    "page.family": ("Data", "数据"),
    "page.state": ("State", "状态"),
    "page.last_success": ("Last success", "最近成功"),
    "page.age": ("Age", "距今"),
    "page.error": ("Error", "错误"),
    "page.st_ok": ("ok", "正常"),
    "page.st_pending": ("waiting for the first collection", "等待首次采集"),
    "page.st_stale": ("stale: last attempt failed", "数据陈旧：最近一次采集失败"),
    "page.st_dropped": ("too old, not shown", "过旧，不再显示"),
    "page.st_failing": ("failing", "失败"),
    "page.st_partial": ("incomplete listing", "列表不完整"),
    "page.timeline": ("Expiry timeline: the next {days} days", "到期时间线：未来 {days} 天"),
    "page.timeline_desc": (
        "{n} assets expire in the next {days} days ({s} services, {t} voices, {i} images); {x}"
        " have expired.",
        "未来 {days} 天内有 {n} 项资产到期（服务包 {s}、音色 {t}、形象 {i}）；已过期 {x} 项。",
    ),
    "page.timeline_beyond": ("{n} later or never expiring", "另有 {n} 项更晚到期或永不过期"),
    "page.timeline_unknown": ("{n} with an unknown expiry date", "另有 {n} 项到期时间未知"),
    "page.today": ("today", "今天"),
    "page.table": ("Assets by time to expiry", "资产（按到期时间）"),
    "page.table_caption": (
        "{shown} of {total} assets of {account}, sorted by {key}",
        "{account} 的 {total} 项资产中的 {shown} 项，按{key}排序",
    ),
    "page.col_kind": ("Kind", "类别"),
    "page.col_type": ("Type", "类型"),
    "page.col_name": ("Name", "名称"),
    "page.col_expires": ("Expires", "到期时间"),
    "page.col_left": ("Time left", "剩余时间"),
    "page.col_figures": ("Hours / quota", "时长 / 配额"),
    "page.sort_expires": ("time to expiry", "到期时间"),
    "page.sort_name": ("name", "名称"),
    "page.sort_kind": ("kind", "类别"),
    "page.sort_figures": ("hours left", "剩余时长"),
    "page.show_all": ("Show all {n} assets of {account}", "显示 {account} 的全部 {n} 项资产"),
    "page.page_of": ("Page {page} of {pages}", "第 {page} / {pages} 页"),
    "page.prev": ("← Previous", "← 上一页"),
    "page.next": ("Next →", "下一页 →"),
    "page.back": ("← All accounts", "← 全部账号"),
    "page.no_assets": ("No assets.", "没有资产。"),
    "page.burndown": ("Burn-down of hour packages", "时长包消耗趋势"),
    "page.burn_none": (
        "No usage history yet: charts appear after a few collections of the service packages.",
        "暂无用量历史：服务包采集几次后显示图表。",
    ),
    "page.burn_more": ("…and {n} more packages with history", "……另有 {n} 个有历史的时长包"),
    "page.burn_left": ("{hours} left", "剩余 {hours}"),
    "page.burn_rate": ("using {rate} per day", "每天消耗 {rate}"),
    "page.burn_idle": ("not used in the forecast window", "预测窗口内未使用"),
    "page.burn_no_forecast": ("too little history for a forecast", "历史不足，暂无预测"),
    "page.burn_dry_before": (
        "runs dry {when}, {days} before it expires: top up",
        "预计 {when} 耗尽，比到期早 {days}：需要加购",
    ),
    "page.burn_dry": ("runs dry {when}", "预计 {when} 耗尽"),
    "page.burn_unused": (
        "{hours} will be unused when it expires {when}",
        "到期（{when}）时将有 {hours} 未用完",
    ),
    "page.burn_empty": ("used up: no hours left", "已用完：没有剩余时长"),
    "page.burn_lasts": ("lasts until it expires {when}", "可用到到期（{when}）"),
    "page.chart_history": ("history", "历史"),
    "page.chart_forecast": ("forecast", "预测"),
    "page.chart_expires": ("expires", "到期"),
    "page.chart_empty": ("empty", "耗尽"),
    "page.chart_now": ("now", "现在"),
    "page.alerts": ("Alerts", "告警"),
    "page.alerts_caption": (
        "Current alerts of {account} with their last delivery",
        "{account} 当前的告警及最近一次投递",
    ),
    "page.no_alerts": ("No alerts.", "没有告警。"),
    "page.more_alerts": ("…and {n} more (see alerts JSON)", "……另有 {n} 条（见告警 JSON）"),
    "page.col_severity": ("Severity", "级别"),
    "page.col_alert": ("Alert", "告警"),
    "page.col_since": ("Since", "开始于"),
    "page.col_notified": ("Last notified", "最近通知"),
    "page.col_delivery": ("Last delivery", "最近投递"),
    "page.sev_critical": ("critical", "严重"),
    "page.sev_warning": ("warning", "警告"),
    "page.sev_info": ("info", "提示"),
    "page.status_firing": ("firing", "触发中"),
    "page.status_resolved": ("resolved", "已恢复"),
    "page.dl_pending": ("pending", "待发送"),
    "page.dl_delivered": ("delivered", "已送达"),
    "page.dl_dead": ("failed", "投递失败"),
    "page.channels": ("Notification channels", "通知渠道"),
    "page.channels_caption": (
        "Where alerts go (credentials masked); {n} notifications waiting",
        "告警发往何处（凭据已隐藏）；{n} 条通知待发送",
    ),
    "page.no_channels": ("No channels configured.", "未配置通知渠道。"),
    "page.state_store": ("Alert state (state_dir)", "告警状态存储（state_dir）"),
    "page.state_ok": ("ok", "正常"),
    "page.state_down": (
        "unavailable: alerting waits and retries",
        "不可用：告警评估与发送等待重试",
    ),
    "page.state_lost": (
        "The state file was lost {n} time(s) while running, last {file} at {at}; recreated",
        "运行中状态文件丢失 {n} 次，最近一次为 {file}（{at}）；已重建",
    ),
    "page.state_salvaged": ("with everything in it", "内容全部保留"),
    "page.state_restored": (
        "alert states restored from memory; usage history lost",
        "告警状态已从内存恢复；用量历史丢失",
    ),
    "page.state_notifications_lost": ("{n} pending notification(s) lost", "{n} 条待发送通知丢失"),
    "page.http_refused": (
        "HTTP endpoints refused {n} request(s) or connection(s) since start ({reasons}), last at"
        " {when}; {failures} failed login(s). See the log event http.refused and"
        " ivh_http_requests_refused_total.",
        "自启动以来 HTTP 端点拒绝请求或连接 {n} 次（{reasons}），最近一次于 {when}；登录失败"
        " {failures} 次。详见日志事件 http.refused 与指标 ivh_http_requests_refused_total。",
    ),
    "page.http_auth_failed": (
        "{failures} failed login(s) on the HTTP endpoints since start. See the log event"
        " http.auth_failed and ivh_http_auth_failures_total.",
        "自启动以来 HTTP 端点登录失败 {failures} 次。详见日志事件 http.auth_failed 与指标"
        " ivh_http_auth_failures_total。",
    ),
    "page.col_channel": ("Channel", "渠道"),
    "page.col_target": ("Target", "目标"),
    "page.unknown_account": ("Unknown account.", "未知账号。"),
    "page.never": ("never expires", "永不过期"),
    "page.expiry_unknown": ("expiry unknown", "到期时间未知"),
    "page.anomalies": ("Odd records", "异常记录"),
    "page.skipped_n": ("{n} skipped", "跳过 {n} 条"),
    "page.runs_skipped_n": ("{n} scheduled runs skipped", "跳过 {n} 次计划采集"),
    "page.anomaly_n": ("{reason}: {n}", "{reason}：{n}"),
    "page.expired_ago": ("expired {t} ago", "已过期 {t}"),
    "page.ago": ("{t} ago", "{t}前"),
    "page.unit_d": ("{v} d", "{v} 天"),
    "page.unit_h": ("{v} h", "{v} 小时"),
    "page.unit_min": ("{v} min", "{v} 分钟"),
    "page.unit_s": ("{v} s", "{v} 秒"),
    "page.concurrent": ("{n} concurrent", "{n} 路并发"),
    "page.quota_of": ("{left} of {limit} left", "剩余 {left} / {limit}"),
    "page.sev_word_expired": ("expired", "已过期"),
    "page.sev_word_critical": ("critical", "严重"),
    "page.sev_word_warning": ("warning", "警告"),
    "page.sev_word_ok": ("ok", "正常"),
    "page.sev_word_never": ("never expires", "永不过期"),
    "page.sev_word_unknown": ("expiry unknown", "到期时间未知"),
    "page.version": ("ivh-monitor {v}", "ivh-monitor {v}"),
    "page.evaluation_errors": (
        "Alert evaluation failed {n} time(s) since start ({rules}), last at {when}: alerts of"
        " those rules may be missing or out of date; every other rule and asset is still"
        " evaluated. See the log events alert.rule_failed and ivh_alert_evaluation_errors_total.",
        "自启动以来告警评估失败 {n} 次（{rules}），最近一次于 {when}："
        "这些规则的告警可能缺失或未更新；其余规则与资产照常评估。详见日志事件 alert.rule_failed"
        " 与指标 ivh_alert_evaluation_errors_total。",
    ),
    # the page's tenants (issue 15), forecasts (16) and ecosystem (17) pieces
    "page.reload_loaded": ("Configuration: loaded at {success}", "配置：已于 {success} 加载"),
    "page.reload_ok": (
        "Configuration: loaded at {success}; last reload {attempted}",
        "配置：已于 {success} 加载；最近一次重新加载于 {attempted}",
    ),
    "page.reload_failed": (
        "Configuration reload failed at {attempted}: the configuration loaded at {success} stays"
        " in use. See the log event config.reload_failed and ivh_config_last_reload_successful.",
        "配置重新加载失败（{attempted}）：继续使用 {success} 加载的配置。详见日志事件"
        " config.reload_failed 与指标 ivh_config_last_reload_successful。",
    ),
    "page.filter": ("Showing the accounts with", "仅显示带以下标签的账号"),
    "page.filter_clear": ("clear", "清除"),
    "page.filter_clear_label": ("Show the page without {label}", "取消筛选 {label}"),
    "page.filter_clear_all": ("show every account", "显示全部账号"),
    "page.groups": ("Groups by {label}", "按 {label} 分组"),
    "page.groups_caption": (
        "Accounts grouped by their label {label}, totals per value; a value opens its accounts",
        "按标签 {label} 分组的账号及各取值的合计；点击取值查看其账号",
    ),
    "page.group_value": ("Value", "取值"),
    "page.group_unlabelled": ("(without {label})", "（无 {label}）"),
    "page.labels": ("Labels", "标签"),
    "page.tenant": ("tenant group {tenant}", "租户组 {tenant}"),
    "page.col_route": ("Route", "路由"),
    "page.col_accounts": ("Accounts", "账号"),
    "page.col_digest": ("Daily digest", "日报"),
    "page.route_default": ("default: every alert", "默认：全部告警"),
    "page.route_routed": ("routed: its match and labels", "按路由：按其 match 与 labels"),
    "page.digest_at": ("daily at {at}", "每天 {at}"),
    "page.more_n": ("+{n} more", "另 {n} 个"),
    "page.st_off": ("off (collectors)", "已关闭（collectors）"),
    "page.not_active": ("not active yet: starts in {t}", "尚未生效：{t}后生效"),
    "page.starting_soon": (
        "Starting soon: {n} asset(s) not active yet; the first, {name}, starts in {t}",
        "即将生效：{n} 项资产尚未生效；最早的「{name}」将在 {t}后生效",
    ),
    "page.avatar_types": ("avatar types: {types}", "形象类型：{types}"),
    "page.avatar_types_n": ("{n} avatar types", "{n} 种形象类型"),
    "page.model_weekly": ("forecast: weekly profile", "预测：按每周规律"),
    "page.model_linear": ("forecast: straight line", "预测：按直线趋势"),
    "page.band": ("likely between {earliest} and {latest}", "大致在 {earliest} 至 {latest} 之间"),
    "page.band_open": (
        "at the earliest {earliest}, perhaps never",
        "最早 {earliest}，也可能不会耗尽",
    ),
    "page.runaway": ("runaway burn: {ratio}× usual", "异常消耗：平时的 {ratio} 倍"),
    "page.runaway_detail": (
        "using {current} per hour now, usually {usual}",
        "当前每小时消耗 {current}，通常为 {usual}",
    ),
    "page.runaway_dry": ("; at this burn it runs dry {when}", "；照此消耗将于 {when} 耗尽"),
    "page.advice": ("What to do", "处理建议"),
    # -- alert texts: summary, description and action per rule (monitor.alerts.messages)
    "alert.expiring.summary": (
        '{kind_name} "{name}" of {account} expires in {days_left} days',
        "账号 {account} 的{kind_name}「{name}」将在 {days_left} 天后到期",
    ),
    "alert.expiring.description": (
        '{kind_name} "{name}" ({type}, {asset}) of account {account} expires on {expires_at}'
        " ({days_left} days left).{figures}",
        "账号 {account} 的{kind_name}「{name}」（{type}，{asset}）将于 {expires_at} 到期，剩余"
        " {days_left} 天。{figures}",
    ),
    "alert.expiring.action": (
        "Renew it in the IVH console before {expires_at}, or it stops working.",
        "请在 {expires_at} 前到数智人控制台续费，否则将无法使用。",
    ),
    "alert.expired.summary": (
        '{kind_name} "{name}" of {account} has expired',
        "账号 {account} 的{kind_name}「{name}」已过期",
    ),
    "alert.expired.description": (
        '{kind_name} "{name}" ({type}, {asset}) of account {account} expired on {expires_at}'
        " ({days_ago} days ago).{figures}",
        "账号 {account} 的{kind_name}「{name}」（{type}，{asset}）已于 {expires_at}"
        " 过期（{days_ago} 天前）。{figures}",
    ),
    "alert.expired.action": (
        "Renew or replace it in the IVH console; streams and videos using it fail.",
        "请到数智人控制台续费或更换；使用它的直播和视频任务会失败。",
    ),
    "alert.hours_low.summary": (
        'Hour package "{name}" of {account} is down to {remaining_hours} h ({percent_left}%)',
        "账号 {account} 的时长包「{name}」仅剩 {remaining_hours} 小时（{percent_left}%）",
    ),
    "alert.hours_low.description": (
        "{name} ({type}) of account {account} has {remaining_hours} of {ordered_hours} hours left"
        " ({percent_left}%); it expires on {expires_at}.",
        "账号 {account} 的 {name}（{type}）剩余 {remaining_hours} / {ordered_hours}"
        " 小时（{percent_left}%），{expires_at} 到期。",
    ),
    "alert.hours_low.action": (
        "Buy more hours before it runs out; live streams stop when it does.",
        "请在用完前加购时长；时长耗尽后直播会中断。",
    ),
    "alert.hours_depleting.summary": (
        'Hour package "{name}" of {account} runs dry around {depletion_at}',
        "账号 {account} 的时长包「{name}」预计在 {depletion_at} 前后耗尽",
    ),
    "alert.hours_depleting.description": (
        "At the recent rate of {rate_hours_per_day} h/day, {name} ({type}) of account {account}"
        " uses up its {remaining_hours} h left around {depletion_at} (expires {expires_at}).",
        "按近期每天 {rate_hours_per_day} 小时的用量，账号 {account} 的 {name}（{type}）剩余的"
        " {remaining_hours} 小时预计在 {depletion_at} 前后耗尽（{expires_at} 到期）。",
    ),
    "alert.hours_depleting.action": (
        "Buy more hours or reduce usage before {depletion_at}.",
        "请在 {depletion_at} 前加购时长或降低用量。",
    ),
    "alert.unused_at_expiry.summary": (
        'Hour package "{name}" of {account} will expire with {unused_hours} h unused',
        "账号 {account} 的时长包「{name}」到期时预计仍有 {unused_hours} 小时未用",
    ),
    "alert.unused_at_expiry.description": (
        "At the recent rate of {rate_hours_per_day} h/day, {name} ({type}) of account {account}"
        " still has {unused_hours} of {ordered_hours} hours left when it expires on {expires_at}"
        " ({days_left} days).",
        "按近期每天 {rate_hours_per_day} 小时的用量，账号 {account} 的 {name}（{type}）于"
        " {expires_at} 到期（剩 {days_left} 天）时仍将剩余 {unused_hours} / {ordered_hours} 小时。",
    ),
    "alert.unused_at_expiry.action": (
        "Use it or lose it: schedule more work on it before {expires_at}.",
        "过期作废：请在 {expires_at} 前安排使用。",
    ),
    "alert.quota_exhausted.summary": (
        'Quota "{name}" of {account} is used up',
        "账号 {account} 的配额「{name}」已用完",
    ),
    "alert.quota_exhausted.description": (
        "{name} ({type}) of account {account} has 0 of {quota_limit} left; it expires on"
        " {expires_at}.",
        "账号 {account} 的 {name}（{type}）剩余 0 / {quota_limit}，{expires_at} 到期。",
    ),
    "alert.quota_exhausted.action": (
        "Buy more quota before the next customisation.",
        "下次定制前请加购配额。",
    ),
    "alert.collection_failing.summary": (
        "ivh-monitor cannot collect account {account}",
        "ivh-monitor 无法采集账号 {account}",
    ),
    "alert.collection_failing.description": (
        "Collecting {families} of account {account} has failed since {since}; the figures shown"
        " are stale or missing. Last error: {error}.",
        "账号 {account} 的 {families} 采集自 {since} 起一直失败，数据已陈旧或缺失。最近错误："
        "{error}。",
    ),
    "alert.collection_failing.action": (
        "Check the account's AppKey/AccessToken, the clock (NTP) and the gateway; see the"
        " monitor's api.call_failed log events.",
        "请检查该账号的 AppKey/AccessToken、系统时钟（NTP）和网关；详见监控的 api.call_failed"
        " 日志事件。",
    ),
    "alert.expiry_unknown.summary": (
        '{kind_name} "{name}" of {account} has no known expiry date',
        "账号 {account} 的{kind_name}「{name}」到期时间未知",
    ),
    "alert.expiry_unknown.description": (
        '{kind_name} "{name}" ({type}, {asset}) of account {account}: the IVH API gives no'
        " usable expiry date (blank or a placeholder such as 0001-01-01), so no expiry alert can"
        " warn before it lapses.{figures}",
        "账号 {account} 的{kind_name}「{name}」（{type}，{asset}）："
        "数智人接口未给出可用的到期时间（为空或为 0001-01-01 之类的占位日期），"
        "因此无法在到期前告警。{figures}",
    ),
    "alert.expiry_unknown.action": (
        "Look the expiry up in the IVH console and, if it persists, ask vendor support why the API"
        " leaves it blank.",
        "请到数智人控制台查看到期时间；若持续如此，请联系厂商支持询问接口为何未返回。",
    ),
    "alert.kind.service": ("service package", "服务包"),
    "alert.kind.timbre": ("voice", "音色"),
    "alert.kind.image": ("avatar image", "形象"),
    "alert.kind.account": ("account", "账号"),
    "alert.figures": (
        " {remaining_hours} / {ordered_hours} h left.",
        "剩余 {remaining_hours} / {ordered_hours} 小时。",
    ),
    "alert.never": ("never", "永不"),
    "alert.unknown": ("unknown", "未知"),
    # -- a resolved alert's texts (monitor.alerts.messages)
    "resolved.head": ("Resolved", "已恢复"),
    "resolved.at": ("Resolved at {when}: {why}.", "已于 {when} 恢复：{why}。"),
    "resolved.why.renewed": ("renewed: now expires {expires}", "已续费：新到期时间 {expires}"),
    "resolved.why.topped_up": ("topped up: {hours} h left", "已加购：剩余 {hours} 小时"),
    "resolved.why.gone": ("no longer listed by the IVH API", "数智人接口已不再返回该资产"),
    "resolved.why.recovered": ("back within thresholds", "已恢复到阈值以内"),
    "resolved.why.expiry_known": ("expiry known again: {expires}", "到期时间已可知：{expires}"),
    "resolved.why.expiry_unknown": ("its expiry date is no longer given", "接口不再给出其到期时间"),
    # -- chat headings and labels (monitor.alerts.channels.render)
    "chat.firing": ("FIRING", "触发中"),
    "chat.resolved": ("RESOLVED", "已恢复"),
    "chat.critical": ("CRITICAL", "严重"),
    "chat.warning": ("WARNING", "警告"),
    "chat.info": ("INFO", "提示"),
    "chat.action": ("Action", "处理建议"),
    "chat.account": ("Account", "账号"),
    "chat.asset": ("Asset", "资产"),
    "chat.since": ("Since", "开始时间"),
    "chat.ended": ("Resolved at", "恢复时间"),
    "chat.reason": ("Reason", "恢复原因"),
    "chat.test": ("TEST", "测试"),
    "chat.title": ("IVH asset alerts", "IVH 资产告警"),
    "chat.reason.renewed": ("renewed", "已续费"),
    "chat.reason.topped_up": ("topped up", "已加购"),
    "chat.reason.gone": ("asset no longer exists", "资产已不存在"),
    "chat.reason.recovered": ("recovered", "已恢复正常"),
    "chat.reason.expiry_known": ("expiry known again", "到期时间已可知"),
    "chat.reason.expiry_unknown": ("expiry no longer given", "接口不再给出到期时间"),
    "chat.reason.account_removed": ("account no longer watched", "账号已不再监控"),
    "resolved.why.account_removed": (
        "the account is no longer watched (removed from the config)",
        "该账号已从配置中移除，不再监控",
    ),
    # the daily digest (alerts/digest.py): title, section headings, lines
    "digest.title": ("IVH asset digest {date}", "IVH 资产日报 {date}"),
    "digest.expired": ("Expired", "已过期"),
    "digest.expiring": ("Expiring within {days} days", "{days} 天内到期"),
    "digest.running_dry": (
        "Running dry within {days} days at the current burn",
        "按当前消耗 {days} 天内耗尽",
    ),
    "digest.left": ("Left", "剩余"),
    "digest.nothing": (
        "Nothing expires or runs dry within {days} days.",
        "{days} 天内没有到期或耗尽的资产。",
    ),
    "digest.no_data": ("No data collected yet.", "尚未采集到数据。"),
    "digest.expired_line": (
        "- {name} ({type}): expired {when}",
        "- {name}（{type}）：已于 {when} 过期",
    ),
    "digest.expiring_line": (
        "- {name} ({type}): expires {when} ({days_left} days)",
        "- {name}（{type}）：{when} 到期（剩 {days_left} 天）",
    ),
    "digest.dry_line": (
        "- {name} ({type}): runs dry {when} ({hours} h left, {rate} h/day)",
        "- {name}（{type}）：预计 {when} 耗尽（剩 {hours} 小时，每天 {rate} 小时）",
    ),
    "digest.hours_line": ("- {type}: {hours} h left", "- {type}：剩余 {hours} 小时"),
    "digest.quota_line": ("- {type}: {left} of {limit} left", "- {type}：剩余 {left} / {limit}"),
    "digest.more": ("- … and {n} more", "- ……另有 {n} 项"),
    # the runaway burn alert and the forecast's advice
    "alert.runaway_burn.summary": (
        'Hour package "{name}" of {account} is burning {burn_ratio}× its usual rate',
        "账号 {account} 的时长包「{name}」消耗速度为平时的 {burn_ratio} 倍",
    ),
    "alert.runaway_burn.description": (
        "{name} ({type}) of account {account} has used {current_hours_per_hour} h per hour"
        " for the last {sustained_minutes} minutes, against a usual {usual_hours_per_hour}"
        " h per hour for this time of the week. If it goes on, its {remaining_hours} h"
        " left are gone by {runaway_depletion_at}.",
        "账号 {account} 的 {name}（{type}）最近 {sustained_minutes} 分钟每小时消耗"
        " {current_hours_per_hour} 小时，而每周这个时段通常每小时消耗"
        " {usual_hours_per_hour} 小时。"
        "照此下去，剩余的 {remaining_hours} 小时将在 {runaway_depletion_at} 前后耗尽。",
    ),
    "alert.runaway_burn.action": (
        "Look for a stream left running or a stuck job on this package and stop it;"
        " if the extra use is intended, ignore this alert until it ends.",
        "请检查是否有忘记关闭的直播或卡住的任务在使用该时长包并停止它；"
        "若是计划内的额外使用，可在其结束前忽略本告警。",
    ),
    "advice.buy": (
        "At the forecast burn this package runs dry on {depletion_at}{band}, before it"
        " expires on {expires_at}: buy about {buy_hours} h by {depletion_at}.",
        "按预测用量，该时长包将在 {depletion_at}{band} 耗尽，早于 {expires_at} 到期："
        "请在 {depletion_at} 前加购约 {buy_hours} 小时。",
    ),
    "advice.move": (
        "{unused_hours} h will be unused at expiry ({expires_at}): move streams onto it first.",
        "到期（{expires_at}）时将有 {unused_hours} 小时未用：请优先把直播安排到该时长包上。",
    ),
    "advice.band": (
        " (likely between {depletion_earliest} and {depletion_latest})",
        "（大致在 {depletion_earliest} 至 {depletion_latest} 之间）",
    ),
}

#: every text: ``key -> (en, zh)``, read-only
TEXTS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(_TEXTS)


class Term(NamedTuple):
    """One glossary line: where ``en`` (a regular expression, matched as whole
    words, case-insensitively, after placeholders became ``0``) is in the English
    text, ``zh`` is in the Chinese one; ``avoid`` (regular expressions) never is."""

    en: str
    zh: str
    avoid: tuple[str, ...] = ()


#: the glossary of the module docstring, as data; more specific terms first (a
#: match hides its words from the terms after it: "service type" before "service")
GLOSSARY: Final[tuple[Term, ...]] = (
    Term(r"critical", "严重", ("紧急",)),
    Term(r"warning", "警告", ("注意",)),
    Term(r"info", "提示"),
    Term(r"firing", "触发中"),
    Term(r"resolved", "恢复"),
    Term(r"alerts?", "告警", ("警报",)),
    Term(r"accounts?(?:'s)?", "账号", ("帐号", "账户")),
    Term(r"assets?", "资产"),
    Term(r"service types?", "服务类型"),
    Term(r"hour packages?", "时长包", ("小时包",)),
    Term(r"service(?: packages?|s)?", "服务包", (r"服务(?!包|类型)",)),
    Term(r"0 (?:h|hours)(?:/day)?", "小时"),
    Term(r"hours", "时长"),
    Term(r"days?", "天"),
    Term(r"quotas?", "配额", ("额度",)),
    Term(r"voices?", "音色", ("声音",)),
    Term(r"(?:avatar )?images?", "形象", ("图片",)),
    Term(r"3d actions?", "动作"),
    Term(r"never (?:expires|expiring)", "永不过期"),
    Term(r"expired", "过期", ("失效",)),
    Term(r"expir(?:y|es|e|ing)|lapses?", "到期", ("期满",)),
    Term(r"renew(?:ed)?", "续费", ("续期",)),
    Term(r"top(?:ped)? up|buy more", "加购", ("充值", "续购")),
    Term(r"runs? dry", "耗尽"),
    Term(r"used up", "用完"),
    Term(r"stale", "陈旧", ("过时",)),
    Term(r"collect(?:s|ed|ing|ions?)?", "采集"),
    Term(r"usage", "用量"),
    Term(r"forecast", "预测"),
    Term(r"history", "历史"),
    Term(r"notifications?(?:\(s\))?", "通知"),
    Term(r"channels?", "渠道"),
    Term(r"delivery", "投递"),
    Term(r"thresholds?", "阈值"),
    Term(r"rules?", "规则"),
    Term(r"time zone", "时区"),
    Term(r"pending", "待发送"),
    Term(r"log events?", "日志事件"),
    Term(r"failed logins?(?:\(s\))?", "登录失败"),
    Term(r"concurrent", "并发"),
    Term(r"ivh console", "数智人控制台"),
    Term(r"ivh api", "数智人接口"),
    Term(r"test", "测试"),
)


@dataclass(frozen=True, slots=True)
class Field:
    """A ``{name}`` placeholder in a compiled text."""

    name: str


#: a compiled text: our words (``str``) and the places values go (:class:`Field`)
Piece = str | Field

_PLACEHOLDER: Final = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def _compile(key: str, phrase: str) -> tuple[Piece, ...]:
    if not phrase.strip():
        raise ValueError(f"catalogue: {key}: empty text")
    out: list[Piece] = []
    last = 0
    for match in _PLACEHOLDER.finditer(phrase):
        if match.start() > last:
            out.append(phrase[last : match.start()])
        out.append(Field(match[1]))
        last = match.end()
    if last < len(phrase):
        out.append(phrase[last:])
    words = "".join(p for p in out if isinstance(p, str))
    if "{" in words or "}" in words:
        raise ValueError(f"catalogue: {key}: a brace outside a {{placeholder}}: {phrase!r}")
    return tuple(out)


def _names(compiled: tuple[Piece, ...]) -> frozenset[str]:
    return frozenset(p.name for p in compiled if isinstance(p, Field))


def _compile_all() -> dict[str, tuple[tuple[Piece, ...], tuple[Piece, ...]]]:
    out: dict[str, tuple[tuple[Piece, ...], tuple[Piece, ...]]] = {}
    for key, (en, zh) in _TEXTS.items():
        pair = (_compile(key, en), _compile(key, zh))
        if _names(pair[0]) != _names(pair[1]):
            raise ValueError(
                f"catalogue: {key}: en and zh use other placeholders:"
                f" {sorted(_names(pair[0]))} != {sorted(_names(pair[1]))}"
            )
        out[key] = pair
    return out


_COMPILED: Final = _compile_all()
_EN: Final = {key: en for key, (en, _) in _TEXTS.items()}
_ZH: Final = {key: zh for key, (_, zh) in _TEXTS.items()}


def pieces(language: Language, key: str) -> tuple[Piece, ...]:
    """The text ``key`` in ``language``, cut into words and :class:`Field` places."""
    try:
        en, zh = _COMPILED[key]
    except KeyError:
        raise KeyError(f"catalogue: no text {key!r}") from None
    return zh if language == "zh" else en


def placeholders(key: str) -> frozenset[str]:
    """The placeholder names of ``key`` (the same in both languages)."""
    return _names(pieces("en", key))


def _fill(table: Mapping[str, str], prefix: str, key: str, values: Mapping[str, object]) -> str:
    try:
        phrase = table[key]
    except KeyError:
        raise KeyError(f"catalogue: no text {prefix + key!r}") from None
    try:
        # str.format reads only the phrase, checked at import to hold nothing but
        # {name} placeholders; the values it inserts are never parsed again
        return phrase.format_map(values)
    except KeyError as missing:
        raise KeyError(f"catalogue: {prefix}{key}: no value for {{{missing.args[0]}}}") from None


def text(language: Language, key: str, /, **values: object) -> str:
    """The text ``key`` in ``language`` with its ``{placeholders}`` filled.

    Each value is inserted as it is (formatted as by ``str()``, not escaped, not
    read as a template); values no placeholder names are ignored; a placeholder
    without a value is a ``KeyError`` naming it.
    """
    return _fill(_ZH if language == "zh" else _EN, "", key, values)


class Texts(Protocol):
    """:func:`text` for the keys of one room, named without the room's prefix."""

    def __call__(self, language: Language, key: str, /, **values: object) -> str: ...


def room(name: str) -> Texts:
    """:func:`text` for the keys ``<name>.*``: ``room("page")(lang, "title")`` is
    ``text(lang, "page.title")``, without building the key on every call."""
    prefix = name + "."
    en = {k.removeprefix(prefix): v for k, v in _EN.items() if k.startswith(prefix)}
    zh = {k.removeprefix(prefix): v for k, v in _ZH.items() if k.startswith(prefix)}
    if not en:
        raise ValueError(f"catalogue: no texts in room {name!r}")

    def text_of_room(language: Language, key: str, /, **values: object) -> str:
        return _fill(zh if language == "zh" else en, prefix, key, values)

    return text_of_room
