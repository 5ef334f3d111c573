{{/*
The pod template shared by the Deployment and the StatefulSet (sharding).
*/}}
{{- define "ivh-monitor.podTemplate" -}}
{{- $fullname := include "ivh-monitor.fullname" . }}
{{- $sources := include "ivh-monitor.tokenSources" . | fromJsonArray }}
{{- $port := include "ivh-monitor.portName" . }}
{{- $w := .Values.webConfig -}}
metadata:
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- if and $w.enabled (not $w.existingSecret) }}
    checksum/web-config: {{ include (print $.Template.BasePath "/web-config-secret.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "ivh-monitor.labelsWith" (dict "root" . "extra" (list .Values.podLabels)) | nindent 4 }}
spec:
  serviceAccountName: {{ include "ivh-monitor.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  containers:
    - name: ivh-monitor
      image: {{ include "ivh-monitor.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run"]
      env:
        - name: IVH_MONITOR_CONFIG
          value: /etc/ivh-monitor/config.yaml
        - name: IVH_MONITOR_LISTEN
          value: "0.0.0.0:{{ .Values.containerPort }}"
        - name: IVH_MONITOR_LOG_FORMAT
          value: json
        - name: IVH_MONITOR_STATE_DIR
          value: {{ include "ivh-monitor.stateDir" . }}
        {{- if .Values.sharding.enabled }}
        # Same config everywhere; each pod takes its shard from its name's ordinal.
        - name: IVH_MONITOR_SHARD
          value: "auto/{{ int .Values.sharding.shards }}"
        {{- end }}
        {{- if $w.enabled }}
        - name: IVH_MONITOR_WEB_CONFIG_FILE
          value: {{ include "ivh-monitor.webConfigDir" . }}/web-config.yml
        {{- end }}
        {{- if or .Values.alerting.webhookUrl .Values.alerting.existingSecret }}
        - name: IVH_MONITOR_ALERT_WEBHOOK_URL
          valueFrom:
            secretKeyRef:
              name: {{ default (include "ivh-monitor.secretName" .) .Values.alerting.existingSecret }}
              key: {{ .Values.alerting.existingSecretKey }}
        {{- end }}
        {{- with .Values.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: {{ $port }}
          containerPort: {{ .Values.containerPort }}
          protocol: TCP
      {{- if .Values.startupProbe.enabled }}
      startupProbe:
        {{- include "ivh-monitor.probeAction" (dict "root" . "path" "/healthz") | nindent 8 }}
        periodSeconds: {{ .Values.startupProbe.periodSeconds }}
        timeoutSeconds: {{ .Values.startupProbe.timeoutSeconds }}
        failureThreshold: {{ .Values.startupProbe.failureThreshold }}
      {{- end }}
      livenessProbe:
        {{- include "ivh-monitor.probeAction" (dict "root" . "path" "/healthz") | nindent 8 }}
        initialDelaySeconds: {{ .Values.livenessProbe.initialDelaySeconds }}
        periodSeconds: {{ .Values.livenessProbe.periodSeconds }}
        timeoutSeconds: {{ .Values.livenessProbe.timeoutSeconds }}
        failureThreshold: {{ .Values.livenessProbe.failureThreshold }}
      readinessProbe:
        {{- include "ivh-monitor.probeAction" (dict "root" . "path" "/readyz") | nindent 8 }}
        initialDelaySeconds: {{ .Values.readinessProbe.initialDelaySeconds }}
        periodSeconds: {{ .Values.readinessProbe.periodSeconds }}
        timeoutSeconds: {{ .Values.readinessProbe.timeoutSeconds }}
        failureThreshold: {{ .Values.readinessProbe.failureThreshold }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /etc/ivh-monitor/config.yaml
          subPath: config.yaml
          readOnly: true
        {{- if $sources }}
        - name: tokens
          mountPath: {{ include "ivh-monitor.tokenDir" . }}
          readOnly: true
        {{- end }}
        {{- if $w.enabled }}
        - name: web-config
          mountPath: {{ include "ivh-monitor.webConfigDir" . }}
          readOnly: true
        {{- if and $w.tls.enabled $w.tls.existingSecret }}
        - name: tls
          mountPath: {{ include "ivh-monitor.tlsDir" . }}
          readOnly: true
        {{- end }}
        {{- end }}
        - name: state
          mountPath: {{ include "ivh-monitor.stateDir" . }}
        # The root filesystem is read-only; SQLite and Python may want a temp dir.
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ $fullname }}
    {{- if $sources }}
    - name: tokens
      projected:
        defaultMode: 0440
        sources:
          {{- range $secret, $items := (include "ivh-monitor.groupTokens" (dict "sources" $sources) | fromYaml) }}
          - secret:
              name: {{ $secret }}
              items:
                {{- range $items }}
                - key: {{ .key | quote }}
                  path: {{ .name | quote }}
                {{- end }}
          {{- end }}
    {{- end }}
    {{- if $w.enabled }}
    - name: web-config
      secret:
        secretName: {{ include "ivh-monitor.webConfigSecretName" . }}
        defaultMode: 0440
        items:
          - key: web-config.yml
            path: web-config.yml
    {{- if and $w.tls.enabled $w.tls.existingSecret }}
    - name: tls
      projected:
        defaultMode: 0440
        sources:
          - secret:
              name: {{ $w.tls.existingSecret }}
              items:
                - key: tls.crt
                  path: tls.crt
                - key: tls.key
                  path: tls.key
          {{- with $w.tls.clientCaSecret }}
          - secret:
              name: {{ . }}
              items:
                - key: {{ $w.tls.clientCaKey | quote }}
                  path: client-ca.crt
          {{- end }}
    {{- end }}
    {{- end }}
    {{- if not (and .Values.sharding.enabled .Values.persistence.enabled) }}
    - name: state
      {{- if .Values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ default $fullname .Values.persistence.existingClaim }}
      {{- else }}
      emptyDir:
        sizeLimit: {{ .Values.persistence.emptyDirSizeLimit }}
      {{- end }}
    {{- end }}
    - name: tmp
      emptyDir:
        medium: Memory
        sizeLimit: 16Mi
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
