"""chart/values-map.yaml leads every rendered field back to a values key, and a null for any
chart default is either refused at its line or harmless to the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import CASES, CHART, EXAMPLES
from modelservice.rendered_checks import ValuesMap, containers, pod_specs
from modelservice.validate import Context, merge, validate_loaded
from modelservice.values.loader import has_path, load_file, load_text

FILES = [
    p
    for p in [*sorted(EXAMPLES.glob("*.yaml")), *sorted((CASES / "valid").glob("*.yaml"))]
    if p.name != "helmfile.yaml"
]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_list_item_the_chart_renders_into_a_pod_leads_back_to_a_values_key(path: Path):
    result = validate_loaded(load_file(path), CHART, release="map")
    assert result.rendered is not None, [p.format_text() for p in result.problems]
    ctx = Context(loaded=result.loaded, values=result.values, merged=result.merged, chart=CHART)
    vmap = ValuesMap.of_chart(CHART)
    for obj in result.rendered.objects():
        for base, spec in pod_specs(obj):
            fields = [(*base, "volumes", i) for i in range(len(spec.get("volumes") or []))]
            for where, container in containers(spec, base):
                for group in ("env", "volumeMounts"):
                    fields += [(*where, group, i) for i in range(len(container.get(group) or []))]
            for field in fields:
                key = vmap.values_path(ctx, obj, field)
                assert key and has_path(result.merged, key), (obj["kind"], field, key)


def _default_paths(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*path, key))
            found.extend(_default_paths(value, (*path, key)))
    return found


DEFAULTS = merge(CHART, {}) or {}


@pytest.mark.parametrize("key", _default_paths(DEFAULTS), ids=lambda k: ".".join(k) or "root")
def test_a_null_for_any_chart_default_is_refused_at_its_line_or_renders(key: tuple[str, ...]):
    text = "model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\n"
    values: dict[str, Any] = {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}
    node = values
    for part in key[:-1]:
        node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
    node[key[-1]] = None
    import json

    text = json.dumps(values)
    result = validate_loaded(load_text(text, "null.yaml"), CHART, release="nulls")
    errors = [p for p in result.problems if p.severity == "error"]
    if errors:
        assert all(p.rule != "helm-render" for p in errors), [p.format_text() for p in errors]
    else:
        assert result.rendered is not None
