{{/*
Names, labels, selector labels, the ServiceAccount name and the image reference come from the
slipway-common library chart (charts/slipway-common, a file:// dependency in Chart.yaml):
include "slipway-common.fullname" . (and .name, .chart, .labels, .selectorLabels,
.serviceAccountName; "slipway-common.image" .Values.image).
ml-workflows has no helpers of its own.
*/}}
