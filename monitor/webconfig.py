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

Passwords are bcrypt hashes only ($2b$, $2a$ or $2y$, cost 4 to 15): the file
never holds a password, and a hash bcrypt would refuse is refused when the file
is read, naming its user. ``/healthz`` and ``/readyz`` stay open (they reveal
nothing and probes need them) unless ``protect_health: true``. The checks
themselves are :mod:`monitor.auth`'s.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from monitor.errors import ConfigError

__all__ = ["MAX_COST", "MIN_COST", "WebConfig", "bcrypt_cost", "load_web_config", "ssl_context"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSServerConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    min_version: Literal["TLS12", "TLS13"] = "TLS12"


#: bcrypt's own base64 alphabet (not RFC 4648's)
_BCRYPT_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})")
#: the cheapest bcrypt allows, and the dearest we accept: at cost 16 one check
#: takes seconds, and every request with a new password pays it
MIN_COST, MAX_COST = 4, 15


def bcrypt_cost(value: str) -> int:
    """The cost of a well-formed bcrypt hash; ``ValueError`` (saying why, never
    quoting the value) for anything bcrypt would refuse or never match."""
    if not value.startswith("$2"):
        raise ValueError(
            "the value must be a bcrypt hash ($2b$...), never a plain password;"
            " other schemes (MD5, SHA) are not supported"
        )
    if value[:4] not in ("$2a$", "$2b$", "$2y$"):
        raise ValueError("unsupported bcrypt variant: use $2b$ (or $2a$, $2y$)")
    match = _BCRYPT.fullmatch(value)
    # a salt or digest whose last character has stray low bits: bcrypt answers
    # "Invalid salt" at every check, or never matches
    if match is None or _BCRYPT_B64.index(match[2][-1]) % 16 or _BCRYPT_B64.index(match[3][-1]) % 4:
        raise ValueError(
            "malformed bcrypt hash (expected $2b$<cost>$ then 53 characters of ./A-Za-z0-9)"
        )
    cost = int(match[1])
    if not MIN_COST <= cost <= MAX_COST:
        raise ValueError(f"bcrypt cost {cost} is outside {MIN_COST}..{MAX_COST}")
    return cost


def _check_hash(value: SecretStr) -> SecretStr:
    bcrypt_cost(value.get_secret_value())
    return value


_Hash = Annotated[SecretStr, AfterValidator(_check_hash)]


class WebConfig(_Strict):
    tls_server_config: TLSServerConfig | None = None
    #: user -> bcrypt hash; a bad hash is refused here, naming its user, at
    #: ``check-config`` and ``run`` alike (never at the first request)
    basic_auth_users: dict[str, _Hash] = Field(default_factory=dict)
    protect_health: bool = False


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
