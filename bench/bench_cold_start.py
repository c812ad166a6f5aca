"""Cold start of a release on this machine: pod start -> Ready, through tools/run-release.

The Qwen example runs as its kubelet would start it (tests/test_run_release.py asserts that it
works; here only the time is measured), split into:
- the download: the init container's run (``hf download`` through the release's mirror key
  against the fake hub in the pod's own network), its bytes, and its rate beside the floor:
  ``cp`` of the same number of bytes on the same disk;
- the server: container start -> the first 200 from /health (polled every 0.25 s), and ->
  Ready as the kubelet sees it (the rendered probes' cadence: startup, then readiness, every
  10 s).

Cases: the tiny model alone (0.8 MB), the same with 200 MB more in its repository (a file the
server never reads: a download of real size), and a restart on the filled cache with the hub
down. Needs root and vLLM's CPU build (the runner installs it on its first run).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_RELEASE = ROOT / "tools" / "run-release"
EXAMPLE = ROOT / "values-examples" / "qwen2.5-0.5b-instruct-hf-mirror.yaml"
ROUNDS = int(os.environ.get("BENCH_COLD_START_ROUNDS", "2"))
PADDING_MB = 200


def run_release(state: Path, *args: str) -> dict:
    status = state / "status.json"
    started = time.monotonic()
    done = subprocess.run(
        [str(RUN_RELEASE), str(EXAMPLE), "--state-dir", str(state), "--status", str(status), *args],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"run-release failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    result = json.loads(status.read_text())
    result["wall"] = time.monotonic() - started
    return result


def cp_rate(folder: Path, size: int) -> float:
    """MB/s of `cp` of ``size`` bytes on the disk of ``folder`` (a fresh file each time)."""
    source, target = folder / "cp-source", folder / "cp-target"
    source.write_bytes(os.urandom(size))
    os.sync()
    started = time.monotonic()
    subprocess.run(["cp", str(source), str(target)], check=True)
    os.sync()
    seconds = time.monotonic() - started
    source.unlink()
    target.unlink()
    return size / seconds / 1e6


def row(name: str, results: list[dict], floor: float) -> str:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    size = median([r["init"]["bytes"] for r in results])
    download = median([r["init"]["seconds"] for r in results])
    rate = f"{size / download / 1e6:.1f} MB/s" if download and size else "-"
    first = median([r["server"]["vllm"]["first200Seconds"] for r in results])
    ready = median([r["server"]["vllm"]["readySeconds"] for r in results])
    return (
        f"| {name} | {size / 1e6:.1f} MB | {download:.1f} s | {rate} | {floor:.0f} MB/s "
        f"| {first:.1f} s | {ready:.1f} s | {download + ready:.1f} s |"
    )


def main() -> None:
    if os.geteuid() != 0:
        print("(skipped: tools/run-release needs root)")
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as tmp:
        work = Path(tmp)
        for name, args in (
            ("tiny model, empty cache", []),
            (
                f"+{PADDING_MB} MB in the repository, empty cache",
                ["--hub-padding", str(PADDING_MB)],
            ),
        ):
            cold, warm = [], []
            for index in range(ROUNDS):
                state = work / f"{len(rows)}-{index}"
                cold.append(run_release(state, *args))
                warm.append(run_release(state, "--hub-down"))
                shutil.rmtree(state)
            size = int(statistics.median([r["init"]["bytes"] for r in cold])) or 1
            floor = statistics.median(cp_rate(work, max(size, 1_000_000)) for _ in range(3))
            rows.append(row(name, cold, floor))
            rows.append(row("  restart: filled cache, hub down", warm, floor))
    print(
        f"{ROUNDS} rounds each, medians. Download: the init container's run (bytes from the hub)."
        " Floor: `cp` of as many bytes on the same disk. Server: container start -> first 200"
        " from /health, and -> Ready at the kubelet's cadence (rendered probes, period 10 s).\n"
    )
    print(
        "| case | bytes | download | rate | cp floor | server: first 200 | server: Ready "
        "| pod start -> Ready |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
