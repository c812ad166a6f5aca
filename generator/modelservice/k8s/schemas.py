"""The official Kubernetes OpenAPI schemas (strict: unknown fields are errors), offline.

The schemas come from the ``kubernetes-validate`` package, for :data:`KUBERNETES_VERSION`.
Validators are built once per definition and cached, so checking many objects stays fast.
Also here: Kubernetes quantity parsing and the name and label rules an API server enforces.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from ..core.problem import shown

#: The Kubernetes version whose schemas every manifest and pass-through object is checked
#: against.
KUBERNETES_VERSION = "1.33.0"

_DEFS_ID = "https://kubernetes.io/api/_definitions.json"


def _schema_dir() -> Any:
    import importlib.resources

    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return root / f"v{KUBERNETES_VERSION}-local-strict"


@cache
def definitions_document() -> dict[str, Any]:
    """The document of every definition (``{"$defs": {...}}``), the root of their
    ``#/$defs/...`` references, read once."""
    text = (_schema_dir() / "_definitions.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def definitions() -> dict[str, Any]:
    """Every Kubernetes definition by name (``io.k8s.api.core.v1.EnvVar``), read once."""
    defs: dict[str, Any] = definitions_document()["$defs"]
    return defs


@cache
def _registry() -> Any:
    from referencing import Registry, Resource

    return Resource.from_contents(definitions_document()) @ Registry()


@cache
def definition_validator(definition: str) -> Any:
    """A strict validator for one definition, e.g. ``io.k8s.api.core.v1.EnvVar``."""
    from jsonschema import Draft202012Validator

    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"{_DEFS_ID}#/$defs/{definition}",
    }
    return Draft202012Validator(schema, registry=_registry())


def schema_file_for(kind: str, api_version: str) -> str:
    """The schema file of a kind, as kubernetes-validate names them (``deployment-apps-v1``)."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


@cache
def object_validator(kind: str, api_version: str) -> Any | None:
    """A strict validator for a whole object of ``kind``, or None when Kubernetes has none
    (a custom resource such as a ServiceMonitor)."""
    from jsonschema import Draft202012Validator

    path = _schema_dir() / schema_file_for(kind, api_version)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=_registry())


def iter_object_errors(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """Strict schema errors of a whole manifest as ``(dotted.path, message)``.

    Raises ``LookupError`` when Kubernetes has no schema for the kind.
    """
    validator = object_validator(str(obj.get("kind")), str(obj.get("apiVersion")))
    if validator is None:
        raise LookupError(
            f"no Kubernetes {KUBERNETES_VERSION} schema for "
            f"{obj.get('apiVersion')}/{obj.get('kind')}"
        )
    return [
        (".".join(str(p) for p in err.absolute_path), err.message)
        for err in validator.iter_errors(obj)
    ]


# -- quantities ---------------------------------------------------------------------------

_QUANTITY = re.compile(
    r"^(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity (``"500m"``, ``"16Gi"``, ``4``) as a number, as the API server
    parses it. Raises ``ValueError`` for anything Kubernetes would reject."""
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a quantity")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if not match or value != value.strip():
        raise ValueError(
            f"{shown(value)} is not a Kubernetes quantity (a number with an optional suffix "
            "such as m, k, M, G, Ki, Mi, Gi)"
        )
    try:
        number = Decimal(match.group("num"))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from None
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        number *= _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= _DECIMAL[suffix]
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > 60:  # far beyond any resource; Decimal would overflow
            raise ValueError(f"{value!r} is out of range for a Kubernetes quantity")
        number *= Decimal(10) ** exponent
    return -number if match.group("sign") == "-" else number


# -- names and labels ---------------------------------------------------------------------

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def label_key_problem(key: str) -> str | None:
    """Why an API server would reject ``key`` as a label key, or None."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"label key prefix {prefix!r} must be a DNS subdomain"
    if not name or len(name) > 63 or not LABEL_NAME.match(name):
        return f"label key {key!r}: the name part must be 1-63 alphanumerics, '-', '_' or '.'"
    return None


def label_value_problem(value: object) -> str | None:
    """Why an API server would reject ``value`` as a label value, or None."""
    if not isinstance(value, str):
        return f"label value {shown(value)} must be a string"
    if len(value) > 63 or not LABEL_VALUE.match(value):
        return (
            f"label value {value!r} must be at most 63 alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return None
