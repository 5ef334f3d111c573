"""Issue 12's acceptance property: a name is text, whatever it holds, everywhere.

Generated asset names and ids (rich markup, Markdown, HTML, terminal escapes,
line breaks, bidi marks, zero-width and astral characters, combining marks,
very long strings) go through every renderer in-process: the ``report`` table
(on a forced terminal) and JSON, ``alerts list``, the status page, the ``/api``
JSON, and each alert channel's payload (built and posted to a mock transport,
as tests/alerts/channels/test_channels.py does). Nothing may crash; no markup may be live.
tests/test_untrusted_names.py runs the real CLIs and the real daemon with a
fixed set of such names.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from rich.console import Console

from monitor.alerts.channels import TargetLimiters, build_channel, parse_channel_config
from monitor.alerts.cli import list_alerts
from monitor.alerts.config import AlertsConfig
from monitor.alerts.engine import AlertEngine
from monitor.alerts.records import Alert, Notification
from monitor.alerts.store import StateStore
from monitor.config import Account, load_settings
from monitor.domain import Asset, FamilyResult, Problem
from monitor.report import ReportResult, print_problems, render_json, render_table
from monitor.snapshot import FamilyState
from monitor.status.api import alerts_json, assets_json
from monitor.status.page import render_page
from monitor.status.view import AccountStatus, AlertItem, StatusData
from monitor.text import UNSAFE, json_text, printable
from tests.alerting import collected, snapshot_store
from tests.strategies import hostile_names

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _account(name: str = "acme") -> Account:
    return Account(
        name=name,
        appkey="ak",
        access_token=SecretStr("at-never-shown"),
        base_url="http://127.0.0.1:9",
        zone=SHANGHAI,
        labels={},
    )


def _assets(name: str, key: str) -> list[Asset]:
    return [
        Asset("acme", "timbre", key, "Boutique", name, T0 + timedelta(days=2)),
        Asset("acme", "image", key + "-img", name, name, T0 + timedelta(days=40)),
        Asset("acme", "timbre", "unknown", "Boutique", name, None, expiry_unknown=True),
    ]


def _inert(text: str) -> None:
    found = UNSAFE.search(text.replace("\n", ""))
    assert found is None, f"raw {found.group()!r}"


# -- the terminal ------------------------------------------------------------------


def _report(name: str, key: str) -> ReportResult:
    family = FamilyResult(
        "acme",
        "timbres",
        assets=tuple(_assets(name, key)),
        problems=(Problem("describetimbre", 3, key, f"bad record {name}"),),
    )
    return ReportResult(T0, (_account(),), (family,))


def _check_table(name: str, key: str) -> None:
    out = io.StringIO()
    width = 5 * len(printable(name)) + 300  # wide enough for no name to fold (twice a row)
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=width)
    render_table(_report(name, key), console, load_settings(None))
    drawn = out.getvalue()
    plain = SGR.sub("", drawn)
    assert "\x1b" not in plain  # rich's colours only: no OSC 8 link, no CSI from the name
    _inert(plain)
    assert printable(name) in plain  # literally: no markup tag eaten, no emoji code replaced

    err = io.StringIO()
    print_problems(_report(name, key), err)
    _inert(err.getvalue())
    assert printable(f"skipped record #3 ({key}): bad record {name}") in err.getvalue()


def _check_report_json(name: str, key: str) -> None:
    out = io.StringIO()
    render_json(_report(name, key), out)
    _inert(out.getvalue())
    out.getvalue().encode("utf-8")
    assert {r["name"] for r in json.loads(out.getvalue())} == {name}  # exact


# -- alerts: the engine's texts, the store, ``alerts list``, the page, the API ------------


def _alerts(name: str, key: str, state_dir: Path) -> list[Alert]:
    state = StateStore(state_dir / "state.sqlite3")
    try:
        engine = AlertEngine(AlertsConfig(), state, [], zones={"acme": SHANGHAI}, started_at=T0)
        snap = snapshot_store()
        collected(snap, T0, *_assets(name, key))
        engine.evaluate(snap.current, "acme", T0)
        return [row.alert for row in state.alerts()]
    finally:
        state.close()


def _check_alerts_list(state_dir: Path, name: str) -> None:
    config = load_settings(None, state_dir=str(state_dir))
    out = io.StringIO()
    assert list_alerts(config, out) == 0
    _inert(out.getvalue())
    out = io.StringIO()
    assert list_alerts(config, out, fmt="json") == 0
    _inert(out.getvalue())
    data = json.loads(out.getvalue())
    assert data["alerts"]
    assert all("\n" not in a["summary"] for a in data["alerts"])  # the name on one line
    del name


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, tuple(sorted(a for a, _ in attrs))))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _page(name: str, key: str, alerts: list[Alert]) -> _Page:
    items = tuple(AlertItem(a, T0, None, None) for a in alerts)
    families = tuple(
        FamilyState("acme", f, 300, last_success=T0, last_attempt=T0, success=True)
        for f in ("services", "timbres", "images", "actions")
    )
    account = AccountStatus(
        name="acme",
        zone=SHANGHAI,
        assets=tuple(_assets(name, key)),
        families=families,
        forecasts={},
        usage={},
        alerts=items,
    )
    data = StatusData(
        now=T0,
        language="en",
        critical_days=7,
        warning_days=30,
        stale_after_seconds=3600,
        accounts=(account,),
        channels=(),
        version="9.9.9",
    )
    status, html = render_page(data)
    assert status == 200
    parsed = _Page()
    parsed.feed(html)
    parsed.close()
    return parsed


def _check_page(name: str, key: str, alerts: list[Alert]) -> None:
    # the same page for a plain name has the same elements with the same attributes:
    # none came from the name
    benign = _plain_page()
    parsed = _page(name, key, alerts)
    assert Counter(parsed.elements) == Counter(benign.elements)
    if name.strip() and len(name) < 200:
        assert name.strip()[:20] in "".join(parsed.text)  # shown, as text


@cache
def _plain_page() -> _Page:
    with tempfile.TemporaryDirectory() as tmp:
        return _page("plain", "plain", _alerts("plain", "plain", Path(tmp)))


def _check_api(name: str, key: str, alerts: list[Alert]) -> None:
    body = json_text(assets_json(_assets(name, key), T0), indent=1)  # as /api/assets
    _inert(body)
    assert {r["name"] for r in json.loads(body)} == {name}
    items = [AlertItem(a, T0, None, None) for a in alerts]
    body = json_text(alerts_json(items), indent=1)  # as /api/alerts
    _inert(body)
    assert len(json.loads(body)) == len(alerts)


# -- alert channels -------------------------------------------------------------------

_CHANNELS: dict[str, dict[str, Any]] = {
    "webhook": {"url": "https://hooks.example/x"},
    "alertmanager": {"urls": ["http://am:9093"]},
    "wecom": {"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wk-never-shown"},
    "dingtalk": {"url": "https://oapi.dingtalk.com/robot/send?access_token=dt-never-shown"},
    "feishu": {"url": "https://open.feishu.cn/open-apis/bot/v2/hook/fs-never-shown"},
    "slack": {"url": "https://hooks.slack.com/services/T0/B0/never-shown"},
}


def _answer(request: httpx.Request) -> httpx.Response:
    if request.url.host == "hooks.slack.com":
        return httpx.Response(200, text="ok")
    return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _within_limits(kind: str, body: bytes, payload: Any) -> None:
    if kind in {"dingtalk", "feishu"}:
        assert len(body) <= 20000
    elif kind == "wecom":
        content = payload.get("markdown", payload.get("text", {}))["content"]
        assert len(content.encode("utf-8")) <= 4096
    elif kind == "slack":
        sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
        assert len(payload["blocks"]) <= 50
        assert all(len(s) <= 3000 for s in sections)
        assert sum(map(len, sections)) <= 12000


async def _payloads(kind: str, alerts: list[Alert], language: str) -> list[tuple[bytes, Any]]:
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return _answer(request)

    config = parse_channel_config({"name": f"{kind}-test", "type": kind, **_CHANNELS[kind]})
    channel = build_channel(
        config, transport=httpx.MockTransport(record), limiters=TargetLimiters({})
    )
    try:
        await channel.send(
            Notification(
                id="ntf-1",
                channel=config.name,
                reason="firing",
                created_at=T0,
                alerts=tuple(alerts),
                language=language,  # type: ignore[arg-type]
            )
        )
    finally:
        await channel.aclose()
    assert requests, kind
    return [(r.content, json.loads(r.content)) for r in requests]


def _line_breaks(payloads: list[tuple[bytes, Any]]) -> int:
    return sum(s.count("\n") for _, p in payloads for s in _strings(p))


_BASELINES: dict[tuple[str, str], int] = {}


async def _baseline(kind: str, language: str) -> int:
    """Line breaks in the message of a plain name (computed once per channel)."""
    if (kind, language) not in _BASELINES:
        with tempfile.TemporaryDirectory() as tmp:
            plain = _alerts("plain", "k", Path(tmp))
        _BASELINES[kind, language] = _line_breaks(await _payloads(kind, plain, language))
    return _BASELINES[kind, language]


async def _check_channels(name: str, alerts: list[Alert]) -> None:
    for kind in _CHANNELS:
        for language in ("en", "zh"):
            payloads = await _payloads(kind, alerts, language)  # no crash
            for body, payload in payloads:  # valid JSON (parsed above), within limits
                body.decode("utf-8")
                _within_limits(kind, body, payload)
            if len(name) < 200 and kind not in {"webhook", "alertmanager"}:
                # the name on one line: it adds no line break to the message
                assert _line_breaks(payloads) == await _baseline(kind, language), kind
            # that the name is inert in each chat payload (no live link, emphasis,
            # heading or mention) is the property of tests/alerts/channels/test_escape.py,
            # with one checker per channel syntax


# -- the property ---------------------------------------------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(name=hostile_names, key=hostile_names)
def test_a_name_is_text_in_every_renderer(name: str, key: str) -> None:
    key = key[:64] or "k"  # an id: shorter, never empty (the vendor's keys)
    _check_table(name, key)
    _check_report_json(name, key)
    with tempfile.TemporaryDirectory() as tmp:
        alerts = _alerts(name, key, Path(tmp))
        assert alerts  # the voice due in 2 days fires
        _check_alerts_list(Path(tmp), name)
    _check_page(name, key, alerts)
    _check_api(name, key, alerts)
    with tempfile.TemporaryDirectory() as tmp:
        # the asset id stays plain here: how a chat message shows labels is 12.2's (below)
        named = _alerts(name, "k", Path(tmp))
    asyncio.run(_check_channels(name, named))
