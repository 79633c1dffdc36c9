{{/*
Names, labels, selector labels, the ServiceAccount name and the image reference come from the
slipway-common library chart (charts/slipway-common, a file:// dependency in Chart.yaml):
include "slipway-common.fullname" . (and .name, .chart, .labels, .selectorLabels,
.serviceAccountName; "slipway-common.image" .Values.image).
The helpers below are model-serving's own: one model's labels and its storage URI.
*/}}

{{/*
Labels of one model's objects: the common labels and the model's name and version.
Call with (dict "root" $ "model" $model).
*/}}
{{- define "model-serving.modelLabels" -}}
{{ include "slipway-common.labels" .root }}
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
