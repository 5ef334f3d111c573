"""Alert channels against local receivers that check the documented wire formats.

Signatures are recomputed here from the services' published recipes (not by
calling our signing module), so a wrong recipe fails. The generic webhook and
Alertmanager run over real sockets (aiohttp on 127.0.0.1:0); the chat robots
use ``httpx.MockTransport`` since their URLs are fixed hosts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import httpx
import pytest
import trustme
from aiohttp import web
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs

from monitor.alerts.channels import (
    DOCUMENTED_LIMITS,
    AlertmanagerChannelConfig,
    Channel,
    ChannelConfig,
    TargetLimiters,
    WebhookChannelConfig,
    build_channel,
    parse_channel_config,
)
from monitor.alerts.records import Alert, Notification

NOW = 1714550400.0  # 2024-05-01T08:00:00Z
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

WECOM_KEY = "wk-5f1c9a7e-0b2d-never-logged"
DT_TOKEN = "dt-access-token-never-logged"
DT_SECRET = "SECdingtalk-secret-never-logged"
FS_TOKEN = "fs-hook-token-never-logged"
FS_SECRET = "feishu-secret-never-logged"
SLACK_PATH = "T0001/B0001/slack-path-never-logged"
WH_KEY = b"standard-webhooks-test-key-32byte"
WH_SECRET = "whsec_" + base64.b64encode(WH_KEY).decode()
SECRETS = (WECOM_KEY, DT_TOKEN, DT_SECRET, FS_TOKEN, FS_SECRET, SLACK_PATH, WH_SECRET)

WECOM_URL = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"
DT_URL = f"https://oapi.dingtalk.com/robot/send?access_token={DT_TOKEN}"
FS_URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{FS_TOKEN}"
SLACK_URL = f"https://hooks.slack.com/services/{SLACK_PATH}"


def clock() -> float:
    return NOW


def config(**data: Any) -> ChannelConfig:
    data.setdefault("name", f"{data['type']}-test")
    return parse_channel_config(data)


def channel(transport: httpx.AsyncBaseTransport | None = None, **data: Any) -> Channel:
    # no rate limiting: tests must never wait
    return build_channel(
        config(**data), transport=transport, clock=clock, limiters=TargetLimiters({})
    )


def alert(
    n: int = 1,
    *,
    status: str = "firing",
    severity: str = "critical",
    rule: str = "hours_low",
    summary: str | None = None,
    description: str = "",
    action: str = "",
) -> Alert:
    return Alert(
        rule=rule,
        account="prod",
        kind="service",
        asset=f"svc-{n}",
        severity=severity,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        starts_at=T0,
        ends_at=T0 + timedelta(days=1) if status == "resolved" else None,
        labels={"alertname": "IVHHoursLow", "severity": severity, "asset": f"svc-{n}"},
        annotations={
            "summary": summary or f"Service svc-{n} has 3 hours left",
            **({"description": description} if description else {}),
            **({"action": action} if action else {}),
        },
        resolve_reason="renewed" if status == "resolved" else None,
        values={"remaining_hours": 3.0},
    )


def notification(*alerts: Alert, language: str = "en", reason: str = "firing") -> Notification:
    return Notification(
        id="ntf-0001",
        channel="test",
        reason=reason,  # type: ignore[arg-type]
        created_at=T0,
        alerts=alerts or (alert(),),
        language=language,  # type: ignore[arg-type]
    )


def chinese_alerts(count: int) -> tuple[Alert, ...]:
    return tuple(
        alert(
            i,
            summary=f"服务 svc-{i} 的时长包剩余 {i} 小时，即将耗尽",
            description="该服务的数智人时长包余量低于阈值，" * 8,
            action="请登录腾讯云控制台续费或充值时长包，以免服务中断。",
        )
        for i in range(count)
    )


@dataclass
class Mock:
    """A robot: records requests, answers from a script (the last answer repeats)."""

    answers: list[Callable[[httpx.Request], httpx.Response]]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


def reply(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def make(_: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return make


def assert_no_secrets(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), f"secret leaked: {str(text)[:200]}"


# -- real HTTP receivers -------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    answers: list[tuple[int, str, dict[str, str]]]
    seen: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


async def _start(answers: list[tuple[int, str, dict[str, str]]]) -> tuple[Receiver, web.AppRunner]:
    receiver = Receiver("", answers)

    async def handle(request: web.Request) -> web.Response:
        receiver.seen.append((request.path, dict(request.headers), await request.read()))
        status, text, headers = (
            receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
        )
        return web.Response(status=status, text=text, headers=headers)

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}"
    return receiver, runner


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def make(*answers: tuple[int, str, dict[str, str]]) -> Receiver:
        receiver, runner = await _start(list(answers) or [(200, "", {})])
        runners.append(runner)
        return receiver

    yield make
    for runner in runners:
        await runner.cleanup()


# -- generic webhook: Alertmanager payload v4 + Standard Webhooks -------------------


def _verify_standard_webhook(headers: dict[str, str], body: bytes) -> None:
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    expected = hmac.new(WH_KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    signatures = headers["webhook-signature"].split(" ")
    assert f"v1,{base64.b64encode(expected).decode()}" in signatures


async def test_webhook_sends_alertmanager_v4_payload_signed(receivers: Any) -> None:
    rx = await receivers((503, "busy", {"Retry-After": "7"}), (200, "", {}))
    firing = alert(1, description="d1", action="renew")
    resolved = alert(2, status="resolved")
    ch = channel(
        type="webhook",
        name="hooky",
        url=rx.url + "/hook",
        secret=WH_SECRET,
        external_url="http://monitor:9877/",
    )
    note = notification(firing, resolved)
    first = await ch.send(note)
    second = await ch.send(note)
    await ch.aclose()

    assert (first.outcome, first.result.retry_after, first.result.code) == ("retry", 7.0, 503)
    assert second.outcome == "delivered"
    (path, h1, body1), (_, h2, body2) = rx.seen
    assert path == "/hook"
    for headers, body in ((h1, body1), (h2, body2)):
        _verify_standard_webhook(headers, body)
        assert headers["webhook-id"] == headers["Idempotency-Key"] == "ntf-0001"
        assert headers["webhook-timestamp"] == str(int(NOW))
        assert headers["Content-Type"] == "application/json"
    payload = json.loads(body1)
    assert payload == {
        "version": "4",
        "groupKey": '{}/{receiver="hooky"}:{}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "hooky",
        "groupLabels": {},
        "commonLabels": {"alertname": "IVHHoursLow", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://monitor:9877/",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "IVHHoursLow", "severity": "critical", "asset": "svc-1"},
                "annotations": {
                    "summary": "Service svc-1 has 3 hours left",
                    "description": "d1",
                    "action": "renew",
                },
                "startsAt": "2024-05-01T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://monitor:9877/",
                "fingerprint": firing.fingerprint,
            },
            {
                "status": "resolved",
                "labels": {"alertname": "IVHHoursLow", "severity": "critical", "asset": "svc-2"},
                "annotations": {"summary": "Service svc-2 has 3 hours left"},
                "startsAt": "2024-05-01T08:00:00Z",
                "endsAt": "2024-05-02T08:00:00Z",
                "generatorURL": "http://monitor:9877/",
                "fingerprint": resolved.fingerprint,
            },
        ],
    }
    assert re.fullmatch(r"[0-9a-f]{16}", firing.fingerprint)


async def test_webhook_without_secret_has_idempotency_key_only(receivers: Any) -> None:
    rx = await receivers()
    ch = channel(type="webhook", url=rx.url)
    report = await ch.send(notification(alert(status="resolved")))
    await ch.aclose()
    assert report.outcome == "delivered"
    _, headers, body = rx.seen[0]
    assert headers["Idempotency-Key"] == "ntf-0001"
    assert "webhook-signature" not in {k.lower() for k in headers}
    assert json.loads(body)["status"] == "resolved"


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after", "detail_part"),
    [
        (410, {}, "permanent", None, "endpoint gone"),
        (302, {"Location": "http://elsewhere/"}, "permanent", None, "redirect"),
        (400, {}, "permanent", None, "HTTP 400"),
        (404, {}, "permanent", None, "HTTP 404"),
        (429, {"Retry-After": "Wed, 01 May 2024 08:01:00 GMT"}, "retry", 60.0, "HTTP 429"),
        (502, {}, "retry", None, "HTTP 502"),
        (504, {"Retry-After": "30"}, "retry", 30.0, "HTTP 504"),
        (204, {}, "delivered", None, ""),
    ],
)
async def test_webhook_classifies_http_answers(
    status: int, headers: dict[str, str], outcome: str, retry_after: float | None, detail_part: str
) -> None:
    mock = Mock([reply(status, "nope" if status >= 300 else "", headers)])
    ch = channel(mock.transport, type="webhook", url="https://hooks.example/x")
    report = await ch.send(notification())
    await ch.aclose()
    assert report.outcome == outcome
    assert report.result.retry_after == retry_after
    assert report.result.code == status
    assert detail_part in report.result.detail
    assert len(mock.requests) == 1  # a redirect is not followed


async def test_transport_errors_are_retryable_and_scrubbed() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    ch = channel(Mock([fail]).transport, type="wecom", url=WECOM_URL)
    with capture_logs() as logs:
        report = await ch.send(notification())
    await ch.aclose()
    assert report.outcome == "retry"
    assert "ConnectError" in report.result.detail
    assert "***" in report.result.detail
    assert_no_secrets(report, logs, repr(ch))


# -- Alertmanager API v2 --------------------------------------------------------------


async def test_alertmanager_posts_to_every_instance_and_retries_only_failures(
    receivers: Any,
) -> None:
    good = await receivers((200, "", {}))
    flaky = await receivers((503, "unavailable", {}), (200, "", {}))
    ch = channel(
        type="alertmanager",
        urls=[good.url, flaky.url + "/"],
        resend_interval_seconds=120,
        external_url="http://monitor:9877/",
    )
    note = notification(alert(1), alert(2, status="resolved"))
    first = await ch.send(note)
    assert first.outcome == "retry"
    assert first.total_parts == 2
    assert first.delivered_parts == {f"alertmanager:{good.url}"}
    assert "part 2/2" in first.result.detail
    assert "1/2 parts delivered" in first.result.detail

    second = await ch.send(note, delivered_parts=first.delivered_parts)
    await ch.aclose()
    assert second.outcome == "delivered"
    assert [p.index for p in second.parts] == [2]  # the good instance is not posted again
    assert len(good.seen) == 1
    assert len(flaky.seen) == 2

    path, _, body = good.seen[0]
    assert path == "/api/v2/alerts"
    assert flaky.seen[0][0] == "/api/v2/alerts"
    assert json.loads(body) == [
        {
            "labels": {"alertname": "IVHHoursLow", "severity": "critical", "asset": "svc-1"},
            "annotations": {"summary": "Service svc-1 has 3 hours left"},
            "startsAt": "2024-05-01T08:00:00Z",
            "endsAt": "2024-05-01T08:08:00Z",  # now + 4 x 120 s
            "generatorURL": "http://monitor:9877/",
        },
        {
            "labels": {"alertname": "IVHHoursLow", "severity": "critical", "asset": "svc-2"},
            "annotations": {"summary": "Service svc-2 has 3 hours left"},
            "startsAt": "2024-05-01T08:00:00Z",
            "endsAt": "2024-05-02T08:00:00Z",
            "generatorURL": "http://monitor:9877/",
        },
    ]


async def test_alertmanager_labels_always_name_the_alert() -> None:
    mock = Mock([reply(200, "")])
    ch = channel(mock.transport, type="alertmanager", urls=["http://am:9093"])
    bare = Alert(
        rule="quota",
        account="a",
        kind="account",
        asset="",
        severity="warning",
        status="firing",
        starts_at=T0,
    )
    await ch.send(notification(bare))
    await ch.aclose()
    (item,) = mock.bodies()[0]
    assert item["labels"] == {"alertname": "quota", "severity": "warning"}
    assert "generatorURL" not in item  # the API validates it as a URI: never ""


async def test_alertmanager_bad_request_is_permanent() -> None:
    mock = Mock([reply(400, "labels missing")])
    ch = channel(mock.transport, type="alertmanager", urls=["http://am:9093"])
    report = await ch.send(notification())
    await ch.aclose()
    assert report.outcome == "permanent"
    assert "rejected as invalid" in report.result.detail


# -- WeCom ----------------------------------------------------------------------------


async def test_wecom_markdown_payload_and_mentions() -> None:
    mock = Mock([reply(200, {"errcode": 0, "errmsg": "ok"})])
    ch = channel(
        mock.transport,
        type="wecom",
        url=WECOM_URL,
        mentioned_list=["zhangsan", "@all"],
        mentioned_mobile_list=["13800001111"],
    )
    report = await ch.send(notification(alert(1, description="desc", action="renew it")))
    await ch.aclose()
    assert report.outcome == "delivered"
    assert str(mock.requests[0].url) == WECOM_URL
    markdown, mention = mock.bodies()
    assert markdown == {
        "msgtype": "markdown",
        "markdown": {
            "content": "**🔴 [FIRING:1] IVH asset alerts**\n\n"
            "🔴 **[CRITICAL]** Service svc-1 has 3 hours left\n"
            "desc\n"
            "**Action:** renew it\n"
            "Account: prod · Asset: svc-1 · Since: 2024-05-01 16:00 CST\n"
            "<@zhangsan>"
        },
    }
    # markdown cannot @all or @mobile: a text message after it does
    assert mention == {
        "msgtype": "text",
        "text": {
            "content": "🔴 [FIRING:1] IVH asset alerts",
            "mentioned_list": ["zhangsan", "@all"],
            "mentioned_mobile_list": ["13800001111"],
        },
    }


async def test_wecom_text_carries_mention_lists() -> None:
    mock = Mock([reply(200, {"errcode": 0, "errmsg": "ok"})])
    ch = channel(
        mock.transport,
        type="wecom",
        url=WECOM_URL,
        msgtype="text",
        mentioned_list=["@all"],
        mentioned_mobile_list=["13800001111"],
    )
    await ch.send(notification(alert(status="resolved"), language="zh"))
    await ch.aclose()
    (body,) = mock.bodies()
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_list"] == ["@all"]
    assert body["text"]["mentioned_mobile_list"] == ["13800001111"]
    content = body["text"]["content"]
    assert content.startswith("✅ 【已恢复 1】IVH 资产告警")
    assert "恢复原因：已续费" in content
    assert "**" not in content  # text messages carry no markdown


@pytest.mark.parametrize(
    ("errcode", "outcome", "retry_after", "explained"),
    [
        (45009, "retry", 60.0, "20 messages a minute"),
        (-1, "retry", None, "busy"),
        (93000, "permanent", None, "invalid webhook URL"),
        (40008, "permanent", None, ""),
    ],
)
async def test_wecom_errcodes_in_http_200(
    errcode: int, outcome: str, retry_after: float | None, explained: str
) -> None:
    mock = Mock([reply(200, {"errcode": errcode, "errmsg": "some error"})])
    ch = channel(mock.transport, type="wecom", url=WECOM_URL)
    report = await ch.send(notification())
    await ch.aclose()
    assert (report.outcome, report.result.code) == (outcome, errcode)
    assert report.result.retry_after == retry_after
    assert explained in report.result.detail


async def test_wecom_too_long_answer_is_resplit() -> None:
    mock = Mock(
        [
            reply(200, {"errcode": 40058, "errmsg": "content exceed max length"}),
            reply(200, {"errcode": 0, "errmsg": "ok"}),
        ]
    )
    ch = channel(mock.transport, type="wecom", url=WECOM_URL)
    report = await ch.send(notification(*(alert(i) for i in range(4))))
    await ch.aclose()
    assert report.outcome == "delivered"
    assert "re-split" in report.result.detail
    texts = [b["markdown"]["content"] for b in mock.bodies()[1:]]
    assert 2 <= len(texts) <= 3
    assert all(f"svc-{i} has" in "".join(texts) for i in range(4))


async def test_wecom_non_json_200_is_not_delivered() -> None:
    mock = Mock([reply(200, "<html>captive portal</html>")])
    ch = channel(mock.transport, type="wecom", url=WECOM_URL)
    report = await ch.send(notification())
    await ch.aclose()
    assert report.outcome == "permanent"
    assert "is the URL right" in report.result.detail


@pytest.mark.parametrize(("msgtype", "limit"), [("markdown", 4096), ("text", 2048)])
async def test_wecom_splits_many_chinese_alerts_by_utf8_bytes(msgtype: str, limit: int) -> None:
    mock = Mock([reply(200, {"errcode": 0, "errmsg": "ok"})])
    ch = channel(mock.transport, type="wecom", url=WECOM_URL, msgtype=msgtype)
    alerts = chinese_alerts(40)
    report = await ch.send(notification(*alerts, language="zh"))
    await ch.aclose()
    contents = [b[msgtype]["content"] for b in mock.bodies()]
    assert report.outcome == "delivered"
    assert len(contents) == report.total_parts > 2
    assert all(len(c.encode("utf-8")) <= limit for c in contents)
    # each part is numbered and nothing is lost
    n = len(contents)
    assert all(f"({i}/{n})" in c.split("\n")[0] for i, c in enumerate(contents, 1))
    joined = "".join(contents)
    for a in alerts:
        assert a.annotations["summary"] in joined
    assert joined.count("请登录腾讯云控制台续费") == len(alerts)


async def test_a_single_huge_alert_is_cut_at_character_boundaries() -> None:
    mock = Mock([reply(200, {"errcode": 0, "errmsg": "ok"})])
    ch = channel(mock.transport, type="wecom", url=WECOM_URL, msgtype="text")
    huge = alert(description="长" * 3000)  # 9000 bytes in one line
    report = await ch.send(notification(huge, language="zh"))
    await ch.aclose()
    contents = [b["text"]["content"] for b in mock.bodies()]
    assert report.outcome == "delivered"
    assert len(contents) >= 5
    assert all(len(c.encode()) <= 2048 for c in contents)
    assert "".join(contents).count("长") == 3000


async def test_partial_delivery_resumes_without_resending_delivered_parts() -> None:
    ok = reply(200, {"errcode": 0, "errmsg": "ok"})
    limited = reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    mock = Mock([ok, limited, ok])
    ch = channel(mock.transport, type="wecom", url=WECOM_URL, msgtype="text")
    note = notification(*chinese_alerts(12), language="zh")

    first = await ch.send(note)
    assert first.outcome == "retry"
    assert first.result.retry_after == 60.0
    assert first.total_parts >= 3
    assert len(first.parts) == 2  # stopped at the failing part
    assert len(first.delivered_parts) == 1
    assert f"part 2/{first.total_parts}" in first.result.detail
    sent_first = [r.content for r in mock.requests]

    # the caller hands back what it stored
    mock.requests.clear()
    retry = await ch.send(note, delivered_parts=first.delivered_parts)
    await ch.aclose()
    assert retry.outcome == "delivered"
    assert retry.delivered_parts > first.delivered_parts
    assert len(retry.delivered_parts) == retry.total_parts
    assert mock.requests[0].content == sent_first[1]  # resumes at part 2
    assert sent_first[0] not in [r.content for r in mock.requests]
    assert [p.index for p in retry.parts] == list(range(2, retry.total_parts + 1))


async def test_channel_remembers_delivered_parts_in_process() -> None:
    ok = reply(200, {"errcode": 0, "errmsg": "ok"})
    mock = Mock([ok, reply(200, {"errcode": -1, "errmsg": "system busy"}), ok])
    ch = channel(mock.transport, type="wecom", url=WECOM_URL, msgtype="text")
    note = notification(*chinese_alerts(12), language="zh")
    first = await ch.send(note)
    delivered_first = mock.requests[0].content
    mock.requests.clear()
    second = await ch.send(note)  # no delivered_parts passed
    await ch.aclose()
    assert (first.outcome, second.outcome) == ("retry", "delivered")
    assert delivered_first not in [r.content for r in mock.requests]


# -- DingTalk -------------------------------------------------------------------------


def _dingtalk_expected_sign(ts: str) -> str:
    digest = hmac.new(DT_SECRET.encode(), f"{ts}\n{DT_SECRET}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


async def test_dingtalk_signed_markdown_with_at() -> None:
    mock = Mock([reply(200, {"errcode": 0, "errmsg": "ok"})])
    ch = channel(
        mock.transport,
        type="dingtalk",
        url=DT_URL,
        secret=DT_SECRET,
        at_mobiles=["13800001111"],
        at_user_ids=["user123"],
    )
    report = await ch.send(notification(alert(status="resolved")))
    await ch.aclose()
    assert report.outcome == "delivered"
    (request,) = mock.requests
    raw_query = urlsplit(str(request.url)).query
    query = parse_qs(raw_query)
    assert query["access_token"] == [DT_TOKEN]
    assert query["timestamp"] == [str(int(NOW * 1000))]  # milliseconds
    # encoded exactly once: decoding the raw value once gives the base64 signature
    raw_sign = re.search(r"(?:^|&)sign=([^&]*)", raw_query)
    assert raw_sign is not None
    assert unquote_plus(raw_sign.group(1)) == _dingtalk_expected_sign(str(int(NOW * 1000)))
    body = json.loads(request.content)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "✅ [RESOLVED:1] IVH asset alerts"
    text = body["markdown"]["text"]
    assert text.startswith("#### ✅ [RESOLVED:1] IVH asset alerts\n\n✅ **[RESOLVED]**")
    assert "Reason: renewed" in text
    assert text.endswith("@13800001111 @user123")
    assert body["at"] == {"atMobiles": ["13800001111"], "atUserIds": ["user123"], "isAtAll": False}


async def test_dingtalk_unsigned_url_is_untouched() -> None:
    mock = Mock([reply(200, {"errcode": 0, "errmsg": "ok"})])
    ch = channel(mock.transport, type="dingtalk", url=DT_URL, at_all=True)
    await ch.send(notification())
    await ch.aclose()
    assert str(mock.requests[0].url) == DT_URL
    assert mock.bodies()[0]["at"]["isAtAll"] is True


@pytest.mark.parametrize(
    ("errcode", "outcome", "retry_after", "explained"),
    [
        (130101, "retry", 600.0, "20 messages a minute"),
        (310000, "permanent", None, "Keyword mode"),
        (300001, "permanent", None, ""),
    ],
)
async def test_dingtalk_errcodes_in_http_200(
    errcode: int, outcome: str, retry_after: float | None, explained: str
) -> None:
    mock = Mock([reply(200, {"errcode": errcode, "errmsg": "keywords not in content"})])
    ch = channel(mock.transport, type="dingtalk", url=DT_URL)
    report = await ch.send(notification())
    await ch.aclose()
    assert (report.outcome, report.result.code, report.result.retry_after) == (
        outcome,
        errcode,
        retry_after,
    )
    assert explained in report.result.detail
    if errcode == 310000:  # the three security modes are all explained
        for mode in ("Keyword mode", "加签", "IP mode"):
            assert mode in report.result.detail


async def test_dingtalk_too_long_answer_is_resplit_and_splits_by_bytes() -> None:
    mock = Mock(
        [
            reply(200, {"errcode": 460101, "errmsg": "message too long"}),
            reply(200, {"errcode": 0, "errmsg": "ok"}),
        ]
    )
    ch = channel(mock.transport, type="dingtalk", url=DT_URL)
    alerts = chinese_alerts(120)
    report = await ch.send(notification(*alerts, language="zh"))
    await ch.aclose()
    assert report.outcome == "delivered"
    assert report.total_parts >= 3
    bodies = [r.content for r in mock.requests]
    assert all(len(b) <= 20000 for b in bodies)
    joined = "".join(json.loads(b)["markdown"]["text"] for b in bodies[1:])
    for a in alerts:
        assert a.annotations["summary"] in joined


# -- Feishu ---------------------------------------------------------------------------


async def test_feishu_signed_card() -> None:
    mock = Mock([reply(200, {"code": 0, "data": {}, "msg": "success"})])
    ch = channel(mock.transport, type="feishu", url=FS_URL, secret=FS_SECRET, at_all=True)
    report = await ch.send(notification(alert(severity="warning"), language="zh"))
    await ch.aclose()
    assert report.outcome == "delivered"
    body = mock.bodies()[0]
    assert body["timestamp"] == str(int(NOW))  # seconds, as a string
    key = f"{body['timestamp']}\n{FS_SECRET}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["sign"] == expected
    assert body["msg_type"] == "interactive"
    card = body["card"]
    assert card["header"] == {
        "title": {"tag": "plain_text", "content": "🟠 【触发中 1】IVH 资产告警"},
        "template": "orange",
    }
    (element,) = card["elements"]
    assert element["tag"] == "div"
    assert element["text"]["tag"] == "lark_md"
    assert element["text"]["content"].startswith("🟠 **[警告]** Service svc-1 has 3 hours left")
    assert element["text"]["content"].endswith("<at id=all></at>")


@pytest.mark.parametrize(
    ("body", "outcome", "explained"),
    [
        (
            {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"},
            "permanent",
            "签名校验",
        ),
        ({"code": 19024, "msg": "Key Words Not Found"}, "permanent", "custom keywords"),
        ({"code": 9499, "msg": "too many request"}, "retry", "rate limited"),
        ({"code": 11232, "msg": "frequency limited"}, "retry", "rate limited"),
        ({"code": 9499, "msg": "Bad Request"}, "permanent", "malformed"),
        ({"StatusCode": 0, "StatusMessage": "success"}, "delivered", ""),
    ],
)
async def test_feishu_codes(body: dict[str, Any], outcome: str, explained: str) -> None:
    mock = Mock([reply(200, body)])
    ch = channel(mock.transport, type="feishu", url=FS_URL)
    report = await ch.send(notification())
    await ch.aclose()
    assert report.outcome == outcome
    assert explained in report.result.detail
    assert "sign" not in mock.bodies()[0]  # unsigned bot: no signature fields


async def test_feishu_splits_within_20kb() -> None:
    mock = Mock([reply(200, {"code": 0, "msg": "success"})])
    ch = channel(mock.transport, type="feishu", url=FS_URL, secret=FS_SECRET)
    alerts = chinese_alerts(100)
    report = await ch.send(notification(*alerts, language="zh"))
    await ch.aclose()
    assert report.outcome == "delivered"
    assert report.total_parts >= 3
    assert all(len(r.content) <= 20000 for r in mock.requests)
    joined = "".join(b["card"]["elements"][0]["text"]["content"] for b in mock.bodies())
    assert all(a.annotations["summary"] in joined for a in alerts)


# -- Slack ----------------------------------------------------------------------------


async def test_slack_blocks_and_answers() -> None:
    mock = Mock([reply(200, "ok")])
    ch = channel(mock.transport, type="slack", url=SLACK_URL)
    report = await ch.send(notification(alert(1, summary="a <b> & c"), alert(2, status="resolved")))
    await ch.aclose()
    assert report.outcome == "delivered"
    body = mock.bodies()[0]
    assert body["text"] == "🔴 [FIRING:1 RESOLVED:1] IVH asset alerts"
    header, first, second = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": body["text"]}}
    assert first["type"] == "section"
    assert first["text"]["type"] == "mrkdwn"
    assert first["text"]["text"].startswith("🔴 *[CRITICAL]* a &lt;b&gt; &amp; c")
    assert second["text"]["text"].startswith("✅ *[RESOLVED]* Service svc-2")


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_after", "explained"),
    [
        ((429, "rate_limited", {"Retry-After": "3"}), "retry", 3.0, ""),
        ((500, "rollup_error", {}), "retry", None, ""),
        ((404, "no_service", {}), "permanent", None, "revoked"),
        ((410, "channel_is_archived", {}), "permanent", None, "archived"),
        ((403, "invalid_token", {}), "permanent", None, "URL is wrong"),
        ((200, "something else", {}), "permanent", None, "something else"),
    ],
)
async def test_slack_answers(
    answer: tuple[int, str, dict[str, str]],
    outcome: str,
    retry_after: float | None,
    explained: str,
) -> None:
    mock = Mock([reply(*answer)])
    ch = channel(mock.transport, type="slack", url=SLACK_URL)
    report = await ch.send(notification())
    await ch.aclose()
    assert (report.outcome, report.result.retry_after) == (outcome, retry_after)
    assert explained in report.result.detail


async def test_slack_limits_sections_and_blocks() -> None:
    mock = Mock([reply(200, "ok")])
    ch = channel(mock.transport, type="slack", url=SLACK_URL)
    alerts = (*chinese_alerts(70), alert(99, description="x" * 7000))
    report = await ch.send(notification(*alerts, language="zh"))
    await ch.aclose()
    bodies = mock.bodies()
    assert report.outcome == "delivered"
    assert len(bodies) == report.total_parts >= 2
    for body in bodies:
        assert len(body["blocks"]) <= 50
        sections = [b["text"]["text"] for b in body["blocks"][1:]]
        assert all(0 < len(s) <= 3000 for s in sections)
    joined = "".join(b["text"]["text"] for body in bodies for b in body["blocks"][1:])
    assert joined.count("x") >= 7000
    assert all(a.annotations["summary"] in joined for a in alerts)


# -- filters, language, templates ------------------------------------------------------


async def test_filters_rules_severity_and_resolved() -> None:
    mock = Mock([reply(200, "ok")])
    ch = channel(
        mock.transport,
        type="slack",
        url=SLACK_URL,
        rules=["hours_low"],
        min_severity="critical",
        send_resolved=False,
    )
    note = notification(
        alert(1),
        alert(2, severity="warning"),
        alert(3, rule="other"),
        alert(4, status="resolved"),
    )
    selected = ch.select(note)
    assert selected is not None
    assert [a.asset for a in selected.alerts] == ["svc-1"]
    assert ch.select(notification(alert(2, severity="warning"))) is None
    report = await ch.send(notification(alert(2, severity="info")))
    assert (report.outcome, report.total_parts, mock.requests) == ("delivered", 0, [])
    # a test notification goes through whatever the filters say
    test = await ch.send(notification(alert(2, severity="info"), reason="test"))
    await ch.aclose()
    assert test.outcome == "delivered"
    assert mock.bodies()[0]["text"].startswith("🔵 [TEST] [FIRING:1]")


async def test_language_override_and_template() -> None:
    mock = Mock([reply(200, {"errcode": 0, "errmsg": "ok"})])
    ch = channel(
        mock.transport,
        type="wecom",
        url=WECOM_URL,
        msgtype="text",
        language="zh",
        timezone="UTC",
        template="监控告警 $icon $severity_label/$status_label $summary "
        "[${label_asset}] ${value_remaining_hours}h since $starts_at $unknown",
    )
    await ch.send(notification(alert(1), language="en"))
    await ch.aclose()
    content = mock.bodies()[0]["text"]["content"]
    assert content == (
        "🔴 【触发中 1】IVH 资产告警\n\n"
        "监控告警 🔴 严重/触发中 Service svc-1 has 3 hours left [svc-1] 3.0h "
        "since 2024-05-01 08:00 UTC $unknown"
    )


# -- configuration, secrets, rate limits ------------------------------------------------


def test_config_is_a_discriminated_union_with_defaults() -> None:
    cfg = config(type="wecom", url=WECOM_URL)
    assert type(cfg).__name__ == "WeComChannelConfig"
    assert (cfg.min_severity, cfg.send_resolved, cfg.timeout_seconds) == ("warning", True, 10.0)
    assert (cfg.rules, cfg.language, cfg.template, cfg.proxy) == ([], None, None, None)
    am = config(type="alertmanager", urls=["http://a:9093", "http://b:9093"])
    assert isinstance(am, AlertmanagerChannelConfig)
    assert am.resend_interval_seconds == 300.0


@pytest.mark.parametrize(
    "data",
    [
        {"type": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?nokey=1"},
        {"type": "dingtalk", "url": f"{DT_URL}&timestamp=1&sign=x"},
        {"type": "webhook", "url": "https://x/", "secret": "not-whsec-" + DT_SECRET},
        {"type": "webhook", "url": "https://x/", "secret": "whsec_" + FS_SECRET + "!!"},
        {"type": "slack", "url": "ftp://" + SLACK_PATH},
        {"type": "feishu", "url": FS_URL, "template": "$ bad"},
        {"type": "pager", "url": FS_URL},
    ],
)
def test_bad_config_is_refused_without_echoing_secrets(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        config(**data)
    assert_no_secrets(str(info.value), repr(info.value))


def test_masked_urls_reprs_and_secret_values() -> None:
    cases = {
        "wecom": (WECOM_URL, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"),
        "dingtalk": (DT_URL, "https://oapi.dingtalk.com/robot/send?access_token=***"),
        "feishu": (FS_URL, "https://open.feishu.cn/open-apis/bot/v2/hook/***"),
        "slack": (SLACK_URL, "https://hooks.slack.com/services/***"),
        "webhook": (
            "https://u:pw-" + WECOM_KEY + "@h.example/p?t=" + DT_TOKEN,
            "https://h.example/p?t=***",
        ),
    }
    for kind, (url, masked) in cases.items():
        extra = {"secret": WH_SECRET} if kind == "webhook" else {}
        cfg = config(type=kind, url=url, proxy=f"http://user:{FS_SECRET}@proxy:3128", **extra)
        assert cfg.masked_url() == masked
        ch = build_channel(cfg, limiters=None)
        assert_no_secrets(repr(cfg), str(cfg), repr(ch), cfg.model_dump())
        assert any(url == s for s in cfg.secret_values())


async def test_logs_and_results_never_show_secrets() -> None:
    echo = reply(200, {"errcode": 93000, "errmsg": f"invalid webhook url, key={WECOM_KEY}"})
    chans = [
        channel(Mock([echo]).transport, type="wecom", url=WECOM_URL),
        channel(
            Mock(
                [reply(200, {"errcode": 310000, "errmsg": f"token {DT_TOKEN} sign fail"})]
            ).transport,
            type="dingtalk",
            url=DT_URL,
            secret=DT_SECRET,
        ),
        channel(
            Mock([reply(200, {"code": 19021, "msg": f"hook {FS_TOKEN}"})]).transport,
            type="feishu",
            url=FS_URL,
            secret=FS_SECRET,
        ),
        channel(
            Mock([reply(404, f"no_service {SLACK_PATH}")]).transport, type="slack", url=SLACK_URL
        ),
        channel(
            Mock([reply(500, f"oops {WH_SECRET}")]).transport,
            type="webhook",
            url="https://h.example/p",
            secret=WH_SECRET,
        ),
    ]
    with capture_logs() as logs:
        reports = [await ch.send(notification()) for ch in chans]
    for ch in chans:
        await ch.aclose()
    assert [r.outcome for r in reports] == ["permanent"] * 4 + ["retry"]
    assert {e["event"] for e in logs} == {"channel.send_failed"}
    assert all(e["target"].count("***") or e["kind"] == "webhook" for e in logs)
    assert "***" in reports[0].result.detail
    assert_no_secrets(logs, reports, [repr(c) for c in chans])


async def test_sent_log_event() -> None:
    ch = channel(Mock([reply(200, "ok")]).transport, type="slack", url=SLACK_URL)
    with capture_logs() as logs:
        await ch.send(notification())
    await ch.aclose()
    (event,) = logs
    assert event["event"] == "channel.sent"
    assert event["channel"] == "slack-test"
    assert event["kind"] == "slack"
    assert event["notification_id"] == "ntf-0001"
    assert event["parts"] == 1
    assert_no_secrets(logs)


async def test_rate_limiter_is_shared_per_target() -> None:
    assert DOCUMENTED_LIMITS["wecom"] == ((20, 60),)
    assert DOCUMENTED_LIMITS["dingtalk"] == ((20, 60),)
    assert DOCUMENTED_LIMITS["feishu"] == ((5, 1), (100, 60))
    assert DOCUMENTED_LIMITS["slack"] == ((1, 1),)
    limiters = TargetLimiters()
    same = limiters.for_target("wecom", WECOM_URL)
    assert same is limiters.for_target("wecom", WECOM_URL)
    assert same is not limiters.for_target("wecom", WECOM_URL + "x")
    assert limiters.for_target("webhook", "https://h/") is None
    # two channel objects on one robot draw from one bucket
    a = build_channel(config(type="wecom", name="a", url=WECOM_URL), limiters=limiters)
    b = build_channel(config(type="wecom", name="b", url=WECOM_URL, rules=["x"]), limiters=limiters)
    c = build_channel(config(type="wecom", name="c", url=WECOM_URL + "2"), limiters=limiters)
    assert a._limiter is b._limiter  # type: ignore[attr-defined]
    assert a._limiter is not c._limiter  # type: ignore[attr-defined]
    for ch in (a, b, c):
        await ch.aclose()


def test_webhook_config_secret_is_secretstr() -> None:
    cfg = WebhookChannelConfig(name="w", url=SecretStr("https://h/"), secret=SecretStr(WH_SECRET))
    assert "**********" in repr(cfg)
    assert_no_secrets(repr(cfg))


async def test_every_channel_verifies_tls_against_the_bundle_it_shares() -> None:
    """The channels share one TLS context (certifi's bundle, built once): each still
    refuses a receiver whose certificate no CA of that bundle signed."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    seen: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server)
        await site.start()
        port = runner.addresses[0][1]
        channels = [
            channel(type="webhook", name=f"hook-{i}", url=f"https://127.0.0.1:{port}/x")
            for i in range(2)
        ]
        for ch in channels:
            report = await ch.send(notification())
            await ch.aclose()
            assert report.outcome == "retry"
            assert "CERTIFICATE_VERIFY_FAILED" in report.result.detail
    finally:
        await runner.cleanup()
    assert seen == []
