"""The documentation is where a user looks for it: the README keeps the quick start, the
toolkit's commands and links; docs/ holds the guide by task; every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "chart" / "README.md", *DOCS]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.*)$", page.read_text(encoding="utf-8"), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_points_at_a_file_and_heading_that_exist(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: {target}"


def test_the_guide_covers_every_task_and_the_readme_links_each_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in (
        "prerequisites",
        "install",
        "expose",
        "secure",
        "observe",
        "scale",
        "upgrade-uninstall",
        "troubleshooting",
        "rules",
        "development",
    ):
        assert (ROOT / "docs" / f"{name}.md").is_file(), name
        assert f"(docs/{name}.md" in readme, name
    assert "(chart/README.md)" in readme


def test_the_readme_holds_no_parameter_table_and_stays_short():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| `model.name` |" not in readme
    assert len(readme) < 30_000


def test_the_prerequisites_state_minimum_versions_of_what_the_chart_needs():
    text = (ROOT / "docs" / "prerequisites.md").read_text(encoding="utf-8")
    for needed in (
        "nvidia.com/gpu",
        "RuntimeClass `nvidia`",
        "ServiceMonitor",
        "PrometheusRule",
        "HTTPRoute",
        "v1.2.0",
        "1.34",
    ):
        assert needed in text, needed


def test_uninstall_names_the_objects_the_chart_renders_with_the_keep_policy():
    from conftest import render_values

    values = {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}, "auth": {"apiKey": {"create": True}}}
    kept = {
        (o["kind"], o["metadata"]["name"])
        for o in render_values(values, release="qwen", namespace="ai").objects()
        if (o["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
    }
    assert kept == {
        ("PersistentVolumeClaim", "qwen-modelservice-cache"),
        ("Secret", "qwen-modelservice-api-key"),
    }
    text = (ROOT / "docs" / "upgrade-uninstall.md").read_text(encoding="utf-8")
    for _, name in kept:
        assert f"kubectl delete {'pvc' if 'cache' in name else 'secret'} {name} -n ai" in text
