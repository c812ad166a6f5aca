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

from bench_validate import BEFORE, BEFORE_NAME, EXAMPLE, print_table
from corpus import schema_for_check_jsonschema, write_corpus
from measure import RUNS, Measured, Sample, compare, run_once, tool


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
        before = [BEFORE, *render_dir[1:]] if BEFORE else None
        mine, other, earlier = _alternate(render_dir, check, out, before)
        found.append(("render, 1,000 files (--output-dir)", mine, other, 1.0))
        if earlier is not None:
            found.append((f"render, 1,000 files (before, {BEFORE_NAME})", earlier, other, 1.0))
    print_table(found)


def _alternate(
    render_dir: list[str], check: list[str], out: Path, before: list[str] | None
) -> tuple[Measured, Measured, Measured | None]:
    commands = [render_dir, check] if before is None else [render_dir, check, before]
    for command in commands:
        shutil.rmtree(out, ignore_errors=True)
        run_once(command)
    samples: list[list[Sample]] = [[] for _ in commands]
    for _ in range(RUNS):
        for index, command in enumerate(commands):
            shutil.rmtree(out, ignore_errors=True)
            samples[index].append(run_once(command))
    measured = [Measured(s) for s in samples]
    return measured[0], measured[1], measured[2] if before is not None else None


if __name__ == "__main__":
    main()
