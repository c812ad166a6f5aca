"""Data-driven: every file in tests/cases/invalid declares in its header every problem it
yields, in the order validate prints them, each with the texts its message must hold
(tests/case_files.py reads the headers). The complete list is asserted, so a duplicate or a
wrong extra finding fails too. Every file in tests/cases/valid validates with no problem at
all and renders."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from case_files import INVALID, VALID, expectations, header, sayings
from click.testing import CliRunner

from conftest import CASES, ROOT, assert_valid_kubernetes, render_values
from conftest import CHART as CHART_DIR
from modelservice.cli import cli
from modelservice.core.rules import load_all
from modelservice.values.loader import load_file

#: Rules no committed case file can hold: they are about the file itself (tests/test_fuzz.py)
#: or about rendering, not values.
NOT_CASE_FILES = {
    "file-too-big",
    "file-unreadable",
    "helm-render",
    # 256 KiB of annotations: generated in tests/test_api_rules.py rather than committed.
    "k8s-annotations-too-large",
    # The chart derives valid names from any release name Helm accepts; the rule guards
    # other charts (--chart) and is tested on objects in tests/test_api_rules.py.
    "k8s-object-name",
    # The schema and the template keep liveness/startup successThreshold at 1; the rule guards
    # other charts and is tested on objects in tests/test_api_rules.py.
    "k8s-probe-success-threshold",
    # Fallbacks for a schema keyword no other rule names: the chart's schemas use none (a
    # chart given with --chart may).
    "schema-invalid",
    "k8s-invalid",
    # vLLM's own verdict, reported only by `validate --vllm PYTHON`
    # (tests/test_engine_config_vllm.py)
    "vllm-engine-config",
}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_an_invalid_case_reports_exactly_the_problems_it_declares(path: Path):
    expected = expectations(path)
    result = CliRunner().invoke(cli, ["validate", "--strict", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    found = []
    for line in lines:
        match = re.match(r"^(.*?):(\d+):(\d+): (\S+): (warning: )?.* \[([^\]]+)\]$", line)
        assert match, line
        assert match.group(1) == str(path), line
        severity = "warning" if match.group(5) else "error"
        found.append(
            (severity, int(match.group(2)), int(match.group(3)), match.group(4), match.group(6))
        )
    assert found == expected, "\n".join(lines)
    for line, says in zip(lines, sayings(path), strict=True):
        for text in says:
            assert text in line, f"{text!r} not in: {line}"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_json_format_reports_the_same_problems_on_stdout(path: Path):
    expected = expectations(path)
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    errors = any(e[0] == "error" for e in expected)
    assert result.exit_code == (1 if errors else 0)
    problems = json.loads(result.stdout)
    assert [
        (p["severity"], p["line"], p["column"], p["pointer"], p["rule"]) for p in problems
    ] == expected
    assert all(p["file"] == str(path) and p["message"] for p in problems)


@pytest.mark.parametrize(
    "path",
    [p for p in INVALID if all(e[0] == "warning" for e in expectations(p))],
    ids=lambda p: p.stem,
)
def test_a_warning_is_printed_but_fails_only_under_strict(path: Path):
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0
    assert "warning: " in result.stderr
    assert CliRunner().invoke(cli, ["validate", "--strict", str(path)]).exit_code == 1


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_a_valid_case_validates_with_no_problem_even_under_strict(path: Path):
    result = CliRunner().invoke(cli, ["validate", "--strict", str(path)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_a_valid_case_renders_into_strictly_valid_kubernetes_objects(path: Path):
    rendered = render_values(load_file(path).data)
    # the model server's workload: a Deployment, or a StatefulSet (a claim per pod) or a
    # LeaderWorkerSet (multiNode)
    workloads = {"Deployment", "StatefulSet", "LeaderWorkerSet"}
    assert any(m["kind"] in workloads for m in rendered.objects())
    assert_valid_kubernetes(rendered)


def rules_of_validate() -> set[str]:
    """Every rule id `validate` can report: the registry's rules of its stages (bake's own and
    check's cluster stage apart)."""
    return {
        rule.id
        for rule in load_all().rules.values()
        if rule.stage != "cluster" and not rule.module.startswith("modelservice.bake")
    }


def test_every_rule_validate_reports_has_a_failing_case():
    covered = {e[4] for p in INVALID for e in expectations(p)}
    assert sorted(rules_of_validate() - NOT_CASE_FILES - covered) == []
    assert NOT_CASE_FILES <= rules_of_validate(), "a rule named here no longer exists"


#: The tests of `modelservice check`: against the API server (test_check.py), and against the
#: control plane where what the rule predicts also happens (a blocked rollout, an HPA's
#: condition).
CHECK_TESTS = ("test_check.py", "test_gpu_rollouts.py", "test_hpa_without_adapter.py")
#: The workload kinds that run the model server: a Deployment, a StatefulSet (persistence.perPod)
#: and a LeaderWorkerSet (multiNode).
WORKLOADS = ("Deployment", "StatefulSet", "LeaderWorkerSet")
#: Rules of the release stage's checks that judge no pod of the server's workload, and why.
NOT_ON_PODS = {
    "autoscaling-trigger-invalid": "the ScaledObject's triggers",
    "autoscaling-unknown-metric": "the ScaledObject's or the HPA's queries",
    # Generated in tests/test_api_rules.py for every workload kind (NOT_CASE_FILES).
    "k8s-annotations-too-large": "tests/test_api_rules.py, on every kind",
    "k8s-object-name": "tests/test_api_rules.py",
    "k8s-probe-success-threshold": "tests/test_api_rules.py, on every kind",
    # A quantity of an object passed through is refused at the values stage
    # (k8s-volume-size-limit-not-a-quantity), whatever the kind; the chart's own quantities
    # are the schema's.
    "k8s-quantity": "the values stage, for every kind",
    "autoscaling-trigger-missing-metadata": "the ScaledObject's triggers",
    "autoscaling-trigger-unknown-type": "the ScaledObject's triggers",
    "autoscaling-zero-without-wake-trigger": "the ScaledObject's replicas and triggers",
    "routing-unknown-metric": "the endpoint picker's configuration",
    "routing-pool-port-not-served": "the InferencePool's target ports",
    "sleep-mode-dev-endpoint-routed": "the Ingress's paths",
}
#: Rules that judge the pods of some workload kinds only, and why not the others.
ONLY_ON = {
    "k8s-deployment-strategy": (("Deployment",), "a Deployment's own strategy"),
    "rolling-update-on-rwo-cache": (
        ("Deployment",),
        "a StatefulSet replaces its pods one by one, and a group on a ReadWriteOnce cache is "
        "refused whole (rwo-claim-shared-by-group)",
    ),
    "rwo-claim-shared-by-replicas": (
        ("Deployment",),
        "a StatefulSet has a claim per pod; a group is judged whole (rwo-claim-shared-by-group)",
    ),
    "rwo-claim-shared-by-group": (("LeaderWorkerSet",), "the pods of a group"),
    "multi-node-parallel-mismatch": (("LeaderWorkerSet",), "the GPUs of a group"),
    "tensor-parallel-mismatch": (
        ("Deployment", "StatefulSet"),
        "the GPUs of one pod; a group's are multi-node-parallel-mismatch's",
    ),
    "autoscaling-rwo-cache": (
        ("Deployment", "LeaderWorkerSet"),
        "a StatefulSet's replicas have a claim each "
        "(tests/cases/valid/per-pod-cache-claims-for-autoscaled-replicas.yaml)",
    ),
    "gpu-rolling-update-surge": (
        ("Deployment",),
        "a Deployment's own strategy: a StatefulSet replaces its pods one by one, and the "
        "chart's LeaderWorkerSets never surge",
    ),
    "existing-claim-not-mounted": (
        ("Deployment", "LeaderWorkerSet"),
        "persistence.enabled false renders no StatefulSet",
    ),
}


#: The object a rule's finding names for a workload kind, where it is not the workload itself: a
#: Deployment's cache claim is a PersistentVolumeClaim (a StatefulSet's, a claim template).
NAMED_AS = {("k8s-claim-size", "Deployment"): "PersistentVolumeClaim"}


def pod_rules() -> set[str]:
    """The rules of the release stage's checks (what validate finds on the rendered objects)."""
    from modelservice.checks import load

    return {rule.id for check in load().in_stage("release") for rule in check.rules}


#: How a case rendering a Deployment is made to render each other workload kind: the same
#: values with a claim per pod (a StatefulSet), or as a group of two pods (a LeaderWorkerSet).
AS_KIND: dict[str, dict[str, Any]] = {
    "StatefulSet": {"persistence": {"perPod": True}},
    "LeaderWorkerSet": {"multiNode": {"enabled": True, "nodes": 2}},
}


def _as_kind(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """``data`` with the keys that make the chart render ``kind`` merged in."""
    changed = copy.deepcopy(data)
    for key, extra in AS_KIND[kind].items():
        current = changed.get(key)
        changed[key] = {**(current if isinstance(current, dict) else {}), **extra}
    return changed


def derived_kinds(rules: set[str]) -> set[tuple[str, str]]:
    """(rule, kind) for every case that finds one of ``rules`` on a workload, naming its kind;
    where that kind is a Deployment, also for the same values made to render a StatefulSet or
    a LeaderWorkerSet (AS_KIND) when the same rule refuses them, naming that kind."""
    from modelservice.validate import validate_loaded
    from modelservice.values.loader import load_text

    def named(problems: Any, wanted: set[str], kinds: Any) -> set[tuple[str, str]]:
        return {
            (p.rule, kind)
            for p in problems
            for kind in kinds
            if p.rule in wanted and f"rendered {kind}/" in p.message
        }

    found: set[tuple[str, str]] = set()
    for path in INVALID:
        declared = {expected[4] for expected in expectations(path)} & rules
        loaded = load_file(path)
        if not declared or not isinstance(loaded.data, dict):
            continue
        here = named(validate_loaded(loaded, CHART_DIR).problems, declared, WORKLOADS)
        found |= here
        on_deployment = {rule for rule, kind in here if kind == "Deployment"}
        if not on_deployment or "existingClaim" in json.dumps(loaded.data):
            continue
        for kind in AS_KIND:
            text = json.dumps(_as_kind(loaded.data, kind))
            result = validate_loaded(load_text(text, f"{path.stem}.yaml"), CHART_DIR)
            found |= named(result.problems, on_deployment, (kind,))
    return found


def test_every_pod_rule_has_a_case_on_every_workload_kind_it_judges():
    """A case whose message names the rendered kind (`#   says: rendered StatefulSet/`), for
    every rule that reads pods and every kind of workload the rule judges; a case on a
    Deployment counts for another kind where the same values, made to render that kind
    (AS_KIND), are refused by the same rule naming it."""
    seen = {
        (expected[4], kind)
        for path in INVALID
        for expected, says in header(path)
        for kind in WORKLOADS
        if any(f"rendered {NAMED_AS.get((expected[4], kind), kind)}/" in text for text in says)
    }
    seen |= derived_kinds(pod_rules() - NOT_ON_PODS.keys())
    missing = [
        (rule, kind)
        for rule in sorted(pod_rules() - NOT_ON_PODS.keys())
        for kind in ONLY_ON.get(rule, (WORKLOADS, ""))[0]
        if (rule, kind) not in seen
    ]
    assert missing == []
    assert (NOT_ON_PODS.keys() | ONLY_ON.keys()) <= pod_rules(), "a rule named here is gone"


def test_every_rule_of_check_has_a_test_against_a_real_api_server():
    text = "".join((ROOT / "tests" / n).read_text(encoding="utf-8") for n in CHECK_TESTS)
    cluster = {r.id for r in load_all().rules.values() if r.stage == "cluster"}
    assert sorted(r for r in cluster if f'"{r}"' not in text) == []


def test_every_rule_a_template_names_in_a_refusal_is_declared():
    named = set()
    for template in (CHART_DIR / "templates").rglob("*"):
        if template.is_file():
            text = template.read_text(encoding="utf-8")
            named |= set(re.findall(r'include "modelservice\.fail" \(list "[^"]*" "([^"]+)"', text))
    assert named, "the chart refuses nothing in its own words?"
    assert sorted(named - set(load_all().rules)) == []


def test_the_suite_has_at_least_forty_invalid_cases():
    assert len(INVALID) >= 40


@pytest.mark.parametrize("path", [*INVALID, *VALID], ids=lambda p: p.stem)
def test_the_python_schema_verdict_is_helms_on_the_merged_values(path: Path):
    from modelservice.helm.engine import go_log_silenced, load_chart
    from modelservice.schema.check import chart_validator
    from modelservice.validate import merge

    loaded = load_file(path)
    if loaded.problems or not isinstance(loaded.data, dict):
        return
    merged = merge(CHART_DIR, loaded.data)
    if merged is None:
        return
    python_ok = chart_validator(CHART_DIR).is_valid(merged)
    try:
        with go_log_silenced():
            # The SDK coalesces what it is given over the chart's defaults, as install does.
            load_chart(CHART_DIR).validate_schema(loaded.data)
        helm_ok = True
    except Exception:
        helm_ok = False
    assert python_ok == helm_ok


def test_every_mistake_of_every_layer_is_reported_in_one_run():
    path = CASES / "every-layer-at-once.yaml"
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    found = [(p["line"], p["pointer"], p["rule"]) for p in json.loads(result.stdout)]
    assert found == [
        # the model layer: a 70B model's weights in the default 50Gi cache (a warning)
        (3, "/model/name", "cache-smaller-than-model"),
        (7, "/engine/tensorParallelSize", "tensor-parallel-mismatch"),
        (8, "/engine/args/0", "engine-arg-unknown"),
        (11, "/env/0/value", "secret-literal"),
        (
            15,
            "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerm",
            "k8s-unknown-field",
        ),
        (17, "/replicaCount", "rwo-claim-shared-by-replicas"),
    ]


def test_schema_errors_do_not_hide_mistakes_in_engine_args_or_kubernetes_objects(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text(
        "model:\n  nmae: Qwen/Qwen2.5-0.5B-Instruct\n"
        "engine:\n  args: [--max-model-length=4096]\n"
        "tolerations:\n  - {key: gpu, operator: Exist}\n"
    )
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    rules = [p["rule"] for p in json.loads(result.stdout)]
    assert rules == ["schema-unknown-key", "engine-arg-unknown", "k8s-enum"]
