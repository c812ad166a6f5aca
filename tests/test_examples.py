"""Every scenario in values-examples/ validates, renders and passes strict Kubernetes checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CHART, EXAMPLES, Objects, assert_valid_kubernetes, strict_errors
from modelservice.helm.engine import release_name_for, render
from modelservice.validate import validate_file

EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml")


def test_there_is_an_example_per_scenario():
    assert len(EXAMPLE_FILES) >= 9


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_validates_without_warnings_and_renders_valid_kubernetes(path: Path):
    result = validate_file(path, CHART)
    assert result.problems == []
    rendered = render(CHART, result.values, release=release_name_for(str(path)), namespace="ai")
    assert_valid_kubernetes(rendered)
    objects = Objects(rendered)
    kinds = {o["kind"] for o in objects.all}
    if "LeaderWorkerSet" in kinds:  # multiNode: the leader serves (a Ray leader starts Ray first)
        template = objects.one("LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
        for role in ("leaderTemplate", "workerTemplate"):  # custom kind: check its pods as Pods
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": role.lower()}}
            assert strict_errors({**pod, "spec": template[role]["spec"]}) == [], role
        leader = template["leaderTemplate"]["spec"]["containers"]
        assert next(c for c in leader if c["name"] == "vllm")["command"][-2:] == ["vllm", "serve"]
        assert {"LeaderWorkerSet", "Service"} <= kinds
    else:
        assert objects.server["command"] == ["vllm", "serve"]
        assert {"Deployment", "Service"} <= kinds
