"""Feishu / Lark custom bot.

``POST …/open-apis/bot/v2/hook/<token>`` with an interactive card
(``{"msg_type": "interactive", "card": {header, elements: [lark_md div]}}``);
when signed, the body also carries ``"timestamp"`` (seconds, a string) and
``"sign"``. The whole body is kept within 20 KB. Answers ``{"code": 0, …}``
(older deployments ``{"StatusCode": 0, …}``); refusals come with HTTP 200.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from monitor.alerts.channels.base import HTTPChannel, _Part, classify_coded, dumps, part_key
from monitor.alerts.channels.config import FeishuChannelConfig
from monitor.alerts.channels.render import MARKDOWN, pack, render_alert, render_title
from monitor.alerts.channels.signing import feishu_sign
from monitor.alerts.records import DeliveryOutcome, DeliveryResult, Notification

__all__ = ["FeishuChannel"]

BODY_LIMIT = 20000  # bytes; "20 KB" read conservatively
#: room for "timestamp"/"sign" added at send time (a 10-digit ts, a 44-char sign)
_SIGN_ROOM = len(',"timestamp":"1700000000","sign":""') + 44

_KNOWN: dict[int, tuple[DeliveryOutcome, str, float | None]] = {
    9499: ("retry", "rate limited: 5 messages a second, 100 a minute per bot", 60.0),
    11232: ("retry", "rate limited: 5 messages a second, 100 a minute per bot", 60.0),
    19021: (
        "permanent",
        "signature check failed: set `secret` to the bot's 签名校验 secret (or turn the check "
        "off) and keep this host's clock within 1 hour of real time",
        None,
    ),
    19022: ("permanent", "this host's IP is not in the bot's IP whitelist", None),
    19024: (
        "permanent",
        "keyword check failed: the message must contain one of the bot's custom keywords "
        "(put it in this channel's `template`), or switch the bot to 签名校验 and set `secret`",
        None,
    ),
}
_COLOURS = {"critical": "red", "warning": "orange", "info": "blue"}


class FeishuChannel(HTTPChannel):
    kind: ClassVar[str] = "feishu"
    _service: ClassVar[str] = "Feishu"

    def __init__(self, config: FeishuChannelConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._cfg = config

    def _mentions(self) -> str:
        ids = [*self._cfg.at_user_ids, *(["all"] if self._cfg.at_all else [])]
        return ("\n" + " ".join(f"<at id={i}></at>" for i in ids)) if ids else ""

    def _payload(self, title: str, body: str, colour: str, *, mention: bool) -> dict[str, Any]:
        content = body + (self._mentions() if mention else "")
        return {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {"title": {"tag": "plain_text", "content": title}, "template": colour},
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": content}}],
            },
        }

    def _texts(
        self, title: str, blocks: list[str], colour: str, limit: int
    ) -> list[tuple[str, str]]:
        def fits(t: str, b: str) -> bool:
            return len(dumps(self._payload(t, b, colour, mention=True))) + _SIGN_ROOM <= limit

        return pack(title, blocks, fits)

    @staticmethod
    def _colour(notification: Notification) -> str:
        firing = [a.severity for a in notification.alerts if a.status == "firing"]
        if not firing:
            return "green"
        return _COLOURS[max(firing, key=("info", "warning", "critical").index)]

    def _parts(self, notification: Notification) -> list[_Part]:
        zone = ZoneInfo(notification.timezone or self._cfg.timezone)
        lang = notification.language
        title = render_title(notification, lang)
        colour = self._colour(notification)
        blocks = [
            render_alert(a, lang, zone, MARKDOWN, self._cfg.template) for a in notification.alerts
        ]
        texts = self._texts(title, blocks, colour, BODY_LIMIT)
        payloads = [self._payload(t, b, colour, mention=i == 0) for i, (t, b) in enumerate(texts)]
        n = len(payloads)
        return [
            _Part(key=part_key(i, n, p), payload=p, text=t)
            for i, (p, t) in enumerate(zip(payloads, texts, strict=True), 1)
        ]

    def _request(
        self, part: _Part, notification: Notification
    ) -> tuple[str, bytes, dict[str, str]]:
        payload = part.payload
        if self._cfg.secret is not None:
            ts = int(self._clock())
            sign = feishu_sign(self._cfg.secret.get_secret_value(), ts)
            payload = {"timestamp": str(ts), "sign": sign, **payload}
        return self._cfg.url.get_secret_value(), dumps(payload), {}

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        result = classify_coded(
            response,
            self._clock(),
            "Feishu",
            code_keys=("code", "StatusCode"),
            message_keys=("msg", "StatusMessage"),
            known=_KNOWN,
        )
        # 9499 is also Feishu's generic "Bad Request": only its "too many request"
        # flavour is worth retrying
        if result.code == 9499 and "too many" not in result.detail.lower():
            return dataclasses.replace(
                result,
                outcome="permanent",
                retry_after=None,
                detail=result.detail.split(" — ")[0] + " — the request was refused as malformed",
            )
        return result
