#!/usr/bin/env bash
# The cluster half of the loop, end to end on kind:
#   1. a first training run: its version passes the gate and becomes champion (no canary);
#   2. the champion served as the model-serving chart serves it from git: its version, run id
#      and storage URI (resolved by slipway's own registry code, in the trainer image) in the
#      chart's values, the InferenceService Ready;
#   3. traffic to it (slipway's DemoTraffic, bounded in rate and time, inside the cluster);
#   4. a second training run: its canary step deploys the challenger next to the champion,
#      steps traffic 50% -> 100% on Prometheus' metrics and must decide `promoted`;
#   5. the InferenceService Ready, naming version 2, answering a v1 predict request.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need kubectl
need jq
image="ghcr.io/slipway-ml/slipway-trainer:$E2E_TAG"
isvc=churn-classifier

# A one-off pod of the trainer image in ml-workflows with the steps' environment, once it has
# succeeded: prints what its script printed after "E2E-RESULT " (libraries may log around it).
run_pod() {
  local name=$1 deadline=$2 script=$3
  kubectl delete pod "$name" -n ml-workflows --ignore-not-found >/dev/null
  kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: ml-workflows
spec:
  restartPolicy: Never
  serviceAccountName: ml-workflows
  activeDeadlineSeconds: $deadline
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: main
      image: $image
      imagePullPolicy: IfNotPresent
      command: [python, -c, $(jq -Rn --arg s "$script" '$s')]
      envFrom:
        - configMapRef: {name: slipway-platform}
        - secretRef: {name: s3-stand-in}
      env:
        - {name: AWS_ENDPOINT_URL_S3, value: "http://s3.mlflow.svc.cluster.local:5000"}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
      volumeMounts:
        - {name: tmp, mountPath: /tmp}
  volumes:
    - name: tmp
      emptyDir: {}
YAML
  kubectl wait pod/"$name" -n ml-workflows --for=jsonpath='{.status.phase}'=Succeeded --timeout="${deadline}s" >/dev/null \
    || { kubectl logs "$name" -n ml-workflows >&2 || true; die "pod $name did not succeed"; }
  kubectl logs "$name" -n ml-workflows | sed -n 's/^E2E-RESULT //p' | tail -n 1
}

output() { grep -E "^$2=" "$E2E_STATE/$1.outputs" | cut -d= -f2-; }

log "1. first training run"
first=$("$E2E_DIR/run-training.sh" s3://slipway-datasets/churn/train-1.csv)
[ "$(output "$first" model-version)" = 1 ] || die "first run registered '$(output "$first" model-version)', not version 1"
[ "$(output "$first" became-champion)" = true ] || die "version 1 did not become champion"

log "2. the champion, served from the model-serving chart's values"
champion=$(run_pod e2e-resolve-champion 300 "
import json
from mlflow import MlflowClient
from slipway.rollout.model_registry import target_for
v = target_for(MlflowClient(), '$isvc', '1', None, artifacts_destination='s3://slipway-artifacts/mlflow')
print('E2E-RESULT ' + json.dumps({'run_id': v.run_id, 'storage_uri': v.storage_uri}))
")
log "champion: $champion"
storage_uri=$(jq -r .storage_uri <<<"$champion")
case "$storage_uri" in s3://*) ;; *) die "version 1's storage URI '$storage_uri' is not an s3:// URI KServe can download" ;; esac
jq -n --argjson v "$champion" --arg name "$isvc" '{models: [{
  name: $name, modelVersion: "1", runId: $v.run_id, storageUri: $v.storage_uri,
  canaryTrafficPercent: 0, minReplicas: 1, maxReplicas: 1}]}' >"$E2E_STATE/model-serving-models.json"
# The ServiceAccount first, with the stand-in's S3 Secret attached, so that the storage
# initializer of the first predictor pod already finds the endpoint and keys.
install_own_chart model-serving model-serving --set-json 'models=[]'
kubectl patch serviceaccount kserve-predictor -n model-serving -p '{"secrets": [{"name": "s3-stand-in"}]}'
# (JSON is YAML: helm reads it as a values file.)
install_own_chart model-serving model-serving -f "$E2E_STATE/model-serving-models.json"
kubectl wait inferenceservice/"$isvc" -n model-serving --for=condition=Ready --timeout=15m

log "3. traffic to the champion while the second run trains and rolls out"
# The address KServe publishes (cluster-local: the predictor's Knative route behind Kourier).
url=$(kubectl get inferenceservice "$isvc" -n model-serving -o jsonpath='{.status.address.url}')
[ -n "$url" ] || die "InferenceService $isvc has no address"
log "champion serving at $url"
kubectl delete pod e2e-traffic -n ml-workflows --ignore-not-found >/dev/null
run_pod e2e-traffic 3000 "
import time
from slipway.rollout.demo_traffic import DemoTraffic
with DemoTraffic('$url', '$isvc', 5.0) as traffic:
    time.sleep(2700)
print('E2E-RESULT', traffic.sent)
" >"$E2E_STATE/traffic.log" 2>&1 &
traffic_pid=$!
trap 'kill "$traffic_pid" 2>/dev/null || true; kubectl delete pod e2e-traffic -n ml-workflows --ignore-not-found >/dev/null || true' EXIT

log "4. second training run: canary, analysis, promotion"
second=$("$E2E_DIR/run-training.sh" s3://slipway-datasets/churn/train-2.csv)
[ "$(output "$second" model-version)" = 2 ] || die "second run registered '$(output "$second" model-version)', not version 2"
decision=$(output "$second" decision)
[ "$decision" = promoted ] || die "the canary of version 2 ended '$decision', not promoted"

log "5. the InferenceService serves version 2"
kubectl wait inferenceservice/"$isvc" -n model-serving --for=condition=Ready --timeout=10m
served=$(kubectl get inferenceservice "$isvc" -n model-serving -o jsonpath='{.metadata.annotations.slipway\.io/model-version}')
[ "$served" = 2 ] || die "the InferenceService names version '$served', not 2"
answer=$(run_pod e2e-predict 300 "
import json
import httpx
from slipway.data import synthetic
row = synthetic.generate(1, seed=7).drop(columns=['churned']).to_dict('records')[0]
r = httpx.post('$url/v1/models/$isvc:predict', json={'instances': [row]}, timeout=30)
r.raise_for_status()
print('E2E-RESULT ' + json.dumps(r.json()))
")
jq -e '.predictions | length == 1' <<<"$answer" >/dev/null || die "no prediction in the answer: $answer"
log "served: $answer"
log "e2e passed: version 1 champion, version 2 promoted through the canary and serving"
