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
from ..release import Pod, fenceposts, is_zero
from .context import Finding, check

if TYPE_CHECKING:
    from .context import Context

#: The chart's accelerator data (families and the images built for each).
ACCELERATORS = "files/accelerators.yaml"

GPU_COUNT_ZERO_GPU_IMAGE = rule(
    "gpu-count-zero-gpu-image",
    "error",
    "release",
    "gpu.count 0 with an accelerator build of vLLM (`vllm/vllm-openai`, `vllm/vllm-openai-rocm`, "
    "`vllm/vllm-tpu`, the images of the chart's files/accelerators.yaml), which cannot start "
    "without its device: set "
    "gpu.count, or use a CPU build of vLLM. The chart refuses it too, for plain `helm install`.",
)
GPU_IMAGE_ACCELERATOR_MISMATCH = rule(
    "gpu-image-accelerator-mismatch",
    "error",
    "release",
    "A vLLM image built for one accelerator family on the devices of another: the CUDA image "
    "`vllm/vllm-openai` on AMD (`amd.com/gpu`) or Intel GPUs (`gpu.intel.com/*`), Gaudi "
    "(`habana.ai/gaudi`), Ascend NPUs (`huawei.com/Ascend*`) or TPUs (`google.com/tpu`), the "
    "ROCm image on NVIDIA GPUs: it cannot drive them. Each family's image and runtime class "
    "come from the chart's files/accelerators.yaml; the message names the image for the "
    "pod's devices. The chart refuses it too, for plain `helm install`.",
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
GPU_ROLLING_UPDATE_SURGE = rule(
    "gpu-rolling-update-surge",
    "warning",
    "release",
    "`strategy` on GPU pods is a RollingUpdate with maxSurge above 0 (a bare "
    "`type: RollingUpdate` too: Kubernetes' default is 25%, at least one pod) and maxUnavailable "
    "0 at the release's replicas (25% of fewer than four rounds down to 0): an upgrade starts a "
    "new pod before any old one stops, so it needs GPUs beyond those the release holds. On a "
    "cluster whose GPUs are all taken the new pod stays Pending (`Insufficient nvidia.com/gpu`), "
    "the old pods keep theirs, and `helm upgrade --wait` times out. Leave `strategy` empty (the "
    "chart's default for GPU pods: maxSurge 0, maxUnavailable 1, one replica down at a time), "
    "set maxSurge 0 with maxUnavailable 1, or type Recreate (every replica down for one start); "
    "keep a surge only where the cluster keeps spare GPUs for it (`modelservice check` looks "
    "before an upgrade, rule check-rollout-surge). StatefulSets (persistence.perPod) and "
    "LeaderWorkerSets (multiNode) never surge.",
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


def device_limits(pod: Pod) -> dict[str, str]:
    """The extended resources (GPUs, vGPU slices, other devices) the pod's containers ask for
    in their limits, each with its largest amount."""
    found: dict[str, str] = {}
    for container in pod.containers(init=False):
        for name, amount in container.resources("limits").items():
            if "/" in str(name) and not str(name).startswith("hugepages-"):
                if not is_zero(amount) and str(name) not in found:
                    found[str(name)] = str(amount)
    return found


@check("release", GPU_ROLLING_UPDATE_SURGE)
def rolling_update_surge(ctx: Context) -> Iterator[Finding]:
    """A rolling update of GPU pods never needs a GPU the release does not hold."""
    from .storage import shared_single_node_modes

    for pod in ctx.release.server_pods:
        devices = device_limits(pod)
        count = ctx.release.least_replicas(pod.obj)
        posts = fenceposts(pod.obj, count)
        if not devices or posts is None or posts.surge == 0 or posts.unavailable > 0:
            continue
        if shared_single_node_modes(ctx, pod):
            continue  # the new pod waits for the cache claim first: rolling-update-on-rwo-cache
        asked = ", ".join(f"{name} {amount}" for name, amount in devices.items())
        first = next(iter(devices))
        pods = f"{posts.surge} new pods" if posts.surge > 1 else "a new pod"
        replicas = f"{count} replica" + ("s" if count != 1 else "")
        yield Finding(
            pod.obj,
            ("spec", "strategy"),
            f"a rolling update with maxSurge {posts.max_surge} and maxUnavailable "
            f"{posts.max_unavailable} ({replicas}: none may stop first) starts {pods} asking "
            f"for {asked} before an old one stops: on a cluster whose GPUs are all taken it "
            f"stays Pending (Insufficient {first}), the old pods keep theirs and `helm upgrade "
            "--wait` times out. Leave strategy empty (the chart's default for GPU pods: maxSurge "
            "0, maxUnavailable 1: one replica down at a time), set rollingUpdate.maxSurge: 0 "
            "with maxUnavailable: 1, or type: Recreate (every replica down for one start); keep "
            "the surge only where spare GPUs are kept for it (modelservice check looks)",
            GPU_ROLLING_UPDATE_SURGE,
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
