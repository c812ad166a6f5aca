"""GPUs: the pod's count against the engine's parallel sizes, vGPU slices, and the vLLM build
for the accelerator family (from the chart's ``files/accelerators.yaml``, which the templates
read too)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import get
from .context import Finding, check

if TYPE_CHECKING:
    from .context import Context

#: The chart's accelerator data (families and the images built for each).
ACCELERATORS = "files/accelerators.yaml"

GPU_COUNT_ZERO_GPU_IMAGE = rule(
    "gpu-count-zero-gpu-image",
    "error",
    "release",
    "gpu.count 0 with a GPU build of vLLM (`vllm/vllm-openai`, `vllm/vllm-openai-rocm`, the "
    "images of the chart's files/accelerators.yaml), which cannot start without a GPU: set "
    "gpu.count, or use a CPU build of vLLM. The chart refuses it too, for plain `helm install`.",
)
GPU_IMAGE_ACCELERATOR_MISMATCH = rule(
    "gpu-image-accelerator-mismatch",
    "error",
    "release",
    "A vLLM image built for one accelerator family on the GPUs of another (the CUDA image "
    "`vllm/vllm-openai` on `amd.com/gpu`): it cannot drive them. The message names the image "
    "for the pod's GPUs. The chart refuses it too, for plain `helm install`.",
)
VGPU_NEEDS_GPU = rule(
    "vgpu-needs-gpu",
    "error",
    "values",
    "`vgpu.enabled` with gpu.count 0: a vGPU release slices gpu.count GPUs; set gpu.count to the "
    "number of vGPUs of the pod.",
)
VGPU_MEMORY_REQUIRED = rule(
    "vgpu-memory-required",
    "error",
    "values",
    "`vgpu.enabled` without vgpu.memoryMiB: without it the device plugin hands out a whole "
    "card's memory; give the GPU memory of each slice in MiB.",
)
TENSOR_PARALLEL_MISMATCH = rule(
    "tensor-parallel-mismatch",
    "error",
    "release",
    "The GPUs the rendered server's parallel sizes need (tensor x pipeline x prefill-context, "
    "times data parallel, from engine.tensorParallelSize or engine.args) differ from gpu.count: "
    "vLLM would wait for GPUs that are not there, or leave some idle. The message gives the "
    "tensor-parallel size that fits.",
)
SHM_REQUIRED = rule(
    "shm-required-for-tensor-parallel",
    "error",
    "release",
    "Several GPU workers exchange tensors through /dev/shm (NCCL), and a container gets only "
    "64 MiB of it without `shm.enabled`: set shm.enabled: true.",
)
RESOURCES_GPU = rule(
    "resources-gpu",
    "error",
    "release",
    "A GPU or vGPU resource listed under `resources`, which the chart renders itself from "
    "gpu.count (and vgpu.*): set those keys instead.",
)


@cache
def _accelerators(path: str, mtime: float) -> dict[str, Any]:
    from ..core.data import read_yaml

    if not mtime:
        return {}
    data = read_yaml(path)
    return data if isinstance(data, dict) else {}


def accelerators(chart: Path) -> dict[str, Any]:
    """The chart's accelerator data (empty for a chart without it)."""
    path = chart / ACCELERATORS
    return _accelerators(str(path), path.stat().st_mtime if path.is_file() else 0.0)


def image_repository(image: str) -> str:
    """The repository of an image reference (``vllm/vllm-openai`` of ``vllm/vllm-openai:v1``)."""
    name = image.split("@", 1)[0]
    head, sep, tag = name.rpartition(":")
    return head if sep and "/" not in tag else name


def image_family(chart: Path, image: str) -> str | None:
    """The accelerator family an image is built for (a vLLM GPU build), else None."""
    from ..schema.check import go_regex

    repository = image_repository(image)
    for item in accelerators(chart).get("images") or []:
        if go_regex(str(item["pattern"])).search(repository):
            return str(item["family"])
    return None


@check("values", VGPU_NEEDS_GPU, VGPU_MEMORY_REQUIRED, phase="rules")
def vgpu(ctx: Context) -> list[Problem]:
    """A vGPU slice needs a GPU count and a memory size."""
    if not ctx.value(("vgpu", "enabled")):
        return []
    problems: list[Problem] = []
    if int(ctx.value(("gpu", "count")) or 0) < 1:
        problems.append(
            ctx.problem(
                ("gpu", "count"),
                "vgpu.enabled slices gpu.count GPUs: set gpu.count to 1 or more (the number "
                "of vGPUs of the pod)",
                VGPU_NEEDS_GPU,
                key=False,
            )
        )
    if int(ctx.value(("vgpu", "memoryMiB")) or 0) <= 0:
        problems.append(
            ctx.problem(
                ("vgpu", "memoryMiB"),
                "vgpu.enabled needs vgpu.memoryMiB above 0: the GPU memory of each slice in "
                "MiB (without it the device plugin hands out a whole card's memory)",
                VGPU_MEMORY_REQUIRED,
                key=False,
            )
        )
    return problems


@check("release", TENSOR_PARALLEL_MISMATCH, SHM_REQUIRED)
def parallelism(ctx: Context) -> Iterator[Finding]:
    """The GPUs the parallel sizes of the rendered server need, against the GPUs of its pod;
    /dev/shm for the workers' NCCL traffic. (A group's GPUs: :mod:`.scale`.)"""
    server = ctx.release.server
    if server is None:
        return
    parallel = server.parallel
    gpus = int(ctx.value(("gpu", "count")) or 0)
    culprit = parallel.culprit()
    if server.pod.group_size == 1 and gpus > 0 and parallel.gpus != gpus and culprit:
        others = parallel.gpus // parallel.tensor
        advice = (
            f"set engine.tensorParallelSize to {gpus // others}"
            if others and gpus % others == 0
            else "make the product equal gpu.count"
        )
        yield Finding(
            server.obj,
            server.arg_path(culprit.flag_at),
            f"{parallel.product()} needs {parallel.gpus} GPUs, but the pod has gpu.count {gpus}: "
            f"vLLM would wait for GPUs that are not there or leave some idle; {advice}, or "
            f"change gpu.count to {parallel.gpus}",
            TENSOR_PARALLEL_MISMATCH,
        )
    shm = server.container.mount_of("/dev/shm")
    # the GPU workers of one pod share its /dev/shm (a group's pods talk over the network)
    workers = min(parallel.gpus, gpus)
    if workers > 1 and (shm is None or shm.get("mountPath") != "/dev/shm"):
        yield Finding(
            server.obj,
            (*server.container.path, "volumeMounts"),
            f"{workers} GPU workers of a pod exchange tensors through /dev/shm (NCCL), and a "
            "container gets only 64 MiB without shm.enabled: set shm.enabled: true",
            SHM_REQUIRED,
            values=("shm", "enabled"),
        )


@check("release", RESOURCES_GPU)
def gpu_resources(ctx: Context) -> Iterator[Finding]:
    """An extended resource under ``resources`` that the chart renders itself from ``gpu``
    (what the chart renders is read from a render without the user's resources)."""
    resources = get(ctx.values, ("resources",))
    if not isinstance(resources, dict):
        return
    listed = [
        (section, name)
        for section in ("requests", "limits")
        if isinstance(resources.get(section), dict)
        for name in resources[section]
        if "/" in str(name)
    ]
    server = ctx.release.server
    if not listed or server is None:
        return
    own = _chart_resources(ctx)
    for section, name in listed:
        if name in own:
            yield Finding(
                server.obj,
                (*server.container.path, "resources", section, name),
                f"{name} is rendered by the chart from gpu.count (and vgpu.*); set those keys "
                "instead of listing it under resources",
                RESOURCES_GPU,
                key=True,
            )


def _chart_resources(ctx: Context) -> set[str]:
    """The resource names the chart renders for the server without the user's resources."""
    from ..helm.engine import render
    from ..release import Release

    values = json.loads(json.dumps(ctx.values))
    values["resources"] = {}
    try:
        rendered = render(ctx.chart, values, release=ctx.release_name, namespace=ctx.namespace)
    except Exception:  # the full render succeeded; this one only narrows what to say
        return set()
    server = next((p.server for p in Release(rendered.objects()).server_pods if p.server), None)
    if server is None:
        return set()
    return {str(n) for section in ("requests", "limits") for n in server.resources(section)}
