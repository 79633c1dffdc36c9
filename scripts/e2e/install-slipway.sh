#!/usr/bin/env bash
# slipway's workflows on kind: the ml-workflows chart (the WorkflowTemplate and CronWorkflow,
# the ServiceAccount, RBAC, the slipway-platform ConfigMap) with the images of this run.
#
# The train step keeps its EKS placement (a GPU node: the node-pool label, the nvidia.com/gpu
# toleration and limit). kind has no GPU, so its one node carries the label and advertises
# one nvidia.com/gpu as an extended resource (a node status patch; no device behind it):
# the step schedules as on EKS, and torch, seeing no CUDA device, trains on the CPU.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need kubectl
need helm
need yq

node=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
[ -n "$node" ] || die "no node in the kind cluster"
log "node $node: node-pool gpu, one advertised nvidia.com/gpu"
kubectl label node "$node" slipway.io/node-pool=gpu --overwrite
kubectl patch node "$node" --subresource=status --type=json \
  -p '[{"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": "1"}]'

install_own_chart ml-workflows ml-workflows
kubectl get workflowtemplate,cronworkflow -n ml-workflows
