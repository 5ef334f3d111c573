"""Configuration: file + environment, single-account shortcut, clear errors, no leaks."""

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_settings
from monitor.errors import ConfigError

TOKEN = "tok-3f9a1c77-secret"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_single_account_from_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVH_MONITOR_APPKEY", "ak1")
    monkeypatch.setenv("IVH_MONITOR_ACCESS_TOKEN", TOKEN)
    [account] = load_settings().resolved_accounts()
    assert account.name == "default"
    assert account.appkey == "ak1"
    assert account.base_url == "https://gw.tvs.qq.com"
    assert str(account.zone) == "Asia/Shanghai"
    assert account.access_token.get_secret_value() == TOKEN


def test_token_from_file_for_kubernetes_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    monkeypatch.setenv("IVH_MONITOR_APPKEY", "ak1")
    monkeypatch.setenv("IVH_MONITOR_ACCESS_TOKEN_FILE", str(secret))
    monkeypatch.setenv("IVH_MONITOR_ACCOUNT_NAME", "prod")
    [account] = load_settings().resolved_accounts()
    assert account.name == "prod"
    assert account.access_token.get_secret_value() == TOKEN


def test_file_with_many_accounts_and_env_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        f"""
timezone: Asia/Shanghai
accounts:
  - name: live
    appkey: ak-live
    access_token: {TOKEN}
    labels: {{team: commerce}}
  - name: intl
    appkey: ak-intl
    access_token: other-token
    base_url: https://gw-sg.tvs.qq.com
    timezone: Asia/Singapore
client:
  timeout_seconds: 20
  rate_limit_per_second: 3
""",
    )
    monkeypatch.setenv("IVH_MONITOR_CLIENT__TIMEOUT_SECONDS", "7.5")
    settings = load_settings(path)
    assert settings.client.timeout_seconds == 7.5  # the environment wins
    assert settings.client.rate_limit_per_second == 3  # the file still counts
    live, intl = settings.resolved_accounts()
    assert (live.name, live.labels, live.base_url) == (
        "live",
        {"team": "commerce"},
        settings.base_url,
    )
    assert (intl.base_url, str(intl.zone)) == ("https://gw-sg.tvs.qq.com", "Asia/Singapore")


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "accounts: [{name: a, appkey: k, access_token: t0k3n}]\n")
    monkeypatch.setenv("IVH_MONITOR_CONFIG", str(path))
    assert [a.name for a in load_settings().resolved_accounts()] == ["a"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acounts: []\n", "acounts: Extra inputs are not permitted (unknown setting"),
        (
            "client: {page_size: 500}\n",
            "client.page_size: Input should be less than or equal to 100",
        ),
        ("timezone: Mars/Olympus\n", "timezone: Value error, unknown time zone"),
        (
            "accounts: [{name: a, appkey: k, access_token: t, base_url: ftp://x}]\n",
            "accounts[0].base_url",
        ),
        ("accounts: [{name: a, access_token: t}]\n", "accounts[0].appkey: Field required"),
        ("client: {endpoints: {getfoo: /x}}\n", "unknown endpoint getfoo"),
        (
            "accounts: [{name: a, appkey: k, access_token: t, labels: {bad-label: x}}]\n",
            "invalid Prometheus label",
        ),
        ("accounts: [\n  {name: a\n", "not valid YAML at line"),
        ("grafana_url: grafana.local/d/x\n", "grafana_url: Value error, must be an http(s) URL"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, text)).resolved_accounts()
    assert expected in str(err.value)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "accounts:\n  - {name: a, appkey: k}\n  - {name: a, appkey: k, access_token: x}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path).resolved_accounts()
    assert any("accounts[0] (a).access_token: missing" in p for p in err.value.problems)
    assert any("duplicate account name" in p for p in err.value.problems)


def test_no_account_explains_how_to_configure_one() -> None:
    with pytest.raises(ConfigError, match="IVH_MONITOR_APPKEY"):
        load_settings().resolved_accounts()


def test_missing_token_file_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVH_MONITOR_APPKEY", "k")
    monkeypatch.setenv("IVH_MONITOR_ACCESS_TOKEN_FILE", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"access_token_file: cannot read .*nope"):
        load_settings().resolved_accounts()


def test_secrets_never_in_repr_or_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVH_MONITOR_APPKEY", "k")
    monkeypatch.setenv("IVH_MONITOR_ACCESS_TOKEN", TOKEN)
    settings = load_settings()
    accounts = settings.resolved_accounts()
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)
    assert TOKEN not in repr(accounts)
    assert TOKEN not in str(settings.masked())
    # a bad value next to a token: the error names fields, never values
    path = _write(
        tmp_path, f"accounts: [{{name: a, appkey: k, access_token: {TOKEN}, extra: 1}}]\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert TOKEN not in str(err.value)
    assert TOKEN not in repr(err.value)


def test_check_config_prints_masked_effective_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVH_MONITOR_APPKEY", "ak1")
    monkeypatch.setenv("IVH_MONITOR_ACCESS_TOKEN", TOKEN)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert TOKEN not in out
    assert '"appkey": "ak1"' in out
    assert "**********" in out
    assert "configuration OK" in out


def test_check_config_fails_with_usage_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "client: {retries: -1}\n")
    assert main(["--config", str(path), "check-config"]) == 64
    assert "client.retries" in capsys.readouterr().err


def test_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "config" / "example.yaml"
    secrets = tmp_path / "token"
    secrets.write_text("t0ken")
    text = example.read_text("utf-8")
    text = text.replace("/etc/ivh-monitor/secrets/live-commerce", str(secrets))
    settings = load_settings(_write(tmp_path, text))
    names = [a.name for a in settings.resolved_accounts()]
    assert names == ["live-commerce", "studio-sg"]
    assert settings.listen == "0.0.0.0:9877"


def test_collector_switches(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("collectors: {actions: false}\n")
    assert load_settings(path).collectors.enabled() == ("services", "timbres", "images")
    assert load_settings(path).collectors.disabled() == ("actions",)
    # a flag (an override) merges over the file
    both = load_settings(path, collectors={"timbres": False}).collectors
    assert both.disabled() == ("timbres", "actions")
    # actions lists the actions of the images' 3D keys: off with images...
    path.write_text("collectors: {images: false}\n")
    assert load_settings(path).collectors.disabled() == ("images", "actions")
    # ...and asking for it without images names the field
    path.write_text("collectors: {images: false, actions: true}\n")
    with pytest.raises(ConfigError, match=r"collectors: Value error, actions needs images"):
        load_settings(path)
    path.write_text("collectors: {action: false}\n")
    with pytest.raises(ConfigError, match=r"collectors\.action: .*unknown setting"):
        load_settings(path)
