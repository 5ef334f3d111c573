"""End to end with Debian's real Prometheus and Alertmanager on 127.0.0.1.

The daemon runs against the simulator and is scraped by Prometheus, which
loads the shipped rules (config/prometheus/ivh-monitor-rules.yml; only their
``for`` durations are shortened so the test needs seconds, not an hour). Every
PromQL expression of every dashboard panel and rule is run against it, and the
rules' alerts travel through Alertmanager to a webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from monitor.demo import burn_hours
from monitor.simulator import DEMO_ACCOUNTS, Fault, default_dataset, run_simulator
from tests.processes import eventually, fast_schedule, free_port, require_tool, start_daemon
from tests.test_dashboards import load_dashboard, panel_queries

ROOT = Path(__file__).parent.parent
RULES = ROOT / "config" / "prometheus" / "ivh-monitor-rules.yml"

#: panels whose data needs a failure this setup does not produce (with why)
_PANELS_MAY_BE_EMPTY: dict[str, str] = {}
#: rule expressions that only return data when the monitor itself is gone
_RULES_MAY_BE_EMPTY = {
    "IvhMonitorAbsent": "absent(): data only when no target exists at all",
    "IvhMonitorCollectionStale": "needs data older than twice a family's interval",
    "IvhMonitorCollectionIncomplete": "needs a listing short of its Total (test_faults_listing)",
    "IvhMonitorCollectionDeadline": "needs a gateway too slow to answer (test_faults_listing)",
    "IvhMonitorCollectionRunsSkipped": "needs a job outliving its interval (test_faults_listing)",
    "IvhMonitorNotificationsFailing": "needs a receiver refusing notifications",
    "IvhMonitorNotificationBacklog": "needs a receiver that is down",
    "IvhServiceQuotaLow": "no quota between 0 and 10 % in the demo dataset",
    "IvhMonitorAlertEvaluationFailing": "needs an alert rule raising on an asset",
    "IvhMonitorStateStoreDown": "needs an unusable state dir",
    "IvhMonitorStateLost": "needs the state file deleted under the daemon",
    "IvhMonitorAuthFailures": "needs failed basic-auth logins (test_http_limits)",
    "IvhMonitorConfigReloadFailed": "needs a reload refused (tests/test_tenants_process.py)",
    "IvhMonitorRecordsSkipped": "no unreadable record in the demo dataset (test_faults)",
    "IvhServiceRunawayBurn": "needs a package burning far above its usual (test_forecast_daemon)",
}


def _beijing(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone(timedelta(hours=8)))


async def _query(http: httpx.AsyncClient, base: str, expr: str) -> list[Any]:
    answer = (await http.get(f"{base}/api/v1/query", params={"query": expr})).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[Any] = answer["data"]["result"]
    return result


@pytest_asyncio.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(text="ok")

    async def direct(request: web.Request) -> web.Response:
        await request.read()  # the daemon's own notifications: accepted, not counted here
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/direct", direct)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    await runner.cleanup()


@pytest.mark.slow
async def test_prometheus_scrapes_rules_fire_and_alertmanager_delivers(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    prometheus = require_tool("prometheus")
    alertmanager = require_tool("prometheus-alertmanager")
    hook_url, received = webhook
    procs: list[asyncio.subprocess.Process] = []
    async with run_simulator(default_dataset(datetime.now(UTC))) as sim:
        burner = asyncio.create_task(burn_hours(sim.dataset, every=1.0))
        # one account's images fail: the collection-failing rule has something to see
        sim.faults.add(
            Fault(kind="http_error", status=503, account="horizon-sg", endpoint="getanchor")
        )
        daemon = await start_daemon(
            {
                "accounts": [
                    {"name": n, "appkey": k, "access_token": t, "base_url": sim.url}
                    for n, k, t in DEMO_ACCOUNTS
                ],
                "schedule": fast_schedule(),
                "client": {"retries": 0, "rate_limit_per_second": 500},
                "state_dir": str(tmp_path / "state"),
                "alerts": {
                    "rules": {"hours_depleting": {"min_history_hours": 0.001}},
                    "channels": [
                        {
                            "name": "ops",
                            "type": "webhook",
                            "url": hook_url.replace("/hook", "/direct"),
                        }
                    ],
                },
            },
            tmp_path,
        )
        try:
            am_port, prom_port, dead_port = free_port(), free_port(), free_port()
            (tmp_path / "am.yml").write_text(
                yaml.safe_dump(
                    {
                        "route": {
                            "receiver": "hook",
                            "group_by": ["alertname", "account"],
                            "group_wait": "1s",
                            "group_interval": "1s",
                            "repeat_interval": "1h",
                        },
                        "receivers": [{"name": "hook", "webhook_configs": [{"url": hook_url}]}],
                    }
                )
            )
            rules = yaml.safe_load(RULES.read_text("utf-8"))
            for group in rules["groups"]:
                group["interval"] = "1s"
                for rule in group["rules"]:
                    if "for" in rule:
                        rule["for"] = "0s"  # the only change: seconds, not an hour
            (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
            target = daemon.url.removeprefix("http://")
            (tmp_path / "prom.yml").write_text(
                yaml.safe_dump(
                    {
                        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                        "rule_files": [str(tmp_path / "rules.yml")],
                        "alerting": {
                            "alertmanagers": [
                                {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}
                            ]
                        },
                        "scrape_configs": [
                            {"job_name": "ivh-monitor", "static_configs": [{"targets": [target]}]},
                            # a replica that is down, for the target-down rule
                            {
                                "job_name": "ivh-monitor-dead",
                                "static_configs": [{"targets": [f"127.0.0.1:{dead_port}"]}],
                            },
                        ],
                    }
                )
            )
            procs.append(
                await asyncio.create_subprocess_exec(
                    alertmanager,
                    f"--config.file={tmp_path / 'am.yml'}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
            procs.append(
                await asyncio.create_subprocess_exec(
                    prometheus,
                    f"--config.file={tmp_path / 'prom.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
            base = f"http://127.0.0.1:{prom_port}"
            async with httpx.AsyncClient(timeout=10) as http:

                async def scraped() -> bool:
                    try:
                        return bool(await _query(http, base, 'up{job="ivh-monitor"} == 1'))
                    except (httpx.TransportError, ValueError, AssertionError):
                        return False

                await eventually(scraped, "Prometheus scraping the daemon", tries=600)

                async def forecasting() -> bool:
                    # rate() needs two scrapes; forecasts need a little usage history
                    rate = await _query(http, base, "rate(ivh_api_requests_total[1m]) > 0")
                    depletion = await _query(http, base, "ivh_service_depletion_timestamp_seconds")
                    # and the rules' predict_linear needs a package seen burning: two
                    # scrapes of it with hours apart (the daemon's own forecast, from its
                    # seeded history, can come before Prometheus has seen that)
                    burning = await _query(
                        http, base, "deriv(ivh_service_remaining_seconds[1m]) < 0"
                    )
                    return bool(rate and depletion and burning)

                await eventually(forecasting, "rates and forecasts in Prometheus", tries=600)

                empty_panels = []
                for title, expr in panel_queries(load_dashboard()):
                    if not await _query(http, base, expr) and title not in _PANELS_MAY_BE_EMPTY:
                        empty_panels.append((title, expr))
                assert empty_panels == [], "dashboard queries without data"

                empty_rules: list[str] = []

                async def every_rule_has_data() -> bool:
                    # a rule over a burning package's ratio needs that package scraped
                    # twice below its ratio: poll, rather than judge one instant
                    empty_rules[:] = []
                    for group in rules["groups"]:
                        for rule in group["rules"]:
                            name = rule.get("alert") or rule.get("record")
                            result = await _query(http, base, rule["expr"])
                            if not result and name not in _RULES_MAY_BE_EMPTY:
                                empty_rules.append(name)
                    return not empty_rules

                with contextlib.suppress(AssertionError):  # the assertion below names them
                    await eventually(every_rule_has_data, "every rule with data", tries=100)
                assert empty_rules == [], "rule expressions without data"

                async def delivered() -> bool:
                    names = {a["labels"]["alertname"] for body in received for a in body["alerts"]}
                    return {
                        "IvhAssetExpiring",
                        "IvhMonitorCollectionFailing",
                        "IvhMonitorDown",
                    } <= names

                await eventually(delivered, "Alertmanager delivering the rules' alerts", tries=600)
                expiring = [
                    a
                    for body in received
                    for a in body["alerts"]
                    if a["labels"]["alertname"] == "IvhAssetExpiring"
                ]
                soonest = {
                    a["labels"]["asset"] for a in expiring if a["labels"]["severity"] == "critical"
                }
                raw = sim.dataset.account("xinghe-live")
                assert any(t["TimbreKey"] in soonest for t in raw.timbres) or soonest
                assert all(a["annotations"].get("summary") for a in expiring)
        finally:
            burner.cancel()
            for proc in procs:
                proc.terminate()
                await proc.wait()
            await daemon.stop()
