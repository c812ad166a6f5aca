"""Many model services from one baked chart: values-examples/helmfile.yaml, rendered."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import EXAMPLES, ROOT, strict_errors
from modelservice.bake import deep_merge
from modelservice.cli import cli

HELMFILE = EXAMPLES / "helmfile.yaml"


def helmfile() -> dict:
    return yaml.safe_load(HELMFILE.read_text(encoding="utf-8"))


def bake_command() -> list[str]:
    """The `modelservice bake` command shown in the helmfile's header comment."""
    lines, taking = [], False
    for line in HELMFILE.read_text(encoding="utf-8").splitlines():
        text = line.lstrip("#").strip()
        if text.startswith("modelservice bake"):
            taking = True
        if taking:
            lines.append(text.rstrip("\\").strip())
            if not text.endswith("\\"):
                break
    return shlex.split(" ".join(lines))[1:]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path]:
    """Bake the chart the helmfile names (with the command its comment shows), write each
    release's values (files and inline maps merged as helmfile does) and render them all."""
    tmp = tmp_path_factory.mktemp("many")
    args = bake_command()
    output = args.index("--output") + 1
    releases = helmfile()["releases"]
    chart_dirs = {r["chart"] for r in releases}
    assert len(chart_dirs) == 1  # one baked chart for every service
    assert (EXAMPLES / chart_dirs.pop()).resolve() == (ROOT / args[output]).resolve()
    baked = tmp / "platform-chart"
    args[output] = str(baked)
    args = [str(ROOT / a) if a.startswith("values-examples/") else a for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr

    files = []
    for release in releases:
        values: dict = {}
        for item in release["values"]:
            layer = (
                yaml.safe_load((HELMFILE.parent / item).read_text())
                if isinstance(item, str)
                else item
            )
            values = deep_merge(values, layer)
        path = tmp / "values" / f"{release['name']}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(values), encoding="utf-8")
        files.append(str(path))
    out = tmp / "out"
    result = CliRunner().invoke(
        cli,
        ["render", "--chart", str(baked), "--namespace", "ai", "--output-dir", str(out), *files],
    )
    assert result.exit_code == 0, result.stderr
    return baked, out


def test_the_helmfile_deploys_a_chat_an_embedding_and_a_vgpu_slice_service():
    releases = helmfile()["releases"]
    assert [r["name"] for r in releases] == ["chat", "embeddings", "small-slice"]
    assert {r["namespace"] for r in releases} == {"ai"}


def test_there_is_one_folder_per_release_and_one_file_per_manifest(rendered):
    _, out = rendered
    assert sorted(p.name for p in out.iterdir()) == ["chat", "embeddings", "small-slice"]
    for folder in out.iterdir():
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.yaml"))
        for file in files:
            docs = [d for d in yaml.safe_load_all((folder / file).read_text()) if d]
            assert len(docs) == 1, file
            kind, name = docs[0]["kind"], docs[0]["metadata"]["name"]
            assert Path(file).name == f"{kind}-{name}.yaml".lower()
        assert files == sorted(
            [
                f"deployment-{folder.name}-platform-modelservice.yaml",
                f"persistentvolumeclaim-{folder.name}-platform-modelservice-cache.yaml",
                f"service-{folder.name}-platform-modelservice.yaml",
                f"hooks/pod-{folder.name}-platform-modelservice-test-api.yaml",
            ]
        )


def _deployment(out: Path, release: str) -> dict:
    return yaml.safe_load(
        (out / release / f"deployment-{release}-platform-modelservice.yaml").read_text()
    )


@pytest.mark.parametrize("release", ["chat", "embeddings", "small-slice"])
def test_each_deployment_is_strictly_valid_and_carries_the_platform_defaults(rendered, release):
    _, out = rendered
    deployment = _deployment(out, release)
    assert strict_errors(deployment) == []
    pod = deployment["spec"]["template"]["spec"]
    server = next(c for c in pod["containers"] if c["name"] == "vllm")
    assert server["image"].startswith("registry.example.com/mirror/vllm/vllm-openai:")
    assert pod["nodeSelector"] == {"node-pool": "gpu"}
    assert deployment["metadata"]["namespace"] == "ai"


def test_each_release_serves_its_own_model_on_its_own_resources(rendered):
    _, out = rendered
    args = {
        r: next(c for c in _deployment(out, r)["spec"]["template"]["spec"]["containers"])["args"]
        for r in ("chat", "embeddings", "small-slice")
    }
    assert args["chat"][0] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert args["embeddings"][0] == "BAAI/bge-m3" and "--convert=embed" in args["embeddings"]
    slice_pod = _deployment(out, "small-slice")["spec"]["template"]
    limits = slice_pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpumem"] == "8000"
    assert slice_pod["metadata"]["labels"]["tier"] == "shared-gpu"  # the release's inline values
