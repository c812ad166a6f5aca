"""Paths into plain data (values, rendered objects): the one getter of the toolkit.

A path is a tuple of mapping keys and list indexes, the same in a values file and in a
rendered object; :func:`modelservice.core.problem.to_pointer` writes it as a JSON pointer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Path_ = tuple[str | int, ...]


def _step(node: Any, part: str | int) -> tuple[bool, Any]:
    if isinstance(node, Mapping):
        return (part in node, node.get(part))
    if isinstance(node, list) and isinstance(part, int) and not isinstance(part, bool):
        if 0 <= part < len(node):
            return True, node[part]
    return False, None


def get(data: Any, path: Path_ | list[Any]) -> Any:
    """The value at ``path`` (keys of mappings, indexes of lists), or None where it stops."""
    for part in path:
        found, data = _step(data, part)
        if not found:
            return None
    return data


def has(data: Any, path: Path_ | list[Any]) -> bool:
    """Whether ``data`` holds ``path`` (a key set to null counts)."""
    for part in path:
        found, data = _step(data, part)
        if not found:
            return False
    return True


def walk(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every node of ``value`` with its path, a mapping or list before its items."""
    yield path, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))


def dotted(path: Path_) -> str:
    """``('lora', 'adapters', 0, 'path')`` as ``lora.adapters[0].path``, as users write keys."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
