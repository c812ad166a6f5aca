"""The official Kubernetes OpenAPI schemas (strict: unknown fields are errors), offline.

The schemas come from the ``kubernetes-validate`` package, for :data:`KUBERNETES_VERSION`.
Validators are built once per definition and cached, so checking many objects stays fast.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

#: The Kubernetes version whose schemas every manifest and pass-through object is checked
#: against.
KUBERNETES_VERSION = "1.34.0"

_DEFS_ID = "https://kubernetes.io/api/_definitions.json"


@cache
def schema_dir() -> Path:
    """The folder of kubernetes-validate's schemas, found without importing the package
    (its own code is not needed, only its data files)."""
    from importlib.util import find_spec

    spec = find_spec("kubernetes_validate")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise ModuleNotFoundError("kubernetes-validate is not installed")
    return Path(folders[0]) / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"


@cache
def definitions_document() -> dict[str, Any]:
    """The document of every definition (``{"$defs": {...}}``), the root of their
    ``#/$defs/...`` references, read once."""
    text = (schema_dir() / "_definitions.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


#: How _definitions.json lays out its definitions (``json.dumps(indent=2)``): each name is a key
#: at the start of a line indented by four spaces, which no deeper key and no string (JSON
#: escapes its line breaks) can be.
_DEFINITION_KEY = '\n    "'


@cache
def definition_index() -> tuple[str, dict[str, int]] | None:
    """The text of the definitions document and where each definition's value starts in it,
    or None when the file is not laid out as :data:`_DEFINITION_KEY` says."""
    text = (schema_dir() / "_definitions.json").read_text(encoding="utf-8")
    if not text.startswith('{\n  "$defs": {'):
        return None
    offsets: dict[str, int] = {}
    at = text.find(_DEFINITION_KEY)
    while at != -1:
        start = at + len(_DEFINITION_KEY)
        end = text.find('": ', start)
        if end == -1:
            return None
        offsets[text[start:end]] = end + 3
        at = text.find(_DEFINITION_KEY, end)
    return text, offsets


@cache
def definition(name: str) -> dict[str, Any] | None:
    """One definition by name (``io.k8s.api.core.v1.PodSpec``), or None. The whole document is
    1.4 MB of JSON; a check that needs a few definitions (the walk of a rendered pod spec)
    decodes only those, unless the document was read whole already."""
    if definitions_document.cache_info().currsize:
        return definitions().get(name)
    index = definition_index()
    if index is None:
        return definitions().get(name)
    text, offsets = index
    if name not in offsets:
        return None
    found, _ = json.JSONDecoder().raw_decode(text, offsets[name])
    return found if isinstance(found, dict) else None


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

    path = schema_dir() / schema_file_for(kind, api_version)
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
