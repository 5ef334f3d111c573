"""Configuration: one pydantic-settings model tree, validated completely before start.

Sources, highest priority first: ``IVH_MONITOR_*`` environment variables
(nested fields with ``__``, e.g. ``IVH_MONITOR_CLIENT__TIMEOUT_SECONDS``), then
the YAML file given by ``--config`` or ``IVH_MONITOR_CONFIG``, then defaults.
For the common single-account case ``IVH_MONITOR_APPKEY`` and
``IVH_MONITOR_ACCESS_TOKEN`` (or ``IVH_MONITOR_ACCESS_TOKEN_FILE``) define one
account with no file at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from monitor.alerts.channels.config import ChannelConfig
from monitor.alerts.config import AlertsConfig
from monitor.alerts.matching import labels_fit
from monitor.catalogue import Language
from monitor.domain import FAMILIES, Family
from monitor.endpoints import ENDPOINT_NAMES
from monitor.errors import ConfigError
from monitor.shard import parse_shard, select

__all__ = [
    "Account",
    "AccountConfig",
    "ClientConfig",
    "CollectorsConfig",
    "HttpConfig",
    "MessagesConfig",
    "ScheduleConfig",
    "Settings",
    "TenantConfig",
    "check_port",
    "load_settings",
    "parse_listen",
]

DEFAULT_BASE_URL = "https://gw.tvs.qq.com"
#: The exporter port range 9100-9999 is fully allocated; 9877 is ours by default.
DEFAULT_LISTEN = "0.0.0.0:9877"
VIRTUALMAN_TYPE_CODES = (
    "real_man_2d",
    "real_man_3d",
    "half_realistic_3d",
    "cartoon_3d",
    "small_sample_2d",
    "small_sample_general_2d",
    "small_sample_4k_2d",
    "small_sample_photo_2d",
    "small_sample_lite_2d",
)
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$"
_LABEL_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
# Every number is finite (no .inf/.nan) and bounded, so that nothing downstream
# (timedelta, APScheduler's IntervalTrigger, asyncio sleeps, SQLite) can overflow
# and `check-config` refuses exactly what `run` would choke on.
#: the longest schedule interval: 30 days
_MAX_INTERVAL_SECONDS = 30 * 86400.0
#: the longest wait of one call (timeouts, backoff): an hour
_MAX_WAIT_SECONDS = 3600.0
#: the furthest look-ahead in days: ten years
_MAX_DAYS = 3650.0
_MAX_PORT = 65535


def _check_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL such as https://gw.tvs.qq.com")
    if parts.query or parts.username or parts.password:
        raise ValueError("must not carry a query string or credentials")
    return value.rstrip("/")


def _check_link(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    # OSError: "Asia" is a directory of tzdata, a very long name is too long a path
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name like Asia/Shanghai"
        ) from None
    return value


def _label_names(value: dict[str, str]) -> dict[str, str]:
    bad = [k for k in value if not re.match(_LABEL_PATTERN, k) or k.startswith("__")]
    if bad:
        raise ValueError(f"invalid Prometheus label names: {', '.join(sorted(bad))}")
    if "account" in value:
        raise ValueError("'account' is reserved; it is the account's name")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MessagesConfig(_Strict):
    """The language and zone of a tenant's messages (on the channels routed to it)."""

    language: Language | None = None
    timezone: str | None = Field(None, description="zone in which message times are shown")

    _check_tz = field_validator("timezone")(
        classmethod(lambda cls, v: None if v is None else _check_zone(v))
    )


class TenantConfig(_Strict):
    """A group of accounts chosen by their labels, with the language and zone of their
    messages: ``{name: acme, labels: {tenant: acme}, messages: {language: en}}``."""

    name: str = Field(pattern=_NAME_PATTERN)
    labels: dict[str, str] = Field(
        min_length=1, description="globs every label of a member account must fit"
    )
    messages: MessagesConfig = Field(default_factory=MessagesConfig)


class AccountConfig(_Strict):
    """One IVH account (an AppKey and its AccessToken)."""

    name: str = Field(pattern=_NAME_PATTERN, description="label value for this account")
    appkey: str = Field(min_length=1)
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    base_url: str | None = Field(None, description="defaults to the top-level base_url")
    timezone: str | None = Field(None, description="zone of the API's dates for this account")
    labels: dict[str, str] = Field(
        default_factory=dict, description="extra labels on ivh_account_info (team, owner…)"
    )
    messages: MessagesConfig = Field(
        default_factory=MessagesConfig,
        description="language and zone of this account's messages on its routed channels",
    )

    _check_url = field_validator("base_url")(
        classmethod(lambda cls, v: None if v is None else _check_base_url(v))
    )
    _check_tz = field_validator("timezone")(
        classmethod(lambda cls, v: None if v is None else _check_zone(v))
    )

    _check_labels = field_validator("labels")(classmethod(lambda cls, v: _label_names(v)))


class ClientConfig(_Strict):
    """How the monitor talks to the gateway."""

    timeout_seconds: float = Field(
        10.0, gt=0, le=_MAX_WAIT_SECONDS, description="per request, connect to last byte"
    )
    retries: int = Field(3, ge=0, le=10, description="retries of a transient failure")
    backoff_initial_seconds: float = Field(0.5, ge=0, le=_MAX_WAIT_SECONDS)
    backoff_max_seconds: float = Field(10.0, ge=0, le=_MAX_WAIT_SECONDS)
    retry_budget_seconds: float = Field(
        60.0, gt=0, le=86400, description="give up retrying after this"
    )
    rate_limit_per_second: float = Field(
        5.0, ge=0.01, le=1_000_000, description="requests per second per account"
    )
    max_concurrency: int = Field(4, ge=1, le=64, description="requests in flight per account")
    max_in_flight_total: int = Field(
        64, ge=1, le=4096, description="requests in flight across all accounts (sockets, CPU)"
    )
    page_size: int = Field(100, ge=1, le=100, description="the gateway allows at most 100")
    max_pages: int = Field(
        200,
        ge=1,
        le=10_000,
        description="bound on pages per list: a Total beyond it fails the listing at once",
    )
    job_timeout_seconds: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="deadline of one collection job; default: the family's interval, at"
        " least 2 x (retry_budget_seconds + timeout_seconds), at most 1 h",
    )
    endpoints: dict[str, str] = Field(
        default_factory=dict, description="override an endpoint's path, e.g. getaction: /v2/…"
    )
    virtualman_type_codes: list[str] = Field(
        default_factory=lambda: list(VIRTUALMAN_TYPE_CODES),
        description="avatar type codes walked for anchors and images",
    )

    @field_validator("endpoints")
    @classmethod
    def _check_endpoints(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(ENDPOINT_NAMES))
        if unknown:
            raise ValueError(
                f"unknown endpoint {', '.join(unknown)}; known: {', '.join(ENDPOINT_NAMES)}"
            )
        bad = [k for k, v in value.items() if not v.startswith("/")]
        if bad:
            raise ValueError(f"paths must start with '/': {', '.join(bad)}")
        return value


class HttpConfig(_Strict):
    """Limits of the daemon's HTTP endpoints (``/metrics``, the status page, ...)."""

    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="a request's line and headers must arrive within this, or the"
        " connection is closed",
    )
    idle_timeout_seconds: float = Field(
        75.0,
        gt=0,
        le=_MAX_WAIT_SECONDS,
        description="close a keep-alive connection idle this long (above the scrape interval)",
    )
    max_connections: int = Field(
        256, ge=1, le=65_536, description="open connections at once; beyond, answered 503"
    )
    auth_failure_burst: int = Field(
        10,
        ge=1,
        le=10_000,
        description="failed basic-auth attempts one client address may make before 429",
    )
    auth_failure_refill_seconds: float = Field(
        6.0,
        gt=0,
        le=_MAX_WAIT_SECONDS,
        description="one more failed attempt allowed per this many seconds after the burst",
    )
    auth_max_pending: int = Field(
        16,
        ge=1,
        le=1024,
        description="password checks queued or running at once; beyond, answered 503",
    )


class ScheduleConfig(_Strict):
    """How often each asset family is refreshed (seconds)."""

    services_seconds: float = Field(
        300.0, ge=1, le=_MAX_INTERVAL_SECONDS, description="hour packages, quotas, concurrency"
    )
    timbres_seconds: float = Field(1800.0, ge=1, le=_MAX_INTERVAL_SECONDS, description="voices")
    images_seconds: float = Field(
        1800.0, ge=1, le=_MAX_INTERVAL_SECONDS, description="images and anchors"
    )
    actions_seconds: float = Field(
        86400.0, ge=1, le=_MAX_INTERVAL_SECONDS, description="actions of 3D images"
    )
    jitter_seconds: float = Field(
        15.0, ge=0, le=86400, description="random delay per run so many accounts don't fire at once"
    )

    def interval(self, family: str) -> float:
        value: float = getattr(self, f"{family}_seconds")
        return value


class CollectorsConfig(_Strict):
    """Which asset families are collected, as node_exporter's collector switches
    (``--no-collector.<family>``): a family turned off is neither scheduled nor
    waited for by ``/readyz``, exports no series and is shown as off, not failing."""

    services: bool = Field(True, description="hour packages, quotas, concurrency")
    timbres: bool = Field(True, description="voices")
    images: bool = Field(True, description="images and anchors")
    actions: bool = Field(
        True, description="actions of 3D images (needs images: off with it unless set)"
    )

    @model_validator(mode="after")
    def _actions_need_images(self) -> CollectorsConfig:
        if self.actions and not self.images and "actions" in self.model_fields_set:
            raise ValueError(
                "actions needs images (the 3D images whose actions are counted come from"
                " the images collection); turn actions off too, or images on"
            )
        return self

    def enabled(self) -> tuple[Family, ...]:
        """The families to collect, in :data:`~monitor.domain.FAMILIES` order."""
        on = {f for f in FAMILIES if getattr(self, f)}
        if "images" not in on:
            on.discard("actions")  # it lists the actions of the images' 3D keys
        return tuple(f for f in FAMILIES if f in on)

    def disabled(self) -> tuple[Family, ...]:
        return tuple(f for f in FAMILIES if f not in self.enabled())


class TenantFile(_Strict):
    """One file of ``accounts_dir``: a tenant's accounts, and the labels and message
    settings they all share (an account's own win)."""

    labels: dict[str, str] = Field(default_factory=dict)
    messages: MessagesConfig = Field(default_factory=MessagesConfig)
    accounts: list[AccountConfig] = Field(min_length=1, max_length=10_000)

    _check_labels = field_validator("labels")(classmethod(lambda cls, v: _label_names(v)))


@dataclass(frozen=True, slots=True)
class Account:
    """An account ready to use: token resolved, defaults applied."""

    name: str
    appkey: str
    access_token: SecretStr = field(repr=False)
    base_url: str
    zone: ZoneInfo
    labels: dict[str, str]
    #: of the account's messages on channels routed to it: the account's own
    #: ``messages``, else its first tenant group's; None: the channel's own
    language: Language | None = None
    message_zone: ZoneInfo | None = None
    #: the tenant group it belongs to (the first whose labels fit), if any
    tenant: str | None = None


class Settings(BaseSettings):
    """Everything ivh-monitor can be told."""

    model_config = SettingsConfigDict(
        env_prefix="IVH_MONITOR_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    accounts: list[AccountConfig] = Field(default_factory=list)
    accounts_dir: Path | None = Field(
        None,
        description="a directory of YAML files, one per tenant, each with its accounts"
        " (and labels, messages for all of them); loaded with this file",
    )
    tenants: list[TenantConfig] = Field(
        default_factory=list,
        description="groups of accounts by label, with the language and zone of their messages",
    )
    # The single-account shortcut (environment variables, no file needed).
    account_name: str = Field("default", pattern=_NAME_PATTERN)
    appkey: str | None = None
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    base_url: str = DEFAULT_BASE_URL
    timezone: str = Field("Asia/Shanghai", description="zone of the API's dates (§5)")

    client: ClientConfig = Field(default_factory=ClientConfig)
    critical_days: float = Field(
        7.0, ge=0, le=_MAX_DAYS, description="report: exit 1 within this many days"
    )
    warning_days: float = Field(30.0, ge=0, le=_MAX_DAYS)

    # The daemon (ivh-monitor run).
    listen: str = Field(DEFAULT_LISTEN, description="host:port of /metrics, /healthz, /readyz")
    shard: str | None = Field(
        None,
        description="watch only the accounts of shard i of N (i/N, or auto/N from a"
        " StatefulSet pod's ordinal)",
    )
    web_config_file: Path | None = Field(
        None, description="TLS and basic auth for the HTTP endpoints (exporter web config)"
    )
    http: HttpConfig = Field(default_factory=HttpConfig)
    collectors: CollectorsConfig = Field(default_factory=CollectorsConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    stale_after_seconds: float = Field(
        3600.0,
        gt=0,
        le=365 * 86400,
        description="keep a failing family's last good data this long (at least two intervals)",
    )
    expose_relative_metrics: bool = Field(
        False, description="also export ivh_asset_expires_in_seconds (computed at scrape time)"
    )
    grafana_url: str | None = Field(
        None, description="link from the status page to your Grafana dashboard (http/https URL)"
    )

    # Alerts (rules, channels, state).
    state_dir: Path | None = Field(
        None,
        description="SQLite state: alert states, outbox, usage history"
        " (default: $XDG_STATE_HOME/ivh-monitor or ~/.local/state/ivh-monitor)",
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    alert_webhook_url: SecretStr | None = Field(
        None, description="shortcut: one Alertmanager-format webhook channel named 'webhook'"
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    #: account name -> the file of ``accounts_dir`` it came from (for messages)
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    _check_url = field_validator("base_url")(classmethod(lambda cls, v: _check_base_url(v)))
    _check_grafana = field_validator("grafana_url")(
        classmethod(lambda cls, v: None if not v else _check_link(v))
    )
    _check_tz = field_validator("timezone")(classmethod(lambda cls, v: _check_zone(v)))

    @field_validator("shard")
    @classmethod
    def _check_shard(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("auto/"):
            parse_shard(value)
        return value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_file = settings_cls.model_config.get("yaml_file")
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)

    def resolved_accounts(self) -> list[Account]:
        """The accounts to watch, tokens read; raises ``ConfigError`` naming each problem."""
        problems: list[str] = []
        configs = list(self.accounts)
        if self.appkey or self.access_token or self.access_token_file:
            if not self.appkey:
                problems.append(
                    "appkey: missing; set IVH_MONITOR_APPKEY next to IVH_MONITOR_ACCESS_TOKEN"
                )
            else:
                configs = [c for c in configs if c.name != self.account_name]
                configs.append(
                    AccountConfig(
                        name=self.account_name,
                        appkey=self.appkey,
                        access_token=self.access_token,
                        access_token_file=self.access_token_file,
                    )
                )
        if not configs and not problems:
            problems.append(
                "accounts: none configured; set IVH_MONITOR_APPKEY and IVH_MONITOR_ACCESS_TOKEN,"
                " or list accounts in a config file (--config or IVH_MONITOR_CONFIG)"
            )
        seen: set[str] = set()
        resolved: list[Account] = []
        for i, cfg in enumerate(configs):
            where = self._sources.get(cfg.name) or f"accounts[{i}] ({cfg.name})"
            if cfg.name in seen:
                problems.append(f"{where}.name: duplicate account name; names must be unique")
            seen.add(cfg.name)
            token = _read_token(cfg, where, problems)
            if token is None:
                continue
            tenant = next((t for t in self.tenants if labels_fit(t.labels, cfg.labels)), None)
            language = cfg.messages.language or (tenant.messages.language if tenant else None)
            zone = cfg.messages.timezone or (tenant.messages.timezone if tenant else None)
            resolved.append(
                Account(
                    name=cfg.name,
                    appkey=cfg.appkey,
                    access_token=token,
                    base_url=cfg.base_url or self.base_url,
                    zone=ZoneInfo(cfg.timezone or self.timezone),
                    labels=dict(cfg.labels),
                    language=language,
                    message_zone=ZoneInfo(zone) if zone else None,
                    tenant=tenant.name if tenant else None,
                )
            )
        if problems:
            raise ConfigError(problems)
        return resolved

    def sharded(self, accounts: list[Account]) -> list[Account]:
        """The accounts of this replica's shard (all of them without ``shard``)."""
        if self.shard is None:
            return accounts
        try:
            index, total = parse_shard(self.shard)
        except ValueError as exc:
            raise ConfigError([f"shard: {exc}"]) from None
        return select(accounts, [a.name for a in accounts], index, total)

    def job_deadline(self, family: str) -> float:
        """How long one collection of ``family`` may take before it is cancelled and
        counted as failed: by default its interval (a run should end before the next is
        due), but never less than two calls' whole retry budget, nor more than an hour."""
        client = self.client
        if client.job_timeout_seconds is not None:
            return client.job_timeout_seconds
        one_call = client.retry_budget_seconds + client.timeout_seconds
        return max(2 * one_call, min(self.schedule.interval(family), 3600.0))

    def effective_state_dir(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "ivh-monitor"

    def effective_alerts(self) -> AlertsConfig:
        """``alerts`` plus the channel that ``IVH_MONITOR_ALERT_WEBHOOK_URL`` sets up."""
        if self.alert_webhook_url is None:
            return self.alerts
        if any(c.name == "webhook" for c in self.alerts.channels):
            raise ConfigError(
                ["alert_webhook_url: a channel named 'webhook' exists already; rename it"]
            )
        try:
            channel = _WEBHOOK_ADAPTER.validate_python(
                {"name": "webhook", "type": "webhook", "url": self.alert_webhook_url}
            )
        except ValidationError as exc:  # e.g. not an http(s) URL; the value is never shown
            raise ConfigError(
                [
                    f"alert_webhook_url: {err['msg']}"
                    for err in exc.errors(include_url=False, include_input=False)
                ]
            ) from None
        return self.alerts.model_copy(update={"channels": [*self.alerts.channels, channel]})

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets masked."""
        data: dict[str, Any] = self.model_dump(mode="json")
        for acc in data["accounts"]:
            if acc.get("access_token") is not None:
                acc["access_token"] = "**********"  # noqa: S105 - the mask, not a token
        return data


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port``, ``:port`` (all interfaces) or ``[v6]:port``."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit():
        raise ValueError("must be host:port, e.g. 0.0.0.0:9877 or 127.0.0.1:9877")
    check_port(int(port))
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - an exporter listens on all


def check_port(port: int) -> int:
    """A TCP port number (0: any free one), or ``ValueError`` saying what is wrong."""
    if not 0 <= port <= _MAX_PORT:
        raise ValueError(f"port {port} out of range (0-{_MAX_PORT})")
    return port


_NO_CREDENTIAL_HINT = (
    "missing; set access_token or access_token_file"
    " (IVH_MONITOR_ACCESS_TOKEN / IVH_MONITOR_ACCESS_TOKEN_FILE for the single account)"
)
_WEBHOOK_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(ChannelConfig)


def _read_token(cfg: AccountConfig, where: str, problems: list[str]) -> SecretStr | None:
    if cfg.access_token is not None and cfg.access_token_file is not None:
        problems.append(f"{where}: set access_token or access_token_file, not both")
        return None
    if cfg.access_token_file is not None:
        try:
            text = cfg.access_token_file.read_text(encoding="utf-8").strip()
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
            if isinstance(exc, OSError):
                why = exc.strerror
            else:
                why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "invalid path"
            problems.append(
                f"{where}.access_token_file: cannot read {cfg.access_token_file}: {why}"
            )
            return None
        if not text:
            problems.append(f"{where}.access_token_file: {cfg.access_token_file} is empty")
            return None
        return SecretStr(text)
    if cfg.access_token is None or not cfg.access_token.get_secret_value():
        problems.append(f"{where}.access_token: {_NO_CREDENTIAL_HINT}")
        return None
    return cfg.access_token


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "config"


#: bounds on ``accounts_dir``: files read, bytes of one file
_MAX_TENANT_FILES = 10_000
_MAX_TENANT_FILE_BYTES = 4 * 1024 * 1024


def _errors(exc: ValidationError, where: str) -> list[str]:
    return [
        f"{where}{_loc(err['loc'])}: {err['msg']}"
        + (" (unknown setting: check its spelling)" if err["type"] == "extra_forbidden" else "")
        for err in exc.errors(include_url=False, include_input=False)
    ]


def _tenant_files(directory: Path) -> list[Path]:
    """The YAML files of ``accounts_dir`` in name order; hidden ones (a Kubernetes
    ConfigMap's ``..data``) skipped."""
    try:
        names = sorted(
            p
            for p in directory.iterdir()
            if not p.name.startswith(".") and p.suffix in (".yaml", ".yml") and p.is_file()
        )
    except OSError as exc:
        raise ConfigError(
            [f"accounts_dir: cannot read {directory}: {exc.strerror or 'not a directory'}"]
        ) from None
    if len(names) > _MAX_TENANT_FILES:
        raise ConfigError([f"accounts_dir: more than {_MAX_TENANT_FILES} files in {directory}"])
    return names


def _read_tenant_file(path: Path) -> tuple[TenantFile | None, list[str]]:  # noqa: PLR0911 - one return per way a file can be bad
    where = f"accounts_dir file {path.name}"
    try:
        if path.stat().st_size > _MAX_TENANT_FILE_BYTES:
            return None, [f"{where}: larger than {_MAX_TENANT_FILE_BYTES // 1024 // 1024} MiB"]
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [f"{where}: not valid YAML{at}"]
    except UnicodeDecodeError:
        return None, [f"{where}: not UTF-8 text"]
    except OSError as exc:
        return None, [f"{where}: cannot read it: {exc.strerror}"]
    except RecursionError:
        return None, [f"{where}: nested too deeply"]
    if not isinstance(content, dict):
        return None, [f"{where}: expected a mapping with accounts: [...]"]
    try:
        return TenantFile.model_validate(content), []
    except ValidationError as exc:
        return None, _errors(exc, f"{where}: ")


def _with_accounts_dir(settings: Settings) -> Settings:
    """``settings`` with the accounts of every file of ``accounts_dir`` appended, each
    with its file's labels and messages under its own."""
    if settings.accounts_dir is None:
        return settings
    problems: list[str] = []
    accounts = list(settings.accounts)
    sources: dict[str, str] = {}
    for path in _tenant_files(settings.accounts_dir):
        tenant, errors = _read_tenant_file(path)
        problems.extend(errors)
        if tenant is None:
            continue
        for i, acc in enumerate(tenant.accounts):
            messages = MessagesConfig(
                language=acc.messages.language or tenant.messages.language,
                timezone=acc.messages.timezone or tenant.messages.timezone,
            )
            accounts.append(
                acc.model_copy(
                    update={"labels": {**tenant.labels, **acc.labels}, "messages": messages}
                )
            )
            where = f"accounts_dir file {path.name}: accounts[{i}] ({acc.name})"
            sources.setdefault(acc.name, where)
    if problems:
        raise ConfigError(problems)
    merged = settings.model_copy(update={"accounts": accounts})
    merged._sources = sources
    return merged


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate everything; raise ``ConfigError`` listing each bad field.

    Messages name the field and never echo its value (it may be a secret).
    """
    path = config_path or os.environ.get("IVH_MONITOR_CONFIG") or None
    cls: type[Settings] = Settings
    content: Any = None
    if path is not None:
        path = Path(path)
        try:
            found = path.is_file()
        except OSError:  # e.g. a name too long for the file system
            found = False
        if not found:
            raise ConfigError(
                [f"config file {path}: not found (from --config or IVH_MONITOR_CONFIG)"]
            )
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError([f"config file {path}: not valid YAML{where}"]) from None
        except UnicodeDecodeError:
            raise ConfigError([f"config file {path}: not UTF-8 text"]) from None
        except OSError as exc:  # e.g. permission denied
            raise ConfigError([f"config file {path}: cannot read it: {exc.strerror}"]) from None
        except RecursionError:
            raise ConfigError([f"config file {path}: nested too deeply"]) from None
        if content is not None and not isinstance(content, dict):
            raise ConfigError([f"config file {path}: expected a mapping of settings at the top"])
        if content and not all(isinstance(k, str) for k in content):
            # pydantic-settings calls .lower() on top-level names
            raise ConfigError([f"config file {path}: setting names must be strings"])
        cls = type(
            "Settings",
            (Settings,),
            {"model_config": {**Settings.model_config, "yaml_file": path}},
        )
    try:
        return _with_accounts_dir(cls(**overrides))
    except RecursionError:
        # pydantic-settings parses the file again (deeper in the stack) and JSON values
        # of IVH_MONITOR_* variables: either can nest beyond Python's recursion limit
        raise ConfigError(["configuration nested too deeply (file or environment)"]) from None
    except SettingsError as exc:
        # an IVH_MONITOR_* value of a nested setting that is not JSON; the text
        # names the field and source, never the value
        raise ConfigError([f"{exc} (nested settings from the environment are JSON)"]) from None
    except ValidationError as exc:
        problems = [
            f"{_loc(err['loc'])}: {err['msg']}"
            + (" (unknown setting: check its spelling)" if err["type"] == "extra_forbidden" else "")
            for err in exc.errors(include_url=False, include_input=False)
        ]
        # the accounts' tokens are read only once the whole tree is valid: check the
        # file's accounts here too, so that one run reports every bad field
        raw = content.get("accounts") if path is not None and isinstance(content, dict) else None
        problems += [p for p in _token_problems(raw) if p not in problems]
        raise ConfigError(problems) from None


def _token_problems(raw: Any) -> list[str]:
    """The token problems of a config file's raw ``accounts`` list, as
    :meth:`Settings.resolved_accounts` would report them (for a file that fails
    validation elsewhere)."""
    problems: list[str] = []
    if not isinstance(raw, list):
        return problems
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            continue
        try:
            cfg = AccountConfig.model_validate(entry)
        except ValidationError:
            # its own errors are in the main pass; a token it lacks is still said
            if not entry.get("access_token") and not entry.get("access_token_file"):
                name = entry.get("name")
                where = f"accounts[{i}]" + (f" ({name})" if isinstance(name, str) else "")
                problems.append(f"{where}.access_token: {_NO_CREDENTIAL_HINT}")
            continue
        _read_token(cfg, f"accounts[{i}] ({cfg.name})", problems)
    return problems
