"""Local ``$ref``s of a JSON Schema, followed one way for every reader.

The values schema refers to its ``#/definitions/...`` and the Kubernetes schemas to their
``#/$defs/...``; the README table, the checks of Kubernetes objects, the compiled validator
and the test strategies all follow them through :func:`resolve`.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref_target(ref: str, root: Schema) -> Schema:
    """The schema a local reference (``#/definitions/quantity``) points at in ``root``.

    Raises ``LookupError`` for a reference that is not local or leads nowhere.
    """
    if not ref.startswith("#"):
        raise LookupError(f"{ref}: only local references are followed")
    target: Any = root
    for part in ref[1:].split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, list) and key.isdigit() and int(key) < len(target):
            target = target[int(key)]
        elif isinstance(target, dict) and key in target:
            target = target[key]
        else:
            raise LookupError(f"{ref}: no such schema")
    if not isinstance(target, dict):
        raise LookupError(f"{ref}: not a schema")
    return target


def ref_name(schema: Schema) -> str | None:
    """The last segment of the schema's ``$ref`` (``quantity``), or None without one."""
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def resolve(schema: Schema, root: Schema) -> Schema:
    """``schema`` with its ``$ref`` followed (repeatedly): the target's keys, overridden by the
    referring schema's own (its ``description`` or ``default``). A schema without ``$ref`` is
    returned as is."""
    seen: set[str] = set()
    merged = schema
    while isinstance(merged.get("$ref"), str):
        ref = merged["$ref"]
        if ref in seen:
            raise LookupError(f"{ref}: refers to itself")
        seen.add(ref)
        own = {k: v for k, v in merged.items() if k != "$ref"}
        merged = {**ref_target(ref, root), **own}
    return merged


def inline(schema: Schema) -> Schema:
    """A copy of ``schema`` with every local ``$ref`` replaced by the schema it points at, as
    draft-07 reads a ``$ref`` (keywords beside it are ignored). A validator of the copy gives
    the same verdicts and errors without looking references up on every value; a reference
    that leads back into itself is left as it is."""

    def walk(node: Any, trail: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#") and ref not in trail:
                try:
                    return walk(ref_target(ref, schema), (*trail, ref))
                except LookupError:
                    return node
            return {k: walk(v, trail) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, trail) for v in node]
        return node

    result: Schema = walk(schema, ())
    return result
