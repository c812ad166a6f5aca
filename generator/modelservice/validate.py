"""Validation of values files: one ordered pipeline of checks, declared here and nowhere else.

1. **File**: the loader reads the values the way Helm does (its own reader) and checks the
   structure (one mapping, no duplicate keys, bounded aliases); ruamel.yaml gives positions.
2. **Before the schema**: findings that explain a schema error better than the schema can
   (a token pasted where a Secret name belongs; a scalar Helm reads otherwise than an editor).
3. **Schema**: the chart's values.schema.json on the values Helm computes (the chart's
   defaults merged by Helm's own code, ``null`` deleting a default), and on the user's own
   keys, every error at its line.
4. **Values**: checks that judge their own keys alone (engine arguments, Kubernetes objects
   passed through); they run even when the schema refused something else.
5. **Rules**: cross-field rules on the merged values (only when the schema accepts them).
6. **Rendered release**: the chart is rendered once with the real engine; what depends on the
   templates (names, env, mounts, flags, resources, probes, strategy) is checked on the
   rendered objects, each finding led back to its values key by the chart's values map.

Nothing here prints; the CLI does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.problem import Problem, has_errors
from .values.loader import LoadedValues, load_file

if TYPE_CHECKING:
    from .helm.engine import Rendered


@dataclass
class Context:
    """What a check sees of one values file."""

    loaded: LoadedValues
    #: The user's values as Helm reads the file.
    values: dict[str, Any]
    #: The values Helm renders with: the chart's defaults merged with the user's by Helm.
    merged: dict[str, Any]
    chart: Path
    release: str = "release"
    namespace: str = "default"
    #: The release rendered by the real engine (for the rendered-release checks).
    rendered: Rendered | None = None

    def problem(self, path: tuple[str | int, ...], message: str, rule: str, **kw: Any) -> Problem:
        """A problem at ``path`` of the user's file (or its nearest ancestor there)."""
        return self.loaded.problem(path, message, rule, **kw)


Check = Callable[[Context], list[Problem]]


def _before_schema() -> list[Check]:
    from . import rules
    from .checks import file as yaml_checks

    return [lambda ctx: yaml_checks.reader_differences(ctx.loaded), rules.secret_literals]


def _values_checks() -> list[Check]:
    from . import engine_args
    from .checks.k8s import passthrough as k8s_check

    return [k8s_check.kubernetes_objects, engine_args.engine_args_check]


def _rules() -> list[Check]:
    from . import accelerators, offline, rules, scale_rules

    return [*rules.RULES, accelerators.accelerator_image, *scale_rules.RULES, *offline.RULES]


def _rendered_checks() -> list[Check]:
    from . import model_fit, rendered_checks

    return [*rendered_checks.CHECKS, model_fit.check]


@dataclass
class Result:
    """The outcome of validating one values file."""

    loaded: LoadedValues
    problems: list[Problem] = field(default_factory=list)
    merged: dict[str, Any] | None = None
    #: The release the real engine rendered from these values (None when it could not).
    rendered: Rendered | None = None

    @property
    def values(self) -> Any:
        return self.loaded.data


def merge(chart: Path, values: dict[str, Any]) -> dict[str, Any] | None:
    """The user's values over the chart's defaults, coalesced by Helm's own code (``null``
    deletes a default), or None when Helm cannot merge them."""
    from .helm.engine import merge_values

    try:
        return merge_values(chart, values)
    except Exception:  # values Helm cannot merge: the schema says why
        return None


def validate_loaded(
    loaded: LoadedValues,
    chart: Path,
    *,
    release: str | None = None,
    namespace: str = "default",
) -> Result:
    """Validate parsed values against ``chart``, rendering them as release ``release``."""
    from .helm.engine import release_name_for
    from .schema import check as schema_check

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
    merged = merge(chart, data)
    ctx = Context(
        loaded=loaded,
        values=data,
        merged=merged if merged is not None else data,
        chart=chart,
        release=release or release_name_for(loaded.file),
        namespace=namespace,
    )
    early: list[Problem] = []
    for check in _before_schema():
        early.extend(check(ctx))
    explained = [p.pointer for p in early if p.severity == "error"]
    schema_problems = schema_check.check(loaded, data, merged, chart)
    schema_ok = merged is not None and not has_errors(schema_problems)
    result.problems.extend(early)
    result.problems.extend(
        p
        for p in schema_problems
        if not any(p.pointer == e or p.pointer.startswith(e + "/") for e in explained)
    )
    said = {p.pointer for p in result.problems if p.severity == "error"}
    # Checks that judge their own keys alone run even when the schema refused other keys: a
    # reviewer learns every mistake at once. A key already refused is not judged again.
    for check in _values_checks():
        result.problems.extend(p for p in check(ctx) if p.pointer not in said)
    if not schema_ok:
        return _sorted(result)
    result.merged = merged
    found: list[Problem] = []
    for check in _rules():
        found.extend(check(ctx))
    result.problems.extend(found)
    if has_errors(found):  # the values the templates need are wrong: rendering says no more
        return _sorted(result)
    ctx.rendered = _render(ctx, result)
    if ctx.rendered is not None:
        said = {p.pointer for p in result.problems if p.severity == "error"}
        for check in _rendered_checks():
            result.problems.extend(p for p in check(ctx) if p.pointer not in said)
        if not has_errors(result.problems):
            result.rendered = ctx.rendered
    return _sorted(result)


def _render(ctx: Context, result: Result) -> Rendered | None:
    """The release as the embedded engine renders it; a template's refusal is a problem.

    Only values the schema accepted get here, so Helm's render does not check them again.
    """
    from .core.errors import EngineError
    from .helm.engine import render

    try:
        return render(
            ctx.chart,
            ctx.values,
            release=ctx.release,
            namespace=ctx.namespace,
            schema_checked=True,
        )
    except EngineError as exc:
        result.problems.append(ctx.problem((), exc.message, "helm-render"))
        return None


def _sorted(result: Result) -> Result:
    unique = dict.fromkeys(result.problems)
    result.problems = sorted(unique, key=lambda p: (p.line, p.column, p.pointer, p.rule))
    return result


def validate_file(
    path: str | os.PathLike[str],
    chart: Path,
    *,
    release: str | None = None,
    namespace: str = "default",
) -> Result:
    """Load and validate one values file; problems in file order."""
    return validate_loaded(load_file(path), chart, release=release, namespace=namespace)


def _problems_of_chunk(jobs: Sequence[tuple[str, Path]]) -> list[list[Problem]]:
    return [validate_file(file, chart).problems for file, chart in jobs]


def validate_paths(
    files: Sequence[str], chart: Path, progress: Callable[[int], None] | None = None
) -> list[list[Problem]]:
    """The problems of each file, in order; many files are spread over the cores.
    ``progress`` is told how many files are done as they complete."""
    from .core.parallel import map_chunks

    return map_chunks(_problems_of_chunk, [(f, chart) for f in files], progress)
