"""The cluster stage (``modelservice check``): will this release install, and its pods start,
on the cluster of the current kubeconfig?

Each check reads the cluster read-only (``ctx.cluster``, :mod:`modelservice.preflight.cluster`)
and the rendered release through its one reader, and reports findings on rendered objects, led
back to the values lines by the chart's values map like every other stage. Here: the
namespace (checked first; what lives in it is judged only when it exists); ``objects``: the
Secrets, claims, classes and CRDs the release needs; ``nodes``: whether nodes can take the
pods; ``upgrade``: what an upgrade of an installed release cannot change; ``rollout``: whether
the surge of the upgrade's rolling update has room beside the pods running now;
``metrics_api``: whether the metrics APIs the autoscaler reads are served; ``features``: the
table of Kubernetes features gated above the chart's floor, and the check of each against the
cluster's release.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...core.problem import Problem
from ...core.rules import rule
from ..context import check

if TYPE_CHECKING:
    from ..context import Context

CHECK_NAMESPACE = rule(
    "check-namespace",
    "error",
    "cluster",
    "The release's namespace does not exist: create it, or pass --namespace.",
)


def namespace_exists(ctx: Context) -> bool:
    """Whether the release's namespace exists (what lives in it is judged only then)."""
    return ctx.cluster.namespace(ctx.namespace) is not None


@check("cluster", CHECK_NAMESPACE)
def namespace(ctx: Context) -> Iterator[Problem]:
    if not namespace_exists(ctx):
        yield ctx.problem(
            (),
            f"the namespace {ctx.namespace!r} does not exist on {ctx.cluster.server}: create "
            f"it (kubectl create namespace {ctx.namespace}) or pass --namespace",
            CHECK_NAMESPACE,
        )
