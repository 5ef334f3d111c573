"""Tenant configuration: routes, message locales and their precedence, ``accounts_dir``
(errors name file and field), and ``check-config``'s routes (pure, and the CLI)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from monitor.alerts.channels.config import ChannelConfig, DigestConfig, parse_channel_config
from monitor.alerts.digest import digest_day
from monitor.alerts.records import Alert
from monitor.alerts.routing import Tenancy, locale_for, reaches, takes
from monitor.cli import main
from monitor.config import load_settings
from monitor.errors import ConfigError

TOKEN = "at-tenant-test-0b1c2d3e-never-shown"


def _channel(**extra: object) -> ChannelConfig:
    return parse_channel_config(
        {"name": "c", "type": "webhook", "url": "http://127.0.0.1:9/", **extra}
    )


def _alert(account: str, kind: str = "service", asset: str = "a1", service_type: str = "") -> Alert:
    labels = {"service_type": service_type} if service_type else {}
    return Alert(
        "expiring", account, kind, asset, "warning", "firing", datetime.now(UTC), labels=labels
    )


def test_routes_by_globs_and_labels() -> None:
    acme = Tenancy({"tenant": "acme", "tier": "gold"})
    none = Tenancy({})
    default = _channel()
    by_label = _channel(labels={"tenant": "acme"})
    by_glob = _channel(labels={"tier": "g*"}, match={"account": "shop-*"})
    by_type = _channel(match={"service_type": "*BroadcastHour"})
    assert takes(default, _alert("x"), none)  # no route: every alert
    assert takes(by_label, _alert("x"), acme)
    assert not takes(by_label, _alert("x"), none)  # a label the account lacks never fits
    assert takes(by_glob, _alert("shop-1"), acme)
    assert not takes(by_glob, _alert("x"), acme)
    assert takes(by_type, _alert("x", service_type="Lite3DBroadcastHour"), none)
    assert not takes(by_type, _alert("x", service_type="VoiceQuota"), none)
    assert not takes(by_type, _alert("x", kind="timbre"), none)
    # an account-level alert (collection failing) reaches a channel routed by account
    assert takes(_channel(match={"account": "x"}), _alert("x", kind="account", asset=""), none)
    assert not takes(_channel(match={"kind": "image"}), _alert("x", kind="account", asset=""), none)
    assert [c.name for c in reaches([default, by_label], "x", none)] == ["c"]


def test_locale_precedence() -> None:
    tenant = Tenancy({"tenant": "acme"}, "zh", ZoneInfo("Asia/Singapore"))
    # a default route keeps its own: nothing re-rendered
    assert locale_for(_channel(), "en", tenant) is None
    routed = locale_for(_channel(labels={"tenant": "acme"}), "en", tenant)
    assert routed is not None
    assert (routed.language, routed.zone_name) == ("zh", "Asia/Singapore")
    own = locale_for(
        _channel(labels={"tenant": "acme"}, language="en", timezone="Europe/Berlin"), "zh", tenant
    )
    assert own is not None
    assert (own.language, own.zone_name) == ("en", "Europe/Berlin")
    plain = locale_for(_channel(labels={"tenant": "acme"}), "en", Tenancy({"tenant": "acme"}))
    assert plain is not None
    assert (plain.language, plain.zone) == ("en", None)


def test_account_messages_win_over_the_tenant_group(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        accounts=[
            {"name": "a", "appkey": "k", "access_token": TOKEN, "labels": {"tenant": "sg-1"}},
            {
                "name": "b",
                "appkey": "k",
                "access_token": TOKEN,
                "labels": {"tenant": "sg-2"},
                "messages": {"language": "zh"},
            },
            {"name": "c", "appkey": "k", "access_token": TOKEN},
        ],
        tenants=[
            {
                "name": "singapore",
                "labels": {"tenant": "sg-*"},
                "messages": {"language": "en", "timezone": "Asia/Singapore"},
            },
            {"name": "later", "labels": {"tenant": "*"}, "messages": {"language": "zh"}},
        ],
    )
    a, b, c = settings.resolved_accounts()
    assert (a.language, str(a.message_zone), a.tenant) == ("en", "Asia/Singapore", "singapore")
    assert (b.language, str(b.message_zone)) == ("zh", "Asia/Singapore")
    assert (c.language, c.message_zone, c.tenant) == (None, None, None)


def _tenant_file(directory: Path, name: str, data: object) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")


def test_accounts_dir_loads_one_file_per_tenant(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants.d"
    _tenant_file(
        tenants,
        "acme.yaml",
        {
            "labels": {"tenant": "acme"},
            "messages": {"language": "en", "timezone": "Asia/Singapore"},
            "accounts": [
                {"name": "acme-live", "appkey": "k1", "access_token": TOKEN},
                {
                    "name": "acme-vod",
                    "appkey": "k2",
                    "access_token": TOKEN,
                    "labels": {"tenant": "x"},
                },
            ],
        },
    )
    _tenant_file(
        tenants,
        "globex.yml",
        {"accounts": [{"name": "globex", "appkey": "k3", "access_token": TOKEN}]},
    )
    (tenants / "README.txt").write_text("not a tenant")
    (tenants / ".hidden.yaml").write_text("{broken")
    main_file = tmp_path / "config.yaml"
    main_file.write_text(
        yaml.safe_dump(
            {
                "accounts": [{"name": "ops", "appkey": "k0", "access_token": TOKEN}],
                "accounts_dir": str(tenants),
            }
        )
    )
    accounts = load_settings(main_file).resolved_accounts()
    assert [a.name for a in accounts] == ["ops", "acme-live", "acme-vod", "globex"]
    live, vod = accounts[1], accounts[2]
    assert live.labels == {"tenant": "acme"}
    assert vod.labels == {"tenant": "x"}  # an account's own labels win
    assert (live.language, str(live.message_zone)) == ("en", "Asia/Singapore")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"accounts": [{"name": "a", "access_token": TOKEN}]},
            "accounts_dir file bad.yaml: accounts[0].appkey: Field required",
        ),
        (
            {"accounts": [{"name": "a", "appkey": "k", "access_token": TOKEN, "typo": 1}]},
            "accounts_dir file bad.yaml: accounts[0].typo: Extra inputs are not permitted",
        ),
        (
            {
                "labels": {"account": "x"},
                "accounts": [{"name": "a", "appkey": "k", "access_token": TOKEN}],
            },
            "accounts_dir file bad.yaml: labels: Value error, 'account' is reserved",
        ),
        (
            {"accounts": []},
            "accounts_dir file bad.yaml: accounts: List should have at least 1 item",
        ),
        ("[1, 2]", "accounts_dir file bad.yaml: expected a mapping"),
        ("key: [unclosed", "accounts_dir file bad.yaml: not valid YAML at line"),
    ],
)
def test_accounts_dir_errors_name_the_file_and_field(
    tmp_path: Path, content: object, expected: str
) -> None:
    tenants = tmp_path / "tenants.d"
    tenants.mkdir()
    path = tenants / "bad.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content), "utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(None, accounts_dir=str(tenants))
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems
    assert TOKEN not in str(err.value)


def test_a_name_in_two_files_is_a_duplicate_naming_the_file(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants.d"
    for name in ("a.yaml", "b.yaml"):
        _tenant_file(
            tenants, name, {"accounts": [{"name": "same", "appkey": "k", "access_token": TOKEN}]}
        )
    with pytest.raises(ConfigError) as err:
        load_settings(None, accounts_dir=str(tenants)).resolved_accounts()
    assert any(
        "accounts_dir file" in p and "duplicate account name" in p for p in err.value.problems
    )


def test_a_missing_accounts_dir_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, accounts_dir=str(tmp_path / "nope"))
    assert err.value.problems == [
        f"accounts_dir: cannot read {tmp_path / 'nope'}: No such file or directory"
    ]


def test_digest_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="at"):
        DigestConfig(at="25:00")
    with pytest.raises(ValueError, match="time zone"):
        DigestConfig(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="digest"):
        parse_channel_config(
            {"name": "am", "type": "alertmanager", "urls": ["http://127.0.0.1:9"], "digest": {}}
        )


def test_digest_day_is_the_local_date_from_at_until_midnight_and_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    nine = DigestConfig(at="09:00")
    assert digest_day(nine, berlin, datetime(2026, 6, 2, 6, 59, tzinfo=UTC)) is None  # 08:59
    assert digest_day(nine, berlin, datetime(2026, 6, 2, 7, 0, tzinfo=UTC)) == date(2026, 6, 2)
    assert digest_day(nine, berlin, datetime(2026, 6, 2, 21, 59, tzinfo=UTC)) == date(2026, 6, 2)
    assert (
        digest_day(nine, berlin, datetime(2026, 6, 2, 22, 0, tzinfo=UTC)) is None
    )  # 00:00 next day
    # 2026-03-29: clocks jump from 02:00 to 03:00 in Berlin; 02:30 never happens
    night = DigestConfig(at="02:30")
    assert digest_day(night, berlin, datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) is None  # 01:59 CET
    assert digest_day(night, berlin, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == date(
        2026, 3, 29
    )  # 03:00 CEST
    # 2026-10-25: 02:30 happens twice; the day is the same, so one digest
    first = digest_day(night, berlin, datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    second = digest_day(night, berlin, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert first == second == date(2026, 10, 25)


def test_check_config_prints_each_accounts_routes_and_warns_of_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "accounts": [
                    {
                        "name": "acme-1",
                        "appkey": "k",
                        "access_token": TOKEN,
                        "labels": {"tenant": "acme"},
                    },
                    {"name": "lonely", "appkey": "k", "access_token": TOKEN},
                ],
                "tenants": [{"name": "acme", "labels": {"tenant": "acme"}}],
                "alerts": {
                    "channels": [
                        {
                            "name": "acme-robot",
                            "type": "webhook",
                            "url": "http://127.0.0.1:9/x",
                            "labels": {"tenant": "acme"},
                        }
                    ]
                },
            }
        )
    )
    assert main(["--config", str(path), "check-config"]) == 0
    captured = capsys.readouterr()
    # stdout: the JSON document, then the verdict; the routes are on stderr
    document, verdict = captured.out.rstrip("\n").rsplit("\n", 1)
    assert verdict == "configuration OK"
    assert json.loads(document)["effective_routes"] == {"acme-1": ["acme-robot"], "lonely": []}
    assert "  acme-1 [tenant acme]: acme-robot\n" in captured.err
    assert "  lonely: (none)\n" in captured.err
    assert "warning: account lonely: its alerts reach no channel" in captured.err
    assert "account acme-1" not in captured.err  # it reaches one: no warning
    assert TOKEN not in captured.out + captured.err
