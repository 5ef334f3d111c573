"""One daemon, many tenants, in process: routed channels and local receivers over real
HTTP, the simulator's accounts, an injected clock, each step driven by the test."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from monitor.daemon import Daemon
from monitor.errors import ConfigError
from monitor.simulator import RunningSimulator, default_dataset, run_simulator
from tests.tenancy import Clock, account_config, collect, deliver, loader_of, receivers, settings_of

#: 12:00 in Shanghai; the dataset's dates are relative to it
NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
ALL = ("xinghe-live", "lanjing-studio", "horizon-sg", "empty-trial")


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with run_simulator(default_dataset(NOW)) as running:
        yield running


def _accounts(sim: RunningSimulator, labels: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    return [account_config(sim, name, labels=labels.get(name, {})) for name in ALL]


# The same checks on layouts of different shape: tenants by label, by an account glob,
# a label glob, and a channel that only some assets of a tenant reach.
LAYOUTS: list[tuple[dict[str, dict[str, str]], dict[str, dict[str, Any]], dict[str, set[str]]]] = [
    (
        {
            "xinghe-live": {"tenant": "acme"},
            "horizon-sg": {"tenant": "acme"},
            "lanjing-studio": {"tenant": "globex"},
        },
        {"acme": {"labels": {"tenant": "acme"}}, "globex": {"labels": {"tenant": "globex"}}},
        {"acme": {"xinghe-live", "horizon-sg"}, "globex": {"lanjing-studio"}},
    ),
    (
        {"xinghe-live": {"tenant": "cn-east"}, "lanjing-studio": {"tenant": "cn-west"}},
        {
            "cn": {"labels": {"tenant": "cn-*"}},
            "sg": {"match": {"account": "*-sg"}},
            "nobody": {"labels": {"tenant": "nobody"}},
        },
        {"cn": {"xinghe-live", "lanjing-studio"}, "sg": {"horizon-sg"}, "nobody": set()},
    ),
]


@pytest.mark.parametrize(("labels", "routes", "expected"), LAYOUTS)
async def test_each_receiver_gets_exactly_its_tenants_alerts_and_the_default_all(
    sim: RunningSimulator,
    tmp_path: Path,
    labels: dict[str, dict[str, str]],
    routes: dict[str, dict[str, Any]],
    expected: dict[str, set[str]],
) -> None:
    async with receivers("ops", *routes) as hooks:
        channels = [{"name": "ops", "type": "webhook", "url": hooks["ops"].url}]
        channels += [
            {"name": name, "type": "webhook", "url": hooks[name].url, **route}
            for name, route in routes.items()
        ]
        settings, accounts = settings_of(
            {"accounts": _accounts(sim, labels), "alerts": {"channels": channels}},
            tmp_path / "state",
        )
        daemon = Daemon(settings, accounts, clock=Clock(NOW))
        try:
            await collect(daemon)
            await deliver(daemon)
        finally:
            await daemon.stop()
        everything = hooks["ops"].fired()
        assert {a for a, _, _ in everything} >= {"xinghe-live", "horizon-sg", "lanjing-studio"}
        assert len(everything) == len(set(everything)), "an alert reached ops twice"
        for name, accounts_of in expected.items():
            got = hooks[name].fired()
            # exactly the default route's alerts of those accounts: none missing, none extra
            assert sorted(got) == sorted(x for x in everything if x[0] in accounts_of), name


async def test_a_routed_channel_takes_only_matching_assets_with_rules_on_top(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    async with receivers("ops", "voices", "images-critical") as hooks:
        channels = [
            {"name": "ops", "type": "webhook", "url": hooks["ops"].url},
            {
                "name": "voices",
                "type": "webhook",
                "url": hooks["voices"].url,
                "match": {"account": "xinghe-*", "kind": "timbre"},
            },
            {
                "name": "images-critical",
                "type": "webhook",
                "url": hooks["images-critical"].url,
                "match": {"kind": "image"},
                "min_severity": "critical",
                "rules": ["expiring"],
            },
        ]
        settings, accounts = settings_of(
            {"accounts": _accounts(sim, {}), "alerts": {"channels": channels}},
            tmp_path / "state",
        )
        daemon = Daemon(settings, accounts, clock=Clock(NOW))
        try:
            await collect(daemon)
            await deliver(daemon)
        finally:
            await daemon.stop()
        ops = hooks["ops"].alerts()
        voices = [
            (a["labels"]["account"], a["labels"]["asset"])
            for a in ops
            if a["labels"]["kind"] == "timbre" and a["labels"]["account"] == "xinghe-live"
        ]
        assert voices
        assert sorted(
            (a["labels"]["account"], a["labels"]["asset"]) for a in hooks["voices"].alerts()
        ) == sorted(voices)
        images = hooks["images-critical"].alerts()
        want = [
            a["labels"]["asset"]
            for a in ops
            if a["labels"]["kind"] == "image"
            and a["labels"]["severity"] == "critical"
            and a["labels"]["rule"] == "expiring"
        ]
        assert want
        assert sorted(a["labels"]["asset"] for a in images) == sorted(want)


async def test_a_tenant_reads_its_language_and_zone_the_operator_keeps_its_own(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    async with receivers("ops", "acme") as hooks:
        config = {
            "accounts": _accounts(sim, {"xinghe-live": {"tenant": "acme"}}),
            "tenants": [
                {
                    "name": "acme",
                    "labels": {"tenant": "acme"},
                    "messages": {"language": "zh", "timezone": "Europe/Berlin"},
                }
            ],
            "alerts": {
                "language": "en",
                "channels": [
                    {"name": "ops", "type": "webhook", "url": hooks["ops"].url},
                    {
                        "name": "acme",
                        "type": "webhook",
                        "url": hooks["acme"].url,
                        "labels": {"tenant": "acme"},
                    },
                ],
            },
        }
        settings, accounts = settings_of(config, tmp_path / "state")
        daemon = Daemon(settings, accounts, clock=Clock(NOW))
        try:
            await collect(daemon, "xinghe-live")
            await deliver(daemon)
        finally:
            await daemon.stop()
        tenant = [a for a in hooks["acme"].alerts() if a["labels"]["rule"] == "expiring"]
        operator = [
            a
            for a in hooks["ops"].alerts()
            if a["labels"]["rule"] == "expiring" and a["labels"]["account"] == "xinghe-live"
        ]
        assert tenant
        assert len(tenant) == len(operator)
        han = re.compile(r"[\u4e00-\u9fff]")
        for alert in tenant:
            assert "到期" in alert["annotations"]["summary"]
            assert re.search(r"\bCES?T\b", alert["annotations"]["description"]), alert
            assert alert["labels"]["tenant"] == "acme"  # the account's labels ride along
        for alert in operator:
            assert "expires" in alert["annotations"]["summary"]
            assert not han.search(alert["annotations"]["summary"].split('"')[0])
            assert "CST" in alert["annotations"]["description"]


def _digest_config(sim: RunningSimulator, hooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "accounts": _accounts(
            sim, {"xinghe-live": {"tenant": "acme"}, "horizon-sg": {"tenant": "acme"}}
        ),
        "alerts": {
            "channels": [
                {
                    "name": "acme-digest",
                    "type": "webhook",
                    "url": hooks["acme"].url,
                    "labels": {"tenant": "acme"},
                    "min_severity": "critical",
                    "rules": ["expired"],
                    "digest": {"at": "09:00", "timezone": "Asia/Singapore", "within_days": 30},
                },
            ],
        },
    }


async def test_the_digest_is_sent_once_a_day_across_a_restart(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    # 08:59 in Singapore
    clock = Clock(datetime(2026, 6, 2, 0, 59, tzinfo=UTC))
    async with receivers("acme") as hooks:
        settings, accounts = settings_of(_digest_config(sim, hooks), tmp_path / "state")
        first = Daemon(settings, accounts, clock=clock)
        try:
            assert await first.digests() == 0  # nothing collected yet, and not 09:00
            await collect(first)
            assert await first.digests() == 0  # not yet 09:00
            clock.now += timedelta(minutes=2)
            with capture_logs() as logs:
                assert await first.digests() == 1
            assert any(e["event"] == "digest.enqueued" for e in logs)
            assert await first.digests() == 0  # the same day: never again
            await deliver(first)
        finally:
            await first.stop()
        [digest] = hooks["acme"].digests()
        # only the channel's routed accounts, one block each
        assert sorted(a["labels"]["account"] for a in digest["alerts"]) == [
            "horizon-sg",
            "xinghe-live",
        ]
        text = "\n".join(a["annotations"]["description"] for a in digest["alerts"])
        assert "Expiring within 30 days" in text
        assert "Left:" in text
        assert "2026-06-02" in digest["alerts"][0]["annotations"]["summary"]

        # restarted at 09:30 on the same state: the day's digest is not sent again
        clock.now += timedelta(minutes=29)
        second = Daemon(settings, accounts, clock=clock)
        try:
            await collect(second)
            assert await second.digests() == 0
            await deliver(second)
            assert len(hooks["acme"].digests()) == 1
            # the next day at 09:00 Singapore time: the next one
            clock.now = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)
            await collect(second)
            assert await second.digests() == 1
            await deliver(second)
        finally:
            await second.stop()
        days = [d["alerts"][0]["annotations"]["summary"] for d in hooks["acme"].digests()]
        assert len(days) == 2
        assert "2026-06-03" in days[1]


async def test_a_digest_that_fails_is_retried_from_the_outbox(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    clock = Clock(datetime(2026, 6, 2, 1, 30, tzinfo=UTC))
    async with receivers("acme") as hooks:
        config = _digest_config(sim, hooks)
        good = hooks["acme"].url
        config["alerts"]["channels"][0]["url"] = good.replace("/hook/acme", "/hook/missing")
        config["alerts"]["delivery"] = {"backoff_initial_seconds": 1, "backoff_max_seconds": 1}
        settings, accounts = settings_of(config, tmp_path / "state")
        daemon = Daemon(settings, accounts, clock=clock)
        try:
            await collect(daemon)
            assert await daemon.digests() == 1
            await deliver(daemon)  # 404: permanent → dead
            [entry] = [e for e in daemon.state.outbox() if e.id.startswith("digest:")]
            assert entry.state == "dead"
            assert await daemon.digests() == 0  # dead or not, the day's is made
        finally:
            await daemon.stop()


async def test_reload_adds_and_removes_accounts_and_channels_without_losing_or_repeating(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    clock = Clock(NOW)
    async with receivers("ops", "acme", "globex") as hooks:
        ops = {"name": "ops", "type": "webhook", "url": hooks["ops"].url}
        acme = {
            "name": "acme",
            "type": "webhook",
            "url": hooks["acme"].url,
            "labels": {"tenant": "acme"},
        }
        globex = {
            "name": "globex",
            "type": "webhook",
            "url": hooks["globex"].url,
            "labels": {"tenant": "globex"},
        }
        holder: dict[str, Any] = {
            "config": {
                "accounts": [
                    account_config(sim, "xinghe-live", labels={"tenant": "acme"}),
                    account_config(sim, "horizon-sg", labels={"tenant": "acme"}),
                ],
                "alerts": {"channels": [ops, acme]},
            }
        }
        state = tmp_path / "state"
        settings, accounts = settings_of(holder["config"], state)
        daemon = Daemon(settings, accounts, clock=clock, loader=loader_of(holder, state))
        try:
            await collect(daemon)
            await deliver(daemon)
            before_ops = list(hooks["ops"].fired())
            horizon = {x for x in before_ops if x[0] == "horizon-sg"}
            assert horizon

            # horizon-sg leaves, lanjing-studio (globex) comes with its channel; acme stays
            holder["config"] = {
                "accounts": [
                    account_config(sim, "xinghe-live", labels={"tenant": "acme"}),
                    account_config(sim, "lanjing-studio", labels={"tenant": "globex"}),
                ],
                "alerts": {"channels": [ops, acme, globex]},
            }
            clock.now += timedelta(minutes=5)
            with capture_logs() as logs:
                assert await daemon.reload() == (True, [])
            reloaded = next(e for e in logs if e["event"] == "config.reloaded")
            assert reloaded["added"] == ["lanjing-studio"]
            assert reloaded["removed"] == ["horizon-sg"]
            assert [a.name for a in daemon.accounts] == ["xinghe-live", "lanjing-studio"]
            assert set(daemon.store.current.accounts) == {"xinghe-live", "lanjing-studio"}
            await deliver(daemon)
            # the removed account's alerts resolve once, on the channels that had them
            assert set(hooks["ops"].resolved()) == horizon
            assert set(hooks["acme"].resolved()) == horizon
            assert all(
                a["annotations"]["summary"].startswith("[Resolved]")
                for a in hooks["ops"].alerts()
                if a["status"] == "resolved"
            )

            await collect(daemon)
            await deliver(daemon)
            clock.now += timedelta(minutes=5)
            await collect(daemon)
            await deliver(daemon)
            # nothing of the kept account announced again; the new one once, to its tenant
            after = hooks["ops"].fired()[len(before_ops) :]
            assert {a for a, _, _ in after} == {"lanjing-studio"}
            assert len(after) == len(set(after))
            assert sorted(hooks["globex"].fired()) == sorted(after)
            assert len(hooks["ops"].resolved()) == len(horizon)  # resolved once, not again

            # a bad config is refused whole; the running one stays
            holder["config"] = {"accounts": [{"name": "x"}], "alerts": {"channels": [ops]}}
            with capture_logs() as logs:
                ok, errors = await daemon.reload()
            assert not ok
            assert any("appkey" in e for e in errors)
            assert any(e["event"] == "config.reload_failed" for e in logs)
            assert [a.name for a in daemon.accounts] == ["xinghe-live", "lanjing-studio"]
            assert [c.name for c in daemon.channels] == ["ops", "acme", "globex"]
            assert not daemon.reload_status.ok
            text = daemon.registry.render_text().decode()
            assert "ivh_config_last_reload_successful 0.0" in text
        finally:
            await daemon.stop()


async def test_a_reload_that_cannot_be_read_names_the_problem(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    def broken() -> Any:
        raise ConfigError(["accounts_dir file acme.yaml: accounts[0].appkey: Field required"])

    settings, accounts = settings_of({"accounts": [account_config(sim, "xinghe-live")]}, tmp_path)
    daemon = Daemon(settings, accounts, clock=Clock(NOW), loader=broken)
    try:
        ok, errors = await daemon.reload()
        assert not ok
        assert errors == ["accounts_dir file acme.yaml: accounts[0].appkey: Field required"]
        assert daemon.reload_status.failures == 1
    finally:
        await daemon.stop()
