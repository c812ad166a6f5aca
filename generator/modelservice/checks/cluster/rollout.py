"""The rollout an upgrade starts: whether the new pods a rolling update starts before any old
one stops (its surge) have room on the nodes, beside every pod running now, the release's own
included (they keep what they hold until their replacements are Ready)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from ...core.rules import rule
from ...core.tree import get
from ...release import fenceposts, replicas
from ..context import Finding, check
from . import namespace_exists
from .nodes import extended, fit, placed_by_hami, requests, shown
from .upgrade import subset_difference

if TYPE_CHECKING:
    from ..context import Context

CHECK_ROLLOUT_SURGE = rule(
    "check-rollout-surge",
    "warning",
    "cluster",
    "The release is installed, the upgrade changes its pods, and its Deployment rolls them with "
    "a surge (maxSurge above 0: Kubernetes' default is 25%, at least one pod) while no pod may "
    "stop first (maxUnavailable 0 at its replicas), and no node has room for one more pod "
    "beside the pods running now (GPU limits, CPU and memory requests; the release's own pods "
    "keep theirs until their replacements are Ready). The new pod stays Pending (the "
    "scheduler: `Insufficient nvidia.com/gpu`), the old pods keep serving, and `helm upgrade "
    "--wait` fails when its --timeout runs out (Helm 3: `UPGRADE FAILED: context deadline "
    "exceeded`; Helm 4: `resource Deployment/NS/NAME not ready. status: InProgress, message: "
    "Updated: 1/2`). Leave `strategy` empty (the chart's default for GPU pods: maxSurge 0, "
    "maxUnavailable 1, one replica down at a time), set maxSurge 0 with maxUnavailable 1, or "
    "type Recreate (every replica down for one start), or free room for the surge first.",
)


@check("cluster", CHECK_ROLLOUT_SURGE)
def rollout_surge(ctx: Context) -> Iterator[Finding]:
    """The surge of the upgrade's rollout fits on the nodes beside the pods running now."""
    if not namespace_exists(ctx):
        return
    all_nodes = ctx.cluster.nodes()
    advertised = {r for n in all_nodes for r in (get(n, ("status", "allocatable")) or {})}
    for pod in ctx.release.server_pods:
        if pod.kind != "Deployment":
            continue  # a StatefulSet and a LeaderWorkerSet of the chart never surge
        name = pod.name
        live = ctx.cluster.deployment(ctx.namespace, name)
        if live is None:
            continue
        count = replicas(live)
        count = count if count is not None else ctx.release.least_replicas(pod.obj)
        posts = fenceposts(pod.obj, count)
        if posts is None or posts.surge == 0:
            continue
        template = ("spec", "template")
        if not subset_difference(get(pod.obj, template), get(live, template)):
            ctx.notes.append(
                f"rollout: the upgrade changes no pod of Deployment {name}; a later rollout "
                f"starts {posts.surge} surge pods beside the pods running now"
            )
            continue
        asked = requests(pod.spec)
        placed_by_hami(ctx, asked, advertised, say=False)
        # The release's own pods are not left out: they keep what they hold while the surge
        # pods start.
        fits = [fit(ctx, n, pod.spec, asked) for n in all_nodes]
        able = [f for f in fits if f.reason is None]
        placed = [f for f in fits if f.reason is None or f.reason.startswith("resources")]
        if not placed:
            continue  # no node matches the pods' scheduling rules: check-nodes says so
        room = sum(f.pods for f in able)
        pods = f"{posts.surge} new pods start" if posts.surge > 1 else "a new pod starts"
        if room >= posts.surge:
            ctx.notes.append(
                f"rollout: room for the {posts.surge} surge pods of Deployment {name} beside "
                "the pods running now"
            )
            continue
        if room or posts.unavailable:
            waits = (
                f"room for {room} of its {posts.surge} surge pods"
                if room
                else f"no room for a surge pod: each waits for one of the {posts.unavailable} "
                "old pods that may stop first"
            )
            ctx.notes.append(f"rollout of Deployment {name}: {waits}; it completes, slower")
            continue
        need = ", ".join(f"{r} {shown(r, v)}" for r, v in asked.items() if v > 0)
        short = sorted({r for f in placed for r in f.short})
        devices = extended(asked) or list(asked)
        where = "; ".join(
            f"{f.name}: " + ", ".join(f"{r} {shown(r, f.free.get(r, Decimal(0)))}" for r in devices)
            for f in placed[:5]
        )
        insufficient = ", ".join(f"Insufficient {r}" for r in short)
        fix = (
            "Leave strategy empty (the chart's default for GPU pods: maxSurge 0, "
            "maxUnavailable 1), "
            if extended(asked)
            else ""
        )
        yield Finding(
            pod.obj,
            ("spec", "strategy"),
            f"the upgrade rolls the {count} pods of Deployment {name} with maxSurge "
            f"{posts.max_surge} and maxUnavailable {posts.max_unavailable}: {pods} asking for "
            f"{need} before any old one stops, and no node has room for one beside the pods "
            f"running now (free on the {len(placed)} nodes that match the pods' scheduling "
            f"rules: {where}). The new pod will stay Pending (the scheduler: {insufficient}), "
            "the old pods keep serving, and `helm upgrade --wait` fails when its --timeout runs "
            'out (Helm 3: "UPGRADE FAILED: context deadline exceeded"; Helm 4: "resource '
            f"Deployment/{ctx.namespace}/{name} not ready. status: InProgress, message: "
            f'Updated: {posts.surge}/{count}"). {fix}set rollingUpdate.maxSurge: 0 with '
            "maxUnavailable: 1 (one replica down at a time), or type: Recreate (every replica "
            "down for one start), or free room for the surge first",
            CHECK_ROLLOUT_SURGE,
            key=True,
        )
