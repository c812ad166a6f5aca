#!/usr/bin/env bash
# The Helm chart ecosystem's linters the test suite runs (tests/test_linters.py), each built
# from its published Go module version and cached outside the checkout:
#   $MODELSERVICE_CACHE/linters/ct-$CT/ct                  chart-testing (`ct lint`)
#   $MODELSERVICE_CACHE/linters/ct-$CT/etc/                its chart_schema.yaml and lintconf.yaml
#   $MODELSERVICE_CACHE/linters/kube-score-$KS/kube-score  kube-score (kube-linter's role)
#   $MODELSERVICE_CACHE/linters/kubeconform-$KC/kubeconform
# ct runs yamllint and yamale, which come with the toolkit's test extras (pyproject.toml).
# kube-linter itself cannot be built here: the Go module proxy refuses golang.stackrox.io/
# kube-linter (every version, 403), and no other registry this project reaches ships it; kube-score
# (the same kind of static analysis of rendered manifests) stands in, with .kube-score.yaml.
# Idempotent: a cached linter is checked in milliseconds and left alone; bumping a version below
# changes a folder name, so the next run builds the new one.
set -euo pipefail

CT_VERSION=v3.14.0        # github.com/helm/chart-testing/v3
KUBE_SCORE_VERSION=v1.20.0 # github.com/zegl/kube-score
KUBECONFORM_VERSION=v0.7.0 # github.com/yannh/kubeconform

CACHE=${MODELSERVICE_CACHE:-$HOME/.cache/modelservice}
LINTERS=$CACHE/linters
log() { echo "linters: $*" >&2; }

# Build MODULE's command PACKAGE at VERSION into FOLDER.tmp (the caller moves it into place, so
# a half-built folder is never taken). A throw-away module requires the published version and
# `go build` resolves the rest as the module's own go.mod pins it. (`go install PKG@VERSION`
# would do the same, but it first asks the proxy for the module's version list, which the
# proxy reachable here refuses for some modules while it serves their versions.)
build() {
  local folder=$1 module=$2 package=$3 version=$4 binary=$5
  command -v go >/dev/null || { log "go is needed to build $binary"; exit 1; }
  log "building $binary $version from its Go module (first time: a minute or two)"
  local started=$SECONDS work=$LINTERS/build/$binary-$version
  rm -rf "$folder.tmp" "$work"
  mkdir -p "$folder.tmp" "$work"
  printf 'module modelservice.local/%s-build\n\ngo 1.24\n\nrequire %s %s\n' \
    "$binary" "$module" "$version" >"$work/go.mod"
  (cd "$work" && GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    go build -trimpath -ldflags "-s -w" -o "$folder.tmp/$binary" "$package")
  rm -rf "$work"
  log "built $binary $version in $((SECONDS - started))s"
}

# --- chart-testing ------------------------------------------------------------------------------
CT_DIR=$LINTERS/ct-$CT_VERSION
if [ ! -x "$CT_DIR/ct" ]; then
  build "$CT_DIR" github.com/helm/chart-testing/v3 github.com/helm/chart-testing/v3/ct \
    "$CT_VERSION" ct
  # ct's own defaults for Chart.yaml's schema and yamllint's rules ship in its module's etc/.
  module=$(GOTOOLCHAIN=local go mod download -json "github.com/helm/chart-testing/v3@$CT_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  mkdir -p "$CT_DIR.tmp/etc"
  cp "$module/etc/chart_schema.yaml" "$module/etc/lintconf.yaml" "$CT_DIR.tmp/etc/"
  chmod -R u+w "$CT_DIR.tmp"
  rm -rf "$CT_DIR" && mv "$CT_DIR.tmp" "$CT_DIR"
fi

# --- kube-score ---------------------------------------------------------------------------------
KS_DIR=$LINTERS/kube-score-$KUBE_SCORE_VERSION
if [ ! -x "$KS_DIR/kube-score" ]; then
  build "$KS_DIR" github.com/zegl/kube-score github.com/zegl/kube-score/cmd/kube-score \
    "$KUBE_SCORE_VERSION" kube-score
  rm -rf "$KS_DIR" && mv "$KS_DIR.tmp" "$KS_DIR"
fi

# --- kubeconform --------------------------------------------------------------------------------
KC_DIR=$LINTERS/kubeconform-$KUBECONFORM_VERSION
if [ ! -x "$KC_DIR/kubeconform" ]; then
  build "$KC_DIR" github.com/yannh/kubeconform github.com/yannh/kubeconform/cmd/kubeconform \
    "$KUBECONFORM_VERSION" kubeconform
  rm -rf "$KC_DIR" && mv "$KC_DIR.tmp" "$KC_DIR"
fi
