"""``ivh-monitor alerts list`` and ``alerts test``, and the webhook shortcut variable."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.config import AlertsConfig
from monitor.alerts.engine import AlertEngine
from monitor.alerts.store import StateStore
from monitor.cli import main
from monitor.config import load_settings
from tests.alerting import SHANGHAI, Clock, collected, snapshot_store, voice


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared by the test server
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    _Hook.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook?key=s3cret-robot-key"
    server.shutdown()
    server.server_close()


def test_alerts_test_sends_to_the_webhook_shortcut(
    hook: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVH_MONITOR_ALERT_WEBHOOK_URL", hook)
    assert main(["alerts", "test"]) == 0
    out = capsys.readouterr().out
    assert "webhook (webhook" in out
    assert "delivered" in out
    assert "s3cret-robot-key" not in out  # the URL's secret is masked
    [body] = _Hook.received
    assert body["version"] == "4"
    assert body["alerts"][0]["annotations"]["summary"].startswith("ivh-monitor test message")


def test_alerts_test_exits_1_when_the_receiver_refuses(
    hook: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _Hook.status = 400
    monkeypatch.setenv("IVH_MONITOR_ALERT_WEBHOOK_URL", hook)
    assert main(["alerts", "test", "--channel", "webhook"]) == 1
    assert "permanent" in capsys.readouterr().out


def test_alerts_test_names_an_unknown_channel(
    hook: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVH_MONITOR_ALERT_WEBHOOK_URL", hook)
    assert main(["alerts", "test", "--channel", "nope"]) == 64
    assert "no channel 'nope' (channels: webhook)" in capsys.readouterr().err


def test_alerts_list_reads_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    state = StateStore(tmp_path / "state.sqlite3")
    engine = AlertEngine(AlertsConfig(), state, [], zones={"acme": SHANGHAI}, started_at=clock.now)
    snap = snapshot_store()
    collected(snap, clock.now, voice("female_1", expires_in_days=3))
    engine.evaluate(snap.current, "acme", clock.now)
    state.close()

    monkeypatch.setenv("IVH_MONITOR_STATE_DIR", str(tmp_path))
    capsys.readouterr()  # drop the engine's log lines
    assert main(["alerts", "list", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [alert] = data["alerts"]
    assert (alert["status"], alert["rule"], alert["asset"], alert["severity"]) == (
        "firing",
        "expiring",
        "female_1",
        "critical",
    )
    assert main(["alerts", "list"]) == 0
    assert "female_1" in capsys.readouterr().out


def test_alerts_list_without_state_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVH_MONITOR_STATE_DIR", str(tmp_path / "none"))
    # a fresh state dir is no configuration error: there are no alerts yet
    assert main(["alerts", "list"]) == 0
    out = capsys.readouterr()
    assert f"no alert state in {tmp_path / 'none'} yet" in out.err
    assert "invalid configuration" not in out.err
    assert "0 notification(s) pending delivery" in out.out


def test_webhook_shortcut_secret_not_in_check_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVH_MONITOR_APPKEY", "k")
    monkeypatch.setenv("IVH_MONITOR_ACCESS_TOKEN", "t0ken-value")
    monkeypatch.setenv(
        "IVH_MONITOR_ALERT_WEBHOOK_URL", "https://hooks.example/x?key=s3cret-robot-key"
    )
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-robot-key" not in out
    assert "t0ken-value" not in out
    settings = load_settings()
    assert [c.name for c in settings.effective_alerts().channels] == ["webhook"]
