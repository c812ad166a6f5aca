"""The constraints file of ``modelservice bake``: a small, closed vocabulary of platform rules
(an unknown key is an error at its line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InvalidValues
from ..core.rules import Rule, rule
from ..schema import check as schema_check

Key = tuple[str, ...]

_NAMES = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"}}

#: The constraints file: a small, closed vocabulary (an unknown key is an error).
CONSTRAINTS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "allowedImageRepositories": {
            **_NAMES,
            "items": {"type": "string", "minLength": 1},
            "description": "Image repositories releases may use (image.repository).",
        },
        "maxGPUs": {
            "type": "integer",
            "minimum": 0,
            "description": "Most GPUs (or vGPU slices) per pod (gpu.count).",
        },
        "allowedStorageClasses": {
            **_NAMES,
            "description": "StorageClasses of the model cache (persistence.storageClassName).",
        },
        "allowedRuntimeClasses": {
            **_NAMES,
            "description": "RuntimeClasses of GPU pods (gpu.runtimeClassName).",
        },
        "requireMirror": {
            "type": "boolean",
            "description": "Hugging Face must be reached through a mirror (huggingface.endpoint).",
        },
        "requiredNodeSelector": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "string"},
            "description": "Node labels every pod must select, with their values.",
        },
        "requireNodeSelector": {
            **_NAMES,
            "items": {"type": "string", "minLength": 1},
            "description": "Node label keys every pod must select (any value).",
        },
    },
}


_BAKE = "`modelservice bake`"
CONSTRAINTS_RULES: dict[str, Rule] = {
    keyword: rule(
        f"constraints-{keyword}",
        "error",
        "values",
        f"A constraint of {_BAKE}'s constraints file that its closed vocabulary refuses: {doc}.",
    )
    for keyword, doc in {
        "type": "a value of the wrong type (a number where a list of names belongs)",
        "minimum": "a number below the constraint's least value (maxGPUs below 0)",
        "minItems": "an empty list of allowed names",
        "uniqueItems": "an allowed name listed twice",
        "minLength": "an empty name",
        "minProperties": "an empty map of node labels",
    }.items()
}
CONSTRAINTS_UNKNOWN_KEY = rule(
    "constraints-unknown-key",
    "error",
    "values",
    f"A key the constraints file of {_BAKE} does not know (its vocabulary is closed: an "
    "unknown constraint would otherwise constrain nothing), with the closest one.",
)
CONSTRAINTS_INVALID = rule(
    "constraints-invalid",
    "error",
    "values",
    f"A constraints file of {_BAKE} that is not a mapping of constraints, or breaks its schema "
    "in a way no other `constraints-*` rule names.",
)


class _ConstraintWords(schema_check.Words):
    """Schema errors of the constraints file, under the ``constraints-*`` rules."""

    rules = CONSTRAINTS_RULES
    fallback = CONSTRAINTS_INVALID
    unknown_rule = CONSTRAINTS_UNKNOWN_KEY


@dataclass(frozen=True)
class ConstraintRow:
    """One constraint as the baked README lists it."""

    key: str
    rule: str


def load_constraints(file: Path) -> tuple[Any, dict[str, Any]]:
    """The constraints file (loaded, for positions) and its data, checked against
    :data:`CONSTRAINTS_SCHEMA`; every problem on its own line."""
    from jsonschema import Draft7Validator

    from ..schema.check import positioned
    from ..values.loader import load_file

    loaded = load_file(file)
    if loaded.problems:
        raise InvalidValues(loaded.problems)
    data = loaded.data
    if data is None:
        return loaded, {}
    if not isinstance(data, dict):
        raise InvalidValues(
            [loaded.problem((), "is not a mapping of constraints", CONSTRAINTS_INVALID)]
        )
    errors = list(Draft7Validator(CONSTRAINTS_SCHEMA).iter_errors(data))
    problems = positioned(loaded, data, errors, words=_ConstraintWords())
    if problems:
        raise InvalidValues(problems)
    return loaded, data
