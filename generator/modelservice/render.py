"""``modelservice render``: validate every file first, then render each release."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Problem
from .engine import Document, EngineName, Rendered, release_name_for, render_helm
from .errors import EngineError, InvalidValues, UserError
from .parallel import map_chunks
from .validate import validate_file


def manifest_file_name(kind: str, name: str, taken: set[str]) -> str:
    """A stable file name for one manifest in a release folder."""
    base = re.sub(r"[^a-z0-9.-]+", "-", f"{kind}-{name}".lower()).strip("-") or "manifest"
    candidate, n = f"{base}.yaml", 2
    while candidate in taken:
        candidate, n = f"{base}-{n}.yaml", n + 1
    taken.add(candidate)
    return candidate


_METADATA_NAME = re.compile(r"^metadata:\n(?:[ ]{2}.*\n)*?[ ]{2}name: *[\"']?([^\"'\s]+)", re.M)


def _object_name(doc: Document) -> str:
    """metadata.name of a manifest: read off Helm's block-style output, parsed if unusual."""
    match = _METADATA_NAME.search(doc.text + "\n")
    if match:
        return match.group(1)
    data = doc.load()
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        return str(data["metadata"].get("name", ""))
    return ""


def write_release(rendered: Rendered, output_dir: Path) -> Path:
    """Write one file per manifest under ``output_dir/<release>/``, replacing stale ones."""
    folder = output_dir / rendered.release
    folder.mkdir(parents=True, exist_ok=True)
    existing = {p.name for p in folder.glob("*.yaml")}
    taken: set[str] = set()
    for doc in rendered.documents:
        name = manifest_file_name(doc.kind or "object", _object_name(doc), taken)
        content = f"# Source: {doc.source}\n{doc.text}\n".encode()
        file = folder / name
        # An unchanged manifest is left alone: GitOps diffs and file times stay quiet.
        if name not in existing or file.read_bytes() != content:
            file.write_bytes(content)
    for stale in existing - taken:
        (folder / stale).unlink()
    return folder


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
) -> list[Rendered]:
    """Validate and render every file; print manifests or write release folders.

    Nothing is printed or written unless every file is valid and renders: invalid input
    raises :class:`InvalidValues` with every problem of every file. Many files are spread
    over the machine's cores.
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
    outcomes = map_chunks(_validate_and_render, jobs)
    problems = [p for o in outcomes for p in o.problems]
    if any(p.severity == "error" for p in problems):
        raise InvalidValues(problems)
    for warning in problems:
        print(warning.format_text(), file=sys.stderr)
    outputs = [o.rendered for o in outcomes if o.rendered is not None]
    if output_dir is None:
        sys.stdout.write("".join(r.text() for r in outputs))
    else:
        for rendered in outputs:
            folder = write_release(rendered, output_dir)
            print(f"{folder}: {len(rendered.documents)} manifests", file=sys.stderr)
    return outputs
