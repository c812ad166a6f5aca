"""The one reader of a rendered release: what the real Helm engine rendered, seen as a kubelet,
a scheduler and vLLM would see it.

Every check that judges the rendered release, and ``plan``, ``check`` and ``bake``, read it
through :class:`Release`: the pod specs of every workload kind (a Deployment's, a
StatefulSet's, a LeaderWorkerSet's leader and worker, the ``helm test`` pod), the server
container found one way (the one that runs ``vllm serve``), its command line read once by
vLLM's own rules (:mod:`modelservice.vllm.args`), the parallel sizes per pod and per group, the
claims the pods mount with their access modes, and the environment as the kubelet builds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from ..core.tree import Path_, get
from ..vllm.args import Args, Given, read_args
from ..vllm.flags import FlagIndex

Role = Literal["server", "leader", "worker", "picker", "test", "other"]
#: Kinds whose objects hold a pod template at spec.template.
TEMPLATED = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet")
#: Kinds that run the model server.
WORKLOADS = ("Deployment", "StatefulSet", "LeaderWorkerSet")
#: The ``app.kubernetes.io/component`` of the endpoint picker's objects (routing.*): its
#: Deployment runs no model server.
PICKER = "endpoint-picker"
#: Access modes that let one node only mount a volume.
SINGLE_NODE_MODES = ("ReadWriteOnce", "ReadWriteOncePod")
#: Where a workload kind keeps its claim templates (a claim per pod).
CLAIM_TEMPLATES: dict[str, Path_] = {
    "StatefulSet": ("spec", "volumeClaimTemplates"),
    "LeaderWorkerSet": ("spec", "leaderWorkerTemplate", "volumeClaimTemplates"),
}


@dataclass(frozen=True)
class Container:
    """One container of a pod spec, with its path in the rendered object."""

    pod: Pod
    path: Path_
    spec: dict[str, Any]
    init: bool

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or "")

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or "")

    @property
    def command(self) -> list[str]:
        return [str(c) for c in self.spec.get("command") or []]

    @property
    def args(self) -> list[str]:
        return [str(a) for a in self.spec.get("args") or []]

    @property
    def download_patterns(self) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """(position, pattern) of the ``--include`` and ``--exclude`` of the model's download,
        as this (the ``download`` init) container runs it: its first command."""
        args = self.args
        first = args[: args.index(";")] if ";" in args else args
        include = [(i + 1, first[i + 1]) for i, w in enumerate(first[:-1]) if w == "--include"]
        exclude = [(i + 1, first[i + 1]) for i, w in enumerate(first[:-1]) if w == "--exclude"]
        return include, exclude

    @property
    def runs_vllm_serve(self) -> bool:
        """Whether the container's command ends in ``vllm serve`` (its args are the server's,
        behind a shell that starts Ray first or not)."""
        return self.command[-2:] == ["vllm", "serve"]

    def env(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """The ``env`` items with their indexes."""
        for index, var in enumerate(self.spec.get("env") or []):
            if isinstance(var, dict) and isinstance(var.get("name"), str):
                yield index, var

    def env_var(self, name: str) -> dict[str, Any] | None:
        """The item that sets ``name`` (the last one: the kubelet keeps it)."""
        found = None
        for _, var in self.env():
            if var["name"] == name:
                found = var
        return found

    def env_value(self, name: str) -> str | None:
        """The literal value of ``name``, or None (unset, or from a reference)."""
        var = self.env_var(name)
        value = var.get("value") if var is not None else None
        return None if value is None else str(value)

    def secret_refs(self) -> Iterator[tuple[Path_, str, str, str]]:
        """(path, variable, Secret, key) of every variable read from a Secret."""
        for index, var in self.env():
            ref = get(var, ("valueFrom", "secretKeyRef"))
            if isinstance(ref, dict) and ref.get("name"):
                yield (*self.path, "env", index), var["name"], str(ref["name"]), str(ref.get("key"))

    def mounts(self) -> Iterator[tuple[Path_, dict[str, Any]]]:
        for index, mount in enumerate(self.spec.get("volumeMounts") or []):
            if isinstance(mount, dict):
                yield (*self.path, "volumeMounts", index), mount

    def mount_of(self, path: str) -> dict[str, Any] | None:
        """The mount that holds ``path`` (the deepest one), or None."""
        best: dict[str, Any] | None = None
        for _, mount in self.mounts():
            root = str(mount.get("mountPath") or "").rstrip("/")
            if (path == root or path.startswith(root + "/")) and (
                best is None or len(root) > len(str(best.get("mountPath")).rstrip("/"))
            ):
                best = mount
        return best

    def resources(self, section: str) -> dict[str, Any]:
        found = get(self.spec, ("resources", section))
        return found if isinstance(found, dict) else {}


@dataclass(frozen=True)
class Pod:
    """One pod spec of a rendered object, with its path and its role in the release."""

    obj: dict[str, Any]
    path: Path_
    spec: dict[str, Any]
    role: Role

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def name(self) -> str:
        return str(get(self.obj, ("metadata", "name")) or "")

    @property
    def template_path(self) -> Path_:
        """The path of the PodTemplateSpec (its metadata beside the spec)."""
        return self.path[:-1]

    def containers(self, *, init: bool = True) -> Iterator[Container]:
        """The app containers, then the init containers."""
        groups = ("containers", "initContainers") if init else ("containers",)
        for group in groups:
            for index, container in enumerate(self.spec.get(group) or []):
                if isinstance(container, dict):
                    yield Container(
                        self, (*self.path, group, index), container, group != "containers"
                    )

    def volumes(self) -> Iterator[tuple[Path_, dict[str, Any]]]:
        for index, volume in enumerate(self.spec.get("volumes") or []):
            if isinstance(volume, dict):
                yield (*self.path, "volumes", index), volume

    def volume(self, name: str) -> dict[str, Any] | None:
        return next((v for _, v in self.volumes() if v.get("name") == name), None)

    @property
    def claim_templates(self) -> list[dict[str, Any]]:
        """The claim templates of the workload that makes this pod (a claim per pod)."""
        return [claim for _, claim in claim_templates(self.obj)]

    @property
    def group_size(self) -> int:
        """Pods of one replica: a LeaderWorkerSet group's size, else 1."""
        size = get(self.obj, ("spec", "leaderWorkerTemplate", "size"))
        return size if isinstance(size, int) and self.kind == "LeaderWorkerSet" else 1

    @property
    def server(self) -> Container | None:
        """The container that runs ``vllm serve``, if this pod has one."""
        return next((c for c in self.containers(init=False) if c.runs_vllm_serve), None)


@dataclass(frozen=True)
class Parallel:
    """vLLM's parallel sizes of one model replica, read off its server's command line."""

    tensor: int = 1
    pipeline: int = 1
    data: int = 1
    prefill_context: int = 1
    decode_context: int = 1
    #: the flags given, by size name, for messages that point at them
    given: tuple[tuple[str, Given], ...] = ()

    WORDS = (
        ("tensor", "--tensor-parallel-size"),
        ("pipeline", "--pipeline-parallel-size"),
        ("prefill_context", "--prefill-context-parallel-size"),
        ("data", "--data-parallel-size"),
        ("decode_context", "--decode-context-parallel-size"),
    )

    @classmethod
    def of(cls, args: Args) -> Parallel:
        sizes: dict[str, int] = {}
        given = []
        for word, flag in cls.WORDS:
            item = args.last(flag)
            value = item.converted if item is not None and item.refusal is None else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                sizes[word] = value
                given.append((word, item))
        return cls(**sizes, given=tuple(given))  # type: ignore[arg-type]

    @property
    def world(self) -> int:
        """GPU ranks of one engine: tensor x pipeline x prefill-context parallel (decode
        context parallel shares the tensor-parallel ranks)."""
        return self.tensor * self.pipeline * self.prefill_context

    @property
    def gpus(self) -> int:
        """GPUs of one model replica: the ranks of every data-parallel engine."""
        return self.world * self.data

    def product(self) -> str:
        """``tensor-parallel 4 x pipeline-parallel 2``: the sizes given, as a user reads them."""
        words = [(w, getattr(self, w)) for w, _ in self.WORDS if w != "decode_context"]
        shown = [(w, s) for w, s in words if s != 1 or w == "tensor"]
        return " x ".join(f"{w.replace('_', '-')}-parallel {s}" for w, s in shown)

    def culprit(self) -> Given | None:
        """The flag to point at when the product is wrong: the first size other than
        tensor's that is not 1, else tensor's."""
        by_word = dict(self.given)
        for word, _ in self.WORDS[1:4]:
            if word in by_word and getattr(self, word) != 1:
                return by_word[word]
        return by_word.get("tensor")


@dataclass(frozen=True)
class Server:
    """The model server: its container, pod and command line as vLLM reads it."""

    container: Container
    args: Args

    @property
    def pod(self) -> Pod:
        return self.container.pod

    @property
    def obj(self) -> dict[str, Any]:
        return self.container.pod.obj

    @property
    def model(self) -> str:
        """The model argument of ``vllm serve``."""
        return self.args.positionals[0][1] if self.args.positionals else ""

    @cached_property
    def parallel(self) -> Parallel:
        return Parallel.of(self.args)

    def arg_path(self, at: int) -> Path_:
        """The path of the ``at``-th argument in the rendered object."""
        return (*self.container.path, "args", at)

    @property
    def offline(self) -> bool:
        """Whether the server runs offline on what its init container downloaded."""
        return self.container.env_value("HF_HUB_OFFLINE") == "1"


class Release:
    """The objects of one rendered release, read one way for every check."""

    def __init__(self, objects: list[dict[str, Any]], flags: FlagIndex | None = None) -> None:
        self.objects = [o for o in objects if isinstance(o, dict)]
        self.flags = flags

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") in kinds]

    def named(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.of_kind(kind) if get(o, ("metadata", "name")) == name), None)

    @cached_property
    def pods(self) -> list[Pod]:
        """Every pod spec of every object: workloads first, then the other pods."""
        found: list[Pod] = []
        for obj in self.objects:
            kind = obj.get("kind")
            if kind == "Pod":
                spec = obj.get("spec")
                if isinstance(spec, dict):
                    role: Role = "test" if _is_test_hook(obj) else "other"
                    found.append(Pod(obj, ("spec",), spec, role))
            elif kind in TEMPLATED:
                path = ("spec", "template", "spec")
                spec = get(obj, path)
                if isinstance(spec, dict):
                    role = "server" if kind in WORKLOADS else "other"
                    found.append(Pod(obj, path, spec, "picker" if is_picker(obj) else role))
            elif kind == "LeaderWorkerSet":  # the leader first: it runs the API server
                for template, role in (("leaderTemplate", "leader"), ("workerTemplate", "worker")):
                    path = ("spec", "leaderWorkerTemplate", template, "spec")
                    spec = get(obj, path)
                    if isinstance(spec, dict):
                        found.append(Pod(obj, path, spec, role))  # type: ignore[arg-type]
        rank = {"server": 0, "leader": 0, "worker": 1, "picker": 2, "other": 2, "test": 3}
        return sorted(found, key=lambda p: rank[p.role])

    def pods_of(self, obj: dict[str, Any]) -> list[Pod]:
        """The pod specs of one rendered object (a group's leader, then its worker)."""
        return [p for p in self.pods if p.obj is obj]

    @property
    def server_pods(self) -> list[Pod]:
        """The pods of the model server's workload (a group's leader and worker)."""
        return [p for p in self.pods if p.role in ("server", "leader", "worker")]

    @property
    def workloads(self) -> list[dict[str, Any]]:
        """The objects that run the model server (not the endpoint picker's Deployment)."""
        return [o for o in self.of_kind(*WORKLOADS) if not is_picker(o)]

    @property
    def picker(self) -> Pod | None:
        """The endpoint picker's pod (routing.inferencePool.enabled), if the release has one."""
        return next((p for p in self.pods if p.role == "picker"), None)

    @cached_property
    def server(self) -> Server | None:
        """The container that serves the API: the server pod's, or the group leader's."""
        for pod in self.pods:
            if pod.role in ("server", "leader") and pod.server is not None:
                return self._server(pod.server)
        return None

    def servers(self) -> Iterator[Server]:
        """Every container that runs ``vllm serve`` (a group's workers too)."""
        for pod in self.server_pods:
            if pod.server is not None:
                yield self._server(pod.server)

    def _server(self, container: Container) -> Server:
        if self.flags is None:
            raise ValueError("the release was read without vLLM's flags")
        return Server(container, read_args(container.args, self.flags, positionals=1))

    def claims(self) -> Iterator[tuple[dict[str, Any], Path_, dict[str, Any]]]:
        """(object, path, claim) of every claim the release asks for: each
        PersistentVolumeClaim (at the root of its object) and each claim template of a
        workload (a claim per pod)."""
        for obj in self.objects:
            if obj.get("kind") == "PersistentVolumeClaim":
                yield obj, (), obj
            for path, claim in claim_templates(obj):
                yield obj, path, claim

    def claim(self, name: str) -> dict[str, Any] | None:
        """A PersistentVolumeClaim the release renders."""
        return self.named("PersistentVolumeClaim", name)

    def claim_modes(self, pod: Pod) -> Iterator[tuple[str, list[str]]]:
        """(claim name, access modes) of every claim the pod mounts that the release renders
        (objects and claim templates). An existing claim the release only names is left out:
        the release cannot say what it is."""
        for template in pod.claim_templates:
            name = str(get(template, ("metadata", "name")) or "")
            yield name, list(get(template, ("spec", "accessModes")) or [])
        for _, volume in pod.volumes():
            name = get(volume, ("persistentVolumeClaim", "claimName"))
            claim = self.claim(name) if isinstance(name, str) and name else None
            if claim is not None:
                yield str(name), list(get(claim, ("spec", "accessModes")) or [])

    def existing_claims(self, pod: Pod) -> list[str]:
        """Claims the pod mounts that the release does not render."""
        names = []
        for _, volume in pod.volumes():
            name = get(volume, ("persistentVolumeClaim", "claimName"))
            if isinstance(name, str) and name and self.claim(name) is None:
                names.append(name)
        return names

    @property
    def autoscaler(self) -> dict[str, Any] | None:
        found = self.of_kind("ScaledObject", "HorizontalPodAutoscaler")
        return found[0] if found else None

    def least_replicas(self, workload: dict[str, Any]) -> int:
        """The replicas a workload runs at the least: its own, or the minimum of the
        autoscaler that scales it (1 for scale to zero: the first request wakes one)."""
        count = replicas(workload)
        if self.scale_target() is workload and self.autoscaler is not None:
            spec = self.autoscaler.get("spec") or {}
            least = spec.get("minReplicaCount", spec.get("minReplicas"))
            count = least if isinstance(least, int) and not isinstance(least, bool) else count
        return max(count or 1, 1)

    def scale_target(self) -> dict[str, Any] | None:
        """The workload the autoscaler scales."""
        scaler = self.autoscaler
        target = get(scaler, ("spec", "scaleTargetRef")) if scaler else None
        if not isinstance(target, dict):
            return None
        return self.named(str(target.get("kind")), str(target.get("name")))


def is_picker(obj: dict[str, Any]) -> bool:
    """Whether an object is one of the endpoint picker's (by its component label)."""
    return get(obj, ("metadata", "labels", "app.kubernetes.io/component")) == PICKER


def claim_templates(obj: dict[str, Any]) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """(path, claim template) of a workload's claim templates (none for other kinds)."""
    where = CLAIM_TEMPLATES.get(str(obj.get("kind")))
    found = get(obj, where) if where else None
    for index, claim in enumerate(found if isinstance(found, list) else []):
        if isinstance(claim, dict):
            yield (*where, index), claim  # type: ignore[misc]


def _is_test_hook(obj: dict[str, Any]) -> bool:
    hook = str(get(obj, ("metadata", "annotations", "helm.sh/hook")) or "")
    return "test" in hook.split(",")


def replicas(workload: dict[str, Any]) -> int | None:
    """A workload's rendered replicas (None when the field is absent: the autoscaler's)."""
    value = get(workload, ("spec", "replicas"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def surge_pods(workload: dict[str, Any], count: int | None = None) -> int:
    """How many pods a rollout of ``workload`` starts before it stops an old one, as its
    controller computes it: 0 for a Recreate Deployment, a StatefulSet (it replaces pods one
    by one) and maxSurge 0; else maxSurge (25% by default) of the replicas (``count``, else the
    rendered ones), rounded up."""
    kind = workload.get("kind")
    if kind == "StatefulSet":
        return 0
    if kind == "LeaderWorkerSet":
        surge = get(workload, ("spec", "rolloutStrategy", "rollingUpdateConfiguration", "maxSurge"))
        return _scaled(surge if surge is not None else 0, count or replicas(workload) or 1)
    posts = fenceposts(workload, count)
    return posts.surge if posts is not None else 0


@dataclass(frozen=True)
class Fenceposts:
    """What a rolling update of a Deployment may do at once, as the Deployment controller
    resolves maxSurge and maxUnavailable against its replicas."""

    replicas: int
    #: new pods it may start beyond the replicas (maxSurge, a percentage rounded up)
    surge: int
    #: pods it may stop before their replacements are Ready (maxUnavailable, a percentage
    #: rounded down; 1 when both come out 0, or the rollout could never move)
    unavailable: int
    #: the two values as the strategy gives them (Kubernetes' defaults: 25%)
    max_surge: Any = "25%"
    max_unavailable: Any = "25%"


def fenceposts(workload: dict[str, Any], count: int | None = None) -> Fenceposts | None:
    """The fenceposts of a RollingUpdate Deployment with ``count`` replicas (else its rendered
    replicas, at least 1); None for a Recreate Deployment and every other kind."""
    if workload.get("kind") != "Deployment":
        return None
    strategy = get(workload, ("spec", "strategy")) or {}
    if strategy.get("type") == "Recreate":
        return None
    total = count if count is not None else replicas(workload) or 1
    rolling = strategy.get("rollingUpdate") or {}
    max_surge = rolling.get("maxSurge", "25%")
    max_unavailable = rolling.get("maxUnavailable", "25%")
    surge = _scaled(max_surge, total)
    unavailable = _scaled(max_unavailable, total, up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return Fenceposts(total, surge, unavailable, max_surge, max_unavailable)


def _scaled(value: Any, total: int, *, up: bool = True) -> int:
    """An int-or-percent of ``total``, a percentage rounded up as for maxSurge (down as for
    maxUnavailable when not ``up``)."""
    if isinstance(value, str) and value.endswith("%"):
        digits = value[:-1]
        if not digits.isdigit():
            return 0
        return -(-int(digits) * total // 100) if up else int(digits) * total // 100
    if isinstance(value, str):
        return int(value) if value.isdigit() else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def is_zero(value: Any) -> bool:
    """Whether an int-or-percent (``0``, ``"0%"``, ``"00%"``) is zero, as the API reads it."""
    if isinstance(value, str):
        digits = value.removesuffix("%")
        return digits.isdigit() and int(digits) == 0
    return value == 0 and not isinstance(value, bool)
