"""The shipped deployment files agree with each other: the rules' runbook links,
the image the chart runs and the one the Dockerfile builds (pure file checks)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from monitor import __version__

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "ivh-monitor"
RULES = ROOT / "config" / "prometheus" / "ivh-monitor-rules.yml"
RUNBOOKS = "docs/runbooks.md"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


def _alerts() -> list[dict[str, Any]]:
    rules = _yaml(RULES)
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def test_every_runbook_url_is_the_runbooks_anchor_of_its_alert() -> None:
    base = _yaml(CHART / "values.yaml")["prometheusRule"]["runbookBaseURL"]
    assert base.endswith(f"/blob/main/{RUNBOOKS}"), base
    alerts = _alerts()
    assert len(alerts) >= 20
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        # the heading "## IvhAssetExpiring" of docs/runbooks.md is anchor #ivhassetexpiring
        assert url == f"{base}#{rule['alert'].lower()}", rule["alert"]


def test_runbooks_have_a_section_per_alert_when_shipped() -> None:
    path = ROOT / RUNBOOKS
    if not path.exists():  # written beside this change; checked once it is there
        return
    headings = set(re.findall(r"^## (\S+)\s*$", path.read_text("utf-8"), re.MULTILINE))
    missing = {r["alert"] for r in _alerts()} - headings
    assert not missing, f"{RUNBOOKS} lacks a section for {sorted(missing)}"


def test_the_chart_runs_the_image_the_dockerfile_builds() -> None:
    chart = _yaml(CHART / "Chart.yaml")
    values = _yaml(CHART / "values.yaml")
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert chart["appVersion"] == __version__
    assert re.search(rf"^ARG VERSION={re.escape(__version__)}$", dockerfile, re.MULTILINE)
    image = f"{values['image']['repository']}:{chart['appVersion']}"
    # the build command the Dockerfile documents tags exactly the chart's default image
    built = re.findall(r"docker build -t (\S+) \.", dockerfile)
    assert built == [image], built
    assert re.search(rf"docker run .*\n(?:#.*\n)*#.*{re.escape(image)}$", dockerfile, re.MULTILINE)


def test_chart_versions_are_semver_for_oci() -> None:
    chart = _yaml(CHART / "Chart.yaml")
    semver = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
    assert re.fullmatch(semver, chart["version"])
    assert re.fullmatch(semver, chart["appVersion"])
    assert chart["sources"]
    assert chart["home"].startswith("https://")


def test_kube_prometheus_stack_example_labels_what_kps_selects() -> None:
    example = _yaml(CHART / "examples" / "kube-prometheus-stack.yaml")
    release = example["serviceMonitor"]["labels"]["release"]
    assert example["prometheusRule"]["labels"]["release"] == release
    assert example["serviceMonitor"]["enabled"]
    assert example["prometheusRule"]["enabled"]
    assert example["grafana"]["createDashboard"]
    assert example["grafana"]["sidecarLabel"] == "grafana_dashboard"
