"""DingTalk (钉钉) custom robot.

``POST …/robot/send?access_token=<token>[&timestamp=<ms>&sign=<sign>]`` with
``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles",
"atUserIds", "isAtAll"}}``. A mention only pings when the text also contains
``@<mobile>``/``@<userid>``, so the first part carries both. The whole JSON
body is kept within 20000 UTF-8 bytes. Errors come with HTTP 200 in ``errcode``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from monitor.alerts.channels.base import HTTPChannel, _Part, classify_coded, dumps, part_key
from monitor.alerts.channels.config import DingTalkChannelConfig
from monitor.alerts.channels.render import MARKDOWN, halve, pack, render_alert, render_title
from monitor.alerts.channels.signing import dingtalk_sign
from monitor.alerts.records import DeliveryOutcome, DeliveryResult, Notification

__all__ = ["DingTalkChannel"]

BODY_LIMIT = 20000  # bytes (460101 beyond)

_SECURITY = (
    "the robot's security settings refused the message. Keyword mode: the message must "
    "contain one of the robot's custom keywords (put it in this channel's `template`); "
    "加签 mode: set `secret` to the robot's SEC… secret and keep this host's clock right "
    "(timestamp within 1 hour); IP mode: add this host's egress IP to the robot's whitelist"
)
_KNOWN: dict[int, tuple[DeliveryOutcome, str, float | None]] = {
    -1: ("retry", "DingTalk is busy; retry later", None),
    130101: ("retry", "rate limited: 20 messages a minute, then ~10 minutes throttled", 600.0),
    460101: ("too_long", "message too long (20000 bytes)", None),
    310000: ("permanent", _SECURITY, None),
}


class DingTalkChannel(HTTPChannel):
    kind: ClassVar[str] = "dingtalk"
    _service: ClassVar[str] = "DingTalk"

    def __init__(self, config: DingTalkChannelConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._cfg = config

    def _at(self) -> tuple[dict[str, Any], str]:
        cfg = self._cfg
        at = {"atMobiles": cfg.at_mobiles, "atUserIds": cfg.at_user_ids, "isAtAll": cfg.at_all}
        names = [*cfg.at_mobiles, *cfg.at_user_ids]
        return at, ("\n\n" + " ".join(f"@{n}" for n in names)) if names else ""

    def _payload(self, title: str, body: str, *, mention: bool) -> dict[str, Any]:
        at, at_text = self._at()
        payload: dict[str, Any] = {
            "msgtype": "markdown",
            "markdown": {
                "title": title,
                "text": f"#### {title}\n\n{body}{at_text if mention else ''}",
            },
        }
        if mention:
            payload["at"] = at
        return payload

    def _texts(self, title: str, blocks: list[str], limit: int) -> list[tuple[str, str]]:
        return pack(
            title, blocks, lambda t, b: len(dumps(self._payload(t, b, mention=True))) <= limit
        )

    def _parts(self, notification: Notification) -> list[_Part]:
        zone = ZoneInfo(notification.timezone or self._cfg.timezone)
        lang = notification.language
        title = render_title(notification, lang)
        blocks = [
            render_alert(a, lang, zone, MARKDOWN, self._cfg.template) for a in notification.alerts
        ]
        texts = self._texts(title, blocks, BODY_LIMIT)
        payloads = [self._payload(t, b, mention=i == 0) for i, (t, b) in enumerate(texts)]
        n = len(payloads)
        return [
            _Part(key=part_key(i, n, p), payload=p, text=t)
            for i, (p, t) in enumerate(zip(payloads, texts, strict=True), 1)
        ]

    def _resplit(self, part: _Part) -> list[_Part]:
        if part.text is None:
            return []
        title, body = part.text
        texts = halve(title, body, lambda t, b: len(dumps(self._payload(t, b, mention=False))))
        if len(texts) < 2:
            return []
        return [
            _Part(key=f"{part.key}#{i}", payload=self._payload(t, b, mention=False))
            for i, (t, b) in enumerate(texts, 1)
        ]

    def _request(
        self, part: _Part, notification: Notification
    ) -> tuple[str, bytes, dict[str, str]]:
        url = self._cfg.url.get_secret_value()
        if self._cfg.secret is not None:
            ts = int(self._clock() * 1000)
            sign = dingtalk_sign(self._cfg.secret.get_secret_value(), ts)
            # sign is already URL-encoded: append as is (encoding twice breaks it)
            url = f"{url}&timestamp={ts}&sign={sign}"
        return url, dumps(part.payload), {}

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        return classify_coded(
            response,
            self._clock(),
            "DingTalk",
            code_keys=("errcode",),
            message_keys=("errmsg",),
            known=_KNOWN,
        )
