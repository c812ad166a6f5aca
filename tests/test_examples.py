"""Every scenario in values-examples/ validates, renders and passes strict Kubernetes checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CHART, EXAMPLES, Objects, assert_valid_kubernetes, strict_errors
from modelservice.helm.engine import release_name_for, render
from modelservice.plan import tables
from modelservice.validate import validate_file

EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml")
#: Examples of a model on a volume only the cluster has: the model their comments name, whose
#: config.json a reviewer gives validate with --config (here, from plan's table).
LOCAL_MODELS = {"local-model-existing-claim": "meta-llama/Meta-Llama-3-8B-Instruct"}


def _config_for(path: Path, folder: Path) -> str | None:
    """The --config a reviewer gives for a local example, written into ``folder``."""
    name = LOCAL_MODELS.get(path.stem)
    if name is None:
        return None
    known = tables.known_model(name)
    assert known is not None, name
    (folder / "config.json").write_text(json.dumps(known.config), encoding="utf-8")
    return str(folder)


def test_there_is_an_example_per_scenario():
    assert len(EXAMPLE_FILES) >= 9


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_validates_without_warnings_and_renders_valid_kubernetes(
    path: Path, tmp_path: Path
):
    result = validate_file(path, CHART, model_config=_config_for(path, tmp_path))
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
