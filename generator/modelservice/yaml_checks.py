"""Scalars that Helm reads differently from what a YAML 1.2 reader (and most people) expect.

Helm parses values with YAML 1.1 rules: ``yes``, ``no``, ``on``, ``off``, ``y`` and ``n`` are
booleans, ``010`` is the octal number 8, ``1_000`` is 1000 and ``1:30`` is 90. Editors, linters
and the YAML 1.2 core schema read the same text as strings or as other numbers. Validation
runs on what Helm installs; this layer says so at each such scalar, with what Helm makes of it.
"""

from __future__ import annotations

import re
from typing import Any

from .diagnostics import Problem
from .validate import Context, register_early

#: Cheap filter: a file without any of these cannot hold a YAML 1.1 surprise.
_CANDIDATE = re.compile(
    r"(?im)(:|-)\s+(y|n|yes|no|on|off)\s*(#|$)|^\s*(y|n|yes|no|on|off)\s*:|[\s:-]0\d|\d_\d|\d:\d"
)
_YAML12_BOOL = {"true", "false"}
_YAML12_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_YAML12_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


def _surprise(node: Any) -> str | None:
    """What Helm reads a plain scalar as, when YAML 1.2 reads it otherwise; else None."""
    import yaml

    text = node.value
    if node.tag == _BOOL and text.lower() not in _YAML12_BOOL:
        value = yaml.safe_load(text)
        return f"`{text}` is the boolean {str(value).lower()} to Helm (YAML 1.1)"
    if node.tag == _INT and not _YAML12_INT.match(text):
        value = yaml.safe_load(text)
        return f"`{text}` is the number {value} to Helm (YAML 1.1)"
    if node.tag == _FLOAT and not _YAML12_FLOAT.match(text) and not text.startswith("."):
        value = yaml.safe_load(text)
        return f"`{text}` is the number {value} to Helm (YAML 1.1)"
    return None


@register_early
def yaml11_scalars(ctx: Context) -> list[Problem]:
    """Warn at every plain scalar whose YAML 1.1 reading differs from its YAML 1.2 one."""
    text = ctx.loaded.source
    if not text or not _CANDIDATE.search(text):
        return []
    import yaml

    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception:  # syntax problems are reported by the loader
        return []
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.ScalarNode) and not node.style:
            what = _surprise(node)
            if what:
                problems.append(_at(ctx, node, what))
    return problems


def _at(ctx: Context, node: Any, what: str) -> Problem:
    mark = node.start_mark
    return Problem(
        file=ctx.loaded.file,
        line=mark.line + 1,
        column=mark.column + 1,
        pointer=_pointer_of(ctx, mark.line + 1, mark.column + 1),
        message=f'{what}; quote it ("{node.value}") if you mean the text, or write the '
        "value Helm reads",
        rule="yaml-1.1-scalar",
        severity="warning",
    )


def _pointer_of(ctx: Context, line: int, column: int) -> str:
    """The JSON pointer of the key or item at (line, column) of the file."""
    from .diagnostics import to_pointer
    from .loader import locate

    for path in _paths(ctx.values, ()):
        for key in (True, False):
            if locate(ctx.loaded.tree, path, key=key) == (line, column):
                return to_pointer(path)
    return "/"


def _paths(value: Any, path: tuple[str | int, ...]) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _paths(item, (*path, index))
