"""The preflight checks: will this release install and its pods run on this cluster?

Each check reads the cluster (read-only, :mod:`.cluster`) and the release as the real engine
rendered it, and reports like ``validate``: one problem per line at the values key concerned.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..core.problem import Problem
from ..values.loader import LoadedValues, has_path, value_at
from .cluster import Cluster

Path_ = tuple[str | int, ...]
#: Kinds every cluster serves (no CRD needed).
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


@dataclass
class Release:
    """What the checks see: the values file and the release the real engine rendered."""

    loaded: LoadedValues
    values: dict[str, Any]
    merged: dict[str, Any]
    objects: list[dict[str, Any]]
    namespace: str
    cluster: Cluster
    #: lines for the summary (nodes that fit, free GPUs, what an upgrade does)
    notes: list[str] = field(default_factory=list)

    def problem(self, path: Path_, message: str, rule: str, *, severity: str = "error") -> Problem:
        return self.loaded.problem(path, message, rule, severity=severity)

    def at(self, *paths: Path_) -> Path_:
        """The first of ``paths`` the user's file sets (else the first)."""
        return next((p for p in paths if has_path(self.values, p)), paths[0])

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]


def _get(obj: Any, *path: str | int) -> Any:
    for part in path:
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj


def pod_templates(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict, int]]:
    """(object, pod spec, pods per group) of every workload of the release (a Deployment's
    pods one by one; a LeaderWorkerSet's group of ``size`` pods)."""
    for obj in objects:
        kind = obj.get("kind")
        if kind in ("Deployment", "StatefulSet"):
            spec = _get(obj, "spec", "template", "spec")
            if isinstance(spec, dict):
                yield obj, spec, 1
        elif kind == "LeaderWorkerSet":
            template = _get(obj, "spec", "leaderWorkerTemplate") or {}
            size = int(template.get("size") or 1)
            spec = _get(template, "workerTemplate", "spec") or _get(
                template, "leaderTemplate", "spec"
            )
            if isinstance(spec, dict):
                yield obj, spec, size


# -- namespace and Secrets ---------------------------------------------------------------------


def namespace(release: Release) -> Iterator[Problem]:
    if release.cluster.namespace(release.namespace) is None:
        yield release.problem(
            (),
            f"the namespace {release.namespace!r} does not exist on {release.cluster.server}: "
            f"create it (kubectl create namespace {release.namespace}) or pass --namespace",
            "check-namespace",
        )


def _secret_refs(release: Release) -> Iterator[tuple[Path_, str, str, str]]:
    """(values key, Secret name, key inside it, what it is for) of the Secrets the values name
    and the release does not create itself."""
    created = {_get(o, "metadata", "name") for o in release.of_kind("Secret")}
    for section, label in (
        ("huggingface", "Hugging Face token"),
        ("modelscope", "ModelScope token"),
    ):
        name = value_at(release.merged, (section, "token", "secretName"))
        if name:
            key = value_at(release.merged, (section, "token", "secretKey")) or "token"
            yield (section, "token", "secretName"), str(name), str(key), label
    name = value_at(release.merged, ("auth", "apiKey", "secretName"))
    if name and name not in created:
        key = value_at(release.merged, ("auth", "apiKey", "secretKey")) or "api-key"
        yield ("auth", "apiKey", "secretName"), str(name), str(key), "API key"


def secrets(release: Release) -> Iterator[Problem]:
    for path, name, key, label in _secret_refs(release):
        secret = release.cluster.secret(release.namespace, name)
        if secret is None:
            yield release.problem(
                path,
                f"the Secret {name!r} ({label}) does not exist in namespace "
                f"{release.namespace!r}: the pod would never start (CreateContainerConfigError)",
                "check-secret",
            )
            continue
        data = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
        if key not in data:
            keys = ", ".join(sorted(data)) or "none"
            yield release.problem(
                path,
                f"the Secret {name!r} ({label}) has no key {key!r} (its keys: {keys}): the pod "
                "would never start; set the secretKey or add the key",
                "check-secret",
            )
        elif not base64.b64decode(str(data[key]) or "").strip():
            yield release.problem(
                path,
                f"the Secret {name!r} ({label}) holds an empty {key!r}",
                "check-secret",
            )


# -- claims and classes ------------------------------------------------------------------------


def _shared(release: Release) -> bool:
    """Whether several pods mount the cache at once (replicas, autoscaling, a pod group)."""
    replicas = value_at(release.merged, ("replicaCount",))
    if isinstance(replicas, int) and replicas > 1:
        return True
    if value_at(release.merged, ("autoscaling", "enabled")):
        return True
    return any(size > 1 for _, _, size in pod_templates(release.objects))


def claim(release: Release) -> Iterator[Problem]:
    name = value_at(release.merged, ("persistence", "existingClaim"))
    if not name or not value_at(release.merged, ("persistence", "enabled")):
        return
    path: Path_ = ("persistence", "existingClaim")
    found = release.cluster.claim(release.namespace, str(name))
    if found is None:
        yield release.problem(
            path,
            f"the claim {name!r} does not exist in namespace {release.namespace!r}: the pod "
            "would stay Pending",
            "check-claim",
        )
        return
    phase = _get(found, "status", "phase")
    if phase != "Bound":
        yield release.problem(
            path,
            f"the claim {name!r} is {phase or 'not Bound'}, not Bound: the pod waits until a "
            "volume is bound to it",
            "check-claim",
        )
    modes = set(_get(found, "status", "accessModes") or _get(found, "spec", "accessModes") or [])
    declared = value_at(release.merged, ("persistence", "accessModes")) or []
    if (_shared(release) or "ReadWriteMany" in declared) and "ReadWriteMany" not in modes:
        why = (
            "several pods mount the cache (replicas, autoscaling or a pod group)"
            if _shared(release)
            else "persistence.accessModes declares it ReadWriteMany (the chart then rolls "
            "updates with the old pod still holding it)"
        )
        yield release.problem(
            path,
            f"the claim {name!r} is {', '.join(sorted(modes)) or 'of no access mode'}, but "
            f"{why}: it must be ReadWriteMany, or the other pods never start",
            "check-claim",
        )


def storage_class(release: Release) -> Iterator[Problem]:
    claims = release.of_kind("PersistentVolumeClaim")
    if not claims:
        return
    classes = release.cluster.storage_classes()
    names = {_get(c, "metadata", "name") for c in classes}
    for obj in claims:
        wanted = _get(obj, "spec", "storageClassName")
        path = release.at(("persistence", "storageClassName"), ("persistence",))
        if wanted:
            if wanted not in names:
                known = ", ".join(sorted(n for n in names if n)) or "none"
                yield release.problem(
                    path,
                    f"the StorageClass {wanted!r} does not exist (the cluster has: {known}): "
                    "the claim would stay Pending",
                    "check-storage-class",
                )
        elif wanted is None and not any(
            _get(c, "metadata", "annotations", "storageclass.kubernetes.io/is-default-class")
            == "true"
            for c in classes
        ):
            yield release.problem(
                path,
                "no StorageClass is the cluster's default and persistence.storageClassName is "
                "empty: the claim would stay Pending until someone binds a volume to it; name "
                "a StorageClass",
                "check-storage-class",
            )


def runtime_class(release: Release) -> Iterator[Problem]:
    for _, spec, _ in pod_templates(release.objects):
        name = spec.get("runtimeClassName")
        if name and release.cluster.runtime_class(str(name)) is None:
            yield release.problem(
                release.at(("gpu", "runtimeClassName"), ("gpu",)),
                f"the RuntimeClass {name!r} does not exist: the API server refuses the pod "
                "(install the GPU operator's runtime class, or set gpu.runtimeClassName to one "
                'that exists, or to "" for the node\'s default runtime)',
                "check-runtime-class",
            )
            return


def priority_class(release: Release) -> Iterator[Problem]:
    for _, spec, _ in pod_templates(release.objects):
        name = spec.get("priorityClassName")
        if name and release.cluster.priority_class(str(name)) is None:
            yield release.problem(
                ("priorityClassName",),
                f"the PriorityClass {name!r} does not exist: the API server refuses the pod",
                "check-priority-class",
            )
            return


def scheduler(release: Release, crds: list[dict[str, Any]]) -> Iterator[Problem]:
    names = {_get(c, "metadata", "name") for c in crds}
    for _, spec, _ in pod_templates(release.objects):
        if spec.get("schedulerName") == "volcano" and VOLCANO_CRD not in names:
            yield release.problem(
                release.at(("schedulerName",), ("vgpu", "provider"), ("vgpu",)),
                "the pods ask for the volcano scheduler, and Volcano is not installed (no "
                f"{VOLCANO_CRD} CRD): they would stay Pending, unscheduled",
                "check-scheduler",
            )
            return


_KIND_KEYS = {
    "ServiceMonitor": ("metrics", "serviceMonitor", "enabled"),
    "PrometheusRule": ("metrics", "prometheusRule", "enabled"),
    "HTTPRoute": ("httpRoute", "enabled"),
    "ScaledObject": ("autoscaling", "enabled"),
    "LeaderWorkerSet": ("multiNode", "enabled"),
}


def custom_kinds(release: Release, crds: list[dict[str, Any]]) -> Iterator[Problem]:
    served: dict[tuple[str, str], set[str]] = {}
    for crd in crds:
        group = _get(crd, "spec", "group")
        kind = _get(crd, "spec", "names", "kind")
        versions = {v.get("name") for v in _get(crd, "spec", "versions") or [] if v.get("served")}
        served[(group, kind)] = versions
    said: set[tuple[str, str]] = set()
    for obj in release.objects:
        api_version = str(obj.get("apiVersion") or "")
        group, _, version = api_version.rpartition("/")
        kind = str(obj.get("kind") or "")
        if group in BUILT_IN_GROUPS or (api_version, kind) in said:
            continue
        said.add((api_version, kind))
        versions = served.get((group, kind))
        path = release.at(_KIND_KEYS.get(kind, ()), ())
        if versions is None:
            yield release.problem(
                path,
                f"the release renders a {kind} ({api_version}) and the cluster has no CRD for "
                f"it: helm install fails (no matches for kind {kind!r}); install its operator "
                "first or disable it",
                "check-crd",
            )
        elif version not in versions:
            yield release.problem(
                path,
                f"the release renders {kind} {api_version}, and the cluster's CRD serves "
                f"{', '.join(sorted(versions))}: upgrade the operator",
                "check-crd",
            )


# -- nodes -------------------------------------------------------------------------------------


def _quantity(value: Any) -> Decimal:
    from kubernetes.utils import parse_quantity

    try:
        return Decimal(parse_quantity(value))
    except (ValueError, TypeError, ArithmeticError):
        return Decimal(0)


def _matches_expression(labels: dict[str, str], expression: dict[str, Any]) -> bool:
    key, operator = expression.get("key"), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _affinity_ok(node: dict[str, Any], spec: dict[str, Any]) -> bool:
    terms = _get(
        spec,
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    )
    if not terms:
        return True
    labels = _get(node, "metadata", "labels") or {}
    fields = {"metadata.name": _get(node, "metadata", "name")}
    for term in terms:
        expressions = term.get("matchExpressions") or []
        field_expressions = term.get("matchFields") or []
        if not expressions and not field_expressions:
            continue
        if all(_matches_expression(labels, e) for e in expressions) and all(
            _matches_expression(fields, e) for e in field_expressions
        ):
            return True
    return False


def _tolerated(taint: dict[str, Any], tolerations: list[dict[str, Any]]) -> bool:
    for toleration in tolerations:
        effect = toleration.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        key = toleration.get("key")
        if toleration.get("operator") == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and str(toleration.get("value") or "") == str(
            taint.get("value") or ""
        ):
            return True
    return False


def _requests(spec: dict[str, Any]) -> dict[str, Decimal]:
    """What one pod asks of a node: the sum over containers (init containers: the largest),
    a limit standing for a missing request as the API server defaults it."""
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in asked.items():
            total[name] = total.get(name, Decimal(0)) + _quantity(value)
    for container in spec.get("initContainers") or []:
        resources = container.get("resources") or {}
        asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in asked.items():
            total[name] = max(total.get(name, Decimal(0)), _quantity(value))
    return total


@dataclass
class NodeFit:
    name: str
    reason: str | None  # None when one pod fits
    free: dict[str, Decimal]
    pods: int = 0  # how many such pods fit at once


def _fit(cluster: Cluster, node: dict[str, Any], spec: dict[str, Any], asked: dict) -> NodeFit:
    name = str(_get(node, "metadata", "name"))
    labels = _get(node, "metadata", "labels") or {}
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != str(v) for k, v in selector.items()):
        return NodeFit(name, "selector", {})
    if not _affinity_ok(node, spec):
        return NodeFit(name, "affinity", {})
    if _get(node, "spec", "unschedulable"):
        return NodeFit(name, "cordoned", {})
    tolerations = spec.get("tolerations") or []
    for taint in _get(node, "spec", "taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(
            taint, tolerations
        ):
            return NodeFit(name, f"taint {taint.get('key')}={taint.get('value') or ''}", {})
    allocatable = {k: _quantity(v) for k, v in (_get(node, "status", "allocatable") or {}).items()}
    used: dict[str, Decimal] = {}
    for pod in cluster.pods_on(name):
        for resource, value in _requests(pod.get("spec") or {}).items():
            used[resource] = used.get(resource, Decimal(0)) + value
    free = {k: v - used.get(k, Decimal(0)) for k, v in allocatable.items()}
    short = [r for r, v in asked.items() if v > 0 and free.get(r, Decimal(0)) < v]
    pods = min((int(free.get(r, Decimal(0)) // v) for r, v in asked.items() if v > 0), default=1)
    return NodeFit(name, f"resources {', '.join(short)}" if short else None, free, pods)


def _gpu_resources(asked: dict[str, Decimal]) -> list[str]:
    return [r for r in asked if "/" in r and not r.startswith(("hugepages-",))]


def nodes(release: Release) -> Iterator[Problem]:
    all_nodes = release.cluster.nodes()
    advertised = {r for n in all_nodes for r in (_get(n, "status", "allocatable") or {})}
    hami = value_at(release.merged, ("vgpu", "enabled")) and (
        value_at(release.merged, ("vgpu", "provider")) == "hami"
    )
    for _, spec, size in pod_templates(release.objects):
        asked = _requests(spec)
        if hami:
            # HAMi's device plugin advertises the slice count only; its scheduler extender
            # places the memory and cores shares, which no node lists as allocatable.
            placed_by_hami = sorted(r for r in asked if "/" in r and r not in advertised)
            for name in placed_by_hami:
                del asked[name]
            if placed_by_hami:
                release.notes.append(
                    f"{', '.join(placed_by_hami)}: placed by HAMi's scheduler, not listed "
                    "by nodes: not checked"
                )
        fits = [_fit(release.cluster, n, spec, asked) for n in all_nodes]
        able = [f for f in fits if f.reason is None]
        gpus = _gpu_resources(asked)
        free = {r: sum((f.free.get(r, Decimal(0)) for f in able), Decimal(0)) for r in gpus}
        group = f" (a group of {size} pods)" if size > 1 else ""
        summary = ", ".join(f"{r} {v.normalize():f}" for r, v in free.items())
        release.notes.append(
            f"{len(able)} of {len(all_nodes)} nodes can take a pod{group} now; free on "
            f"them: {summary or 'no extended resources asked'}"
        )
        if sum(f.pods for f in able) >= size:
            continue
        placed = [f for f in fits if f.reason is None or f.reason.startswith("resources")]
        if not placed:
            reasons = sorted({f.reason or "" for f in fits})
            path = release.at(("nodeSelector",), ("affinity",), ("tolerations",), ("gpu", "count"))
            yield release.problem(
                path,
                f"no node matches the pod's node selector, affinity and tolerations "
                f"({len(all_nodes)} nodes; refused for: {', '.join(reasons) or 'no nodes'}): "
                "the pods would stay Pending",
                "check-nodes",
            )
        else:
            need = ", ".join(f"{r} {v.normalize():f}" for r, v in asked.items() if v > 0)
            path = release.at(("vgpu", "memoryMiB"), ("gpu", "count"), ("resources",))
            if not value_at(release.merged, ("vgpu", "enabled")):
                path = release.at(("gpu", "count"), ("resources",))
            yield release.problem(
                path,
                f"{len(placed)} nodes match the pod's scheduling rules, and none has free "
                f"{need} for {'a group of ' + str(size) + ' pods' if size > 1 else 'one pod'} "
                f"(free on them: "
                + "; ".join(
                    f"{f.name}: " + (", ".join(f"{r} {f.free.get(r, 0):f}" for r in gpus) or "-")
                    for f in placed[:5]
                )
                + "): the pods would stay Pending",
                "check-nodes",
            )


# -- upgrades ----------------------------------------------------------------------------------


def _subset_difference(rendered: Any, live: Any, path: str = "") -> str | None:
    """The first field of ``rendered`` that ``live`` lacks or holds otherwise (fields the API
    server defaults are ignored)."""
    if live is None and rendered in (0, "", False, None, [], {}):
        return None  # the API server leaves out empty fields
    if isinstance(rendered, dict):
        if not isinstance(live, dict):
            return path or "/"
        for key, value in rendered.items():
            found = _subset_difference(value, live.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(rendered, list):
        if not isinstance(live, list) or len(live) != len(rendered):
            return path
        for index, (mine, theirs) in enumerate(zip(rendered, live, strict=True)):
            found = _subset_difference(mine, theirs, f"{path}[{index}]")
            if found:
                return found
        return None
    if live != rendered and str(live) != str(rendered):
        return path
    return None


def upgrade(release: Release) -> Iterator[Problem]:
    for obj in release.of_kind("Deployment"):
        name = str(_get(obj, "metadata", "name"))
        live = release.cluster.deployment(release.namespace, name)
        if live is None:
            continue
        selector = _get(obj, "spec", "selector")
        if selector != _get(live, "spec", "selector"):
            yield release.problem(
                release.at(("nameOverride",), ("fullnameOverride",), ()),
                f"Deployment {name} exists with another selector "
                f"({_get(live, 'spec', 'selector', 'matchLabels')}); a selector is immutable: "
                "the upgrade fails. Uninstall first or keep the release and chart names",
                "check-immutable",
            )
        changed = _subset_difference(_get(obj, "spec", "template"), _get(live, "spec", "template"))
        live_args = _get(live, "spec", "template", "spec", "containers", 0, "args") or []
        args = _get(obj, "spec", "template", "spec", "containers", 0, "args") or []
        if changed:
            redownload = live_args[:1] != args[:1] or _flag(live_args, "--revision") != _flag(
                args, "--revision"
            )
            release.notes.append(
                f"upgrade: Deployment {name} exists; the pod template changes "
                f"(first at {changed}): the pods restart"
                + (
                    "; the model or its revision changes: it is downloaded again"
                    if redownload
                    else ""
                )
            )
        else:
            release.notes.append(f"upgrade: Deployment {name} exists; its pods stay as they are")
    for obj in release.of_kind("PersistentVolumeClaim"):
        name = str(_get(obj, "metadata", "name"))
        live = release.cluster.claim(release.namespace, name)
        if live is None:
            if release.of_kind("Deployment") and any(
                release.cluster.deployment(release.namespace, str(_get(d, "metadata", "name")))
                for d in release.of_kind("Deployment")
            ):
                release.notes.append(
                    f"upgrade: the cache claim {name} is new: the model is downloaded again"
                )
            continue
        want = _quantity(_get(obj, "spec", "resources", "requests", "storage"))
        have = _quantity(_get(live, "spec", "resources", "requests", "storage"))
        if want < have:
            yield release.problem(
                release.at(("persistence", "size"), ("persistence",)),
                f"the claim {name} exists with "
                f"{_get(live, 'spec', 'resources', 'requests', 'storage')} and the release asks "
                f"for {_get(obj, 'spec', 'resources', 'requests', 'storage')}: a claim cannot "
                "shrink, the upgrade fails",
                "check-immutable",
            )
        for field_name, key in (
            ("storageClassName", "storageClassName"),
            ("accessModes", "accessModes"),
        ):
            mine = _get(obj, "spec", field_name)
            theirs = _get(live, "spec", field_name)
            if mine is not None and mine != theirs:
                yield release.problem(
                    release.at(("persistence", key), ("persistence",)),
                    f"the claim {name} exists with {field_name} {theirs!r}, the release renders "
                    f"{mine!r}: immutable once created, the upgrade fails",
                    "check-immutable",
                )


def _flag(args: list[Any], flag: str) -> str | None:
    for index, token in enumerate(args):
        text = str(token)
        if text == flag and index + 1 < len(args):
            return str(args[index + 1])
        if text.startswith(flag + "="):
            return text.partition("=")[2]
    return None


#: Checks of cluster-scoped objects (classes, nodes) and of the release's namespace.
CLUSTER_CHECKS: tuple[Callable[[Release], Iterator[Problem]], ...] = (
    storage_class,
    runtime_class,
    priority_class,
    nodes,
)
NAMESPACED_CHECKS: tuple[Callable[[Release], Iterator[Problem]], ...] = (secrets, claim, upgrade)


def run(release: Release) -> list[Problem]:
    """Every problem of the release on this cluster (what lives in the namespace is judged
    only when the namespace exists)."""
    missing = list(namespace(release))
    found = list(missing)
    crds = release.cluster.crds()
    found += scheduler(release, crds)
    found += custom_kinds(release, crds)
    for check in CLUSTER_CHECKS:
        found.extend(check(release))
    if not missing:
        for check in NAMESPACED_CHECKS:
            found.extend(check(release))
    return found
