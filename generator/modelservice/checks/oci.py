"""A model from an OCI registry (``model.source: oci``): a reference that pins its bytes, and an
image volume only where the cluster keeps one (``check`` reads the cluster; ``validate`` says
what the chart's Kubernetes range means for it)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..core.rules import rule
from .context import check

if TYPE_CHECKING:
    from pathlib import Path

    from .context import Context

#: The first release that serves image volumes by default (ImageVolume beta, on by default).
IMAGE_VOLUME_RELEASE = (1, 35)

OCI_REFERENCE_NOT_PINNED = rule(
    "oci-reference-not-pinned",
    "warning",
    "values",
    "model.oci.reference names a tag, not a digest: a tag can move, so two pods (or a pod "
    "restarted on another node) may serve different bytes, and a cache filled from the old tag "
    "keeps serving it while the registry answers with the new one. Pin the digest "
    "(`REGISTRY/REPO@sha256:...`, which `modelservice push-model` prints).",
)
OCI_IMAGE_VOLUME_KUBERNETES = rule(
    "oci-image-volume-kubernetes",
    "warning",
    "values",
    "model.oci.mode imageVolume needs Kubernetes 1.35 or later (the ImageVolume feature, on by "
    "default from 1.35), while the chart's kubeVersion lets it install on older releases: an "
    "API server without the feature drops the image volume and its mount without a word, and "
    "the server then starts without its model. `modelservice check` refuses such a cluster; "
    "`mode: pull` works on every release.",
)
OCI_PULL_SECRET_UNUSED = rule(
    "oci-pull-secret-unused",
    "warning",
    "values",
    "model.oci.pullSecret with mode imageVolume: the kubelet pulls an image volume with the "
    "pod's imagePullSecrets, as every image, and reads no other Secret. List the Secret in "
    "imagePullSecrets instead.",
)


def kube_floor(chart: Path) -> tuple[int, int] | None:
    """The least Kubernetes release (major, minor) the chart's kubeVersion admits."""
    text = (chart / "Chart.yaml").read_text(encoding="utf-8")
    found = re.search(r"^kubeVersion:\s*[\"']?>=\s*v?(\d+)\.(\d+)", text, flags=re.M)
    return (int(found.group(1)), int(found.group(2))) if found else None


@check(
    "values",
    OCI_REFERENCE_NOT_PINNED,
    OCI_IMAGE_VOLUME_KUBERNETES,
    OCI_PULL_SECRET_UNUSED,
    phase="rules",
)
def oci(ctx: Context) -> list[Problem]:
    if ctx.value(("model", "source")) != "oci":
        return []
    problems: list[Problem] = []
    reference = str(ctx.value(("model", "oci", "reference")) or "")
    if reference and "@sha256:" not in reference:
        problems.append(
            ctx.problem(
                ("model", "oci", "reference"),
                f"{reference} names a tag, which can move: pods may serve different bytes, and "
                "a filled cache keeps the old ones; pin the digest, "
                "REGISTRY/REPO@sha256:<digest> (`modelservice push-model` prints it)",
                OCI_REFERENCE_NOT_PINNED,
                key=False,
            )
        )
    if ctx.value(("model", "oci", "mode")) != "imageVolume":
        return problems
    floor = kube_floor(ctx.chart)
    if floor is None or floor < IMAGE_VOLUME_RELEASE:
        admits = f"{floor[0]}.{floor[1]}" if floor else "any release"
        problems.append(
            ctx.problem(
                ("model", "oci", "mode"),
                f"an image volume needs Kubernetes {IMAGE_VOLUME_RELEASE[0]}."
                f"{IMAGE_VOLUME_RELEASE[1]} or later (ImageVolume on by default), and the "
                f"chart's kubeVersion admits {admits}: a {admits} API server with the feature "
                "off drops the volume and its mount without a word, and the server starts "
                "without its model. Run `modelservice check` against the cluster (it refuses "
                "one below 1.35 or with the gate off), or use model.oci.mode: pull",
                OCI_IMAGE_VOLUME_KUBERNETES,
                key=False,
            )
        )
    if ctx.value(("model", "oci", "pullSecret")):
        problems.append(
            ctx.problem(
                ("model", "oci", "pullSecret"),
                "the kubelet pulls an image volume with the pod's imagePullSecrets and reads no "
                "other Secret: list this Secret in imagePullSecrets instead",
                OCI_PULL_SECRET_UNUSED,
                key=False,
            )
        )
    return problems
