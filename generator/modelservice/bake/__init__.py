"""``modelservice bake``: a platform team's defaults and constraints baked into a derived chart.

The derived chart is the base chart's templates unchanged, with

- ``Chart.yaml`` rendered from ``templates/Chart.yaml.j2`` (new name and version, the base
  chart's appVersion and kubeVersion, the base recorded in annotations);
- ``values.yaml``: the base values.yaml with the defaults file merged in by ruamel.yaml's
  round trip (maps merged key by key, lists and scalars replaced), so every comment and the
  key order survive;
- ``values.schema.json``: the base schema with ``default`` set to the new defaults and the
  constraints written as plain draft-07 keywords (``enum``, ``maximum``, ``minLength``,
  ``required``), so a plain ``helm install`` of the derived chart enforces them;
- ``README.md`` with the defaults, the constraints and the generated parameter table.

The defaults file is validated like a values file against the base chart, with one
difference: a defaults file may leave the model unset (each release names its own), so the
problems "the file is empty" and "model.name / model.path is required" are tolerated, and so
are the endpoint picker's settings without a pool (they are for the releases that create one). Every
other problem, Kubernetes objects and engine arguments included, fails the bake. The baked
defaults must also satisfy the constraints, or every install of the chart would fail.

One module per job: :mod:`.constraints` (the constraints file), :mod:`.values_merge` (the
defaults file and values.yaml), :mod:`.schema_patch` (values.schema.json), :mod:`.writer` (the
chart on disk). The click command is :mod:`modelservice.cli.bake`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Where each public name lives. The modules load on first use (PEP 562): `validate` needs
#: only the constraint rules' declarations, not the chart writer.
_WHERE = {
    "CONSTRAINTS_SCHEMA": "constraints",
    "ConstraintRow": "constraints",
    "Key": "constraints",
    "load_constraints": "constraints",
    "apply_constraints": "schema_patch",
    "check_baked_defaults": "schema_patch",
    "schema_node": "schema_patch",
    "set_defaults": "schema_patch",
    "deep_merge": "values_merge",
    "load_defaults": "values_merge",
    "merge_round_trip": "values_merge",
    "merged_values_text": "values_merge",
    "Baked": "writer",
    "bake": "writer",
    "chart_yaml": "writer",
    "readme": "writer",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)


__all__ = [
    "CONSTRAINTS_SCHEMA",
    "Baked",
    "ConstraintRow",
    "Key",
    "apply_constraints",
    "bake",
    "chart_yaml",
    "check_baked_defaults",
    "deep_merge",
    "load_constraints",
    "load_defaults",
    "merge_round_trip",
    "merged_values_text",
    "readme",
    "schema_node",
    "set_defaults",
]
