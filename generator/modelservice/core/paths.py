"""Where the chart, the schema source and the vLLM data live.

In a source checkout (an editable install) they are the repository's own ``chart/`` and
``schemas/``; in a wheel they are packaged under ``modelservice/_data/``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

#: The package folder (modelservice/), two levels above this module.
_PACKAGE = Path(__file__).resolve().parent.parent


@cache
def repo_root() -> Path | None:
    """The source checkout this package runs from, if any."""
    candidate = _PACKAGE.parent.parent
    if (candidate / "chart" / "Chart.yaml").is_file() and (candidate / "schemas").is_dir():
        return candidate
    return None


def _data(name: str) -> Path:
    root = repo_root()
    if root is not None:
        return root / name
    return _PACKAGE / "_data" / name


def chart_dir() -> Path:
    """The modelservice chart shipped with the toolkit."""
    return _data("chart")


def schemas_dir() -> Path:
    """The schema sources (values schema, vLLM flag and metric data)."""
    return _data("schemas")


def values_schema_source() -> Path:
    """The values JSON Schema source, the one source of truth."""
    return schemas_dir() / "values.schema.yaml"


def resolve_chart(path: str | os.PathLike[str] | None) -> Path:
    """The chart a command works on: ``path``, or the bundled chart when none is given.

    Raises ``UserError`` when the directory holds no Chart.yaml.
    """
    from .errors import UserError

    chart = Path(path) if path else chart_dir()
    if not (chart / "Chart.yaml").is_file():
        raise UserError(f"{chart}: not a chart directory (no Chart.yaml)")
    return chart
