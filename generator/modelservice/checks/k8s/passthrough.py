"""Kubernetes objects passed through values, checked at their own lines.

``env``, ``affinity``, ``extraVolumes`` and the other pass-through keys are only shaped by the
chart's schema; here each one is validated against the official Kubernetes definition it
becomes in the Deployment (strict: unknown fields are errors), quantities are parsed as the API
server parses them, and the objects are checked against each other and against what the chart
renders itself: requests within limits, GPUs through ``gpu`` rather than ``resources``, mounts
of volumes that exist, no two mounts at one path, no environment variable set twice.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from ...core.problem import Problem, shown
from ...core.rules import Rule, rule
from ...core.tree import Path_, get
from ...k8s import schemas as k8s
from ...k8s.names import DNS1123_LABEL, ENV_VAR_NAME
from ...k8s.quantity import parse_quantity
from ...schema import check as schema_check
from ..context import check

if TYPE_CHECKING:
    from ..context import Context

_OBJECTS = (
    "env, envFrom, extraVolumes, extraVolumeMounts, affinity, tolerations, "
    "topologySpreadConstraints, imagePullSecrets, resources, podSecurityContext, "
    "securityContext, networkPolicy.from, tests.resources, autoscaling.hpa.selector, "
    "routing.endpointPicker.resources, .tokenizer.resources, .affinity, .tolerations"
)
K8S_UNKNOWN_FIELD = rule(
    "k8s-unknown-field",
    "error",
    "values",
    f"A field the Kubernetes object passed through ({_OBJECTS}) does not have, by the official "
    "Kubernetes definitions in strict mode, with the closest field: an API server with strict "
    "field validation refuses it, and one without drops it silently.",
)
K8S_REQUIRED = rule(
    "k8s-required",
    "error",
    "values",
    "A Kubernetes object passed through lacks a field its definition requires (an env item "
    "without a name, a toleration of an unknown shape).",
)
K8S_TYPE = rule(
    "k8s-type",
    "error",
    "values",
    "A field of a Kubernetes object passed through holds a value of the wrong type (a user id "
    "as text, a list where a mapping belongs).",
)
K8S_ENUM = rule(
    "k8s-enum",
    "error",
    "values",
    "A field of a Kubernetes object passed through takes one of a fixed set of values the API "
    "server enforces (a toleration operator `Exists` or `Equal`, a topology spread's "
    "whenUnsatisfiable, an emptyDir medium), with the closest one.",
)
K8S_QUANTITY = rule(
    "k8s-quantity",
    "error",
    "values",
    "A quantity the API server cannot parse (`16 Gi`, `1.5.0`, `lots`), in a Kubernetes object "
    "passed through or in the rendered pod (an emptyDir sizeLimit): a number with an optional "
    "suffix such as m, k, M, G, Ki, Mi, Gi.",
)
K8S_NAME = rule(
    "k8s-name",
    "error",
    "values",
    "A name the API server refuses: an environment variable name (letters, digits, `_`, `-`, "
    "`.`, not starting with a digit) or a volume name (a DNS label).",
)
K8S_INVALID = rule(
    "k8s-invalid",
    "error",
    "values",
    "A Kubernetes object passed through breaks its official definition in a way no other "
    "`k8s-*` rule names.",
)

_API = "io.k8s.api.core.v1."

#: Pass-through values keys: (definition of the key itself or of each item, is a list).
PASS_THROUGH: dict[tuple[str, ...], tuple[str, bool]] = {
    ("env",): (_API + "EnvVar", True),
    ("envFrom",): (_API + "EnvFromSource", True),
    ("extraVolumes",): (_API + "Volume", True),
    ("extraVolumeMounts",): (_API + "VolumeMount", True),
    ("affinity",): (_API + "Affinity", False),
    ("tolerations",): (_API + "Toleration", True),
    ("topologySpreadConstraints",): (_API + "TopologySpreadConstraint", True),
    ("imagePullSecrets",): (_API + "LocalObjectReference", True),
    ("resources",): (_API + "ResourceRequirements", False),
    ("podSecurityContext",): (_API + "PodSecurityContext", False),
    ("securityContext",): (_API + "SecurityContext", False),
    ("networkPolicy", "from"): ("io.k8s.api.networking.v1.NetworkPolicyPeer", True),
    ("tests", "resources"): (_API + "ResourceRequirements", False),
    ("routing", "endpointPicker", "resources"): (_API + "ResourceRequirements", False),
    ("routing", "endpointPicker", "tokenizer", "resources"): (_API + "ResourceRequirements", False),
    ("routing", "endpointPicker", "affinity"): (_API + "Affinity", False),
    ("routing", "endpointPicker", "tolerations"): (_API + "Toleration", True),
    ("autoscaling", "hpa", "selector"): (
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
        False,
    ),
}

_QUANTITY_REF = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def _kind(definition: str) -> str:
    return definition.rsplit(".", 1)[-1]


def _resolve(schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Follow a ``$ref`` into the definitions: (definition name or None, schema)."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return None, schema
    return _definition(ref)


_DEFS = "#/$defs/"


@cache
def _definition(ref: str) -> tuple[str | None, dict[str, Any]]:
    """The definition a ``#/$defs/NAME`` reference names (followed on while it is a reference
    itself, as :func:`modelservice.schema.refs.resolve` follows them), read one at a time."""
    from ...schema.refs import ref_name

    name = ref_name({"$ref": ref})
    merged: dict[str, Any] = {"$ref": ref}
    seen: set[str] = set()
    while isinstance(merged.get("$ref"), str):
        target = merged["$ref"]
        found = k8s.definition(target[len(_DEFS) :]) if target.startswith(_DEFS) else None
        if found is None or target in seen:
            return name, {}
        seen.add(target)
        merged = {**found, **{k: v for k, v in merged.items() if k != "$ref"}}
    return name, merged


def _fields(
    schema: dict[str, Any], value: Any, path: Path_, owner: str = ""
) -> Iterator[tuple[str, str, Path_, Any]]:
    """Every field inside ``value`` as (owning definition, field, path, value), walking it
    alongside its Kubernetes schema; a quantity is reported with the field ``<quantity>``."""
    name, schema = _resolve(schema)
    if name == _QUANTITY_REF:
        if value is not None:
            yield owner, "<quantity>", path, value
        return
    owner = _kind(name) if name else owner
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key) or (extra if isinstance(extra, dict) else None)
            if sub:
                yield owner, key, (*path, key), item
                yield from _fields(sub, item, (*path, key), owner)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _fields(schema["items"], item, (*path, index), owner)


def quantity_fields(definition: str, value: Any, base: Path_) -> Iterator[tuple[Path_, Any]]:
    """Every quantity inside ``value``, an object of the Kubernetes ``definition``."""
    for _, name, path, item in _fields({"$ref": "#/$defs/" + definition}, value, base):
        if name == "<quantity>":
            yield path, item


_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
#: Enumerations the API server enforces but the OpenAPI schemas do not carry.
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    # empty (or null, which the API server decodes as empty) means Equal
    ("Toleration", "operator"): ("", "Exists", "Equal"),
    # empty matches every effect
    ("Toleration", "effect"): ("", "NoSchedule", "PreferNoSchedule", "NoExecute"),
    ("NodeSelectorRequirement", "operator"): (*_SELECTOR_OPERATORS, "Gt", "Lt"),
    ("LabelSelectorRequirement", "operator"): _SELECTOR_OPERATORS,
    ("TopologySpreadConstraint", "whenUnsatisfiable"): ("DoNotSchedule", "ScheduleAnyway"),
    ("TopologySpreadConstraint", "nodeAffinityPolicy"): ("Honor", "Ignore"),
    ("TopologySpreadConstraint", "nodeTaintsPolicy"): ("Honor", "Ignore"),
    ("SeccompProfile", "type"): ("RuntimeDefault", "Localhost", "Unconfined"),
    ("AppArmorProfile", "type"): ("RuntimeDefault", "Localhost", "Unconfined"),
    ("VolumeMount", "mountPropagation"): ("None", "HostToContainer", "Bidirectional"),
    ("EmptyDirVolumeSource", "medium"): ("", "Memory"),
    ("HostPathVolumeSource", "type"): (
        "",
        "DirectoryOrCreate",
        "Directory",
        "FileOrCreate",
        "File",
        "Socket",
        "CharDevice",
        "BlockDevice",
    ),
}


def _field_problem(owner: str, field: str, value: Any) -> tuple[str, Rule] | None:
    """(message, rule) when the API server would reject one field's value, else None."""
    if field == "<quantity>":
        try:
            parse_quantity(value)
        except ValueError as exc:
            return str(exc), K8S_QUANTITY
        return None
    allowed = ENUMS.get((owner, field))
    # the API server decodes a null string field as the empty string
    if allowed is not None and ("" if value is None else value) not in allowed:
        near = difflib.get_close_matches(str(value), [a for a in allowed if a], n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        options = ", ".join(repr(a) for a in allowed if a) + (" or empty" if "" in allowed else "")
        return f"{shown(value)} is not one of {options} ({owner}.{field}){hint}", K8S_ENUM
    if owner == "EnvVar" and field == "name" and isinstance(value, str):
        if not ENV_VAR_NAME.match(value):
            return (
                f"{value!r} is not a valid environment variable name (letters, digits, "
                "'_', '-' and '.', not starting with a digit)",
                K8S_NAME,
            )
    if field == "name" and owner in ("Volume", "VolumeMount") and isinstance(value, str):
        if len(value) > 63 or not DNS1123_LABEL.match(value):
            return (
                f"volume name {value!r} must be a DNS label (at most 63 lowercase "
                "alphanumerics or '-', starting and ending with an alphanumeric)",
                K8S_NAME,
            )
    return None


class _KubernetesWords(schema_check.Words):
    """Schema errors of a Kubernetes object said in its own terms (``k8s-*`` rules)."""

    rules: ClassVar[dict[str, Rule]] = {"type": K8S_TYPE, "enum": K8S_ENUM}
    fallback = K8S_INVALID
    unknown_rule = K8S_UNKNOWN_FIELD

    def __init__(self, definition: str) -> None:
        self.definition = definition

    def unknown(self, error: Any, key: str, path: Path_, near: str | None) -> str:
        hint = f" (did you mean `{near}`?)" if near else ""
        return f"`{key}` is not a field of a Kubernetes {_where(error, self.definition)}{hint}"

    def required(
        self, error: Any, missing: str, path: Path_, values: Any
    ) -> tuple[Path_, str, Rule, bool] | None:
        if _misspelled(error, missing):
            return None  # reported as the unknown field that meant it
        message = f"a Kubernetes {_where(error, self.definition)} needs `{missing}`"
        return path, message, K8S_REQUIRED, True

    def leaf(self, error: Any) -> Any:
        if error.validator in ("oneOf", "anyOf") and error.context:
            return min(error.context, key=lambda e: e.validator == "type")
        return error

    def message(self, error: Any) -> str:
        message = error.message
        if error.validator == "type":
            types = error.validator_value
            wanted = " or ".join(types) if isinstance(types, list) else str(types)
            message = f"{shown(error.instance)} is not of type {wanted}"
        elif error.validator == "enum":
            allowed = ", ".join(repr(v) for v in error.validator_value if v is not None)
            message = f"{shown(error.instance)} is not one of {allowed}"
        return f"{message} ({_where(error, self.definition)})"


def _schema_problems(ctx: Context, base: Path_, definition: str, value: Any) -> list[Problem]:
    """Strict schema errors of one pass-through object at ``base``, each at its own line."""
    validator = k8s.definition_validator(definition)
    problems = schema_check.positioned(
        ctx.problem,
        value,
        list(validator.iter_errors(value)),
        base=base,
        words=_KubernetesWords(definition),
    )
    if not problems:
        for owner, name, path, item in _fields({"$ref": "#/$defs/" + definition}, value, base):
            found = _field_problem(owner, name, item)
            if found:
                problems.append(ctx.problem(path, found[0], found[1], key=False))
    return problems


def _quantity_problems(ctx: Context, path: Path_, resources: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for section in ("requests", "limits"):
        quantities = resources.get(section)
        if not isinstance(quantities, dict):
            continue  # the chart's schema says what else it is
        for name, quantity in quantities.items():
            if quantity is None:
                # Helm's merge deletes the chart's default (`requests.cpu: null`), and the
                # chart's schema judges a null left without one.
                continue
            try:
                parse_quantity(quantity)
            except ValueError as exc:
                where = (*path, section, name)
                problems.append(ctx.problem(where, str(exc), K8S_QUANTITY, key=False))
    return problems


def _misspelled(error: Any, missing: str) -> bool:
    """Whether the object has an unknown field that is a typo of the missing one."""
    if not isinstance(error.instance, dict):
        return False
    known = set((error.schema.get("properties") or {}).keys())
    extras = [k for k in error.instance if k not in known]
    return bool(difflib.get_close_matches(missing, extras, n=1, cutoff=0.6))


def _where(error: Any, definition: str) -> str:
    """The Kubernetes type the failing part of an object is (``NodeSelectorTerm``)."""
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    if description:
        for name, schema in k8s.definitions().items():
            if schema.get("description") == description:
                return _kind(name)
    return _kind(definition)


@check(
    "values",
    K8S_UNKNOWN_FIELD,
    K8S_REQUIRED,
    K8S_TYPE,
    K8S_ENUM,
    K8S_QUANTITY,
    K8S_NAME,
    K8S_INVALID,
    phase="objects",
)
def kubernetes_objects(ctx: Context) -> list[Problem]:
    """Validate every pass-through object the user wrote against its Kubernetes definition."""
    problems: list[Problem] = []
    for path, (definition, is_list) in PASS_THROUGH.items():
        value = get(ctx.values, path)
        if not value:
            continue
        if definition.endswith(".ResourceRequirements") and not isinstance(value, dict):
            continue  # the chart's schema says what else it is
        if definition.endswith(".ResourceRequirements") and not value.get("claims"):
            # requests and limits are already strict quantity maps in the chart's schema:
            # only the quantities are left to parse as Kubernetes parses them.
            problems.extend(_quantity_problems(ctx, path, value))
            continue
        if is_list and isinstance(value, list):
            for index, item in enumerate(value):
                problems.extend(_schema_problems(ctx, (*path, index), definition, item))
        elif not is_list:
            problems.extend(_schema_problems(ctx, path, definition, value))
    return problems
