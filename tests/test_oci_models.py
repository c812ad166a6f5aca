"""A model through the cluster's own registry: ``modelservice push-model`` into Debian's
docker-registry on 127.0.0.1, then the rendered init container's exact command (command, args,
env of the ``pull-model`` container) with ORAS built from its Go module (``make tools``), the
same version as the chart's puller image. What arrives is compared with what was pushed, by
digest: every file, and the manifest the folder records.

The tiny model is the pod runner's (tools/podrunner/tiny_models.py, generated once by vLLM's CPU
build into ~/.cache/modelservice).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kube_harness import cache_dir
from oci_registry import Registry, start_registry

from conftest import Objects, render_values
from modelservice.cli import cli
from modelservice.oci import registry as client
from modelservice.oci.push import Source, push
from modelservice.oci.registry import Reference
from podrunner import tiny_models, vllm_cpu
from podrunner.fake_hub import FakeHub, Repo

ORAS = cache_dir() / "bin" / "oras"


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny() -> Path:
    """The tiny causal model's folder (config, tokenizer, safetensors)."""
    folder = tiny_models.ensure(
        vllm_cpu.cache_dir(), vllm_cpu.ensure(lambda line: None) / "bin/python"
    )
    return folder / "causal"


@pytest.fixture(scope="module")
def registry() -> Registry:
    with start_registry() as found:
        yield found


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """push-model's cache (downloads, upload state) per test, for the pushes run in this
    process."""
    from modelservice.oci import push as push_module

    monkeypatch.setattr(push_module, "cache_root", lambda: tmp_path / "push-cache")


def push_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, ["push-model", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def pull_model(objects: Objects, home: Path) -> subprocess.CompletedProcess[str]:
    """The rendered puller's exact command, with ORAS and a POSIX shell on PATH."""
    init = next(c for c in objects.pod["initContainers"] if c["name"] == "pull-model")
    env = {e["name"]: e["value"] for e in init["env"]}
    env.update(PATH=f"{ORAS.parent}:/usr/bin:/bin", HOME=str(home))
    return subprocess.run(
        [*init["command"], *init["args"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def oci_values(reference: str, cache: Path, **extra: Any) -> dict[str, Any]:
    return {
        "model": {
            "source": "oci",
            "oci": {"reference": reference, "plainHTTP": True, **extra},
            "download": {"attempts": 1, "retryDelaySeconds": 0},
        },
        "persistence": {"mountPath": str(cache)},
    }


def manifest_of(registry: Registry, pinned: str) -> dict[str, Any]:
    ref = Reference.parse(pinned)
    digest, manifest = client.Registry(ref, plain_http=True).manifest(ref.digest or "")
    assert digest == ref.digest
    return manifest


def test_push_model_then_the_rendered_pull_gives_the_same_digests(tiny, registry, tmp_path):
    pinned = push_cli("--plain-http", str(tiny), f"oci://{registry.host}/models/tiny:v1")
    assert pinned.startswith(f"{registry.host}/models/tiny@sha256:")
    manifest = manifest_of(registry, pinned)
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    layers = {
        layer["annotations"]["org.cncf.model.filepath"]: layer["digest"]
        for layer in manifest["layers"]
    }
    assert layers == {str(p.relative_to(tiny)): sha256(p) for p in tiny.rglob("*") if p.is_file()}

    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    objects = Objects(render_values(oci_values(pinned, cache)))
    done = pull_model(objects, home)
    assert done.returncode == 0, done.stderr
    folder = Path(objects.server["args"][0])
    assert folder.parent == cache / "oci" / registry.host.replace(":", "_") / "models" / "tiny"
    pulled = {
        str(p.relative_to(folder)): sha256(p)
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".modelservice-digest"
    }
    assert pulled == layers
    assert (folder / ".modelservice-digest").read_text().strip() == pinned.split("@")[1]

    # A restart finds the folder and asks the registry nothing (it is pinned by digest).
    again = pull_model(objects, home)
    assert again.returncode == 0 and "is in the cache" in again.stderr


def test_a_tag_is_resolved_to_the_digest_it_names_and_the_cache_serves_it_when_the_registry_is_gone(
    tiny, tmp_path
):
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    with start_registry() as own:
        pinned = push_cli("--plain-http", str(tiny), f"oci://{own.host}/models/tiny:v2")
        objects = Objects(render_values(oci_values(f"{own.host}/models/tiny:v2", cache)))
        done = pull_model(objects, home)
        assert done.returncode == 0, done.stderr
        folder = Path(objects.server["args"][0])
        assert folder.name == "v2"
        assert (folder / ".modelservice-digest").read_text().strip() == pinned.split("@")[1]
    again = pull_model(objects, home)  # the registry has stopped
    assert again.returncode == 0, again.stderr
    assert "the registry did not answer; the cache holds" in again.stderr


def test_a_layer_that_does_not_match_its_digest_fails_the_pull_and_leaves_no_model(tiny, tmp_path):
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    with start_registry() as own:
        pinned = push_cli("--plain-http", str(tiny), f"oci://{own.host}/models/tiny:v1")
        weights = sha256(tiny / "model.safetensors").removeprefix("sha256:")
        blob = own.storage / "docker/registry/v2/blobs/sha256" / weights[:2] / weights / "data"
        data = bytearray(blob.read_bytes())
        data[-1] ^= 0xFF
        blob.write_bytes(bytes(data))
        objects = Objects(render_values(oci_values(pinned, cache)))
        done = pull_model(objects, home)
    assert done.returncode == 1
    assert "pulling" in done.stderr and "failed" in done.stderr
    assert not Path(objects.server["args"][0]).exists()


def test_an_image_of_the_model_pulls_into_its_model_folder(tiny, registry, tmp_path):
    pinned = push_cli(
        "--as", "image", "--plain-http", str(tiny), f"oci://{registry.host}/models/tiny-image:v1"
    )
    manifest = manifest_of(registry, pinned)
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar"
    }
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    objects = Objects(render_values(oci_values(pinned, cache, subPath="model")))
    done = pull_model(objects, home)
    assert done.returncode == 0, done.stderr
    folder = Path(objects.server["args"][0])
    assert folder.name == "model"
    assert {p.name: sha256(p) for p in folder.iterdir()} == {
        p.name: sha256(p) for p in tiny.iterdir()
    }


def test_a_kitops_modelkit_pushed_by_oras_is_unpacked_by_the_pull(tiny, registry, tmp_path):
    """A ModelKit's layers are gzipped tar archives of the model's files (KitOps media types)."""
    work = tmp_path / "kit"
    work.mkdir()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in sorted(tiny.iterdir()):
            tar.add(path, arcname=f"qwen/{path.name}")
    (work / "model.tar.gz").write_bytes(archive.getvalue())
    (work / "Kitfile.json").write_text(
        json.dumps({"manifestVersion": "1.0", "model": {"path": "qwen"}})
    )
    pushed = subprocess.run(
        [
            str(ORAS),
            "push",
            "--plain-http",
            f"{registry.host}/models/kit:v1",
            "--config",
            "Kitfile.json:application/vnd.kitops.modelkit.config.v1+json",
            "model.tar.gz:application/vnd.kitops.modelkit.model.v1.tar+gzip",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert pushed.returncode == 0, pushed.stderr
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    objects = Objects(
        render_values(oci_values(f"{registry.host}/models/kit:v1", cache, subPath="qwen"))
    )
    done = pull_model(objects, home)
    assert done.returncode == 0, done.stderr
    folder = Path(objects.server["args"][0])
    assert {p.name: sha256(p) for p in folder.iterdir()} == {
        p.name: sha256(p) for p in tiny.iterdir()
    }


def test_a_push_cut_off_mid_file_resumes_where_the_registry_stopped(
    tiny, registry, tmp_path, monkeypatch
):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (folder / "model.safetensors").write_bytes(os.urandom(1_000_000))
    monkeypatch.setattr(client, "CHUNK", 256 * 1024)
    target = Reference.parse(f"oci://{registry.host}/models/resumed:v1")
    sent = {"bytes": 0}
    real = client.Limited.read

    def cut_off(self, size=client.BLOCK):
        data = real(self, size)
        if self.left + len(data) > 100_000:  # a chunk of the weights, not the config
            sent["bytes"] += len(data)
            if sent["bytes"] > 600_000:  # two whole chunks sent, the third cut off
                raise ConnectionResetError("the link went down")
        return data

    monkeypatch.setattr(client.Limited, "read", cut_off)
    source = Source("folder", "resumed", folder=folder)
    with pytest.raises(Exception, match="the link went down"):
        push(source, target, plain_http=True)
    monkeypatch.setattr(client.Limited, "read", real)
    starts: list[int] = []

    def seen(stage: str, done: int, total: int) -> None:
        if stage == "push":
            starts.append(done)

    pushed = push(source, target, plain_http=True, progress=seen)
    assert pushed.uploaded == 1 and pushed.skipped == 1  # config.json went up the first time
    # The second run started mid-file, where the registry said the first one stopped: after
    # the two chunks it held.
    assert 2 * 256 * 1024 <= starts[1] - starts[0] < 1_000_000
    pulled = client.Registry(target, plain_http=True)
    assert (
        pulled.blob(sha256(folder / "model.safetensors"))
        == (folder / "model.safetensors").read_bytes()
    )


def test_a_values_file_pushes_its_model_through_its_mirror_with_the_token(
    tiny, registry, tmp_path, monkeypatch
):
    files = {str(p.relative_to(tiny)): p.read_bytes() for p in tiny.rglob("*") if p.is_file()}
    files["original/consolidated.00.pth"] = b"\0" * 4096  # the chart's download skips it
    token = "hf_" + "x" * 30
    monkeypatch.setenv("HF_TOKEN", token)
    with FakeHub({"tiny/model": Repo(files, revision="main")}) as hub:
        values = tmp_path / "values.yaml"
        values.write_text(
            f"model:\n  name: tiny/model\nhuggingface:\n  endpoint: {hub.url}\n", encoding="utf-8"
        )
        pinned = push_cli("--plain-http", str(values), f"oci://{registry.host}/models/from-hub:v1")
        assert {a for a in hub.authorizations if a} == {f"Bearer {token}"}
    manifest = manifest_of(registry, pinned)
    paths = {
        layer["annotations"]["org.cncf.model.filepath"]: layer["digest"]
        for layer in manifest["layers"]
    }
    assert paths == {str(p.relative_to(tiny)): sha256(p) for p in tiny.rglob("*") if p.is_file()}


def test_push_model_says_in_one_line_what_is_wrong(tmp_path):
    for target, said in (
        ("registry.internal/models:v1", "push to oci://REGISTRY/REPOSITORY:TAG"),
        ("oci://registry.internal/models", "push to oci://REGISTRY/REPOSITORY:TAG"),
        ("oci://Registry Internal/models:v1", "not an OCI reference"),
    ):
        result = CliRunner().invoke(cli, ["push-model", str(tmp_path), target])
        assert result.exit_code == 1
        assert result.stderr.strip().count("\n") == 0 and said in result.stderr, result.stderr
    result = CliRunner().invoke(cli, ["push-model", "hf:/x", "oci://registry.internal/m:v1"])
    assert result.exit_code == 1 and "neither a folder" in result.stderr


def test_the_pulled_model_serves_through_the_pod_runner(tiny, tmp_path):
    """tools/run-release: the tiny model pushed by push-model into a registry in the pod's own
    network, pulled by the rendered init container (ORAS for the puller image), served by vLLM's
    CPU build; the helm test's chat request answers."""
    from release_runner import FAST_PROBES, run, write_values

    values = write_values(
        tmp_path / "oci-tiny.yaml",
        {
            "model": {
                "source": "oci",
                "oci": {"reference": f"registry.internal:5000/models/tiny@sha256:{'0' * 64}"},
            },
            "probes": FAST_PROBES,
        },
    )
    state = tmp_path / "state"
    code, output = run(values, "--state-dir", str(state))
    assert code == 0, output[-6000:]
    assert "ghcr.io/oras-project/oras:v1.3.6 -> ORAS v1.3.6" in output
    assert "init pull-model: Completed" in output
    assert "helm test oci-tiny-modelservice-test-api: Succeeded" in output
    pinned = re.search(r"-> (127\.0\.0\.1:15000/models/tiny@sha256:[0-9a-f]{64})", output)
    assert pinned, output[-3000:]
    digest = pinned.group(1).split("@")[1]
    claim = state / "claims" / "default" / "oci-tiny-modelservice-cache"
    folder = claim / "oci" / "127.0.0.1_15000" / "models" / "tiny" / digest.replace(":", "-")
    assert (folder / ".modelservice-digest").read_text().strip() == digest
    assert {p.name: sha256(p) for p in folder.iterdir() if not p.name.startswith(".")} == {
        p.name: sha256(p) for p in tiny.iterdir()
    }


def test_an_oci_models_config_is_read_from_its_registry_online_and_from_the_table_offline(
    tiny, registry, tmp_path
):
    """The one reading of the model (validate's model rules, plan) for model.source oci: the
    artifact's config.json layer, by the pinned digest; offline, the table by model.name."""
    from modelservice.model import read_model

    pinned = push_cli("--plain-http", str(tiny), f"oci://{registry.host}/models/tiny:read")
    merged = oci_values(pinned, tmp_path / "cache")
    online = read_model(merged)
    assert online.config is not None
    assert online.config.raw == json.loads((tiny / "config.json").read_text())
    assert online.origin.endswith(": config.json") and "@sha256:" in online.origin

    offline = read_model(merged, offline=True)
    assert offline.config is None
    assert "not in the table of known models" in offline.origin
    assert "--online" in offline.origin and "--config" in offline.origin

    merged["model"]["name"] = "Qwen/Qwen2.5-0.5B-Instruct"
    table = read_model(merged, offline=True)
    assert table.config is not None and table.config.raw["num_attention_heads"] == 14
    assert "for model.name Qwen/Qwen2.5-0.5B-Instruct" in table.origin

    # a registry that does not answer: the table, with a note saying so
    merged["model"]["oci"]["reference"] = "127.0.0.1:9/models/tiny@" + pinned.split("@")[1]
    unreachable = read_model(merged, timeout=2)
    assert unreachable.config is not None and "table of known models" in unreachable.origin
    assert unreachable.notes and "the registry did not give config.json" in unreachable.notes[0]
