"""The model cache and the pods' volumes: a cache that survives restarts, claims one node can
mount shared by several pods, and volumes and mounts the API server refuses."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import Path_, get
from ..release import SINGLE_NODE_MODES, Pod, Release, replicas, surge_pods
from .context import Finding, check

if TYPE_CHECKING:
    from .context import Context

HUB_SOURCES = ("huggingface", "modelscope")

NO_MODEL_CACHE = rule(
    "no-model-cache",
    "warning",
    "values",
    "A hub model without a cache volume: every restart of the pod downloads the model again. "
    "Set persistence.enabled (or persistence.existingClaim for a shared cache).",
)
RWO_CLAIM_SHARED_BY_REPLICAS = rule(
    "rwo-claim-shared-by-replicas",
    "error",
    "release",
    "Several replicas of the server's workload mount one ReadWriteOnce (or ReadWriteOncePod) "
    "cache claim, which only one node can mount: the other pods never start. Use a "
    "ReadWriteMany claim, a claim per pod (persistence.perPod), or one release per replica.",
)
ROLLING_UPDATE_ON_RWO_CACHE = rule(
    "rolling-update-on-rwo-cache",
    "warning",
    "release",
    "`strategy` a rolling update that starts the new pod before the old one stops while the "
    "cache is a ReadWriteOnce claim: the new pod waits forever for the volume (and the GPUs) "
    "the old pod holds. Use strategy type Recreate (the chart's default for such a cache) or "
    "a ReadWriteMany cache.",
)
RWO_CLAIM_SHARED_BY_GROUP = rule(
    "rwo-claim-shared-by-group",
    "error",
    "release",
    "With multiNode, every pod of a group (one per node) mounts one ReadWriteOnce cache claim: "
    "the workers never start. Use persistence.perPod (a claim per pod) or a ReadWriteMany cache.",
)
AUTOSCALING_RWO_CACHE = rule(
    "autoscaling-rwo-cache",
    "error",
    "release",
    "An autoscaler adds replicas that must mount the ReadWriteOnce cache claim one node already "
    "holds: they never start. Use a ReadWriteMany cache, or a claim per pod "
    "(persistence.perPod).",
)
EXISTING_CLAIM_NOT_MOUNTED = rule(
    "existing-claim-not-mounted",
    "error",
    "release",
    "persistence.existingClaim with persistence.enabled false: the rendered pod mounts an "
    "emptyDir, never the claim, so it starts without the claim's files. Set "
    "persistence.enabled: true to mount it.",
)
CACHE_SMALLER_THAN_MODEL = rule(
    "cache-smaller-than-model",
    "warning",
    "model",
    "The cache claim the release creates (persistence.size, one per pod with persistence.perPod) "
    "is smaller than the model's weights: the init container fills the disk and fails, and the "
    "pod never starts. The message gives both sizes; the model's comes from `plan`'s table "
    "(its parameters in the checkpoint's width). Nothing is said of a model the table lacks, "
    "nor of an existing claim, whose size `modelservice check` reads.",
)
CACHE_NOT_WRITABLE = rule(
    "cache-not-writable",
    "error",
    "release",
    "The containers run as a user other than root (runAsUser) and cannot write the model cache: "
    "it is mounted under /root, the vLLM image's root-only home, or it is a claim (whose root "
    "directory belongs to root) and the pod has no fsGroup. Mount the cache outside /root "
    "(persistence.mountPath: /home/vllm/.cache with HOME there, as "
    "values-examples/non-root.yaml does) and set podSecurityContext.fsGroup.",
)
PERSISTENCE_PER_POD_WITH_EXISTING_CLAIM = rule(
    "persistence-per-pod-with-existing-claim",
    "error",
    "release",
    "persistence.perPod (a new claim for every pod) beside persistence.existingClaim (one "
    "claim every pod mounts): the two contradict each other, and the chart would mount the "
    "existing claim and drop perPod without a word. Keep one. The chart refuses it too.",
)
STRATEGY_NOT_A_DEPLOYMENT = rule(
    "strategy-not-a-deployment",
    "error",
    "release",
    "`strategy` set while the replicas run in a StatefulSet (persistence.perPod) or a "
    "LeaderWorkerSet (multiNode): `strategy` is a Deployment's field, and the chart would drop "
    "it without a word (a StatefulSet replaces its pods one at a time; a LeaderWorkerSet "
    "rolls groups by its own rolloutStrategy). Remove it. The chart refuses it too.",
)
VOLUME_NAME_CONFLICT = rule(
    "volume-name-conflict",
    "error",
    "release",
    "An extra volume named like another volume of the pod (the chart's `cache` and `dshm` "
    "included): the API server refuses two volumes of one name.",
)
VOLUME_MOUNT_UNKNOWN_VOLUME = rule(
    "volume-mount-unknown-volume",
    "error",
    "release",
    "A volume mount naming a volume the pod does not have (with the closest one): the API "
    "server refuses the pod.",
)
VOLUME_MOUNT_PATH_CONFLICT = rule(
    "volume-mount-path-conflict",
    "error",
    "release",
    "Two mounts of one container at one path (the cache, /dev/shm, another mount): the API "
    "server refuses the pod.",
)
VOLUME_MOUNT_SHADOWED = rule(
    "volume-mount-shadowed",
    "error",
    "release",
    "Two mounts of one container at one directory written two ways (`/root/.cache` and "
    "`/root/.cache/`): the API server compares the paths as text and accepts the pod, and the "
    "container runtime mounts one volume over the other, whose files are then hidden (the "
    "model cache, /dev/shm). Mount the volume at another path.",
)


@check("values", NO_MODEL_CACHE, phase="rules")
def cache(ctx: Context) -> list[Problem]:
    """A hub model is cached on a volume that survives restarts."""
    if ctx.value(("model", "source")) in HUB_SOURCES and not ctx.value(("persistence", "enabled")):
        return [
            ctx.problem(
                ("persistence", "enabled"),
                "without a cache volume every restart of the pod downloads the model again: "
                "set persistence.enabled (or persistence.existingClaim for a shared cache)",
                NO_MODEL_CACHE,
                key=False,
            )
        ]
    return []


def shared_single_node_modes(ctx: Context, pod: Pod) -> list[str]:
    """Single-node access modes of the claims every pod of ``pod``'s workload mounts alike (a
    claim the release renders, or an existing claim with the modes the values declare for
    it); claim templates, one claim per pod, are not shared."""
    templates = {get(t, ("metadata", "name")) for t in pod.claim_templates}
    modes: list[str] = []
    for name, found in ctx.release.claim_modes(pod):
        if name not in templates:
            modes += found
    existing = ctx.value(("persistence", "existingClaim"))
    if existing and existing in ctx.release.existing_claims(pod):
        modes += ctx.value(("persistence", "accessModes")) or []
    return [m for m in modes if m in SINGLE_NODE_MODES]


def _per_pod(ctx: Context) -> str:
    """The advice of a claim per pod (existingClaim mounts one claim in every pod, so
    persistence.perPod takes effect only without it)."""
    if ctx.value(("persistence", "existingClaim")):
        return "a claim per pod (persistence.perPod: true, without persistence.existingClaim)"
    return "a claim per pod (persistence.perPod: true)"


def _cache_key(ctx: Context, fallback: Path_) -> Path_:
    """Where to report a cache claim problem: the claim keys the file sets, else ``fallback``."""
    return ctx.at(("persistence", "accessModes"), ("persistence", "existingClaim"), fallback)


@check("release", RWO_CLAIM_SHARED_BY_REPLICAS, ROLLING_UPDATE_ON_RWO_CACHE)
def shared_claims(ctx: Context) -> Iterator[Finding]:
    """A ReadWriteOnce claim is mounted by one node: replicas, or the new pod of a rolling
    update, would wait for it forever."""
    for pod in ctx.release.server_pods:
        if pod.kind == "LeaderWorkerSet":
            continue  # a group is judged as a whole (shared_by_group)
        rwo = shared_single_node_modes(ctx, pod)
        if not rwo:
            continue
        count = replicas(pod.obj)
        if count is not None and count > 1:
            yield Finding(
                pod.obj,
                ("spec", "replicas"),
                f"{count} replicas would share a {rwo[0]} cache claim that only one node can "
                "mount: the other pods would never start. Use a ReadWriteMany claim "
                f"(persistence.accessModes: [ReadWriteMany], or an existingClaim that is), "
                f"{_per_pod(ctx)}, or one release per replica",
                RWO_CLAIM_SHARED_BY_REPLICAS,
            )
        if pod.kind == "Deployment" and surge_pods(pod.obj) > 0 and ctx.sets(("strategy",)):
            yield Finding(
                pod.obj,
                ("spec", "strategy"),
                "a rolling update starts the new pod before the old one stops, and the new pod "
                f"waits forever for the {rwo[0]} cache claim the old one holds (and for its "
                "GPUs): use strategy type Recreate (the chart's default for such a cache) or a "
                "ReadWriteMany cache",
                ROLLING_UPDATE_ON_RWO_CACHE,
            )


@check("release", RWO_CLAIM_SHARED_BY_GROUP)
def shared_by_group(ctx: Context) -> Iterator[Finding]:
    """Every pod of a group mounts the cache: a ReadWriteOnce claim reaches one node only."""
    for pod in ctx.release.server_pods:
        if pod.role != "leader" or pod.group_size < 2:
            continue
        modes = shared_single_node_modes(ctx, pod)
        if modes:
            yield Finding(
                pod.obj,
                (*pod.path, "volumes"),
                f"the {pod.group_size} pods of a group, one per node, would share a {modes[0]} "
                f"cache claim that only one node can mount: the workers would never start. Use "
                f"{_per_pod(ctx)} or a ReadWriteMany cache (persistence.accessModes: "
                "[ReadWriteMany], or an existingClaim that is)",
                RWO_CLAIM_SHARED_BY_GROUP,
                values=_cache_key(ctx, ("multiNode", "enabled")),
            )


@check("release", AUTOSCALING_RWO_CACHE)
def autoscaled_claims(ctx: Context) -> Iterator[Finding]:
    """An autoscaler adds replicas that must mount the cache too."""
    target = ctx.release.scale_target()
    if target is None:
        return
    modes = [m for pod in ctx.release.pods_of(target) for m in shared_single_node_modes(ctx, pod)]
    if modes:
        yield Finding(
            target,
            ("spec",),
            f"autoscaling adds replicas that must mount the {modes[0]} cache claim one node "
            "already holds: they would never start. Use a ReadWriteMany cache "
            "(persistence.accessModes: [ReadWriteMany], or an existingClaim that is), or "
            f"{_per_pod(ctx)}",
            AUTOSCALING_RWO_CACHE,
            values=_cache_key(ctx, ("autoscaling", "enabled")),
        )


@check("release", EXISTING_CLAIM_NOT_MOUNTED)
def existing_claim(ctx: Context) -> Iterator[Finding]:
    """persistence.existingClaim names a claim that the rendered pods mount."""
    claim = get(ctx.values, ("persistence", "existingClaim"))
    if not claim:
        return
    for pod in ctx.release.server_pods:
        claims = {get(v, ("persistentVolumeClaim", "claimName")) for _, v in pod.volumes()}
        if claim in claims:
            continue
        yield Finding(
            pod.obj,
            (*pod.path, "volumes"),
            f"the claim {claim} is not mounted: with persistence.enabled false the cache is an "
            "emptyDir and existingClaim is ignored, so the pod starts without the files of the "
            "claim; set persistence.enabled: true to mount it",
            EXISTING_CLAIM_NOT_MOUNTED,
            values=("persistence", "existingClaim"),
        )


@check(
    "release",
    VOLUME_NAME_CONFLICT,
    VOLUME_MOUNT_UNKNOWN_VOLUME,
    VOLUME_MOUNT_PATH_CONFLICT,
    reads="release",
)
def volumes_and_mounts(release: Release) -> Iterator[Finding]:
    """Volume names unique; every mount names a volume; one mount per path."""
    for pod in release.pods:
        names: dict[str, int] = {}
        for claim in pod.claim_templates:  # a claim template is a volume of every pod
            if isinstance(get(claim, ("metadata", "name")), str):
                names[claim["metadata"]["name"]] = -1
        for path, volume in pod.volumes():
            name = volume.get("name")
            if isinstance(name, str) and name in names:  # other types: the schema's
                yield Finding(
                    pod.obj,
                    (*path, "name"),
                    f"volume name {name!r} is already taken by another volume of the pod "
                    "(the chart's cache and dshm volumes included); pick another",
                    VOLUME_NAME_CONFLICT,
                )
            elif isinstance(name, str):
                names[name] = path[-1]  # type: ignore[assignment]
        for container in pod.containers():
            paths: set[str] = set()
            for path, mount in container.mounts():
                yield from _mount(pod.obj, path, mount, names, paths)


@check("release", VOLUME_MOUNT_SHADOWED)
def shadowed_mounts(ctx: Context) -> Iterator[Finding]:
    """Mounts at one directory written two ways, which the API server lets through (it
    refuses only the same text twice: volume-mount-path-conflict)."""
    for pod in ctx.release.pods:
        for container in pod.containers():
            first: dict[str, str] = {}
            for path, mount in container.mounts():
                where = mount.get("mountPath")
                if not isinstance(where, str):
                    continue
                normal = where.rstrip("/") or "/"
                if normal in first and first[normal] != where:
                    yield Finding(
                        pod.obj,
                        (*path, "mountPath"),
                        f"{where} is the directory {first[normal]} another volume of this "
                        "container is mounted at, written another way: the API server accepts "
                        "both, and the runtime mounts one over the other, hiding its files; "
                        "mount the volume at another path",
                        VOLUME_MOUNT_SHADOWED,
                    )
                first.setdefault(normal, where)


def _mount(
    obj: dict[str, Any], path: Path_, mount: dict[str, Any], names: dict[str, int], paths: set[str]
) -> Iterator[Finding]:
    name = mount.get("name")
    if isinstance(name, str) and name not in names:
        near = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        yield Finding(
            obj,
            (*path, "name"),
            f"mounts volume {name!r}, which the pod does not have (its volumes: "
            f"{', '.join(sorted(names))}){hint}",
            VOLUME_MOUNT_UNKNOWN_VOLUME,
        )
    where = mount.get("mountPath")
    if isinstance(where, str):
        # the API server compares the paths as written (shadowed_mounts judges the rest)
        if where in paths:
            yield Finding(
                obj,
                (*path, "mountPath"),
                f"{where} is already the mount path of another volume of this container; two "
                "volumes cannot be mounted at one path",
                VOLUME_MOUNT_PATH_CONFLICT,
            )
        paths.add(where)


@check("model", CACHE_SMALLER_THAN_MODEL)
def cache_size(ctx: Context) -> Iterator[Finding]:
    """A created cache claim holds the model's weights."""
    from ..k8s.quantity import format_bytes, parse_quantity
    from ..plan.disk import model_size

    if ctx.value(("model", "source")) not in HUB_SOURCES:
        return
    size = model_size(str(ctx.value(("model", "name")) or ""))
    server = ctx.release.server
    if size is None or server is None:
        return
    mount = server.container.mount_of(str(ctx.value(("persistence", "mountPath")) or ""))
    name = str((mount or {}).get("name") or "")
    pod = server.pod
    claims: list[tuple[dict[str, Any], Path_, dict[str, Any]]] = []
    for index, template in enumerate(pod.claim_templates):
        if get(template, ("metadata", "name")) == name:
            owner = ("spec",) if pod.kind == "StatefulSet" else ("spec", "leaderWorkerTemplate")
            claims.append((pod.obj, (*owner, "volumeClaimTemplates", index), template))
    volume = pod.volume(name) or {}
    claim_name = get(volume, ("persistentVolumeClaim", "claimName"))
    claim = ctx.release.claim(str(claim_name)) if claim_name else None
    if claim is not None:
        claims.append((claim, (), claim))
    for obj, base, found in claims:
        asked = get(found, ("spec", "resources", "requests", "storage"))
        try:
            room = parse_quantity(asked)
        except (TypeError, ValueError):
            continue
        if room >= size.bytes:
            continue
        yield Finding(
            obj,
            (*base, "spec", "resources", "requests", "storage"),
            f"the cache claim of {asked} is smaller than {ctx.value(('model', 'name'))}'s "
            f"weights, about {format_bytes(size.bytes)} ({size.source}): the download would "
            f"fill the disk and the pod would never start; set persistence.size to at least "
            f"{_round_up_gib(size.bytes)}",
            CACHE_SMALLER_THAN_MODEL,
            values=ctx.at(("persistence", "size"), ("model", "name")),
        )


def _round_up_gib(amount: int) -> str:
    """A claim size with headroom: the weights plus a tenth, in whole GiB."""
    gib = 1024**3
    return f"{-(-int(amount * 1.1) // gib)}Gi"


def _user(pod: Pod, container: Any) -> int | None:
    """The user a container runs as: its own runAsUser, else the pod's (None: the image's)."""
    own = get(container.spec, ("securityContext", "runAsUser"))
    found = own if own is not None else get(pod.spec, ("securityContext", "runAsUser"))
    return found if isinstance(found, int) and not isinstance(found, bool) else None


@check("release", CACHE_NOT_WRITABLE)
def cache_writable(ctx: Context) -> Iterator[Finding]:
    """A container that runs as another user than root can write the model cache."""
    path = str(ctx.value(("persistence", "mountPath")) or "")
    user_keys = (
        ("securityContext", "runAsUser"),
        ("podSecurityContext", "runAsUser"),
        ("podSecurityContext",),
    )
    for pod in ctx.release.server_pods:
        for container in pod.containers():
            user = _user(pod, container)
            mount = container.mount_of(path) if path else None
            if user is None or user < 1 or mount is None:
                continue
            group = get(pod.spec, ("securityContext", "fsGroup"))
            if path == "/root" or path.startswith("/root/"):
                also = "" if group is not None else " and podSecurityContext.fsGroup"
                yield Finding(
                    pod.obj,
                    (*container.path, "volumeMounts"),
                    f"the cache at {path} is under /root, the vLLM image's home of root, and "
                    f"user {user} cannot write there: set persistence.mountPath outside /root "
                    "(e.g. /home/vllm/.cache, with HOME=/home/vllm on a volume, as "
                    f"values-examples/non-root.yaml does){also}",
                    CACHE_NOT_WRITABLE,
                    values=ctx.at(("persistence", "mountPath"), *user_keys),
                )
                return
            volume = pod.volume(str(mount.get("name"))) or {}
            templates = {get(t, ("metadata", "name")) for t in pod.claim_templates}
            claimed = "persistentVolumeClaim" in volume or mount.get("name") in templates
            if claimed and group is None:
                yield Finding(
                    pod.obj,
                    (*pod.path, "securityContext"),
                    f"the cache claim at {path} belongs to root when it is created, and user "
                    f"{user} cannot write it without a group the volume is given to: set "
                    f"podSecurityContext.fsGroup (e.g. {user})",
                    CACHE_NOT_WRITABLE,
                    values=ctx.at(*user_keys),
                )
                return
