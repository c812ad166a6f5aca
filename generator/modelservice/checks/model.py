"""The model: where it comes from, where a local one lies, and whether it fits the GPUs.

A hub source needs a repository id and a local source a path (the chart's own refusal, read
from the render); a local model or adapter folder must lie on a volume the pod mounts that
holds files when the pod starts; a model of ``plan``'s table must fit the GPU the values pin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import Path_, dotted
from .context import Finding, check
from .gpu import image_family

if TYPE_CHECKING:
    from .context import Context

#: A local path that is a Hugging Face cache repository folder, not a model folder.
HF_CACHE_REPO = re.compile(r"/models--[^/]+--[^/]+/?$")

MODEL_NAME_REQUIRED = rule(
    "model-name-required",
    "error",
    "release",
    "A hub source (huggingface, modelscope) without model.name, the repository id such as "
    "Qwen/Qwen2.5-0.5B-Instruct. The chart refuses it too, for plain `helm install`.",
)
MODEL_OCI_REFERENCE_REQUIRED = rule(
    "model-oci-reference-required",
    "error",
    "release",
    "model.source oci without model.oci.reference, the model's image or artifact in an OCI "
    "registry (`modelservice push-model` prints the reference with its digest). The chart "
    "refuses it too.",
)
MODEL_PATH_REQUIRED = rule(
    "model-path-required",
    "error",
    "release",
    "model.source local without model.path, the model directory inside the container "
    "(mounted from persistence or extraVolumes). The chart refuses it too.",
)
LOCAL_PATH_HF_CACHE_LAYOUT = rule(
    "local-path-hf-cache-layout",
    "warning",
    "values",
    "model.path is a Hugging Face cache repository folder (`.../models--Org--Name`), which "
    "holds blobs/ and snapshots/, not the model files: point at its snapshots/<revision> "
    "folder, or use model.source: huggingface with this cache (read offline when the model is "
    "there).",
)
LOCAL_PATH_NOT_MOUNTED = rule(
    "local-path-not-mounted",
    "error",
    "release",
    "model.path or a lora.adapters[].path on no volume the rendered pod mounts: vLLM's image "
    "has no such folder. Mount the volume that holds it (extraVolumes and extraVolumeMounts) or "
    "put it under persistence.mountPath on a persistent cache. A warning with an image other "
    "than vLLM's own, which may hold the folder.",
)
LOCAL_PATH_ON_EMPTY_VOLUME = rule(
    "local-path-on-empty-volume",
    "error",
    "release",
    "model.path or an adapter path under an emptyDir (the cache with persistence.enabled: "
    "false, in every pod of the release, a group's workers included) or under a fresh claim "
    "of each pod (persistence.perPod): empty when the pod starts, and nothing puts the files "
    "there.",
)


@check("values", LOCAL_PATH_HF_CACHE_LAYOUT, phase="rules")
def local_path_layout(ctx: Context) -> list[Problem]:
    """A local model path points at a model folder, not at a hub cache's repository folder."""
    path = ctx.value(("model", "path"))
    if ctx.value(("model", "source")) != "local" or not path:
        return []
    if not HF_CACHE_REPO.search(str(path)):
        return []
    return [
        ctx.problem(
            ("model", "path"),
            f"{path} is a Hugging Face cache repository folder, which holds blobs/ and "
            "snapshots/, not the model files: point at its snapshots/<revision> folder, or use "
            "model.source: huggingface with this cache (it is read offline when the model is "
            "there)",
            LOCAL_PATH_HF_CACHE_LAYOUT,
            key=False,
        )
    ]


def _wanted(ctx: Context, model: str) -> Iterator[tuple[str, Path_]]:
    """(folder, values key) of the local model and the local adapters the server reads."""
    if ctx.value(("model", "source")) == "local" and model.startswith("/"):
        yield model, ("model", "path")
    for index, adapter in enumerate(ctx.value(("lora", "adapters")) or []):
        if isinstance(adapter, dict) and str(adapter.get("path") or "").startswith("/"):
            yield str(adapter["path"]), ("lora", "adapters", index, "path")


@check("release", LOCAL_PATH_NOT_MOUNTED, LOCAL_PATH_ON_EMPTY_VOLUME)
def local_paths(ctx: Context) -> Iterator[Finding]:
    """A local model or adapter folder lies on a volume every server pod mounts, and not on
    an empty one."""
    for server in ctx.release.servers():
        container, pod = server.container, server.pod
        stock = image_family(ctx.chart, container.image) is not None
        for path, key in _wanted(ctx, server.model):
            label = dotted(key)
            mount = container.mount_of(path)
            if mount is None:
                mounts = ", ".join(
                    m["mountPath"]
                    for _, m in container.mounts()
                    if isinstance(m.get("mountPath"), str)
                )
                image = (
                    "the vLLM image has no such folder"
                    if stock
                    else "unless your image holds it, the folder will not exist"
                )
                yield Finding(
                    pod.obj,
                    server.arg_path(0),
                    f"{label} {path} is on no volume of the pod (it mounts {mounts}) and "
                    f"{image}: mount the volume that holds it with extraVolumes and "
                    "extraVolumeMounts, or put it under persistence.mountPath on a persistent "
                    "cache",
                    LOCAL_PATH_NOT_MOUNTED,
                    severity="error" if stock else "warning",
                    values=key,
                )
                continue
            name = str(mount.get("name"))
            volume = pod.volume(name) or {}
            fresh = name in {t.get("metadata", {}).get("name") for t in pod.claim_templates}
            if fresh:
                yield Finding(
                    pod.obj,
                    server.arg_path(0),
                    f"{label} {path} is under {mount.get('mountPath')}, and with "
                    "persistence.perPod every pod gets a new, empty claim there: nothing puts "
                    "the files in it; mount the volume that holds them (persistence.existingClaim "
                    "without perPod, or extraVolumes)",
                    LOCAL_PATH_ON_EMPTY_VOLUME,
                    values=key,
                )
                continue
            if "emptyDir" not in volume:
                continue
            where = next((p for p, v in pod.volumes() if v is volume), None)
            is_cache = where is not None and ctx.values_path(pod.obj, where) == ("persistence",)
            source = "persistence.enabled is false, so the cache" if is_cache else f"volume {name}"
            yield Finding(
                pod.obj,
                server.arg_path(0),
                f"{label} {path} is under {mount.get('mountPath')}, and {source} is an "
                "emptyDir, empty when the pod starts: nothing puts the files there; mount a "
                "volume that holds them (persistence.enabled with existingClaim, or "
                "extraVolumes)",
                LOCAL_PATH_ON_EMPTY_VOLUME,
                values=key,
            )
