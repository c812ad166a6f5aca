"""Where `validate`'s time goes: CPU milliseconds per file of each stage, in one process.

The stages are timed with the process's CPU clock (Helm's Go threads included) on the
benchmark's realistic files (bench/corpus.py), after one warm-up file, so that the table shows
the floor each stage sets: Helm's render and its YAML reader are Go code the toolkit calls, not
Python it could make faster. Run with `make bench`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import ROOT, write_corpus

FILES = 200


def _timed(owner: Any, name: str, label: str, spent: dict[str, float]) -> None:
    original: Callable[..., Any] = getattr(owner, name)
    setattr(owner, name, _timed_function(original, label, spent))


def _timed_function(function: Any, label: str, spent: dict[str, float]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - start

    return wrapper


def main() -> None:
    from modelservice import engine_args, rendered_checks, rules, validate
    from modelservice.checks import file as yaml_checks
    from modelservice.checks.k8s import passthrough as k8s_check
    from modelservice.helm import engine
    from modelservice.schema import check as schema_check

    spent: dict[str, float] = defaultdict(float)
    before = "before the schema: YAML reader differences, secret literals"
    stages = [
        (validate, "load_file", "read the file (Helm's reader, positions, structure)"),
        (validate, "merge", "merge with the chart's defaults (Helm)"),
        (yaml_checks, "reader_differences", before),
        (rules, "secret_literals", before),
        (schema_check, "check", "schema: the user's values and the merged values"),
        (k8s_check, "kubernetes_objects", "Kubernetes objects passed through (strict schemas)"),
        (engine_args, "engine_args_check", "engine arguments (vLLM's flags)"),
        (validate, "_render", "render (Helm's template engine, no second schema check)"),
        (engine.Rendered, "objects", "read the rendered manifests (Kubernetes' YAML reader)"),
        (rendered_checks, "rendered_release", "checks on the rendered release (incl. reading)"),
    ]
    for owner, name, label in stages:
        _timed(owner, name, label, spent)
    rules_label = "cross-field rules"
    rules.RULES = tuple(_timed_function(rule, rules_label, spent) for rule in rules.RULES)
    stages.append((rules, "RULES", rules_label))
    rendered_checks.CHECKS = (rendered_checks.rendered_release,)
    chart = ROOT / "chart"
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        files = write_corpus(Path(tmp), FILES)
        validate.validate_file(files[0], chart)
        spent.clear()
        start = time.process_time()
        for file in files:
            result = validate.validate_file(file, chart)
            assert not result.problems, result.problems
        total = time.process_time() - start
    print(f"| stage of `validate` (one process, {FILES} files) | CPU ms per file |")
    print("|---|---:|")
    for label in dict.fromkeys(label for _, _, label in stages):
        print(f"| {label} | {spent[label] / FILES * 1000:.2f} |")
    print(f"| **all of validate** | **{total / FILES * 1000:.2f}** |")


if __name__ == "__main__":
    main()
