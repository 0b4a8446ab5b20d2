{{/* Names and labels (Kubernetes recommended labels). */}}
{{- define "policyarc.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "policyarc.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "policyarc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "policyarc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The gateway's pods: what the Deployment, the Service and the PodDisruptionBudget select (not the job's). */}}
{{- define "policyarc.gatewaySelectorLabels" -}}
{{ include "policyarc.selectorLabels" . }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "policyarc.labels" -}}
{{ include "policyarc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "policyarc.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret every sensitive setting comes from; the chart never creates it (deploy/README.md). */}}
{{- define "policyarc.secretName" -}}
{{ required "secrets.existingSecret: name the Secret holding the database URL and the key ring (deploy/README.md)" .Values.secrets.existingSecret }}
{{- end }}

{{/* POLICYARC_* settings shared by the gateway and the migration job. Secrets only by reference. */}}
{{- define "policyarc.env" -}}
- name: POLICYARC_PUBLIC_URL
  value: {{ required "publicUrl: the gateway's public https URL, e.g. https://mcp.example.com" .Values.publicUrl | quote }}
- name: POLICYARC_DATA_DIR
  value: /var/lib/policyarc
- name: POLICYARC_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: POLICYARC_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "policyarc.secretName" . }}
      key: {{ .Values.secrets.databaseUrlKey }}
- name: POLICYARC_SECRET_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "policyarc.secretName" . }}
      key: {{ .Values.secrets.secretKeysKey }}
{{- with .Values.atlassian.authUrl }}
- name: POLICYARC_ATLASSIAN_AUTH_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.atlassian.apiUrl }}
- name: POLICYARC_ATLASSIAN_API_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.atlassian.siteUrl }}
- name: POLICYARC_ATLASSIAN_SITE_URL
  value: {{ . | quote }}
{{- end }}
{{- if .Values.redis.enabled }}
- name: POLICYARC_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "policyarc.secretName" . }}
      key: {{ .Values.redis.urlKey }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* Non-root, no privilege escalation, read-only root filesystem, no capabilities (restricted Pod Security). */}}
{{- define "policyarc.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "policyarc.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* The only writable paths: /tmp and the data directory (SQLite and a key-ring file are unused here). */}}
{{- define "policyarc.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/policyarc
{{- end }}

{{- define "policyarc.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: data
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* One container of the migration job: `policyarc <args>` with the shared settings. */}}
{{- define "policyarc.jobContainer" -}}
image: {{ include "policyarc.image" .root | quote }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
args: {{ toJson .args }}
env:
  {{- include "policyarc.env" .root | nindent 2 }}
  {{- with .extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
resources:
  {{- toYaml .root.Values.migration.resources | nindent 2 }}
securityContext:
  {{- include "policyarc.containerSecurityContext" .root | nindent 2 }}
volumeMounts:
  {{- include "policyarc.volumeMounts" .root | nindent 2 }}
{{- end }}
