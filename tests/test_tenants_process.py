"""Live reload of a real daemon process: SIGHUP and ``POST /-/reload`` (behind basic
auth), accounts and channels added and removed, a bad config refused with the running
one kept; receivers on 127.0.0.1 see each alert once."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import pytest_asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.simulator import RunningSimulator, default_dataset, run_simulator
from tests.processes import eventually, fast_schedule, start_daemon, value
from tests.tenancy import Hook, account_config, receivers

PASSWORD = "reload-pass-5e3a91c0"


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(datetime.now(UTC))) as running:
        yield running


def _write(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")


@pytest.mark.slow
async def test_sighup_and_post_reload_add_and_remove_accounts_and_channels(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    tenants = tmp_path / "tenants.d"
    tenants.mkdir()
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    _write(web, {"basic_auth_users": {"ops": hashed}})
    auth = ("ops", PASSWORD)
    async with receivers("ops", "acme") as hooks:
        ops = {"name": "ops", "type": "webhook", "url": hooks["ops"].url}
        acme = {
            "name": "acme",
            "type": "webhook",
            "url": hooks["acme"].url,
            "labels": {"tenant": "acme"},
        }
        config: dict[str, Any] = {
            "accounts": [account_config(sim, "xinghe-live")],
            "accounts_dir": str(tenants),
            "schedule": fast_schedule(),
            "client": {"retries": 0, "rate_limit_per_second": 500},
            "state_dir": str(tmp_path / "state"),
            "web_config_file": str(web),
            "alerts": {"channels": [ops], "delivery": {"backoff_initial_seconds": 0.2}},
        }
        daemon = await start_daemon(config, tmp_path)
        path = tmp_path / "daemon.yaml"
        config = yaml.safe_load(path.read_text("utf-8"))  # with the port start_daemon chose

        async def metrics() -> dict[Any, float]:
            async with httpx.AsyncClient(auth=auth) as http:
                text = (await http.get(f"{daemon.url}/metrics")).text
            return {
                (s.name, frozenset(s.labels.items())): s.value
                for fam in text_string_to_metric_families(text)
                for s in fam.samples
            }

        def got(hook: Hook, account: str) -> bool:
            return any(a == account for a, _, _ in hook.fired())

        try:

            async def first_alerts() -> bool:
                return got(hooks["ops"], "xinghe-live")

            await eventually(first_alerts, "xinghe-live's alerts at ops")
            assert value(await metrics(), "ivh_config_last_reload_successful") == 1

            # a tenant comes: its file, and its channel; SIGHUP
            _write(
                tenants / "acme.yaml",
                {"labels": {"tenant": "acme"}, "accounts": [account_config(sim, "lanjing-studio")]},
            )
            config["alerts"]["channels"] = [ops, acme]
            _write(path, config)
            daemon.process.send_signal(signal.SIGHUP)

            async def tenant_alerts() -> bool:
                return got(hooks["acme"], "lanjing-studio") and got(hooks["ops"], "lanjing-studio")

            await eventually(
                tenant_alerts, "lanjing-studio's alerts at its tenant's channel and ops"
            )
            samples = await metrics()
            assert value(samples, "ivh_account_info", account="lanjing-studio", tenant="acme") == 1
            assert hooks["acme"].accounts() == {"lanjing-studio"}

            async with httpx.AsyncClient() as http:
                # behind the web config's auth; POST only, as Prometheus
                assert (await http.post(f"{daemon.url}/-/reload")).status_code == 401
                assert (await http.get(f"{daemon.url}/-/reload", auth=auth)).status_code == 405
                # a broken tenant file is refused, naming it; the running config stays
                (tenants / "acme.yaml").write_text("accounts: [{name: lanjing-studio}]\n", "utf-8")
                refused = await http.post(f"{daemon.url}/-/reload", auth=auth)
                assert refused.status_code == 500
                assert refused.text.startswith(
                    "failed to reload config: accounts_dir file acme.yaml: accounts[0]."
                )
                assert refused.text.count("\n") == 1
            samples = await metrics()
            assert value(samples, "ivh_config_last_reload_successful") == 0
            assert value(samples, "ivh_account_info", account="lanjing-studio", tenant="acme") == 1
            assert any(e.get("event") == "config.reload_failed" for e in daemon.log_events())

            # xinghe-live leaves; the file is fixed
            _write(
                tenants / "acme.yaml",
                {"labels": {"tenant": "acme"}, "accounts": [account_config(sim, "lanjing-studio")]},
            )
            config["accounts"] = []
            _write(path, config)
            firing_before = {x for x in hooks["ops"].fired() if x[0] == "xinghe-live"}
            async with httpx.AsyncClient() as http:
                applied = await http.post(f"{daemon.url}/-/reload", auth=auth)
            assert applied.status_code == 200

            async def resolved() -> bool:
                return {
                    x for x in hooks["ops"].resolved() if x[0] == "xinghe-live"
                } == firing_before

            await eventually(resolved, "each of xinghe-live's alerts resolved at ops")
            samples = await metrics()
            assert value(samples, "ivh_config_last_reload_successful") == 1
            assert value(samples, "ivh_account_info", account="xinghe-live") is None
            # nothing announced twice, nothing resolved twice
            for hook in hooks.values():
                assert len(hook.fired()) == len(set(hook.fired())), hook.name
                assert len(hook.resolved()) == len(set(hook.resolved())), hook.name
            assert not any(a == "xinghe-live" for a, _, _ in hooks["acme"].resolved())
        finally:
            await daemon.stop()
