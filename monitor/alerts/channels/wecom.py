"""WeCom (企业微信) group robot.

``POST …/cgi-bin/webhook/send?key=<key>`` with ``{"msgtype": "markdown",
"markdown": {"content": …}}`` (content ≤ 4096 UTF-8 bytes; mentions as
``<@userid>``) or ``{"msgtype": "text", "text": {"content": …,
"mentioned_list": […], "mentioned_mobile_list": […]}}`` (≤ 2048 bytes).
Markdown cannot mention by mobile nor ``@all``: those go in one short text
message after the last part. Errors come with HTTP 200 in ``errcode``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from monitor.alerts.channels.base import HTTPChannel, _Part, classify_coded, dumps, part_key
from monitor.alerts.channels.config import WeComChannelConfig
from monitor.alerts.channels.render import (
    MARKDOWN,
    PLAIN,
    halve,
    pack,
    render_alert,
    render_title,
)
from monitor.alerts.records import DeliveryOutcome, DeliveryResult, Notification

__all__ = ["WeComChannel"]

#: content limits in UTF-8 bytes (WeCom group robot documentation)
MARKDOWN_LIMIT = 4096
TEXT_LIMIT = 2048

_KNOWN: dict[int, tuple[DeliveryOutcome, str, float | None]] = {
    -1: ("retry", "WeCom is busy; retry later", None),
    45009: ("retry", "rate limited: 20 messages a minute per robot", 60.0),
    40058: ("too_long", "message too long or invalid content", None),
    93000: (
        "permanent",
        "invalid webhook URL: the key is wrong or the robot was removed from the group",
        None,
    ),
}


class WeComChannel(HTTPChannel):
    kind: ClassVar[str] = "wecom"
    _service: ClassVar[str] = "WeCom"

    def __init__(self, config: WeComChannelConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._cfg = config

    # markdown mentions: <@userid> inline; @all and mobiles need a text message
    def _inline_mentions(self) -> str:
        if self._cfg.msgtype != "markdown":
            return ""
        ids = [u for u in self._cfg.mentioned_list if u != "@all"]
        return ("\n" + " ".join(f"<@{u}>" for u in ids)) if ids else ""

    def _content(self, title: str, body: str, mentions: str) -> str:
        if self._cfg.msgtype == "markdown":
            return f"**{title}**\n\n{body}{mentions}"
        return f"{title}\n\n{body}"

    def _payload(self, content: str, *, mention: bool) -> dict[str, Any]:
        if self._cfg.msgtype == "markdown":
            return {"msgtype": "markdown", "markdown": {"content": content}}
        text: dict[str, Any] = {"content": content}
        if mention and self._cfg.mentioned_list:
            text["mentioned_list"] = list(self._cfg.mentioned_list)
        if mention and self._cfg.mentioned_mobile_list:
            text["mentioned_mobile_list"] = list(self._cfg.mentioned_mobile_list)
        return {"msgtype": "text", "text": text}

    def _texts(self, title: str, blocks: list[str], limit: int) -> list[tuple[str, str]]:
        mentions = self._inline_mentions()
        return pack(
            title,
            blocks,
            lambda t, b: len(self._content(t, b, mentions).encode("utf-8")) <= limit,
        )

    def _parts(self, notification: Notification) -> list[_Part]:
        markdown = self._cfg.msgtype == "markdown"
        zone = ZoneInfo(notification.timezone or self._cfg.timezone)
        lang = notification.language
        title = render_title(notification, lang)
        blocks = [
            render_alert(a, lang, zone, MARKDOWN if markdown else PLAIN, self._cfg.template)
            for a in notification.alerts
        ]
        texts = self._texts(title, blocks, MARKDOWN_LIMIT if markdown else TEXT_LIMIT)
        mentions = self._inline_mentions()
        payloads = [
            self._payload(self._content(t, b, mentions if i == 0 else ""), mention=i == 0)
            for i, (t, b) in enumerate(texts)
        ]
        parts_text: list[tuple[str, str] | None] = list(texts)
        trailing = self._cfg.mentioned_mobile_list or "@all" in self._cfg.mentioned_list
        if markdown and trailing:
            mention_text: dict[str, Any] = {"content": title}
            if self._cfg.mentioned_list:
                mention_text["mentioned_list"] = list(self._cfg.mentioned_list)
            if self._cfg.mentioned_mobile_list:
                mention_text["mentioned_mobile_list"] = list(self._cfg.mentioned_mobile_list)
            payloads.append({"msgtype": "text", "text": mention_text})
            parts_text.append(None)
        n = len(payloads)
        return [
            _Part(key=part_key(i, n, p), payload=p, text=t)
            for i, (p, t) in enumerate(zip(payloads, parts_text, strict=True), 1)
        ]

    def _resplit(self, part: _Part) -> list[_Part]:
        if part.text is None:
            return []
        title, body = part.text
        texts = halve(title, body, lambda t, b: len(self._content(t, b, "").encode("utf-8")))
        if len(texts) < 2:
            return []
        return [
            _Part(
                key=f"{part.key}#{i}", payload=self._payload(self._content(t, b, ""), mention=False)
            )
            for i, (t, b) in enumerate(texts, 1)
        ]

    def _request(
        self, part: _Part, notification: Notification
    ) -> tuple[str, bytes, dict[str, str]]:
        return self._cfg.url.get_secret_value(), dumps(part.payload), {}

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        return classify_coded(
            response,
            self._clock(),
            "WeCom",
            code_keys=("errcode",),
            message_keys=("errmsg",),
            known=_KNOWN,
        )
