"""Data-driven: every file in tests/cases/invalid declares the line, pointer and rule of its
one mistake in a `# expect: LINE:COL POINTER RULE` header; every file in tests/cases/valid
validates with no problem at all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CASES
from modelservice.cli import cli

INVALID = sorted((CASES / "invalid").glob("*.yaml"))
VALID = sorted((CASES / "valid").glob("*.yaml"))
HEADER = re.compile(r"^# expect: (\d+):(\d+) (\S+) (\S+)$")


def expectation(path: Path) -> tuple[int, int, str, str]:
    match = HEADER.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert match, f"{path.name} lacks a '# expect: LINE:COL POINTER RULE' header"
    return int(match.group(1)), int(match.group(2)), match.group(3), match.group(4)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_an_invalid_case_is_reported_at_its_line_pointer_and_rule(path: Path):
    line, column, pointer, rule = expectation(path)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}:{column}: {pointer}: "), first
    assert first.endswith(f"[{rule}]"), first


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_json_format_reports_the_same_problem_on_stdout(path: Path):
    line, column, pointer, rule = expectation(path)
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert {
        "file": str(path),
        "line": line,
        "column": column,
        "pointer": pointer,
        "rule": rule,
    } == {k: problems[0][k] for k in ("file", "line", "column", "pointer", "rule")}
    assert problems[0]["severity"] == "error"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_a_valid_case_validates_with_no_problem_even_under_strict(path: Path):
    result = CliRunner().invoke(cli, ["validate", "--strict", str(path)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def test_every_engine_argument_rule_has_a_case():
    rules = {expectation(p)[3] for p in INVALID}
    assert {
        "engine-arg-unknown",
        "engine-arg-choice",
        "engine-arg-type",
        "engine-arg-missing-value",
        "engine-arg-switch-value",
        "engine-arg-duplicates-key",
        "engine-arg-positional",
    } <= rules
