"""Slack incoming webhook.

``POST https://hooks.slack.com/services/T…/B…/…`` with ``{"text": <fallback>,
"blocks": [header, section(mrkdwn)…]}``. Slack counts characters, not bytes:
a section's text ≤ 3000 characters, ≤ 50 blocks a message; we also keep a
message's sections within 12000 characters (Slack rejects long block messages
below its documented 40000 with ``msg_blocks_too_long``). Answers ``ok``;
errors are plain-text with a 4xx status (permanent), 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from monitor.alerts.channels.base import HTTPChannel, _Part, classify_status, dumps, part_key
from monitor.alerts.channels.config import SlackChannelConfig
from monitor.alerts.channels.render import SLACK, pack, render_alert, render_title
from monitor.alerts.records import DeliveryResult, Notification

__all__ = ["SlackChannel"]

SECTION_CHARS = 3000
MAX_BLOCKS = 50
MESSAGE_CHARS = 12000
HEADER_CHARS = 150  # plain_text of a header block
_SECTION_SEP = "\x1e"  # joins a message's sections while packing; never in alert text

_EXPLAIN = {
    "no_service": "the webhook was revoked or the app removed",
    "channel_not_found": "the webhook's channel no longer exists",
    "channel_is_archived": "the webhook's channel is archived",
    "invalid_token": "the webhook URL is wrong",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "invalid_payload": "Slack could not read the message",
}


class SlackChannel(HTTPChannel):
    kind: ClassVar[str] = "slack"
    _service: ClassVar[str] = "Slack"

    def __init__(self, config: SlackChannelConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._cfg = config

    @staticmethod
    def _payload(title: str, sections: list[str]) -> dict[str, Any]:
        return {
            "text": title,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_CHARS]}},
                *(
                    {"type": "section", "text": {"type": "mrkdwn", "text": s}}
                    for s in sections
                    if s
                ),
            ],
        }

    def _parts(self, notification: Notification) -> list[_Part]:
        zone = ZoneInfo(notification.timezone or self._cfg.timezone)
        lang = notification.language
        title = render_title(notification, lang)
        # one section per alert (cut if it alone is longer than a section may be) ...
        sections: list[str] = []
        for alert in notification.alerts:
            text = render_alert(alert, lang, zone, SLACK, self._cfg.template)
            cut = pack("", [text], lambda _t, b: len(b) <= SECTION_CHARS, sep="\n")
            sections += [b for _, b in cut if b.strip()]

        # ... then as many sections a message as Slack allows
        def fits(_title: str, body: str) -> bool:
            parts = body.split(_SECTION_SEP)
            return len(parts) <= MAX_BLOCKS - 1 and len(body) <= MESSAGE_CHARS

        texts = pack(title, sections, fits, sep=_SECTION_SEP)
        payloads = [self._payload(t, b.split(_SECTION_SEP)) for t, b in texts]
        n = len(payloads)
        return [_Part(key=part_key(i, n, p), payload=p) for i, p in enumerate(payloads, 1)]

    def _request(
        self, part: _Part, notification: Notification
    ) -> tuple[str, bytes, dict[str, str]]:
        return self._cfg.url.get_secret_value(), dumps(part.payload), {}

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        result = classify_status(response, self._clock(), "Slack")
        answer = response.text.strip()
        if result.outcome == "delivered" and answer not in ("", "ok"):
            return DeliveryResult(
                "permanent", detail=f"Slack answered {answer[:200]!r}", code=response.status_code
            )
        if result.outcome == "permanent" and answer in _EXPLAIN:
            return DeliveryResult(
                "permanent",
                detail=f"{result.detail} — {_EXPLAIN[answer]}",
                code=response.status_code,
            )
        return result
