{{/*
slipway-common: the helpers every slipway chart shares. Each template takes the calling
chart's root context (`.`), so `.Chart` and `.Values` are that chart's, and renders what
the chart's own `<chart>.<helper>` used to: the output of a chart does not change by
depending on this library. The values they read: nameOverride, fullnameOverride,
commonLabels, serviceAccount.create and serviceAccount.name.
*/}}

{{/*
Expand the name of the chart.
*/}}
{{- define "slipway-common.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (63 characters at most: a DNS label).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "slipway-common.fullname" -}}
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

{{/*
Chart name and version, as used by the chart label.
*/}}
{{- define "slipway-common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "slipway-common.labels" -}}
helm.sh/chart: {{ include "slipway-common.chart" . }}
{{ include "slipway-common.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: slipway
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "slipway-common.selectorLabels" -}}
app.kubernetes.io/name: {{ include "slipway-common.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The name of the service account to use.
*/}}
{{- define "slipway-common.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "slipway-common.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image: repository:tag, or repository@digest when a digest is given.
Call with the image values (`.Values.image`), not the root context.
*/}}
{{- define "slipway-common.image" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}

{{/*
The namespace's own SecretStore and the ServiceAccount it authenticates as (IRSA, through
External Secrets' JWT auth): the store can only read what that role may read, which is this
namespace's secrets and no others. Takes (dict "root" $ "hook" bool); `hook` makes both
objects pre-install/pre-upgrade hooks, for charts whose ExternalSecret is itself a hook.
The values it reads: secretStore.{create,name,serviceAccountName,roleArn} and aws.region.
*/}}
{{- define "slipway-common.secretStore" -}}
{{- $root := .root }}
{{- $store := $root.Values.secretStore }}
{{- if $store.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $store.serviceAccountName }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "slipway-common.labels" $root | nindent 4 }}
  annotations:
    {{- with $store.roleArn }}
    eks.amazonaws.com/role-arn: {{ . | quote }}
    {{- end }}
    {{- if .hook }}
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-20"
    helm.sh/hook-delete-policy: before-hook-creation
    {{- end }}
automountServiceAccountToken: false
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: {{ $store.name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "slipway-common.labels" $root | nindent 4 }}
  {{- if .hook }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-20"
    helm.sh/hook-delete-policy: before-hook-creation
  {{- end }}
spec:
  provider:
    aws:
      service: SecretsManager
      region: {{ required "aws.region is required for the SecretStore" $root.Values.aws.region | quote }}
      auth:
        jwt:
          serviceAccountRef:
            name: {{ $store.serviceAccountName }}
{{- end }}
{{- end }}
