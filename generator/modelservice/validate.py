"""Validation of values files: the registry's checks, run stage by stage.

1. **file**: the loader reads the values the way Helm does (its own reader) and checks the
   structure (one mapping, no duplicate keys, bounded aliases); ruamel.yaml gives positions.
2. **values**: on the values Helm computes (the chart's defaults merged by Helm's own code,
   ``null`` deleting a default), in phases: ``early`` checks whose findings explain a schema
   error better than the schema can (a token pasted where a Secret name belongs); the chart's
   ``schema``; ``objects``, checks that judge their own keys alone (Kubernetes objects passed
   through, engine arguments) and run even when the schema refused something else; ``rules``
   between keys, which need values the schema accepted.
3. **release**: the chart is rendered once with the real engine. A template's own refusal
   (``modelservice.fail``) is reported at the key it names; what depends on the templates is
   checked on the rendered objects, each finding led back to its values key by the chart's
   values map.
4. **model**: what depends on the model's own config, against the rendered server.

The ``cluster`` stage is ``modelservice check``'s (:mod:`modelservice.preflight`). The checks
come from the registry (:mod:`modelservice.checks`); nothing here lists them. Nothing here
prints; the CLI does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.problem import Problem, has_errors
from .core.rules import Check, Phase, Stage
from .values.loader import LoadedValues, load_file

if TYPE_CHECKING:
    from .checks.context import Context
    from .helm.engine import Rendered


@dataclass
class Result:
    """The outcome of validating one values file."""

    loaded: LoadedValues
    problems: list[Problem] = field(default_factory=list)
    #: the context the checks saw, once the values could be merged (the rendered release and
    #: its reader included when the file is valid)
    context: Context | None = None

    @property
    def values(self) -> Any:
        return self.loaded.data

    @property
    def merged(self) -> dict[str, Any] | None:
        """The merged values, when the chart's schema accepted them."""
        return self.context.merged if self.context is not None and self.valid else None

    @property
    def rendered(self) -> Rendered | None:
        """The release the real engine rendered from these values, when they are valid."""
        return self.context.rendered if self.context is not None and self.valid else None

    @property
    def valid(self) -> bool:
        return not has_errors(self.problems)


def merge(chart: Path, values: dict[str, Any]) -> dict[str, Any] | None:
    """The user's values over the chart's defaults, coalesced by Helm's own code (``null``
    deletes a default), or None when Helm cannot merge them."""
    from .helm.engine import merge_values

    try:
        return merge_values(chart, values)
    except Exception:  # values Helm cannot merge: the schema says why
        return None


def run(check: Check, ctx: Context) -> list[Problem]:
    """One check's problems: findings on rendered objects are led back to the values lines,
    once each (the same field of the server and of the download container is one problem)."""
    from .checks.context import Finding

    subject: Any = ctx.release if check.reads == "release" else ctx
    problems: list[Problem] = []
    seen: set[tuple[str, str, str]] = set()
    for item in check.func(subject):
        if not isinstance(item, Finding):
            problems.append(item)
            continue
        problem = ctx.report(item)
        key = (problem.pointer, problem.rule, item.message)
        if key not in seen:
            seen.add(key)
            problems.append(problem)
    return problems


def _stage(ctx: Context, stage: Stage, phase: Phase | None = None) -> list[Problem]:
    from .checks import load

    found: list[Problem] = []
    for check in load(stage).in_stage(stage, phase):
        found.extend(run(check, ctx))
    return found


def _new(found: Iterable[Problem], said: set[str]) -> list[Problem]:
    """Problems at keys no error was reported at yet (one key, one error)."""
    return [p for p in found if p.pointer not in said]


def validate_loaded(
    loaded: LoadedValues,
    chart: Path,
    *,
    release: str | None = None,
    namespace: str = "default",
    model_config: str | None = None,
    online: bool = False,
) -> Result:
    """Validate parsed values against ``chart``, rendering them as release ``release``."""
    from .checks import load
    from .checks.context import Context
    from .helm.engine import release_name_for

    result = Result(loaded=loaded, problems=list(loaded.problems))
    if loaded.problems:
        return result
    for check in load("file").in_stage("file"):
        result.problems.extend(check.func(loaded))
    if has_errors(result.problems) or not isinstance(loaded.data, dict):
        return _sorted(result)
    merged = merge(chart, loaded.data)
    ctx = Context(
        loaded=loaded,
        values=loaded.data,
        merged=merged if merged is not None else loaded.data,
        merged_or_none=merged,
        chart=chart,
        release_name=release or release_name_for(loaded.file),
        namespace=namespace,
        model_config=model_config,
        online=online,
    )
    result.context = ctx
    early = _stage(ctx, "values", "early")
    explained = [p.pointer for p in early if p.severity == "error"]
    schema = _stage(ctx, "values", "schema")
    schema_ok = merged is not None and not has_errors(schema)
    result.problems.extend(early)
    result.problems.extend(
        p
        for p in schema
        if not any(p.pointer == e or p.pointer.startswith(e + "/") for e in explained)
    )
    said = {p.pointer for p in result.problems if p.severity == "error"}
    # Checks that judge their own keys alone run even when the schema refused other keys: a
    # reviewer learns every mistake at once. A key already refused is not judged again.
    result.problems.extend(_new(_stage(ctx, "values", "objects"), said))
    if not schema_ok:
        return _sorted(result)
    rules = _stage(ctx, "values", "rules")
    result.problems.extend(rules)
    _render(ctx, result, judged=not has_errors(rules))
    return _sorted(result)


def _render(ctx: Context, result: Result, *, judged: bool) -> None:
    """Render the release and run the release and model stages on it.

    A template's own refusal is reported at the key it names. When the rules between keys
    already found errors (``judged`` false), the values the templates need are wrong: only the
    chart's own refusals are said, not what rendering the wrong values makes of them.
    """
    from .checks.template import names_a_rule, template_failure
    from .core.errors import EngineError
    from .helm.engine import render

    try:
        ctx.rendered = render(
            ctx.chart,
            ctx.values,
            release=ctx.release_name,
            namespace=ctx.namespace,
            schema_checked=True,
        )
    except EngineError as exc:
        if judged or names_a_rule(exc.message):
            result.problems.append(template_failure(ctx, exc.message))
        return
    if not judged:
        return
    stages: tuple[Stage, ...] = ("release", "model")
    for stage in stages:
        said = {p.pointer for p in result.problems if p.severity == "error"}
        result.problems.extend(_new(_stage(ctx, stage), said))


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
    model_config: str | None = None,
    online: bool = False,
) -> Result:
    """Load and validate one values file; problems in file order."""
    return validate_loaded(
        load_file(path),
        chart,
        release=release,
        namespace=namespace,
        model_config=model_config,
        online=online,
    )


Job = tuple[str, Path, str | None, bool]


def _problems_of_chunk(jobs: Sequence[Job]) -> list[list[Problem]]:
    return [
        validate_file(file, chart, model_config=config, online=online).problems
        for file, chart, config, online in jobs
    ]


def validate_paths(
    files: Sequence[str],
    chart: Path,
    progress: Callable[[int], None] | None = None,
    *,
    model_config: str | None = None,
    online: bool = False,
) -> list[list[Problem]]:
    """The problems of each file, in order; many files are spread over the cores.
    ``progress`` is told how many files are done as they complete."""
    from .core.parallel import map_chunks

    jobs = [(f, chart, model_config, online) for f in files]
    return map_chunks(_problems_of_chunk, jobs, progress)
