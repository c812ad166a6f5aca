"""The parameter table of chart/README.md (and of a baked chart's README), generated from the
values schema (key, type, default, text).

Nested keys are flattened (`model.download.enabled`); defaults come from the schema's
`default` or else from the chart's values.yaml; local `$ref`s are followed. Rendered with a
Jinja2 template under StrictUndefined, so a missing field is an error, not an empty cell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN = "<!-- parameters:start -->"
END = "<!-- parameters:end -->"


@dataclass(frozen=True)
class Row:
    """One documented values key."""

    key: str
    type: str
    default: str
    description: str


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (keeping the referring schema's own description)."""
    from .refs import resolve

    return resolve(schema, root)


def _type(schema: dict[str, Any], root: dict[str, Any]) -> str:
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return " or ".join(k for k in kinds)
    if isinstance(kinds, str):
        if kinds == "array" and isinstance(schema.get("items"), dict):
            item = _resolve(schema["items"], root)
            if isinstance(item.get("type"), str):
                return f"list of {item['type']}"
        return kinds
    if "enum" in schema:
        return "enum"
    branches = [_resolve(b, root) for b in schema.get("anyOf", []) + schema.get("oneOf", [])]
    names = []
    for branch in branches:
        name = _type(branch, root)
        if name and name not in names:
            names.append(name)
    return " or ".join(names) or "any"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def default_cell(value: Any) -> str:
    """A default as the parameter table shows it: its JSON in backticks."""
    if value is None:
        return "`null`"
    return "`" + _cell(json.dumps(value, ensure_ascii=False)) + "`"


def rows(schema: dict[str, Any], defaults: dict[str, Any]) -> list[Row]:
    """Every documented key of the schema, depth first in the schema's order."""
    found: list[Row] = []

    def walk(node: dict[str, Any], prefix: str, values: Any) -> None:
        for name, sub in node.get("properties", {}).items():
            resolved = _resolve(sub, schema)
            key = f"{prefix}{name}"
            value = values.get(name) if isinstance(values, dict) else None
            children = resolved.get("properties")
            if children and resolved.get("additionalProperties") is False:
                if resolved.get("description"):
                    # An empty object default ({}) is worth showing; a filled one is shown
                    # key by key below.
                    shown = default_cell(value) if value == {} else ""
                    found.append(Row(key, "object", shown, _cell(resolved["description"])))
                walk(resolved, key + ".", value)
                continue
            default = resolved.get("default", value)
            options = resolved.get("enum")
            description = _cell(resolved.get("description", ""))
            if options and "`" not in description:
                description += " One of: " + ", ".join(f"`{o}`" for o in options) + "."
            found.append(Row(key, _type(resolved, schema), default_cell(default), description))

    walk(schema, "", defaults)
    return found


def parameters_table(schema: dict[str, Any], defaults: dict[str, Any]) -> str:
    """The markdown table of every values key."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("modelservice", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("parameters.md.j2").render(rows=rows(schema, defaults))


def replace_block(text: str, block: str) -> str:
    """``text`` with the content between the parameter markers replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README lacks the {BEGIN} ... {END} markers")
    return text[: start + len(BEGIN)] + "\n" + block + text[end:]


def chart_defaults(chart: Path) -> dict[str, Any]:
    """The chart's values.yaml as data."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load((chart / "values.yaml").read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
