"""Reading the toolkit's and the chart's own data files (YAML), fast.

These files are committed facts (plan's tables, the chart's accelerator families and values
map, KEDA's CRD): plain YAML that any reader reads alike, read here by libyaml's C parser when
PyYAML was built with it (ten times the pure-Python parser, which is most of a small file's
cost). A user's values file is never read here: that is Helm's reading
(:mod:`modelservice.values.loader`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_yaml(path: str | Path) -> Any:
    """The one document of a committed YAML data file."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)
