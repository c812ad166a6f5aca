"""The defaults file of ``modelservice bake`` and the derived chart's values.yaml: the base
values.yaml with the defaults merged in by ruamel.yaml's round trip (maps key by key, lists and
scalars replaced), so every comment and the key order survive."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import InvalidValues
from ..core.problem import Problem

BAKED_HEADER = "# Baked by `modelservice bake`"


def _tolerated(rule: str, pointer: str) -> bool:
    """Problems a defaults file may have: no model yet (each release names its own), and the
    endpoint picker's settings without a pool (for the releases that create one)."""
    if rule == "values-empty":
        return True
    if rule == "routing-without-pool" and pointer.startswith("/routing/endpointPicker/"):
        return True
    return "required" in rule and pointer in ("/model", "/model/name", "/model/path")


def load_defaults(file: Path, chart: Path) -> tuple[dict[str, Any], list[Problem]]:
    """The defaults file's values, validated against ``chart`` as a values file, and its
    warnings (for the caller to report)."""
    from ..validate import validate_file

    result = validate_file(file, chart)
    problems = [p for p in result.problems if not _tolerated(p.rule, p.pointer)]
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidValues(problems)
    data = result.values
    return (data if isinstance(data, dict) else {}), problems


def to_round_trip(value: Any) -> Any:
    """Plain data as ruamel round-trip nodes (block style), strings safe for YAML 1.1."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = to_round_trip(item)
        return node
    if isinstance(value, list):
        return CommentedSeq(to_round_trip(item) for item in value)
    from ..scaffold import yaml11_safe

    return yaml11_safe(value)


def _is_block(node: Any) -> bool:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    return isinstance(node, (CommentedMap, CommentedSeq)) and len(node) > 0


def _pop_trailing(parent: Any, key: Any) -> Any:
    """Remove and return the comment after the entry ``parent[key]`` (ruamel keeps the
    comment and blank lines that follow an entry on its deepest last node)."""
    from ruamel.yaml.comments import CommentedMap

    child = parent[key]
    if _is_block(child) and not child.fa.flow_style():
        last = list(child)[-1] if isinstance(child, CommentedMap) else len(child) - 1
        token = _pop_trailing(child, last)
        if token is not None:
            return token
    entry = parent.ca.items.get(key)
    slot = 2 if isinstance(parent, CommentedMap) else 0
    if entry and len(entry) > slot and entry[slot] is not None:
        token = entry[slot]
        entry[slot] = None
        return token
    return None


def _put_trailing(parent: Any, key: Any, token: Any) -> None:
    """Attach a comment after the entry ``parent[key]`` (at its deepest last node)."""
    from ruamel.yaml.comments import CommentedMap

    if token is None:
        return
    child = parent[key]
    if _is_block(child) and not child.fa.flow_style():
        last = list(child)[-1] if isinstance(child, CommentedMap) else len(child) - 1
        _put_trailing(child, last, token)
        return
    slot = 2 if isinstance(parent, CommentedMap) else 0
    entry = parent.ca.items.setdefault(key, [None, None, None, None])
    entry[slot] = token


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def deep_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of plain data: maps key by key, everything else replaced."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def merge_round_trip(tree: Any, defaults: Mapping[str, Any]) -> None:
    """Merge plain ``defaults`` into a round-trip mapping in place, keeping comments."""
    from ruamel.yaml.comments import CommentedMap

    for key, value in defaults.items():
        current = tree.get(key)
        if isinstance(value, Mapping) and isinstance(current, CommentedMap):
            if len(current) and not current.fa.flow_style():
                merge_round_trip(current, value)
                continue
            value = deep_merge(_plain(current), value)
        if key in tree:
            token = _pop_trailing(tree, key)
            tree[key] = to_round_trip(value)
        else:
            token = _pop_trailing(tree, list(tree)[-1]) if len(tree) else None
            tree[key] = to_round_trip(value)
        _put_trailing(tree, key, token)


def merged_values_text(base_text: str, defaults: Mapping[str, Any], header: str) -> str:
    """The base values.yaml text with ``defaults`` merged in, under a one-line header."""
    import io

    from ..scaffold import yaml_rt

    yaml = yaml_rt()
    yaml.preserve_quotes = True
    tree = yaml.load(base_text)
    merge_round_trip(tree, defaults)
    out = io.StringIO()
    yaml.dump(tree, out)
    body = "".join(
        line
        for line in out.getvalue().splitlines(keepends=True)
        if not line.startswith(BAKED_HEADER)
    )
    return f"{header}\n{body}"
