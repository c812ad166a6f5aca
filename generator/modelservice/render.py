"""``modelservice render``: validate every file first, then render each release.

Printed like ``helm template`` on stdout, or written into release folders by
:mod:`modelservice.output_dir`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .diagnostics import Problem
from .engine import EngineName, Rendered, release_name_for, render_helm
from .errors import EngineError, InvalidValues, UserError
from .output_dir import WrittenRelease, write_release
from .parallel import map_chunks
from .validate import validate_file

if TYPE_CHECKING:
    from .progress import Progress


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
    progress: Progress | None = None,
) -> list[Rendered]:
    """Validate and render every file; print manifests or write release folders.

    Nothing is printed or written unless every file is valid and renders: invalid input
    raises :class:`InvalidValues` with every problem of every file. Many files are spread
    over the machine's cores. ``progress`` counts the files as they are done and is
    finished (its bar erased) before anything is printed.
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
    outcomes = map_chunks(_validate_and_render, jobs, progress.advance if progress else None)
    problems = [p for o in outcomes for p in o.problems]
    if progress is not None:
        progress.finish(problems)
    if any(p.severity == "error" for p in problems):
        raise InvalidValues(problems)
    for warning in problems:
        print(warning.format_text(), file=sys.stderr)
    outputs = [o.rendered for o in outcomes if o.rendered is not None]
    if output_dir is None:
        sys.stdout.write("".join(r.text() for r in outputs))
    else:
        for rendered in outputs:
            _report(write_release(rendered, output_dir))
    return outputs


def _report(written: WrittenRelease) -> None:
    """One line per release folder, and one per Secret left out of it."""
    folder = written.folder
    plain = len(written.files) - written.hooks
    line = f"{folder}: {plain} manifest{'s' * (plain != 1)}"
    if written.hooks:
        from .output_dir import HOOKS

        line += f", {written.hooks} hook{'s' * (written.hooks != 1)} in {folder / HOOKS}"
    print(line, file=sys.stderr)
    for secret in written.secrets:
        print(
            f"{folder}: left out Secret {secret.name} (git would hold its value in plain text, "
            f"and a generated value changes on every render); create it once with: "
            f"{secret.command()}",
            file=sys.stderr,
        )
