"""Benchmark: `modelservice render` as a whole process, one file and 1,000 files in one call.

Run with `make bench` (or `python bench/bench_render.py`). Prints a markdown table of the
median wall time over several runs. Goals: one file <= 0.35 s, 1,000 files <= 5 s on a
2-core machine.
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "values-examples" / "qwen2.5-0.5b-instruct-hf-mirror.yaml"
RUNS = 5

MODELS = [
    "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "meta-llama/Meta-Llama-3-8B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "BAAI/bge-m3",
]


def generate_values_files(folder: Path, count: int, seed: int = 7) -> list[Path]:
    """Write ``count`` realistic, valid values files (varied models, GPUs, caches)."""
    rng = random.Random(seed)
    files = []
    for index in range(count):
        gpus = rng.choice([1, 1, 2, 4, 8])
        lines = [
            "model:",
            f"  name: {rng.choice(MODELS)}",
            "huggingface:",
            "  endpoint: https://hf-mirror.com",
            "  token:",
            "    secretName: hf-token",
            "gpu:",
            f"  count: {gpus}",
            "engine:",
            "  args:",
            f"    - --max-model-len={rng.choice([2048, 4096, 8192])}",
            "    - --dtype=half",
            "resources:",
            "  requests:",
            f'    cpu: "{rng.choice([2, 4, 8])}"',
            f"    memory: {rng.choice([16, 32, 64])}Gi",
            "nodeSelector:",
            f"  pool: pool-{index % 7}",
        ]
        path = folder / f"service-{index:04d}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(path)
    return files


def modelservice() -> str:
    found = shutil.which("modelservice", path=str(Path(sys.executable).parent))
    return found or "modelservice"


def time_command(command: list[str], runs: int = RUNS) -> float:
    """Median wall time of a command over ``runs`` runs (after one warm-up run)."""
    subprocess.run(command, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> list[tuple[str, float, float]]:
    """Run the benchmark and print a markdown table; returns (case, seconds, goal)."""
    exe = modelservice()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        files = generate_values_files(Path(tmp), 1000)
        rows.append(("render, 1 file (stdout)", time_command([exe, "render", str(EXAMPLE)]), 0.35))
        rows.append(
            (
                "render, 1,000 files (stdout)",
                time_command([exe, "render", *map(str, files)]),
                5.0,
            )
        )
        out = Path(tmp) / "out"
        rows.append(
            (
                "render, 1,000 files (--output-dir)",
                time_command([exe, "render", "--output-dir", str(out), *map(str, files)]),
                5.0,
            )
        )
    print(f"| case | median of {RUNS} runs | goal |")
    print("|---|---:|---:|")
    for case, seconds, goal in rows:
        print(f"| {case} | {seconds:.3f} s | <= {goal:g} s |")
    return rows


if __name__ == "__main__":
    main()
