"""The metrics APIs an autoscaler asks: whether the cluster serves them.

The HorizontalPodAutoscaler controller reads each metric of an HPA from an aggregated API:
a Pods or Object metric from ``custom.metrics.k8s.io`` (a metrics adapter such as Prometheus
Adapter), an External one from ``external.metrics.k8s.io`` (an adapter, or KEDA's metrics API
server, which serves the HPA KEDA makes of a ScaledObject), a Resource one from
``metrics.k8s.io`` (metrics-server). An API is served when an APIService of its group is
registered and Available; ``GET /apis/<group>`` answers for a registered group whether it is
Available or not, so the APIServices themselves are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.rules import rule
from ...core.tree import Path_, get
from ..context import Finding, check

if TYPE_CHECKING:
    from ..context import Context

CHECK_METRICS_API = rule(
    "check-metrics-api",
    "warning",
    "cluster",
    "The release's autoscaler reads a metric from an API the cluster does not serve: a Pods "
    "metric needs custom.metrics.k8s.io, an External one (and every ScaledObject, through the "
    "HPA KEDA makes of it) external.metrics.k8s.io; no APIService of that group is registered, "
    "or none is Available. The HPA then shows the condition ScalingActive=False with reason "
    "FailedGetPodsMetric (FailedGetExternalMetric) and keeps the replicas where they are. "
    "Install the adapter that serves the metric (Prometheus Adapter with a rule for vLLM's "
    "metric; KEDA's metrics API server for KEDA), or fix the one whose APIService is not "
    "Available (the message gives its condition).",
)


@dataclass(frozen=True)
class MetricSource:
    """What an HPA metric type needs: the API group that serves it, the reason the HPA
    controller gives when it cannot read it, and who usually serves it."""

    group: str
    reason: str
    served_by: str


#: Metric type of an HPA -> what reading it needs (the reasons are the HPA controller's).
SOURCES = {
    "Pods": MetricSource(
        "custom.metrics.k8s.io",
        "FailedGetPodsMetric",
        "a custom metrics adapter (Prometheus Adapter)",
    ),
    "Object": MetricSource(
        "custom.metrics.k8s.io",
        "FailedGetObjectMetric",
        "a custom metrics adapter (Prometheus Adapter)",
    ),
    "External": MetricSource(
        "external.metrics.k8s.io",
        "FailedGetExternalMetric",
        "an external metrics adapter (Prometheus Adapter, KEDA's metrics API server)",
    ),
    "Resource": MetricSource("metrics.k8s.io", "FailedGetResourceMetric", "metrics-server"),
    "ContainerResource": MetricSource(
        "metrics.k8s.io", "FailedGetContainerResourceMetric", "metrics-server"
    ),
}
#: A ScaledObject's triggers reach the HPA KEDA makes of it as External metrics, served by
#: KEDA's own metrics API server.
KEDA = MetricSource(
    "external.metrics.k8s.io", "FailedGetExternalMetric", "KEDA's metrics API server"
)


def _available(service: dict[str, Any]) -> dict[str, Any] | None:
    conditions = get(service, ("status", "conditions")) or []
    return next((c for c in conditions if c.get("type") == "Available"), None)


def served(ctx: Context, group: str) -> tuple[bool, str]:
    """Whether an Available APIService serves ``group``, and what the cluster shows of it."""
    services = [s for s in ctx.cluster.api_services() if get(s, ("spec", "group")) == group]
    if not services:
        return False, f"no APIService of {group} is registered"
    said = []
    for service in services:
        name = get(service, ("metadata", "name"))
        condition = _available(service) or {}
        if condition.get("status") == "True":
            backend = get(service, ("spec", "service"))
            by = f" by service {backend.get('namespace')}/{backend.get('name')}" if backend else ""
            return True, f"{group} is served{by} (APIService {name} Available)"
        reason = condition.get("reason") or "no condition yet"
        message = condition.get("message") or ""
        said.append(
            f"APIService {name} is not Available ({reason}{': ' if message else ''}{message})"
        )
    return False, "; ".join(said)


#: The values keys that choose the metric, the first the file sets reported.
_HPA_KEYS = (
    ("autoscaling", "hpa", "metricType"),
    ("autoscaling", "engine"),
    ("autoscaling", "enabled"),
)
_KEDA_KEYS = (("autoscaling", "engine"), ("autoscaling", "enabled"))
Need = tuple[dict[str, Any], Path_, str, MetricSource, tuple[Path_, ...]]


def _needs(ctx: Context) -> Iterator[Need]:
    """(object, path, what, source, values keys) of every metric an autoscaler of the release
    reads."""
    for hpa in ctx.release.of_kind("HorizontalPodAutoscaler"):
        for index, metric in enumerate(get(hpa, ("spec", "metrics")) or []):
            kind = str(metric.get("type") or "")
            source = SOURCES.get(kind)
            if source is not None:
                name = get(metric, (kind[0].lower() + kind[1:], "metric", "name"))
                what = f"its {kind} metric" + (f" {name}" if name else "")
                yield hpa, ("spec", "metrics", index, "type"), what, source, _HPA_KEYS
    for scaled in ctx.release.of_kind("ScaledObject"):
        name = get(scaled, ("metadata", "name"))
        what = f"the HPA KEDA makes of it (keda-hpa-{name}), from its triggers"
        yield scaled, ("spec", "triggers"), what, KEDA, _KEDA_KEYS


@check("cluster", CHECK_METRICS_API)
def metrics_api(ctx: Context) -> Iterator[Finding]:
    """The metrics API each autoscaler metric needs is served."""
    said: set[tuple[int, str]] = set()
    for obj, path, what, source, keys in _needs(ctx):
        if (id(obj), source.group) in said:
            continue
        said.add((id(obj), source.group))
        ok, state = served(ctx, source.group)
        if ok:
            ctx.notes.append(f"metrics: {state}")
            continue
        kind = obj.get("kind")
        name = get(obj, ("metadata", "name"))
        yield Finding(
            obj,
            path,
            f"the {kind} {name} reads {what} from {source.group}, which the cluster does not "
            f"serve ({state}): the HPA will show ScalingActive=False with reason "
            f"{source.reason} and keep the replicas where they are. Install {source.served_by} "
            f"serving {source.group} first"
            + (", or make its APIService Available" if "registered" not in state else ""),
            CHECK_METRICS_API,
            key=True,
            values=ctx.at(*keys),
        )
