#!/usr/bin/env bash
# What stands in for AWS on the kind cluster, on the runner itself: moto's S3 server (in
# place of S3, at the version requirements.lock pins) and an MLflow server (SQLite, artifacts
# proxied to that S3), then the buckets and the training data. Pods reach both through
# selector-less Services whose endpoints are the runner's address on kind's Docker network:
# s3.mlflow.svc:5000 and mlflow.mlflow.svc:5000, the tracking URI the ml-workflows chart
# gives the steps by default. The credentials are random, made here, and only ever in the
# cluster's objects: moto accepts any key.
#
# Usage: start-stand-ins.sh          (after install-platform.sh: the mlflow namespace exists)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need kubectl
need docker
need jq

pinned() { grep -E "^$1==" "$REPO_ROOT/requirements.lock" || die "$1 is not pinned in requirements.lock"; }

venv="$E2E_STATE/stand-ins"
if [ ! -x "$venv/bin/mlflow" ]; then
  log "installing the stand-ins (pinned by requirements.lock) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "$(pinned mlflow)" "$(pinned moto | sed 's/^moto==/moto[server]==/')" "$(pinned boto3)"
fi

# The runner's IPv4 address on kind's network: what a pod reaches the host by.
host_ip=$(docker network inspect kind | jq -r '[.[0].IPAM.Config[].Gateway | select(test("^[0-9.]+$"))] | first')
if [ -z "$host_ip" ] || [ "$host_ip" = null ]; then die "no IPv4 gateway on Docker network 'kind'"; fi
log "runner address on the kind network: $host_ip"

key_id=$(openssl rand -hex 10)
secret_key=$(openssl rand -hex 20)
export AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret_key AWS_DEFAULT_REGION=us-east-1
printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' "$key_id" "$secret_key" >"$E2E_STATE/s3.env"
chmod 600 "$E2E_STATE/s3.env"

log "moto S3 server on $host_ip:5000 (stands in for AWS S3)"
nohup "$venv/bin/moto_server" -H 0.0.0.0 -p 5000 >"$E2E_STATE/moto.log" 2>&1 &
echo $! >"$E2E_STATE/moto.pid"
for _ in $(seq 60); do curl -fsS "http://127.0.0.1:5000/moto-api/" >/dev/null 2>&1 && break; sleep 1; done

export MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:5000
"$venv/bin/python" - <<'PY'
import boto3

s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:5000")
for bucket in ("slipway-datasets", "slipway-artifacts"):
    s3.create_bucket(Bucket=bucket)
PY

log "MLflow server on $host_ip:5001 (SQLite; artifacts proxied to s3://slipway-artifacts/mlflow)"
MLFLOW_SERVER_ALLOWED_HOSTS="mlflow.mlflow.svc.cluster.local:5000,mlflow.mlflow.svc:5000,localhost:*,127.0.0.1:*" \
  nohup "$venv/bin/mlflow" server --host 0.0.0.0 --port 5001 --workers 1 \
  --backend-store-uri "sqlite:///$E2E_STATE/mlflow.db" \
  --serve-artifacts --artifacts-destination s3://slipway-artifacts/mlflow \
  >"$E2E_STATE/mlflow.log" 2>&1 &
echo $! >"$E2E_STATE/mlflow.pid"
for _ in $(seq 300); do curl -fsS http://127.0.0.1:5001/health >/dev/null 2>&1 && break; sleep 1; done
curl -fsS http://127.0.0.1:5001/health >/dev/null || { cat "$E2E_STATE/mlflow.log" >&2; die "MLflow did not start"; }

log "training data: the trainer image's own generator, two seeds (first and second run)"
data="$E2E_STATE/data"
mkdir -p "$data" && chmod 777 "$data"
for seed in 1 2; do
  docker run --rm --user 10001 -v "$data:/out" "ghcr.io/slipway-ml/slipway-trainer:$E2E_TAG" \
    python -m slipway.cli data generate "/out/train-$seed.csv" --rows 4000 --seed "$seed"
done
"$venv/bin/python" - "$data" <<'PY'
import sys
from pathlib import Path

import boto3

s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:5000")
for path in sorted(Path(sys.argv[1]).glob("*.csv")):
    s3.upload_file(str(path), "slipway-datasets", f"churn/{path.name}")
    print(f"s3://slipway-datasets/churn/{path.name}")
PY

log "Services for the stand-ins in the mlflow namespace, and their credentials where pods read them"
for svc in s3:5000 mlflow:5001; do
  name=${svc%%:*} port=${svc##*:}
  kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata:
  name: $name
  namespace: mlflow
spec:
  ports:
    - name: http
      port: 5000
      targetPort: $port
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name-runner
  namespace: mlflow
  labels:
    kubernetes.io/service-name: $name
addressType: IPv4
ports:
  - name: http
    port: $port
endpoints:
  - addresses: ["$host_ip"]
YAML
done
for ns in ml-workflows model-serving; do
  kubectl create secret generic s3-stand-in -n "$ns" --from-env-file="$E2E_STATE/s3.env" \
    --dry-run=client -o yaml | kubectl apply -f -
done
# KServe's storage initializer finds the endpoint in these annotations of a Secret attached to
# the predictor's ServiceAccount (its S3 credential builder).
kubectl annotate secret s3-stand-in -n model-serving --overwrite \
  serving.kserve.io/s3-endpoint=s3.mlflow.svc.cluster.local:5000 \
  serving.kserve.io/s3-usehttps=0 \
  serving.kserve.io/s3-region=us-east-1
log "stand-ins up"
