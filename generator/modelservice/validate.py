"""Validation of values files, layer by layer, every problem at its line.

The layers run in order and each one only when the previous ones leave data it can trust:
YAML (syntax, encoding, duplicate keys) -> the chart's JSON Schema -> further layers
registered in :data:`LAYERS` (Kubernetes objects, cross-field rules, engine arguments),
which see the user's values merged with the chart's defaults as Helm merges them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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


#: Layers that judge their own keys alone (engine.args, the Kubernetes objects): they also
#: run when the schema refused something else in the file.
INDEPENDENT: list[Layer] = []


def register_independent(layer: Layer) -> Layer:
    """Add a layer that also runs when the schema refused other keys (a decorator)."""
    LAYERS.append(layer)
    INDEPENDENT.append(layer)
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
    #: The schema verdict was left to the render that follows (``schema="deferred"``).
    schema_deferred: bool = False

    @property
    def values(self) -> Any:
        return self.loaded.data


def helm_accepts(chart: Path, values: dict[str, Any]) -> dict[str, Any] | None:
    """The merged values when Helm's own schema check (Go, the one ``helm install`` runs on
    the values merged over the chart's defaults) accepts them, else None.

    The common case, a valid file, is then settled without Python's JSON Schema library;
    only a file Helm refuses goes through it, to position every error in the file.
    """
    from .engine import go_log_silenced, load_chart

    merged = _merge_or_none(chart, values)
    if merged is None:
        return None
    try:
        with go_log_silenced():
            load_chart(chart).validate_schema(merged)
    except Exception:  # refused: the positioned path says why
        return None
    return merged


def _merge_or_none(chart: Path, values: dict[str, Any]) -> dict[str, Any] | None:
    """The user's values over the chart's defaults, coalesced by Helm's own code, or None
    when Helm cannot merge them."""
    from .engine import merge_values

    try:
        return merge_values(chart, values)
    except Exception:  # values Helm cannot merge: the positioned path says why
        return None


def python_accepts(chart: Path, values: dict[str, Any]) -> dict[str, Any] | None:
    """The merged values when the chart's schema, checked in Python as Helm checks it (on the
    values merged over the defaults), accepts them, else None."""
    merged = _merge_or_none(chart, values)
    if merged is None or not schema_check.chart_validator(chart).is_valid(merged):
        return None
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


#: Up to this many files per process, the schema verdict comes from Helm's own check (fast to
#: start, about 7 ms a file); beyond it, from the cached Python validator (slower to import,
#: about 1 ms a file). Both read the same schema with the same (ECMA/Go) regexps.
HELM_SCHEMA_MAX_FILES = 4


#: How the schema verdict is reached: ``helm`` asks Helm's own check first, ``python`` the
#: cached Python validator; ``deferred`` leaves it to the Helm render that follows (which
#: checks the schema anyway) and falls back to ``python`` as soon as anything is wrong.
SchemaMode = Literal["helm", "python", "deferred"]


def validate_loaded(loaded: LoadedValues, chart: Path, *, schema: SchemaMode = "helm") -> Result:
    """Validate parsed values against ``chart``.

    A file the schema check accepts skips the positioned (slower) Python schema walk.
    """
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
    if schema == "deferred":
        merged = _merge_or_none(chart, data)
        if merged is None:
            return validate_loaded(loaded, chart, schema="python")
        result.schema_deferred = True
    else:
        merged = (helm_accepts if schema == "helm" else python_accepts)(chart, data)
    schema_problems = [] if merged is not None else schema_check.check(loaded, data, chart)
    result.problems.extend(
        p
        for p in schema_problems
        if not any(p.pointer == e or p.pointer.startswith(e + "/") for e in explained)
    )
    if merged is None and not schema_problems:
        merged = _merge_or_none(chart, data)
        if merged is None:  # nothing the schema names, yet Helm's coalescing gives up
            result.problems.append(
                loaded.problem(
                    (), "Helm cannot merge these values over the chart's defaults", "helm-render"
                )
            )
            return result
        # Helm checks the schema on the merged values: a default can break a rule the
        # user's keys switch on (httpRoute.enabled with the default empty parentRefs).
        schema_problems = schema_check.check_with(
            loaded, merged, schema_check.chart_validator(chart)
        )
        result.problems.extend(schema_problems)
    schema_ok = not schema_problems and merged is not None
    if schema_ok:
        result.merged = merged
    # With the schema refused, only the layers that judge their own keys alone still run, on
    # the values merged as well as Helm can: a reviewer learns every mistake at once.
    layers = LAYERS if schema_ok else [la for la in LAYERS if la in INDEPENDENT]
    if not schema_ok and merged is None:
        merged = _merge_or_none(chart, data) or data
    context = Context(loaded=loaded, values=data, merged=merged or {}, chart=chart)
    said = {p.pointer for p in result.problems if p.severity == "error"}
    for layer in layers:
        try:
            found = layer(context)
            # One mistake, one line: a key the schema already refused is not judged again.
            result.problems.extend(p for p in found if schema_ok or p.pointer not in said)
        except Exception:
            if schema_ok and not result.schema_deferred:
                raise
            if result.schema_deferred:
                return validate_loaded(loaded, chart, schema="python")  # the schema says why
    if result.schema_deferred and any(p.severity == "error" for p in result.problems):
        return validate_loaded(loaded, chart, schema="python")
    result.problems.sort(key=lambda p: (p.line, p.column, p.pointer, p.rule))
    return result


def validate_file(
    path: str | os.PathLike[str], chart: Path, *, schema: SchemaMode = "helm"
) -> Result:
    """Load and validate one values file; problems in file order."""
    result = validate_loaded(load_file(path), chart, schema=schema)
    result.problems.sort(key=lambda p: (p.line, p.column, p.pointer, p.rule))
    return result


def _problems_of_chunk(jobs: Sequence[tuple[str, Path]]) -> list[list[Problem]]:
    mode: SchemaMode = "helm" if len(jobs) <= HELM_SCHEMA_MAX_FILES else "python"
    return [validate_file(file, chart, schema=mode).problems for file, chart in jobs]


def validate_paths(files: Sequence[str], chart: Path) -> list[list[Problem]]:
    """The problems of each file, in order; many files are spread over the cores."""
    from .parallel import map_chunks

    return map_chunks(_problems_of_chunk, [(f, chart) for f in files])
