"""modelservice: validate, render, scaffold and bake the modelservice Helm chart."""

from __future__ import annotations

import re

from .core.paths import chart_dir


def _chart_version() -> str:
    """The bundled chart's ``version``: the toolkit and the chart are released together under
    one version, written once, in chart/Chart.yaml (the wheel's build reads it from there)."""
    text = (chart_dir() / "Chart.yaml").read_text(encoding="utf-8")
    found = re.search(r"^version:\s*[\"']?([^\"'\s#]+)", text, flags=re.MULTILINE)
    if found is None:  # pragma: no cover - the suite checks the bundled Chart.yaml
        raise RuntimeError(f"{chart_dir() / 'Chart.yaml'}: no version")
    return found.group(1)


__version__ = _chart_version()
