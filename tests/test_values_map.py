"""chart/values-map.yaml leads every rendered field back to a values key, and a null for any
chart default is either refused at its line or harmless to the templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import CASES, CHART, EXAMPLES
from modelservice.core.tree import has
from modelservice.validate import merge, validate_loaded
from modelservice.values.loader import load_file, load_text

FILES = [
    p
    for p in [*sorted(EXAMPLES.glob("*.yaml")), *sorted((CASES / "valid").glob("*.yaml"))]
    if p.name != "helmfile.yaml"
]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_list_item_the_chart_renders_into_a_pod_leads_back_to_a_values_key(path: Path):
    result = validate_loaded(load_file(path), CHART, release="map")
    ctx = result.context
    assert ctx is not None and result.rendered is not None, [
        p.format_text() for p in result.problems
    ]
    for pod in ctx.release.pods:
        fields = [path for path, _ in pod.volumes()]
        for container in pod.containers():
            fields += [(*container.path, "env", i) for i, _ in container.env()]
            fields += [path for path, _ in container.mounts()]
        for field in fields:
            key = ctx.values_path(pod.obj, field)
            assert key and has(ctx.merged, key), (pod.kind, field, key)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_optional_object_the_chart_renders_leads_back_to_the_key_that_enables_it(path: Path):
    result = validate_loaded(load_file(path), CHART, release="map")
    ctx = result.context
    assert ctx is not None and result.rendered is not None
    always = {"Deployment", "Service", "Pod"}
    for obj in ctx.release.objects:
        if obj["kind"] in always:
            continue
        key = ctx.values_path(obj, ())
        assert key and has(ctx.merged, key), (obj["kind"], key)


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
