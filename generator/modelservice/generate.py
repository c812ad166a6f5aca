"""Generated files: ``chart/values.schema.json`` from ``schemas/values.schema.yaml``.

``make generate`` writes them; the test suite compares the committed files with what this
module produces and fails on drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .paths import chart_dir, values_schema_source


def load_schema_source(source: Path | None = None) -> dict[str, Any]:
    """The values schema as data (the YAML source, a draft-07 JSON Schema)."""
    from ruamel.yaml import YAML

    path = source or values_schema_source()
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON Schema object")
    return data


def render_chart_schema(schema: dict[str, Any]) -> str:
    """The JSON text of ``chart/values.schema.json`` (stable: keys keep the source order)."""
    from jsonschema import Draft7Validator

    Draft7Validator.check_schema(schema)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generated_files(chart: Path | None = None) -> dict[Path, str]:
    """Every generated file of the repository and the text it must hold: the chart's
    values.schema.json and, in a source checkout, the README parameter table."""
    from . import docs
    from .paths import repo_root

    chart = chart or chart_dir()
    schema = load_schema_source()
    files = {chart / "values.schema.json": render_chart_schema(schema)}
    root = repo_root()
    if root is not None and (root / "README.md").is_file():
        readme = root / "README.md"
        table = docs.parameters_table(schema, docs.chart_defaults(chart))
        files[readme] = docs.replace_block(readme.read_text(encoding="utf-8"), table)
    return files


def write_generated() -> list[Path]:
    """Write every generated file; returns the ones that changed."""
    changed = []
    for path, text in generated_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def drifted() -> list[Path]:
    """Generated files whose committed text differs from what would be generated."""
    return [
        path
        for path, text in generated_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main() -> None:
    """``python -m modelservice.generate``: rewrite the generated files."""
    for path in write_generated():
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
