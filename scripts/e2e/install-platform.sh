#!/usr/bin/env bash
# The platform on kind, from this repository's Argo CD definitions: the namespaces manifest,
# then each upstream chart at the version its ApplicationSet pins, with the value files Argo
# CD layers and a kind overlay (scripts/e2e/values/), in the order of the sync waves. Argo CD
# itself is not installed: its ApplicationSets read the cluster Secret that Terraform writes
# and sync from the main branch, while this run must test the commit under review.
#
# Left out on kind, by design: External Secrets (no AWS Secrets Manager), the cluster
# autoscaler, the NVIDIA device plugin and DCGM exporter (no GPUs), and Grafana (its admin
# Secret comes from Secrets Manager).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need helm
need kubectl
need yq

log "namespaces (wave -10)"
kubectl apply -f "$REPO_ROOT/argocd/manifests/namespaces/"

# Wave -8: CRDs and operators. kube-prometheus-stack first: the others' ServiceMonitors need
# its CRDs (Argo CD retries until they exist; helm does not).
install_upstream kube-prometheus-stack
install_upstream cert-manager
install_upstream knative-operator
install_upstream kserve-crd
install_upstream argo-workflows

# Wave -5: the serving runtime. The KnativeServing object is the repository's, with two kind
# changes: one replica, and no tag-to-digest resolution for ghcr.io, whose e2e tags exist
# only in kind's image store.
log "Knative Serving (the repository's KnativeServing, one replica)"
yq '.spec."high-availability".replicas = 1
    | .spec.config.deployment."registries-skipping-tag-resolving" = "kind.local,ko.local,dev.local,ghcr.io"' \
  "$REPO_ROOT/argocd/manifests/knative-serving/knative-serving.yaml" | kubectl apply -f -
kubectl wait knativeserving/knative-serving -n knative-serving --for=condition=Ready --timeout=10m
install_upstream kserve

log "platform installed"
kubectl get pods -A
