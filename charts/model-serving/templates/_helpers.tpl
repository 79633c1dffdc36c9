{{/*
Expand the name of the chart.
*/}}
{{- define "model-serving.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (63 characters at most: a DNS label).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "model-serving.fullname" -}}
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
{{- define "model-serving.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "model-serving.labels" -}}
helm.sh/chart: {{ include "model-serving.chart" . }}
{{ include "model-serving.selectorLabels" . }}
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
{{- define "model-serving.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-serving.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The name of the service account to use.
*/}}
{{- define "model-serving.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "model-serving.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image: repository:tag, or repository@digest when a digest is given.
*/}}
{{- define "model-serving.image" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository .tag }}
{{- end }}
{{- end }}

{{/*
Labels of one model's objects: the common labels and the model's name and version.
Call with (dict "root" $ "model" $model).
*/}}
{{- define "model-serving.modelLabels" -}}
{{ include "model-serving.labels" .root }}
slipway.io/model-name: {{ .model.name | quote }}
slipway.io/model-version: {{ .model.modelVersion | quote }}
{{- end }}

{{/*
The storage URI of a model; `{{ .Values.artifactsBucket }}` may be used inside it.
Call with (dict "root" $ "model" $model).
*/}}
{{- define "model-serving.storageUri" -}}
{{- tpl .model.storageUri .root }}
{{- end }}
