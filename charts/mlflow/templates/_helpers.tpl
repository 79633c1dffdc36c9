{{/*
Names, labels, selector labels, the ServiceAccount name and the image reference come from the
slipway-common library chart (charts/slipway-common, a file:// dependency in Chart.yaml):
include "slipway-common.fullname" . (and .name, .chart, .labels, .selectorLabels,
.serviceAccountName; "slipway-common.image" .Values.image).
The helpers below are mlflow's own: the Secret's name and the accepted Host headers.
*/}}

{{/*
The Secret that the ExternalSecret writes (database URI, Flask secret key, auth config).
*/}}
{{- define "mlflow.secretName" -}}
{{- printf "%s-server" (include "slipway-common.fullname" .) }}
{{- end }}

{{/*
Host headers the server accepts (MLflow's DNS-rebinding protection): the Service's
in-cluster names, the Ingress hosts and the configured extra patterns.
*/}}
{{- define "mlflow.allowedHosts" -}}
{{- $svc := include "slipway-common.fullname" . }}
{{- $hosts := list }}
{{- range $name := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.%s" $svc .Release.Namespace .Values.clusterDomain) }}
{{- $hosts = append $hosts $name }}
{{- $hosts = append $hosts (printf "%s:*" $name) }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts .host }}
{{- end }}
{{- end }}
{{- concat $hosts .Values.server.allowedHosts | uniq | join "," }}
{{- end }}

{{/*
The user names (ExternalSecret template references) of the admin and of every identity
whose `flag` is set, comma-separated: the [slipway] rules of the auth config.
*/}}
{{- define "mlflow.authUsers" -}}
{{- $users := list .root.Values.auth.adminUsername }}
{{- range $name, $identity := .root.Values.auth.identities }}
{{- if get $identity $.flag }}
{{- $users = append $users (printf "{{ .%s_username }}" $name) }}
{{- end }}
{{- end }}
{{- join ", " $users }}
{{- end }}

{{/*
The Secret of the auth bootstrap hook: the admin's and every identity's credentials.
*/}}
{{- define "mlflow.authBootstrapSecretName" -}}
{{- printf "%s-auth-bootstrap" (include "slipway-common.fullname" .) }}
{{- end }}

{{/*
The Secret the ServiceMonitor scrapes with (the metrics identity's credentials).
*/}}
{{- define "mlflow.metricsSecretName" -}}
{{- printf "%s-metrics-credentials" (include "slipway-common.fullname" .) }}
{{- end }}
