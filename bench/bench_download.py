"""The init container's download against the floor: ``cp`` of the same bytes on the same disk.

A model of about 1.6 GB (the tiny model's config and tokenizer, and four safetensors shards of
384 MiB of random bytes, generated once into ``~/.cache/modelservice/bench-download-*``) is
served by the fake hub (tools/podrunner/fake_hub.py) on 127.0.0.1. The chart is rendered with
the hub as its mirror and the cache on this machine's disk, and the init container's exact
command (command, args, env of the rendered ``download`` container) runs with the ``hf`` of
vLLM's venv, as in tests/test_offline_start.py. The floor is ``cp -r`` of the model folder to
the same disk. Each round runs both, alternated, on an emptied target, after ``sync`` (not
timed); medians of the rounds. Cases: the rendered command (``--max-workers 8``, Xet's
high-performance mode) and, for comparison, one worker.

The fake hub serves plain HTTP (no Xet): Xet's high-performance mode is rendered but does not
act here. The workers fetch four shards at a time, in threads of one Python process: on plain
HTTP ``hf`` is bound by its own reading (httpx) and the interpreter lock, not by the hub
(docs/performance.md has the figures).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))

ROUNDS = int(os.environ.get("BENCH_DOWNLOAD_ROUNDS", "3"))
SHARDS = 4
SHARD_BYTES = 384 * 1024 * 1024


def cache() -> Path:
    return Path(os.environ.get("MODELSERVICE_CACHE") or Path.home() / ".cache" / "modelservice")


def model_folder() -> Path:
    """The generated model, written once."""
    from podrunner import tiny_models, vllm_cpu

    folder = cache() / f"bench-download-{SHARDS}x{SHARD_BYTES}"
    if (folder / ".complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tiny = tiny_models.ensure(vllm_cpu.cache_dir(), vllm_cpu.venv() / "bin" / "python")
    for name, data in tiny_models.files(tiny, "causal").items():
        if not name.endswith(".safetensors"):
            (folder / name).write_bytes(data)
    for index in range(SHARDS):
        name = f"model-{index + 1:05d}-of-{SHARDS:05d}.safetensors"
        with (folder / name).open("wb") as out:
            for _ in range(SHARD_BYTES // (16 * 1024 * 1024)):
                out.write(os.urandom(16 * 1024 * 1024))
    (folder / ".complete").touch()
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    os.sync()
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{done.stderr[-3000:]}")
    return seconds


def init_command(hub_url: str, target: Path, workers: int) -> tuple[list[str], dict[str, str]]:
    from conftest import Objects, render_values

    values: dict[str, Any] = {
        "model": {"name": "bench/model", "download": {"workers": workers}},
        "huggingface": {"endpoint": hub_url},
        "persistence": {"mountPath": str(target)},
    }
    init = Objects(render_values(values)).download
    assert init is not None
    env = {e["name"]: e["value"] for e in init["env"] if "value" in e}
    from vllm_env import vllm_python

    venv = vllm_python().parent  # the pinned release's venv, whose hf the image ships too
    env.update(PATH=f"{venv}:/usr/bin:/bin", HOME=str(target.parent / "home"))
    return [*init["command"], *init["args"]], env


def main() -> None:
    from podrunner.fake_hub import FakeHub, Repo

    folder = model_folder()
    files = files_of(folder)
    size = sum(len(data) for data in files.values())
    work = cache() / "bench-download-work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "home").mkdir(parents=True)
    rows = []
    try:
        with FakeHub({"bench/model": Repo(files, revision="main")}) as hub:
            for name, workers in (("init command as rendered (8 workers)", 8), ("1 worker", 1)):
                downloads, copies = [], []
                command, env = init_command(hub.url, work / "cache", workers)
                for _ in range(ROUNDS):
                    shutil.rmtree(work / "cache", ignore_errors=True)
                    downloads.append(timed(command, env))
                    shutil.rmtree(work / "copy", ignore_errors=True)
                    copies.append(timed(["cp", "-r", str(folder), str(work / "copy")]))
                download, copy = statistics.median(downloads), statistics.median(copies)
                rows.append(
                    f"| {name} | {size / 1e9:.2f} GB | {download:.1f} s | "
                    f"{size / download / 1e6:.0f} MB/s | {copy:.1f} s | "
                    f"{size / copy / 1e6:.0f} MB/s | {copy / download:.2f} | >= 0.5 |"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print(
        f"{ROUNDS} rounds each, medians; load average {load:.1f} at the end. Download: the "
        "rendered init container's command (hf download through the mirror key) against the "
        "fake hub on 127.0.0.1. Floor: cp -r of the same files to the same disk. Ratio: floor "
        "time / "
        "download time.\n"
    )
    print("| case | bytes | download | rate | cp | cp rate | ratio to the floor | goal |")
    print("|---|---|---|---|---|---|---|---|")
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
