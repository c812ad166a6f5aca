"""What the cluster serves of the Kubernetes features the release needs: an image volume
(``model.oci.mode: imageVolume``) needs Kubernetes 1.35 or later with the ``ImageVolume``
feature gate on, on the API server (which otherwise drops the volume and its mount without a
word: a dry run cannot tell) and on the kubelets, whose container runtime mounts the image."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...core.rules import rule
from ...core.tree import get
from ..context import Finding, check
from ..oci import IMAGE_VOLUME_RELEASE

if TYPE_CHECKING:
    from ..context import Context

#: The container runtimes that mount an image volume, from the release that added it.
RUNTIMES = {"containerd": (2, 1), "cri-o": (1, 31)}

CHECK_IMAGE_VOLUME = rule(
    "check-image-volume",
    "error",
    "cluster",
    "model.oci.mode imageVolume on a cluster that cannot keep or mount an image volume: an API "
    "server below Kubernetes 1.35 (the release it emulates counts) or with the ImageVolume "
    "feature gate off drops the volume and its mount silently, and the server starts without "
    "its model; kubelets below 1.35, or container runtimes that do not mount images (containerd "
    "before 2.1, CRI-O before 1.31), cannot start the pod. The gate is read from the API "
    "server's /metrics where the credentials may; use model.oci.mode: pull elsewhere.",
)


def _release(text: str) -> tuple[int, int] | None:
    found = re.search(r"v?(\d+)\.(\d+)", text or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def _shown(release: tuple[int, int]) -> str:
    return f"{release[0]}.{release[1]}"


@check("cluster", CHECK_IMAGE_VOLUME)
def image_volume(ctx: Context) -> Iterator[Finding]:
    if (
        ctx.value(("model", "source")) != "oci"
        or ctx.value(("model", "oci", "mode")) != "imageVolume"
    ):
        return
    pod = next((p for p in ctx.release.server_pods), None)
    if pod is None:
        return
    where = next((path for path, v in pod.volumes() if "image" in v), None)
    if where is None:
        return
    at = (*where, "image")
    need = _shown(IMAGE_VOLUME_RELEASE)
    version = ctx.cluster.version()
    emulated = version.get("emulationMinor") and (
        int(version.get("emulationMajor") or 0),
        int(version["emulationMinor"]),
    )
    serving = emulated or _release(str(version.get("gitVersion") or ""))
    gates = ctx.cluster.feature_gates()
    gate = None if gates is None else gates.get("ImageVolume")
    said = f"the API server is Kubernetes {_shown(serving) if serving else 'of an unknown release'}"
    if emulated:
        said += f" (emulating {_shown(emulated)}; binary {version.get('gitVersion')})"
    if serving is not None and serving < IMAGE_VOLUME_RELEASE:
        state = "" if gate is None else f", ImageVolume {'on' if gate else 'off'}"
        yield Finding(
            pod.obj,
            at,
            f"{said}{state}: an image volume needs {need} or later, and this server drops the "
            "volume and its mount without a word, so the server would start without its model; "
            "use model.oci.mode: pull, or a cluster of 1.35 or later",
            CHECK_IMAGE_VOLUME,
            values=("model", "oci", "mode"),
        )
        return
    if gate is False:
        yield Finding(
            pod.obj,
            at,
            f"{said} with the ImageVolume feature gate off (its /metrics): it drops the image "
            "volume and its mount without a word; turn the gate on (API server and kubelets) "
            "or use model.oci.mode: pull",
            CHECK_IMAGE_VOLUME,
            values=("model", "oci", "mode"),
        )
        return
    if gates is None:
        ctx.notes.append(
            f"image volume: {said}; the ImageVolume gate was not read (no permission to GET "
            "/metrics): on by default from 1.35"
        )
    old, runtimes = [], []
    for node in ctx.cluster.nodes():
        info = get(node, ("status", "nodeInfo")) or {}
        name = str(get(node, ("metadata", "name")))
        kubelet = _release(str(info.get("kubeletVersion") or ""))
        if kubelet is not None and kubelet < IMAGE_VOLUME_RELEASE:
            old.append(f"{name} (kubelet {info.get('kubeletVersion')})")
        runtime = str(info.get("containerRuntimeVersion") or "")
        kind, _, rest = runtime.partition("://")
        least = RUNTIMES.get(kind)
        found = _release(rest)
        if least is not None and found is not None and found < least:
            runtimes.append(f"{name} ({runtime}, needs {kind} {_shown(least)})")
    if old or runtimes:
        names = "; ".join([*old, *runtimes][:5])
        yield Finding(
            pod.obj,
            at,
            f"nodes that cannot mount an image volume: {names}: a pod placed there does not "
            f"start; keep the pods off them (nodeSelector) or upgrade them (kubelet {need}, "
            "containerd 2.1, CRI-O 1.31)",
            CHECK_IMAGE_VOLUME,
            values=("model", "oci", "mode"),
        )
