"""``modelservice render``: validate every file first, then render each release."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .diagnostics import Problem
from .engine import EngineName, Rendered, release_name_for, render
from .errors import EngineError, InvalidValues, UserError
from .validate import Result, validate_file


def validate_all(files: list[str], chart: Path) -> list[Result]:
    """Validate every file; raise :class:`InvalidValues` with every error of every file."""
    results = [validate_file(f, chart) for f in files]
    problems = [p for r in results for p in r.problems]
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidValues(problems)
    for warning in problems:
        print(warning.format_text(), file=sys.stderr)
    return results


def manifest_file_name(kind: str, name: str, taken: set[str]) -> str:
    """A stable file name for one manifest in a release folder."""
    base = re.sub(r"[^a-z0-9.-]+", "-", f"{kind}-{name}".lower()).strip("-") or "manifest"
    candidate, n = f"{base}.yaml", 2
    while candidate in taken:
        candidate, n = f"{base}-{n}.yaml", n + 1
    taken.add(candidate)
    return candidate


def write_release(rendered: Rendered, output_dir: Path) -> Path:
    """Write one file per manifest under ``output_dir/<release>/``, replacing stale ones."""
    folder = output_dir / rendered.release
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.yaml"):
        stale.unlink()
    taken: set[str] = set()
    for doc in rendered.documents:
        data = doc.load() or {}
        name = str((data.get("metadata") or {}).get("name", "")) if isinstance(data, dict) else ""
        file = folder / manifest_file_name(doc.kind or "object", name, taken)
        file.write_text(f"# Source: {doc.source}\n{doc.text}\n", encoding="utf-8")
    return folder


def render_files(
    files: list[str],
    *,
    chart: Path,
    release: str | None,
    namespace: str,
    engine: EngineName,
    output_dir: Path | None,
) -> list[Rendered]:
    """Validate, then render every file; print manifests or write release folders."""
    results = validate_all(files, chart)
    names: dict[str, str] = {}
    for result in results:
        name = release or release_name_for(result.loaded.file)
        if name in names:
            raise UserError(
                f"{result.loaded.file} and {names[name]} would both be release {name!r}; "
                "rename one file"
            )
        names[name] = result.loaded.file
    outputs: list[Rendered] = []
    for result, name in zip(results, names, strict=True):
        try:
            rendered = render(chart, result.values, release=name, namespace=namespace,
                              engine=engine)
        except EngineError as exc:
            raise InvalidValues(
                [Problem(result.loaded.file, 1, 1, "/", exc.message, "helm-render")]
            ) from None
        outputs.append(rendered)
    for rendered in outputs:
        if output_dir is None:
            sys.stdout.write(rendered.text())
        else:
            folder = write_release(rendered, output_dir)
            print(f"{folder}: {len(rendered.documents)} manifests", file=sys.stderr)
    return outputs
