"""Configuration of alert channels: one pydantic model per kind, chosen by ``type``.

Every credential is a ``SecretStr``, including the URLs: a WeCom ``key=``, a
DingTalk ``access_token=``, a Feishu hook token and a Slack webhook path *are*
the credential. ``masked_url()`` is the only form of a URL that may reach a
log line, an exception or a ``repr``; ``secret_values()`` lists the raw
secrets for the logging scrubber (``monitor.log.SecretScrubber``).

Validation errors never echo the input (``hide_input_in_errors``).
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from typing import Annotated, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)

from monitor.alerts.matching import Match
from monitor.alerts.records import Severity
from monitor.catalogue import Language

__all__ = [
    "AlertmanagerChannelConfig",
    "ChannelConfig",
    "DigestConfig",
    "DingTalkChannelConfig",
    "FeishuChannelConfig",
    "SlackChannelConfig",
    "WeComChannelConfig",
    "WebhookChannelConfig",
    "mask_url",
    "parse_channel_config",
]

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$"
_LABEL_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
_MASK = "***"
_AT_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _zone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    # OSError: "Asia" is a directory of tzdata, a very long name is too long a path
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("unknown time zone; use an IANA name like Asia/Shanghai") from None
    return value


class DigestConfig(BaseModel):
    """A daily digest (资产日报) on a channel: one message a day at a local time."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    at: str = Field("09:00", pattern=_AT_PATTERN, description="local time of day, HH:MM (24 h)")
    timezone: str | None = Field(
        None, description="zone of `at` and of the digest's dates (default: the channel's)"
    )
    within_days: float = Field(
        7.0, gt=0, le=3650, description="list what expires or runs dry within this many days"
    )

    _check_zone = field_validator("timezone")(
        classmethod(lambda cls, v: None if v is None else _zone_name(v))
    )

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.at.split(":")
        return int(hour), int(minute)


def mask_url(url: str, *, secret_params: frozenset[str] | None = None, mask_path: int = 0) -> str:
    """``url`` with credentials replaced by ``***``.

    User info is always dropped. ``secret_params`` names the query parameters
    whose values are masked (``None``: every value). ``mask_path`` masks that
    many trailing path segments (a Feishu hook token, a Slack webhook path).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    path = parts.path
    if mask_path:
        segments = path.split("/")
        keep = max(len(segments) - mask_path, 1)
        path = "/".join([*segments[:keep], _MASK])
    query = [
        (k, _MASK if secret_params is None or k in secret_params else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    # safe="*" keeps the mask readable instead of %2A%2A%2A
    return urlunsplit((parts.scheme, host, path, urlencode(query, safe="*"), ""))


def _check_http_url(value: SecretStr) -> SecretStr:
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value


def _query_value(url: SecretStr, name: str) -> str:
    return dict(parse_qsl(urlsplit(url.get_secret_value()).query)).get(name, "")


class _ChannelBase(BaseModel):
    """Fields every channel has."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, allow_inf_nan=False
    )

    #: the kind's query parameters / trailing path segments that are credentials
    _secret_params: ClassVar[frozenset[str] | None] = None
    _masked_path_segments: ClassVar[int] = 0

    name: str = Field(pattern=_NAME_PATTERN, description="unique name; notifications address it")
    rules: list[str] = Field(
        default_factory=list, description="rule names routed here; empty = every rule"
    )
    min_severity: Severity = Field("warning", description="drop alerts below this severity")
    send_resolved: bool = Field(True, description="also notify when an alert resolves")
    proxy: SecretStr | None = Field(None, description="HTTP(S) proxy URL (may carry credentials)")
    timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="per POST, from connecting to the answer's last byte"
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="extra HTTP headers (values treated as secrets)"
    )
    language: Language | None = Field(
        None, description="override the notification's language for headings"
    )
    template: str | None = Field(
        None, description="string.Template for each alert's text; see channels/render.py"
    )
    timezone: str = Field("Asia/Shanghai", description="zone in which times are shown")
    match: Match | None = Field(
        None, description="route: only alerts whose account/kind/service_type/asset fit"
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="route: only accounts whose labels fit these globs"
    )
    digest: DigestConfig | None = Field(None, description="a daily digest at a local time")

    @property
    def routed(self) -> bool:
        """Whether the channel takes a route (``match`` or ``labels``); without one it
        is a default route and gets every alert."""
        return self.match is not None or bool(self.labels)

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if not re.match(_LABEL_PATTERN, k))
        if bad:
            raise ValueError(f"invalid label names: {', '.join(bad)}")
        return value

    @field_validator("template")
    @classmethod
    def _check_template(cls, value: str | None) -> str | None:
        if value is not None and not string.Template(value).is_valid():
            raise ValueError("not a valid string.Template (use $field or ${field}; $$ for $)")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        return _zone_name(value)

    @field_validator("proxy")
    @classmethod
    def _check_proxy(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        # socks needs httpx's optional extra, which we do not install
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be a proxy URL such as http://proxy.example:3128")
        return value

    def _urls(self) -> list[SecretStr]:
        raise NotImplementedError

    def masked_url(self) -> str:
        """The target URL(s), safe to show: credentials replaced by ``***``."""
        return ", ".join(
            mask_url(
                u.get_secret_value(),
                secret_params=self._secret_params,
                mask_path=self._masked_path_segments,
            )
            for u in self._urls()
        )

    def secret_values(self) -> list[str]:
        """Every raw secret of this channel, for the log scrubber."""
        found: list[str] = []
        for url in self._urls():
            raw = url.get_secret_value()
            found.append(raw)
            parts = urlsplit(raw)
            if parts.password:
                found.append(parts.password)
            for key, value in parse_qsl(parts.query):
                if self._secret_params is None or key in self._secret_params:
                    found.append(value)
            if self._masked_path_segments:
                segments = [s for s in parts.path.split("/") if s]
                found.append(segments[-1] if segments else "")
                found.append("/".join(segments[-self._masked_path_segments :]))
        if self.proxy is not None:
            found.append(self.proxy.get_secret_value())
            if password := urlsplit(self.proxy.get_secret_value()).password:
                found.append(password)
        found.extend(v.get_secret_value() for v in self.headers.values())
        secret = getattr(self, "secret", None)
        if isinstance(secret, SecretStr):
            found.append(secret.get_secret_value())
        return [s for s in found if s]


class WebhookChannelConfig(_ChannelBase):
    """Any receiver of Alertmanager's webhook payload (version 4), optionally signed.

    With ``secret`` (``whsec_`` + base64, as Standard Webhooks defines it) each
    request carries ``webhook-id``/``webhook-timestamp``/``webhook-signature``.
    """

    type: Literal["webhook"] = "webhook"
    url: SecretStr
    secret: SecretStr | None = Field(None, description="Standard Webhooks secret, whsec_<base64>")
    external_url: str = Field("", description="externalURL/generatorURL: a link back to us")

    _check_url = field_validator("url")(classmethod(lambda cls, v: _check_http_url(v)))

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.startswith("whsec_"):
            raise ValueError("must start with whsec_ (Standard Webhooks secret format)")
        try:
            key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the part after whsec_ must be base64") from None
        if not 24 <= len(key) <= 64:
            raise ValueError("the decoded key must be 24 to 64 bytes (Standard Webhooks)")
        return value

    def _urls(self) -> list[SecretStr]:
        return [self.url]


class AlertmanagerChannelConfig(_ChannelBase):
    """Push alerts to Alertmanager's API v2; every instance of an HA cluster is posted to."""

    type: Literal["alertmanager"] = "alertmanager"
    urls: list[SecretStr] = Field(min_length=1, description="base URL of EVERY instance")
    resend_interval_seconds: float = Field(
        300.0, ge=60, le=86400, description="how often the caller re-sends firing alerts"
    )
    external_url: str = Field("", description="generatorURL of the alerts: a link back to us")

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for url in value:
            _check_http_url(url)
        return value

    def _urls(self) -> list[SecretStr]:
        return list(self.urls)

    @model_validator(mode="after")
    def _no_digest(self) -> AlertmanagerChannelConfig:
        if self.digest is not None:
            raise ValueError("digest: not for alertmanager channels (Alertmanager takes alerts)")
        return self

    def masked_urls(self) -> list[str]:
        return [mask_url(u.get_secret_value(), secret_params=None) for u in self.urls]


class WeComChannelConfig(_ChannelBase):
    """WeCom (企业微信) group robot: ``.../cgi-bin/webhook/send?key=<key>``."""

    _secret_params = frozenset({"key"})

    type: Literal["wecom"] = "wecom"
    url: SecretStr
    msgtype: Literal["markdown", "text"] = "markdown"
    mentioned_list: list[str] = Field(
        default_factory=list, description="userids to @ ('@all' for everyone)"
    )
    mentioned_mobile_list: list[str] = Field(
        default_factory=list, description="mobiles to @ ('@all' for everyone)"
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        _check_http_url(value)
        if not _query_value(value, "key"):
            raise ValueError("must carry the robot's key=… query parameter")
        return value

    def _urls(self) -> list[SecretStr]:
        return [self.url]


class DingTalkChannelConfig(_ChannelBase):
    """DingTalk (钉钉) custom robot: ``.../robot/send?access_token=<token>``, optionally 加签."""

    _secret_params = frozenset({"access_token"})

    type: Literal["dingtalk"] = "dingtalk"
    url: SecretStr
    secret: SecretStr | None = Field(None, description="加签 secret (SEC…) if the robot uses it")
    at_mobiles: list[str] = Field(default_factory=list)
    at_user_ids: list[str] = Field(default_factory=list)
    at_all: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        _check_http_url(value)
        if not _query_value(value, "access_token"):
            raise ValueError("must carry the robot's access_token=… query parameter")
        if _query_value(value, "sign") or _query_value(value, "timestamp"):
            raise ValueError("must not carry timestamp/sign: set `secret` and we sign each request")
        return value

    def _urls(self) -> list[SecretStr]:
        return [self.url]


class FeishuChannelConfig(_ChannelBase):
    """Feishu / Lark custom bot: ``.../open-apis/bot/v2/hook/<token>``, optionally signed."""

    _masked_path_segments = 1

    type: Literal["feishu"] = "feishu"
    url: SecretStr
    secret: SecretStr | None = Field(None, description="签名校验 secret if the bot uses it")
    at_user_ids: list[str] = Field(default_factory=list, description="open_id/user_id to @")
    at_all: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        _check_http_url(value)
        if not urlsplit(value.get_secret_value()).path.rstrip("/").rsplit("/", 1)[-1]:
            raise ValueError("must end with the bot's hook token")
        return value

    def _urls(self) -> list[SecretStr]:
        return [self.url]


class SlackChannelConfig(_ChannelBase):
    """Slack incoming webhook: ``https://hooks.slack.com/services/T…/B…/…``."""

    # T…/B…/secret: the whole path after /services is the credential
    _masked_path_segments = 3

    type: Literal["slack"] = "slack"
    url: SecretStr

    _check_url = field_validator("url")(classmethod(lambda cls, v: _check_http_url(v)))

    def _urls(self) -> list[SecretStr]:
        return [self.url]


ChannelConfig = Annotated[
    WebhookChannelConfig
    | AlertmanagerChannelConfig
    | WeComChannelConfig
    | DingTalkChannelConfig
    | FeishuChannelConfig
    | SlackChannelConfig,
    Field(discriminator="type"),
]

# The union's own adapter must hide inputs too: errors are rendered by the
# outermost validator, and a URL here is a credential.
_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(
    ChannelConfig, config=ConfigDict(hide_input_in_errors=True)
)


def parse_channel_config(data: object) -> ChannelConfig:
    """Validate one channel's settings (``ValidationError`` never quotes the input).

    A settings model that embeds ``ChannelConfig`` should render its errors with
    ``include_input=False`` (as ``monitor.config.load_settings`` does).
    """
    return _ADAPTER.validate_python(data)
