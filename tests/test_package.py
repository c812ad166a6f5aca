"""The chart as a package: `make package` builds the archive with Helm's packager, real Helm 3
and Helm 4 push it to a real OCI registry on 127.0.0.1 and pull it back, and the pulled chart
renders byte for byte what the source folder renders. A baked chart travels the same way."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from kube_harness import EMULATED_KUBE_VERSION, cached_binary
from oci_registry import Registry, start_registry

from conftest import CHART, EXAMPLES, ROOT
from modelservice import __version__, changelog
from modelservice.cli import cli
from modelservice.helm.package import package_chart

HELMS = ["helm3", "helm4"]
QWEN = EXAMPLES / "qwen2.5-0.5b-instruct-hf-mirror.yaml"


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with start_registry() as running:
        yield running


def helm(name: str, home: Path, *args: str | Path) -> str:
    """Run a cached Helm binary with its configuration, cache and registry login in ``home``
    (nothing of the user's own Helm setup is read or written)."""
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_REGISTRY_CONFIG": str(home / "registry.json"),
    }
    done = subprocess.run(
        [str(cached_binary(name)), *map(str, args)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout + done.stderr


def template(name: str, home: Path, chart: Path | str, values: Path) -> str:
    # For the lowest release the chart claims: Helm 3.17 renders for v1.32.0 unless told.
    return helm(
        name, home, "template", "qwen", chart, "-f", values, "--namespace", "ai",
        "--kube-version", f"v{EMULATED_KUBE_VERSION}.0",
    )  # fmt: skip


def push_and_pull(name: str, home: Path, archive: Path, registry: Registry, repo: str) -> Path:
    """Push ``archive`` to ``oci://HOST/repo`` and pull it back; returns the pulled archive."""
    with tarfile.open(archive) as tar:
        chart_yaml = next(m for m in tar.getmembers() if m.name.endswith("/Chart.yaml"))
        meta = yaml.safe_load(tar.extractfile(chart_yaml).read())
    pushed = helm(name, home, "push", archive, f"oci://{registry.host}/{repo}", "--plain-http")
    assert f"{registry.host}/{repo}/{meta['name']}:{meta['version']}" in pushed
    pulled = home / "pulled"
    pulled.mkdir(exist_ok=True)
    helm(
        name,
        home,
        "pull",
        f"oci://{registry.host}/{repo}/{meta['name']}",
        "--version",
        meta["version"],
        "--plain-http",
        "--destination",
        pulled,
    )
    return pulled / archive.name


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_package_is_the_versioned_archive_of_the_chart_with_its_readme_and_schema(tmp_path):
    archive = package_chart(CHART, tmp_path)
    assert archive.name == f"modelservice-{__version__}.tgz"
    names = set(tarfile.open(archive).getnames())
    for member in ("Chart.yaml", "values.yaml", "values.schema.json", "README.md"):
        assert f"modelservice/{member}" in names
    # the values map travels with the chart: `validate --chart` of a pulled chart reports every
    # finding on the rendered release at its values key
    assert "modelservice/values-map.yaml" in names


def test_make_package_writes_the_archive_into_dist(tmp_path):
    done = subprocess.run(
        ["make", "-s", "package", f"DIST={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"modelservice-{__version__}.tgz").is_file()


@pytest.mark.parametrize("name", HELMS)
def test_a_chart_pushed_to_an_oci_registry_and_pulled_back_renders_byte_identical(
    name, tmp_path, registry
):
    archive = package_chart(CHART, tmp_path / "dist")
    pulled = push_and_pull(name, tmp_path, archive, registry, f"charts-{name}")
    assert sha256(pulled) == sha256(archive)
    from_registry = template(name, tmp_path, pulled, QWEN)
    assert "kind: Deployment" in from_registry
    assert from_registry == template(name, tmp_path, CHART, QWEN)
    # What Artifact Hub and `helm show` read travels with it.
    shown = helm(name, tmp_path, "show", "readme", pulled)
    assert shown.strip() == (CHART / "README.md").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("name", HELMS)
def test_a_baked_chart_packages_pushes_and_pulls_the_same_way(name, tmp_path, registry):
    baked = tmp_path / "platform-chart"
    result = CliRunner().invoke(
        cli,
        [
            "bake",
            "--defaults",
            str(EXAMPLES / "platform" / "defaults.yaml"),
            "--constraints",
            str(EXAMPLES / "platform" / "constraints.yaml"),
            "--name",
            "platform-modelservice",
            "--version",
            "1.0.0",
            "--output",
            str(baked),
        ],
    )
    assert result.exit_code == 0, result.output
    archive = package_chart(baked, tmp_path / "dist")
    assert archive.name == "platform-modelservice-1.0.0.tgz"
    pulled = push_and_pull(name, tmp_path, archive, registry, f"platform-{name}")
    assert sha256(pulled) == sha256(archive)
    from_registry = template(name, tmp_path, pulled, QWEN)
    assert "registry.example.com/mirror/vllm/vllm-openai" in from_registry
    assert from_registry == template(name, tmp_path, baked, QWEN)


def chart_meta(chart: Path = CHART) -> dict:
    return yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))


def test_chart_yaml_carries_what_artifact_hub_reads():
    meta = chart_meta()
    assert meta["version"] == __version__
    assert meta["home"].startswith("https://")
    assert meta["sources"] and all(s.startswith("https://") for s in meta["sources"])
    assert meta["maintainers"] and all(m["name"] for m in meta["maintainers"])
    assert {"vllm", "llm", "gpu"} <= set(meta["keywords"])
    assert meta["annotations"]["artifacthub.io/license"] == "Apache-2.0"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")


def test_the_artifact_hub_images_are_the_images_the_chart_renders_by_default():
    from conftest import render_values

    listed = yaml.safe_load(chart_meta()["annotations"]["artifacthub.io/images"])
    rendered = set()
    for obj in render_values({"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}).objects():
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec", spec)
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            rendered.add(container["image"])
    assert {entry["image"] for entry in listed} == rendered


def changelog_sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """CHANGELOG.md as (version, [(kind, entry)]) newest first."""
    return changelog.sections((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))


def test_the_artifact_hub_changes_are_the_changelog_entries_of_this_version():
    version, entries = changelog_sections()[0]
    assert version == __version__
    changes = yaml.safe_load(chart_meta()["annotations"]["artifacthub.io/changes"])
    assert [(c["kind"], c["description"]) for c in changes] == entries
    kinds = {"added", "changed", "deprecated", "removed", "fixed", "security"}
    assert {kind for kind, _ in entries} <= kinds


def test_a_baked_chart_does_not_claim_the_base_charts_release_notes_or_images(tmp_path):
    from modelservice.bake.writer import chart_yaml

    baked = yaml.safe_load(chart_yaml(chart_meta(), "platform-modelservice", "1.0.0"))
    assert "artifacthub.io/changes" not in baked["annotations"]
    assert "artifacthub.io/images" not in baked["annotations"]
    assert baked["annotations"]["artifacthub.io/license"] == "Apache-2.0"


def test_validate_with_a_packaged_chart_reports_release_findings_at_their_values_key(tmp_path):
    archive = package_chart(CHART, tmp_path / "dist")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "pulled", filter="data")
    values = tmp_path / "two.yaml"
    values.write_text("model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\nreplicaCount: 2\n")
    result = CliRunner().invoke(
        cli, ["validate", "--chart", str(tmp_path / "pulled" / "modelservice"), str(values)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{values}:3:15: /replicaCount: 2 replicas would share")
    assert result.stderr.rstrip().endswith("[rwo-claim-shared-by-replicas]")
