"""The derived chart's values.schema.json: the base schema with the baked defaults and the
constraints written as plain draft-07 keywords, so that a plain ``helm install`` enforces them.
A bake only narrows what the base schema allows."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import InvalidValues, UserError
from ..core.rules import rule
from ..core.tree import get as value_at
from .constraints import ConstraintRow, Key

BAKE_DEFAULT_CONFLICT = rule(
    "bake-default-conflict",
    "error",
    "values",
    "A default of `modelservice bake`'s defaults file (or of the base chart) breaks one of the "
    "constraints baked with it: every install of the derived chart would fail. Set the key in "
    "the defaults file to a value the constraint allows.",
)
BAKE_WIDENS = rule(
    "bake-widens",
    "error",
    "values",
    "A constraint of `modelservice bake` that would allow more than the base chart's schema "
    "does (a maxGPUs above the chart's limit): a derived chart may only narrow the base.",
)


def _inline(node: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    """A schema node with its top-level local ``$ref`` replaced by a copy of the target (so a
    change made here does not reach other users of the definition)."""
    node = dict(node)
    while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        own = {k: v for k, v in node.items() if k != "$ref"}
        node = {**copy.deepcopy(target), **own}
    return node


def schema_node(schema: dict[str, Any], key: Key) -> dict[str, Any] | None:
    """The (inlined, editable) schema node of a values key, or None if the schema lacks it."""
    node = schema
    for part in key:
        properties = node.get("properties")
        if not isinstance(properties, dict) or part not in properties:
            return None
        properties[part] = _inline(properties[part], schema)
        node = properties[part]
    return node


def set_defaults(schema: dict[str, Any], defaults: Mapping[str, Any], merged: Any) -> None:
    """Set ``default`` of every key the defaults file sets to its baked (merged) value."""

    def walk(node: Mapping[str, Any], key: Key) -> None:
        for name, value in node.items():
            child = (*key, name)
            target = schema_node(schema, child)
            if target is None:
                continue
            if isinstance(value, Mapping) and "properties" in target and value:
                walk(value, child)
            else:
                target["default"] = copy.deepcopy(value_at(merged, child))

    walk(defaults, ())


def _note(node: dict[str, Any], text: str) -> None:
    description = str(node.get("description", "")).rstrip()
    node["description"] = f"{description} Platform constraint: {text}".strip()


def _names(items: list[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def require(schema: dict[str, Any], key: Key) -> None:
    """Mark ``key`` and each of its parents required. Helm deletes a key set to ``null`` from
    the merged values before it checks the schema, so without this a user's ``null`` would
    remove a baked default and the constraint on it at once."""
    for depth in range(len(key)):
        parent = schema if depth == 0 else schema_node(schema, key[:depth])
        if parent is None:
            return
        required = list(parent.get("required", []))
        if key[depth] not in required:
            parent["required"] = [*required, key[depth]]


@dataclass(frozen=True)
class Widening:
    """A constraint that would allow what the base chart's schema forbids."""

    constraint: str
    message: str


def apply_constraints(
    schema: dict[str, Any],
    constraints: Mapping[str, Any],
    *,
    name: str = "the baked chart",
    base: str = "the base chart",
) -> tuple[dict[Key, str], list[ConstraintRow]]:
    """Tighten ``schema`` in place; returns which constraint guards which values key, and the
    README rows.

    A bake only narrows: where the base chart's schema already limits a key (an earlier bake,
    or the chart itself), the new limit must lie within it; every widening is collected and
    raised at the end (``Widened``), each message naming both charts' limits. Every
    constrained key is also marked required (see :func:`require`).
    """
    origins: dict[Key, str] = {}
    rows: list[ConstraintRow] = []
    widenings: list[Widening] = []

    def node(key: Key, constraint: str) -> dict[str, Any]:
        found = schema_node(schema, key)
        if found is None:
            raise UserError(f"{constraint}: the base chart's schema has no {'.'.join(key)}")
        origins[key] = constraint
        require(schema, key)
        return schema_node(schema, key) or found

    def within(constraint: str, key: Key, target: dict[str, Any], allowed: list[Any]) -> bool:
        """Whether ``allowed`` lies within the base's enum of ``target`` (recorded if not)."""
        before = target.get("enum")
        if isinstance(before, list) and any(value not in before for value in allowed):
            widenings.append(
                Widening(
                    constraint,
                    f"{name} would allow {_names(allowed)} for {'.'.join(key)}, but its base "
                    f"chart {base} allows only {_names(before)} (a bake can only narrow: drop "
                    f"{_names([v for v in allowed if v not in before])})",
                )
            )
            return False
        return True

    def enum(constraint: str, key: Key) -> None:
        allowed = list(constraints[constraint])
        target = node(key, constraint)
        if not within(constraint, key, target, allowed):
            return
        target["enum"] = allowed
        _note(target, f"one of {_names(allowed)}.")
        rows.append(ConstraintRow(constraint, f"`{'.'.join(key)}` is one of {_names(allowed)}"))

    if "allowedImageRepositories" in constraints:
        enum("allowedImageRepositories", ("image", "repository"))
        if schema_node(schema, ("tests", "image", "repository")) is not None:
            enum("allowedImageRepositories", ("tests", "image", "repository"))
    if "maxGPUs" in constraints:
        limit = int(constraints["maxGPUs"])
        target = node(("gpu", "count"), "maxGPUs")
        before = target.get("maximum")
        if isinstance(before, int) and limit > before:
            widenings.append(
                Widening(
                    "maxGPUs",
                    f"{name} would allow gpu.count up to {limit}, but its base chart {base} "
                    f"allows at most {before} (a bake can only narrow)",
                )
            )
        else:
            target["maximum"] = limit
            _note(target, f"at most {limit} (and {limit} accelerators per model replica).")
            rows.append(
                ConstraintRow(
                    "maxGPUs",
                    f"at most {limit} accelerators per model replica: `gpu.count` x "
                    "`multiNode.nodes`, and any device under `resources`",
                )
            )
    if "allowedStorageClasses" in constraints:
        enum("allowedStorageClasses", ("persistence", "storageClassName"))
    if "maxClaimSize" in constraints:
        # JSON Schema cannot compare quantities: the templates refuse a larger claim.
        size = constraints["maxClaimSize"]
        _note(node(("persistence", "size"), "maxClaimSize"), f"at most {size}.")
        rows.append(
            ConstraintRow("maxClaimSize", f"every claim (the cache, ephemeral volumes) <= {size}")
        )
    if "allowedRuntimeClasses" in constraints:
        enum("allowedRuntimeClasses", ("gpu", "runtimeClassName"))
    if constraints.get("requireMirror"):
        target = node(("huggingface", "endpoint"), "requireMirror")
        target["minLength"] = max(1, int(target.get("minLength", 0)))
        _note(target, "required (a mirror).")
        rows.append(
            ConstraintRow(
                "requireMirror",
                "`huggingface.endpoint` must not be empty, nor `modelscope.endpoint` when "
                "anything comes from ModelScope; `env` may not set `HF_ENDPOINT` or "
                "`MODELSCOPE_ENDPOINT` again",
            )
        )
    selector: dict[str, Any] | None = None
    if "requiredNodeSelector" in constraints:
        selector = node(("nodeSelector",), "requiredNodeSelector")
        for label, value in constraints["requiredNodeSelector"].items():
            properties = selector.setdefault("properties", {})
            current = properties.get(label, {})
            if not within("requiredNodeSelector", ("nodeSelector", label), current, [value]):
                continue
            properties[label] = {**current, "type": "string", "enum": [value]}
            selector["required"] = sorted({*selector.get("required", []), label})
            rows.append(
                ConstraintRow("requiredNodeSelector", f"`nodeSelector.{label}` is `{value}`")
            )
    if "requireNodeSelector" in constraints:
        selector = node(("nodeSelector",), "requireNodeSelector")
        for label in constraints["requireNodeSelector"]:
            properties = selector.setdefault("properties", {})
            properties.setdefault(label, {"type": "string", "minLength": 1})
            selector["required"] = sorted({*selector.get("required", []), label})
            rows.append(ConstraintRow("requireNodeSelector", f"`nodeSelector.{label}` is set"))
    if selector is not None:
        _note(selector, f"must select {_names(selector['required'])}.")
    if widenings:
        raise Widened(widenings)
    return origins, rows


class Widened(Exception):
    """Raised by :func:`apply_constraints`; :func:`bake` reports each at its constraint."""

    def __init__(self, widenings: list[Widening]) -> None:
        super().__init__(widenings)
        self.widenings = widenings


def check_baked_defaults(
    schema: dict[str, Any],
    merged: Any,
    origins: Mapping[Key, str],
    constraints_file: Any,
) -> None:
    """The baked defaults satisfy the baked schema (else every install would fail)."""
    from jsonschema import Draft7Validator

    from ..core.problem import Problem
    from ..schema.check import _leaf, _message

    problems: list[Problem] = []
    for error in Draft7Validator(schema).iter_errors(merged):
        path = tuple(str(p) for p in error.absolute_path)
        leaf = _leaf(error)
        constraint = next(
            (
                c
                for key, c in origins.items()
                if path[: len(key)] == key or key[: len(path)] == path
            ),
            None,
        )
        where = "/" + "/".join(path)
        message = (
            f"the baked default at {where} breaks this constraint: {_message(leaf)}; "
            f"set {'.'.join(path) or 'it'} in the defaults file"
        )
        if constraint is not None and constraints_file is not None:
            problems.append(constraints_file.problem((constraint,), message, BAKE_DEFAULT_CONFLICT))
        else:
            problems.append(Problem("values.yaml", 1, 1, where, message, BAKE_DEFAULT_CONFLICT.id))
    if problems:
        raise InvalidValues(problems)
