"""Hostile configuration (issue 6): random YAML, mutations of config/example.yaml and
random ``IVH_MONITOR_*`` variables.

``load_settings`` returns ``Settings`` or raises ``ConfigError`` (so does
``resolved_accounts()``), never anything else, and no error text ever carries
the access token.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from monitor.config import Account, Settings, load_settings
from monitor.errors import ConfigError
from tests.strategies import FUZZ as _FUZZ
from tests.strategies import json_values

FUZZ = settings(
    _FUZZ,
    # tmp_path is shared by the examples of a test: each rewrites the files it uses
    suppress_health_check=[*_FUZZ.suppress_health_check, HealthCheck.function_scoped_fixture],
)

SECRET = "at-SECRET-5be1c0de"  # a marker, searched for in every error text
EXAMPLE = yaml.safe_load((Path(__file__).parent.parent / "config/example.yaml").read_text("utf-8"))

# -- strategies ------------------------------------------------------------------------------

yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.dates()
    | st.binary(max_size=8)  # !!binary
    | st.sampled_from(["", "~", "yes", "0x1F", "1e999", "-.inf", "0.0.0.0:99999"])
    | st.sampled_from(["Asia", "Asia/Nowhere", "x" * 300, "../etc", "Etc/"])  # time zones
)
yaml_keys = st.text(max_size=12) | st.integers() | st.none() | st.booleans() | st.floats()
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(yaml_keys, inner, max_size=4),
    max_leaves=10,
)
#: names the settings know, at any depth (so mutations hit real fields, not just extras)
FIELD_NAMES = sorted(
    {"accounts", "access_token", "access_token_file", "appkey", "name", "labels", "base_url"}
    | set(Settings.model_fields)
    | {k for v in EXAMPLE.values() if isinstance(v, dict) for k in v}
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


TOKEN_FILES = st.sampled_from(["missing", "dir", "empty", "latin1", "nul", "secret", "plain"])


def token_file(kind: str, where: Path) -> str:
    """A path for access_token_file: missing, a directory, empty, not UTF-8, NUL, a secret."""
    path = where / f"token-{kind}"
    if kind == "dir":
        return str(where)
    if kind == "nul":
        return f"{path}\x00x"
    contents = {
        "empty": b"  \n",
        "latin1": b"\xff\xfe" + SECRET.encode(),
        "secret": SECRET.encode(),
        "plain": b"plain-token\n",
    }
    if kind in contents:
        path.write_bytes(contents[kind])
    return str(path)


def _set_token(draw: st.DrawFn, doc: Any, op: str, where: Path) -> None:
    accounts = doc.get("accounts")
    accounts = [a for a in accounts if isinstance(a, dict)] if isinstance(accounts, list) else []
    if not accounts:
        return
    acc = draw(st.sampled_from(accounts))
    if op == "token":
        acc["access_token"] = draw(st.sampled_from([SECRET, "", None, [SECRET]]))
    else:
        acc["access_token_file"] = token_file(draw(TOKEN_FILES), where)
        if draw(st.booleans()):
            acc.pop("access_token", None)


@st.composite
def mutated_example(draw: st.DrawFn, where: Path) -> Any:
    """config/example.yaml with values replaced, wrapped, dropped or added, and the
    secret marker in access_token."""
    doc = copy.deepcopy(EXAMPLE)
    for acc in doc["accounts"]:
        acc["access_token"] = SECRET
        acc.pop("access_token_file", None)
    for _ in range(draw(st.integers(0, 6))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["set", "set", "drop", "wrap", "add", "token", "tokenfile"]))
        if not path:
            continue
        last = path[-1]
        if op == "set":
            parent[last] = draw(yaml_values)
        elif op == "drop" and isinstance(parent, dict):
            del parent[last]
        elif op == "wrap":
            parent[last] = [parent[last]] if draw(st.booleans()) else {"x": parent[last]}
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(FIELD_NAMES) | yaml_keys)] = draw(yaml_values)
        elif op in ("token", "tokenfile"):
            _set_token(draw, doc, op, where)
    return doc


env_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30)
ENV_NAMES = [
    "APPKEY",
    "ACCESS_TOKEN",
    "ACCESS_TOKEN_FILE",
    "ACCOUNT_NAME",
    "ACCOUNTS",
    "BASE_URL",
    "TIMEZONE",
    "CLIENT",
    "CLIENT__RETRIES",
    "CLIENT__ENDPOINTS",
    "CLIENT__MAX_PAGES",
    "SCHEDULE",
    "SCHEDULE__SERVICES_SECONDS",
    "LISTEN",
    "LOG_LEVEL",
    "STATE_DIR",
    "ALERTS",
    "ALERTS__CHANNELS",
    "ALERTS__RULES__EXPIRING__WARNING_DAYS",
    "ALERT_WEBHOOK_URL",
    "ACCOUNTS__0__NAME",
    "EXPOSE_RELATIVE_METRICS",
    "NOT_A_SETTING",
    "CONFIG",  # read only when no path is given
]
env_values = st.one_of(
    env_text,
    st.builds(json.dumps, json_values),
    st.sampled_from(["http://hook.test/x", "ftp://x", "{", "[", "null", "1e999", "true"]),
)
#: the secret goes where a token belongs, and nowhere else
secret_env = st.fixed_dictionaries(
    {},
    optional={
        "ACCESS_TOKEN": st.sampled_from([SECRET, f" {SECRET} "]),
        "ACCOUNTS": st.sampled_from(
            [
                json.dumps([{"name": "e", "appkey": "k", "access_token": SECRET}]),
                json.dumps([{"name": "e", "appkey": "k", "access_token": SECRET, "x": 1}]),
                json.dumps({"name": "e", "access_token": SECRET}),
                '[{"name": "e", "appkey": "k", "access_token": "' + SECRET,  # cut short
            ]
        ),
    },
)
env_vars = st.builds(
    lambda generic, secret: {
        f"IVH_MONITOR_{k}": v for k, v in {**generic, **secret}.items() if "=" not in k
    },
    st.dictionaries(st.sampled_from(ENV_NAMES) | env_text.map(str.upper), env_values, max_size=4),
    secret_env,
)


# -- the property ----------------------------------------------------------------------------


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables for one example and restore exactly what was there (hypothesis runs
    many examples per test, which monkeypatch does not reset between)."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        os.environ.update(values)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_and_resolve(path: Path | None, env: dict[str, str]) -> None:
    """The property: Settings or ConfigError, never another exception, never the secret."""
    texts: list[str] = []
    with environment(env):
        try:
            loaded = load_settings(path)
        except ConfigError as exc:
            event("ConfigError from load_settings")
            texts += [str(exc), *exc.problems]
        else:
            assert isinstance(loaded, Settings)
            texts += [repr(loaded), json.dumps(loaded.masked(), default=str)]
            for step in (loaded.resolved_accounts, loaded.effective_alerts):
                try:
                    result = step()
                except ConfigError as exc:
                    event(f"ConfigError from {step.__name__}")
                    texts += [str(exc), *exc.problems]
                else:
                    event(f"{step.__name__} returned")
                    texts.append(repr(result))
            accounts = _resolved(loaded)
            if accounts is not None:
                assert accounts, "no accounts is a ConfigError"
                assert len({a.name for a in accounts}) == len(accounts)
                assert all(a.access_token.get_secret_value() for a in accounts)
    for text in texts:
        assert SECRET not in text, text


def _resolved(loaded: Settings) -> list[Account] | None:
    try:
        return loaded.resolved_accounts()
    except ConfigError:
        return None


@FUZZ
@given(doc=yaml_values, env=env_vars)
@example(doc={1: 2}, env={})  # pydantic-settings called .lower() on a non-string name
@example(doc={}, env={"IVH_MONITOR_CLIENT": "{"})  # not JSON: SettingsError escaped
@example(doc={}, env={"IVH_MONITOR_CLIENT": "[" * 5000})  # RecursionError escaped
@example(doc={}, env={"IVH_MONITOR_ALERT_WEBHOOK_URL": "ftp://x"})  # ValidationError escaped
@example(doc={"timezone": "Asia"}, env={})  # a tzdata directory: IsADirectoryError escaped
@example(doc={"accounts": [{"name": "a", "appkey": "k", "timezone": "x" * 300}]}, env={})
def test_random_yaml_documents(doc: Any, env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_and_resolve(path, env)


@FUZZ
@given(data=st.data(), env=env_vars)
def test_mutations_of_the_example_config(
    data: st.DataObject, env: dict[str, str], tmp_path: Path
) -> None:
    doc = data.draw(mutated_example(tmp_path))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    load_and_resolve(path, env)


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        # around and beyond the recursion limit, closed or not
        st.builds(
            lambda n, closed: b"a: " + b"[" * n + b"]" * (n if closed else 0),
            st.integers(400, 1100),
            st.booleans(),
        ),
        st.sampled_from(
            [
                b"\xff\xfe log_level: info",
                b"1: 2",
                b"? [a]\n: 1",
                b"- a",
                b"!!python/name:os.system",
            ]
        ),
    ),
    env=env_vars,
)
def test_raw_bytes_as_the_config_file(raw: bytes, env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    load_and_resolve(path, env)


@FUZZ
@given(env=env_vars, kind=st.none() | TOKEN_FILES)
@example(env={"IVH_MONITOR_CONFIG": "c" * 300}, kind=None)  # OSError from is_file()
def test_environment_alone(env: dict[str, str], kind: str | None, tmp_path: Path) -> None:
    if kind is not None and kind != "nul":  # the environment holds no NUL
        env = {**env, "IVH_MONITOR_ACCESS_TOKEN_FILE": token_file(kind, tmp_path)}
    load_and_resolve(None, env)
