"""The one schema validator (modelservice.schema.check) gives Helm's own verdict.

`validate` checks the merged values once with it, and the render that follows skips Helm's
second check (engine.schemaless_chart). That is safe only while both verdicts agree, on the
regular-expression dialect above all: Helm's validator runs `pattern` with Go's regexp, where
`$` is the very end of the text and `\\d`, `\\s`, `\\w` are ASCII, unlike Python's `re`. Each
verdict here is compared with the one Helm's code (helm-python-sdk, Helm v4 in-process) gives
on the same value.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import helm_python
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import CHART
from modelservice.helm import engine
from modelservice.schema import check as schema_check
from schema_strategy import from_schema, generation_schema

#: Characters where the regex dialects part: line ends, a vertical tab and Unicode spaces
#: (`\s`), Unicode digits (`\d`) and letters (`\w`), C1 controls, a character outside the BMP.
AWKWARD = "\n\r\t\v\f \u00a0\u0085\u2028\u0660\u0661\u00e9\u00df_-./:%0aZ\x00\x1f\x7f\x9f\U0001f600"


def _patterns(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            found.add(node["pattern"])
        for value in node.values():
            found |= _patterns(value)
    elif isinstance(node, list):
        for value in node:
            found |= _patterns(value)
    return found


CHART_SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
PATTERNS = sorted(_patterns(CHART_SCHEMA))


def _chart_with_schema(schema: dict[str, Any]) -> helm_python.Chart:
    """A chart held in memory whose only content is ``schema`` (loaded by Helm)."""
    files = {
        "probe/Chart.yaml": b"apiVersion: v2\nname: probe\nversion: 0.1.0\n",
        "probe/values.schema.json": json.dumps(schema).encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return helm_python.Chart.load_archive(buffer.getvalue())


def _helm_accepts(chart: helm_python.Chart, values: dict[str, Any]) -> bool:
    try:
        with engine.go_log_silenced():
            chart.validate_schema(values)
    except helm_python.HelmError:
        return False
    return True


def _python_accepts(validator: Any, values: dict[str, Any]) -> bool:
    return next(iter(validator.iter_errors(values)), None) is None


def test_the_chart_schema_has_patterns_to_compare():
    assert len(PATTERNS) >= 10


def _texts(pattern: str) -> st.SearchStrategy[str]:
    # Python's reading of the pattern draws strings it matches (a final "\n" for `$`, Unicode
    # digits for `\d`), which Go's may not; plain text of awkward characters draws the rest.
    python_reading = st.from_regex(pattern)
    return st.one_of(
        python_reading,
        python_reading.map(lambda s: s + "\n"),
        st.text(alphabet=AWKWARD, max_size=12),
        st.text(max_size=12),
    )


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pattern_of_the_chart_schema_accepts_exactly_what_helm_accepts(pattern: str):
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    helm_chart = _chart_with_schema(schema)
    validator = schema_check.compile_schema(schema)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=_texts(pattern))
    def agree(text: str) -> None:
        values = {"s": text}
        assert _python_accepts(validator, values) == _helm_accepts(helm_chart, values), text

    agree()


@pytest.mark.parametrize(
    ("pattern", "text", "verdict"),
    [
        ("^a$", "a\n", False),  # Python's `$` also matches before a final newline
        ("^[0-9]+%$", "5%\n", False),
        (r"^\d+$", "\u0661\u0662", False),  # Python's `\d` is Unicode by default
        (r"^[\w][\w.-]{0,127}$", "\u00e9t\u00e9", False),
        (r"^[^\s\x00-\x1f\x7f-\x9f]*$", "a\u00a0b", True),  # Go's `\s` is ASCII
        (r"^[^\s\x00-\x1f\x7f-\x9f]*$", "a\u2028b", True),
    ],
)
def test_the_dialect_differences_that_matter_go_helms_way(pattern: str, text: str, verdict: bool):
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    assert _helm_accepts(_chart_with_schema(schema), {"s": text}) is verdict
    assert _python_accepts(schema_check.compile_schema(schema), {"s": text}) is verdict


def _mutated(draw: st.DrawFn, values: Any) -> Any:
    """``values`` with one leaf replaced by a random scalar, or unchanged."""
    if isinstance(values, dict) and values and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(values)))
        return {**values, key: _mutated(draw, values[key])}
    if isinstance(values, list) and values and draw(st.booleans()):
        index = draw(st.integers(0, len(values) - 1))
        return [*values[:index], _mutated(draw, values[index]), *values[index + 1 :]]
    if isinstance(values, (dict, list)) and not draw(st.booleans()):
        return values
    return draw(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-5, 70000),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(alphabet=AWKWARD, max_size=8),
            st.just([]),
            st.just({}),
        )
    )


#: Values files drawn from the chart's schema, the strategy built once (building it reads and
#: walks the whole schema: the most of an example's time when done per draw).
GENERATED = from_schema(generation_schema())


@st.composite
def _values(draw: st.DrawFn) -> dict[str, Any]:
    values = draw(GENERATED)
    mutated = _mutated(draw, values)
    return mutated if isinstance(mutated, dict) else values


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(values=_values())
@example(values={"model": {"name": "org/model"}, "engine": {"port": "8000"}})
@example(values={"model": {"name": "org/model"}, "service": {"annotations": {"a": "x"}}})
@example(values={"model": {"name": "org/model\n"}})
# Found by a draw: a null deletes the chart's default; Helm's check, on its own merge, refuses.
@example(values={"model": None})
def test_on_merged_values_the_python_verdict_is_helms(values: dict[str, Any]):
    """Python checks the user's values merged over the chart's defaults by Helm's code; Helm
    merges and checks them itself, as its render does. Every generated value, valid or with
    one leaf broken, gets one verdict from both."""
    loaded = engine.load_chart(CHART)
    with engine.go_log_silenced():
        merged = loaded.merge_values(values)
    validator = schema_check.chart_validator(CHART)
    assert _python_accepts(validator, merged) == _helm_accepts(loaded, values)


def test_the_schemaless_chart_renders_exactly_what_the_chart_renders():
    """The chart the render uses after the schema passed differs only by the schema."""
    values = {
        "model": {"name": "org/model"},
        "metrics": {"serviceMonitor": {"enabled": True}, "dashboard": {"enabled": True}},
    }
    full = engine.load_chart(CHART)
    bare = engine.schemaless_chart(CHART)
    assert full.schema is not None
    assert bare.schema is None
    assert bare.values == full.values
    assert bare.templates == full.templates
    assert bare.files == full.files
    options = {"name": "r", "namespace": "ns", "is_install": True}
    assert bare.render(values, **options) == full.render(values, **options)


def test_validate_renders_without_helms_second_schema_check(monkeypatch):
    """What validate renders comes from the schemaless chart, so a schema Helm would enforce
    is not enforced twice (and the output is the same as through the full chart)."""
    from modelservice.validate import validate_loaded
    from modelservice.values.loader import load_text

    charts: list[Any] = []
    schemaless = engine.schemaless_chart

    def spy(chart):
        charts.append(schemaless(chart))
        return charts[-1]

    monkeypatch.setattr(engine, "schemaless_chart", spy)
    values = {"model": {"name": "org/model"}}
    result = validate_loaded(load_text(json.dumps(values), "one.yaml"), CHART, release="one")
    assert result.problems == []
    assert result.rendered is not None
    assert [c.schema for c in charts] == [None]
    direct = engine.render(CHART, values, release="one")
    assert result.rendered.text() == direct.text()
