"""Validation of values files, layer by layer, every problem at its line.

The layers run in order and each one only when the previous ones leave data it can trust:
YAML (syntax, encoding, duplicate keys) -> the chart's JSON Schema -> further layers
registered in :data:`LAYERS` (Kubernetes objects, cross-field rules, engine arguments),
which see the user's values merged with the chart's defaults as Helm merges them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schema_check
from .diagnostics import Problem
from .loader import LoadedValues, load_file


@dataclass
class Context:
    """What a validation layer sees of one values file."""

    loaded: LoadedValues
    values: dict[str, Any]
    merged: dict[str, Any]
    chart: Path

    def problem(self, path: tuple[str | int, ...], message: str, rule: str, **kw: Any) -> Problem:
        """A problem at ``path`` of the user's file (or its nearest ancestor there)."""
        return self.loaded.problem(path, message, rule, **kw)


Layer = Callable[[Context], list[Problem]]

#: Layers after the schema, in order. Modules add theirs with :func:`register`.
LAYERS: list[Layer] = []
#: Layers run before the schema, on the user's values alone (``merged`` is empty): findings
#: that explain a schema error better than the schema can (a token pasted where a Secret name
#: belongs, a YAML 1.1 scalar). Schema errors at or below their pointers are dropped.
EARLY_LAYERS: list[Layer] = []


def register(layer: Layer) -> Layer:
    """Add a validation layer (usable as a decorator)."""
    LAYERS.append(layer)
    return layer


def register_early(layer: Layer) -> Layer:
    """Add a layer that runs before the schema (usable as a decorator)."""
    EARLY_LAYERS.append(layer)
    return layer


@dataclass
class Result:
    """The outcome of validating one values file."""

    loaded: LoadedValues
    problems: list[Problem] = field(default_factory=list)
    merged: dict[str, Any] | None = None

    @property
    def values(self) -> Any:
        return self.loaded.data


def merge_with_defaults(chart: Path, values: dict[str, Any]) -> dict[str, Any]:
    """The user's values over the chart's defaults, coalesced by Helm's own code."""
    from .engine import load_chart

    merged: dict[str, Any] = load_chart(chart).merge_values(values)
    return merged


_LAYER_MODULES = ("yaml_checks", "k8s_check", "rules", "engine_args")
_layers_loaded = False


def _load_layers() -> None:
    """Import the layer modules once; each registers its layer on import."""
    global _layers_loaded
    if _layers_loaded:
        return
    _layers_loaded = True
    import importlib

    for name in _LAYER_MODULES:
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise


def validate_loaded(loaded: LoadedValues, chart: Path) -> Result:
    """Validate parsed values against ``chart``."""
    result = Result(loaded=loaded, problems=list(loaded.problems))
    if loaded.problems:
        return result
    data = loaded.data
    if data is None:
        result.problems.append(
            loaded.problem(
                (),
                "is empty: the chart's defaults alone serve no model; set model.name "
                "(or model.source: local and model.path)",
                "values-empty",
            )
        )
        return result
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single {type(data).__name__} value"
        result.problems.append(
            loaded.problem((), f"is {kind}, not a mapping of values", "values-not-mapping")
        )
        return result
    _load_layers()
    early = Context(loaded=loaded, values=data, merged={}, chart=chart)
    for layer in EARLY_LAYERS:
        result.problems.extend(layer(early))
    explained = [p.pointer for p in result.problems if p.severity == "error"]
    schema_problems = schema_check.check(loaded, data, chart)
    result.problems.extend(
        p
        for p in schema_problems
        if not any(p.pointer == e or p.pointer.startswith(e + "/") for e in explained)
    )
    if schema_problems or any(p.severity == "error" for p in result.problems):
        result.problems.sort(key=lambda p: (p.line, p.column, p.pointer, p.rule))
        return result
    merged = merge_with_defaults(chart, data)
    result.merged = merged
    # Helm checks the schema on the merged values: a default can break a rule the user's
    # keys switch on (httpRoute.enabled with the default empty parentRefs).
    merged_problems = schema_check.check_with(loaded, merged, schema_check.chart_validator(chart))
    if merged_problems:
        result.problems.extend(merged_problems)
        result.problems.sort(key=lambda p: (p.line, p.column, p.pointer, p.rule))
        return result
    context = Context(loaded=loaded, values=data, merged=merged, chart=chart)
    for layer in LAYERS:
        result.problems.extend(layer(context))
    result.problems.sort(key=lambda p: (p.line, p.column, p.pointer, p.rule))
    return result


def validate_file(path: str | os.PathLike[str], chart: Path) -> Result:
    """Load and validate one values file; problems in file order."""
    result = validate_loaded(load_file(path), chart)
    result.problems.sort(key=lambda p: (p.line, p.column, p.pointer, p.rule))
    return result
