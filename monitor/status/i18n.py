"""The status page's words in English and Chinese (``settings.alerts.language``)."""

from __future__ import annotations

from typing import Literal

__all__ = ["Language", "text"]

Language = Literal["en", "zh"]

_TEXTS: dict[str, tuple[str, str]] = {
    # key: (en, zh)
    "title": ("IVH asset status", "IVH 数智人资产状态"),
    "tagline": (
        "What lapses next, and will the hours last?",
        "下一个到期的是什么？时长够用吗？",
    ),
    "generated": ("Generated", "生成于"),
    "refresh_note": ("refreshes every minute", "每分钟自动刷新"),
    "links": ("More", "更多"),
    "metrics": ("Prometheus metrics", "Prometheus 指标"),
    "grafana": ("Grafana dashboard", "Grafana 仪表盘"),
    "grafana_hint": (
        "Grafana: import dashboards/ivh-monitor.json (uid ivh-monitor)",
        "Grafana：导入 dashboards/ivh-monitor.json（uid ivh-monitor）",
    ),
    "api_assets": ("assets JSON", "资产 JSON"),
    "api_alerts": ("alerts JSON", "告警 JSON"),
    "glance": ("At a glance", "概览"),
    "glance_caption": (
        "Every account: what expires first and which hour package runs dry first",
        "各账号：最先到期的资产与最先耗尽的时长包",
    ),
    "account": ("Account", "账号"),
    "accounts": ("Accounts", "账号"),
    "many_accounts": (
        "{n} accounts: open one for its assets, charts and alerts.",
        "共 {n} 个账号：点击账号查看其资产、图表与告警。",
    ),
    "zone": ("time zone", "时区"),
    "assets": ("Assets", "资产"),
    "expired": ("Expired", "已过期"),
    "within_days": ("Within {days} days", "{days} 天内到期"),
    "next_expiry": ("Next to lapse", "最先到期"),
    "first_dry": ("First to run dry", "最先耗尽"),
    "collection": ("Collection", "采集"),
    "firing": ("Firing alerts", "触发中的告警"),
    "none": ("none", "无"),
    "all_ok": ("ok", "正常"),
    "n_problems": ("{n} failing", "{n} 项失败"),
    "services": ("Service packages", "服务包"),
    "timbres": ("Voices", "音色"),
    "images": ("Avatar images", "形象"),
    "actions": ("3D actions", "3D 动作"),
    "kind_service": ("service", "服务"),
    "kind_timbre": ("voice", "音色"),
    "kind_image": ("image", "形象"),
    "hours_by_type": ("Hours left by service type", "各服务类型剩余时长"),
    "hours_caption": (
        "Hour packages that have not expired, summed per service type",
        "未过期的时长包，按服务类型汇总",
    ),
    "service_type": ("Service type", "服务类型"),
    "packages": ("Packages", "包数"),
    "hours_left": ("Hours left", "剩余时长"),
    "of_ordered": ("of {total}", "共 {total}"),
    "quotas": ("Quotas left", "剩余配额"),
    "quotas_caption": (
        "Quota packages that have not expired, summed per type",
        "未过期的配额包，按类型汇总",
    ),
    "quota_left": ("Left", "剩余"),
    "no_hours": ("No hour packages.", "没有时长包。"),
    "no_quotas": ("No quota packages.", "没有配额包。"),
    "more_types": ("…and {n} more types", "……还有 {n} 种类型"),
    "collection_caption": (
        "Last collection of each kind of data",
        "每类数据的最近一次采集",
    ),
    "family": ("Data", "数据"),
    "state": ("State", "状态"),
    "last_success": ("Last success", "最近成功"),
    "age": ("Age", "距今"),
    "error": ("Error", "错误"),
    "st_ok": ("ok", "正常"),
    "st_pending": ("waiting for the first collection", "等待首次采集"),
    "st_stale": ("stale: last attempt failed", "数据陈旧：最近一次采集失败"),
    "st_dropped": ("too old, not shown", "过旧，不再显示"),
    "st_failing": ("failing", "失败"),
    "st_partial": ("incomplete listing", "列表不完整"),
    "timeline": ("Expiry timeline: the next {days} days", "到期时间线：未来 {days} 天"),
    "timeline_desc": (
        "{n} assets expire in the next {days} days ({s} services, {t} voices, {i} images);"
        " {x} have expired.",
        "未来 {days} 天内有 {n} 项资产到期（服务 {s}、音色 {t}、形象 {i}）；已过期 {x} 项。",
    ),
    "timeline_beyond": (
        "{n} later or never expiring",
        "另有 {n} 项更晚到期或永不过期",
    ),
    "timeline_unknown": (
        "{n} with an unknown expiry date",
        "另有 {n} 项到期时间未知",
    ),
    "today": ("today", "今天"),
    "table": ("Assets by time to expiry", "资产（按到期时间）"),
    "table_caption": (
        "{shown} of {total} assets of {account}, sorted by {key}",
        "{account} 的 {total} 项资产中的 {shown} 项，按{key}排序",
    ),
    "col_kind": ("Kind", "类别"),
    "col_type": ("Type", "类型"),
    "col_name": ("Name", "名称"),
    "col_expires": ("Expires", "到期时间"),
    "col_left": ("Time left", "剩余时间"),
    "col_figures": ("Hours / quota", "时长 / 配额"),
    "sort_expires": ("time to expiry", "到期时间"),
    "sort_name": ("name", "名称"),
    "sort_kind": ("kind", "类别"),
    "sort_figures": ("hours left", "剩余时长"),
    "show_all": ("Show all {n} assets of {account}", "显示 {account} 的全部 {n} 项资产"),
    "page_of": ("Page {page} of {pages}", "第 {page} / {pages} 页"),
    "prev": ("← Previous", "← 上一页"),
    "next": ("Next →", "下一页 →"),
    "back": ("← All accounts", "← 全部账号"),
    "no_assets": ("No assets.", "没有资产。"),
    "burndown": ("Burn-down of hour packages", "时长包消耗趋势"),
    "burn_none": (
        "No usage history yet: charts appear after a few collections of the service packages.",
        "暂无用量历史：服务包采集几次后显示图表。",
    ),
    "burn_more": ("…and {n} more packages with history", "……另有 {n} 个有历史的时长包"),
    "burn_left": ("{hours} left", "剩余 {hours}"),
    "burn_rate": ("using {rate} per day", "每天消耗 {rate}"),
    "burn_idle": ("not used in the forecast window", "预测窗口内未使用"),
    "burn_no_forecast": ("too little history for a forecast", "历史不足，暂无预测"),
    "burn_dry_before": (
        "runs dry {when}, {days} before it expires: top up",
        "预计 {when} 耗尽，比到期早 {days}：需要续购",
    ),
    "burn_dry": ("runs dry {when}", "预计 {when} 耗尽"),
    "burn_unused": (
        "{hours} will be unused when it expires {when}",
        "到期（{when}）时将有 {hours} 未用完",
    ),
    "burn_empty": ("used up: no hours left", "已用完：没有剩余时长"),
    "burn_lasts": ("lasts until it expires {when}", "可用到到期（{when}）"),
    "chart_history": ("history", "历史"),
    "chart_forecast": ("forecast", "预测"),
    "chart_expires": ("expires", "到期"),
    "chart_empty": ("empty", "耗尽"),
    "chart_now": ("now", "现在"),
    "alerts": ("Alerts", "告警"),
    "alerts_caption": (
        "Current alerts of {account} with their last delivery",
        "{account} 当前的告警及最近一次投递",
    ),
    "no_alerts": ("No alerts.", "没有告警。"),
    "more_alerts": ("…and {n} more (see alerts JSON)", "……另有 {n} 条（见告警 JSON）"),
    "col_severity": ("Severity", "级别"),
    "col_alert": ("Alert", "告警"),
    "col_since": ("Since", "开始于"),
    "col_notified": ("Last notified", "最近通知"),
    "col_delivery": ("Last delivery", "最近投递"),
    "sev_critical": ("critical", "严重"),
    "sev_warning": ("warning", "警告"),
    "sev_info": ("info", "提示"),
    "status_firing": ("firing", "触发中"),
    "status_resolved": ("resolved", "已恢复"),
    "dl_pending": ("pending", "待发送"),
    "dl_delivered": ("delivered", "已送达"),
    "dl_dead": ("failed", "投递失败"),
    "channels": ("Notification channels", "通知渠道"),
    "channels_caption": (
        "Where alerts go (credentials masked); {n} notifications waiting",
        "告警发往何处（凭据已隐藏）；{n} 条通知待发送",
    ),
    "no_channels": ("No channels configured.", "未配置通知渠道。"),
    "state_store": ("Alert state (state_dir)", "告警状态存储（state_dir）"),
    "state_ok": ("ok", "正常"),
    "state_down": ("unavailable: alerting waits and retries", "不可用：告警评估与发送等待重试"),
    "state_lost": (
        "The state file was lost {n} time(s) while running, last {file} at {at}; recreated",
        "运行中状态文件丢失 {n} 次，最近一次为 {file}（{at}）；已重建",
    ),
    "state_salvaged": ("with everything in it", "内容全部保留"),
    "state_restored": (
        "alert states restored from memory; usage history lost",
        "告警状态已从内存恢复；用量历史丢失",
    ),
    "state_notifications_lost": (
        "{n} pending notification(s) lost",
        "{n} 条待发送通知丢失",
    ),
    "http_refused": (
        "HTTP endpoints refused {n} request(s) or connection(s) since start ({reasons}),"
        " last at {when}; {failures} failed login(s). See the log event http.refused and"
        " ivh_http_requests_refused_total.",
        "自启动以来 HTTP 端点拒绝请求或连接 {n} 次（{reasons}），最近一次于 {when}；登录失败"
        " {failures} 次。详见日志事件 http.refused 与指标 ivh_http_requests_refused_total。",
    ),
    "http_auth_failed": (
        "{failures} failed login(s) on the HTTP endpoints since start. See the log event"
        " http.auth_failed and ivh_http_auth_failures_total.",
        "自启动以来 HTTP 端点登录失败 {failures} 次。详见日志事件 http.auth_failed 与指标"
        " ivh_http_auth_failures_total。",
    ),
    "col_channel": ("Channel", "渠道"),
    "col_target": ("Target", "目标"),
    "unknown_account": ("Unknown account.", "未知账号。"),
    "never": ("never expires", "永不过期"),
    "expiry_unknown": ("expiry unknown", "到期时间未知"),
    "anomalies": ("Odd records", "异常记录"),
    "skipped_n": ("{n} skipped", "跳过 {n} 条"),
    "runs_skipped_n": ("{n} scheduled runs skipped", "跳过 {n} 次计划采集"),
    "anomaly_n": ("{reason}: {n}", "{reason}：{n}"),
    "expired_ago": ("expired {t} ago", "已过期 {t}"),
    "ago": ("{t} ago", "{t}前"),
    "unit_d": ("{v} d", "{v} 天"),
    "unit_h": ("{v} h", "{v} 小时"),
    "unit_min": ("{v} min", "{v} 分钟"),
    "unit_s": ("{v} s", "{v} 秒"),
    "concurrent": ("{n} concurrent", "{n} 路并发"),
    "quota_of": ("{left} of {limit} left", "剩余 {left} / {limit}"),
    "sev_word_expired": ("expired", "已过期"),
    "sev_word_critical": ("critical", "紧急"),
    "sev_word_warning": ("warning", "注意"),
    "sev_word_ok": ("ok", "正常"),
    "sev_word_never": ("never expires", "永不过期"),
    "sev_word_unknown": ("expiry unknown", "到期时间未知"),
    "version": ("ivh-monitor {v}", "ivh-monitor {v}"),
    "evaluation_errors": (
        "Alert evaluation failed {n} time(s) since start ({rules}), last at {when}: alerts of"
        " those rules may be missing or out of date; every other rule and asset is still"
        " evaluated. See the log events alert.rule_failed and ivh_alert_evaluation_errors_total.",
        "自启动以来告警评估失败 {n} 次（{rules}），最近一次于 {when}：这些规则的告警可能缺失或"
        "未更新；其余规则与资产照常评估。详见日志事件 alert.rule_failed 与指标"
        " ivh_alert_evaluation_errors_total。",
    ),
}


def text(language: Language, key: str, /, **values: object) -> str:
    """The phrase ``key`` in ``language``, ``{placeholders}`` filled (values not escaped)."""
    en, zh = _TEXTS[key]
    phrase = zh if language == "zh" else en
    return phrase.format(**values) if values else phrase
