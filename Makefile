# modelservice: the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools demo test lint generate check-generated package wheel bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Render the Qwen example through the embedded Helm engine.
demo: install
	$(BIN)/modelservice render values-examples/qwen2.5-0.5b-instruct-hf-mirror.yaml

## promtool (Prometheus' rule checker) for the alert tests, from Debian's prometheus package;
## etcd, kube-apiserver, helm3 and helm4 cached in ~/.cache/modelservice (tools/test-binaries.sh);
## the chart linters ct, kube-score and kubeconform built from their Go modules (tools/linters.sh).
tools:
	tools/test-binaries.sh
	tools/linters.sh
	@command -v promtool >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || { \
	    $$SUDO apt-get update -q >/dev/null && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; }

## Lint, check generated files, run the test suite.
## The suite spreads its test files over one worker per core (pytest-xdist; a file stays on
## one worker, so its fixtures start once).
test: install tools lint
	$(BIN)/python -m pytest -n auto --dist loadfile

lint: install
	$(BIN)/ruff check generator tests bench tools
	$(BIN)/ruff format --check generator tests bench tools

## Regenerate chart/values.schema.json, the `# --` comments of chart/values.yaml and
## chart/README.md (the parameter table) from schemas/values.schema.yaml and chart/Chart.yaml.
generate: install
	$(BIN)/modelservice docs --write

## The chart archive dist/modelservice-VERSION.tgz, built by Helm's own packager (the SDK);
## publish it with `helm push dist/modelservice-VERSION.tgz oci://REGISTRY/PATH`.
DIST ?= dist
package: install
	$(BIN)/modelservice package --destination $(DIST)

## The toolkit's wheel in dist/ (chart and schemas inside); `pip install` it anywhere.
wheel: install
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(DIST) .

## Benchmarks (bench/): realistic files beside check-jsonschema, medians and peak memory.
## GNU time (Debian's `time`) measures each command's peak memory.
bench: install
	@test -x /usr/bin/time || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time >/dev/null; }
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis dist
