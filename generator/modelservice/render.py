"""``modelservice render``: validate every file first, then render each release.

Printed like ``helm template`` on stdout (by the CLI), or written into release folders by
:mod:`modelservice.helm.output_dir`. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .core.errors import EngineError, InvalidValues, UserError
from .core.parallel import map_chunks
from .core.problem import Problem
from .helm.engine import EngineName, Rendered, release_name_for, render_helm
from .helm.output_dir import WrittenRelease, check_release, write_release
from .validate import validate_file


@dataclass(frozen=True)
class RenderedFiles:
    """What :func:`render_files` produced: the releases (in file order), the warnings of every
    file, and the release folders written (empty without ``output_dir``)."""

    outputs: list[Rendered]
    warnings: list[Problem]
    written: list[WrittenRelease]


@dataclass(frozen=True)
class _Job:
    file: str
    release: str | None
    chart: Path
    namespace: str
    engine: EngineName


@dataclass
class _Outcome:
    file: str
    problems: list[Problem]
    rendered: Rendered | None


def _validate_and_render(jobs: Sequence[_Job]) -> list[_Outcome]:
    """Validate each file and, when valid, render it (nothing is printed here).

    Validation renders the release once with the embedded engine (its checks read the
    rendered objects); that render is the output. A ``helm`` binary renders the file itself
    (``helm template -f FILE``), so Helm reads the file's own text.
    """
    outcomes = []
    for job in jobs:
        name = job.release or release_name_for(job.file)
        result = validate_file(job.file, job.chart, release=name, namespace=job.namespace)
        problems = list(result.problems)
        rendered = result.rendered
        if not any(p.severity == "error" for p in problems) and job.engine == "helm":
            try:
                rendered = render_helm(
                    job.chart, values_file=Path(job.file), release=name, namespace=job.namespace
                )
            except EngineError as exc:
                problems.append(Problem(job.file, 1, 1, "/", exc.message, "helm-render"))
                rendered = None
        outcomes.append(_Outcome(job.file, problems, rendered))
    return outcomes


def render_files(
    files: list[str],
    *,
    chart: Path,
    release: str | None,
    namespace: str,
    engine: EngineName,
    output_dir: Path | None,
    progress: Callable[[int], None] | None = None,
) -> RenderedFiles:
    """Validate and render every file; write release folders when ``output_dir`` is given.

    Nothing is written unless every file is valid and renders: invalid input
    raises :class:`InvalidValues` with every problem of every file. Many files are spread
    over the machine's cores. ``progress`` is told how many files are done as they complete.
    """
    names: dict[str, str] = {}
    for file in files:
        name = release or release_name_for(file)
        if name in names:
            raise UserError(
                f"{file} and {names[name]} would both be release {name!r}; rename one file"
            )
        names[name] = file
    jobs = [_Job(f, release, chart, namespace, engine) for f in files]
    outcomes = map_chunks(_validate_and_render, jobs, progress)
    problems = [p for o in outcomes for p in o.problems]
    if any(p.severity == "error" for p in problems):
        raise InvalidValues(problems)
    warnings = [p for p in problems if p.severity != "error"]
    outputs = [o.rendered for o in outcomes if o.rendered is not None]
    written = []
    if output_dir is not None:
        inputs = [chart, *map(Path, files)]
        for rendered in outputs:  # every folder is checked before the first is written
            check_release(rendered, output_dir, inputs)
        written = [write_release(r, output_dir, inputs) for r in outputs]
    return RenderedFiles(outputs, warnings, written)
