"""The command line as a user runs it: separate processes over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from monitor.simulator import DEMO_ACCOUNTS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVH_MONITOR_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    """``ivh-monitor simulate`` in its own process, on the default dataset."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--log-format", "json", "simulate", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/_sim/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)  # waiting for start-up, not timing anything
        else:
            raise AssertionError("simulator did not start")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def _config(tmp_path: Path, url: str, accounts: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "accounts": [
                    {"name": n, "appkey": k, "access_token": t, "base_url": url}
                    for n, k, t in accounts
                ],
                "client": {"rate_limit_per_second": 100},
            }
        ),
        "utf-8",
    )
    return path


def _report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "report", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )


def test_report_json_exit_1_with_soon_expiring_assets(simulator: str, tmp_path: Path) -> None:
    done = _report(_config(tmp_path, simulator, DEMO_ACCOUNTS), "--format", "json")
    assert done.returncode == 1, done.stderr
    rows = json.loads(done.stdout)
    assert {r["account"] for r in rows} == {n for n, _, _ in DEMO_ACCOUNTS[:3]}
    required = {
        "account",
        "kind",
        "id",
        "type",
        "category",
        "name",
        "expires_at",
        "expires_in_seconds",
        "remaining_seconds",
        "ordered_seconds",
        "quota_remaining",
        "quota_limit",
        "concurrency",
    }
    assert all(required <= set(r) for r in rows)
    assert rows[0]["expires_in_seconds"] < 0  # expired first
    for _, _, token in DEMO_ACCOUNTS:
        assert token not in done.stdout + done.stderr


def test_report_exit_0_for_an_empty_account(simulator: str, tmp_path: Path) -> None:
    empty = [a for a in DEMO_ACCOUNTS if a[0] == "empty-trial"]
    done = _report(_config(tmp_path, simulator, empty))
    assert done.returncode == 0, done.stderr
    assert "IVH assets" in done.stdout


def test_report_exit_2_names_account_and_endpoint(simulator: str, tmp_path: Path) -> None:
    name, appkey, _ = DEMO_ACCOUNTS[0]
    done = _report(_config(tmp_path, simulator, [(name, appkey, "revoked-token")]))
    assert done.returncode == 2
    assert f"error: services: {name}: getserviceasset: code 100005" in done.stderr
    assert "revoked-token" not in done.stdout + done.stderr


def test_report_table_shows_hours_and_beijing_dates(simulator: str, tmp_path: Path) -> None:
    done = _report(_config(tmp_path, simulator, DEMO_ACCOUNTS[:1]))
    assert "h left of" in done.stdout
    assert "CST" in done.stdout  # Asia/Shanghai
    assert "never" in done.stdout


def test_bad_config_exits_64_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("accounts: [{name: a, appkey: k, access_token: t}]\nclient: {page_size: 0}\n")
    done = _report(path)
    assert done.returncode == 64
    assert "client.page_size" in done.stderr


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("accounts: [{name: a, appkey: k, access_token: t, services: [{ExpireDate: '+7x'}]}]\n",
         "accounts[0].services[0].ExpireDate: bad relative date '+7x'"),
        ("accounts: [: bad", "not valid YAML at line 1"),
    ],
)  # fmt: skip
def test_simulate_with_a_bad_dataset_exits_64_in_one_line(
    tmp_path: Path, text: str, field: str
) -> None:
    path = tmp_path / "dataset.yaml"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "simulate", "--port", "0", "--dataset", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert done.returncode == 64
    assert done.stderr.startswith(f"ivh-monitor: simulate: {path}: ")
    assert field in done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback
