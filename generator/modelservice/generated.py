"""Every generated file of the project and the text it must hold: from the values schema, the
chart's ``values.schema.json``, the ``# --`` comments of ``values.yaml`` and ``README.md``
(:mod:`modelservice.schema.generate`); from the rule registry, ``docs/rules.md``; from
CHANGELOG.md, the chart's ``artifacthub.io/changes`` annotation (both in a source checkout).
``make generate`` writes them; the suite fails when a committed one drifts.
"""

from __future__ import annotations

from pathlib import Path


def generated_files() -> dict[Path, str]:
    """Each generated file and its text; written whole from its sources, so running the
    generator twice, or after a merge, gives the same files."""
    from . import changelog
    from .checks import reference
    from .core.paths import repo_root
    from .schema import generate

    files = generate.generated_files()
    root = repo_root()
    if root is not None:
        rules = reference.registry().rules.values()
        files[root / reference.RULES_DOC] = reference.markdown(rules)
        chart_yaml = changelog.generated_chart_yaml(root)
        if chart_yaml is not None:
            files[chart_yaml[0]] = chart_yaml[1]
    return files


def write_generated() -> list[Path]:
    """Write every generated file; returns the ones that changed."""
    changed = []
    for path, text in generated_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def drifted() -> list[Path]:
    """Generated files whose committed text differs from what would be generated."""
    return [
        path
        for path, text in generated_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
