"""Reviewer rules of multi-node serving and autoscaling, judged on the rendered release.

- A LeaderWorkerSet group's parallelism: tensor x pipeline (x data) parallel of the leader's
  rendered command line against the GPUs of the whole group (pods x gpu.count).
- A ReadWriteOnce cache claim mounted by every pod of a group (one node can mount it).
- An autoscaler scaling a workload whose cache is a ReadWriteOnce claim (a new replica could
  never mount it).

Each finding goes through rendered_checks' reporter, led back to a values line by the chart's
values map. The rules that need only the values are in :mod:`modelservice.scale_rules`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .rendered_checks import (
    Finding,
    _cache_claim_modes,
    _get,
    containers,
    parallel_factors,
    pod_specs,
)
from .values.loader import has_path, value_at

if TYPE_CHECKING:
    from .validate import Context

Path_ = tuple[str | int, ...]

RWO = ("ReadWriteOnce", "ReadWriteOncePod")
AUTOSCALERS = {"ScaledObject", "HorizontalPodAutoscaler"}


def _groups(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from (o for o in objects if o.get("kind") == "LeaderWorkerSet")


def _leader(obj: dict[str, Any]) -> tuple[Path_, dict[str, Any]] | None:
    for base, spec in pod_specs(obj):
        for where, container in containers(spec, base):
            if container.get("name") == "vllm" and "leaderTemplate" in base:
                return where, container
    return None


def group_parallelism(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """tensor x pipeline (x data) parallel = pods per group x GPUs per pod."""

    for obj in _groups(objects):
        leader = _leader(obj)
        size = _get(obj, ("spec", "leaderWorkerTemplate", "size"))
        gpus = int(value_at(ctx.merged, ("gpu", "count")) or 0)
        if leader is None or not isinstance(size, int) or gpus < 1:
            continue
        where, container = leader
        factors, culprit = parallel_factors(ctx, container, where)
        world = math.prod(factors.values())
        total = size * gpus
        if world == total or culprit is None:
            continue
        product = " x ".join(f"{word}-parallel {value}" for word, value in factors.items())
        tensor = factors.get("tensor", 1)
        others = world // max(1, tensor)
        fixes = []
        if total % (tensor * max(1, factors.get("data", 1))) == 0:
            pipeline = total // (tensor * max(1, factors.get("data", 1)))
            fixes.append(f"--pipeline-parallel-size={pipeline} in engine.args")
        if others and total % others == 0:
            fixes.append(f"engine.tensorParallelSize: {total // others}")
        if world % gpus == 0 and world // gpus >= 2:
            fixes.append(f"multiNode.nodes: {world // gpus}")
        advice = ", or ".join(fixes) if fixes else "make the product equal nodes x gpu.count"
        yield Finding(
            obj,
            culprit,
            f"{product} needs {world} GPUs, but a group has {size} pods x gpu.count {gpus} = "
            f"{total}: vLLM would wait for ranks that never come or leave GPUs idle; set "
            f"{advice}",
            "multi-node-parallel-mismatch",
        )


def _cache_key(ctx: Context, fallback: Path_) -> Path_:
    """Where to report a cache claim problem: the claim keys the file sets, else ``fallback``."""
    for key in (("persistence", "accessModes"), ("persistence", "existingClaim")):
        if has_path(ctx.values, key):
            return key
    return fallback


def _rwo_modes(ctx: Context, objects: list[dict[str, Any]], obj: dict[str, Any]) -> list[str]:
    modes: list[str] = []
    for _, spec in pod_specs(obj):
        modes += [m for m in _cache_claim_modes(ctx, objects, spec) if m in RWO]
    return modes


def group_claims(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """Every pod of a group mounts the cache: a ReadWriteOnce claim reaches one node only."""
    for obj in _groups(objects):
        size = _get(obj, ("spec", "leaderWorkerTemplate", "size"))
        modes = _rwo_modes(ctx, objects, obj)
        if modes and isinstance(size, int) and size > 1:
            yield Finding(
                obj,
                ("spec", "leaderWorkerTemplate", "leaderTemplate", "spec", "volumes"),
                f"the {size} pods of a group, one per node, would share a {modes[0]} cache "
                "claim that only one node can mount: the workers would never start. Use "
                "persistence.perPod: true (a claim per pod) or a ReadWriteMany cache "
                "(persistence.accessModes: [ReadWriteMany], or an existingClaim that is)",
                "rwo-claim-shared-by-group",
                values=_cache_key(ctx, ("multiNode", "enabled")),
            )


def autoscaled_claims(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """An autoscaler adds replicas that must mount the cache too."""
    scaler = next((o for o in objects if o.get("kind") in AUTOSCALERS), None)
    if scaler is None:
        return
    target = _get(scaler, ("spec", "scaleTargetRef")) or {}
    for obj in objects:
        if obj.get("kind") != target.get("kind"):
            continue
        if _get(obj, ("metadata", "name")) != target.get("name"):
            continue
        modes = _rwo_modes(ctx, objects, obj)
        if modes:
            yield Finding(
                obj,
                ("spec",),
                f"autoscaling adds replicas that must mount the {modes[0]} cache claim one node "
                "already holds: they would never start. Use a ReadWriteMany cache "
                "(persistence.accessModes: [ReadWriteMany], or an existingClaim that is), or "
                "with multiNode a claim per pod (persistence.perPod: true)",
                "autoscaling-rwo-cache",
                values=_cache_key(ctx, ("autoscaling", "enabled")),
            )


#: The reviewer rules of this module, in order (run by rendered_checks.rendered_release).
REVIEW_RULES = (group_parallelism, group_claims, autoscaled_claims)
