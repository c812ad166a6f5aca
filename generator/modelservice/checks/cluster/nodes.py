"""Whether the cluster's nodes can take the release's pods now: selectors, affinity, taints and
the free resources of each node (what the pods bound to it already hold subtracted), for every
pod of every replica (a group of pods for multi-node)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...core.rules import rule
from ...core.tree import Path_, get
from ...k8s.quantity import format_bytes, parse_quantity
from ...release import Pod
from ..context import Finding, check

if TYPE_CHECKING:
    from ..context import Context

CHECK_NODES = rule(
    "check-nodes",
    "error",
    "cluster",
    "No node can take the release's pods now: none matches their node selector, affinity and "
    "tolerations, or none of those has the free GPUs (and CPU, memory) that every replica "
    "needs, counted with what the pods on each node already hold (but the release's own pods, "
    "which an upgrade replaces: check-rollout-surge judges a surge beside them): the pods "
    "would stay Pending. The message lists what is free where.",
)


def quantity(value: Any) -> Decimal:
    """A quantity of the API server's answer (a malformed one counts as nothing)."""
    try:
        return parse_quantity(value)
    except ValueError:
        return Decimal(0)


def _matches_expression(labels: dict[str, str], expression: dict[str, Any]) -> bool:
    key, operator = expression.get("key"), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels
    if operator == "In":
        return present and labels[str(key)] in values
    if operator == "NotIn":
        return not present or labels[str(key)] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            have, want = int(labels[str(key)]), int(values[0])
        except ValueError:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def _affinity_ok(node: dict[str, Any], spec: dict[str, Any]) -> bool:
    terms = get(
        spec,
        (
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        ),
    )
    if not terms:
        return True
    labels = get(node, ("metadata", "labels")) or {}
    fields = {"metadata.name": get(node, ("metadata", "name"))}
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


def requests(spec: dict[str, Any]) -> dict[str, Decimal]:
    """What one pod asks of a node: the sum over containers (init containers: the largest),
    a limit standing for a missing request as the API server defaults it."""
    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in asked.items():
            total[name] = total.get(name, Decimal(0)) + quantity(value)
    for container in spec.get("initContainers") or []:
        resources = container.get("resources") or {}
        asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in asked.items():
            total[name] = max(total.get(name, Decimal(0)), quantity(value))
    return total


@dataclass
class NodeFit:
    name: str
    reason: str | None  # None when one pod fits
    free: dict[str, Decimal] = field(default_factory=dict)
    pods: int = 0  # how many such pods fit at once
    short: list[str] = field(default_factory=list)  # the resources it lacks for one pod


def own_pods(ctx: Context) -> frozenset[str]:
    """The uids of the pods the release's workloads run now (an installed release): an upgrade
    replaces them, so what they hold is theirs to reuse."""
    uids: set[str] = set()
    for obj in ctx.release.workloads:
        if obj.get("kind") == "LeaderWorkerSet":
            labels = {"leaderworkerset.sigs.k8s.io/name": get(obj, ("metadata", "name"))}
        else:
            labels = get(obj, ("spec", "selector", "matchLabels")) or {}
        if not labels:
            continue
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        for pod in ctx.cluster.pods(ctx.namespace, selector):
            uids.add(str(get(pod, ("metadata", "uid"))))
    return frozenset(uids)


def fit(
    ctx: Context,
    node: dict[str, Any],
    spec: dict[str, Any],
    asked: dict,
    *,
    leave_out: frozenset[str] = frozenset(),
) -> NodeFit:
    """How a node takes a pod of ``spec`` asking ``asked`` now, what the pods of ``leave_out``
    (uids) hold counted as free."""
    name = str(get(node, ("metadata", "name")))
    labels = get(node, ("metadata", "labels")) or {}
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != str(v) for k, v in selector.items()):
        return NodeFit(name, "selector")
    if not _affinity_ok(node, spec):
        return NodeFit(name, "affinity")
    if get(node, ("spec", "unschedulable")):
        return NodeFit(name, "cordoned")
    tolerations = spec.get("tolerations") or []
    for taint in get(node, ("spec", "taints")) or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(
            taint, tolerations
        ):
            return NodeFit(name, f"taint {taint.get('key')}={taint.get('value') or ''}")
    allocatable = {k: quantity(v) for k, v in (get(node, ("status", "allocatable")) or {}).items()}
    used: dict[str, Decimal] = {}
    for pod in ctx.cluster.pods_on(name):
        if get(pod, ("metadata", "uid")) in leave_out:
            continue
        for resource, value in requests(pod.get("spec") or {}).items():
            used[resource] = used.get(resource, Decimal(0)) + value
    free = {k: v - used.get(k, Decimal(0)) for k, v in allocatable.items()}
    short = [r for r, v in asked.items() if v > 0 and free.get(r, Decimal(0)) < v]
    pods = min((int(free.get(r, Decimal(0)) // v) for r, v in asked.items() if v > 0), default=1)
    return NodeFit(name, f"resources {', '.join(short)}" if short else None, free, pods, short)


def shown(resource: str, amount: Decimal) -> str:
    """An amount of a resource as people read it (memory in binary units, not bytes)."""
    if resource == "memory" or resource.endswith(("-memory", "storage")):
        return format_bytes(amount)
    return f"{amount.normalize():f}"


def extended(asked: dict[str, Decimal]) -> list[str]:
    return [r for r in asked if "/" in r and not r.startswith("hugepages-")]


def placed_by_hami(
    ctx: Context, asked: dict[str, Decimal], advertised: set[str], *, say: bool = True
) -> None:
    """HAMi's device plugin advertises the slice count only; its scheduler extender places the
    memory and cores shares, which no node lists as allocatable: not checked, and said so
    (once: ``say`` False for a second look at the same pods)."""
    if not (ctx.value(("vgpu", "enabled")) and ctx.value(("vgpu", "provider")) == "hami"):
        return
    placed = sorted(r for r in asked if "/" in r and r not in advertised)
    for name in placed:
        del asked[name]
    if placed and say:
        ctx.notes.append(
            f"{', '.join(placed)}: placed by HAMi's scheduler, not listed by nodes: not checked"
        )


def resources_path(pod: Pod, asked: dict[str, Decimal]) -> Path_:
    """The rendered field of the largest extended resource the server asks for (the GPUs),
    else its resources."""
    server = pod.server
    if server is None:
        return (*pod.path, "resources")
    limits = server.resources("limits")
    for name in extended(asked):
        if name in limits:
            return (*server.path, "resources", "limits", name)
    return (*server.path, "resources")


@check("cluster", CHECK_NODES)
def nodes(ctx: Context) -> Iterator[Finding]:
    """Some node (a set of nodes for every replica) can take the pods now."""
    all_nodes = ctx.cluster.nodes()
    advertised = {r for n in all_nodes for r in (get(n, ("status", "allocatable")) or {})}
    own = own_pods(ctx)
    if own:
        ctx.notes.append(
            f"the release runs {len(own)} pods now: what they hold is counted as free (an "
            "upgrade replaces them)"
        )
    for pod in ctx.release.server_pods:
        if pod.role == "worker":
            continue  # a group's pods are counted by its leader's template
        size = pod.group_size
        count = ctx.release.least_replicas(pod.obj)
        asked = requests(pod.spec)
        placed_by_hami(ctx, asked, advertised)
        fits = [fit(ctx, n, pod.spec, asked, leave_out=own) for n in all_nodes]
        able = [f for f in fits if f.reason is None]
        gpus = extended(asked)
        free = {r: sum((f.free.get(r, Decimal(0)) for f in able), Decimal(0)) for r in gpus}
        group = f" (a group of {size} pods)" if size > 1 else ""
        summary = ", ".join(f"{r} {shown(r, v)}" for r, v in free.items())
        ctx.notes.append(
            f"{len(able)} of {len(all_nodes)} nodes can take a pod{group} now; free on "
            f"them: {summary or 'no extended resources asked'}"
        )
        wanted = size * count
        room = sum(f.pods for f in able)
        if room >= wanted:
            continue
        placed = [f for f in fits if f.reason is None or f.reason.startswith("resources")]
        if not placed:
            reasons = sorted({f.reason or "" for f in fits})
            yield Finding(
                pod.obj,
                (*pod.path, "nodeSelector"),
                f"no node matches the pod's node selector, affinity and tolerations "
                f"({len(all_nodes)} nodes; refused for: {', '.join(reasons) or 'no nodes'}): "
                "the pods would stay Pending",
                CHECK_NODES,
                key=True,
                also=(
                    (*pod.path, "affinity"),
                    (*pod.path, "tolerations"),
                    resources_path(pod, asked),
                ),
            )
            continue
        need = ", ".join(f"{r} {shown(r, v)}" for r, v in asked.items() if v > 0)
        who = f"a group of {size} pods" if size > 1 else "one pod"
        if wanted > size:
            who = f"{count} replicas of {who} ({wanted} pods)"
        where = "; ".join(
            f"{f.name}: "
            + (", ".join(f"{r} {shown(r, f.free.get(r, Decimal(0)))}" for r in gpus) or "-")
            for f in placed[:5]
        )
        room_said = f"room for {room} of them" if room else "room for none"
        # The GPU resources' names are values themselves (gpu.resourceName, vGPU names): the
        # keys that size them are named here, the first the file sets.
        sizes = (("vgpu", "memoryMiB"),) if ctx.value(("vgpu", "enabled")) else ()
        yield Finding(
            pod.obj,
            resources_path(pod, asked),
            f"{len(placed)} nodes match the pod's scheduling rules, and they have {room_said}: "
            f"{who} need {need} each (free on them: {where}): the pods would stay Pending",
            CHECK_NODES,
            key=True,
            values=ctx.at(*sizes, ("gpu", "count"), ("resources",)) if gpus else None,
        )
