"""Optional TLS and basic auth for the HTTP endpoints, in the style of Prometheus'
exporter web configuration (``--web.config.file``)::

    tls_server_config:
      cert_file: /etc/ivh-monitor/tls/tls.crt
      key_file: /etc/ivh-monitor/tls/tls.key
      # client_ca_file: /etc/ivh-monitor/tls/ca.crt   # require client certificates
      # min_version: TLS12
    basic_auth_users:
      # user: bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n', or python -c 'import bcrypt; ...')
      prometheus: $2b$10$...

Passwords are bcrypt hashes only: the file never holds a password. ``/healthz``
and ``/readyz`` stay open (they reveal nothing and probes need them) unless
``protect_health: true``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from monitor.errors import ConfigError

__all__ = ["WebConfig", "auth_middleware", "load_web_config", "ssl_context"]

_OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_CACHE_SIZE = 256


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSServerConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    min_version: Literal["TLS12", "TLS13"] = "TLS12"


class WebConfig(_Strict):
    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, SecretStr] = Field(default_factory=dict)
    protect_health: bool = False

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_only(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        bad = [u for u, h in value.items() if not h.get_secret_value().startswith("$2")]
        if bad:
            raise ValueError(
                f"users {', '.join(sorted(bad))}: the value must be a bcrypt hash ($2b$...),"
                " never a plain password"
            )
        return value


def load_web_config(path: Path) -> WebConfig:
    """Read and check the file; every problem names its field, never its value."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError([f"web_config_file: cannot read {path}: {exc.strerror}"]) from None
    except yaml.YAMLError:
        raise ConfigError([f"web_config_file: {path} is not valid YAML"]) from None
    try:
        config = WebConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [
                f"web_config_file {path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors(include_url=False, include_input=False)
            ]
        ) from None
    if config.tls_server_config is not None:
        ssl_context(config)  # fail at start, not at the first scrape
    return config


def ssl_context(config: WebConfig) -> ssl.SSLContext | None:
    tls = config.tls_server_config
    if tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if tls.min_version == "TLS13" else ssl.TLSVersion.TLSv1_2
    )
    try:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        if tls.client_ca_file is not None:
            context.load_verify_locations(str(tls.client_ca_file))
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError([f"web_config_file: tls_server_config: cannot load: {exc}"]) from None
    return context


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(users: Mapping[str, SecretStr], *, protect_health: bool = False) -> Middleware:
    """Basic auth against bcrypt hashes; successful checks are cached (bcrypt is slow
    on purpose, and Prometheus scrapes often) by a keyed digest, never the password."""
    hashes = {u: h.get_secret_value().encode() for u, h in users.items()}
    cache_key = hashlib.sha256(b"".join(hashes.values())).digest()
    verified: dict[bytes, None] = {}

    def ok(header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = hashes.get(user)
        if expected is None:
            return False
        token = hmac.new(cache_key, f"{user}\x00{password}".encode(), hashlib.sha256).digest()
        if token in verified:
            return True
        if not bcrypt.checkpw(password.encode(), expected):
            return False
        if len(verified) >= _CACHE_SIZE:
            verified.pop(next(iter(verified)))
        verified[token] = None
        return True

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not protect_health and request.path in _OPEN_PATHS:
            return await handler(request)
        if ok(request.headers.get("Authorization", "")):
            return await handler(request)
        return web.Response(
            status=401,
            text="Unauthorized\n",
            headers={"WWW-Authenticate": 'Basic realm="ivh-monitor", charset="UTF-8"'},
        )

    return middleware
