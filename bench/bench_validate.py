"""Benchmark: `modelservice validate` beside `check-jsonschema` on the same files, one run.

Both validate the same values files against the same schema (`chart/values.schema.json`);
`modelservice validate` also checks the Kubernetes objects, the cross-field rules and the
engine arguments, and positions every problem. Run with `make bench` (or
`python bench/bench_validate.py`). Goals: one file no slower than check-jsonschema, 1,000
files <= 3 s on a 2-core machine.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from bench_render import EXAMPLE, ROOT, RUNS, generate_values_files, modelservice, time_command

SCHEMA = ROOT / "chart" / "values.schema.json"


def check_jsonschema() -> str:
    found = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    return found or "check-jsonschema"


def main() -> list[tuple[str, float, float]]:
    """Run the benchmark and print a markdown table; returns (case, seconds, seconds)."""
    ours, theirs = modelservice(), check_jsonschema()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        files = [str(p) for p in generate_values_files(Path(tmp), 1000)]
        for label, args in (("1 file", [str(EXAMPLE)]), ("1,000 files", files)):
            mine = time_command([ours, "validate", *args])
            other = time_command([theirs, "--schemafile", str(SCHEMA), *args])
            rows.append((label, mine, other))
    print(f"| files | modelservice validate | check-jsonschema | median of {RUNS} runs |")
    print("|---|---:|---:|---|")
    for label, mine, other in rows:
        print(f"| {label} | {mine:.3f} s | {other:.3f} s | goal: {_goal(label)} |")
    return rows


def _goal(label: str) -> str:
    return "no slower than check-jsonschema" if label == "1 file" else "<= 3 s"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
