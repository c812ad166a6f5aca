"""What a kube-apiserver refuses although the OpenAPI schemas allow it, judged on every object
the release renders.

An unknown resource name, ``value`` beside ``valueFrom``, a liveness ``successThreshold`` of 2,
``maxSurge`` and ``maxUnavailable`` both 0, a negative user id, a Service name that is not a
DNS-1035 label, annotations over 256 KiB ... Each rule judges objects alone (it reads the
rendered release, not the values), and the suite sends each rule's cases to a real API server:
the two verdicts must agree (tests/test_api_rules.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from ...core.rules import rule
from ...core.tree import Path_, get
from ...k8s.names import (
    DNS1035_LABEL,
    DNS1123_SUBDOMAIN,
    LABEL_NAME,
    label_key_problem,
    label_value_problem,
)
from ...k8s.quantity import parse_quantity
from ...release import Release, is_zero
from ..context import Finding, check
from .passthrough import K8S_QUANTITY, quantity_fields

#: Resource names without a domain that Kubernetes knows (others need a domain prefix).
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage")
#: Total size of an object's annotations (keys and values) an API server accepts.
MAX_ANNOTATIONS_BYTES = 256 * 1024
MAX_ID = 2**31 - 1

_SERVER = "the API server refuses the object, and `helm install` fails"

K8S_OBJECT_NAME = rule(
    "k8s-object-name",
    "error",
    "release",
    "A rendered object's name the API server refuses: a Service name must be a DNS-1035 label "
    "(at most 63 lowercase letters, digits or '-', starting with a letter), other names DNS "
    "subdomains. The chart derives valid names from any release name Helm accepts; this guards "
    "a fullnameOverride and charts given with --chart.",
)
K8S_LABEL = rule(
    "k8s-label",
    "error",
    "release",
    f"A label key or value of a rendered object, pod template or node selector that {_SERVER}: "
    "a value is at most 63 alphanumerics, '-', '_' or '.', starting and ending with an "
    "alphanumeric; a key is an optional DNS-subdomain prefix and such a name.",
)
K8S_ANNOTATION = rule(
    "k8s-annotation",
    "error",
    "release",
    f"An annotation key {_SERVER} for (the same form as a label key).",
)
K8S_ANNOTATIONS_TOO_LARGE = rule(
    "k8s-annotations-too-large",
    "error",
    "release",
    "The annotations of one object total more than 256 KiB, which the API server refuses.",
)
K8S_RESOURCE_NAME = rule(
    "k8s-resource-name",
    "error",
    "release",
    "A resource name Kubernetes does not know, with the closest one: cpu, memory, "
    "ephemeral-storage, hugepages-<size>, or a DOMAIN/NAME extended resource.",
)
K8S_EXTENDED_RESOURCE = rule(
    "k8s-extended-resource",
    "error",
    "release",
    "An extended resource (a GPU) that is not a whole number, or whose request differs from "
    "its limit: Kubernetes needs both. Set the limit alone, or gpu.count for GPUs.",
)
RESOURCES_REQUEST_ABOVE_LIMIT = rule(
    "resources-request-above-limit",
    "error",
    "release",
    "A request above its limit, the chart's default requests included: Kubernetes rejects the "
    "pod. Reported at whichever of the two the file sets.",
)
K8S_ENV_VALUE_AND_VALUE_FROM = rule(
    "k8s-env-value-and-value-from",
    "error",
    "release",
    "An environment variable with both `value` and `valueFrom`: Kubernetes takes one.",
)
K8S_ENV_VALUE_FROM = rule(
    "k8s-env-value-from",
    "error",
    "release",
    "A `valueFrom` that names no source, or more than one (fieldRef, resourceFieldRef, "
    "configMapKeyRef, secretKeyRef, fileKeyRef).",
)
K8S_PROBE_SUCCESS_THRESHOLD = rule(
    "k8s-probe-success-threshold",
    "error",
    "release",
    "A liveness or startup probe with successThreshold other than 1, which only a readiness "
    "probe may have. The chart's schema keeps them at 1; this guards charts given with --chart.",
)
K8S_SECURITY_CONTEXT = rule(
    "k8s-security-context",
    "error",
    "release",
    "A user, group or fsGroup id outside 0 .. 2^31-1.",
)
K8S_DEPLOYMENT_STRATEGY = rule(
    "k8s-deployment-strategy",
    "error",
    "release",
    "A Deployment strategy the API server refuses: `rollingUpdate` with type Recreate, "
    "maxUnavailable above 100%, or maxSurge and maxUnavailable both 0 (no pod could ever be "
    "replaced).",
)
K8S_TOLERATION = rule(
    "k8s-toleration",
    "error",
    "release",
    "A toleration the API server refuses: operator Exists with a value, or an empty key "
    "without operator Exists.",
)
K8S_CLAIM_SIZE = rule(
    "k8s-claim-size",
    "error",
    "release",
    "A PersistentVolumeClaim asking for no storage (0 or less): Kubernetes needs a storage "
    "request greater than zero.",
)


@check("release", K8S_OBJECT_NAME, reads="release")
def object_names(release: Release) -> Iterator[Finding]:
    """Object names as the API server validates them (a Service name is a DNS-1035 label)."""
    for obj in release.objects:
        name = str(get(obj, ("metadata", "name")) or "")
        if obj.get("kind") == "Service":
            if len(name) > 63 or not DNS1035_LABEL.match(name):
                yield Finding(
                    obj,
                    ("metadata", "name"),
                    f"the Service name {name!r} must be a DNS-1035 label (at most 63 lowercase "
                    "letters, digits or '-', starting with a letter): choose a release name or "
                    "fullnameOverride that starts with a letter and holds no '.'",
                    K8S_OBJECT_NAME,
                )
        elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            yield Finding(
                obj,
                ("metadata", "name"),
                f"the {obj.get('kind')} name {name!r} must be a DNS subdomain",
                K8S_OBJECT_NAME,
            )


def _metadata(obj: dict[str, Any]) -> Iterator[tuple[Path_, dict[str, Any]]]:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        yield ("metadata",), meta
    template = get(obj, ("spec", "template", "metadata"))
    if isinstance(template, dict):
        yield ("spec", "template", "metadata"), template
    if obj.get("kind") == "LeaderWorkerSet":
        for role in ("leaderTemplate", "workerTemplate"):
            path = ("spec", "leaderWorkerTemplate", role, "metadata")
            meta = get(obj, path)
            if isinstance(meta, dict):
                yield path, meta


@check("release", K8S_LABEL, K8S_ANNOTATION, K8S_ANNOTATIONS_TOO_LARGE, reads="release")
def labels_and_annotations(release: Release) -> Iterator[Finding]:
    """Label keys and values (of objects, pod templates and the node selectors pods match),
    annotation keys and the annotations' total size."""
    for obj in release.objects:
        for pod in release.pods_of(obj):
            base, spec = pod.path, pod.spec
            for key, value in (spec.get("nodeSelector") or {}).items():
                path = (*base, "nodeSelector", key)
                why = label_key_problem(key)
                if why:
                    yield Finding(obj, path, why, K8S_LABEL, key=True)
                why = label_value_problem(value)
                if why:
                    yield Finding(obj, path, why, K8S_LABEL)
        for base, meta in _metadata(obj):
            for key, value in (meta.get("labels") or {}).items():
                why = label_key_problem(key)
                if why:
                    yield Finding(obj, (*base, "labels", key), why, K8S_LABEL, key=True)
                why = label_value_problem(value)
                if why:
                    yield Finding(obj, (*base, "labels", key), why, K8S_LABEL)
            annotations = meta.get("annotations") or {}
            for key in annotations:
                why = label_key_problem(key)
                if why:
                    yield Finding(
                        obj,
                        (*base, "annotations", key),
                        why.replace("label key", "annotation key"),
                        K8S_ANNOTATION,
                        key=True,
                    )
            size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
            if size > MAX_ANNOTATIONS_BYTES:
                yield Finding(
                    obj,
                    (*base, "annotations"),
                    f"the annotations of this {obj.get('kind')} total {size} bytes; Kubernetes "
                    f"accepts at most {MAX_ANNOTATIONS_BYTES} (256 KiB)",
                    K8S_ANNOTATIONS_TOO_LARGE,
                )


def _resource_name_problem(name: str) -> str | None:
    if "/" in name:
        prefix, _, rest = name.partition("/")
        if (
            not DNS1123_SUBDOMAIN.match(prefix)
            or not rest
            or len(rest) > 63
            or not LABEL_NAME.match(rest)
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


@check(
    "release",
    K8S_RESOURCE_NAME,
    K8S_QUANTITY,
    K8S_EXTENDED_RESOURCE,
    RESOURCES_REQUEST_ABOVE_LIMIT,
    reads="release",
)
def container_resources(release: Release) -> Iterator[Finding]:
    """Resource names, quantities, requests within limits, extended resources as whole
    numbers with requests equal to limits."""
    for obj in release.objects:
        for pod in release.pods_of(obj):
            for box in pod.containers():
                where, container = box.path, box.spec
                resources = container.get("resources") or {}
                parsed: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
                for section in ("requests", "limits"):
                    for name, quantity in (resources.get(section) or {}).items():
                        path = (*where, "resources", section, name)
                        why = _resource_name_problem(str(name))
                        if why:
                            yield Finding(obj, path, why, K8S_RESOURCE_NAME)
                            continue
                        try:
                            number = parse_quantity(quantity)
                        except ValueError as exc:
                            yield Finding(obj, path, str(exc), K8S_QUANTITY)
                            continue
                        if number < 0:
                            yield Finding(
                                obj, path, f"{quantity!r} must not be negative", K8S_QUANTITY
                            )
                            continue
                        if _is_extended(name) and number != number.to_integral_value():
                            yield Finding(
                                obj,
                                path,
                                f"{name} is an extended resource: a whole number, not {quantity!r}",
                                K8S_EXTENDED_RESOURCE,
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
                                K8S_EXTENDED_RESOURCE,
                            )
                    elif limit is not None and request > limit:
                        yield Finding(
                            obj,
                            req_path,
                            f"the {name} request {resources['requests'][name]} is above its "
                            f"limit {resources['limits'][name]}: Kubernetes rejects the pod (a "
                            "request must not exceed its limit)",
                            RESOURCES_REQUEST_ABOVE_LIMIT,
                            also=((*where, "resources", "limits", name),),
                        )


@check("release", K8S_ENV_VALUE_AND_VALUE_FROM, K8S_ENV_VALUE_FROM, reads="release")
def container_env(release: Release) -> Iterator[Finding]:
    """``value`` and ``valueFrom`` are exclusive; ``valueFrom`` names exactly one source."""
    sources = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
    for obj in release.objects:
        for pod in release.pods_of(obj):
            for box in pod.containers():
                where, container = box.path, box.spec
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
                            K8S_ENV_VALUE_AND_VALUE_FROM,
                        )
                    elif isinstance(value_from, dict):
                        given = [s for s in sources if value_from.get(s) is not None]
                        if len(given) != 1:
                            yield Finding(
                                obj,
                                path,
                                f"{var.get('name')}: valueFrom needs exactly one of "
                                f"{', '.join(sources)} (it has {len(given)})",
                                K8S_ENV_VALUE_FROM,
                            )


@check("release", K8S_PROBE_SUCCESS_THRESHOLD, reads="release")
def probes(release: Release) -> Iterator[Finding]:
    """Liveness and startup probes succeed after one success (successThreshold 1)."""
    for obj in release.objects:
        for pod in release.pods_of(obj):
            for box in pod.containers():
                where, container = box.path, box.spec
                for probe in ("livenessProbe", "startupProbe"):
                    threshold = get(container, (probe, "successThreshold"))
                    if threshold is not None and threshold != 1:
                        yield Finding(
                            obj,
                            (*where, probe, "successThreshold"),
                            f"successThreshold {threshold} on a {probe}: Kubernetes accepts "
                            "only 1 there (only a readiness probe may ask for more)",
                            K8S_PROBE_SUCCESS_THRESHOLD,
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
                K8S_SECURITY_CONTEXT,
            )


@check("release", K8S_SECURITY_CONTEXT, reads="release")
def security_contexts(release: Release) -> Iterator[Finding]:
    """User, group and fsGroup ids within 0 .. 2^31-1."""
    ids = ("runAsUser", "runAsGroup")
    for obj in release.objects:
        for pod in release.pods_of(obj):
            base, spec = pod.path, pod.spec
            yield from _ids(
                spec.get("securityContext"), (*base, "securityContext"), obj, (*ids, "fsGroup")
            )
            for box in pod.containers():
                where, container = box.path, box.spec
                yield from _ids(
                    container.get("securityContext"), (*where, "securityContext"), obj, ids
                )


@check("release", K8S_DEPLOYMENT_STRATEGY, reads="release")
def deployment_strategy(release: Release) -> Iterator[Finding]:
    """A Recreate strategy takes no rollingUpdate; a rolling update must move some pod."""
    for obj in release.objects:
        if obj.get("kind") != "Deployment":
            continue
        strategy = get(obj, ("spec", "strategy")) or {}
        rolling = strategy.get("rollingUpdate")
        if strategy.get("type") == "Recreate" and rolling is not None:
            yield Finding(
                obj,
                ("spec", "strategy", "rollingUpdate"),
                "rollingUpdate may not be given with strategy type Recreate: drop it, or use "
                "type RollingUpdate",
                K8S_DEPLOYMENT_STRATEGY,
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
                        K8S_DEPLOYMENT_STRATEGY,
                    )
            if is_zero(surge) and is_zero(unavailable):
                yield Finding(
                    obj,
                    ("spec", "strategy", "rollingUpdate", "maxUnavailable"),
                    "maxSurge and maxUnavailable are both 0: a rolling update could never "
                    "replace a pod; allow one of them to be at least 1",
                    K8S_DEPLOYMENT_STRATEGY,
                )


@check("release", K8S_TOLERATION, reads="release")
def tolerations(release: Release) -> Iterator[Finding]:
    """``Exists`` takes no value; an empty key needs ``Exists``."""
    for obj in release.objects:
        for pod in release.pods_of(obj):
            base, spec = pod.path, pod.spec
            for index, item in enumerate(spec.get("tolerations") or []):
                if not isinstance(item, dict):
                    continue
                operator = item.get("operator") or "Equal"
                if operator == "Exists" and item.get("value"):
                    yield Finding(
                        obj,
                        (*base, "tolerations", index, "value"),
                        "a toleration with operator Exists takes no value",
                        K8S_TOLERATION,
                    )
                if not item.get("key") and operator != "Exists":
                    yield Finding(
                        obj,
                        (*base, "tolerations", index, "operator"),
                        "a toleration without a key must have operator Exists",
                        K8S_TOLERATION,
                    )


@check("release", K8S_QUANTITY, reads="release")
def pod_quantities(release: Release) -> Iterator[Finding]:
    """Every quantity of a pod spec (an emptyDir sizeLimit, an overhead), parsed as the API
    server parses it; found by walking the spec along its Kubernetes definition."""
    for obj in release.objects:
        for pod in release.pods_of(obj):
            base, spec = pod.path, pod.spec
            for path, value in quantity_fields("io.k8s.api.core.v1.PodSpec", spec, base):
                if "resources" in path:
                    continue  # container_resources says more about these
                try:
                    parse_quantity(value)
                except ValueError as exc:
                    yield Finding(obj, path, str(exc), K8S_QUANTITY)


@check("release", K8S_CLAIM_SIZE, reads="release")
def claim_sizes(release: Release) -> Iterator[Finding]:
    """A claim asks for some storage (more than zero): a PersistentVolumeClaim, and the claim
    template of a StatefulSet or a LeaderWorkerSet (a claim per pod)."""
    for obj, base, claim in release.claims():
        path = (*base, "spec", "resources", "requests", "storage")
        size = get(claim, ("spec", "resources", "requests", "storage"))
        try:
            empty = size is not None and parse_quantity(size) <= 0
        except ValueError:
            continue  # pod_quantities and the schema say why
        if empty:
            yield Finding(
                obj,
                path,
                f"a claim of {size!r}: Kubernetes needs a storage request greater than zero",
                K8S_CLAIM_SIZE,
            )


def api_findings(objects: list[dict[str, Any]]) -> list[Finding]:
    """Every API rule's findings on rendered objects alone: the checks of the release stage
    that read nothing but the release (the suite sends the same objects to a real API
    server)."""
    from ...core.rules import REGISTRY

    release = Release(objects)
    return [
        finding
        for found in REGISTRY.in_stage("release")
        if found.reads == "release"
        for finding in found.func(release)
    ]
