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
            "description": "Image repositories every container of the release may run "
            "(image.repository, tests.image.repository).",
        },
        "maxGPUs": {
            "type": "integer",
            "minimum": 0,
            "description": "Most accelerators (GPUs, vGPU slices, any device of "
            "files/accelerators.yaml) one model replica takes: gpu.count times the pods of a "
            "multi-node group, and any device a container lists under resources.",
        },
        "allowedStorageClasses": {
            **_NAMES,
            "description": "StorageClasses of every claim the release renders "
            "(persistence.storageClassName, ephemeral volumes of extraVolumes).",
        },
        "maxClaimSize": {
            "type": "string",
            "pattern": r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$",
            "description": "Largest storage request of one claim the release renders "
            "(persistence.size, ephemeral volumes), a Kubernetes quantity such as 500Gi.",
        },
        "allowedRuntimeClasses": {
            **_NAMES,
            "description": "RuntimeClasses of GPU pods (gpu.runtimeClassName).",
        },
        "requireMirror": {
            "type": "boolean",
            "description": "Every hub is reached through a mirror: huggingface.endpoint, and "
            "modelscope.endpoint when anything comes from ModelScope; no env item may set "
            "HF_ENDPOINT or MODELSCOPE_ENDPOINT again.",
        },
        "requiredNodeSelector": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "string"},
            "description": "Node labels every pod must select (the test pod too), with their "
            "values.",
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
        "pattern": "a size that is not a Kubernetes quantity (maxClaimSize: 500Gi)",
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


#: The constraints files/constraints.yaml holds in a baked chart, which its templates enforce
#: on what the release renders (templates/_constraints.tpl), with plain Helm too.
CONSTRAINTS_FILE = "files/constraints.yaml"


def _refusal(id: str, what: str) -> Rule:
    return rule(
        f"constraint-{id}",
        "error",
        "release",
        f"A platform constraint of a chart baked by {_BAKE}, which the chart's templates "
        f"enforce on everything the release renders (plain `helm install` too): {what}. The "
        "message names the constraint, what breaks it and the key to change.",
    )


CONSTRAINT_IMAGE = _refusal(
    "image",
    "allowedImageRepositories, on every container: the server, its init container, the "
    "workers of a group and the `helm test` pod (tests.image.repository)",
)
CONSTRAINT_GPUS = _refusal(
    "gpus",
    "maxGPUs, on the accelerators of one model replica: gpu.count times the pods of a "
    "multi-node group (8 pods of 8 GPUs are 64), and any device a container lists under "
    "resources (the init container takes what `resources` lists)",
)
CONSTRAINT_STORAGE_CLASS = _refusal(
    "storage-class",
    "allowedStorageClasses, on every claim: the cache claim, the claims per pod and the "
    "ephemeral volumes of extraVolumes (one that names no class gets the cluster's default)",
)
CONSTRAINT_CLAIM_SIZE = _refusal(
    "claim-size",
    "maxClaimSize, on the storage request of every claim (the cache, the claims per pod, "
    "ephemeral volumes), a comparison JSON Schema cannot make",
)
CONSTRAINT_RUNTIME_CLASS = _refusal(
    "runtime-class", "allowedRuntimeClasses, on the runtime class of every pod"
)
CONSTRAINT_NODE_SELECTOR = _refusal(
    "node-selector",
    "requiredNodeSelector and requireNodeSelector, on every pod, the test pod included "
    "(tests.nodeSelector replaces the release's)",
)
CONSTRAINT_MIRROR = _refusal(
    "mirror",
    "requireMirror: modelscope.endpoint when anything comes from ModelScope, and no env item "
    "setting HF_ENDPOINT or MODELSCOPE_ENDPOINT again (the last one wins)",
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


def effective_constraints(
    base: dict[str, Any], new: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The constraints a chart baked on ``base``'s chart enforces: both sets, each key the
    narrower of the two; and the widenings (constraint, message) ``new`` attempts where
    the base's files/constraints.yaml limits a key the schema cannot (maxClaimSize)."""
    from ..k8s.quantity import parse_quantity

    merged = dict(base)
    widenings: list[tuple[str, str]] = []
    for key, value in new.items():
        before = base.get(key)
        if before is None:
            merged[key] = value
        elif key == "maxGPUs":
            merged[key] = min(int(before), int(value))
        elif key == "maxClaimSize":
            if parse_quantity(value) > parse_quantity(before):
                widenings.append(
                    (
                        key,
                        f"maxClaimSize {value} is above the base chart's {before} (a bake can "
                        "only narrow)",
                    )
                )
            else:
                merged[key] = value
        elif key == "requireMirror":
            merged[key] = bool(before) or bool(value)
        elif key == "requiredNodeSelector":
            merged[key] = {**before, **value}
        elif key == "requireNodeSelector":
            merged[key] = sorted({*before, *value})
        else:  # allowed lists: the schema keeps them within the base's (bake-widens)
            merged[key] = value
    return merged, widenings


def constraints_text(constraints: dict[str, Any], header: str) -> str:
    """files/constraints.yaml of a baked chart."""
    import yaml

    body = yaml.safe_dump(constraints, sort_keys=True, default_flow_style=False)
    return f"{header}\n{body}"
