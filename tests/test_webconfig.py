"""TLS and basic auth for the HTTP endpoints (exporter web config)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import bcrypt
import httpx
import pytest
import pytest_asyncio
import trustme
import yaml

from monitor.errors import ConfigError
from monitor.simulator import DEMO_ACCOUNTS, RunningSimulator, default_dataset, run_simulator
from monitor.webconfig import load_web_config
from tests.processes import fast_schedule, start_daemon

PASSWORD = "correct horse battery staple"


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


def test_plain_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = _write(tmp_path, {"basic_auth_users": {"prom": "hunter2-plain"}})
    with pytest.raises(ConfigError) as err:
        load_web_config(path)
    assert "basic_auth_users" in str(err.value)
    assert "bcrypt hash" in str(err.value)
    assert "hunter2-plain" not in str(err.value)


def test_htpasswd_variants_are_accepted(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    users = {"b": hashed, "y": "$2y$" + hashed[4:], "a": "$2a$" + hashed[4:]}
    config = load_web_config(_write(tmp_path, {"basic_auth_users": users}))
    assert sorted(config.basic_auth_users) == ["a", "b", "y"]


def test_each_bad_hash_is_one_line_naming_its_user(tmp_path: Path) -> None:
    good = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    users = {"ok": good, "short": good[:-1], "dear": good[:4] + "16" + good[6:]}
    with pytest.raises(ConfigError) as err:
        load_web_config(_write(tmp_path, {"basic_auth_users": users}))
    problems = sorted(err.value.problems)
    assert len(problems) == 2
    assert "basic_auth_users.dear" in problems[0]
    assert "cost 16" in problems[0]
    assert "basic_auth_users.short" in problems[1]
    assert "malformed bcrypt hash" in problems[1]
    assert not [p for p in problems if good[7:] in p or "\n" in p]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"tls_server_config": {"cert_file": "/nope.crt", "key_file": "/nope.key"}}, "cannot load"),
        ({"basic_auth_user": {}}, "Extra inputs are not permitted"),
        ({"tls_server_config": {"cert_file": "a"}}, "tls_server_config.key_file: Field required"),
    ],
)
def test_bad_web_config_names_the_field(tmp_path: Path, data: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_web_config(_write(tmp_path, data))


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


async def test_https_and_basic_auth_on_the_real_daemon(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = _write(
        tmp_path,
        {
            "tls_server_config": {
                "cert_file": str(tmp_path / "server.pem"),
                "key_file": str(tmp_path / "server.pem"),
            },
            "basic_auth_users": {"prometheus": hashed},
        },
    )
    name, appkey, token = DEMO_ACCOUNTS[0]
    daemon = await start_daemon(
        {
            "accounts": [
                {"name": name, "appkey": appkey, "access_token": token, "base_url": sim.url}
            ],
            "schedule": fast_schedule(),
            "state_dir": str(tmp_path / "state"),
            "web_config_file": str(web),
        },
        tmp_path,
        ca_file=str(tmp_path / "ca.pem"),
    )
    try:
        assert daemon.url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        async with httpx.AsyncClient(verify=trust) as http:
            denied = await http.get(f"{daemon.url}/metrics")
            assert denied.status_code == 401
            assert "Basic" in denied.headers["www-authenticate"]
            wrong = await http.get(f"{daemon.url}/metrics", auth=("prometheus", "nope"))
            assert wrong.status_code == 401
            ok = await http.get(f"{daemon.url}/metrics", auth=("prometheus", PASSWORD))
            assert ok.status_code == 200
            assert "ivh_asset_info" in ok.text
            assert (await http.get(f"{daemon.url}/healthz")).status_code == 200  # probes
            assert (await http.get(f"{daemon.url}/")).status_code == 401
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served
            async with httpx.AsyncClient() as plain:
                await plain.get(daemon.url.replace("https://", "http://") + "/metrics")
        with pytest.raises(httpx.ConnectError):  # an untrusted client refuses
            async with httpx.AsyncClient() as untrusting:
                await untrusting.get(f"{daemon.url}/healthz")
    finally:
        await daemon.stop()
    log = daemon.log_path.read_text("utf-8")
    assert PASSWORD not in log
    assert hashed not in log
