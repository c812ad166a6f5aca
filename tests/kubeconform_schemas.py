"""JSON schemas for kubeconform, offline: strict, standalone, at the lowest Kubernetes the chart
claims.

kubeconform fetches its schemas over HTTP by default; the tests have no network. The schemas
here come from two local sources:

- Kubernetes' own kinds: the strict schemas that ``kubernetes-validate`` ships for each release
  (the OpenAPI of that release, unknown fields refused). Their ``$ref`` point at a shared
  ``/api/_definitions.json`` by absolute URL, which kubeconform would try to download, so each
  kind is written standalone: the definitions it reaches are copied into its own ``$defs``.
- The custom kinds: the ``openAPIV3Schema`` of each CRD in ``schemas/crds/`` (the projects' own
  files, the ones the test API server installs), made strict the way kubeconform's
  ``openapi2jsonschema`` makes them: an object with ``properties`` refuses other keys unless it
  says ``x-kubernetes-preserve-unknown-fields``, and ``nullable`` allows null.

The files are named as kubeconform's default location template asks (``{kind}-{group}-{version}``,
lowercase, the first label of the group), in ``v{VERSION}-standalone-strict/``, so the
location is ``DIR/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/
{{ .ResourceKind }}{{ .KindSuffix }}.json``.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CRDS = ROOT / "schemas" / "crds"
LOCATION = "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"  # noqa: E501
_DEFS_REF = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/(.+)$")


def lowest_kubernetes(chart: Path) -> str:
    """The lowest Kubernetes release the chart's ``kubeVersion`` admits (``>=1.29.0-0`` gives
    ``1.29.0``): the single place the version comes from."""
    claim = str(yaml.safe_load((chart / "Chart.yaml").read_text())["kubeVersion"])
    match = re.search(r">=\s*v?(\d+)\.(\d+)(?:\.(\d+))?", claim)
    if not match:
        raise ValueError(f"Chart.yaml kubeVersion {claim!r} names no lower bound (>=X.Y)")
    return f"{match.group(1)}.{match.group(2)}.{match.group(3) or 0}"


def file_name(kind: str, api_version: str) -> str:
    """kubeconform's ``{{ .ResourceKind }}{{ .KindSuffix }}.json`` for a kind."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix.lower()}.json"


def _kubernetes_dir(version: str) -> Any:
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    folder = root / f"v{version}-local-strict"
    if not folder.is_dir():
        raise FileNotFoundError(f"kubernetes-validate ships no schemas for Kubernetes {version}")
    return folder


def _standalone(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every definition it reaches copied into its own ``$defs``."""
    needed: dict[str, Any] = {}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                match = _DEFS_REF.match(value) if key == "$ref" and isinstance(value, str) else None
                if match:
                    name = match.group(1)
                    out[key] = f"#/$defs/{name}"
                    if name not in needed:
                        needed[name] = None  # placeholder: breaks cycles
                        needed[name] = rewrite(definitions[name])
                else:
                    out[key] = rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    result = rewrite({k: v for k, v in schema.items() if k != "$id"})
    result["$defs"] = needed
    return result


def _strict(node: Any) -> Any:
    """An OpenAPI v3 schema of a CRD as a strict JSON schema."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _crd_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                api_version = f"{spec['group']}/{version['name']}"
                schema.setdefault("properties", {}).update(
                    {
                        "apiVersion": {"type": "string", "enum": [api_version]},
                        "kind": {"type": "string", "enum": [spec["names"]["kind"]]},
                        "metadata": {"type": "object"},
                    }
                )
                strict = _strict(schema)
                strict["$schema"] = "http://json-schema.org/draft-07/schema#"
                schemas[file_name(spec["names"]["kind"], api_version)] = strict
    return schemas


def write_schemas(out: Path, version: str, kinds: Iterable[tuple[str, str]]) -> Path:
    """Write the schemas of ``kinds`` (``(kind, apiVersion)``) for Kubernetes ``version``
    under ``out``; returns the ``-schema-location`` template for kubeconform. A kind with no
    schema is left out: kubeconform then says so (it runs without -ignore-missing-schemas)."""
    folder = out / f"v{version}-standalone-strict"
    folder.mkdir(parents=True, exist_ok=True)
    source = _kubernetes_dir(version)
    definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
    custom = _crd_schemas()
    for kind, api_version in sorted(set(kinds)):
        name = file_name(kind, api_version)
        if name in custom:
            schema = custom[name]
        elif (source / name).is_file():
            schema = _standalone(json.loads((source / name).read_text()), definitions)
        else:
            continue
        (folder / name).write_text(json.dumps(schema), encoding="utf-8")
    return str(out / LOCATION)
