#!/usr/bin/env bash
# Submits one Workflow from the slipway-train-and-promote WorkflowTemplate (as `argo submit
# --from workflowtemplate/...` would) and waits for it to succeed. Prints its name; the
# outputs of register and canary go to $E2E_STATE/<name>.outputs (model-version,
# became-champion, decision).
#
# The Workflow's podSpecPatch stands in for what EKS gives the step pods: S3 credentials (IRSA
# there; the stand-in's random keys here), the S3 endpoint and the MLflow server's artifact
# destination (which the rollout maps proxied model locations onto, for KServe). Three settings are e2e only:
# a champion margin of 1, so that the second model passes the gate against the champion
# whatever its score (this run tests the mechanics, not the model); short canary windows; and no promotion pull
# request (there is no git checkout in the pod, and no token).
#
# Usage: run-training.sh DATA_URI
#        run-training.sh --print DATA_URI   (the Workflow only, submitted nowhere; the tests read it)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need jq
print_only=false
if [ "${1:-}" = --print ]; then
  print_only=true
  shift
fi
data=${1:?usage: run-training.sh [--print] DATA_URI}

patch=$(jq -cn '{containers: [{name: "main", env: [
  {name: "AWS_ACCESS_KEY_ID", valueFrom: {secretKeyRef: {name: "s3-stand-in", key: "AWS_ACCESS_KEY_ID"}}},
  {name: "AWS_SECRET_ACCESS_KEY", valueFrom: {secretKeyRef: {name: "s3-stand-in", key: "AWS_SECRET_ACCESS_KEY"}}},
  {name: "AWS_ENDPOINT_URL_S3", value: "http://s3.mlflow.svc.cluster.local:5000"},
  {name: "MLFLOW_S3_ENDPOINT_URL", value: "http://s3.mlflow.svc.cluster.local:5000"},
  {name: "SLIPWAY_TRACKING__ARTIFACTS_DESTINATION", value: "s3://slipway-artifacts/mlflow"},
  {name: "SLIPWAY_GATE__CHAMPION_MARGIN", value: "1"},
  {name: "SLIPWAY_ROLLOUT__STEPS", value: "[50, 100]"},
  {name: "SLIPWAY_ROLLOUT__WINDOW_SECONDS", value: "60"},
  {name: "SLIPWAY_ROLLOUT__MIN_REQUESTS", value: "20"},
  {name: "SLIPWAY_ROLLOUT__GITOPS__ENABLED", value: "false"}
]}]}')

manifest=$(cat <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: e2e-train-and-promote-
  namespace: ml-workflows
spec:
  workflowTemplateRef:
    name: slipway-train-and-promote
  podSpecPatch: '$patch'
  arguments:
    parameters:
      - name: data
        value: "$data"
      - name: gpus
        value: "1"
YAML
)
if [ "$print_only" = true ]; then
  printf '%s\n' "$manifest"
  exit 0
fi
need kubectl
name=$(kubectl create -n ml-workflows -o jsonpath='{.metadata.name}' -f - <<<"$manifest")
log "submitted workflow $name (data $data)"
wait_workflow "$name" 2400
{
  for pair in register:model-version register:became-champion canary:decision; do
    printf '%s=%s\n' "${pair#*:}" "$(workflow_output "$name" "${pair%%:*}" "${pair#*:}")"
  done
} >"$E2E_STATE/$name.outputs"
cat "$E2E_STATE/$name.outputs" >&2
echo "$name"
