"""Features that need a newer Kubernetes than the chart's floor: a table of each feature, its
feature gate and the releases at which the gate changed (as Kubernetes' own
``pkg/features/kube_features.go`` lists them), and the check that refuses a feature the
cluster's release lacks.

The chart claims Kubernetes >= 1.34 (docs/prerequisites.md); a feature whose gate is off by
default at some release from there on is used only where the cluster's release turns it on.
An API server whose gate is off does not always refuse the field: with ImageVolume off it
accepts a pod with an image volume and drops the volume and its mounts, so the pod starts
without the model. The cluster's release is the one its API server implements: ``/version``'s
``emulationMajor``/``emulationMinor`` when it emulates an older release (``--emulated-version``;
``gitVersion`` then names the binary), else ``major``/``minor``. The API server's own gates are
read from its ``/metrics`` (``kubernetes_feature_enabled``) where the credentials allow: a gate
turned on before its default release is then a warning (the kubelets need it too), not a
refusal.

A feature is added with :func:`feature`: its gate, the versioned specs of the gate, and a
finder of the fields of the rendered release that use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.rules import rule
from ...core.tree import Path_, get
from ...release import Release
from ..context import Finding, check

if TYPE_CHECKING:
    from ..context import Context

CHECK_FEATURE_GATED = rule(
    "check-feature-gated",
    "error",
    "cluster",
    "The release uses a Kubernetes feature whose feature gate is off by default at the "
    "cluster's release (image volumes: beta from 1.33, on by default from 1.35, GA in 1.36), or "
    "that its release does not know yet. The cluster's release is what its API server "
    "implements: the release it emulates, if it does. An API server with the gate off may "
    "accept the object and drop the field: a pod without its image volume starts without the "
    "model. Upgrade the cluster, or turn the gate on for the API server and the kubelets (a "
    "gate the API server reports on in its /metrics is a warning: the kubelets need it too), or "
    "do without the feature.",
)

#: (major, minor) of a Kubernetes release.
Version = tuple[int, int]


@dataclass(frozen=True)
class Spec:
    """One step of a feature gate, as kube_features.go lists it."""

    since: Version
    default: bool
    stage: str  # Alpha, Beta, GA


@dataclass(frozen=True)
class Feature:
    """A feature the release may use, its gate, and where the release uses it."""

    #: what the messages call it, e.g. "an image volume"
    name: str
    #: the feature gate, as kube_features.go and --feature-gates name it
    gate: str
    #: the gate's versioned specs, oldest first
    specs: tuple[Spec, ...]
    #: what a cluster whose gate is off does with the field
    when_off: str
    #: (object, path of the field) of every use in a rendered release
    find: Callable[[Release], Iterator[tuple[dict[str, Any], Path_]]]
    #: for a use the chart makes of a values key of its own: that key and how to do without
    #: the feature (the model's image volume: model.oci.mode, and its pull)
    instead: Callable[[Context, dict[str, Any], Path_], tuple[Path_, str] | None] | None = None

    @property
    def introduced(self) -> Version:
        return self.specs[0].since

    @property
    def on_by_default(self) -> Version | None:
        """The first release whose default turns the gate on."""
        return next((s.since for s in self.specs if s.default), None)

    def at(self, release: Version) -> Spec | None:
        """The gate's spec at ``release`` (None before it existed)."""
        found = None
        for spec in self.specs:
            if spec.since <= release:
                found = spec
        return found


#: Every feature the cluster stage knows, by gate.
FEATURES: dict[str, Feature] = {}


def feature(found: Feature) -> Feature:
    """Add a feature to the table (one entry per gate)."""
    if found.gate in FEATURES:
        raise ValueError(f"feature gate {found.gate} is in the table twice")
    FEATURES[found.gate] = found
    return found


def _image_volumes(release: Release) -> Iterator[tuple[dict[str, Any], Path_]]:
    for pod in release.pods:
        for path, volume in pod.volumes():
            if "image" in volume:
                yield pod.obj, (*path, "image")


def _model_image_volume(ctx: Context, obj: dict[str, Any], path: Path_) -> tuple[Path_, str] | None:
    """The model's own image volume (model.oci.mode imageVolume): the mode is the key to change."""
    mode: Path_ = ("model", "oci", "mode")
    if ctx.value(("model", "source")) != "oci" or ctx.value(mode) != "imageVolume":
        return None
    if get(obj, (*path, "reference")) != ctx.value(("model", "oci", "reference")):
        return None
    return mode, "model.oci.mode: pull (the model pulled into the cache) needs no image volume"


feature(
    Feature(
        name="an image volume (a volume whose source is an OCI image)",
        gate="ImageVolume",
        specs=(
            Spec((1, 31), False, "Alpha"),
            Spec((1, 33), False, "Beta"),
            Spec((1, 35), True, "Beta"),
            Spec((1, 36), True, "GA"),
        ),
        when_off="the API server accepts the pod and drops the volume and its mounts: the pod "
        "starts without what the image holds",
        find=_image_volumes,
        instead=_model_image_volume,
    )
)


def server_release(version: dict[str, Any]) -> Version | None:
    """The release an API server implements, from its ``/version``: the one it emulates, else
    its own (a minor such as ``34+`` read as 34)."""
    for major_key, minor_key in (("emulationMajor", "emulationMinor"), ("major", "minor")):
        major = re.match(r"\d+", str(version.get(major_key) or ""))
        minor = re.match(r"\d+", str(version.get(minor_key) or ""))
        if major and minor:
            return int(major.group()), int(minor.group())
    found = re.match(r"v?(\d+)\.(\d+)", str(version.get("gitVersion") or ""))
    return (int(found.group(1)), int(found.group(2))) if found else None


def shown_version(version: dict[str, Any], release: Version) -> str:
    """``1.34 (v1.37.2 emulating 1.34)``, or ``1.35 (v1.35.1)``."""
    name = f"{release[0]}.{release[1]}"
    git = str(version.get("gitVersion") or "")
    own = server_release({"major": version.get("major"), "minor": version.get("minor")})
    said = f"{git} emulating {name}" if own is not None and own != release else git
    return f"{name} ({said})" if said else name


def verdict(found: Feature, release: Version, gate_on: bool | None) -> tuple[str | None, str]:
    """(severity or None, what to say) of a use of ``found`` on a cluster at ``release`` whose
    API server reports the gate on, off, or nothing (None)."""
    default = found.on_by_default
    need = f"{default[0]}.{default[1]}" if default else "a release that turns it on"
    spec = found.at(release)
    if spec is None:
        since = f"{found.introduced[0]}.{found.introduced[1]}"
        return "error", (
            f"that release does not know it (gate {found.gate} from {since}): upgrade the "
            f"cluster to {need}, or do without it"
        )
    if spec.default:
        return None, f"on by default ({found.gate} {spec.stage})"
    stage = f"{spec.stage}, off by default until {need}"
    if gate_on:
        return "warning", (
            f"the API server has the gate {found.gate} on ({stage}): the kubelets of the nodes "
            "the pods run on must have it on too"
        )
    reported = (
        "the API server reports the gate off"
        if gate_on is False
        else "whether the API server turned it on could not be read from its /metrics"
    )
    return "error", (
        f"its gate {found.gate} is {stage}, and {reported}: {found.when_off}. Upgrade the "
        f"cluster to {need}, or turn the gate on for the API server and the kubelets, or do "
        "without it"
    )


@check("cluster", CHECK_FEATURE_GATED)
def feature_gated(ctx: Context) -> Iterator[Finding]:
    """Every gated feature the release uses is on at the cluster's release."""
    uses = [(f, obj, path) for f in FEATURES.values() for obj, path in f.find(ctx.release)]
    if not uses:
        return
    version = ctx.cluster.version() or {}
    release = server_release(version)
    if release is None:
        ctx.notes.append("features: the API server's /version names no release: not checked")
        return
    shown = shown_version(version, release)
    gates = ctx.cluster.feature_gates()
    for found, obj, path in uses:
        severity, said = verdict(found, release, None if gates is None else gates.get(found.gate))
        if severity is None:
            ctx.notes.append(f"features: {found.name}: {said} at Kubernetes {shown}")
            continue
        instead = found.instead(ctx, obj, path) if found.instead is not None else None
        yield Finding(
            obj,
            path,
            f"the release uses {found.name}, and the cluster runs Kubernetes {shown}: {said}"
            + (f"; {instead[1]}" if instead else ""),
            CHECK_FEATURE_GATED,
            severity=None if severity == "error" else "warning",
            key=True,
            values=instead[0] if instead else None,
        )


# -- the nodes that would mount an image volume -------------------------------------------------

#: The container runtimes that mount an image volume, from the release that added it.
RUNTIMES = {"containerd": (2, 1), "cri-o": (1, 31)}

CHECK_IMAGE_VOLUME = rule(
    "check-image-volume",
    "error",
    "cluster",
    "The release mounts its model as an image volume (model.oci.mode imageVolume), and nodes "
    "it may be placed on cannot mount one: a kubelet below 1.35, or a container runtime that "
    "does not mount images (containerd before 2.1, CRI-O before 1.31); a pod placed there "
    "does not start. Keep the pods off them (nodeSelector), upgrade them, or use "
    "model.oci.mode: pull. (The API server's side, its release and ImageVolume gate, is "
    "check-feature-gated.)",
)


def _release(text: str) -> Version | None:
    found = re.search(r"v?(\d+)\.(\d+)", text or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


@check("cluster", CHECK_IMAGE_VOLUME)
def image_volume_nodes(ctx: Context) -> Iterator[Finding]:
    """Every node that could run a pod with an image volume can mount it."""
    uses = list(_image_volumes(ctx.release))
    if not uses:
        return
    gate = FEATURES["ImageVolume"]
    least = gate.on_by_default or (1, 35)
    need = f"{least[0]}.{least[1]}"
    old, runtimes = [], []
    for node in ctx.cluster.nodes():
        info = get(node, ("status", "nodeInfo")) or {}
        name = str(get(node, ("metadata", "name")))
        kubelet = _release(str(info.get("kubeletVersion") or ""))
        if kubelet is not None and kubelet < least:
            old.append(f"{name} (kubelet {info.get('kubeletVersion')})")
        runtime = str(info.get("containerRuntimeVersion") or "")
        kind, _, rest = runtime.partition("://")
        floor = RUNTIMES.get(kind)
        found = _release(rest)
        if floor is not None and found is not None and found < floor:
            runtimes.append(f"{name} ({runtime}, needs {kind} {floor[0]}.{floor[1]})")
    if old or runtimes:
        names = "; ".join([*old, *runtimes][:5])
        obj, path = uses[0]
        instead = _model_image_volume(ctx, obj, path)
        yield Finding(
            obj,
            path,
            f"nodes that cannot mount an image volume: {names}: a pod placed there does not "
            f"start; keep the pods off them (nodeSelector) or upgrade them (kubelet {need}, "
            "containerd 2.1, CRI-O 1.31)" + (f"; {instead[1]}" if instead else ""),
            CHECK_IMAGE_VOLUME,
            key=True,
            values=instead[0] if instead else None,
        )
