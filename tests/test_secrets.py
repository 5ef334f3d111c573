"""No secret anywhere: the daemon through failures at debug level, every output grepped.

Tokens and webhook secrets must not appear in any log line, metric, error,
report, status page or CLI output — whatever goes wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from monitor.simulator import DEMO_ACCOUNTS, Fault, RunningSimulator, default_dataset, run_simulator
from tests.processes import eventually, fast_schedule, run_cli, start_daemon, value

WECOM_KEY = "wecomKEY-1f2e3d4c5b6a"
DING_TOKEN = "dingTOKEN-0a9b8c7d6e5f"
DING_SECRET = "SECding-4b3c2d1e0f9a8b7c"
FEISHU_TOKEN = "feishuHOOK-77aa88bb99cc"
FEISHU_SECRET = "feishuSECRET-abcdef012345"
SLACK_PATH = "T0SECRET/B0SECRET/slackSECRETxyz"
WHSEC = "whsec_c2VjcmV0LXdlYmhvb2stc2lnbmluZy1rZXktMTIzNDU2Nzg="
REVOKED = "at-revoked-token-3c4d5e6f"

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def receivers() -> AsyncIterator[str]:
    """Chat and webhook receivers that all refuse, each in its own way."""

    async def wecom(_: web.Request) -> web.Response:
        return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})

    async def dingtalk(_: web.Request) -> web.Response:
        return web.json_response({"errcode": 310000, "errmsg": "sign not match"})

    async def feishu(_: web.Request) -> web.Response:
        return web.json_response(
            {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
        )

    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503, text="receiver down")

    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", wecom)
    app.router.add_post("/robot/send", dingtalk)
    app.router.add_post("/open-apis/bot/v2/hook/{token}", feishu)
    app.router.add_post("/services/{path:.*}", down)
    app.router.add_post("/hook", down)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


def _secrets() -> list[str]:
    tokens = [token for _, _, token in DEMO_ACCOUNTS]
    return [
        *tokens,
        WECOM_KEY,
        DING_TOKEN,
        DING_SECRET,
        FEISHU_TOKEN,
        FEISHU_SECRET,
        SLACK_PATH.rsplit("/", maxsplit=1)[-1],
        WHSEC,
        WHSEC.removeprefix("whsec_"),
        REVOKED,
    ]


def _config(sim: RunningSimulator, base: str, tmp_path: Path) -> dict[str, Any]:
    accounts = [
        {"name": n, "appkey": k, "access_token": t, "base_url": sim.url}
        for n, k, t in DEMO_ACCOUNTS[:2]
    ]
    # a third account whose token the gateway no longer accepts
    accounts.append(
        {
            "name": "revoked",
            "appkey": DEMO_ACCOUNTS[2][1],
            "access_token": REVOKED,
            "base_url": sim.url,
        }
    )
    return {
        "accounts": accounts,
        "schedule": fast_schedule(),
        "client": {
            "retries": 1,
            "rate_limit_per_second": 500,
            "timeout_seconds": 1,
            "backoff_initial_seconds": 0.01,
            "backoff_max_seconds": 0.02,
        },
        "state_dir": str(tmp_path / "state"),
        "log_level": "debug",
        "alerts": {
            "delivery": {
                "backoff_initial_seconds": 0.1,
                "backoff_max_seconds": 0.2,
                "max_attempts": 3,
            },
            "channels": [
                {
                    "name": "wecom",
                    "type": "wecom",
                    "url": f"{base}/cgi-bin/webhook/send?key={WECOM_KEY}",
                },
                {
                    "name": "ding",
                    "type": "dingtalk",
                    "url": f"{base}/robot/send?access_token={DING_TOKEN}",
                    "secret": DING_SECRET,
                },
                {
                    "name": "feishu",
                    "type": "feishu",
                    "url": f"{base}/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
                    "secret": FEISHU_SECRET,
                },
                {"name": "slack", "type": "slack", "url": f"{base}/services/{SLACK_PATH}"},
                {"name": "hook", "type": "webhook", "url": f"{base}/hook", "secret": WHSEC},
            ],
        },
    }


async def _cli(config: Path, *args: str) -> str:
    """The CLI in its own process; awaited, so the in-process simulator keeps serving."""
    _, out, _ = await run_cli(
        "--config", str(config), *args, stderr=asyncio.subprocess.STDOUT, within=120
    )
    return out


async def test_no_secret_in_any_output(
    sim: RunningSimulator, receivers: str, tmp_path: Path
) -> None:
    config = _config(sim, receivers, tmp_path)
    sim.faults.add(Fault(kind="http_error", status=500, endpoint="describetimbre", times=3))
    sim.faults.add(Fault(kind="garbage_body", endpoint="getanchor", times=2))
    sim.faults.add(Fault(kind="malformed_record", endpoint="getserviceasset", times=2))
    daemon = await start_daemon(config, tmp_path)
    outputs: dict[str, str] = {}
    try:

        async def dead_lettered() -> bool:
            samples = await daemon.metrics()
            return all(
                (value(samples, "ivh_notifications_total", channel=c, outcome="dead") or 0) > 0
                for c in ("wecom", "ding", "feishu", "slack", "hook")
            )

        await eventually(dead_lettered, "every channel's notifications refused and dead-lettered")
        async with httpx.AsyncClient() as http:
            for path in ("/metrics", "/", "/api/assets", "/api/alerts", "/healthz", "/readyz"):
                outputs[path] = (await http.get(f"{daemon.url}{path}")).text
    finally:
        await daemon.stop()
    outputs["daemon log"] = daemon.log_path.read_text("utf-8")
    config_file = tmp_path / "daemon.yaml"
    outputs["report"] = await _cli(config_file, "report")
    outputs["report json"] = await _cli(config_file, "report", "--format", "json")
    outputs["check-config"] = await _cli(config_file, "check-config")
    outputs["alerts list"] = await _cli(config_file, "alerts", "list")
    outputs["alerts test"] = await _cli(config_file, "alerts", "test")
    # the run really went through the failures we meant it to
    log = outputs["daemon log"]
    assert '"error": "auth"' in log
    assert '"event": "alert.dead_lettered"' in log
    assert "collect.record_skipped" in log
    assert "310000" in log  # DingTalk's refusal, explained
    assert '"level": "debug"' in log
    leaks = [
        (where, secret)
        for where, text in outputs.items()
        for secret in _secrets()
        if secret in text
    ]
    assert leaks == []
    # and the state store holds no secret either (channel URLs are never stored)
    raw = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir())
    assert [s for s in _secrets() if s.encode() in raw] == []


PASSWORD = "scrape-PASS-9f8e7d6c"
GUESS = "guessed-PASS-1a2b3c4d"


async def test_no_password_or_hash_in_any_output_of_basic_auth(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """Basic auth: wrong passwords (until throttled), malformed headers, the right one;
    neither password nor its bcrypt hash shows in the log, metrics, pages or CLIs."""
    import base64

    import bcrypt
    import yaml

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"ops": hashed}}), "utf-8")
    config = {
        "accounts": [
            {"name": n, "appkey": k, "access_token": t, "base_url": sim.url}
            for n, k, t in DEMO_ACCOUNTS[:1]
        ],
        "schedule": fast_schedule(),
        "state_dir": str(tmp_path / "state"),
        "log_level": "debug",
        "web_config_file": str(web),
    }
    daemon = await start_daemon(config, tmp_path)
    outputs: dict[str, str] = {}
    try:
        async with httpx.AsyncClient(auth=("ops", PASSWORD)) as http:
            for path in ("/metrics", "/", "/api/assets", "/api/alerts"):
                got = await http.get(f"{daemon.url}{path}")
                assert got.status_code == 200, path
                outputs[path] = got.text
        async with httpx.AsyncClient() as http:
            statuses = set()
            for user in ("ops", "nobody", PASSWORD):
                for _ in range(6):  # past the failure burst: throttled
                    answer = await http.get(f"{daemon.url}/metrics", auth=(user, GUESS))
                    statuses.add(answer.status_code)
            raw = base64.b64encode(f"{GUESS}{PASSWORD}".encode()).decode()  # no colon
            await http.get(f"{daemon.url}/", headers={"Authorization": f"Basic {raw}"})
            assert statuses <= {401, 429}
            assert 429 in statuses
            outputs["/healthz"] = (await http.get(f"{daemon.url}/healthz")).text
    finally:
        await daemon.stop()
    outputs["daemon log"] = daemon.log_path.read_text("utf-8")
    assert '"event": "http.auth_failed"' in outputs["daemon log"]
    outputs["check-config"] = await _cli(tmp_path / "daemon.yaml", "check-config")
    assert '"basic_auth_users": [' in outputs["check-config"]
    secrets = [PASSWORD, GUESS, hashed, hashed[7:]]  # the hash, and its salt and digest
    leaks = [(where, s) for where, text in outputs.items() for s in secrets if s in text]
    assert leaks == []
