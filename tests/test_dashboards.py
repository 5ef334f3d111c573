"""The Grafana dashboard (dashboards/ivh-monitor.json), checked offline.

No Grafana server runs here, so this checks what can be checked without one:
the dashboard's structure (ids, layout, datasource and account variables), that
every query names only metrics the daemon exports, and that every query parses
as PromQL (each one wrapped as a recording rule for ``promtool check rules``).

``panel_queries`` is public: the end-to-end tests run every expression against a
real Prometheus scraping the real daemon.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

DASHBOARD_PATH = Path(__file__).resolve().parent.parent / "dashboards" / "ivh-monitor.json"
DATASOURCE = "${datasource}"

Dashboard = dict[str, Any]
Panel = dict[str, Any]

# Every name the daemon exports (counters with ``_total``, the histogram's series).
KNOWN_METRICS = frozenset(
    {
        "ivh_asset_info",
        "ivh_asset_expiry_timestamp_seconds",
        "ivh_service_ordered_seconds",
        "ivh_service_remaining_seconds",
        "ivh_service_quota_limit",
        "ivh_service_quota_remaining",
        "ivh_service_concurrency_limit",
        "ivh_timbre_audio_seconds_total",
        "ivh_timbre_audio_requests_total",
        "ivh_image_video_seconds_total",
        "ivh_image_videos_total",
        "ivh_image_actions",
        "ivh_anchor_info",
        "ivh_anchor_images",
        "ivh_collection_success",
        "ivh_collection_last_success_timestamp_seconds",
        "ivh_collection_duration_seconds",
        "ivh_collection_stale",
        "ivh_collection_skipped_records",
        "ivh_collection_errors_total",
        "ivh_api_requests_total",
        "ivh_api_request_duration_seconds_bucket",
        "ivh_api_request_duration_seconds_sum",
        "ivh_api_request_duration_seconds_count",
        "ivh_build_info",
        "ivh_account_info",
        "ivh_alert_threshold_seconds",
        "ivh_alerts_firing",
        "ivh_notifications_total",
        "ivh_notification_queue_depth",
        "ivh_service_usage_rate",
        "ivh_service_depletion_timestamp_seconds",
        "ivh_service_unused_at_expiry_seconds",
    }
)
# The daemon-wide metrics: they carry no account label, so $account cannot filter them.
WITHOUT_ACCOUNT = frozenset(
    {
        "ivh_api_request_duration_seconds_bucket",
        "ivh_api_request_duration_seconds_sum",
        "ivh_api_request_duration_seconds_count",
        "ivh_build_info",
        "ivh_alerts_firing",
        "ivh_notifications_total",
        "ivh_notification_queue_depth",
    }
)
# Grafana's own variables, replaced by values a query accepts.
BUILTIN_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
}
DAY = 86400

_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
_METRIC = re.compile(r"ivh_[a-z_]+")
_SELECTOR = re.compile(r"(ivh_[a-z_]+)(\{[^}]*\})?")


# -- helpers (panel_queries is used by the end-to-end tests too) -----------------------


def load_dashboard(path: Path = DASHBOARD_PATH) -> Dashboard:
    data: Dashboard = json.loads(path.read_text("utf-8"))
    return data


def iter_panels(dashboard: Dashboard) -> Iterator[Panel]:
    """Every panel, rows included, and the panels inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _targets(panel: Panel) -> list[dict[str, Any]]:
    return [t for t in panel.get("targets", []) if t.get("expr")]


def _variable_values(dashboard: Dashboard) -> dict[str, str]:
    """A value for each dashboard variable that keeps the PromQL valid.

    Label filters (query, datasource variables) become ``.*``; free-text ones
    (the day thresholds) keep their default, since they stand for numbers.
    """
    values = dict(BUILTIN_VARIABLES)
    for var in dashboard["templating"]["list"]:
        if var["type"] in {"textbox", "constant", "custom"}:
            values[var["name"]] = str(var["query"]).split(",")[0].strip()
        else:
            values[var["name"]] = ".*"
    return values


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]``; unknown names raise."""

    def one(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise KeyError(f"undefined dashboard variable ${name} in {text!r}")
        return values[name]

    return _VARIABLE.sub(one, text)


def panel_queries(dashboard: Dashboard) -> list[tuple[str, str]]:
    """(panel title, PromQL with every variable substituted) for every query."""
    values = _variable_values(dashboard)
    return [
        (substitute(panel["title"], values), substitute(target["expr"], values))
        for panel in iter_panels(dashboard)
        for target in _targets(panel)
    ]


def _raw_exprs(dashboard: Dashboard) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in iter_panels(dashboard) for t in _targets(p)]


@pytest.fixture(scope="module")
def dashboard() -> Dashboard:
    return load_dashboard()


# -- identity and variables ----------------------------------------------------------


def test_identity(dashboard: Dashboard) -> None:
    assert dashboard["uid"] == "ivh-monitor"
    assert dashboard["title"] == "IVH assets"
    assert dashboard["schemaVersion"] == 39
    assert dashboard["id"] is None  # provisioning and import assign their own
    assert "ivh" in dashboard["tags"]
    assert dashboard["refresh"] == "1m"
    assert dashboard["time"] == {"from": "now-7d", "to": "now"}


def test_datasource_is_a_variable(dashboard: Dashboard) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"
    # No import-time inputs: the file provisions as is.
    assert "__inputs" not in dashboard


def test_account_variable(dashboard: Dashboard) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    account = variables["account"]
    assert account["type"] == "query"
    assert account["multi"] is True
    assert account["includeAll"] is True
    # All is the list of the accounts shown (a tenant's), never ".*" (every account)
    assert "allValue" not in account
    assert account["datasource"]["uid"] == DATASOURCE
    assert account["definition"] == (
        "label_values(ivh_account_info"
        '{cluster=~"$cluster",job=~"$job",$account_label=~"$label_value"}, account)'
    )
    assert account["query"]["query"] == account["definition"]


def test_cluster_and_job_variables_as_the_mixins_have(dashboard: Dashboard) -> None:
    names = [v["name"] for v in dashboard["templating"]["list"]]
    # each narrows the next: cluster, then job, then account
    assert names.index("cluster") < names.index("job") < names.index("account")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name, definition in (
        ("cluster", "label_values(ivh_build_info, cluster)"),
        ("job", 'label_values(ivh_build_info{cluster=~"$cluster"}, job)'),
    ):
        var = variables[name]
        assert var["type"] == "query"
        assert var["datasource"]["uid"] == DATASOURCE
        assert var["definition"] == definition
        assert var["query"]["query"] == definition
        # "All" matches series without the label too (a Prometheus with no cluster label)
        assert var["includeAll"] is True
        assert var["allValue"] == ".*"


def test_every_selector_is_scoped_by_cluster_and_job(dashboard: Dashboard) -> None:
    for title, expr in _raw_exprs(dashboard):
        for name, matchers in _SELECTOR.findall(expr):
            assert 'cluster=~"$cluster"' in matchers, f"{title!r}: {name} ignores $cluster"
            assert 'job=~"$job"' in matchers, f"{title!r}: {name} ignores $job"


def test_package_tables_show_readable_names(dashboard: Dashboard) -> None:
    for panel in iter_panels(dashboard):
        if panel["type"] != "table" or not any(
            "ivh_service_" in t["expr"] for t in _targets(panel)
        ):
            continue
        for target in _targets(panel):
            assert "group_left(name" in target["expr"], (panel["title"], target["expr"])
        organize = next(t for t in panel["transformations"] if t["id"] == "organize")
        assert organize["options"]["renameByName"]["name"] == "Name", panel["title"]


def test_account_label_variables_select_a_tenant(dashboard: Dashboard) -> None:
    """A label of the accounts (joined from ivh_account_info) narrows $account: a
    tenant's panels are one selection away."""
    names = [v["name"] for v in dashboard["templating"]["list"]]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # defined before the account variable, which refers to them
    assert names.index("account_label") < names.index("label_value") < names.index("account")
    assert variables["account_label"]["type"] == "textbox"
    assert variables["account_label"]["query"] == "tenant"
    value = variables["label_value"]
    assert value["type"] == "query"
    assert value["datasource"]["uid"] == DATASOURCE
    assert (
        value["definition"]
        == 'label_values(ivh_account_info{cluster=~"$cluster",job=~"$job"}, $account_label)'
    )
    assert value["query"]["query"] == value["definition"]
    assert value["includeAll"] is True
    assert value["allValue"] == ".*"  # All includes accounts without the label


def test_every_variable_used_is_defined(dashboard: Dashboard) -> None:
    values = _variable_values(dashboard)
    for title, expr in _raw_exprs(dashboard):
        substitute(title, values)
        substitute(expr, values)  # raises on an undefined name


# -- layout ------------------------------------------------------------------------------


def test_panel_ids_are_unique(dashboard: Dashboard) -> None:
    ids = [p["id"] for p in iter_panels(dashboard)]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) and i > 0 for i in ids)


def test_every_panel_has_a_title(dashboard: Dashboard) -> None:
    for panel in iter_panels(dashboard):
        assert panel.get("title", "").strip(), panel["id"]


def test_grid_positions_do_not_overlap(dashboard: Dashboard) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["w"] > 0, panel["title"]
        assert pos["h"] > 0, panel["title"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]


def test_every_query_uses_the_datasource_variable(dashboard: Dashboard) -> None:
    for panel in iter_panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE, panel["title"]
            assert target["datasource"]["type"] == "prometheus", panel["title"]


def test_the_first_row_is_stat_panels(dashboard: Dashboard) -> None:
    content = [p for p in dashboard["panels"] if p["type"] != "row"]
    top = min(p["gridPos"]["y"] for p in content)
    first_row = [p for p in content if p["gridPos"]["y"] == top]
    assert len(first_row) >= 6
    assert {p["type"] for p in first_row} == {"stat"}
    assert sum(p["gridPos"]["w"] for p in first_row) == 24


def test_a_table_sorted_by_time_left(dashboard: Dashboard) -> None:
    tables = [
        p
        for p in iter_panels(dashboard)
        if p["type"] == "table"
        and p.get("options", {}).get("sortBy") == [{"displayName": "Time left", "desc": False}]
        and any("ivh_asset_expiry_timestamp_seconds" in t["expr"] for t in _targets(p))
    ]
    assert tables
    table = tables[0]
    first = _targets(table)[0]
    assert first["format"] == "table"
    assert first["instant"] is True
    assert "- time()" in first["expr"]
    assert "group_left(name, type) ivh_asset_info" in first["expr"]
    (override,) = [
        o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "Time left"
    ]
    props = {p["id"]: p["value"] for p in override["properties"]}
    assert props["unit"] in {"s", "dtdurations"}
    steps = [s["value"] for s in props["thresholds"]["steps"]]
    assert steps == [None, 0, 7 * DAY, 30 * DAY]


def test_sorted_tables_sort_by_a_column_they_have(dashboard: Dashboard) -> None:
    for panel in iter_panels(dashboard):
        for sort in panel.get("options", {}).get("sortBy", []):
            renames = [
                t["options"]["renameByName"]
                for t in panel.get("transformations", [])
                if t["id"] == "organize"
            ]
            assert any(sort["displayName"] in r.values() for r in renames), panel["title"]


# -- queries ---------------------------------------------------------------------------------


def test_queries_name_only_exported_metrics(dashboard: Dashboard) -> None:
    exprs = _raw_exprs(dashboard)
    assert len(exprs) >= 30
    for title, expr in exprs:
        unknown = set(_METRIC.findall(expr)) - KNOWN_METRICS
        assert not unknown, f"{title!r}: unknown metric(s) {sorted(unknown)}"


def test_queries_filter_by_account(dashboard: Dashboard) -> None:
    for title, expr in _raw_exprs(dashboard):
        for name, matchers in _SELECTOR.findall(expr):
            if name in WITHOUT_ACCOUNT:
                continue
            assert 'account=~"$account"' in matchers, f"{title!r}: {name} ignores $account"


def test_daemon_wide_metrics_are_not_filtered_by_account(dashboard: Dashboard) -> None:
    # A filter on a label the series lacks would empty the panel.
    for title, expr in _raw_exprs(dashboard):
        for name, matchers in _SELECTOR.findall(expr):
            if name in WITHOUT_ACCOUNT:
                assert "account" not in matchers, f"{title!r}: {name} has no account label"


def test_panel_queries_substitute_every_variable(dashboard: Dashboard) -> None:
    queries = panel_queries(dashboard)
    assert len(queries) == len(_raw_exprs(dashboard))
    for title, expr in queries:
        assert "$" not in expr, (title, expr)
        assert "[[" not in expr, (title, expr)
        assert "$" not in title, title
    exprs = [e for _, e in queries]
    assert any('account=~".*"' in e for e in exprs)
    assert any("[1m]" in e for e in exprs)
    assert any("< 7 * 86400" in e for e in exprs)
    assert any("< 30 * 86400" in e for e in exprs)


def test_substitute_rejects_undefined_variables() -> None:
    with pytest.raises(KeyError, match="acount"):
        substitute('up{account=~"$acount"}', {"account": ".*"})
    assert substitute("${account:regex}[[x]]$y", {"account": "a", "x": "b", "y": "c"}) == "abc"


def test_every_query_parses(dashboard: Dashboard, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is required in CI (Debian package 'prometheus')")
        pytest.skip("promtool not installed")
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, (_title, expr) in enumerate(panel_queries(dashboard))
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout
