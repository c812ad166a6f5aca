"""Real Helm 3 and Helm 4 binaries render what the embedded engine renders, and lint the chart.

The binaries are Helm's own release builds, cached by ``make tools`` (tools/test-binaries.sh)
as helm3 and helm4; a missing one is an error, never a skip.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml
from kube_harness import EMULATED_KUBE_VERSION, cached_binary

from conftest import CASES, CHART, EXAMPLES, generated_key_masked, render_values
from modelservice.helm.engine import release_name_for, render, render_helm
from modelservice.validate import validate_file
from modelservice.values.loader import load_file

EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml")
VALID_CASES = sorted((CASES / "valid").glob("*.yaml"))
HELMS = ["helm3", "helm4"]
#: The lowest release the chart claims (Chart.yaml kubeVersion): `helm template` renders for it,
#: since Helm 3.17's default (v1.32.0) is below it.
LOWEST = f"v{EMULATED_KUBE_VERSION}.0"


def helm_version(name: str) -> str:
    done = subprocess.run(
        [str(cached_binary(name)), "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_cached_helm_binaries_are_helm_3_and_helm_4():
    assert helm_version("helm3").startswith("v3.")
    assert helm_version("helm4").startswith("v4.")


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_helm_template_renders_an_example_byte_identical_to_the_embedded_engine(helm, path):
    values = validate_file(path, CHART).values
    release = release_name_for(str(path))
    embedded = render(CHART, values, release=release, namespace="ai")
    external = render_helm(
        CHART,
        values,
        release=release,
        namespace="ai",
        binary=str(cached_binary(helm)),
        kube_version=LOWEST,
    )
    assert generated_key_masked(external.text()) == generated_key_masked(embedded.text())


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("path", VALID_CASES, ids=lambda p: p.stem)
def test_helm_template_renders_a_valid_case_byte_identical_to_the_embedded_engine(helm, path):
    values = load_file(path).data
    embedded = render_values(values)
    external = render_helm(
        CHART,
        values,
        release="test",
        namespace="default",
        binary=str(cached_binary(helm)),
        kube_version=LOWEST,
    )
    assert generated_key_masked(external.text()) == generated_key_masked(embedded.text())


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_helm_lint_strict_passes_on_the_chart_with_an_example(helm, path):
    done = subprocess.run(
        [str(cached_binary(helm)), "lint", "--strict", str(CHART), "--values", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HELM_NO_PLUGINS": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


def helm_template_for(helm: str, kube_version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(cached_binary(helm)), "template", "qwen", str(CHART),
            "--set", "model.name=Qwen/Qwen2.5-0.5B-Instruct", "--kube-version", kube_version,
        ],
        capture_output=True, text=True, check=False, env={**os.environ, "HELM_NO_PLUGINS": "1"},
    )  # fmt: skip


def test_the_charts_kubeversion_floor_is_the_release_the_tests_run():
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert meta["kubeVersion"] == f">={EMULATED_KUBE_VERSION}.0-0"


@pytest.mark.parametrize("helm", HELMS)
def test_helm_refuses_the_chart_for_a_cluster_below_the_lowest_tested_release(helm):
    major, minor = EMULATED_KUBE_VERSION.split(".")
    below = f"v{major}.{int(minor) - 1}.0"
    refused = helm_template_for(helm, below)
    assert refused.returncode != 0
    assert f"incompatible with Kubernetes {below}" in refused.stderr
    assert helm_template_for(helm, LOWEST).returncode == 0


def _chart_refusals() -> set[str]:
    """The rules the chart's templates refuse values under (``modelservice.fail``)."""
    import re

    named: set[str] = set()
    for template in (CHART / "templates").rglob("*"):
        if template.is_file():
            text = template.read_text(encoding="utf-8")
            named |= set(re.findall(r'"modelservice\.fail" \(list "[^"]*" "([^"]+)"', text))
    return named


def _refused_cases() -> list[tuple[object, str]]:
    from case_files import expectations

    refusals = _chart_refusals()
    found = []
    for path in sorted((CASES / "invalid").glob("*.yaml")):
        rules = [e[4] for e in expectations(path) if e[0] == "error"]
        if rules and rules[0] in refusals:
            found.append((path, rules[0]))
    return found


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize(("path", "rule"), _refused_cases(), ids=lambda p: getattr(p, "stem", p))
def test_plain_helm_refuses_a_case_the_chart_refuses_in_its_own_words(helm, path, rule, tmp_path):
    done = subprocess.run(
        [
            str(cached_binary(helm)),
            "template",
            "test",
            str(CHART),
            "--values",
            str(path),
            "--kube-version",
            LOWEST,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HELM_NO_PLUGINS": "1"},
    )
    assert done.returncode != 0, done.stdout[:500]
    assert f"[{rule}]" in done.stderr and "modelservice: " in done.stderr, done.stderr
