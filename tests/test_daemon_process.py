"""The real daemon process against the simulator over HTTP: what a user would see."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.simulator import DEMO_ACCOUNTS, Fault, RunningSimulator, default_dataset, run_simulator

BEIJING = timezone(timedelta(hours=8))
ACCOUNTS = DEMO_ACCOUNTS[:2]  # xinghe-live, lanjing-studio
LIVE = ACCOUNTS[0][0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    url: str
    process: asyncio.subprocess.Process
    log_path: Path

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"{self.url}/metrics")).text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        }

    async def wait_for(
        self, predicate: Callable[[dict[tuple[str, frozenset[tuple[str, str]]], float]], bool]
    ) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        for _ in range(300):
            samples = await self.metrics()
            if predicate(samples):
                return samples
            await asyncio.sleep(0.1)
        raise AssertionError("the daemon's metrics never reached the expected state")

    def log_events(self) -> list[dict[str, object]]:
        events = []
        for line in self.log_path.read_text("utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"log line is not one JSON event: {line!r}") from None
        return events


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    for (n, lbls), v in samples.items():
        if n == name and all((k, val) in lbls for k, val in labels.items()):
            return v
    return None


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


@pytest_asyncio.fixture
async def daemon(sim: RunningSimulator, tmp_path: Path) -> AsyncIterator[Daemon]:
    port = _free_port()
    config = {
        "accounts": [
            {"name": name, "appkey": appkey, "access_token": token, "base_url": sim.url}
            for name, appkey, token in ACCOUNTS
        ],
        "listen": f"127.0.0.1:{port}",
        "schedule": {
            "services_seconds": 1,
            "timbres_seconds": 1,
            "images_seconds": 1,
            "actions_seconds": 1,
            "jitter_seconds": 0,
        },
        "client": {"retries": 0, "rate_limit_per_second": 500, "timeout_seconds": 2},
        "log_level": "debug",
        "state_dir": str(tmp_path / "state"),
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    log_path = tmp_path / "daemon.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVH_MONITOR_")}
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(path),
            "--log-format",
            "json",
            "run",
            stdout=log_file,
            stderr=log_file,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                if process.returncode is not None:
                    raise AssertionError(log_path.read_text("utf-8"))
                try:
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("daemon never became ready:\n" + log_path.read_text("utf-8"))
        yield Daemon(url, process, log_path)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 10)


async def test_metrics_match_the_dataset(sim: RunningSimulator, daemon: Daemon) -> None:
    samples = await daemon.metrics()
    raw = sim.dataset.account(LIVE)
    remaining = sorted(
        v
        for (n, lbls), v in samples.items()
        if n == "ivh_service_remaining_seconds" and ("account", LIVE) in lbls
    )
    expected = sorted(
        s["UniversalHourInfoDetail"]["RemainMilliseconds"] / 1000
        for s in raw.services
        if "UniversalHourInfoDetail" in s
    )
    assert remaining == expected
    for timbre in raw.timbres:
        expiry = value(
            samples, "ivh_asset_expiry_timestamp_seconds", account=LIVE, asset=timbre["TimbreKey"]
        )
        if timbre.get("ExpireDate"):
            when = datetime.strptime(timbre["ExpireDate"], "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=BEIJING
            )
            assert expiry == when.timestamp()
        else:
            assert expiry is None  # never expires: no expiry series, not 0
            assert value(samples, "ivh_asset_info", account=LIVE, asset=timbre["TimbreKey"]) == 1
    for family in ("services", "timbres", "images", "actions"):
        assert value(samples, "ivh_collection_success", account=LIVE, family=family) == 1
    assert value(samples, "ivh_build_info") == 1
    assert value(
        samples,
        "ivh_api_requests_total",
        account=LIVE,
        endpoint="getserviceasset",
        outcome="success",
    )


async def test_failing_family_keeps_its_values_and_flips_success(
    sim: RunningSimulator, daemon: Daemon
) -> None:
    before = await daemon.metrics()
    key = sim.dataset.account(LIVE).timbres[0]["TimbreKey"]
    audio = value(before, "ivh_timbre_audio_seconds_total", account=LIVE, asset=key)
    assert audio is not None
    sim.faults.add(
        Fault(
            kind="api_error",
            account=LIVE,
            endpoint="describetimbre",
            code=100009,
            message="InternalError.DataNotExist:记录不存在",
        )
    )
    after = await daemon.wait_for(
        lambda s: value(s, "ivh_collection_success", account=LIVE, family="timbres") == 0
    )
    assert value(after, "ivh_timbre_audio_seconds_total", account=LIVE, asset=key) == audio
    assert value(after, "ivh_collection_stale", account=LIVE, family="timbres") == 1
    assert value(after, "ivh_collection_success", account=LIVE, family="services") == 1
    assert value(after, "ivh_collection_success", account=ACCOUNTS[1][0], family="timbres") == 1
    failures = [e for e in daemon.log_events() if e.get("event") == "api.call_failed"]
    assert failures
    assert {k: failures[0][k] for k in ("account", "endpoint", "code", "message")} == {
        "account": LIVE,
        "endpoint": "describetimbre",
        "code": 100009,
        "message": "InternalError.DataNotExist:记录不存在",
    }
    assert isinstance(failures[0]["request_id"], str)
    assert len(failures[0]["request_id"]) == 32


async def test_asset_removed_upstream_disappears(sim: RunningSimulator, daemon: Daemon) -> None:
    key = sim.dataset.account(LIVE).timbres[0]["TimbreKey"]
    assert value(await daemon.metrics(), "ivh_asset_info", account=LIVE, asset=key) == 1
    assert sim.dataset.account(LIVE).remove("timbres", TimbreKey=key) == 1
    after = await daemon.wait_for(
        lambda s: value(s, "ivh_asset_info", account=LIVE, asset=key) is None
    )
    assert value(after, "ivh_timbre_audio_seconds_total", account=LIVE, asset=key) is None
    assert value(after, "ivh_collection_success", account=LIVE, family="timbres") == 1


async def test_http_endpoints(daemon: Daemon) -> None:
    async with httpx.AsyncClient() as http:
        raw = await http.get(f"{daemon.url}/metrics", headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        assert "ivh_asset_info" in raw.text  # httpx decodes it
        plain = await http.get(f"{daemon.url}/metrics", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.headers["content-type"].startswith("text/plain")
        assert (await http.get(f"{daemon.url}/healthz")).status_code == 200
        index = await http.get(f"{daemon.url}/")
        assert "/metrics" in index.text
        assert "/healthz" in index.text
        assert "/readyz" in index.text
    assert gzip.decompress(gzip.compress(b"x")) == b"x"


async def test_promtool_check_metrics_is_clean(daemon: Daemon) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required in CI (Debian package prometheus)")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{daemon.url}/metrics")).text
    check = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await check.communicate(text.encode())
    assert check.returncode == 0, out.decode()


async def test_sigterm_stops_cleanly_and_no_secret_is_logged(
    sim: RunningSimulator, daemon: Daemon
) -> None:
    sim.faults.add(Fault(kind="http_error", status=500, account=LIVE, endpoint="getserviceasset"))
    await daemon.wait_for(
        lambda s: value(s, "ivh_collection_success", account=LIVE, family="services") == 0
    )
    async with httpx.AsyncClient() as http:
        scrape = (await http.get(f"{daemon.url}/metrics")).text
    daemon.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(daemon.process.wait(), 5) == 0
    log = daemon.log_path.read_text("utf-8")
    assert '"event": "daemon.stopped"' in log
    for _, _, token in ACCOUNTS:
        assert token not in log
        assert token not in scrape
