"""Cross-field rules of multi-node serving and autoscaling, on the merged values.

Each rule has an id, a case in ``tests/cases/invalid/`` and a row in the README's rules
table. What depends on the rendered objects (a group's parallelism, the cache claims the pods
mount) is judged in :mod:`modelservice.scale_checks` instead.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from .core.paths import schemas_dir
from .core.problem import Problem, shown
from .values.loader import has_path, value_at

if TYPE_CHECKING:
    from .validate import Context

#: A vLLM metric name in PromQL (vLLM prefixes every metric it exports with `vllm:`).
VLLM_METRIC = re.compile(r"(?<![\w:])vllm:[a-zA-Z0-9_:]+")


@cache
def vllm_series(version: str) -> frozenset[str] | None:
    """Every series name the vLLM release exports (``_total``, ``_bucket`` ... included), from
    ``schemas/vllm/<version>-metrics.json``, extracted from vLLM's own code."""
    path = schemas_dir() / "vllm" / f"{version}-metrics.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return frozenset(s for metric in data["metrics"].values() for s in metric["series"])


@cache
def keda_trigger_schema() -> dict[str, Any] | None:
    """The schema of one ScaledObject trigger, from KEDA's released CRD
    (schemas/crds/keda.sh_scaledobjects.yaml, committed by tools/extract_crds.py)."""
    import yaml

    path = schemas_dir() / "crds" / "keda.sh_scaledobjects.yaml"
    if not path.is_file():
        return None
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    items: dict[str, Any] = spec["properties"]["triggers"]["items"]
    return items


def _where(ctx: Context, *paths: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The first of ``paths`` the user's file sets, else the first."""
    return next((p for p in paths if has_path(ctx.values, p)), paths[0])


def autoscaling(ctx: Context) -> list[Problem]:
    """Replica bounds, scale to zero, and the metric names of the triggers."""
    from .vllm.flags import pinned_version

    if not value_at(ctx.merged, ("autoscaling", "enabled")):
        return []
    problems: list[Problem] = []
    low = int(value_at(ctx.merged, ("autoscaling", "minReplicas")) or 0)
    high = int(value_at(ctx.merged, ("autoscaling", "maxReplicas")) or 0)
    engine = value_at(ctx.merged, ("autoscaling", "engine"))
    if low > high:
        problems.append(
            ctx.problem(
                _where(ctx, ("autoscaling", "minReplicas"), ("autoscaling", "maxReplicas")),
                f"minReplicas {low} is above maxReplicas {high}: the autoscaler refuses it; "
                f"set maxReplicas to at least {low}",
                "autoscaling-min-above-max",
            )
        )
    if low == 0 and engine == "hpa":
        problems.append(
            ctx.problem(
                _where(ctx, ("autoscaling", "minReplicas"), ("autoscaling", "engine")),
                "a HorizontalPodAutoscaler cannot scale to zero (minReplicas 0 needs the "
                "HPAScaleToZero feature gate, alpha): set minReplicas to 1, or use engine: "
                "keda for scale to zero",
                "autoscaling-hpa-min-zero",
            )
        )
    if engine == "keda" and not value_at(ctx.merged, ("autoscaling", "keda", "serverAddress")):
        problems.append(
            ctx.problem(
                _where(
                    ctx,
                    ("autoscaling", "keda", "serverAddress"),
                    ("autoscaling", "engine"),
                    ("autoscaling", "enabled"),
                ),
                "the KEDA trigger reads vLLM's metrics from Prometheus: set "
                "autoscaling.keda.serverAddress to the Prometheus that scrapes the pods "
                "(e.g. http://prometheus-operated.monitoring.svc:9090, with "
                "metrics.serviceMonitor.enabled)",
                "autoscaling-keda-without-prometheus",
            )
        )
    idle = value_at(ctx.merged, ("autoscaling", "keda", "idleReplicaCount"))
    if engine == "keda" and isinstance(idle, int) and idle >= low:
        problems.append(
            ctx.problem(
                _where(ctx, ("autoscaling", "keda", "idleReplicaCount")),
                f"idleReplicaCount {idle} must be below minReplicas {low} (KEDA refuses the "
                "ScaledObject otherwise): with minReplicas 0 the service already scales to "
                "zero, drop idleReplicaCount; or raise minReplicas",
                "autoscaling-idle-not-below-min",
            )
        )
    triggers = value_at(ctx.merged, ("autoscaling", "keda", "extraTriggers")) or []
    zero = low == 0 or (isinstance(idle, int) and idle == 0)
    if zero and engine == "keda" and not triggers:
        which = (
            ("autoscaling", "minReplicas")
            if low == 0
            else ("autoscaling", "keda", "idleReplicaCount")
        )
        problems.append(
            ctx.problem(
                _where(ctx, which),
                f"{which[-1]} 0 scales the service to zero, and then no vLLM pod reports the "
                "metric that would bring it back: the service would stay at zero for good. "
                "Add a trigger that sees requests before they reach vLLM (your ingress's or "
                "gateway's request rate, or a cron schedule) to autoscaling.keda.extraTriggers, "
                "or set minReplicas to 1",
                "autoscaling-zero-without-wake-trigger",
            )
        )
    problems += _triggers(ctx, triggers)
    problems += _metric_names(ctx, engine, triggers, pinned_version(ctx.chart))
    return problems


def _triggers(ctx: Context, triggers: list[Any]) -> list[Problem]:
    """Each extra trigger against the trigger schema of KEDA's own CRD (the API server checks
    the same: `metadata` values are strings, `type` and `metadata` are required)."""
    from jsonschema import Draft7Validator

    schema = keda_trigger_schema()
    if schema is None:
        return []
    validator = Draft7Validator(schema)
    problems = []
    for index, trigger in enumerate(triggers):
        base = ("autoscaling", "keda", "extraTriggers", index)
        for error in sorted(validator.iter_errors(trigger), key=lambda e: list(e.path)):
            where = (*base, *error.path)
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
            problems.append(ctx.problem(where, what, "autoscaling-trigger-invalid", key=False))
        for where, name, known in _unknown_fields(trigger, schema, base):
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean `{near[0]}`?)" if near else ""
            problems.append(
                ctx.problem(
                    where,
                    f"`{name}` is not a field of a KEDA trigger here{hint}: the API server "
                    "refuses unknown fields",
                    "autoscaling-trigger-invalid",
                )
            )
    return problems


def _unknown_fields(
    value: Any, schema: dict[str, Any], path: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str, list[str]]]:
    """Keys of ``value`` its structural schema does not list (strict field validation)."""
    known = schema.get("properties")
    if not isinstance(value, dict) or not isinstance(known, dict):
        return []
    found = []
    for key, item in value.items():
        if key not in known:
            found.append(((*path, key), str(key), sorted(known)))
        else:
            found += _unknown_fields(item, known[key], (*path, key))
    return found


def _metric_names(ctx: Context, engine: Any, triggers: list[Any], version: str) -> list[Problem]:
    series = vllm_series(version)
    if series is None:
        return []
    queries: list[tuple[tuple[str | int, ...], str]] = []
    if engine == "keda":
        query = value_at(ctx.merged, ("autoscaling", "keda", "query"))
        if isinstance(query, str):
            queries.append((("autoscaling", "keda", "query"), query))
        for index, trigger in enumerate(triggers):
            query = value_at(trigger, ("metadata", "query")) if isinstance(trigger, dict) else None
            if isinstance(query, str):
                path = ("autoscaling", "keda", "extraTriggers", index, "metadata", "query")
                queries.append((path, query))
    elif engine == "hpa":
        name = value_at(ctx.merged, ("autoscaling", "hpa", "metricName"))
        if isinstance(name, str) and name.startswith("vllm:"):
            queries.append((("autoscaling", "hpa", "metricName"), name))
    problems = []
    for path, text in queries:
        for name in VLLM_METRIC.findall(text):
            if name not in series:
                near = difflib.get_close_matches(name, sorted(series), n=1, cutoff=0.6)
                hint = f" (did you mean {near[0]}?)" if near else ""
                problems.append(
                    ctx.problem(
                        path,
                        f"{name} is not a metric vLLM {version} exports{hint}: the query would "
                        "find no series and the autoscaler would never move",
                        "autoscaling-unknown-metric",
                        key=False,
                    )
                )
    return problems


#: The rules of this module, in order (run by validate after rules.RULES).
RULES = (autoscaling,)
