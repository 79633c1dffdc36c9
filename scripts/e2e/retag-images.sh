#!/usr/bin/env bash
# A filter (stdin to stdout) over rendered manifests: every slipway image reference, by tag
# or by digest, becomes the image this e2e run built and loaded into kind, pulled only if not
# present. kind has no GPU, so the CUDA trainer's steps run the CPU trainer (same code).
set -euo pipefail
TAG=${E2E_TAG:-e2e}
sed -E \
  -e "s#ghcr\.io/slipway-ml/slipway-trainer-cuda([:@][^\"' ]+)?#ghcr.io/slipway-ml/slipway-trainer:${TAG}#g" \
  -e "s#ghcr\.io/slipway-ml/slipway-(trainer|predictor)([:@][^\"' ]+)#ghcr.io/slipway-ml/slipway-\1:${TAG}#g" \
  -e "s#imagePullPolicy: Always#imagePullPolicy: IfNotPresent#g"
