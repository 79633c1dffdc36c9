#!/usr/bin/env bash
# Shared helpers of the e2e scripts (sourced, not run). The e2e workflow runs them on a GitHub
# runner against a kind cluster; nothing here runs in `make test` (tests/github lints them).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_DIR="$REPO_ROOT/scripts/e2e"
# The Argo CD environment whose value files the charts get (argocd/values/<env>/).
E2E_ENVIRONMENT=${E2E_ENVIRONMENT:-dev}
# The tag the images built in this run carry inside kind (the kind overlays name it too).
export E2E_TAG=e2e
E2E_STATE=${E2E_STATE:-${RUNNER_TEMP:-/tmp}/slipway-e2e}
mkdir -p "$E2E_STATE"

log() { printf '\033[1;34m[e2e]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[e2e] error:\033[0m %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not on PATH"; }

# The upstream chart of an ApplicationSet (argocd/applications/NAME.yaml), read from the
# file Argo CD syncs, so that the e2e installs the same chart at the same pinned version.
# Prints: repoURL chart targetRevision releaseName namespace
appset_chart() {
  local file="$REPO_ROOT/argocd/applications/$1.yaml"
  [ -f "$file" ] || die "no ApplicationSet $file"
  yq -r '[
      (.spec.template.spec.sources[] | select(has("chart")) | .repoURL, .chart, .targetRevision, .helm.releaseName),
      .spec.template.spec.destination.namespace
    ] | join(" ")' "$file"
}

# helm upgrade --install of an upstream chart as its ApplicationSet describes it, with the
# value files Argo CD layers (default, then the environment) and, last, the kind overlay in
# scripts/e2e/values/NAME.yaml that stands in for the cluster Secret's annotations.
install_upstream() {
  local name=$1
  shift
  need helm
  need yq
  local repo chart version release namespace
  read -r repo chart version release namespace < <(appset_chart "$name")
  local source=()
  case "$repo" in
    http://* | https://*) source=(--repo "$repo" "$chart") ;;
    *) source=("oci://$repo/$chart") ;;
  esac
  local values=(-f "$REPO_ROOT/argocd/values/default/$name.yaml" -f "$REPO_ROOT/argocd/values/$E2E_ENVIRONMENT/$name.yaml")
  [ -f "$E2E_DIR/values/$name.yaml" ] && values+=(-f "$E2E_DIR/values/$name.yaml")
  log "helm: $name ($chart $version from $repo) into $namespace"
  helm upgrade --install "$release" "${source[@]}" --version "$version" \
    --namespace "$namespace" "${values[@]}" --wait --timeout 10m "$@"
}

# Our own chart, rendered with the same layered values and applied (no helm tests: they
# are hooks). The kind overlay names the images this run built and loaded into kind. Its
# NetworkPolicies are left out: the stand-ins for S3 and MLflow run on the runner, outside
# every namespace and port they allow (tests/charts checks the policies offline).
install_own_chart() {
  local name=$1 namespace=$2
  shift 2
  need helm
  need yq
  need kubectl
  local values=(-f "$REPO_ROOT/argocd/values/default/$name.yaml" -f "$REPO_ROOT/argocd/values/$E2E_ENVIRONMENT/$name.yaml")
  [ -f "$E2E_DIR/values/$name.yaml" ] && values+=(-f "$E2E_DIR/values/$name.yaml")
  log "chart: charts/$name into $namespace"
  helm dependency build "$REPO_ROOT/charts/$name" >/dev/null
  helm template "$name" "$REPO_ROOT/charts/$name" --namespace "$namespace" --skip-tests "${values[@]}" "$@" \
    | yq 'select(.kind != "NetworkPolicy")' \
    | kubectl apply --namespace "$namespace" --server-side --force-conflicts -f -
}

# The phase of a Workflow, polled until it ends or the timeout passes; 0 only for Succeeded.
wait_workflow() {
  local name=$1 timeout=${2:-1800} waited=0 phase=""
  while [ "$waited" -lt "$timeout" ]; do
    phase=$(kubectl get workflow "$name" -n ml-workflows -o jsonpath='{.status.phase}')
    case "$phase" in
      Succeeded) log "workflow $name: Succeeded"; return 0 ;;
      Failed | Error)
        kubectl get workflow "$name" -n ml-workflows -o yaml >&2
        die "workflow $name: $phase"
        ;;
    esac
    sleep 10
    waited=$((waited + 10))
  done
  die "workflow $name: still '$phase' after ${timeout}s"
}

# An output parameter of one task of a Workflow (the node whose displayName is the task).
workflow_output() {
  local name=$1 task=$2 param=$3
  kubectl get workflow "$name" -n ml-workflows -o json | jq -r --arg task "$task" --arg param "$param" '
    [.status.nodes[] | select(.displayName == $task) | .outputs.parameters[]? | select(.name == $param) | .value]
    | first // ""'
}
