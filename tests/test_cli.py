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


# -- flags and rough edges (issue 17) -------------------------------------------------


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
        check=False,
    )


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert proc.poll() is None, "the process exited"
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)  # waiting for start-up, not timing anything
    raise AssertionError(f"{url} never answered")


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_run_takes_exporter_style_listen_and_config_flags(simulator: str, tmp_path: Path) -> None:
    config = _config(tmp_path, simulator, DEMO_ACCOUNTS[:1])
    for flag in ("--listen", "--web.listen-address"):
        port = _free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "run",
                "--config.file",
                str(config),
                flag,
                f"127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(IVH_MONITOR_STATE_DIR=str(tmp_path / "state")),
        )
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0


def test_port_out_of_range_says_so(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", DEMO_ACCOUNTS[:1])
    done = _cli("run", "--config", str(config), "--listen", "127.0.0.1:99999")
    assert done.returncode == 64
    assert "listen: Value error, port 99999 out of range (0-65535)" in done.stderr
    assert "must be host:port" not in done.stderr
    sim = _cli("simulate", "--port", "99999")
    assert sim.returncode == 2  # a usage error, from argparse
    assert "port 99999 out of range (0-65535)" in sim.stderr


def test_simulate_on_a_busy_port_is_one_line_like_run(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sim = _cli("simulate", "--port", str(port))
        config = _config(tmp_path, "http://127.0.0.1:9", DEMO_ACCOUNTS[:1])
        run = _cli(
            "--config",
            str(config),
            "run",
            "--listen",
            f"127.0.0.1:{port}",
        )
    for done in (sim, run):
        assert done.returncode == 64, done.stderr
        assert "Traceback" not in done.stderr
        error = [line for line in done.stderr.splitlines() if "cannot listen on" in line]
        assert len(error) == 1
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in error[0]


def test_every_bad_field_in_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "client: {timeout_seconds: soon}\n"
        "accounts:\n"
        "  - {name: a, appkey: k, access_token: t}\n"
        "  - {name: b, appkey: k2}\n"
    )
    done = _cli("--config", str(path), "check-config")
    assert done.returncode == 64
    assert "client.timeout_seconds:" in done.stderr
    assert "accounts[1] (b).access_token: missing" in done.stderr


def test_alerts_test_without_channels_and_list_on_a_fresh_state_dir(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", DEMO_ACCOUNTS[:1])
    state = tmp_path / "fresh"
    test = _cli("--config", str(config), "alerts", "test")
    assert test.returncode == 64
    assert "no channel configured" in test.stderr
    assert "None" not in test.stderr
    env = {"IVH_MONITOR_STATE_DIR": str(state)}
    listing = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(config),
            "alerts",
            "list",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=60,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    assert "invalid configuration" not in listing.stderr
    assert f"no alert state in {state} yet" in listing.stderr
    assert json.loads(listing.stdout) == {
        "alerts": [],
        "pending_notifications": 0,
        "dead_notifications": [],
    }


def test_killing_dev_py_demo_stops_its_daemon(tmp_path: Path) -> None:
    port = _free_port()
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, str(root / "dev.py"), "demo", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(DEV_PY_PYTHON=sys.executable, PYTHONPATH=str(root)),
        cwd=tmp_path,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        proc.send_signal(signal.SIGTERM)  # dev.py alone, not its process group
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _port_is_free(port)  # its daemon was stopped and reaped, not left serving
