"""Every number in the configuration is finite and bounded, and `check-config` and
`run` refuse the same files with the same one-line errors.

The numeric fields are found by walking the models, so a field added later is
covered without touching this file (a new kind of list item needs a minimal
example in ``_MINIMAL``).
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from monitor.alerts.channels.config import (
    AlertmanagerChannelConfig,
    DingTalkChannelConfig,
    FeishuChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
    WeComChannelConfig,
)
from monitor.alerts.config import Override
from monitor.config import AccountConfig, Settings, TenantConfig, load_settings
from monitor.daemon import Daemon
from monitor.domain import FAMILIES
from monitor.errors import ConfigError
from monitor.simulator import RunningSimulator
from tests.conftest import TEST_TOKEN
from tests.processes import clean_env

_ACCOUNT = {"name": "a", "appkey": "k", "access_token": "t"}
#: a valid item of each kind of list the settings hold
_MINIMAL: dict[type[BaseModel], dict[str, Any]] = {
    AccountConfig: _ACCOUNT,
    Override: {"rule": "expiring"},
    TenantConfig: {"name": "t", "labels": {"tenant": "x"}},
    WebhookChannelConfig: {"name": "c", "type": "webhook", "url": "http://127.0.0.1:9/h"},
    AlertmanagerChannelConfig: {
        "name": "c",
        "type": "alertmanager",
        "urls": ["http://127.0.0.1:9"],
    },
    WeComChannelConfig: {"name": "c", "type": "wecom", "url": "http://127.0.0.1:9/s?key=k"},
    DingTalkChannelConfig: {
        "name": "c",
        "type": "dingtalk",
        "url": "http://127.0.0.1:9/s?access_token=k",
    },
    FeishuChannelConfig: {"name": "c", "type": "feishu", "url": "http://127.0.0.1:9/hook/k"},
    SlackChannelConfig: {"name": "c", "type": "slack", "url": "http://127.0.0.1:9/services/a/b/c"},
}
_BAD = (math.inf, -math.inf, math.nan, 1e308)
_END = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


@dataclass(frozen=True)
class NumericField:
    #: where it sits in a YAML document
    path: tuple[str | int, ...]
    #: how an error names it
    name: str
    info: FieldInfo
    #: list items the path goes through: (path of the item, the item)
    items: tuple[tuple[tuple[str | int, ...], dict[str, Any]], ...]

    def document(self, value: object) -> dict[str, Any]:
        doc: dict[str, Any] = {"accounts": [dict(_ACCOUNT)]}
        for where, item in self.items:
            _put(doc, where, dict(item))
        _put(doc, self.path, value)
        return doc

    def bound(self, kind: type) -> float | None:
        for meta in self.info.metadata:
            if isinstance(meta, kind):
                return float(getattr(meta, kind.__name__.lower()))
        return None


def _put(doc: Any, path: tuple[str | int, ...], value: object) -> None:
    node = doc
    for key, nxt in itertools.pairwise(path):
        if isinstance(key, int):
            while len(node) <= key:
                node.append({})
            node = node[key]
        else:
            node = node.setdefault(key, [] if isinstance(nxt, int) else {})
    last = path[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append({})
        node[last] = value
    else:
        node[last] = value


def _models(tp: Any) -> list[type[BaseModel]] | None:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if all(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
        return args
    return None


def _walk(
    tp: Any,
    path: tuple[str | int, ...],
    name: str,
    info: FieldInfo | None,
    items: tuple[tuple[tuple[str | int, ...], dict[str, Any]], ...],
) -> Iterator[NumericField]:
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        models = _models(tp)
        if models and len(models) > 1:  # a discriminated union: errors name the tag
            for model in models:
                tag = model.model_fields["type"].default
                yield from _fields(model, path, f"{name}.{tag}", (*items, (path, _MINIMAL[model])))
            return
        for member in members:
            yield from _walk(member, path, name, info, items)
    elif origin is list:
        (item,) = typing.get_args(tp)
        inner = item
        if typing.get_origin(inner) is typing.Annotated:
            inner = typing.get_args(inner)[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from _fields(
                inner, (*path, 0), f"{name}[0]", (*items, ((*path, 0), _MINIMAL[inner]))
            )
        else:
            yield from _walk(item, (*path, 0), f"{name}[0]", info, items)
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        yield from _fields(tp, path, name, items)
    elif tp in (int, float):
        assert info is not None
        yield NumericField(path, name, info, items)


def _fields(
    model: type[BaseModel],
    path: tuple[str | int, ...],
    name: str,
    items: tuple[tuple[tuple[str | int, ...], dict[str, Any]], ...],
) -> Iterator[NumericField]:
    for field_name, info in model.model_fields.items():
        yield from _walk(
            info.annotation,
            (*path, field_name),
            f"{name}.{field_name}" if name else field_name,
            info,
            items,
        )


NUMERIC = list(_fields(Settings, (), "", ()))


def test_the_walk_finds_every_kind_of_numeric_setting() -> None:
    names = {f.name for f in NUMERIC}
    assert {
        "client.timeout_seconds",
        "schedule.services_seconds",
        "stale_after_seconds",
        "alerts.repeat_interval_seconds",
        "alerts.rules.hours_depleting.window_days",
        "alerts.overrides[0].warning_hours",
        "alerts.delivery.max_attempts",
        "alerts.state_max_mb",
        "alerts.channels[0].alertmanager.resend_interval_seconds",
        "alerts.channels[0].slack.timeout_seconds",
    } <= names
    assert len(names) == len(NUMERIC) >= 50


@pytest.mark.parametrize("field", NUMERIC, ids=lambda f: f.name)
def test_every_numeric_setting_has_an_upper_bound(field: NumericField) -> None:
    upper = field.bound(annotated_types.Le)
    assert upper is not None, f"{field.name} needs le=…"
    # whatever is downstream takes it: days, hours and seconds from now, as a date
    unit = {"days": 86400, "hours": 3600}.get(field.name.rsplit("_", 1)[-1], 1)
    assert datetime(2100, 1, 1, tzinfo=UTC) + timedelta(seconds=upper * unit) < _END


@pytest.mark.parametrize("field", NUMERIC, ids=lambda f: f.name)
def test_inf_nan_and_huge_numbers_are_refused_naming_the_field(
    field: NumericField, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    for bad in _BAD:
        path.write_text(yaml.safe_dump(field.document(bad)), "utf-8")
        with pytest.raises(ConfigError) as caught:
            load_settings(path)
        assert len(caught.value.problems) == 1, (bad, caught.value.problems)
        [problem] = caught.value.problems
        assert problem.startswith(f"{field.name}: "), (bad, problem)
        assert "\n" not in problem


@pytest.mark.parametrize("raw", ["inf", "-inf", "nan", "NaN", "Infinity", "1e308"])
def test_environment_variables_are_held_to_the_same_bounds(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVH_MONITOR_ALERTS__REPEAT_INTERVAL_SECONDS", raw)
    monkeypatch.setenv("IVH_MONITOR_SCHEDULE__SERVICES_SECONDS", raw)
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert sorted(p.split(":")[0] for p in caught.value.problems) == [
        "alerts.repeat_interval_seconds",
        "schedule.services_seconds",
    ]


def _cli(config: Path, command: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean_env(), "IVH_MONITOR_STATE_DIR": str(state)},
        check=False,
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("schedule.services_seconds", math.inf),
        ("schedule.actions_seconds", 1e308),
        ("alerts.repeat_interval_seconds", math.inf),
        ("alerts.rules.hours_depleting.window_days", math.nan),
    ],
)
def test_check_config_and_run_refuse_alike(setting: str, value: float, tmp_path: Path) -> None:
    [field] = [f for f in NUMERIC if f.name == setting]
    doc = {"listen": "127.0.0.1:0", **field.document(value)}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(doc), "utf-8")
    checked = _cli(config, "check-config", tmp_path / "state")
    ran = _cli(config, "run", tmp_path / "state")
    for done in (checked, ran):
        assert done.returncode == 64, done.stderr
        assert "Traceback" not in done.stderr
    assert checked.stderr == ran.stderr
    first, *problems = checked.stderr.splitlines()
    assert first == "ivh-monitor: invalid configuration:"
    assert len(problems) == 1
    assert problems[0].startswith(f"  - {setting}: Input should be ")


async def test_the_daemon_runs_with_every_setting_at_its_upper_bound(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """What check-config lets through, the daemon takes: schedules, history windows,
    retention and forecasts at their largest do not overflow anything."""
    doc: dict[str, Any] = {}
    for field in NUMERIC:
        if field.path[:2] in (("alerts", "channels"), ("alerts", "overrides")):
            continue  # one channel and one override below
        upper = field.bound(annotated_types.Le)
        assert upper is not None
        _put(doc, field.path, int(upper) if field.info.annotation is int else upper)
    doc["alerts"]["overrides"] = [
        {"rule": "expiring", "warning_days": 3650, "critical_days": 3650, "warning_hours": 1e6}
    ]
    doc["alerts"]["channels"] = [
        {**_MINIMAL[AlertmanagerChannelConfig], "resend_interval_seconds": 86400}
    ]
    doc["accounts"] = [
        {"name": "t1", "appkey": "ak-t1", "access_token": TEST_TOKEN, "base_url": sim.url}
    ]
    doc["state_dir"] = str(tmp_path)
    path = tmp_path / "max.yaml"
    path.write_text(yaml.safe_dump(doc), "utf-8")
    settings = load_settings(path)
    daemon = Daemon(settings, settings.resolved_accounts())
    try:
        daemon.start()
        await daemon.housekeeping()
        for _ in range(2):
            for family in FAMILIES:
                await daemon.run_family("t1", family)
        assert daemon.alive
        assert all(s.success for s in daemon.store.current.states())
        assert all(n == 0 for n in daemon.engine.evaluation_errors.values())
        assert b"ivh_alert_evaluation_errors_total" in daemon.registry.render_text()
    finally:
        await daemon.stop()
