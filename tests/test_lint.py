"""Helm's own linter has nothing to say about the chart."""

from __future__ import annotations

import helm_python

from conftest import CHART


def test_helm_lint_reports_no_messages_with_a_minimal_values_file():
    report = helm_python.lint(
        str(CHART), {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}, strict=True
    )
    assert report["errors"] == []
    assert report["messages"] == []


def test_chart_appversion_is_the_pinned_image_tag():
    chart = helm_python.Chart.load(str(CHART))
    assert chart.metadata["appVersion"] == chart.values["image"]["tag"]
    assert chart.values["image"]["tag"] != "latest"
