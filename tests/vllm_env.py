"""vLLM's own code, from its CPU build installed by ``make tools`` (tools/test-binaries.sh),
and the rendered command lines it is given, as the kubelet starts them.

The suite's Python does not import vLLM (its dependencies would clash with the toolkit's);
tests run short programs in the cached venv instead and exchange JSON with them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from kube_harness import cache_dir

from modelservice.vllm.flags import pinned_version


def supported_versions() -> list[str]:
    """Every vLLM release the toolkit has flag data for (schemas/vllm/<version>.json)."""
    folder = Path(__file__).resolve().parent.parent / "schemas" / "vllm"
    found = [p.stem for p in folder.glob("*.json") if p.stem.replace(".", "").isdigit()]
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def vllm_python(version: str | None = None) -> Path:
    """The interpreter of the cached vLLM venv of ``version`` (the pinned release by default);
    a clear error (never a skip) when missing."""
    venv = cache_dir() / f"vllm-{version or pinned_version()}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").is_file() or not os.access(python, os.X_OK):
        raise FileNotFoundError(f"{venv} is missing: run `make tools` (tools/test-binaries.sh)")
    return python


def run_vllm(
    program: str,
    payload: Any = None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    version: str | None = None,
) -> Any:
    """Run ``program`` in the vLLM venv with ``payload`` as JSON on stdin; return the JSON it
    prints as its last line of stdout. ``env`` replaces the environment (plus PATH and HOME
    unless given), so a test controls exactly what vLLM reads (HF_HUB_OFFLINE, …)."""
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    full_env = {**base, "VLLM_TARGET_DEVICE": "cpu", **(env or {})}
    done = subprocess.run(
        [str(vllm_python(version)), "-c", program],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"vLLM program failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise AssertionError(f"vLLM program printed nothing; stderr:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


#: ``$(VAR)`` in a container's command and args, which the kubelet replaces from its env.
VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def server_container(template: dict[str, Any]) -> dict[str, Any]:
    """The container named ``vllm`` of a rendered pod template."""
    return next(c for c in template["spec"]["containers"] if c["name"] == "vllm")


def kubelet_expanded(items: list[str], env: dict[str, str]) -> list[str]:
    """$(VAR) in command and args replaced from the container's environment, as the kubelet
    does (an unknown variable stays as written)."""
    return [VAR.sub(lambda m: env.get(m.group(1), m.group(0)), item) for item in items]


def vllm_argv(container: dict[str, Any], env: dict[str, str]) -> list[str] | None:
    """The argv of `vllm` in the container: what follows `vllm` in its command and args (a
    shell's "$@" included)."""
    argv = kubelet_expanded([*container["command"], *container.get("args", [])], env)
    if "vllm" not in argv:
        return None
    return argv[argv.index("vllm") + 1 :]
