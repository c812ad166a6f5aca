"""The constraints file of ``modelservice bake``: a small, closed vocabulary of platform rules
(an unknown key is an error at its line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InvalidValues

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


@dataclass(frozen=True)
class ConstraintRow:
    """One constraint as the baked README lists it."""

    key: str
    rule: str


def load_constraints(file: Path) -> tuple[Any, dict[str, Any]]:
    """The constraints file (loaded, for positions) and its data, checked against
    :data:`CONSTRAINTS_SCHEMA`; every problem on its own line."""
    from jsonschema import Draft7Validator

    from ..core.problem import Problem
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
            [Problem(str(file), 1, 1, "/", "is not a mapping of constraints", "constraints-type")]
        )
    problems = positioned(loaded, data, list(Draft7Validator(CONSTRAINTS_SCHEMA).iter_errors(data)))
    if problems:
        raise InvalidValues([_as_constraint_problem(p) for p in problems])
    return loaded, data


def _as_constraint_problem(problem: Any) -> Any:
    from dataclasses import replace

    return replace(problem, rule=problem.rule.replace("schema-", "constraints-", 1))
