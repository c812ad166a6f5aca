"""`modelservice render --output-dir`: output a GitOps repository can keep.

A release folder is shared with the people who own the repository: re-rendering removes only
what an earlier render wrote, never writes a generated secret value, and keeps hook objects
(the `helm test` pod) out of what `kubectl apply -f FOLDER` runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from click.testing import CliRunner

from conftest import CHART, render_values
from modelservice.cli import cli
from modelservice.helm.output_dir import HOOKS, MANIFEST, write_release

QWEN = "model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def render_to(out: Path, values: Path, *extra: str) -> str:
    code, stdout, err = run("render", str(values), "--output-dir", str(out), *extra)
    assert code == 0, err
    assert stdout == ""
    return err


def files_of(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_a_hand_written_kustomization_survives_a_re_render(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    out = tmp_path / "out"
    render_to(out, values)
    kustomization = out / "chat" / "kustomization.yaml"
    kustomization.write_text("resources:\n  - deployment-chat-modelservice.yaml\n")
    notes = out / "chat" / "notes.yaml"
    notes.write_text("# my own notes\n")
    values.write_text(QWEN + "persistence:\n  enabled: false\n")
    render_to(out, values)
    assert kustomization.read_text() == "resources:\n  - deployment-chat-modelservice.yaml\n"
    assert notes.read_text() == "# my own notes\n"


def test_a_file_an_earlier_render_wrote_and_this_one_does_not_is_removed(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    out = tmp_path / "out"
    render_to(out, values)
    claim = out / "chat" / "persistentvolumeclaim-chat-modelservice-cache.yaml"
    assert claim.is_file()
    values.write_text(QWEN + "persistence:\n  enabled: false\n  keepOnUninstall: false\n")
    render_to(out, values)
    assert not claim.exists()


def test_the_manifest_lists_exactly_the_files_the_render_wrote(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    out = tmp_path / "out"
    render_to(out, values)
    folder = out / "chat"
    listed = {
        ln for ln in (folder / MANIFEST).read_text().splitlines() if ln and not ln.startswith("#")
    }
    assert listed == files_of(folder) - {MANIFEST}
    assert listed == {
        "deployment-chat-modelservice.yaml",
        "persistentvolumeclaim-chat-modelservice-cache.yaml",
        "service-chat-modelservice.yaml",
        f"{HOOKS}/pod-chat-modelservice-test-api.yaml",
    }


def test_a_folder_written_before_there_was_a_manifest_loses_only_its_generated_stale_files(
    tmp_path,
):
    """The previous version wrote no manifest; its files start with the `# Source:` header."""
    folder = tmp_path / "out" / "chat"
    folder.mkdir(parents=True)
    old = folder / "secret-chat-modelservice-api-key.yaml"
    old.write_text("# Source: modelservice/templates/secret-api-key.yaml\nkind: Secret\n")
    mine = folder / "kustomization.yaml"
    mine.write_text("resources: []\n")
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    render_to(tmp_path / "out", values)
    assert not old.exists()
    assert mine.is_file()


def test_a_hand_written_file_a_manifest_would_replace_is_an_error_and_nothing_is_written(
    tmp_path,
):
    folder = tmp_path / "out" / "chat"
    folder.mkdir(parents=True)
    mine = folder / "service-chat-modelservice.yaml"
    mine.write_text("# my own Service\n")
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    code, _, err = run("render", str(values), "--output-dir", str(tmp_path / "out"))
    assert code == 1
    assert f"{mine}: not written by modelservice render" in err
    assert "Traceback" not in err
    assert mine.read_text() == "# my own Service\n"
    assert files_of(folder) == {"service-chat-modelservice.yaml"}


def test_a_manifest_entry_outside_the_folder_is_never_removed(tmp_path):
    folder = tmp_path / "out" / "chat"
    folder.mkdir(parents=True)
    outside = tmp_path / "precious.yaml"
    outside.write_text("keep: me\n")
    (folder / MANIFEST).write_text("../../precious.yaml\n/etc/hostname.yaml\n")
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    render_to(tmp_path / "out", values)
    assert outside.read_text() == "keep: me\n"


# -- secrets -----------------------------------------------------------------------------------


def test_the_generated_api_key_secret_is_left_out_with_the_command_that_creates_it(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN + "auth:\n  apiKey:\n    create: true\n")
    out = tmp_path / "out"
    err = render_to(out, values, "--namespace", "ai")
    written = "\n".join(p.read_text() for p in (out / "chat").rglob("*.yaml"))
    assert "kind: Secret" not in written
    assert not any(p.name.startswith("secret-") for p in (out / "chat").rglob("*"))
    lines = [ln for ln in err.splitlines() if "chat-modelservice-api-key" in ln]
    assert lines == [
        f"{out / 'chat'}: left out Secret chat-modelservice-api-key (git would hold its value in "
        "plain text, and a generated value changes on every render); create it once with: "
        "kubectl create secret generic chat-modelservice-api-key -n ai "
        "--from-literal=api-key=$(openssl rand -hex 32)"
    ]
    # the Deployment still reads the key from that Secret
    deployment = yaml.safe_load((out / "chat" / "deployment-chat-modelservice.yaml").read_text())
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "chat-modelservice-api-key", "key": "api-key"} in [
        e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e
    ]


def test_the_printed_command_creates_the_secret_the_deployment_reads(tmp_path):
    """The command line, run by a shell with a stand-in kubectl, passes a fresh random key."""
    rendered = render_values({"model": {"name": "org/m"}, "auth": {"apiKey": {"create": True}}})
    result = write_release(rendered, tmp_path)
    (secret,) = result.secrets
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    kubectl.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    proc = subprocess.run(
        ["sh", "-c", secret.command()], capture_output=True, text=True, env=env, check=True
    )
    args = proc.stdout.splitlines()
    assert args[:4] == ["create", "secret", "generic", "test-modelservice-api-key"]
    literal = next(a for a in args if a.startswith("--from-literal="))
    key, value = literal.removeprefix("--from-literal=").split("=", 1)
    assert key == "api-key" and len(value) == 64


def test_printing_to_stdout_still_prints_the_secret_like_helm_template(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN + "auth:\n  apiKey:\n    create: true\n")
    code, out, _ = run("render", str(values))
    assert code == 0
    assert "secret-api-key.yaml" in out
    assert [d["kind"] for d in yaml.safe_load_all(out) if d].count("Secret") == 1


def test_a_secret_name_of_the_users_own_is_only_referenced(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN + "auth:\n  apiKey:\n    secretName: team-key\n")
    err = render_to(tmp_path / "out", values)
    assert "left out Secret" not in err


# -- hooks -------------------------------------------------------------------------------------


def test_the_helm_test_pod_is_written_under_hooks_apart_from_what_kubectl_apply_reads(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    out = tmp_path / "out"
    err = render_to(out, values)
    folder = out / "chat"
    top = {p.name for p in folder.iterdir() if p.is_file() and p.suffix == ".yaml"}
    assert top == {
        "deployment-chat-modelservice.yaml",
        "persistentvolumeclaim-chat-modelservice-cache.yaml",
        "service-chat-modelservice.yaml",
    }
    hooks = list((folder / HOOKS).iterdir())
    assert [p.name for p in hooks] == ["pod-chat-modelservice-test-api.yaml"]
    pod = yaml.safe_load(hooks[0].read_text())
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    for file in folder.glob("*.yaml"):
        assert "helm.sh/hook" not in file.read_text()
    assert f"{folder}: 3 manifests, 1 hook in {folder / HOOKS}" in err


def test_no_hooks_folder_is_left_when_the_release_has_no_hooks(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    out = tmp_path / "out"
    render_to(out, values)
    values.write_text(QWEN + "tests:\n  enabled: false\n")
    render_to(out, values)
    assert not (out / "chat" / HOOKS).exists()


def test_every_written_manifest_comes_from_the_chart(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    render_to(tmp_path / "out", values, "--chart", str(CHART))
    for file in (tmp_path / "out" / "chat").rglob("*.yaml"):
        assert file.read_text().startswith("# Source: modelservice/templates/")
