# modelservice: the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools demo test lint generate check-generated bench clean

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
## etcd, kube-apiserver, helm3 and helm4 cached in ~/.cache/modelservice (tools/test-binaries.sh).
tools:
	tools/test-binaries.sh
	@command -v promtool >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || { \
	    $$SUDO apt-get update -q >/dev/null && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; }

## Lint, check generated files, run the test suite.
test: install tools lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check generator tests bench tools
	$(BIN)/ruff format --check generator tests bench tools

## Regenerate chart/values.schema.json (and the README parameter table) from schemas/.
generate: install
	$(BIN)/modelservice docs --write

## Benchmarks (bench/): realistic files beside check-jsonschema, medians and peak memory.
## GNU time (Debian's `time`) measures each command's peak memory.
bench: install
	@test -x /usr/bin/time || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time >/dev/null; }
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
