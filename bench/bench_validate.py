"""Benchmark: `modelservice validate` beside `check-jsonschema` on the same files, same run.

The files are realistic (bench/corpus.py): the scenarios of values-examples/ cycled and
varied, and generated services with affinity, tolerations, volumes and env from Secrets.
check-jsonschema checks them against the values schema only; `modelservice validate` checks
the schema (Helm's verdict), the Kubernetes objects passed through, the engine arguments and
the cross-field rules, renders every file with the embedded Helm engine and checks the
rendered release. Goals (issue 13, 2 cores): 1 file and 1,000 files each <= 0.6 x
check-jsonschema. Run with `make bench`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import ROOT, schema_for_check_jsonschema, write_corpus
from measure import RUNS, compare, run_once, tool

EXAMPLE = ROOT / "values-examples" / "qwen2.5-0.5b-instruct-hf-mirror.yaml"
#: Another `modelservice` to time in the same rounds (e.g. an older checkout), if any.
BEFORE = os.environ.get("BENCH_BEFORE", "")
BEFORE_NAME = os.environ.get("BENCH_BEFORE_NAME", "BENCH_BEFORE")
GOAL = 0.6


def rows() -> list[tuple[str, object, object, float | None]]:
    """(case, ours, check-jsonschema or None, goal ratio or None) for every case."""
    ours, theirs = tool("modelservice"), tool("check-jsonschema")
    found: list[tuple[str, object, object, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        files = [str(p) for p in write_corpus(Path(tmp) / "values", 1000)]
        schema = str(schema_for_check_jsonschema(Path(tmp)))
        run_once([ours, "validate", "--strict", *files])  # every file is valid, no warning
        help_only = compare([[ours, "--help"]])[0]
        found.append(("`modelservice --help`", help_only, None, None))
        for label, args in (("1 file", [str(EXAMPLE)]), ("1,000 files", files)):
            commands = [[ours, "validate", *args], [theirs, "--schemafile", schema, *args]]
            if BEFORE:
                commands.append([BEFORE, "validate", *args])
            mine, other, *before = compare(commands)
            found.append((f"validate, {label}", mine, other, GOAL))
            if before:
                found.append((f"validate, {label} (before, {BEFORE_NAME})", before[0], other, GOAL))
    return found


def print_table(found: list[tuple[str, object, object, float | None]]) -> None:
    print(f"Median of {RUNS} runs, alternated with check-jsonschema on the same files:\n")
    print(
        "| case | modelservice | check-jsonschema | ratio | goal | peak MiB (largest process)"
        " | peak MiB (all processes) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case, mine, other, goal in found:
        theirs = f"{other.seconds:.3f} s" if other else "-"
        ratio = f"{mine.seconds / other.seconds:.2f}" if other else "-"
        target = f"<= {goal:g}" if goal else "-"
        memory = f"{mine.peak_mib:.0f}" + (f" (cjs {other.peak_mib:.0f})" if other else "")
        print(
            f"| {case} | {mine.seconds:.3f} s | {theirs} | {ratio} | {target} | {memory} "
            f"| {mine.tree_mib:.0f} |"
        )


def main() -> None:
    print_table(rows())


if __name__ == "__main__":
    main()
