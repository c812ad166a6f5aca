"""Generated files, from ``schemas/values.schema.yaml`` and ``chart/Chart.yaml``:
``chart/values.schema.json``, the ``# --`` comments of ``chart/values.yaml`` and
``chart/README.md`` (the parameter table, which ``helm show readme`` prints).

``make generate`` writes them; the test suite compares the committed files with what this
module produces and fails on drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.paths import chart_dir, values_schema_source


def load_schema_source(source: Path | None = None) -> dict[str, Any]:
    """The values schema as data (the YAML source, a draft-07 JSON Schema)."""
    from ruamel.yaml import YAML

    path = source or values_schema_source()
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON Schema object")
    return data


def _acted_on(default: Any) -> bool:
    """Whether the templates act on a default: a mapping (they read its keys) or a value that
    is not empty or false (deleting it would change what is rendered)."""
    return isinstance(default, dict) or default not in (None, "", False, 0, [])


def require_defaults(schema: dict[str, Any], defaults: Any) -> dict[str, Any]:
    """``schema`` with every key the chart's defaults give a value the templates act on marked
    ``required`` (a copy).

    Helm deletes a key set to ``null`` in a user's values before it checks the schema, so a
    ``null`` would silently remove such a default (and crash a template, or bypass a
    constraint a platform chart baked in); required keys make ``helm install`` refuse it as
    ``modelservice validate`` does. Keys whose default is empty stay optional: deleting them
    changes nothing.
    """
    import copy

    result = copy.deepcopy(schema)

    def walk(node: Any, values: Any) -> None:
        properties = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(properties, dict) or not isinstance(values, dict):
            return
        required = list(node.get("required", []))
        required += [
            key
            for key in properties
            if key in values and _acted_on(values[key]) and key not in required
        ]
        if required:
            node["required"] = required
        for key, sub in properties.items():
            walk(sub, values.get(key))

    walk(result, defaults)
    return result


def render_chart_schema(schema: dict[str, Any], defaults: Any = None) -> str:
    """The JSON text of ``chart/values.schema.json`` (stable: keys keep the source order),
    with the keys the chart's ``defaults`` fill marked required (:func:`require_defaults`)."""
    from jsonschema import Draft7Validator

    if defaults is not None:
        schema = require_defaults(schema, defaults)
    Draft7Validator.check_schema(schema)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generated_files(chart: Path | None = None) -> dict[Path, str]:
    """Every generated file of the chart and the text it must hold: values.schema.json, the
    ``# --`` comments of values.yaml and README.md. Each is written whole from its sources,
    so running the generator twice, or after a merge, gives the same files."""
    from . import values_docs

    chart = chart or chart_dir()
    schema = load_schema_source()
    defaults = helm_defaults(chart)
    values_text = (chart / "values.yaml").read_text(encoding="utf-8")
    return {
        chart / "values.schema.json": render_chart_schema(schema, defaults),
        chart / "values.yaml": values_docs.render_values_yaml(values_text, schema),
        chart / "README.md": chart_readme(chart, schema),
    }


def chart_readme(chart: Path, schema: dict[str, Any]) -> str:
    """The chart's README.md (what ``helm show readme`` and Artifact Hub show): install,
    prerequisites and the parameter table, from Chart.yaml and the schema."""
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from ruamel.yaml import YAML

    from . import docs

    meta = YAML(typ="safe", pure=True).load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    defaults = docs.chart_defaults(chart)
    image = defaults.get("image", {})
    env = Environment(
        loader=PackageLoader("modelservice", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("chart-README.md.j2").render(
        name=meta["name"],
        description=meta["description"],
        version=meta["version"],
        app_version=meta["appVersion"],
        kube_version=meta["kubeVersion"],
        image=f"{image['repository']}:{image['tag']}",
        table=docs.parameters_table(schema, defaults).rstrip("\n"),
    )


def helm_defaults(chart: Path) -> Any:
    """The chart's values.yaml as Helm reads it, from the file (not from a loaded chart,
    whose cached schema may be the one being regenerated)."""
    from ..values.loader import helm_reading

    return helm_reading((chart / "values.yaml").read_text(encoding="utf-8"))
