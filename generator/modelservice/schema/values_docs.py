"""The ``# --`` comments of chart/values.yaml, generated from the schema's descriptions.

Every key of values.yaml that the schema documents gets, right above it, a ``# --`` comment
holding that key's ``description`` from ``schemas/values.schema.yaml`` (wrapped at 100
columns). Everything else of the file (the keys, their defaults, blank lines, other comments)
is kept as it is. The rewrite is whole-file and deterministic: rewriting its own output
changes nothing, so ``make generate`` can run again after any merge that adds keys.

A key's comment block is the last ``# --`` line in the comment lines right above the key (at
the key's indentation) and every comment line after it; a key without one gets one.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from typing import Any

from .docs import _resolve

#: The column values.yaml's comments wrap at.
WIDTH = 100

Path_ = tuple[str, ...]


def schema_node(schema: dict[str, Any], path: Path_) -> dict[str, Any] | None:
    """The schema of the key at ``path`` (names of nested mapping keys), ``$ref``s followed
    (the referring schema's own description kept); None when the schema does not declare it
    (a key inside a map or a Kubernetes object passed through)."""
    node: dict[str, Any] = schema
    for name in path:
        properties = _resolve(node, schema).get("properties")
        if not isinstance(properties, dict) or not isinstance(properties.get(name), dict):
            return None
        node = properties[name]
    return _resolve(node, schema)


def description_of(schema: dict[str, Any], path: Path_) -> str | None:
    """The description of the key at ``path``, whitespace collapsed; None when the schema does
    not declare the key or says nothing about it."""
    node = schema_node(schema, path)
    text = node.get("description") if node is not None else None
    return " ".join(text.split()) if isinstance(text, str) and text.strip() else None


def key_lines(text: str) -> Iterator[tuple[int, Path_]]:
    """Every mapping key of the YAML ``text`` (not inside lists): its 0-based line, its path."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    data = YAML(typ="rt", pure=True).load(text)

    def walk(node: Any, prefix: Path_) -> Iterator[tuple[int, Path_]]:
        if not isinstance(node, CommentedMap):
            return
        for key in node:
            path = (*prefix, str(key))
            yield node.lc.key(key)[0], path
            yield from walk(node[key], path)

    yield from walk(data, ())


def comment_lines(description: str, indent: int) -> list[str]:
    """The ``# --`` block of one key at ``indent`` columns."""
    pad = " " * indent
    return textwrap.wrap(
        description,
        width=max(WIDTH - indent, 40),
        initial_indent=f"{pad}# -- ",
        subsequent_indent=f"{pad}# ",
        break_long_words=False,
        break_on_hyphens=False,
    )


_COMMENT = re.compile(r"^(\s*)#")


def render_values_yaml(text: str, schema: dict[str, Any]) -> str:
    """``text`` (a values.yaml) with every documented key's ``# --`` block from ``schema``."""
    lines = text.splitlines()
    for line, path in sorted(key_lines(text), reverse=True):
        description = description_of(schema, path)
        if description is None:
            continue
        key_line = lines[line]
        indent = len(key_line) - len(key_line.lstrip(" "))
        start = line
        while start > 0:
            above = _COMMENT.match(lines[start - 1])
            if above is None or len(above.group(1)) != indent:
                break
            start -= 1
        block_start = line
        for index in range(line - 1, start - 1, -1):
            if lines[index].lstrip().startswith("# --"):
                block_start = index
                break
        lines[block_start:line] = comment_lines(description, indent)
    return "\n".join(lines) + "\n"
