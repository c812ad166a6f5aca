"""The Helm chart ecosystem's own linters, as chart projects of this field run them in CI:
chart-testing's `ct lint`, kubeconform `-strict` at the lowest Kubernetes the chart claims, and
kube-score (in kube-linter's place). Each is built from its Go module by `make tools`
(tools/linters.sh) and cached; nothing here reaches the network.

The manifests they judge are the chart's own renders of every example, every valid case and
every chart/ci values file, which between them render every kind the chart has (a test keeps
it so). Each linter is also shown a mistake it must catch, so none of them can pass by
checking nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_harness import cache_dir
from kubeconform_schemas import lowest_kubernetes, write_schemas

from conftest import CASES, CHART, EXAMPLES, ROOT
from modelservice.helm.engine import render
from modelservice.validate import validate_file

LINTERS = cache_dir() / "linters"
VALUES = sorted(
    [
        *(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml"),
        *(CASES / "valid").glob("*.yaml"),
        *(CHART / "ci").glob("*-values.yaml"),
    ]
)


def linter(name: str) -> Path:
    """A linter tools/linters.sh built; a clear failure (never a skip) when it is missing."""
    found = sorted(LINTERS.glob(f"{name}-v*/{name}"))
    if not found:
        raise FileNotFoundError(f"{LINTERS}/{name}-v*/{name} is missing: run `make tools`")
    return found[-1]


def run(command: list[Any], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=600, **kwargs
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every values file validated and rendered by the embedded Helm engine, one folder per
    file and one file per object (the generated API-key Secret and the test pod included,
    which `render --output-dir` leaves out or sets apart)."""
    out = tmp_path_factory.mktemp("rendered")
    for values in VALUES:
        result = validate_file(values, CHART)
        assert result.problems == [], values
        # the same file name in two folders: name each release after its folder too
        release = f"{values.parent.name}-{values.stem}".lower().replace(".", "-")[:53].rstrip("-")
        folder = out / release
        folder.mkdir()
        for index, doc in enumerate(render(CHART, result.values, release=release, namespace="ai")
                                    .documents):  # fmt: skip
            (folder / f"{index:02d}-{doc.kind.lower()}.yaml").write_text(doc.text + "\n")
    return out


def manifests(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.yaml"))


def objects(folder: Path) -> list[dict[str, Any]]:
    """Every object, read as Kubernetes reads it (sigs.k8s.io/yaml, through helm_python):
    PyYAML refuses a plain `=`, which Helm's toYaml writes for the text "=". A render writes
    one object per file."""
    from modelservice.values.loader import helm_reading

    return [helm_reading(path.read_text(encoding="utf-8")) for path in manifests(folder)]


def test_the_rendered_values_cover_every_kind_the_chart_can_render(rendered):
    templates = {
        match
        for path in (CHART / "templates").rglob("*.yaml")
        for match in re.findall(r"(?m)^kind: (\w+)$", path.read_text(encoding="utf-8"))
    }
    assert templates <= {obj["kind"] for obj in objects(rendered)}


# -- kubeconform ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema_location(rendered, tmp_path_factory) -> str:
    kinds = {(obj["kind"], obj["apiVersion"]) for obj in objects(rendered)}
    return write_schemas(tmp_path_factory.mktemp("kubeconform"), lowest_kubernetes(CHART), kinds)


def kubeconform(schema_location: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [linter("kubeconform"), "-strict", "-summary", "-output", "json",
         "-kubernetes-version", lowest_kubernetes(CHART),
         "-schema-location", schema_location, *paths],
    )  # fmt: skip


def test_the_lowest_kubernetes_comes_from_the_charts_kube_version():
    claim = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    assert claim.startswith(f">={lowest_kubernetes(CHART)}")


def test_kubeconform_strict_accepts_every_rendered_object_at_the_lowest_kubernetes_claimed(
    rendered, schema_location
):
    result = kubeconform(schema_location, rendered)
    report = json.loads(result.stdout)
    problems = [r for r in report["resources"] if r["status"] != "statusValid"]
    assert result.returncode == 0 and problems == [], json.dumps(problems, indent=1)
    assert report["summary"]["valid"] == len(objects(rendered))


def test_kubeconform_refuses_an_unknown_field_a_missing_schema_and_a_wrong_type(
    rendered, schema_location, tmp_path
):
    service = next(o for o in objects(rendered) if o["kind"] == "Service")
    monitor = next(o for o in objects(rendered) if o["kind"] == "ServiceMonitor")
    wrong = [
        {**service, "spec": {**service["spec"], "clusterIp": "None"}},
        {**monitor, "spec": {**monitor["spec"], "endpoints": "http"}},
        {"apiVersion": "example.com/v1", "kind": "Unknown", "metadata": {"name": "x"}},
    ]
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump_all(wrong))
    result = kubeconform(schema_location, path)
    assert result.returncode == 1
    statuses = {r["kind"]: r["status"] for r in json.loads(result.stdout)["resources"]}
    assert statuses == {
        "Service": "statusInvalid",
        "ServiceMonitor": "statusInvalid",
        "Unknown": "statusError",
    }


# -- kube-score ----------------------------------------------------------------------------------


def kube_score_ignored() -> dict[str, str]:
    """The checks .kube-score.yaml leaves out, each with its reason."""
    config = yaml.safe_load((ROOT / ".kube-score.yaml").read_text())
    return {entry["test"]: entry["reason"] for entry in config["ignore"]}


def as_kube_score_sees_them(folder: Path, out: Path) -> list[Path]:
    """The manifests, with each LeaderWorkerSet's leader and worker templates also given as
    Deployments: kube-score knows no LeaderWorkerSet, so it would judge none of its pods and
    find the leaders-only Service selecting nothing. The leader's pods carry the label the
    LeaderWorkerSet controller gives them (worker index 0), which that Service selects. An HPA
    of LeaderWorkerSet groups is told to kube-score's per-object ignore annotation that its
    target, a kind it does not know, is no mistake. An ExternalName Service (the Ingress's way
    to KEDA's HTTP interceptor) selects no pod, but kube-score reads its missing selector as
    one that selects every pod of the namespace, and then judges every pod as served: it is
    given a selector no pod has."""
    paths = []
    for index, (path, obj) in enumerate(zip(manifests(folder), objects(folder), strict=True)):
        if obj["kind"] == "Service" and (obj.get("spec") or {}).get("type") == "ExternalName":
            obj["spec"]["selector"] = {"kube-score.invalid/selects": "no-pod"}
            path = out / f"external-name-{index}.yaml"
            path.write_text(yaml.safe_dump(obj))
        target = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        if obj["kind"] == "HorizontalPodAutoscaler" and target.get("kind") == "LeaderWorkerSet":
            # an HPA of groups: its target is a kind kube-score does not know
            obj["metadata"].setdefault("annotations", {})["kube-score/ignore"] = (
                "horizontalpodautoscaler-has-target"
            )
            path = out / f"hpa-{index}.yaml"
            path.write_text(yaml.safe_dump(obj))
        paths.append(path)
        if obj["kind"] != "LeaderWorkerSet":
            continue
        for role, template in obj["spec"]["leaderWorkerTemplate"].items():
            if not role.endswith("Template") or role == "volumeClaimTemplates":
                continue
            template = json.loads(json.dumps(template))
            labels = template["metadata"]["labels"]
            labels["leaderworkerset.sigs.k8s.io/worker-index"] = (
                "0" if role == "leaderTemplate" else "1"
            )
            deployment = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {**obj["metadata"], "name": f"{obj['metadata']['name']}-{role}"},
                "spec": {
                    "replicas": 2,
                    "strategy": {"type": "RollingUpdate"},
                    "selector": {"matchLabels": labels},
                    "template": template,
                },
            }
            path = out / f"lws-{index}-{role}.yaml"
            path.write_text(yaml.safe_dump(deployment))
            paths.append(path)
    return paths


def kube_score(paths: list[Path]) -> list[tuple[str, str, str]]:
    """(object, check id, summary) of every check kube-score fails, the ignored ones left out."""
    ignores = [arg for test in kube_score_ignored() for arg in ("--ignore-test", test)]
    result = run([linter("kube-score"), "score", "--output-format", "json", *ignores, *paths])
    assert result.returncode in (0, 1), result.stderr
    failed = []
    for obj in json.loads(result.stdout):
        for check in obj["checks"]:
            if check["skipped"] or check["grade"] >= 10:
                continue
            summaries = [c["summary"] for c in check["comments"]] or [""]
            failed += [(obj["object_name"], check["check"]["id"], s) for s in summaries]
    return failed


def test_every_kube_score_exclusion_gives_its_reason():
    ignored = kube_score_ignored()
    assert ignored and all(len(reason) > 40 for reason in ignored.values())


def test_kube_score_finds_nothing_beyond_the_checks_the_chart_answers_on_purpose(
    rendered, tmp_path
):
    found = kube_score(as_kube_score_sees_them(rendered, tmp_path))
    assert found == [], "\n".join(map(str, found))


def test_each_kube_score_exclusion_is_still_needed(rendered, tmp_path):
    """An exclusion that nothing fails any more is dropped from .kube-score.yaml."""
    paths = as_kube_score_sees_them(rendered, tmp_path)
    result = run([linter("kube-score"), "score", "--output-format", "json", *paths])
    failing = {
        check["check"]["id"]
        for obj in json.loads(result.stdout)
        for check in obj["checks"]
        if not check["skipped"] and check["grade"] < 10
    }
    assert set(kube_score_ignored()) <= failing


def test_kube_score_catches_a_statefulset_governed_by_no_headless_service(rendered, tmp_path):
    statefulset = next(o for o in objects(rendered) if o["kind"] == "StatefulSet")
    ungoverned = {**statefulset, "spec": {**statefulset["spec"], "serviceName": "nothing"}}
    path = tmp_path / "statefulset.yaml"
    path.write_text(yaml.safe_dump(ungoverned))
    assert "statefulset-has-servicename" in {c[1] for c in kube_score([path])}


# -- ct lint -------------------------------------------------------------------------------------


def ct_lint(repo: Path) -> subprocess.CompletedProcess[str]:
    etc = linter("ct").parent / "etc"
    helm = cache_dir() / "bin" / "helm3"
    path = tmp_bin = repo / ".bin"
    tmp_bin.mkdir(exist_ok=True)
    (tmp_bin / "helm").unlink(missing_ok=True)
    (tmp_bin / "helm").symlink_to(helm)
    venv_bin = Path(sys.executable).parent  # yamllint and yamale
    env = {**os.environ, "PATH": f"{path}{os.pathsep}{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    return run(
        [linter("ct"), "lint", "--config", repo / "ct.yaml",
         "--chart-yaml-schema", etc / "chart_schema.yaml", "--lint-conf", etc / "lintconf.yaml"],
        cwd=repo, env=env,
    )  # fmt: skip


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """The chart and ct.yaml in a folder of their own (ct lints the chart in place)."""
    shutil.copytree(CHART, tmp_path / "chart")
    shutil.copy(ROOT / "ct.yaml", tmp_path / "ct.yaml")
    return tmp_path


def test_ct_lint_passes_with_every_ci_values_file(repo_copy):
    result = ct_lint(repo_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    for values in sorted((CHART / "ci").glob("*-values.yaml")):
        assert f'Linting chart with values file "chart/ci/{values.name}"' in result.stdout


def test_the_chart_names_a_maintainer_with_an_account_name_and_an_email():
    (maintainer, *_) = yaml.safe_load((CHART / "Chart.yaml").read_text())["maintainers"]
    assert re.fullmatch(r"[A-Za-z0-9](?:-?[A-Za-z0-9])*", maintainer["name"])
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", maintainer["email"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda text: text.replace("apiVersion: v2", "apiVersion: 2"),
            "apiVersion",
            id="a-chart-yaml-field-of-the-wrong-type",
        ),
        pytest.param(
            lambda text: text.replace("name: modelservice\n", "name: modelservice\nname: x\n"),
            "duplication of key",
            id="a-duplicate-key-yamllint-refuses",
        ),
    ],
)
def test_ct_lint_fails_a_broken_chart_yaml(repo_copy, change, expected):
    chart_yaml = repo_copy / "chart" / "Chart.yaml"
    chart_yaml.write_text(change(chart_yaml.read_text()))
    result = ct_lint(repo_copy)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
