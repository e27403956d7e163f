{{/* Chart name. */}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, truncated to 63 characters (DNS label). */}}
{{- define "sluice.fullname" -}}
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

{{/* Component resource names (kept short enough for the -xxxxx pod suffixes). */}}
{{- define "sluice.gateway.fullname" -}}
{{- printf "%s-gateway" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "sluice.ingest.fullname" -}}
{{- printf "%s-ingest" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of one component: include "sluice.componentSelectorLabels" (list $ "gateway") */}}
{{- define "sluice.componentSelectorLabels" -}}
{{ include "sluice.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "sluice.componentLabels" -}}
{{ include "sluice.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sluice.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
An environment value as a string. Helm reads numbers in values as float64, so 268435456 would
print as 2.68435456e+08: whole numbers are printed as integers.
*/}}
{{- define "sluice.envValue" -}}
{{- $v := . }}
{{- if kindIs "float64" $v }}
{{- if eq ($v | int64 | float64) $v }}{{ $v | int64 }}{{ else }}{{ $v }}{{ end }}
{{- else }}
{{- $v | toString }}
{{- end }}
{{- end }}

{{/* Whether the chart creates its own Secret. */}}
{{- define "sluice.createSecret" -}}
{{- $create := false }}
{{- if not .Values.secrets.existingSecret }}
{{- range $k, $v := .Values.secrets.env }}
{{- if ne (toString $v) "" }}{{ $create = true }}{{ end }}
{{- end }}
{{- end }}
{{- if $create }}true{{ end }}
{{- end }}

{{/* Name of the Secret imported with envFrom, empty when there is none. */}}
{{- define "sluice.envSecretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if include "sluice.createSecret" . }}
{{- printf "%s-env" (include "sluice.fullname" .) }}
{{- end }}
{{- end }}

{{- define "sluice.gateway.terminationGracePeriodSeconds" -}}
{{- add .Values.gateway.preStopSleepSeconds .Values.gateway.drainSeconds .Values.gateway.terminationGraceMarginSeconds }}
{{- end }}

{{/* Pod annotations that roll the pods when chart-made configuration changes. */}}
{{- define "sluice.checksumAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/* envFrom shared by both components. */}}
{{- define "sluice.envFrom" -}}
- configMapRef:
    name: {{ include "sluice.fullname" . }}-env
{{- with (include "sluice.envSecretName" .) }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end }}

{{/* env shared by both components (wins over envFrom). */}}
{{- define "sluice.commonEnv" -}}
{{- if or .Values.caBundle.existingSecret .Values.caBundle.existingConfigMap }}
- name: NODE_EXTRA_CA_CERTS
  value: {{ printf "%s/%s" (trimSuffix "/" .Values.caBundle.mountPath) .Values.caBundle.key | quote }}
{{- end }}
{{- if .Values.nats.credentials.existingSecret }}
- name: NATS_CREDS
  value: {{ printf "/etc/sluice/nats-creds/%s" .Values.nats.credentials.key | quote }}
{{- end }}
{{- with .Values.nats.tls }}
{{- if .existingSecret }}
{{- if .caKey }}
- name: NATS_TLS_CA
  value: {{ printf "/etc/sluice/nats-tls/%s" .caKey | quote }}
{{- end }}
{{- if and .certKey .keyKey }}
- name: NATS_TLS_CERT
  value: {{ printf "/etc/sluice/nats-tls/%s" .certKey | quote }}
- name: NATS_TLS_KEY
  value: {{ printf "/etc/sluice/nats-tls/%s" .keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $ref := .Values.secrets.secretKeyRefs }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name | quote }}
      key: {{ $ref.key | quote }}
      {{- if hasKey $ref "optional" }}
      optional: {{ $ref.optional }}
      {{- end }}
{{- end }}
{{- end }}

{{/* Volumes shared by both components. */}}
{{- define "sluice.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.caBundle.existingSecret }}
- name: ca-bundle
  secret:
    secretName: {{ .Values.caBundle.existingSecret | quote }}
    items:
      - key: {{ .Values.caBundle.key | quote }}
        path: {{ .Values.caBundle.key | quote }}
{{- else if .Values.caBundle.existingConfigMap }}
- name: ca-bundle
  configMap:
    name: {{ .Values.caBundle.existingConfigMap | quote }}
    items:
      - key: {{ .Values.caBundle.key | quote }}
        path: {{ .Values.caBundle.key | quote }}
{{- end }}
{{- if .Values.nats.credentials.existingSecret }}
- name: nats-creds
  secret:
    secretName: {{ .Values.nats.credentials.existingSecret | quote }}
{{- end }}
{{- if .Values.nats.tls.existingSecret }}
- name: nats-tls
  secret:
    secretName: {{ .Values.nats.tls.existingSecret | quote }}
{{- end }}
{{- end }}

{{- define "sluice.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if or .Values.caBundle.existingSecret .Values.caBundle.existingConfigMap }}
- name: ca-bundle
  mountPath: {{ .Values.caBundle.mountPath | quote }}
  readOnly: true
{{- end }}
{{- if .Values.nats.credentials.existingSecret }}
- name: nats-creds
  mountPath: /etc/sluice/nats-creds
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.existingSecret }}
- name: nats-tls
  mountPath: /etc/sluice/nats-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* Topology spread constraints: include "sluice.topologySpread" (list $ "gateway" .Values.gateway.topologySpread) */}}
{{- define "sluice.topologySpread" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- $spread := index . 2 }}
{{- range $spread.topologyKeys }}
- maxSkew: {{ $spread.maxSkew }}
  topologyKey: {{ . | quote }}
  whenUnsatisfiable: {{ $spread.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "sluice.componentSelectorLabels" (list $root $component) | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end }}
