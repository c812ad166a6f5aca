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
from ...core.tree import dotted, get
from ..context import Finding, check

if TYPE_CHECKING:
    from ..context import Context

CHECK_NAMESPACE = rule(
    "check-namespace",
    "error",
    "cluster",
    "A namespace the release renders into does not exist: the release's own (create it, or "
    "pass --namespace), or the namespace of another rendered object, such as a Grafana "
    "dashboard ConfigMap in `monitoring` (metrics.dashboard.namespace) or the ServiceMonitor's "
    "and PrometheusRule's: `helm install` fails on it. Create it, or point the key at one that "
    "exists.",
)


def namespace_exists(ctx: Context) -> bool:
    """Whether the release's namespace exists (what lives in it is judged only then)."""
    return ctx.cluster.namespace(ctx.namespace) is not None


@check("cluster", CHECK_NAMESPACE)
def namespace(ctx: Context) -> Iterator[Problem | Finding]:
    """The release's namespace, and that of every rendered object, exists."""
    if not namespace_exists(ctx):
        yield ctx.problem(
            (),
            f"the namespace {ctx.namespace!r} does not exist on {ctx.cluster.server}: create "
            f"it (kubectl create namespace {ctx.namespace}) or pass --namespace",
            CHECK_NAMESPACE,
        )
    said = {ctx.namespace}
    for obj in ctx.release.objects:
        other = get(obj, ("metadata", "namespace"))
        if not isinstance(other, str) or not other or other in said:
            continue
        said.add(other)
        if ctx.cluster.namespace(other) is None:
            yield Finding(
                obj,
                ("metadata", "namespace"),
                f"{obj.get('kind')} {get(obj, ('metadata', 'name'))} goes into namespace "
                f"{other!r}, which does not exist on {ctx.cluster.server}: `helm install` "
                f"would fail; create it (kubectl create namespace {other}) or set "
                f"{dotted(ctx.values_path(obj, ('metadata', 'namespace')))} to one that exists",
                CHECK_NAMESPACE,
            )
