"""CHANGELOG.md is the one source of a release's changes: the chart's
``artifacthub.io/changes`` annotation is generated from its newest section (``make generate``),
so a merge of two branches' entries is resolved once, in the changelog."""

from __future__ import annotations

import json
import re
from pathlib import Path

ANNOTATION = "  artifacthub.io/changes: |\n"


def sections(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The changelog as ``(version, [(kind, entry)])``, newest first, entries in file order."""
    result = []
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        match = re.match(r"\[([^\]]+)\]", block)
        if match is None:
            continue
        entries: list[tuple[str, str]] = []
        kind = ""
        for line in block.splitlines():
            if line.startswith("### "):
                kind = line[4:].strip().lower()
            elif line.startswith("- ") and kind:
                entries.append((kind, line[2:].strip()))
        result.append((match.group(1), entries))
    return result


def annotation(entries: list[tuple[str, str]]) -> str:
    """The annotation's block: each entry a ``kind`` and a double-quoted ``description``."""
    lines = [ANNOTATION]
    for kind, entry in entries:
        lines.append(f"    - kind: {kind}\n")
        lines.append(f"      description: {json.dumps(entry, ensure_ascii=False)}\n")
    return "".join(lines)


def chart_yaml_with_changes(chart_yaml: str, changelog: str) -> str:
    """``Chart.yaml``'s text with its changes annotation replaced by the newest section's
    entries; everything else, comments included, kept as it is."""
    found = sections(changelog)
    if not found or ANNOTATION not in chart_yaml:
        return chart_yaml
    start = chart_yaml.index(ANNOTATION)
    end = start + len(ANNOTATION)
    rest = chart_yaml[end:].splitlines(keepends=True)
    taken = 0
    for line in rest:
        if line.strip() and not line.startswith("    "):
            break
        taken += len(line)
    return chart_yaml[:start] + annotation(found[0][1]) + chart_yaml[end + taken :]


def generated_chart_yaml(root: Path) -> tuple[Path, str] | None:
    """The chart's Chart.yaml and the text it must hold, in a source checkout."""
    changelog = root / "CHANGELOG.md"
    chart_yaml = root / "chart" / "Chart.yaml"
    if not changelog.is_file() or not chart_yaml.is_file():
        return None
    text = chart_yaml_with_changes(
        chart_yaml.read_text(encoding="utf-8"), changelog.read_text(encoding="utf-8")
    )
    return chart_yaml, text
