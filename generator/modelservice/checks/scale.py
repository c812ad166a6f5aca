"""Scale: autoscaling that can act (bounds, scale to zero, triggers KEDA accepts, metrics vLLM
exports) and multi-node groups whose parallel sizes fill their GPUs."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from ..core.paths import schemas_dir
from ..core.problem import Problem, shown
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
AUTOSCALING_KEDA_AUTH_INCOMPLETE = rule(
    "autoscaling-keda-auth-incomplete",
    "error",
    "release",
    "autoscaling.keda.authenticationRef without authModes (KEDA's Prometheus scaler reads a "
    "TriggerAuthentication only for the modes the trigger names: it would query Prometheus "
    "unauthenticated), or authModes without an authenticationRef (KEDA refuses the trigger "
    "without the credentials). Set both. The chart refuses it too.",
)
AUTOSCALING_KEDA_WITHOUT_SERVICE_MONITOR = rule(
    "autoscaling-keda-without-service-monitor",
    "error",
    "release",
    "`engine: keda` with the chart's query and metrics.serviceMonitor disabled: the query "
    "selects vLLM's series by the `service` label, which the Prometheus Operator adds only to "
    "what it scrapes through the ServiceMonitor, so it finds nothing and nothing ever scales. "
    "Enable the ServiceMonitor, or write autoscaling.keda.query in your Prometheus' labels. "
    "The chart refuses it too.",
)
AUTOSCALING_KV_TARGET_NOT_A_FRACTION = rule(
    "autoscaling-kv-target-not-a-fraction",
    "error",
    "release",
    "autoscaling.target above 1 with metric kvCacheUsage: vLLM reports "
    "`vllm:kv_cache_usage_perc` as a fraction from 0 to 1 (despite its name), so a target of "
    "50 is never reached and no replica is ever added. The message gives the fraction "
    "(50 -> 0.5). The chart refuses it too.",
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
    "release",
    "KEDA scale to zero (minReplicas 0 or keda.idleReplicaCount 0) with no trigger that can "
    "wake the service: at zero no vLLM pod reports a metric, so the chart's trigger, a "
    "trigger whose query reads only `vllm:` metrics, and a `cpu` or `memory` trigger (the "
    "pods' own usage) stay silent, and a trigger KEDA cannot build (an unknown type, a "
    "required metadata field such as `threshold` missing) never runs. Add a trigger that sees "
    "requests before they reach vLLM (the ingress's or gateway's request rate, a cron "
    "schedule) to keda.extraTriggers.",
)
AUTOSCALING_TRIGGER_UNKNOWN_TYPE = rule(
    "autoscaling-trigger-unknown-type",
    "error",
    "release",
    "A trigger of the rendered ScaledObject whose `type` names no scaler of the KEDA release "
    "the chart's CRD comes from (schemas/keda/, read from KEDA's own scaler builder), with the "
    "closest one: KEDA refuses to build the ScaledObject's scalers, and nothing scales.",
)
AUTOSCALING_TRIGGER_MISSING_METADATA = rule(
    "autoscaling-trigger-missing-metadata",
    "error",
    "release",
    "A trigger without a metadata field its KEDA scaler requires (a prometheus trigger "
    "without `threshold` or `query`, a cron trigger without `timezone`; the required fields "
    "are read from the typed metadata of KEDA's own scalers into schemas/keda/): KEDA refuses "
    "to build the scaler, and nothing scales.",
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
AUTOSCALING_KEDA_HTTP_WITHOUT_KEDA = rule(
    "autoscaling-keda-http-without-keda",
    "error",
    "values",
    "autoscaling.keda.http.enabled without `autoscaling.enabled: true` and `engine: keda`: "
    "the chart renders the HTTPScaledObject only for KEDA autoscaling, so nothing would hold "
    "requests or scale the service. Enable KEDA autoscaling, or drop keda.http.",
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

MULTI_NODE_PORT_CONFLICT = rule(
    "multi-node-port-conflict",
    "error",
    "release",
    "With multiNode, a port the group's leader binds twice: multiNode.masterPort (the mp "
    "backend's rendezvous) or multiNode.ray.port (the Ray head) equal to engine.port, or "
    "engine.port 10001 with the Ray backend (the Ray client server's port): the second "
    "process fails to bind it and the group never serves. Give one of them another port. "
    "The chart refuses it too.",
)


@check(
    "values",
    AUTOSCALING_MIN_ABOVE_MAX,
    AUTOSCALING_HPA_MIN_ZERO,
    AUTOSCALING_IDLE_NOT_BELOW_MIN,
    AUTOSCALING_KEDA_HTTP_WITHOUT_KEDA,
    phase="rules",
)
def autoscaling(ctx: Context) -> list[Problem]:
    """Replica bounds and scale to zero."""
    http = bool(ctx.value(("autoscaling", "keda", "http", "enabled")))
    enabled = bool(ctx.value(("autoscaling", "enabled")))
    if http and (not enabled or ctx.value(("autoscaling", "engine")) != "keda"):
        missing = (
            "autoscaling.enabled is false"
            if not enabled
            else f"autoscaling.engine is {ctx.value(('autoscaling', 'engine'))}"
        )
        return [
            ctx.problem(
                ("autoscaling", "keda", "http", "enabled"),
                f"keda.http.enabled renders an HTTPScaledObject only with KEDA autoscaling, and "
                f"{missing}: nothing would hold requests or scale the service; set "
                "autoscaling.enabled: true and autoscaling.engine: keda, or drop keda.http",
                AUTOSCALING_KEDA_HTTP_WITHOUT_KEDA,
            )
        ]
    if not enabled:
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


@cache
def keda_triggers() -> dict[str, Any] | None:
    """The trigger types of the KEDA release the ScaledObject CRD comes from, each with the
    metadata its scaler requires (schemas/keda/, by tools/extract_keda_triggers.py)."""
    import json

    found = sorted((schemas_dir() / "keda").glob("*-triggers.json"))
    if not found:
        return None
    data = json.loads(found[-1].read_text(encoding="utf-8"))
    triggers: dict[str, Any] = data["triggers"]
    return triggers


def missing_metadata(trigger: dict[str, Any]) -> list[str]:
    """The metadata fields KEDA's scaler of the trigger's type requires and it lacks."""
    known = (keda_triggers() or {}).get(str(trigger.get("type")))
    metadata = trigger.get("metadata")
    if known is None or not isinstance(metadata, dict):
        return []
    return [
        " or ".join(names)
        for names in known.get("requiredMetadata") or []
        if not any(metadata.get(n) not in (None, "") for n in names)
    ]


#: PromQL words that are not metric names.
_PROMQL_WORDS = frozenset(
    "by without on ignoring group_left group_right bool and or unless offset inf nan".split()
)
_PROMQL_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def promql_metrics(query: str) -> set[str]:
    """The metric names a PromQL query reads (label matchers, grouping labels, strings,
    durations and functions left out)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', "", query)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    return {
        name
        for name in _PROMQL_NAME.findall(text)
        if name.lower() not in _PROMQL_WORDS and not re.fullmatch(r"[0-9_]+", name)
    }


def _cannot_wake(trigger: dict[str, Any]) -> str | None:
    """Why a trigger cannot bring a service back from zero replicas, or None if it can."""
    kind = trigger.get("type")
    if not isinstance(kind, str):
        return None  # KEDA's own schema refuses it, with its line (the CRD's check)
    known = keda_triggers()
    if known is not None and kind not in known:
        return f"its type {kind!r} is no KEDA scaler"
    if kind in ("cpu", "memory"):
        return f"a {kind} trigger reads the pods' own usage, and at zero there is no pod"
    missing = missing_metadata(trigger)
    if missing:
        return f"KEDA cannot build it without metadata.{missing[0]}"
    query = get(trigger, ("metadata", "query"))
    if kind == "prometheus" and isinstance(query, str):
        names = promql_metrics(query)
        if names and all(n.startswith("vllm:") for n in names):
            return (
                f"its query reads only vLLM's own metrics ({', '.join(sorted(names))}), which "
                "no pod reports at zero"
            )
    return None


@check("release", AUTOSCALING_ZERO_WITHOUT_WAKE_TRIGGER)
def wake_triggers(ctx: Context) -> Iterator[Finding]:
    """A ScaledObject that scales to zero has a trigger that can scale it up again."""
    for scaler in ctx.release.of_kind("ScaledObject"):
        spec = scaler.get("spec") or {}
        if spec.get("minReplicaCount") == 0:
            field, key = ("spec", "minReplicaCount"), "minReplicas"
        elif spec.get("idleReplicaCount") == 0:
            field, key = ("spec", "idleReplicaCount"), "idleReplicaCount"
        else:
            continue
        triggers = [t for t in spec.get("triggers") or [] if isinstance(t, dict)]
        why = {index: _cannot_wake(t) for index, t in enumerate(triggers)}
        if any(reason is None for reason in why.values()):
            continue
        names, extra = [], 0
        for trigger in triggers:
            if trigger.get("name") == "modelservice":
                names.append("the chart's trigger")
            else:
                names.append(f"extraTriggers[{extra}]")
                extra += 1
        silent = "; ".join(f"{names[i]}: {why[i]}" for i in range(len(triggers)))
        yield Finding(
            scaler,
            field,
            f"{key} 0 scales the service to zero, and no trigger can bring it back ({silent}): "
            "the service would stay at zero for good. Add a trigger that sees requests before "
            "they reach vLLM (your ingress's or gateway's request rate, or a cron schedule) to "
            "autoscaling.keda.extraTriggers, or set minReplicas to 1",
            AUTOSCALING_ZERO_WITHOUT_WAKE_TRIGGER,
            key=True,
        )


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


@check(
    "release",
    AUTOSCALING_TRIGGER_INVALID,
    AUTOSCALING_TRIGGER_UNKNOWN_TYPE,
    AUTOSCALING_TRIGGER_MISSING_METADATA,
)
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
    known = keda_triggers()
    for scaler in scalers:
        for index, trigger in enumerate(get(scaler, ("spec", "triggers")) or []):
            base = ("spec", "triggers", index)
            refused = False
            for error in sorted(validator.iter_errors(trigger), key=lambda e: list(e.path)):
                refused = True
                if error.validator == "required":
                    what = f"a KEDA trigger needs {error.message.split()[0]}"
                elif error.validator == "type":
                    wanted = error.validator_value
                    types = " or ".join(wanted) if isinstance(wanted, list) else str(wanted)
                    what = f"{shown(error.instance)} is not of type {types}"
                    what += " (KEDA's ScaledObject schema)"
                else:
                    what = f"{error.message} (KEDA's ScaledObject schema)"
                if error.validator == "type" and error.path and error.path[0] == "metadata":
                    what += ': write every metadata value as a string, e.g. threshold: "5"'
                yield Finding(scaler, (*base, *error.path), what, AUTOSCALING_TRIGGER_INVALID)
            for where, name, fields in _unknown_fields(trigger, schema, base):
                refused = True
                near = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
                hint = f" (did you mean `{near[0]}`?)" if near else ""
                yield Finding(
                    scaler,
                    where,
                    f"`{name}` is not a field of a KEDA trigger here{hint}: the API server "
                    "refuses unknown fields",
                    AUTOSCALING_TRIGGER_INVALID,
                    key=True,
                )
            if refused or known is None or not isinstance(trigger, dict):
                continue  # the API server refuses it first: said above
            kind = str(trigger.get("type"))
            if kind not in known:
                near = difflib.get_close_matches(kind, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                yield Finding(
                    scaler,
                    (*base, "type"),
                    f"{kind!r} is not a trigger type KEDA knows{hint}: KEDA refuses to build "
                    "the ScaledObject's scalers, and nothing scales",
                    AUTOSCALING_TRIGGER_UNKNOWN_TYPE,
                )
                continue
            for missing in missing_metadata(trigger):
                yield Finding(
                    scaler,
                    (*base, "metadata"),
                    f"KEDA's {kind} scaler requires metadata.{missing}, and this trigger has "
                    "none: KEDA refuses to build it, and nothing scales",
                    AUTOSCALING_TRIGGER_MISSING_METADATA,
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
