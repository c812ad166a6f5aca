"""Benchmark: `modelservice render` of realistic files, beside `check-jsonschema` validating
the same files in the same run (bench/corpus.py). Render validates every file first (the whole
of `validate`), then prints the manifests or writes one folder per release. Goal (issue 13, 2
cores): 1,000 files to `--output-dir` <= 1.0 x check-jsonschema. Run with `make bench`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_validate import EXAMPLE, print_table
from corpus import schema_for_check_jsonschema, write_corpus
from measure import RUNS, Measured, compare, run_once, tool


def main() -> None:
    ours, theirs = tool("modelservice"), tool("check-jsonschema")
    found: list[tuple[str, object, object, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        files = [str(p) for p in write_corpus(Path(tmp) / "values", 1000)]
        schema = str(schema_for_check_jsonschema(Path(tmp)))
        mine, other = compare(
            [[ours, "render", str(EXAMPLE)], [theirs, "--schemafile", schema, str(EXAMPLE)]]
        )
        found.append(("render, 1 file (stdout)", mine, other, None))
        out = Path(tmp) / "out"
        # A fresh output folder for every run: render refuses nothing there, but a fair run
        # writes every file.
        render_dir = [ours, "render", "--output-dir", str(out), *files]
        check = [theirs, "--schemafile", schema, *files]
        mine, other = _alternate(render_dir, check, out)
        found.append(("render, 1,000 files (--output-dir)", mine, other, 1.0))
    print_table(found)


def _alternate(render_dir: list[str], check: list[str], out: Path) -> tuple[Measured, Measured]:
    shutil.rmtree(out, ignore_errors=True)
    run_once(render_dir)
    run_once(check)
    mine, other = [], []
    for _ in range(RUNS):
        shutil.rmtree(out, ignore_errors=True)
        mine.append(run_once(render_dir))
        other.append(run_once(check))
    return Measured(mine), Measured(other)


if __name__ == "__main__":
    main()
