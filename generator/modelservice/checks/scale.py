"""Scale: autoscaling that can act (bounds, scale to zero, triggers KEDA accepts, metrics vLLM
exports) and multi-node groups whose parallel sizes fill their GPUs."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from ..core.paths import schemas_dir
from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import Path_, get
from ..vllm.metrics import VLLM_METRIC, vllm_series
from .context import Finding, check

if TYPE_CHECKING:
    from .context import Context

AUTOSCALING_MIN_ABOVE_MAX = rule(
    "autoscaling-min-above-max",
    "error",
    "values",
    "autoscaling.minReplicas above maxReplicas: the autoscaler refuses it.",
)
AUTOSCALING_HPA_MIN_ZERO = rule(
    "autoscaling-hpa-min-zero",
    "error",
    "values",
    "`engine: hpa` with minReplicas 0: a HorizontalPodAutoscaler cannot scale to zero (it "
    "needs the alpha HPAScaleToZero feature gate); use engine: keda for scale to zero.",
)
AUTOSCALING_KEDA_WITHOUT_PROMETHEUS = rule(
    "autoscaling-keda-without-prometheus",
    "error",
    "release",
    "`engine: keda` without keda.serverAddress: the KEDA trigger reads vLLM's metrics from "
    "Prometheus, so name the Prometheus that scrapes the pods. The chart refuses it too.",
)
AUTOSCALING_IDLE_NOT_BELOW_MIN = rule(
    "autoscaling-idle-not-below-min",
    "error",
    "values",
    "keda.idleReplicaCount not below minReplicas: KEDA refuses the ScaledObject.",
)
AUTOSCALING_ZERO_WITHOUT_WAKE_TRIGGER = rule(
    "autoscaling-zero-without-wake-trigger",
    "error",
    "values",
    "KEDA scale to zero (minReplicas 0 or keda.idleReplicaCount 0) with no keda.extraTriggers: "
    "at zero no vLLM pod reports a metric, so nothing would scale the service up again. Add a "
    "trigger that sees requests before they reach vLLM (the ingress's or gateway's request "
    "rate, a cron schedule).",
)
AUTOSCALING_TRIGGER_INVALID = rule(
    "autoscaling-trigger-invalid",
    "error",
    "release",
    "A trigger of the rendered ScaledObject (an autoscaling.keda.extraTriggers item) that "
    "KEDA's own CRD schema refuses: a missing `type`, a metadata value that is not a string, an "
    "unknown field. The API server refuses it the same way.",
)
AUTOSCALING_UNKNOWN_METRIC = rule(
    "autoscaling-unknown-metric",
    "error",
    "release",
    "A `vllm:` metric in a rendered trigger query or HPA metric that the vLLM release of the "
    "image does not export (with the closest one): the query finds no series and the "
    "autoscaler never moves.",
)
MULTI_NODE_PARALLEL_MISMATCH = rule(
    "multi-node-parallel-mismatch",
    "error",
    "release",
    "With multiNode, the GPUs the leader's parallel sizes need (tensor x pipeline x "
    "prefill-context, times data parallel) differ from the GPUs of a group (multiNode.nodes x "
    "gpu.count): vLLM would wait for ranks that never come, or leave GPUs idle. The message "
    "gives the sizes that fit.",
)


@check(
    "values",
    AUTOSCALING_MIN_ABOVE_MAX,
    AUTOSCALING_HPA_MIN_ZERO,
    AUTOSCALING_IDLE_NOT_BELOW_MIN,
    AUTOSCALING_ZERO_WITHOUT_WAKE_TRIGGER,
    phase="rules",
)
def autoscaling(ctx: Context) -> list[Problem]:
    """Replica bounds and scale to zero."""
    if not ctx.value(("autoscaling", "enabled")):
        return []
    problems: list[Problem] = []
    low = int(ctx.value(("autoscaling", "minReplicas")) or 0)
    high = int(ctx.value(("autoscaling", "maxReplicas")) or 0)
    engine = ctx.value(("autoscaling", "engine"))
    if low > high:
        problems.append(
            ctx.problem(
                ctx.at(("autoscaling", "minReplicas"), ("autoscaling", "maxReplicas")),
                f"minReplicas {low} is above maxReplicas {high}: the autoscaler refuses it; "
                f"set maxReplicas to at least {low}",
                AUTOSCALING_MIN_ABOVE_MAX,
            )
        )
    if low == 0 and engine == "hpa":
        problems.append(
            ctx.problem(
                ctx.at(("autoscaling", "minReplicas"), ("autoscaling", "engine")),
                "a HorizontalPodAutoscaler cannot scale to zero (minReplicas 0 needs the "
                "HPAScaleToZero feature gate, alpha): set minReplicas to 1, or use engine: "
                "keda for scale to zero",
                AUTOSCALING_HPA_MIN_ZERO,
            )
        )
    idle = ctx.value(("autoscaling", "keda", "idleReplicaCount"))
    if engine == "keda" and isinstance(idle, int) and idle >= low:
        problems.append(
            ctx.problem(
                ("autoscaling", "keda", "idleReplicaCount"),
                f"idleReplicaCount {idle} must be below minReplicas {low} (KEDA refuses the "
                "ScaledObject otherwise): with minReplicas 0 the service already scales to "
                "zero, drop idleReplicaCount; or raise minReplicas",
                AUTOSCALING_IDLE_NOT_BELOW_MIN,
            )
        )
    triggers = ctx.value(("autoscaling", "keda", "extraTriggers")) or []
    zero = low == 0 or (isinstance(idle, int) and idle == 0)
    if zero and engine == "keda" and not triggers:
        which: Path_ = (
            ("autoscaling", "minReplicas")
            if low == 0
            else ("autoscaling", "keda", "idleReplicaCount")
        )
        problems.append(
            ctx.problem(
                which,
                f"{which[-1]} 0 scales the service to zero, and then no vLLM pod reports the "
                "metric that would bring it back: the service would stay at zero for good. "
                "Add a trigger that sees requests before they reach vLLM (your ingress's or "
                "gateway's request rate, or a cron schedule) to autoscaling.keda.extraTriggers, "
                "or set minReplicas to 1",
                AUTOSCALING_ZERO_WITHOUT_WAKE_TRIGGER,
            )
        )
    return problems


@cache
def keda_trigger_schema() -> dict[str, Any] | None:
    """The schema of one ScaledObject trigger, from KEDA's released CRD
    (schemas/crds/keda.sh_scaledobjects.yaml, committed by tools/extract_crds.py)."""
    from ..core.data import read_yaml

    path = schemas_dir() / "crds" / "keda.sh_scaledobjects.yaml"
    if not path.is_file():
        return None
    crd = read_yaml(path)
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    items: dict[str, Any] = spec["properties"]["triggers"]["items"]
    return items


def _unknown_fields(
    value: Any, schema: dict[str, Any], path: Path_
) -> Iterator[tuple[Path_, str, list[str]]]:
    """Keys of ``value`` its structural schema does not list (strict field validation)."""
    known = schema.get("properties")
    if not isinstance(value, dict) or not isinstance(known, dict):
        return
    for key, item in value.items():
        if key not in known:
            yield (*path, key), str(key), sorted(known)
        else:
            yield from _unknown_fields(item, known[key], (*path, key))


@check("release", AUTOSCALING_TRIGGER_INVALID)
def triggers(ctx: Context) -> Iterator[Finding]:
    """Each trigger of the rendered ScaledObject against the trigger schema of KEDA's own CRD
    (the API server checks the same: metadata values are strings, type and metadata are
    required, no unknown field)."""
    scalers = ctx.release.of_kind("ScaledObject")
    schema = keda_trigger_schema() if scalers else None
    if schema is None:
        return
    from jsonschema import Draft7Validator

    validator = Draft7Validator(schema)
    for scaler in scalers:
        for index, trigger in enumerate(get(scaler, ("spec", "triggers")) or []):
            base = ("spec", "triggers", index)
            for error in sorted(validator.iter_errors(trigger), key=lambda e: list(e.path)):
                if error.validator == "required":
                    what = f"a KEDA trigger needs {error.message.split()[0]}"
                else:
                    what = f"{error.message} (KEDA's ScaledObject schema)"
                if error.validator == "type" and error.path and error.path[0] == "metadata":
                    what += ': write every metadata value as a string, e.g. threshold: "5"'
                yield Finding(scaler, (*base, *error.path), what, AUTOSCALING_TRIGGER_INVALID)
            for where, name, known in _unknown_fields(trigger, schema, base):
                near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f" (did you mean `{near[0]}`?)" if near else ""
                yield Finding(
                    scaler,
                    where,
                    f"`{name}` is not a field of a KEDA trigger here{hint}: the API server "
                    "refuses unknown fields",
                    AUTOSCALING_TRIGGER_INVALID,
                    key=True,
                )


def _queries(ctx: Context) -> Iterator[tuple[dict[str, Any], Path_, str]]:
    """(object, path, PromQL or metric name) of every rendered query on vLLM's metrics."""
    for scaler in ctx.release.of_kind("ScaledObject"):
        for index, trigger in enumerate(get(scaler, ("spec", "triggers")) or []):
            query = get(trigger, ("metadata", "query"))
            if isinstance(query, str):
                yield scaler, ("spec", "triggers", index, "metadata", "query"), query
    for hpa in ctx.release.of_kind("HorizontalPodAutoscaler"):
        for index, metric in enumerate(get(hpa, ("spec", "metrics")) or []):
            for source in ("pods", "external", "object"):
                name = get(metric, (source, "metric", "name"))
                if isinstance(name, str):
                    yield hpa, ("spec", "metrics", index, source, "metric", "name"), name


@check("release", AUTOSCALING_UNKNOWN_METRIC)
def metric_names(ctx: Context) -> Iterator[Finding]:
    """Every ``vllm:`` metric a rendered query names is one the image's vLLM exports."""
    queries = list(_queries(ctx))
    if not queries:
        return
    index = ctx.flags[0]
    version = index.version if index is not None else ""
    series = vllm_series(version)
    if series is None:
        return
    for obj, path, text in queries:
        for name in VLLM_METRIC.findall(text):
            if name in series:
                continue
            near = difflib.get_close_matches(name, sorted(series), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]}?)" if near else ""
            yield Finding(
                obj,
                path,
                f"{name} is not a metric vLLM {version} exports{hint}: the query would find no "
                "series and the autoscaler would never move",
                AUTOSCALING_UNKNOWN_METRIC,
            )


@check("release", MULTI_NODE_PARALLEL_MISMATCH)
def group_parallelism(ctx: Context) -> Iterator[Finding]:
    """The GPUs the leader's parallel sizes need = pods per group x GPUs per pod."""
    server = ctx.release.server
    gpus = int(ctx.value(("gpu", "count")) or 0)
    if server is None or server.pod.group_size < 2 or gpus < 1:
        return
    parallel, size = server.parallel, server.pod.group_size
    culprit = parallel.culprit()
    total = size * gpus
    if parallel.gpus == total or culprit is None:
        return
    tensor, data = parallel.tensor, parallel.data
    others = parallel.gpus // tensor
    fixes = []
    if total % (tensor * data * parallel.prefill_context) == 0:
        pipeline = total // (tensor * data * parallel.prefill_context)
        fixes.append(f"--pipeline-parallel-size={pipeline} in engine.args")
    if others and total % others == 0:
        fixes.append(f"engine.tensorParallelSize: {total // others}")
    if parallel.gpus % gpus == 0 and parallel.gpus // gpus >= 2:
        fixes.append(f"multiNode.nodes: {parallel.gpus // gpus}")
    advice = ", or ".join(fixes) if fixes else "make the product equal nodes x gpu.count"
    yield Finding(
        server.obj,
        server.arg_path(culprit.flag_at),
        f"{parallel.product()} needs {parallel.gpus} GPUs, but a group has {size} pods x "
        f"gpu.count {gpus} = {total}: vLLM would wait for ranks that never come or leave GPUs "
        f"idle; set {advice}",
        MULTI_NODE_PARALLEL_MISMATCH,
    )
