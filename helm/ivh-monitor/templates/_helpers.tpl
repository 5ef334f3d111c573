{{/*
Names and labels (the usual `helm create` shapes).
*/}}
{{- define "ivh-monitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ivh-monitor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ivh-monitor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ivh-monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ivh-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ivh-monitor.labels" -}}
helm.sh/chart: {{ include "ivh-monitor.chart" . }}
{{ include "ivh-monitor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ivh-monitor
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ivh-monitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ivh-monitor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ivh-monitor.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Name of the Secret the chart creates for inline tokens and the webhook URL. */}}
{{- define "ivh-monitor.secretName" -}}
{{- include "ivh-monitor.fullname" . }}
{{- end }}

{{/* Where token files are mounted; one file per account, named after it. */}}
{{- define "ivh-monitor.tokenDir" -}}/etc/ivh-monitor/tokens{{- end }}
{{- define "ivh-monitor.stateDir" -}}/var/lib/ivh-monitor{{- end }}

{{/* Whether the chart must create its Secret (inline tokens or webhook URL). */}}
{{- define "ivh-monitor.createSecret" -}}
{{- $create := false }}
{{- range .Values.accounts }}
{{- if .accessToken }}{{ $create = true }}{{ end }}
{{- end }}
{{- if and .Values.alerting.webhookUrl (not .Values.alerting.existingSecret) }}{{ $create = true }}{{ end }}
{{- if $create }}true{{ end }}
{{- end }}

{{/*
Where each account's token comes from: a list of {name, secret, key}. Fails on
an account with no token source, so a broken install never reaches the cluster.
*/}}
{{- define "ivh-monitor.tokenSources" -}}
{{- $root := . }}
{{- $out := list }}
{{- range $i, $a := .Values.accounts }}
{{- $secret := "" }}
{{- $key := default $a.name $a.existingSecretKey }}
{{- if and $a.accessToken $a.existingSecret }}
{{- fail (printf "accounts[%d] (%s): set accessToken or existingSecret, not both" $i $a.name) }}
{{- else if $a.accessToken }}
{{- $secret = include "ivh-monitor.secretName" $root }}
{{- $key = printf "token-%s" $a.name }}
{{- else if $a.existingSecret }}
{{- $secret = $a.existingSecret }}
{{- else if $root.Values.existingSecret }}
{{- $secret = $root.Values.existingSecret }}
{{- else }}
{{- fail (printf "accounts[%d] (%s): no token; set accounts[%d].accessToken, accounts[%d].existingSecret or existingSecret" $i $a.name $i $i) }}
{{- end }}
{{- $out = append $out (dict "name" $a.name "secret" $secret "key" $key) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* The daemon's config file: `config`, the accounts, then `extraConfig`. */}}
{{- define "ivh-monitor.configFile" -}}
{{- $accounts := list }}
{{- range .Values.accounts }}
{{- $acc := dict "name" .name "appkey" .appkey "access_token_file" (printf "%s/%s" (include "ivh-monitor.tokenDir" $) .name) }}
{{- with .baseUrl }}{{ $_ := set $acc "base_url" . }}{{ end }}
{{- with .timezone }}{{ $_ := set $acc "timezone" . }}{{ end }}
{{- with .labels }}{{ $_ := set $acc "labels" . }}{{ end }}
{{- $accounts = append $accounts $acc }}
{{- end }}
{{- $cfg := deepCopy .Values.config }}
{{- if not $cfg.client }}{{ $_ := unset $cfg "client" }}{{ end }}
{{- $_ := set $cfg "accounts" $accounts }}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) }}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy .Values.extraConfig) }}
{{- toYaml $cfg }}
{{- end }}

{{/* A schedule interval (seconds) of a family, from config with the daemon's default. */}}
{{- define "ivh-monitor.interval" -}}
{{- $defaults := dict "services" 300 "timbres" 1800 "images" 1800 "actions" 86400 }}
{{- $schedule := default dict .root.Values.config.schedule }}
{{- $key := printf "%s_seconds" .family }}
{{- if hasKey $schedule $key }}{{ get $schedule $key }}{{ else }}{{ get $defaults .family }}{{ end }}
{{- end }}

{{/* Token sources grouped by Secret: {secretName: [{name, key}, ...]} as YAML. */}}
{{- define "ivh-monitor.groupTokens" -}}
{{- $groups := dict }}
{{- range .sources }}
{{- $list := get $groups .secret | default list }}
{{- $_ := set $groups .secret (append $list (dict "name" .name "key" .key)) }}
{{- end }}
{{- toYaml $groups }}
{{- end }}

{{/*
One alerting rule of the built-in group, as a one-item YAML list.
Input: dict root, key (under prometheusRule.rules), name, expr, summary, description,
and named (true for asset alerts: the asset's name from ivh_asset_info is shown
beside its id where the expression joined it, see ivh-monitor.withNames).
Severity comes from the rule's values and is not overridden by alertExtraLabels;
alertExtraAnnotations may override the built-in annotations (runbook_url too).
*/}}
{{- define "ivh-monitor.alertRule" -}}
{{- $p := .root.Values.prometheusRule }}
{{- $cfg := get $p.rules .key }}
{{- $rule := dict "alert" (printf "%s%s" $p.rulePrefix .name) "expr" (trim .expr) }}
{{- with $cfg.for }}{{ $_ := set $rule "for" . }}{{ end }}
{{- with $cfg.keepFiringFor }}{{ $_ := set $rule "keep_firing_for" . }}{{ end }}
{{- $_ := set $rule "labels" (merge (dict "severity" $cfg.severity) (deepCopy $p.alertExtraLabels)) }}
{{- $summary := .summary }}
{{- $description := .description }}
{{- if .named }}
{{- /* the asset's readable name (joined by ivh-monitor.withNames) before its id */}}
{{- $asset := `{{ if and $labels.name (ne $labels.name $labels.asset) }}{{ $labels.name }} ({{ $labels.asset }}){{ else }}{{ $labels.asset }}{{ end }}` }}
{{- $summary = replace `{{ $labels.asset }}` $asset $summary }}
{{- $description = replace `{{ $labels.asset }}` $asset $description }}
{{- end }}
{{- $annotations := dict "summary" $summary "description" $description }}
{{- $runbooks := default $p.runbookBaseURL $p.runbookUrl }}
{{- if $runbooks }}
{{- $_ := set $annotations "runbook_url" (printf "%s#%s" $runbooks (lower .name)) }}
{{- end }}
{{- $_ := set $rule "annotations" (mergeOverwrite $annotations (deepCopy $p.alertExtraAnnotations)) }}
{{- toYaml (list $rule) }}
{{- end }}

{{/* Seconds in `days` days, as an integer literal for PromQL. */}}
{{- define "ivh-monitor.daysToSeconds" -}}
{{- printf "%.0f" (mulf . 86400) }}
{{- end }}

{{/*
Threshold of one alert tier, per asset: the daemon's own per-asset value
(asset!=""), else its per-account value (asset=""), else the chart's default.
The daemon exports these (ivh_alert_threshold_seconds / _ratio) with its alert
engine; without them the default applies, so the rules never depend on them.
Input: dict root, metric, matchers, default, base (a per-asset series giving the
keys), assetKeys, accountKeys.
*/}}
{{- define "ivh-monitor.threshold" -}}
{{- if .root.Values.prometheusRule.useThresholdMetric -}}
(
    max by ({{ .assetKeys }}) ({{ .metric }}{ {{- .matchers }},asset!=""})
  or on ({{ .assetKeys }})
    (
        max by ({{ .assetKeys }}) ({{ .base }}) * 0
      + on ({{ .accountKeys }}) group_left ()
        max by ({{ .accountKeys }}) ({{ .metric }}{ {{- .matchers }},asset=""})
    )
  or on ({{ .assetKeys }})
    max by ({{ .assetKeys }}) ({{ .base }}) * 0 + {{ .default }}
)
{{- else -}}
{{ .default }}
{{- end }}
{{- end }}

{{/* A ratio as a percentage for alert texts: 0.05 -> 5%. */}}
{{- define "ivh-monitor.percent" -}}
{{- printf "%g%%" (mulf . 100) }}
{{- end }}

{{/*
The chart's labels merged with extra ones (extra win), as YAML: no duplicate keys
when a user label repeats a common one. Input: dict root, extra (a list of maps).
*/}}
{{- define "ivh-monitor.labelsWith" -}}
{{- $labels := include "ivh-monitor.labels" .root | fromYaml }}
{{- range .extra }}
{{- $labels = mergeOverwrite $labels (deepCopy (default dict .)) }}
{{- end }}
{{- toYaml $labels }}
{{- end }}

{{/* ---------------------------------------------------------------- web config (TLS, basic auth) */}}

{{/* "true" when the daemon serves HTTPS (webConfig.enabled and webConfig.tls.enabled). */}}
{{- define "ivh-monitor.tls" -}}
{{- if and .Values.webConfig.enabled .Values.webConfig.tls.enabled }}true{{ end }}
{{- end }}

{{/* "true" when the daemon requires client certificates: kubelet presents none. */}}
{{- define "ivh-monitor.mtls" -}}
{{- if and (include "ivh-monitor.tls" .) .Values.webConfig.tls.clientCaSecret }}true{{ end }}
{{- end }}

{{/* Name of the container/Service port: https with TLS (service meshes read it). */}}
{{- define "ivh-monitor.portName" -}}
{{- if include "ivh-monitor.tls" . }}https{{ else }}http{{ end }}
{{- end }}

{{- define "ivh-monitor.webConfigDir" -}}/etc/ivh-monitor/web{{- end }}
{{- define "ivh-monitor.tlsDir" -}}/etc/ivh-monitor/tls{{- end }}

{{/* The Secret holding web-config.yml: the user's, or the one the chart renders. */}}
{{- define "ivh-monitor.webConfigSecretName" -}}
{{- default (printf "%s-web-config" (include "ivh-monitor.fullname" .)) .Values.webConfig.existingSecret }}
{{- end }}

{{/* web-config.yml as the chart renders it (exporter-toolkit format). */}}
{{- define "ivh-monitor.webConfigFile" -}}
{{- $w := .Values.webConfig }}
{{- $cfg := dict "protect_health" false }}
{{- if $w.tls.enabled }}
{{- $dir := include "ivh-monitor.tlsDir" . }}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) "min_version" $w.tls.minVersion }}
{{- if $w.tls.clientCaSecret }}
{{- $_ := set $tls "client_ca_file" (printf "%s/client-ca.crt" $dir) }}
{{- end }}
{{- $_ := set $cfg "tls_server_config" $tls }}
{{- end }}
{{- with $w.basicAuth.users }}
{{- $_ := set $cfg "basic_auth_users" . }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
A probe's action: HTTP(S) GET of path; a TCP connect when the daemon requires
client certificates (kubelet's HTTPS probes present none, and skip verifying the
server's). Input: dict root, path.
*/}}
{{- define "ivh-monitor.probeAction" -}}
{{- if include "ivh-monitor.mtls" .root -}}
tcpSocket:
  port: {{ include "ivh-monitor.portName" .root }}
{{- else -}}
httpGet:
  path: {{ .path }}
  port: {{ include "ivh-monitor.portName" .root }}
  {{- if include "ivh-monitor.tls" .root }}
  scheme: HTTPS
  {{- end }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- checks */}}

{{/* Combinations of values the chart refuses, each with a message saying why. */}}
{{- define "ivh-monitor.validate" -}}
{{- $v := .Values }}
{{- if $v.sharding.enabled }}
{{- if gt (int $v.replicaCount) 1 }}
{{- fail (printf "sharding.enabled with replicaCount=%d: the StatefulSet runs sharding.shards (%d) replicas; leave replicaCount at 1 (0 stops every shard)" (int $v.replicaCount) (int $v.sharding.shards)) }}
{{- end }}
{{- if and $v.persistence.enabled $v.persistence.existingClaim }}
{{- fail "sharding.enabled with persistence.existingClaim: every shard needs its own state (SQLite); drop existingClaim and the chart creates one claim per pod (volumeClaimTemplates)" }}
{{- end }}
{{- if $v.updateStrategy }}
{{- fail "updateStrategy is the Deployment's; with sharding.enabled set sharding.updateStrategy (RollingUpdate or OnDelete)" }}
{{- end }}
{{- else }}
{{- if and $v.persistence.enabled (gt (int $v.replicaCount) 1) (not $v.persistence.existingClaim) }}
{{- fail "persistence.enabled with replicaCount > 1: replicas would share one ReadWriteOnce volume and one SQLite file; run one replica per release, or use sharding.enabled (see README, \"Running several replicas\")" }}
{{- end }}
{{- end }}
{{- $w := $v.webConfig }}
{{- if $w.enabled }}
{{- if and (not $w.existingSecret) (not $w.tls.enabled) (not $w.basicAuth.users) }}
{{- fail "webConfig.enabled but nothing to configure: set webConfig.tls.enabled, webConfig.basicAuth.users or webConfig.existingSecret" }}
{{- end }}
{{- if and $w.existingSecret $w.basicAuth.users }}
{{- fail "webConfig: set basicAuth.users or existingSecret (a complete web-config.yml), not both" }}
{{- end }}
{{- if and $w.tls.enabled (not $w.tls.existingSecret) (not $w.existingSecret) }}
{{- fail "webConfig.tls.enabled needs webConfig.tls.existingSecret (a kubernetes.io/tls Secret with tls.crt and tls.key)" }}
{{- end }}
{{- if and $w.tls.clientCaSecret (not $w.tls.enabled) }}
{{- fail "webConfig.tls.clientCaSecret needs webConfig.tls.enabled" }}
{{- end }}
{{- if and $v.serviceMonitor.enabled $w.basicAuth.users (not $v.serviceMonitor.basicAuth.secretName) }}
{{- fail "webConfig.basicAuth.users protects /metrics: set serviceMonitor.basicAuth.secretName (a Secret with the plain username and password for Prometheus), or its scrapes get 401" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A counter increased within the window, including its first increment: the
daemon's failure counters with a reason label are born at 1 on the first failure
(no 0 sample before it), which increase() alone reads as no increase.
Input: dict sum ("sum without (...)"), metric (with its matchers), window.
*/}}
{{- define "ivh-monitor.counterIncreased" -}}
{{- printf `%s (increase(%s[%s])) > 0
or
%s (%s unless %s offset %s)` .sum .metric .window .sum .metric .metric .window }}
{{- end }}

{{/*
An asset alert's expression with the asset's readable name joined from
ivh_asset_info (label `name`, group_left). Series without an info series (it
was dropped by relabelling, say) still alert, without the name: the `or on`
keeps them. Input: dict root, expr, keys (the asset's identity: "account, kind,
asset" or, for services, "account, asset"), selector (e.g. {kind="service"}).
*/}}
{{- define "ivh-monitor.withNames" -}}
{{- $agg := printf "max without (%s)" (join ", " .root.Values.prometheusRule.aggregateWithout) -}}
(
{{ trim .expr | indent 2 }}
)
* on ({{ .keys }}) group_left (name)
{{ $agg }} (ivh_asset_info{{ .selector }})
or on ({{ .keys }})
(
{{ trim .expr | indent 2 }}
)
{{- end }}
