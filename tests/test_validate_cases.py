"""Data-driven: every file in tests/cases/invalid declares the line, column, pointer and rule of
its one mistake in a header, `# expect: LINE:COL POINTER RULE` for an error or
`# expect-warning: ...` for a warning (which fails only under --strict); every file in
tests/cases/valid validates with no problem at all and renders."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CASES, ROOT, assert_valid_kubernetes, render_values
from conftest import CHART as CHART_DIR
from modelservice.cli import cli
from modelservice.loader import load_file

INVALID = sorted((CASES / "invalid").glob("*.yaml"))
VALID = sorted((CASES / "valid").glob("*.yaml"))
HEADER = re.compile(r"^# expect(-warning)?: (\d+):(\d+) (\S+) (\S+)$")
RULE_ID = re.compile(r"^[a-z][a-z0-9]*(\.[0-9]+)?(-[a-z0-9.]+)+$")
#: Rules no committed case file can hold: they are about the file itself (tests/test_fuzz.py)
#: or about rendering, not values.
NOT_CASE_FILES = {"file-too-big", "file-unreadable", "helm-render"}
#: Modules of other commands, whose problems are about their own inputs, not values files.
NOT_VALIDATION = {"bake", "scaffold"}
#: String constants of the package shaped like rule ids that are not rules.
NOT_RULES = {"utf-8", "latin-1", "kubernetes-json-schema"}


def expectation(path: Path) -> tuple[str, int, int, str, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
    match = HEADER.match(first)
    assert match, f"{path.name} lacks a '# expect: LINE:COL POINTER RULE' header"
    severity = "warning" if match.group(1) else "error"
    return severity, int(match.group(2)), int(match.group(3)), match.group(4), match.group(5)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_an_invalid_case_is_reported_at_its_line_pointer_and_rule(path: Path):
    severity, line, column, pointer, rule = expectation(path)
    result = CliRunner().invoke(cli, ["validate", "--strict", str(path)])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    prefix = "warning: " if severity == "warning" else ""
    assert first.startswith(f"{path}:{line}:{column}: {pointer}: {prefix}"), first
    assert first.endswith(f"[{rule}]"), first


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_json_format_reports_the_same_problem_on_stdout(path: Path):
    severity, line, column, pointer, rule = expectation(path)
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    assert result.exit_code == (1 if severity == "error" else 0)
    problems = json.loads(result.stdout)
    assert {
        "file": str(path),
        "line": line,
        "column": column,
        "pointer": pointer,
        "rule": rule,
        "severity": severity,
    } == {k: problems[0][k] for k in ("file", "line", "column", "pointer", "rule", "severity")}


@pytest.mark.parametrize(
    "path",
    [p for p in INVALID if expectation(p)[0] == "warning"],
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
    assert any(m["kind"] == "Deployment" for m in rendered.objects())
    assert_valid_kubernetes(rendered)


def rules_in_code() -> set[str]:
    """Every rule id the package can report, read off its source."""
    rules: set[str] = set()
    for source in (ROOT / "generator" / "modelservice").glob("*.py"):
        if source.stem in NOT_VALIDATION:
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and RULE_ID.match(node.value)
            ):
                rules.add(node.value)
    return rules - NOT_RULES


def rules_in_readme() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z0-9.*-]+)` \| (?:error|warning) \|", text, flags=re.M))


def test_every_rule_has_a_failing_case():
    covered = {expectation(p)[4] for p in INVALID}
    assert rules_in_code() - NOT_CASE_FILES <= covered


def test_every_rule_has_a_line_in_the_readme():
    code = (rules_in_code() - {"helm-render"}) | {"schema-*", "k8s-*"}
    readme = rules_in_readme()
    assert {r for r in code if not r.startswith(("schema-", "k8s-"))} <= readme
    assert readme <= code


def test_the_suite_has_at_least_forty_invalid_cases():
    assert len(INVALID) >= 40


@pytest.mark.parametrize("path", [*INVALID, *VALID], ids=lambda p: p.stem)
def test_helms_schema_verdict_and_the_python_one_report_the_same_problems(path: Path):
    from modelservice.validate import validate_file

    with_helm = validate_file(path, CHART_DIR, schema="helm").problems
    with_python = validate_file(path, CHART_DIR, schema="python").problems
    assert with_helm == with_python
    deferred = validate_file(path, CHART_DIR, schema="deferred")
    if deferred.schema_deferred and not any(p.severity == "error" for p in deferred.problems):
        return  # left to the Helm render that follows (tested in test_cli_render)
    assert deferred.problems == with_python


def test_every_mistake_of_every_layer_is_reported_in_one_run():
    path = CASES / "every-layer-at-once.yaml"
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    found = [(p["line"], p["pointer"], p["rule"]) for p in json.loads(result.stdout)]
    assert found == [
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
