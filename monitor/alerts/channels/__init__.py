"""Alert channels: the senders the outbox calls.

::

    config (ChannelConfig, one model per ``type``)
      └─ build_channel(config) ─► Channel
            send(notification) ─► SendReport(result, parts, delivered_parts)
               select → render/split (render.py) → sign (signing.py)
               → rate limit (limits.py) → POST (httpx) → classify

Kinds: ``webhook`` (Alertmanager payload v4, Standard Webhooks signature),
``alertmanager`` (API v2 push to every instance), ``wecom``, ``dingtalk``,
``feishu``, ``slack``. A send never raises for a network or receiver failure;
it reports ``delivered`` / ``retry`` (with ``retry_after``) / ``permanent`` /
``too_long`` (treat as permanent). See ``base.py`` for partial delivery.
"""

from __future__ import annotations

import time

import httpx

from monitor.alerts.channels.base import Channel, Clock, PartResult, SendReport
from monitor.alerts.channels.config import (
    AlertmanagerChannelConfig,
    ChannelConfig,
    DingTalkChannelConfig,
    FeishuChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
    WeComChannelConfig,
    mask_url,
    parse_channel_config,
)
from monitor.alerts.channels.dingtalk import DingTalkChannel
from monitor.alerts.channels.feishu import FeishuChannel
from monitor.alerts.channels.limits import DOCUMENTED_LIMITS, SHARED_LIMITERS, TargetLimiters
from monitor.alerts.channels.slack import SlackChannel
from monitor.alerts.channels.webhook import AlertmanagerChannel, WebhookChannel
from monitor.alerts.channels.wecom import WeComChannel

__all__ = [
    "DOCUMENTED_LIMITS",
    "SHARED_LIMITERS",
    "AlertmanagerChannel",
    "AlertmanagerChannelConfig",
    "Channel",
    "ChannelConfig",
    "Clock",
    "DingTalkChannel",
    "DingTalkChannelConfig",
    "FeishuChannel",
    "FeishuChannelConfig",
    "PartResult",
    "SendReport",
    "SlackChannel",
    "SlackChannelConfig",
    "TargetLimiters",
    "WeComChannel",
    "WeComChannelConfig",
    "WebhookChannel",
    "WebhookChannelConfig",
    "build_channel",
    "mask_url",
    "parse_channel_config",
]


def build_channel(
    config: ChannelConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = time.time,
    limiters: TargetLimiters | None = SHARED_LIMITERS,
) -> Channel:
    """The sender for ``config``; close it with ``await channel.aclose()``.

    ``transport`` replaces the network (tests: ``httpx.MockTransport``); with it
    the configured proxy is not used. ``limiters`` is the registry of per-target
    token buckets (default: one per process; ``None``: no rate limiting).
    """
    match config:
        case WebhookChannelConfig():
            return WebhookChannel(config, transport=transport, clock=clock, limiters=limiters)
        case AlertmanagerChannelConfig():
            return AlertmanagerChannel(config, transport=transport, clock=clock, limiters=limiters)
        case WeComChannelConfig():
            return WeComChannel(config, transport=transport, clock=clock, limiters=limiters)
        case DingTalkChannelConfig():
            return DingTalkChannel(config, transport=transport, clock=clock, limiters=limiters)
        case FeishuChannelConfig():
            return FeishuChannel(config, transport=transport, clock=clock, limiters=limiters)
        case SlackChannelConfig():
            return SlackChannel(config, transport=transport, clock=clock, limiters=limiters)
