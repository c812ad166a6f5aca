"""Generated files stay in step with their sources (schemas/ is the one source of truth)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from conftest import CHART, ROOT
from modelservice import generated
from modelservice.cli import cli
from modelservice.schema import docs, generate


def test_chart_values_schema_json_is_generated_from_schemas_without_drift():
    expected = generate.render_chart_schema(
        generate.load_schema_source(), generate.helm_defaults(CHART)
    )
    assert (CHART / "values.schema.json").read_text(encoding="utf-8") == expected


def test_the_chart_readme_values_comments_and_schema_are_generated_without_drift():
    assert generated.drifted() == []


def test_docs_check_fails_when_the_schema_source_changes(tmp_path, monkeypatch):
    source = tmp_path / "values.schema.yaml"
    text = (ROOT / "schemas" / "values.schema.yaml").read_text(encoding="utf-8")
    source.write_text(text.replace("title: modelservice chart values", "title: changed"))
    monkeypatch.setattr(generate, "values_schema_source", lambda: source)
    result = CliRunner().invoke(cli, ["docs", "--check"])
    assert result.exit_code == 1
    assert "values.schema.json: out of date; run `make generate`" in result.stderr


def test_the_chart_schema_is_strict_draft_07_with_a_global_entry():
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    assert "global" in schema["properties"]
    assert "http" not in json.dumps([v for k, v in _refs(schema)])


def _refs(node, found=None):
    found = [] if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append((key, value))
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)
    return found


def test_every_object_the_chart_owns_rejects_unknown_keys():
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    open_objects = []

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("properties") and node.get("additionalProperties") is not False:
                open_objects.append(path)
            for key, value in node.items():
                # if/then/else only add conditions to keys an owning object already declares.
                if key not in ("if", "then", "else"):
                    walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}/{index}")

    walk(schema, "")
    assert open_objects == []


def test_every_key_of_values_yaml_is_in_the_table_with_the_charts_default():
    schema = generate.load_schema_source()
    defaults = docs.chart_defaults(CHART)
    table = {row.key: row for row in docs.rows(schema, defaults)}

    def leaves(node, prefix=""):
        for key, value in node.items():
            if (
                isinstance(value, dict)
                and value
                and f"{prefix}{key}"
                not in (
                    "global",
                    "resources",
                    "podSecurityContext",
                    "securityContext",
                    "nodeSelector",
                    "affinity",
                    "podAnnotations",
                    "podLabels",
                )
            ):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    for key, value in leaves(defaults):
        if key.startswith(("probes.", "resources")) or key.count(".") > 2:
            continue
        assert key in table, key
        assert table[key].default == docs.default_cell(value), key
