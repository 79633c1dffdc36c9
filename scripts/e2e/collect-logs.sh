#!/usr/bin/env bash
# On failure: what happened, into $E2E_STATE/logs (uploaded as the run's artifact).
# Best effort: every command may fail on a half-installed cluster.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh" || exit 0
set +e
out="$E2E_STATE/logs"
mkdir -p "$out"
kubectl get pods -A -o wide >"$out/pods.txt" 2>&1
kubectl get events -A --sort-by=.lastTimestamp >"$out/events.txt" 2>&1
kubectl get workflows -n ml-workflows -o yaml >"$out/workflows.yaml" 2>&1
kubectl get inferenceservices,ksvc,revisions -n model-serving -o yaml >"$out/serving.yaml" 2>&1
for ns in ml-workflows model-serving kserve knative-serving argo; do
  for pod in $(kubectl get pods -n "$ns" -o name 2>/dev/null); do
    kubectl logs -n "$ns" "$pod" --all-containers --tail=500 >"$out/$ns-${pod#pod/}.log" 2>&1
  done
done
cp "$E2E_STATE"/*.log "$out/" 2>/dev/null
exit 0
