"""The real daemon process against the simulator over HTTP: what a user would see."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from monitor.simulator import DEMO_ACCOUNTS, Fault, RunningSimulator
from tests.processes import (
    DaemonProcess,
    eventually,
    fast_schedule,
    require_tool,
    start_daemon,
    value,
)

BEIJING = timezone(timedelta(hours=8))
ACCOUNTS = DEMO_ACCOUNTS[:2]  # xinghe-live, lanjing-studio
LIVE = ACCOUNTS[0][0]


@pytest.fixture
def sim(demo_sim: RunningSimulator) -> RunningSimulator:
    """The daemon watches two of the demo accounts."""
    return demo_sim


@pytest_asyncio.fixture
async def daemon(sim: RunningSimulator, tmp_path: Path) -> AsyncIterator[DaemonProcess]:
    config = {
        "accounts": [
            {"name": name, "appkey": appkey, "access_token": token, "base_url": sim.url}
            for name, appkey, token in ACCOUNTS
        ],
        "schedule": fast_schedule(),
        "client": {"retries": 0, "rate_limit_per_second": 500, "timeout_seconds": 2},
        "state_dir": str(tmp_path / "state"),
        "grafana_url": "https://grafana.example.com/d/ivh-monitor",
    }
    daemon = await start_daemon(config, tmp_path)
    try:
        yield daemon
    finally:
        await daemon.stop()


async def test_metrics_match_the_dataset(sim: RunningSimulator, daemon: DaemonProcess) -> None:
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
    sim: RunningSimulator, daemon: DaemonProcess
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
    after = await daemon.metrics_until(
        lambda s: value(s, "ivh_collection_success", account=LIVE, family="timbres") == 0
    )
    assert value(after, "ivh_timbre_audio_seconds_total", account=LIVE, asset=key) == audio
    assert value(after, "ivh_collection_stale", account=LIVE, family="timbres") == 1
    assert value(after, "ivh_collection_success", account=LIVE, family="services") == 1
    assert value(after, "ivh_collection_success", account=ACCOUNTS[1][0], family="timbres") == 1
    failures = daemon.events("api.call_failed")
    assert failures
    assert {k: failures[0][k] for k in ("account", "endpoint", "code", "message")} == {
        "account": LIVE,
        "endpoint": "describetimbre",
        "code": 100009,
        "message": "InternalError.DataNotExist:记录不存在",
    }
    assert isinstance(failures[0]["request_id"], str)
    assert len(failures[0]["request_id"]) == 32


async def test_asset_removed_upstream_disappears(
    sim: RunningSimulator, daemon: DaemonProcess
) -> None:
    key = sim.dataset.account(LIVE).timbres[0]["TimbreKey"]
    assert value(await daemon.metrics(), "ivh_asset_info", account=LIVE, asset=key) == 1
    assert sim.dataset.account(LIVE).remove("timbres", TimbreKey=key) == 1
    after = await daemon.metrics_until(
        lambda s: value(s, "ivh_asset_info", account=LIVE, asset=key) is None
    )
    assert value(after, "ivh_timbre_audio_seconds_total", account=LIVE, asset=key) is None
    assert value(after, "ivh_collection_success", account=LIVE, family="timbres") == 1


async def test_http_endpoints(daemon: DaemonProcess) -> None:
    async with httpx.AsyncClient() as http:
        raw = await http.get(f"{daemon.url}/metrics", headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        assert "ivh_asset_info" in raw.text  # httpx decodes it
        plain = await http.get(f"{daemon.url}/metrics", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.headers["content-type"].startswith("text/plain")
        assert (await http.get(f"{daemon.url}/healthz")).status_code == 200
        index = await http.get(f"{daemon.url}/")
        assert 'href="https://grafana.example.com/d/ivh-monitor"' in index.text
        assert "/metrics" in index.text
        assert "/healthz" in index.text
        assert "/readyz" in index.text


async def test_promtool_check_metrics_is_clean(daemon: DaemonProcess) -> None:
    promtool = require_tool("promtool")
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
    sim: RunningSimulator, daemon: DaemonProcess
) -> None:
    sim.faults.add(Fault(kind="http_error", status=500, account=LIVE, endpoint="getserviceasset"))
    await daemon.metrics_until(
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


# -- Prometheus conventions, switches and shutdown (issue 17) ---------------------------

_PROMETHEUS_ACCEPT = (  # what Prometheus 2.x sends by default
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def _config(sim: RunningSimulator, tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "accounts": [
            {"name": name, "appkey": appkey, "access_token": token, "base_url": sim.url}
            for name, appkey, token in ACCOUNTS
        ],
        "schedule": fast_schedule(),
        "client": {"retries": 0, "rate_limit_per_second": 500, "timeout_seconds": 2},
        "state_dir": str(tmp_path / "state"),
        **extra,
    }


async def test_process_and_python_metrics_are_exported(daemon: DaemonProcess) -> None:
    samples = await daemon.metrics()
    assert (value(samples, "process_resident_memory_bytes") or 0) > 0
    assert value(samples, "process_cpu_seconds_total") is not None
    assert value(samples, "python_info") == 1
    assert value(samples, "python_gc_objects_collected_total", generation="0") is not None


async def test_openmetrics_is_served_when_the_scraper_asks(daemon: DaemonProcess) -> None:
    url = f"{daemon.url}/metrics"
    async with httpx.AsyncClient() as http:
        om = await http.get(url, headers={"Accept": _PROMETHEUS_ACCEPT})
        plain = await http.get(url)  # httpx asks for */*: the text format
        zipped = await http.get(
            url, headers={"Accept": _PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
        )
        head = await http.head(url, headers={"Accept": _PROMETHEUS_ACCEPT})
    assert om.headers["content-type"] == (
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )
    assert om.text.endswith("# EOF\n")
    assert om.text.count("# EOF") == 1
    # the strict OpenMetrics parser reads all of it
    families = {f.name: f for f in openmetrics_families(om.text)}  # type: ignore[no-untyped-call]
    assert families["ivh_asset_info"].type == "gauge"
    assert families["ivh_timbre_audio_seconds"].type == "counter"
    assert families["ivh_build"].type == "info"
    assert "process_cpu_seconds" in families
    assert {s.labels["account"] for s in families["ivh_asset_info"].samples} == {
        name for name, _, _ in ACCOUNTS
    }
    # the text format says which one it is
    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# EOF" not in plain.text
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-type"].startswith("application/openmetrics-text")
    assert zipped.text.endswith("# EOF\n")
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("application/openmetrics-text")
    assert head.content == b""


async def test_a_collector_switched_off_is_neither_collected_nor_failing(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    config = _config(sim, tmp_path, collectors={"actions": False})
    started = await start_daemon(config, tmp_path, run_args=["--no-collector.timbres"])
    try:
        async with httpx.AsyncClient() as http:
            ready = await http.get(f"{started.url}/readyz")
            assets = (await http.get(f"{started.url}/api/assets")).json()
        assert ready.status_code == 200
        assert ready.text == "ready\ncollectors off: timbres, actions\n"
        samples = await started.metrics()
        for family, on in (("services", 1), ("timbres", 0), ("images", 1), ("actions", 0)):
            assert value(samples, "ivh_collector_enabled", family=family) == on
        for family in ("timbres", "actions"):
            assert value(samples, "ivh_collection_success", family=family) is None
            last = value(samples, "ivh_collection_last_success_timestamp_seconds", family=family)
            assert last is None
        assert value(samples, "ivh_collection_success", account=LIVE, family="images") == 1
        assert value(samples, "ivh_asset_info", kind="timbre") is None
        assert {a["kind"] for a in assets} == {"service", "image"}
        assert sim.requests.count(endpoint="describetimbre") == 0
        assert sim.requests.count(endpoint="getaction") == 0
    finally:
        await started.stop()


async def test_sigterm_during_a_slow_collection_exits_0_without_an_error(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    config = _config(sim, tmp_path)
    config["client"] = {"retries": 0, "rate_limit_per_second": 500, "timeout_seconds": 60}
    started = await start_daemon(config, tmp_path)
    sim.faults.add(Fault(kind="hang", account=LIVE, endpoint="getserviceasset"))

    async def in_flight() -> bool:
        return any(r.outcome == "hang" for r in sim.requests.entries())

    await eventually(in_flight, "a services collection waiting on the gateway")
    started.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(started.process.wait(), 10) == 0
    text = started.log_path.read_text("utf-8")
    assert "CancelledError" not in text
    assert "Traceback" not in text
    events = started.log_events()
    assert [e for e in events if e.get("level") in ("error", "critical")] == []
    cancelled = {(e["account"], e["family"]) for e in events if e["event"] == "collect.cancelled"}
    assert (LIVE, "services") in cancelled
    assert events[-1]["event"] == "daemon.stopped"
