"""What the release needs the cluster to hold: its namespace, the Secrets and claims it names,
the classes and the scheduler its pods ask for, a CRD serving every custom kind it renders."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...core.rules import rule
from ...core.tree import get
from ...release import replicas
from ..context import Finding, check
from . import namespace_exists

if TYPE_CHECKING:
    from ..context import Context

#: API groups every cluster serves (no CRD needed).
BUILT_IN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "node.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
}
#: The CRD that shows Volcano's scheduler is installed.
VOLCANO_CRD = "podgroups.scheduling.volcano.sh"

CHECK_SECRET = rule(
    "check-secret",
    "error",
    "cluster",
    "A Secret a rendered container reads (the hub token, the API key) does not exist in the "
    "namespace, lacks the key, or holds it empty: the pod would never start "
    "(CreateContainerConfigError). The key is the one the rendered secretKeyRef names.",
)
CHECK_CLAIM = rule(
    "check-claim",
    "error",
    "cluster",
    "persistence.existingClaim does not exist, is not Bound, or is not ReadWriteMany while "
    "several pods mount it (replicas, an autoscaler, a pod group) or the values declare it so.",
)
CHECK_STORAGE_CLASS = rule(
    "check-storage-class",
    "error",
    "cluster",
    "The cache claim names a StorageClass the cluster lacks, or names none while the cluster "
    "has no default: the claim would stay Pending.",
)
CHECK_RUNTIME_CLASS = rule(
    "check-runtime-class",
    "error",
    "cluster",
    "The pods ask for a RuntimeClass the cluster lacks (`nvidia`, by default, for NVIDIA GPUs): "
    "the API server refuses the pod.",
)
CHECK_PRIORITY_CLASS = rule(
    "check-priority-class",
    "error",
    "cluster",
    "The pods ask for a PriorityClass the cluster lacks: the API server refuses the pod.",
)
CHECK_SCHEDULER = rule(
    "check-scheduler",
    "error",
    "cluster",
    "The pods ask for the volcano scheduler (vGPU slices with provider volcano), and Volcano is "
    "not installed: they would stay Pending, unscheduled.",
)
CHECK_CRD = rule(
    "check-crd",
    "error",
    "cluster",
    "The release renders a custom kind (ServiceMonitor, PrometheusRule, HTTPRoute, "
    "ScaledObject, LeaderWorkerSet, ...) the cluster has no CRD for, or at a version its CRD "
    "does not serve: `helm install` fails. Install the operator first, or disable the object.",
)


@check("cluster", CHECK_SECRET)
def secrets(ctx: Context) -> Iterator[Finding]:
    """Every Secret a rendered container reads, with the key it reads, exists (the Secrets the
    release creates itself apart)."""
    if not namespace_exists(ctx):
        return
    created = {get(o, ("metadata", "name")) for o in ctx.release.of_kind("Secret")}
    said: set[tuple[str, str]] = set()
    for pod in ctx.release.pods:
        for container in pod.containers():
            for path, variable, name, key in container.secret_refs():
                if name in created or (name, key) in said:
                    continue
                said.add((name, key))
                why = _secret_problem(ctx, name, key)
                if why:
                    yield Finding(
                        pod.obj,
                        (*path, "valueFrom", "secretKeyRef", "name"),
                        f"the Secret {name!r} ({variable}) {why}",
                        CHECK_SECRET,
                        key=True,
                    )


def _secret_problem(ctx: Context, name: str, key: str) -> str | None:
    secret = ctx.cluster.secret(ctx.namespace, name)
    if secret is None:
        return (
            f"does not exist in namespace {ctx.namespace!r}: the pod would never start "
            "(CreateContainerConfigError)"
        )
    data = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
    if key not in data:
        keys = ", ".join(sorted(data)) or "none"
        return (
            f"has no key {key!r} (its keys: {keys}): the pod would never start; set the "
            "secretKey or add the key"
        )
    if not base64.b64decode(str(data[key]) or "").strip():
        return f"holds an empty {key!r}"
    return None


def _shared(ctx: Context) -> bool:
    """Whether several pods mount the cache at once: rendered replicas, an autoscaler, or a
    pod group."""
    if ctx.release.autoscaler is not None:
        return True
    for pod in ctx.release.server_pods:
        count = replicas(pod.obj)
        if (count is not None and count > 1) or pod.group_size > 1:
            return True
    return False


@check("cluster", CHECK_CLAIM)
def claim(ctx: Context) -> Iterator[Finding]:
    """An existing claim the pods mount exists, is Bound, and can be mounted by every pod."""
    if not namespace_exists(ctx):
        return
    for pod in ctx.release.server_pods:
        for name in ctx.release.existing_claims(pod):
            where = next(
                p
                for p, v in pod.volumes()
                if get(v, ("persistentVolumeClaim", "claimName")) == name
            )
            at = (*where, "persistentVolumeClaim", "claimName")
            why = _claim_problem(ctx, name)
            if why:
                yield Finding(pod.obj, at, why, CHECK_CLAIM)
        break  # the group's pods mount the same claims


def _claim_problem(ctx: Context, name: str) -> str | None:
    found = ctx.cluster.claim(ctx.namespace, name)
    if found is None:
        return (
            f"the claim {name!r} does not exist in namespace {ctx.namespace!r}: the pod would "
            "stay Pending"
        )
    phase = get(found, ("status", "phase"))
    if phase != "Bound":
        return (
            f"the claim {name!r} is {phase or 'not Bound'}, not Bound: the pod waits until a "
            "volume is bound to it"
        )
    modes = set(get(found, ("status", "accessModes")) or get(found, ("spec", "accessModes")) or [])
    declared = ctx.value(("persistence", "accessModes")) or []
    shared = _shared(ctx)
    if (shared or "ReadWriteMany" in declared) and "ReadWriteMany" not in modes:
        why = (
            "several pods mount the cache (replicas, autoscaling or a pod group)"
            if shared
            else "persistence.accessModes declares it ReadWriteMany (the chart then rolls "
            "updates with the old pod still holding it)"
        )
        have = ", ".join(sorted(modes)) or "of no access mode"
        return (
            f"the claim {name!r} is {have}, but {why}: it must be ReadWriteMany, or the other "
            "pods never start"
        )
    return None


@check("cluster", CHECK_STORAGE_CLASS)
def storage_class(ctx: Context) -> Iterator[Finding]:
    """The StorageClass of every claim the release renders exists (or a default does)."""
    claims = [(o, ("spec",)) for o in ctx.release.of_kind("PersistentVolumeClaim")]
    for pod in ctx.release.server_pods:
        for index, _ in enumerate(pod.claim_templates):
            claims.append((pod.obj, (*_templates_path(pod.kind), index, "spec")))
    if not claims:
        return
    classes = ctx.cluster.storage_classes()
    names = {get(c, ("metadata", "name")) for c in classes}
    default = any(
        get(c, ("metadata", "annotations", "storageclass.kubernetes.io/is-default-class")) == "true"
        for c in classes
    )
    said = False
    for obj, spec in claims:
        wanted = get(obj, (*spec, "storageClassName"))
        at = (*spec, "storageClassName")
        if wanted and wanted not in names:
            known = ", ".join(sorted(str(n) for n in names if n)) or "none"
            yield Finding(
                obj,
                at,
                f"the StorageClass {wanted!r} does not exist (the cluster has: {known}): the "
                "claim would stay Pending",
                CHECK_STORAGE_CLASS,
                key=True,
            )
        elif wanted is None and not default and not said:
            said = True
            yield Finding(
                obj,
                at,
                "no StorageClass is the cluster's default and persistence.storageClassName is "
                "empty: the claim would stay Pending until someone binds a volume to it; name "
                "a StorageClass",
                CHECK_STORAGE_CLASS,
                key=True,
                values=ctx.at(("persistence", "storageClassName"), ("persistence",)),
            )


def _templates_path(kind: str) -> tuple[str, ...]:
    if kind == "LeaderWorkerSet":
        return ("spec", "leaderWorkerTemplate", "volumeClaimTemplates")
    return ("spec", "volumeClaimTemplates")


@check("cluster", CHECK_RUNTIME_CLASS, CHECK_PRIORITY_CLASS)
def classes(ctx: Context) -> Iterator[Finding]:
    """The RuntimeClass and PriorityClass the pods name exist."""
    said: set[str] = set()
    for pod in ctx.release.pods:
        for field, find, rule_, what in (
            ("runtimeClassName", ctx.cluster.runtime_class, CHECK_RUNTIME_CLASS, "RuntimeClass"),
            (
                "priorityClassName",
                ctx.cluster.priority_class,
                CHECK_PRIORITY_CLASS,
                "PriorityClass",
            ),
        ):
            name = pod.spec.get(field)
            if not name or f"{field}/{name}" in said or find(str(name)) is not None:
                continue
            said.add(f"{field}/{name}")
            advice = (
                " (install the GPU operator's runtime class, or set gpu.runtimeClassName to one "
                'that exists, or to "" for the node\'s default runtime)'
                if field == "runtimeClassName"
                else ""
            )
            yield Finding(
                pod.obj,
                (*pod.path, field),
                f"the {what} {name!r} does not exist: the API server refuses the pod{advice}",
                rule_,
                key=True,
            )


@check("cluster", CHECK_SCHEDULER)
def scheduler(ctx: Context) -> Iterator[Finding]:
    """The volcano scheduler the pods ask for is installed."""
    names = {get(c, ("metadata", "name")) for c in ctx.cluster.crds()}
    for pod in ctx.release.server_pods:
        if pod.spec.get("schedulerName") == "volcano" and VOLCANO_CRD not in names:
            yield Finding(
                pod.obj,
                (*pod.path, "schedulerName"),
                "the pods ask for the volcano scheduler, and Volcano is not installed (no "
                f"{VOLCANO_CRD} CRD): they would stay Pending, unscheduled",
                CHECK_SCHEDULER,
                key=True,
            )
            return


@check("cluster", CHECK_CRD)
def custom_kinds(ctx: Context) -> Iterator[Finding]:
    """Every custom kind the release renders has a CRD serving its version."""
    served: dict[tuple[str, str], set[str]] = {}
    for crd in ctx.cluster.crds():
        group = get(crd, ("spec", "group"))
        kind = get(crd, ("spec", "names", "kind"))
        versions = {v.get("name") for v in get(crd, ("spec", "versions")) or [] if v.get("served")}
        served[(str(group), str(kind))] = versions
    said: set[tuple[str, str]] = set()
    for obj in ctx.release.objects:
        api_version = str(obj.get("apiVersion") or "")
        group, _, version = api_version.rpartition("/")
        kind = str(obj.get("kind") or "")
        if group in BUILT_IN_GROUPS or (api_version, kind) in said:
            continue
        said.add((api_version, kind))
        versions = served.get((group, kind))
        if versions is None:
            yield Finding(
                obj,
                (),
                f"the release renders a {kind} ({api_version}) and the cluster has no CRD for "
                f"it: helm install fails (no matches for kind {kind!r}); install its operator "
                "first or disable it",
                CHECK_CRD,
                key=True,
            )
        elif version not in versions:
            yield Finding(
                obj,
                (),
                f"the release renders {kind} {api_version}, and the cluster's CRD serves "
                f"{', '.join(sorted(str(v) for v in versions))}: upgrade the operator",
                CHECK_CRD,
                key=True,
            )
