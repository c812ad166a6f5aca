"""Checks on the release the real engine rendered, each finding led back to a values line.

What depends on the templates (the environment the chart builds, its volumes and mounts, the
flags it renders, the resources it adds, the names it derives, probes and the strategy) is
judged on the rendered objects, never on a Python copy of template logic. Two kinds of check
run here:

- **API rules**: what a kube-apiserver refuses although the OpenAPI schemas allow it (an
  unknown resource name, ``value`` beside ``valueFrom``, a liveness ``successThreshold`` of 2,
  ``maxSurge`` and ``maxUnavailable`` both 0, a negative user id, a Service name that is not
  a DNS-1035 label, annotations over 256 KiB ...). Each rule's cases are also sent to a real
  API server by the test suite, and the two verdicts must agree.
- **Reviewer rules**: what installs but does not work (a variable the chart sets, set again;
  a flag the chart renders, repeated; tensor x pipeline parallel against the GPUs of the pod;
  a ReadWriteOnce cache shared by replicas or by a rolling update).

``chart/values-map.yaml`` says which values key feeds each rendered field; :class:`ValuesMap`
reads it to turn a path in a rendered object into a path in the values file.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.problem import Problem
from .k8s import schemas as k8s
from .values.loader import has_path, value_at

if TYPE_CHECKING:
    from .validate import Context

Path_ = tuple[str | int, ...]

#: Resource names without a domain that Kubernetes knows (others need a domain prefix).
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
#: Total size of an object's annotations (keys and values) an API server accepts.
MAX_ANNOTATIONS_BYTES = 256 * 1024
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Finding:
    """A finding at ``path`` in a rendered object.

    ``also`` are other fields the finding is about, in order of preference: it is reported at
    the first of ``path`` and ``also`` that the user's file sets (a request above a limit is
    reported at the one the user wrote). ``key`` points at the key rather than its value.
    ``values`` names the values key outright where the finding is about a field the release
    lacks (a /dev/shm mount).
    """

    obj: dict[str, Any]
    path: Path_
    message: str
    rule: str
    severity: str = "error"
    also: tuple[Path_, ...] = ()
    key: bool = False
    values: Path_ | None = None


# -- the values map -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    kind: str
    pattern: tuple[str, ...]
    values: Path_
    items: bool = False
    owned: dict[str, Path_] = field(default_factory=dict)
    chart: Path_ | None = None
    inherits: Path_ | None = None


_STEP = re.compile(r"([^.\[]+)|\[([^\]]+)\]")


def _pattern(text: str) -> tuple[str, ...]:
    """``a.b[vllm].c`` as ("a", "b", "[vllm]", "c")."""
    return tuple(m.group(1) or f"[{m.group(2)}]" for m in _STEP.finditer(text))


def _dotted(text: str) -> Path_:
    return tuple(text.split(".")) if text else ()


class ValuesMap:
    """The chart's map from rendered fields back to values keys."""

    def __init__(
        self, entries: list[_Entry], pod_templates: dict[str, list[Path_]] | None = None
    ) -> None:
        self.entries = entries
        #: kind -> paths of its pod templates, whose fields map as the Deployment's do
        #: (one pod template helper renders them all).
        self.pod_templates = pod_templates or {}

    def _as_deployment(self, obj: dict[str, Any], path: Path_) -> tuple[dict[str, Any], Path_]:
        """A field of another kind's pod template, seen as the Deployment's same field."""
        for base in self.pod_templates.get(str(obj.get("kind")), []):
            if path[: len(base)] == base and isinstance(_get(obj, base), dict):
                view = {"kind": "Deployment", "spec": {"template": _get(obj, base)}}
                return view, ("spec", "template", *path[len(base) :])
        return obj, path

    @classmethod
    def of_chart(cls, chart: Path) -> ValuesMap:
        path = chart / "values-map.yaml"
        return _values_map(str(path), path.stat().st_mtime if path.is_file() else 0.0)

    def entry(self, obj: dict[str, Any], path: Path_) -> tuple[_Entry, int] | None:
        """The longest entry matching ``path`` of ``obj``, and how many steps it covers."""
        obj, path = self._as_deployment(obj, path)
        kind = obj.get("kind")
        best: tuple[_Entry, int] | None = None
        for entry in self.entries:
            if entry.kind not in ("*", kind) or len(entry.pattern) > len(path):
                continue
            if _matches(obj, entry.pattern, path) and (
                best is None or len(entry.pattern) > len(best[0].pattern)
            ):
                best = (entry, len(entry.pattern))
        return best

    def values_path(self, ctx: Context, obj: dict[str, Any], path: Path_) -> Path_:
        """The values key that produced ``path`` of the rendered ``obj``."""
        obj, path = self._as_deployment(obj, path)
        found = self.entry(obj, path)
        if found is None:
            return ()
        entry, length = found
        rest = path[length:]
        if entry.items and rest:
            rendered = _get(obj, path[:length]) or []
            item = rendered[rest[0]] if isinstance(rest[0], int) else None
            user = value_at(ctx.values, entry.values)
            if isinstance(user, list) and item is not None:
                for index, mine in enumerate(user):
                    if mine == item or (isinstance(item, str) and str(mine) == item):
                        return (*entry.values, index, *rest[1:])
            name = _item_name(item)
            if name in entry.owned:
                return entry.owned[name]
            return entry.chart or entry.values
        if entry.inherits is not None and not value_at(ctx.merged, entry.values):
            return (*entry.inherits, *rest)
        candidate = (*entry.values, *rest)
        if entry.chart is not None and not has_path(ctx.merged, candidate):
            return entry.chart
        return candidate


@cache
def _values_map(path: str, mtime: float) -> ValuesMap:
    import yaml

    if not mtime:
        return ValuesMap([])
    with open(path, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    entries = [
        _Entry(
            kind=str(item["kind"]),
            pattern=_pattern(item["rendered"]),
            values=_dotted(item["values"]),
            items=bool(item.get("items")),
            owned={str(k): _dotted(v) for k, v in (item.get("owned") or {}).items()},
            chart=_dotted(item["chart"]) if item.get("chart") else None,
            inherits=_dotted(item["inherits"]) if item.get("inherits") else None,
        )
        for item in data.get("fields", [])
    ]
    templates: dict[str, list[Path_]] = {}
    for item in data.get("podTemplates", []):
        templates.setdefault(str(item["kind"]), []).append(_dotted(item["rendered"]))
    return ValuesMap(entries, templates)


def _matches(obj: Any, pattern: tuple[str, ...], path: Path_) -> bool:
    node = obj
    for step, part in zip(pattern, path, strict=False):
        if step.startswith("["):
            if not isinstance(part, int) or not isinstance(node, list) or part >= len(node):
                return False
            wanted = step[1:-1]
            if wanted != "*" and _item_name(node[part]) != wanted:
                return False
        elif step != part:
            return False
        node = node[part] if isinstance(node, (dict, list)) and _in(node, part) else None
    return True


def _in(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _get(obj: Any, path: Path_) -> Any:
    for part in path:
        if not isinstance(obj, (dict, list)) or not _in(obj, part):
            return None
        obj = obj[part]
    return obj


def _item_name(item: Any) -> str | None:
    if isinstance(item, dict):
        name = item.get("name")
        return str(name) if name is not None else None
    if isinstance(item, str):
        return item.partition("=")[0]
    return None


# -- walking the rendered release ---------------------------------------------------------


def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """The pod specs of a rendered object, with their paths."""
    kind = obj.get("kind")
    if kind == "Pod":
        spec = obj.get("spec")
        if isinstance(spec, dict):
            yield ("spec",), spec
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        spec = _get(obj, ("spec", "template", "spec"))
        if isinstance(spec, dict):
            yield ("spec", "template", "spec"), spec
    elif kind == "LeaderWorkerSet":  # the leader first: it runs the API server
        for template in ("leaderTemplate", "workerTemplate"):
            base = ("spec", "leaderWorkerTemplate", template, "spec")
            spec = _get(obj, base)
            if isinstance(spec, dict):
                yield base, spec


def containers(spec: dict[str, Any], base: Path_) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """The containers of a pod spec (the app containers first), with their paths."""
    for group in ("containers", "initContainers"):
        for index, container in enumerate(spec.get(group) or []):
            if isinstance(container, dict):
                yield (*base, group, index), container


# -- API rules ----------------------------------------------------------------------------


def object_names(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """Object names as the API server validates them (a Service name is a DNS-1035 label)."""
    for obj in objects:
        name = str(_get(obj, ("metadata", "name")) or "")
        if obj.get("kind") == "Service":
            if len(name) > 63 or not k8s.DNS1035_LABEL.match(name):
                yield Finding(
                    obj,
                    ("metadata", "name"),
                    f"the Service name {name!r} must be a DNS-1035 label (at most 63 lowercase "
                    "letters, digits or '-', starting with a letter): choose a release name or "
                    "fullnameOverride that starts with a letter and holds no '.'",
                    "k8s-object-name",
                )
        elif len(name) > 253 or not k8s.DNS1123_SUBDOMAIN.match(name):
            yield Finding(
                obj,
                ("metadata", "name"),
                f"the {obj.get('kind')} name {name!r} must be a DNS subdomain",
                "k8s-object-name",
            )


def _metadata(obj: dict[str, Any]) -> Iterator[tuple[Path_, dict[str, Any]]]:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        yield ("metadata",), meta
    template = _get(obj, ("spec", "template", "metadata"))
    if isinstance(template, dict):
        yield ("spec", "template", "metadata"), template
    for base, _ in pod_specs(obj) if obj.get("kind") == "LeaderWorkerSet" else ():
        meta = _get(obj, (*base[:-1], "metadata"))
        if isinstance(meta, dict):
            yield (*base[:-1], "metadata"), meta


def labels_and_annotations(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """Label keys and values (of objects, pod templates and the node selectors pods match),
    annotation keys and the annotations' total size."""
    for obj in objects:
        for base, spec in pod_specs(obj):
            for key, value in (spec.get("nodeSelector") or {}).items():
                path = (*base, "nodeSelector", key)
                why = k8s.label_key_problem(key)
                if why:
                    yield Finding(obj, path, why, "k8s-label", key=True)
                why = k8s.label_value_problem(value)
                if why:
                    yield Finding(obj, path, why, "k8s-label")
        for base, meta in _metadata(obj):
            for key, value in (meta.get("labels") or {}).items():
                why = k8s.label_key_problem(key)
                if why:
                    yield Finding(obj, (*base, "labels", key), why, "k8s-label", key=True)
                why = k8s.label_value_problem(value)
                if why:
                    yield Finding(obj, (*base, "labels", key), why, "k8s-label")
            annotations = meta.get("annotations") or {}
            for key in annotations:
                why = k8s.label_key_problem(key)
                if why:
                    yield Finding(
                        obj,
                        (*base, "annotations", key),
                        why.replace("label key", "annotation key"),
                        "k8s-annotation",
                        key=True,
                    )
            size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
            if size > MAX_ANNOTATIONS_BYTES:
                yield Finding(
                    obj,
                    (*base, "annotations"),
                    f"the annotations of this {obj.get('kind')} total {size} bytes; Kubernetes "
                    f"accepts at most {MAX_ANNOTATIONS_BYTES} (256 KiB)",
                    "k8s-annotations-too-large",
                )


def _resource_name_problem(name: str) -> str | None:
    if "/" in name:
        prefix, _, rest = name.partition("/")
        if (
            not k8s.DNS1123_SUBDOMAIN.match(prefix)
            or not rest
            or len(rest) > 63
            or not k8s.LABEL_NAME.match(rest)
        ):
            return f"{name!r} is not a valid resource name (DOMAIN/NAME)"
        return None
    if name in STANDARD_RESOURCES or name.startswith("hugepages-"):
        return None
    near = difflib.get_close_matches(name, STANDARD_RESOURCES, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return (
        f"{name!r} is not a resource Kubernetes knows: cpu, memory, ephemeral-storage, "
        f"hugepages-<size>, or a DOMAIN/NAME extended resource{hint}"
    )


def _is_extended(name: str) -> bool:
    return "/" in name and not name.startswith("kubernetes.io/")


def container_resources(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """Resource names, quantities, requests within limits, extended resources as whole
    numbers with requests equal to limits."""
    for obj in objects:
        for base, spec in pod_specs(obj):
            for where, container in containers(spec, base):
                resources = container.get("resources") or {}
                parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
                for section in ("requests", "limits"):
                    for name, quantity in (resources.get(section) or {}).items():
                        path = (*where, "resources", section, name)
                        why = _resource_name_problem(str(name))
                        if why:
                            yield Finding(obj, path, why, "k8s-resource-name")
                            continue
                        try:
                            number = k8s.parse_quantity(quantity)
                        except ValueError as exc:
                            yield Finding(obj, path, str(exc), "k8s-quantity")
                            continue
                        if number < 0:
                            yield Finding(
                                obj, path, f"{quantity!r} must not be negative", "k8s-quantity"
                            )
                            continue
                        if _is_extended(name) and number != number.to_integral_value():
                            yield Finding(
                                obj,
                                path,
                                f"{name} is an extended resource: a whole number, not {quantity!r}",
                                "k8s-extended-resource",
                            )
                            continue
                        parsed[section][name] = number
                requests, limits = parsed["requests"], parsed["limits"]
                for name, request in requests.items():
                    limit = limits.get(name)
                    req_path = (*where, "resources", "requests", name)
                    if _is_extended(name):
                        if limit is None or limit != request:
                            yield Finding(
                                obj,
                                req_path,
                                f"{name} is an extended resource: Kubernetes needs its request "
                                "equal to its limit (set the limit alone, or gpu.count for GPUs)",
                                "k8s-extended-resource",
                            )
                    elif limit is not None and request > limit:
                        yield Finding(
                            obj,
                            req_path,
                            f"the {name} request {resources['requests'][name]} is above its "
                            f"limit {resources['limits'][name]}: Kubernetes rejects the pod (a "
                            "request must not exceed its limit)",
                            "resources-request-above-limit",
                            also=((*where, "resources", "limits", name),),
                        )


def container_env(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """``value`` and ``valueFrom`` are exclusive; ``valueFrom`` names exactly one source."""
    sources = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
    for obj in objects:
        for base, spec in pod_specs(obj):
            for where, container in containers(spec, base):
                for index, var in enumerate(container.get("env") or []):
                    if not isinstance(var, dict):
                        continue
                    path = (*where, "env", index)
                    value_from = var.get("valueFrom")
                    if var.get("value") not in (None, "") and value_from is not None:
                        yield Finding(
                            obj,
                            path,
                            f"{var.get('name')} has both value and valueFrom; Kubernetes "
                            "takes one: drop value to read it from valueFrom",
                            "k8s-env-value-and-value-from",
                        )
                    elif isinstance(value_from, dict):
                        given = [s for s in sources if value_from.get(s) is not None]
                        if len(given) != 1:
                            yield Finding(
                                obj,
                                path,
                                f"{var.get('name')}: valueFrom needs exactly one of "
                                f"{', '.join(sources)} (it has {len(given)})",
                                "k8s-env-value-from",
                            )


def probes(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """Liveness and startup probes succeed after one success (successThreshold 1)."""
    for obj in objects:
        for base, spec in pod_specs(obj):
            for where, container in containers(spec, base):
                for probe in ("livenessProbe", "startupProbe"):
                    threshold = _get(container, (probe, "successThreshold"))
                    if threshold is not None and threshold != 1:
                        yield Finding(
                            obj,
                            (*where, probe, "successThreshold"),
                            f"successThreshold {threshold} on a {probe}: Kubernetes accepts "
                            "only 1 there (only a readiness probe may ask for more)",
                            "k8s-probe-success-threshold",
                        )


def _ids(
    context: Any, path: Path_, obj: dict[str, Any], fields: tuple[str, ...]
) -> Iterator[Finding]:
    if not isinstance(context, dict):
        return
    for name in fields:
        value = context.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_ID:
            yield Finding(
                obj,
                (*path, name),
                f"{name} {value} must be between 0 and {MAX_ID}",
                "k8s-security-context",
            )


def security_contexts(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """User, group and fsGroup ids within 0 .. 2^31-1."""
    ids = ("runAsUser", "runAsGroup")
    for obj in objects:
        for base, spec in pod_specs(obj):
            yield from _ids(
                spec.get("securityContext"), (*base, "securityContext"), obj, (*ids, "fsGroup")
            )
            for where, container in containers(spec, base):
                yield from _ids(
                    container.get("securityContext"), (*where, "securityContext"), obj, ids
                )


def _is_zero(value: Any) -> bool:
    """Whether an int-or-percent (``0``, ``"0%"``, ``"00%"``) is zero, as the server reads it."""
    if isinstance(value, str):
        digits = value.removesuffix("%")
        return digits.isdigit() and int(digits) == 0
    return value == 0 and not isinstance(value, bool)


def deployment_strategy(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """A Recreate strategy takes no rollingUpdate; a rolling update must move some pod."""
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        strategy = _get(obj, ("spec", "strategy")) or {}
        rolling = strategy.get("rollingUpdate")
        if strategy.get("type") == "Recreate" and rolling is not None:
            yield Finding(
                obj,
                ("spec", "strategy", "rollingUpdate"),
                "rollingUpdate may not be given with strategy type Recreate: drop it, or use "
                "type RollingUpdate",
                "k8s-deployment-strategy",
            )
        elif isinstance(rolling, dict):
            surge = rolling.get("maxSurge", "25%")
            unavailable = rolling.get("maxUnavailable", "25%")
            if isinstance(unavailable, str) and unavailable.removesuffix("%").isdigit():
                if unavailable.endswith("%") and int(unavailable[:-1]) > 100:
                    yield Finding(
                        obj,
                        ("spec", "strategy", "rollingUpdate", "maxUnavailable"),
                        f"maxUnavailable {unavailable} must not be greater than 100%",
                        "k8s-deployment-strategy",
                    )
            if _is_zero(surge) and _is_zero(unavailable):
                yield Finding(
                    obj,
                    ("spec", "strategy", "rollingUpdate", "maxUnavailable"),
                    "maxSurge and maxUnavailable are both 0: a rolling update could never "
                    "replace a pod; allow one of them to be at least 1",
                    "k8s-deployment-strategy",
                )


def volumes_and_mounts(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """Volume names unique; every mount names a volume; one mount per path."""
    for obj in objects:
        for base, spec in pod_specs(obj):
            names: dict[str, int] = {}
            # a claim template is a volume of every pod its workload makes
            for claims in (("spec", "volumeClaimTemplates"), (*base[:-2], "volumeClaimTemplates")):
                for claim in _get(obj, claims) or []:
                    if isinstance(_get(claim, ("metadata", "name")), str):
                        names[claim["metadata"]["name"]] = -1
            for index, volume in enumerate(spec.get("volumes") or []):
                name = volume.get("name") if isinstance(volume, dict) else None
                if isinstance(name, str) and name in names:  # other types: the schema's
                    yield Finding(
                        obj,
                        (*base, "volumes", index, "name"),
                        f"volume name {name!r} is already taken by another volume of the pod "
                        "(the chart's cache and dshm volumes included); pick another",
                        "volume-name-conflict",
                    )
                elif isinstance(name, str):
                    names[name] = index
            for where, container in containers(spec, base):
                paths: set[str] = set()
                for index, mount in enumerate(container.get("volumeMounts") or []):
                    if not isinstance(mount, dict):
                        continue
                    name = mount.get("name")
                    if isinstance(name, str) and name not in names:
                        near = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
                        hint = f" (did you mean {near[0]!r}?)" if near else ""
                        yield Finding(
                            obj,
                            (*where, "volumeMounts", index, "name"),
                            f"mounts volume {name!r}, which the pod does not have (its volumes: "
                            f"{', '.join(sorted(names))}){hint}",
                            "volume-mount-unknown-volume",
                        )
                    path = mount.get("mountPath")
                    if isinstance(path, str):
                        normal = path.rstrip("/") or "/"
                        if normal in paths:
                            yield Finding(
                                obj,
                                (*where, "volumeMounts", index, "mountPath"),
                                f"{path} is already the mount path of another volume of this "
                                "container; two volumes cannot be mounted at one path",
                                "volume-mount-path-conflict",
                            )
                        paths.add(normal)


def tolerations(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """``Exists`` takes no value; an empty key needs ``Exists``."""
    for obj in objects:
        for base, spec in pod_specs(obj):
            for index, item in enumerate(spec.get("tolerations") or []):
                if not isinstance(item, dict):
                    continue
                operator = item.get("operator") or "Equal"
                if operator == "Exists" and item.get("value"):
                    yield Finding(
                        obj,
                        (*base, "tolerations", index, "value"),
                        "a toleration with operator Exists takes no value",
                        "k8s-toleration",
                    )
                if not item.get("key") and operator != "Exists":
                    yield Finding(
                        obj,
                        (*base, "tolerations", index, "operator"),
                        "a toleration without a key must have operator Exists",
                        "k8s-toleration",
                    )


def pod_quantities(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """Every quantity of a pod spec (an emptyDir sizeLimit, an overhead), parsed as the API
    server parses it; found by walking the spec along its Kubernetes definition."""
    from .checks.k8s.passthrough import quantity_fields

    for obj in objects:
        for base, spec in pod_specs(obj):
            for path, value in quantity_fields("io.k8s.api.core.v1.PodSpec", spec, base):
                if "resources" in path:
                    continue  # container_resources says more about these
                try:
                    k8s.parse_quantity(value)
                except ValueError as exc:
                    yield Finding(obj, path, str(exc), "k8s-quantity")


def claim_sizes(objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """A PersistentVolumeClaim asks for some storage (more than zero)."""
    for obj in objects:
        if obj.get("kind") != "PersistentVolumeClaim":
            continue
        size = _get(obj, ("spec", "resources", "requests", "storage"))
        try:
            empty = size is not None and k8s.parse_quantity(size) <= 0
        except ValueError:
            continue  # pod_quantities and the schema say why
        if empty:
            yield Finding(
                obj,
                ("spec", "resources", "requests", "storage"),
                f"a claim of {size!r}: Kubernetes needs a storage request greater than zero",
                "k8s-claim-size",
            )


#: The API rules, in order; each has cases the suite also sends to a real API server.
API_RULES: tuple[Callable[[list[dict[str, Any]]], Iterator[Finding]], ...] = (
    object_names,
    labels_and_annotations,
    container_resources,
    pod_quantities,
    container_env,
    probes,
    security_contexts,
    deployment_strategy,
    volumes_and_mounts,
    tolerations,
    claim_sizes,
)


# -- reviewer rules -----------------------------------------------------------------------


def environment(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """A variable set twice: Kubernetes keeps the last one silently."""
    vmap = ValuesMap.of_chart(ctx.chart)
    for obj in objects:
        for base, spec in pod_specs(obj):
            for where, container in containers(spec, base):
                seen: dict[str, Path_] = {}
                for index, var in enumerate(container.get("env") or []):
                    name = var.get("name") if isinstance(var, dict) else None
                    if not isinstance(name, str):
                        continue
                    path = (*where, "env", index)
                    if name in seen:
                        first = vmap.values_path(ctx, obj, seen[name])
                        second = vmap.values_path(ctx, obj, path)
                        if first[:1] == ("env",) and second[:1] == ("env",):
                            yield Finding(
                                obj,
                                (*path, "name"),
                                f"{name} is already set by env[{first[1]}]; Kubernetes keeps "
                                "only the last one",
                                "env-duplicate",
                            )
                        else:
                            chart_key = ".".join(map(str, first))
                            yield Finding(
                                obj,
                                (*path, "name"),
                                f"{name} is set by the chart from {chart_key}; change that key "
                                "instead of setting the variable",
                                "env-overrides-chart",
                            )
                    else:
                        seen[name] = path


def _server(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], Path_, dict[str, Any]] | None:
    """The Deployment, the path and the spec of its vllm container."""
    for obj in objects:
        for base, spec in pod_specs(obj):
            if obj.get("kind") == "Pod":
                continue
            for where, container in containers(spec, base):
                if container.get("name") == "vllm":
                    return obj, where, container
    return None


def engine_flags(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """A flag of engine.args that the chart renders itself from a typed key."""
    from .vllm.flags import flag_index

    server = _server(objects)
    index, _ = flag_index(ctx.merged, ctx.chart)
    user = value_at(ctx.values, ("engine", "args"))
    if server is None or index is None or not isinstance(user, list) or not user:
        return
    obj, where, container = server
    args = [str(a) for a in container.get("args") or []]
    if [str(a) for a in user] != args[len(args) - len(user) :]:
        return
    chart_flags: dict[str, int] = {}
    for position, token in enumerate(args[: len(args) - len(user)]):
        hit = index.lookup(token.partition("=")[0]) if token.startswith("-") else None
        if hit:
            chart_flags[hit[0]] = position
    vmap = ValuesMap.of_chart(ctx.chart)
    offset = len(args) - len(user)
    for position, token in enumerate(args[offset:], start=offset):
        hit = index.lookup(token.partition("=")[0]) if token.startswith("-") else None
        if hit and hit[0] in chart_flags:
            chart_at = (*where, "args", chart_flags[hit[0]])
            key = vmap.values_path(ctx, obj, chart_at)
            found = vmap.entry(obj, chart_at)
            if key[:2] == ("engine", "args") and found and hit[0] in found[0].owned:
                # The chart's own flag spelled as the user's item: its owner is the typed key.
                key = found[0].owned[hit[0]]
            where_set = ""
            if has_path(ctx.values, key):
                line, column = ctx.loaded.position(key)
                where_set = (
                    f" (this file sets {'.'.join(map(str, key))} on line {line}, column {column})"
                )
            yield Finding(
                obj,
                (*where, "args", position),
                f"{hit[0]} is rendered by the chart from {'.'.join(map(str, key))}; set that "
                f"key instead of repeating the flag{where_set}",
                "engine-arg-duplicates-key",
            )


def _gpu_count(ctx: Context) -> int:
    return int(value_at(ctx.merged, ("gpu", "count")) or 0)


def parallel_factors(
    ctx: Context, container: dict[str, Any], where: Path_
) -> tuple[dict[str, int], Path_ | None]:
    """The tensor, pipeline and data parallel sizes of a rendered server's command line (by
    word: ``tensor``, ``pipeline``, ``data``), and the argument to point at when their product
    is wrong: the first size other than tensor's that is not 1, else tensor's."""
    from .vllm.flags import flag_values

    args = [str(a) for a in container.get("args") or []]
    found = flag_values(args, ctx.merged, ctx.chart)
    factors: dict[str, int] = {}
    culprit: Path_ | None = None
    for flag, word in (
        ("--tensor-parallel-size", "tensor"),
        ("--pipeline-parallel-size", "pipeline"),
        ("--data-parallel-size", "data"),
    ):
        hit = found.get(flag)
        if hit is None:
            continue
        try:
            factors[word] = int(hit[1] or "")
        except ValueError:
            continue
        if (word != "tensor" and factors[word] != 1) or culprit is None:
            culprit = (*where, "args", hit[0])
    return factors, culprit


def parallelism(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """tensor x pipeline (x data) parallel of the rendered command line against the GPUs of
    the pod; /dev/shm for the workers' NCCL traffic."""
    server = _server(objects)
    if server is None:
        return
    obj, where, container = server
    factors, culprit = parallel_factors(ctx, container, where)
    gpus = _gpu_count(ctx)
    world = math.prod(factors.values())
    group = obj.get("kind") == "LeaderWorkerSet"  # scale_checks judges a group's GPUs
    if gpus > 0 and world != gpus and culprit is not None and not group:
        product = " x ".join(f"{word}-parallel {size}" for word, size in factors.items())
        others = world // max(1, factors.get("tensor", 1))
        advice = (
            f"set engine.tensorParallelSize to {gpus // others}"
            if others and gpus % others == 0
            else "make the product equal gpu.count"
        )
        yield Finding(
            obj,
            culprit,
            f"{product} needs {world} GPUs, but the pod has gpu.count {gpus}: vLLM would wait "
            f"for GPUs that are not there or leave some idle; {advice}, or change gpu.count "
            f"to {world}",
            "tensor-parallel-mismatch",
        )
    mounts = [m.get("mountPath") for m in container.get("volumeMounts") or []]
    if world > 1 and gpus > 1 and "/dev/shm" not in mounts:
        yield Finding(
            obj,
            (*where, "volumeMounts"),
            f"{world} GPU workers exchange tensors through /dev/shm (NCCL), and a container "
            "gets only 64 MiB without shm.enabled: set shm.enabled: true",
            "shm-required-for-tensor-parallel",
            values=("shm", "enabled"),
        )


def _cache_claim_modes(
    ctx: Context, objects: list[dict[str, Any]], spec: dict[str, Any]
) -> list[str]:
    """Access modes of the claims the pod mounts: the rendered claim's, or for an existing
    claim the modes the values declare for it."""
    claims = {
        _get(o, ("metadata", "name")): _get(o, ("spec", "accessModes")) or []
        for o in objects
        if o.get("kind") == "PersistentVolumeClaim"
    }
    modes: list[str] = []
    for volume in spec.get("volumes") or []:
        claim = _get(volume, ("persistentVolumeClaim", "claimName"))
        if not isinstance(claim, str):
            continue  # none, or another type the schema refuses
        if claim in claims:
            modes += claims[claim]
        elif claim == value_at(ctx.merged, ("persistence", "existingClaim")):
            modes += value_at(ctx.merged, ("persistence", "accessModes")) or []
    return modes


def shared_claims(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """A ReadWriteOnce claim is mounted by one node: replicas, or the new pod of a rolling
    update, would wait for it forever."""
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        spec = _get(obj, ("spec", "template", "spec")) or {}
        rwo = [
            m
            for m in _cache_claim_modes(ctx, objects, spec)
            if m in ("ReadWriteOnce", "ReadWriteOncePod")
        ]
        if not rwo:
            continue
        replicas = _get(obj, ("spec", "replicas"))
        if isinstance(replicas, int) and replicas > 1:
            yield Finding(
                obj,
                ("spec", "replicas"),
                f"{replicas} replicas would share a {rwo[0]} cache claim that only one node can "
                "mount: the other pods would never start. Use a ReadWriteMany claim "
                "(persistence.accessModes: [ReadWriteMany], or an existingClaim that is) or "
                "one release per replica",
                "rwo-claim-shared-by-replicas",
            )
        strategy = _get(obj, ("spec", "strategy", "type"))
        surge = _get(obj, ("spec", "strategy", "rollingUpdate", "maxSurge"))
        rolls_first = strategy in (None, "RollingUpdate") and not (
            surge is not None and _is_zero(surge)
        )  # with maxSurge 0 the old pod stops first
        if rolls_first and has_path(ctx.values, ("strategy",)):
            yield Finding(
                obj,
                ("spec", "strategy"),
                f"a rolling update starts the new pod before the old one stops, and the new pod "
                f"waits forever for the {rwo[0]} cache claim the old one holds (and for its "
                "GPUs): use strategy type Recreate (the chart's default for such a cache) or a "
                "ReadWriteMany cache",
                "rolling-update-on-rwo-cache",
                severity="warning",
            )


def gpu_resources(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """An extended resource under ``resources`` that the chart renders itself from ``gpu``
    (what the chart renders is read from a render without the user's extended resources)."""
    resources = value_at(ctx.values, ("resources",))
    if not isinstance(resources, dict):
        return
    listed = [
        (section, name)
        for section in ("requests", "limits")
        for name in (resources.get(section) or {})
        if isinstance(resources.get(section), dict) and "/" in str(name)
    ]
    server = _server(objects)
    if not listed or server is None:
        return
    own = _chart_resources(ctx)
    obj, where, _ = server
    for section, name in listed:
        if name in own:
            yield Finding(
                obj,
                (*where, "resources", section, name),
                f"{name} is rendered by the chart from gpu.count (and vgpu.*); set those keys "
                "instead of listing it under resources",
                "resources-gpu",
                key=True,
            )


def _chart_resources(ctx: Context) -> set[str]:
    """The resource names the chart renders for the server without the user's resources."""
    from .helm.engine import render

    values = json.loads(json.dumps(ctx.values))
    values["resources"] = {}
    try:
        rendered = render(ctx.chart, values, release=ctx.release, namespace=ctx.namespace)
    except Exception:  # the full render succeeded; this one only narrows what to say
        return set()
    server = _server(rendered.objects())
    if server is None:
        return set()
    resources = server[2].get("resources") or {}
    return {str(n) for section in ("requests", "limits") for n in resources.get(section) or {}}


#: The reviewer rules, in order.
REVIEW_RULES: tuple[Callable[[Context, list[dict[str, Any]]], Iterator[Finding]], ...] = (
    environment,
    engine_flags,
    parallelism,
    shared_claims,
    gpu_resources,
)


def api_findings(objects: list[dict[str, Any]]) -> list[Finding]:
    """Every API rule's findings on rendered objects (used alone by the API-server tests)."""
    return [f for rule in API_RULES for f in rule(objects)]


def rendered_release(ctx: Context) -> list[Problem]:
    """Every finding on the rendered release, at the values line that produced it."""
    if ctx.rendered is None:
        return []
    from . import offline

    objects = ctx.rendered.objects()
    findings = api_findings(objects)
    from . import scale_checks

    review = (*REVIEW_RULES, *scale_checks.REVIEW_RULES, *offline.REVIEW_RULES)
    findings += [f for rule in review for f in rule(ctx, objects)]
    vmap = ValuesMap.of_chart(ctx.chart)
    problems: dict[tuple[Path_, str, str], Problem] = {}
    for finding in findings:
        candidates = [vmap.values_path(ctx, finding.obj, p) for p in (finding.path, *finding.also)]
        path = finding.values or next(
            (c for c in candidates if has_path(ctx.values, c)), candidates[0]
        )
        seen = (path, finding.rule, finding.message)
        if seen in problems:  # the same field of the server and the download container
            continue
        kind = finding.obj.get("kind")
        name = _get(finding.obj, ("metadata", "name"))
        where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in finding.path)
        problems[seen] = ctx.problem(
            path,
            f"{finding.message} (rendered {kind}/{name} {where.replace('.[', '[')})",
            finding.rule,
            severity=finding.severity,
            key=finding.key,
        )
    return list(problems.values())


#: The pipeline's entry points (see modelservice.validate).
CHECKS = (rendered_release,)
