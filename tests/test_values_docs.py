"""One source for each key's documentation: the schema's descriptions make the `# --` comments
of chart/values.yaml and the parameter table of chart/README.md (what `helm show readme`
prints)."""

from __future__ import annotations

import re
import subprocess

import pytest
from kube_harness import cached_binary

from conftest import CHART
from modelservice.schema import docs, generate, values_docs


def doc_comments(text: str) -> dict[tuple[str, ...], str]:
    """Each key's `# --` comment of a values.yaml text, joined into one line."""
    lines = text.splitlines()
    found = {}
    for line, path in values_docs.key_lines(text):
        block: list[str] = []
        index = line - 1
        while index >= 0 and lines[index].lstrip().startswith("#"):
            block.insert(0, lines[index].strip())
            if lines[index].lstrip().startswith("# --"):
                break
            index -= 1
        if block and block[0].startswith("# --"):
            found[path] = " ".join(b.lstrip("#").strip() for b in block)[3:].strip()
    return found


def test_every_doc_comment_of_values_yaml_is_the_schema_description_of_its_key():
    schema = generate.load_schema_source()
    comments = doc_comments((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert len(comments) > 150
    for path, comment in comments.items():
        assert comment == values_docs.description_of(schema, path), ".".join(path)


def test_every_key_of_values_yaml_the_schema_declares_has_a_description_and_a_comment():
    schema = generate.load_schema_source()
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    comments = doc_comments(text)
    for _, path in values_docs.key_lines(text):
        if values_docs.schema_node(schema, path) is not None:
            assert values_docs.description_of(schema, path), ".".join(path)
            assert path in comments, ".".join(path)


SCHEMA = {
    "type": "object",
    "definitions": {"port": {"type": "integer", "description": "A port."}},
    "properties": {
        "server": {
            "type": "object",
            "description": "The server.",
            "properties": {
                "port": {"$ref": "#/definitions/port", "description": "Port of the server."},
                "name": {"type": "string", "description": " ".join(["Long words"] * 30)},
                "labels": {"type": "object", "description": "Labels."},
            },
        }
    },
}


def test_the_generator_replaces_stale_comments_adds_missing_ones_and_keeps_the_rest():
    text = (
        "# A header that stays.\n"
        "\n"
        "server:\n"
        "  # A plain note that stays.\n"
        "  # -- An old text\n"
        "  # on two lines.\n"
        "  port: 80\n"
        "  name: x\n"
        "  labels:\n"
        "    team: ml\n"
    )
    out = values_docs.render_values_yaml(text, SCHEMA)
    assert out.splitlines() == [
        "# A header that stays.",
        "",
        "# -- The server.",
        "server:",
        "  # A plain note that stays.",
        "  # -- Port of the server.",
        "  port: 80",
        *[line for line in out.splitlines() if line.startswith("  # ") and "Long" in line],
        "  name: x",
        "  # -- Labels.",
        "  labels:",
        "    team: ml",
    ]
    assert all(len(line) <= values_docs.WIDTH for line in out.splitlines())
    assert values_docs.render_values_yaml(out, SCHEMA) == out


def test_a_changed_description_changes_the_comment_and_the_chart_files_drift(tmp_path, monkeypatch):
    source = tmp_path / "values.schema.yaml"
    text = (CHART.parent / "schemas" / "values.schema.yaml").read_text(encoding="utf-8")
    old = "description: Whole GPUs of the pod."
    assert old in text
    source.write_text(text.replace(old, "description: GPUs, described anew."))
    monkeypatch.setattr(generate, "values_schema_source", lambda: source)
    files = generate.generated_files()
    assert "# -- GPUs, described anew.\ngpu:" in files[CHART / "values.yaml"]
    assert "| `gpu` | object |  | GPUs, described anew. |" in files[CHART / "README.md"]
    assert sorted(p.name for p in generate.drifted()) == [
        "README.md",
        "values.schema.json",
        "values.yaml",
    ]


def test_the_chart_readme_holds_a_row_for_every_key_of_the_parameter_table():
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    rows = docs.rows(generate.load_schema_source(), docs.chart_defaults(CHART))
    assert len(rows) > 150
    for row in rows:
        assert f"| `{row.key}` | {row.type} | {row.default} |" in readme, row.key


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_helm_show_readme_prints_the_generated_parameter_table(helm):
    shown = subprocess.run(
        [str(cached_binary(helm)), "show", "readme", str(CHART)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.strip() == (CHART / "README.md").read_text(encoding="utf-8").strip()
    assert re.search(r"^\| `model\.name` \| string \| `\"\"` \| Hub repository id", shown, re.M)
