"""`modelservice render`: like `helm template`, after validation, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from conftest import CHART, EXAMPLES, generated_key_masked
from modelservice.cli import cli, main
from modelservice.helm.engine import helm_binary, release_name_for, render, validate_release_name
from modelservice.k8s import names as k8s

QWEN = EXAMPLES / "qwen2.5-0.5b-instruct-hf-mirror.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_render_prints_manifests_with_source_comments_like_helm_template():
    code, out, err = run("render", str(QWEN))
    assert code == 0, err
    assert out.startswith("---\n# Source: modelservice/templates/")
    kinds = [d["kind"] for d in yaml.safe_load_all(out) if d]
    # helm template prints hooks (the helm test Pod) after everything else.
    assert kinds == ["PersistentVolumeClaim", "Service", "Deployment", "Pod"]


def test_the_release_defaults_to_the_file_name_made_a_valid_release_name():
    code, out, _ = run("render", str(QWEN))
    assert code == 0
    deployment = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment")
    assert deployment["metadata"]["labels"]["app.kubernetes.io/instance"] == (
        "qwen2-5-0-5b-instruct-hf-mirror"
    )


@pytest.mark.parametrize(
    ("file", "release"),
    [
        ("Qwen2.5_7B.yaml", "qwen2-5-7b"),
        ("--weird--.yml", "weird"),
        ("x" * 80 + ".yaml", "x" * 53),
        ("日本.yaml", "modelservice"),
    ],
)
def test_release_names_from_file_names_are_valid_helm_release_names(file, release):
    assert release_name_for(file) == release


@given(st.text(max_size=80))
def test_any_file_name_gives_a_release_name_helm_accepts(stem):
    validate_release_name(release_name_for(f"{stem}.yaml"))


def test_a_file_named_after_a_digit_leading_model_renders_a_service_kubernetes_accepts(
    tmp_path: Path,
):
    """`7b-chat` is a release name Helm accepts, so the CLI keeps it (the instance label is the
    name a user types in `helm test 7b-chat`); the chart makes the object names DNS-1035."""
    values = tmp_path / "7b-chat.yaml"
    values.write_text("model:\n  name: org/model\n")
    assert release_name_for(str(values)) == "7b-chat"
    code, out, err = run("render", str(values))
    assert code == 0, err
    docs = [d for d in yaml.safe_load_all(out) if d]
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["metadata"]["name"] == "m-7b-chat-modelservice"
    assert k8s.DNS1035_LABEL.match(service["metadata"]["name"])
    assert {d["metadata"]["labels"]["app.kubernetes.io/instance"] for d in docs} == {"7b-chat"}


def test_release_and_namespace_options_name_the_objects():
    code, out, _ = run("render", str(QWEN), "--release", "chat", "--namespace", "ai")
    assert code == 0
    for doc in yaml.safe_load_all(out):
        if doc:
            assert doc["metadata"]["namespace"] == "ai"
            assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "chat"


def test_an_invalid_release_name_is_a_one_line_error():
    code, out, err = run("render", str(QWEN), "--release", "Not_Valid")
    assert code == 1
    assert out == ""
    assert "invalid release name 'Not_Valid'" in err
    assert "Traceback" not in err


def test_a_broken_values_file_exits_1_with_file_line_and_pointer_and_renders_nothing(
    tmp_path: Path,
):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  name: org/model\ngpu:\n  cuont: 2\n")
    code, out, err = run("render", str(bad))
    assert code == 1
    assert out == ""
    assert f"{bad}:4:3: /gpu/cuont: unknown key `cuont`" in err
    assert "Traceback" not in err


def test_every_file_is_validated_before_any_is_rendered(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text("model:\n  name: org/model\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  name: org/model\nreplicaCount: many\n")
    code, out, err = run("render", str(good), str(bad))
    assert code == 1
    assert out == ""
    assert f"{bad}:3:15: /replicaCount:" in err


def test_output_dir_writes_one_folder_per_release_and_one_file_per_manifest(tmp_path: Path):
    out_dir = tmp_path / "out"
    code, out, err = run(
        "render", str(QWEN), str(EXAMPLES / "embedding-model.yaml"), "--output-dir", str(out_dir)
    )
    assert code == 0, err
    assert out == ""
    releases = sorted(p.name for p in out_dir.iterdir())
    assert releases == ["embedding-model", "qwen2-5-0-5b-instruct-hf-mirror"]
    files = sorted(p.name for p in (out_dir / "embedding-model").iterdir())
    assert "deployment-embedding-model-modelservice.yaml" in files
    for file in (out_dir / "embedding-model").rglob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(file.read_text()) if d]
        assert len(docs) == 1


def test_output_dir_removes_manifests_a_release_no_longer_renders(tmp_path: Path):
    values = tmp_path / "svc.yaml"
    values.write_text("model:\n  name: org/model\n")
    out_dir = tmp_path / "out"
    assert run("render", str(values), "--output-dir", str(out_dir))[0] == 0
    assert any(p.name.startswith("persistentvolumeclaim-") for p in (out_dir / "svc").iterdir())
    values.write_text("model:\n  name: org/model\npersistence:\n  enabled: false\n")
    assert run("render", str(values), "--output-dir", str(out_dir))[0] == 0
    assert not any(p.name.startswith("persistentvolumeclaim-") for p in (out_dir / "svc").iterdir())


def test_release_with_several_files_is_a_usage_error():
    code, _, err = run("render", str(QWEN), str(QWEN), "--release", "x")
    assert code == 2
    assert "--release names one release" in err


def test_two_files_that_would_be_the_same_release_are_refused(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "svc.yaml").write_text("model:\n  name: org/model\n")
    code, _, err = run("render", str(tmp_path / "a" / "svc.yaml"), str(tmp_path / "b" / "svc.yaml"))
    assert code == 1
    assert "would both be release 'svc'" in err


def test_a_missing_file_is_a_problem_line_not_a_traceback(tmp_path: Path):
    code, _, err = run("render", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert f"{tmp_path / 'nope.yaml'}:1:1: /: no such file" in err


def test_the_helm_engine_without_a_helm_binary_fails_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run("render", str(QWEN), "--engine", "helm")
    assert code == 1
    assert "--engine helm needs a helm binary on PATH" in err


def test_main_maps_user_errors_to_exit_1(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["render", str(tmp_path / "missing.yaml")])
    assert exit_info.value.code == 1
    assert "Traceback" not in capsys.readouterr().err


def test_the_helm_binary_renders_the_same_manifests_as_the_embedded_engine():
    from modelservice.validate import validate_file

    assert helm_binary(), "no helm on PATH: `make tools` puts the cached Helm 4 there"

    for path in sorted(EXAMPLES.glob("*.yaml")):
        if path.name == "helmfile.yaml":
            continue
        values = validate_file(path, CHART).values
        embedded = render(CHART, values, release="cmp", namespace="ai", engine="embedded")
        external = render(CHART, values, release="cmp", namespace="ai", engine="helm")
        # Identical text, but for the API key the chart generates at random.
        assert generated_key_masked(embedded.text()) == generated_key_masked(external.text()), (
            path.name
        )


def test_many_files_render_in_parallel_in_file_order_and_one_bad_file_stops_all(tmp_path: Path):
    from modelservice.core.parallel import MIN_ITEMS_FOR_POOL

    count = MIN_ITEMS_FOR_POOL + 6
    files = []
    for index in range(count):
        path = tmp_path / f"svc-{index:03d}.yaml"
        path.write_text(f"model:\n  name: org/model-{index}\n")
        files.append(str(path))
    code, out, err = run("render", *files)
    assert code == 0, err
    releases = [
        d["metadata"]["labels"]["app.kubernetes.io/instance"]
        for d in yaml.safe_load_all(out)
        if d and d["kind"] == "Deployment"
    ]
    assert releases == [f"svc-{index:03d}" for index in range(count)]
    Path(files[-3]).write_text("model:\n  name: org/model\ngpu:\n  count: lots\n")
    code, out, err = run("render", *files)
    assert code == 1
    assert out == ""
    assert f"{files[-3]}:4:10: /gpu/count:" in err


def test_a_schema_mistake_in_one_of_many_files_is_reported_at_its_line_and_nothing_renders(
    tmp_path: Path,
):
    """Every file is validated before any renders: one file's schema mistake is that file's
    one problem, at its line, and no release is returned."""
    from modelservice.core.errors import InvalidValues
    from modelservice.render import render_files

    good = (EXAMPLES / "qwen2.5-0.5b-instruct-hf-mirror.yaml").read_text()
    files = []
    for index in range(6):
        path = tmp_path / f"svc-{index}.yaml"
        path.write_text(good)
        files.append(str(path))
    Path(files[3]).write_text("model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\nreplicaCount: two\n")
    with pytest.raises(InvalidValues) as raised:
        render_files(
            files,
            chart=CHART,
            release=None,
            namespace="default",
            engine="embedded",
            output_dir=None,
        )
    (problem,) = raised.value.problems
    assert (problem.file, problem.line, problem.column, problem.pointer, problem.rule) == (
        files[3],
        3,
        15,
        "/replicaCount",
        "schema-type",
    )


def test_validate_and_render_read_a_folder_alike_as_its_yaml_files_in_name_order(tmp_path: Path):
    folder = tmp_path / "services"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.yml").write_text("model:\n  name: org/b\ngpu:\n  count: lots\n")
    (folder / "a.yaml").write_text("model:\n  name: org/a\n")
    for skipped in (".hidden.yaml", "notes.txt", "sub/c.yaml"):  # each would be refused
        (folder / skipped).write_text("model:\n  nmae: org/x\n")
    code, out, err = run("validate", "--format", "json", str(folder))
    assert code == 1
    assert [(p["file"], p["pointer"]) for p in json.loads(out)] == [
        (str(folder / "b.yml"), "/gpu/count")
    ]
    code, out, err = run("render", str(folder))
    assert (code, out) == (1, "")
    assert [line.split(":")[0] for line in err.splitlines() if "[" in line] == [
        str(folder / "b.yml")
    ]
    (folder / "b.yml").write_text("model:\n  name: org/b\n")
    assert run("validate", str(folder))[0] == 0
    code, out, err = run("render", str(folder))
    assert code == 0, err
    releases = [
        d["metadata"]["labels"]["app.kubernetes.io/instance"]
        for d in yaml.safe_load_all(out)
        if d and d["kind"] == "Deployment"
    ]
    assert releases == ["a", "b"]


@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_folder_without_values_files_is_refused_by_validate_and_render_alike(
    tmp_path: Path, command: str
):
    (tmp_path / "notes.txt").write_text("model:\n  name: org/a\n")
    code, out, err = run(command, str(tmp_path))
    assert (code, out) == (1, "")
    assert f"{tmp_path}: no *.yaml values files in this folder" in err
