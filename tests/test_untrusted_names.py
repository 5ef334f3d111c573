"""Hostile asset names through the real CLIs and the real daemon, over real HTTP.

Asset, anchor and voice names are free text typed by whoever set the asset up.
Here they carry rich markup, terminal escape codes (CSI, OSC 8 links, C1), bidi
overrides, line breaks and a lone surrogate, served by the simulator; the
commands must print them as inert text, keep the exit status the assets call
for (0/1/2), and never show a traceback. Unexpected errors get exit 70 and one
``error:`` line; a reader that goes away (``report | head -1``) exit 141, quietly.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from monitor import cli
from monitor.simulator import RunningSimulator, run_simulator
from monitor.simulator.loader import dataset_from_dict
from monitor.text import UNSAFE, printable
from tests.processes import clean_env, eventually, fast_schedule, run_cli, start_daemon

HOSTILE = (
    "[/bold] 促销",
    "[link=https://evil.example/]renew here[/link]",
    "\x1b[31mred\x1b[0m",
    "\u202eevil",
    "line one\nline two",
    "osc \x1b]8;;https://evil.example/\x07click\x1b]8;;\x07",
    "c1 \x9b31m csi \x85 nel",
    ':warning: **bold** <img src=x onerror="alert(1)">',
    "\ud800 lone",  # valid JSON ("\ud800"), no character: U+FFFD from the client on
)
#: what each name is once parsed by the client (the lone surrogate becomes U+FFFD)
RECEIVED = tuple(name.replace("\ud800", "\ufffd") for name in HOSTILE)
TOKEN = "at-hostile-never-shown"
SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colours on a terminal


def _voices(days: str) -> list[dict[str, Any]]:
    return [
        {"TimbreKey": f"v{i}", "TimbreName": name, "TimbreType": "Boutique", "ExpireDate": days}
        for i, name in enumerate(HOSTILE)
    ]


def _account(name: str, days: str) -> dict[str, Any]:
    return {"name": name, "appkey": f"ak-{name}", "access_token": TOKEN, "timbres": _voices(days)}


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """``calm``: hostile voices expiring in 200 days; ``urgent``: the same, tomorrow;
    ``failing``: its voice listing answers an error whose message is hostile too."""
    now = datetime.now(UTC)
    data = {
        "accounts": [
            _account("calm", "+200d"),
            _account("urgent", "+1d"),
            _account("failing", "+200d"),
        ]
    }
    async with run_simulator(dataset_from_dict(data, now)) as running:
        running.faults.add(
            {
                "kind": "api_error",
                "account": "failing",
                "endpoint": "describetimbre",
                "code": 100005,  # credentials refused: not retried
                "message": "\x1b]8;;https://evil.example/\x07[bold]renew[/bold]\nsecond line",
            }
        )
        yield running


def _config(tmp_path: Path, sim: RunningSimulator, *names: str, **extra: Any) -> Path:
    path = tmp_path / "config.yaml"
    accounts = [
        {"name": n, "appkey": f"ak-{n}", "access_token": TOKEN, "base_url": sim.url} for n in names
    ]
    config = {"accounts": accounts, "client": {"rate_limit_per_second": 500}, **extra}
    path.write_text(yaml.safe_dump(config), "utf-8")
    return path


def _inert(text: str) -> None:
    """No character that could steer a terminal: no ESC, C1, bidi mark, BEL, CR."""
    found = UNSAFE.search(text.replace("\n", ""))
    assert found is None, f"raw {found.group()!r} in output"


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err
    assert "MarkupError" not in err
    assert TOKEN not in err


async def test_report_table_shows_hostile_names_as_text(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    status, out, err = await run_cli("--config", str(_config(tmp_path, sim, "calm")), "report")
    assert status == 0, err  # 200 days left: nothing critical
    _no_traceback(err)
    _inert(out)
    for name in RECEIVED:
        assert printable(name) in out, name  # literally: no tag eaten, no link made
    assert r"\x1b[31mred\x1b[0m" in out
    assert r"\u202eevil" in out
    assert r"line one\nline two" in out  # one row, the break shown


async def test_report_on_a_terminal_draws_no_markup_from_names(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """On a pseudo-terminal rich colours its table; the names still change nothing."""
    config = _config(tmp_path, sim, "calm")
    master, slave = pty.openpty()
    env = {**clean_env(), "TERM": "xterm-256color", "COLUMNS": "250"}
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(config),
            "report",
            stdout=slave,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        os.close(slave)
        slave = -1
        raw = await asyncio.to_thread(_read_pty, master)
        err = (await asyncio.wait_for(process.communicate(), 60))[1].decode("utf-8")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert process.returncode == 0, err
    _no_traceback(err)
    out = raw.decode("utf-8").replace("\r\n", "\n")
    assert SGR.search(out) is not None  # it is a terminal: rich did colour the table
    plain = SGR.sub("", out)
    assert "\x1b" not in plain  # every escape is one of rich's colours: no OSC 8, no CSI
    _inert(plain)
    for name in RECEIVED:
        assert printable(name) in plain, name


def _read_pty(fd: int) -> bytes:
    chunks: list[bytes] = []
    for _ in range(10_000):  # bounded: the report is a few kilobytes
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            raise AssertionError("report wrote nothing for 60 s")
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_report_exit_status_is_what_the_assets_say(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    config = str(_config(tmp_path, sim, "urgent"))
    status, out, err = await run_cli("--config", config, "report")
    assert status == 1, err  # due tomorrow: critical, whatever the names
    _no_traceback(err)
    _inert(out)
    status, out, err = await run_cli("--config", config, "report", "--format", "json")
    assert status == 1, err
    rows = json.loads(out)
    assert sorted(r["name"] for r in rows) == sorted(RECEIVED)  # exact, not neutralised
    _inert(out)  # controls, C1 and bidi marks as \u escapes: still exact JSON


async def test_report_exit_2_prints_a_hostile_vendor_message_inert(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    status, out, err = await run_cli("--config", str(_config(tmp_path, sim, "failing")), "report")
    assert status == 2, err
    _no_traceback(err)
    _inert(err)
    [line] = [x for x in err.splitlines() if x.startswith("error: timbres:")]
    assert r"\x1b]8;;https://evil.example/\x07[bold]renew[/bold]\nsecond line" in line
    _inert(out)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


async def test_daemon_status_page_api_and_alerts_list(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """The daemon alerts on the urgent voices; its page, its API and ``alerts list``
    show the hostile names escaped (HTML), exact (JSON) and inert (terminal)."""
    names = ("urgent", "calm")
    accounts = [
        {"name": n, "appkey": f"ak-{n}", "access_token": TOKEN, "base_url": sim.url} for n in names
    ]
    state_dir = str(tmp_path / "state")
    config = {
        "accounts": accounts,
        "schedule": fast_schedule(),
        "client": {"retries": 0, "rate_limit_per_second": 500},
        "state_dir": state_dir,
    }
    daemon = await start_daemon(config, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=daemon.url) as http:

            async def alerted() -> bool:
                firing = (await http.get("/api/alerts", params={"status": "firing"})).json()
                return len({a["asset"] for a in firing}) == len(HOSTILE)

            await eventually(alerted, "an alert per urgent voice")
            page = await http.get("/")
            assets = (await http.get("/api/assets", params={"account": "calm"})).json()
            alerts = (await http.get("/api/alerts")).json()
    finally:
        assert await daemon.stop() == 0
    assert page.status_code == 200
    parsed = _Elements()
    parsed.feed(page.text)
    parsed.close()
    assert "img" not in parsed.tags  # no element, no attribute came from a name
    assert "onerror" not in parsed.attributes
    text = "".join(parsed.text)
    assert '<img src=x onerror="alert(1)">' in text  # shown, as text
    assert "[/bold] 促销" in text
    assert sorted(a["name"] for a in assets) == sorted(RECEIVED)  # the API: exact
    assert all(a["summary"] for a in alerts)

    cli_config = _config(tmp_path, sim, *names, state_dir=state_dir)
    status, out, err = await run_cli("--config", str(cli_config), "alerts", "list")
    assert status == 0, err
    _no_traceback(err)
    _inert(out)
    assert "[/bold] 促销" in out
    assert "[link=https://evil.example/]" in out
    status, out, err = await run_cli(
        "--config", str(cli_config), "alerts", "list", "--format", "json"
    )
    assert status == 0, err
    _inert(out)
    summaries = [a["summary"] for a in json.loads(out)["alerts"]]
    assert any('"line one line two"' in s for s in summaries)  # the name on one line
    assert any(r"\x1b[31mred\x1b[0m" in s for s in summaries)  # inert in every channel


# -- unexpected errors --------------------------------------------------------------


async def test_an_unwritable_stdout_is_exit_70_with_one_error_line(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    try:
        full = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    except FileNotFoundError:
        pytest.skip("no /dev/full")
    try:
        config = str(_config(tmp_path, sim, "urgent"))
        status, _, err = await run_cli("--config", config, "report", stdout=full)
    finally:
        os.close(full)
    assert status == cli.EXIT_SOFTWARE
    [line] = err.splitlines()  # one line, no traceback, no "Exception ignored" at exit
    assert line.startswith("ivh-monitor: error: report: unexpected OSError")
    assert "No space left on device" in line


@pytest.mark.parametrize("fmt", ["table", "json"])
async def test_a_reader_that_goes_away_is_exit_141_quietly(
    sim: RunningSimulator, tmp_path: Path, fmt: str
) -> None:
    """``report | head -1``: the pipe closes before the table is written."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the report starts
    try:
        config = str(_config(tmp_path, sim, "urgent"))
        status, _, err = await run_cli("--config", config, "report", "--format", fmt, stdout=write)
    finally:
        os.close(write)
    assert status == cli.EXIT_PIPE
    assert err == ""


def test_an_exception_in_a_command_is_exit_70_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        del args
        raise KeyError("\x1b[31msecret-looking detail")

    monkeypatch.setitem(cli._COMMANDS, "check-config", broken)  # the dispatch table
    assert cli.main(["check-config"]) == cli.EXIT_SOFTWARE
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("ivh-monitor: error: check-config: unexpected KeyError at monitor/")
    assert "secret-looking" not in line  # a message may quote anything: not shown
    assert "--log-level debug" in line

    assert cli.main(["--log-level", "debug", "check-config"]) == cli.EXIT_SOFTWARE
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("ivh-monitor: error: check-config: unexpected KeyError")
    assert "Traceback (most recent call last)" in err  # asked for: the traceback too


# -- check-config and alerts test -----------------------------------------------------


async def test_check_config_prints_hostile_labels_exact_and_inert(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    label = "\x1b]8;;https://evil.example/\x07team\u202e\x85"
    account = {"name": "calm", "appkey": "ak-calm", "access_token": TOKEN, "base_url": sim.url}
    path.write_text(yaml.safe_dump({"accounts": [{**account, "labels": {"team": label}}]}))
    status, out, err = await run_cli("--config", str(path), "check-config")
    assert status == 0, err
    _inert(out)
    document, ok = out.rsplit("\n", 2)[0], out.rsplit("\n", 2)[1]
    assert ok == "configuration OK"
    assert json.loads(document)["effective_accounts"][0]["labels"] == {"team": label}


async def test_alerts_test_prints_a_hostile_receiver_answer_inert(tmp_path: Path) -> None:
    async def refuse(request: web.Request) -> web.Response:
        del request
        return web.Response(status=400, text="\x1b]8;;https://evil.example/\x07renew\x1b[2J\n")

    app = web.Application()
    app.router.add_post("/hook", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        env = {**clean_env(), "IVH_MONITOR_ALERT_WEBHOOK_URL": url}
        status, out, err = await run_cli("alerts", "test", env=env)
    finally:
        await runner.cleanup()
    assert status == 1, err  # not delivered
    _no_traceback(err)
    _inert(out)
    assert r"refused with HTTP 400: \x1b]8;;https://evil.example/\x07renew\x1b[2J" in out
