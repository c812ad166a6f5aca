"""`modelservice init`: short, commented values files that validate strictly and install."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from ruamel.yaml import YAML

from conftest import CHART, Objects, assert_valid_kubernetes
from modelservice import scaffold
from modelservice.cli import cli
from modelservice.helm.engine import render

QWEN = ["--model", "Qwen/Qwen2.5-0.5B-Instruct"]


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def init_file(tmp_path: Path, *args: str, name: str = "values.yaml") -> Path:
    out = tmp_path / name
    code, _, err = run("init", *args, "-o", str(out))
    assert code == 0, err
    return out


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def objects_of(path: Path, chart: Path = CHART) -> Objects:
    rendered = render(chart, load(path), release="init")
    assert_valid_kubernetes(rendered)
    return Objects(rendered)


# Each case: the options, and what the written values file must hold (dotted key -> value).
CASES = [
    pytest.param(QWEN, {"model.name": "Qwen/Qwen2.5-0.5B-Instruct"}, id="a-hub-model"),
    pytest.param(
        ["--source", "modelscope", "--model", "Qwen/Qwen2.5-7B-Instruct", "--revision", "v1.0"],
        {"model.source": "modelscope", "model.revision": "v1.0"},
        id="modelscope-with-a-revision",
    ),
    pytest.param(
        ["--path", "/root/.cache/models/llama-3-8b", "--existing-claim", "models"],
        {
            "model.source": "local",
            "model.path": "/root/.cache/models/llama-3-8b",
            "persistence.existingClaim": "models",
        },
        id="local-path-implies-source-local",
    ),
    pytest.param(
        [*QWEN, "--served-name", "qwen", "--gpus", "2", "--tensor-parallel", "2"],
        {"model.servedModelName": "qwen", "gpu.count": 2, "engine.tensorParallelSize": 2},
        id="gpus-and-tensor-parallel",
    ),
    pytest.param(
        [*QWEN, "--vgpu-memory", "8000", "--vgpu-cores", "50"],
        {"vgpu.enabled": True, "vgpu.memoryMiB": 8000, "vgpu.coresPercent": 50},
        id="a-hami-vgpu-slice",
    ),
    pytest.param(
        [*QWEN, "--vgpu-memory", "4096", "--vgpu-provider", "volcano"],
        {"vgpu.enabled": True, "vgpu.provider": "volcano"},
        id="a-volcano-vgpu-slice",
    ),
    pytest.param(
        [*QWEN, "--engine-arg=--dtype=half", "--engine-arg=--max-model-len=4096"],
        {"engine.args": ["--dtype=half", "--max-model-len=4096"]},
        id="repeated-engine-args",
    ),
    pytest.param(
        [*QWEN, "--hf-token-secret", "hf-token", "--hf-mirror", "https://hf-mirror.com"],
        {
            "huggingface.token.secretName": "hf-token",
            "huggingface.endpoint": "https://hf-mirror.com",
        },
        id="token-secret-and-mirror",
    ),
    pytest.param(
        [*QWEN, "--env", "VLLM_LOGGING_LEVEL=DEBUG", "--env", "FEATURE=yes"],
        {
            "env": [
                {"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"},
                {"name": "FEATURE", "value": "yes"},
            ]
        },
        id="env-values-even-yaml-1.1-booleans-stay-strings",
    ),
    pytest.param(
        [*QWEN, "--cpu", "8", "--memory", "64Gi", "--cache-size", "200Gi"],
        {
            "resources.requests.cpu": "8",
            "resources.requests.memory": "64Gi",
            "persistence.size": "200Gi",
        },
        id="cpu-memory-and-cache-size",
    ),
    pytest.param(
        [*QWEN, "--node-selector", "pool=a100", "--node-selector", "zone=b"],
        {"nodeSelector": {"pool": "a100", "zone": "b"}},
        id="node-selector",
    ),
    pytest.param(
        [*QWEN, "--api-key-secret", "vllm-api-key"],
        {"auth.apiKey.secretName": "vllm-api-key"},
        id="api-key-secret",
    ),
]


def dotted(values: dict, key: str):
    for part in key.split("."):
        values = values[part]
    return values


@pytest.mark.parametrize(("args", "expected"), CASES)
def test_init_writes_a_file_that_validates_strictly_and_renders(tmp_path, args, expected):
    out = init_file(tmp_path, *args)
    values = load(out)
    for key, value in expected.items():
        assert dotted(values, key) == value, key
    code, _, err = run("validate", "--strict", str(out))
    assert (code, err) == (0, "")
    objects_of(out)


def test_options_equal_to_the_charts_defaults_are_left_out(tmp_path):
    out = init_file(
        tmp_path,
        *QWEN,
        "--source",
        "huggingface",
        "--gpus",
        "1",
        "--vgpu-memory",
        "4000",
        "--vgpu-cores",
        "100",
        "--cache-size",
        "50Gi",
        "--memory",
        "16Gi",
    )
    assert load(out) == {
        "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
        "vgpu": {"enabled": True, "memoryMiB": 4000},
    }


def test_the_rendered_env_value_of_a_yaml_1_1_boolean_word_is_the_string(tmp_path):
    out = init_file(tmp_path, *QWEN, "--env", "FEATURE=on")
    assert objects_of(out).env()["FEATURE"] == "on"


#: Strings some reader takes for something else; Helm's own reader is the one that decides.
LOOK_ALIKES = ["1", "y", "n", "Y", "on", "off", "yes", "08", "010", "0o17", "1_0", "8_000",
               "1e3", "0x1F", "true", "null", "plain"]  # fmt: skip


@pytest.mark.parametrize("text", [*LOOK_ALIKES, "12:30", "~", ".inf", "2024-01-01T10:00:00Z"])
def test_env_values_and_names_read_back_as_the_same_strings_to_helms_reader(tmp_path, text):
    """`--env Y=1` wrote an unquoted `Y`, a boolean to Helm's reader (not to PyYAML)."""
    from modelservice.values.loader import helm_reading

    out = init_file(tmp_path, *QWEN, "--env", f"Y={text}", "--env", "V=1")
    assert helm_reading(out.read_text())["env"] == [
        {"name": "Y", "value": text},
        {"name": "V", "value": "1"},
    ]
    code, _, err = run("validate", "--strict", str(out))
    assert (code, err) == (0, "")
    assert objects_of(out).env()["Y"] == text


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_node_selector_keys_and_values_read_back_as_the_same_strings_to_helms_reader(
    tmp_path, text
):
    """`--node-selector y=n` wrote `y: n`, the key "true" and the value false to Helm."""
    from modelservice.values.loader import helm_reading

    out = init_file(
        tmp_path, *QWEN, "--node-selector", f"y={text}", "--node-selector", f"on={text}"
    )
    assert helm_reading(out.read_text())["nodeSelector"] == {"y": text, "on": text}
    code, _, err = run("validate", "--strict", str(out))
    assert (code, err) == (0, "")
    assert objects_of(out).pod["nodeSelector"] == {"y": text, "on": text}


def test_vgpu_memory_turns_the_slice_on_in_the_rendered_limits(tmp_path):
    out = init_file(tmp_path, *QWEN, "--vgpu-memory", "8000", "--vgpu-cores", "50")
    limits = objects_of(out).server["resources"]["limits"]
    assert limits["nvidia.com/gpumem"] == "8000"
    assert limits["nvidia.com/gpucores"] == "50"


def test_every_key_sits_under_a_comment_from_the_schema(tmp_path):
    out = init_file(
        tmp_path,
        *QWEN,
        "--gpus",
        "2",
        "--hf-mirror",
        "https://hf-mirror.com",
        "--engine-arg=--dtype=half",
        "--node-selector",
        "pool=a100",
    )
    lines = out.read_text(encoding="utf-8").splitlines()
    schema = json.loads((CHART / "values.schema.json").read_text())
    checked = 0

    def walk(node, key):
        nonlocal checked
        for name, value in node.items():
            path = (*key, name)
            description = scaffold.schema_description(schema, path)
            if description is not None:
                at = next(
                    i for i, ln in enumerate(lines) if ln.startswith("  " * len(key) + f"{name}:")
                )
                comment = lines[at - 1].strip()
                assert comment.startswith("# "), (path, comment)
                assert comment[2:] in scaffold.first_sentence(description), path
                checked += 1
            if isinstance(value, dict):
                walk(value, path)

    walk(load(out), ())
    assert (
        checked == 9
    )  # model(.name), gpu(.count), engine(.args), huggingface(.endpoint), nodeSelector
    text = out.read_text(encoding="utf-8")
    assert (
        "  # GPUs per pod, rendered as `limits[gpu.resourceName]`; 0 only for CPU images.\n" in text
    )
    assert "# Where the model comes from." not in text  # only keys that are written


@pytest.mark.parametrize(
    ("description", "first"),
    [
        ("Where the model comes from. `huggingface` downloads.", "Where the model comes from."),
        ("Tag, e.g. `v0.33.0`. More.", "Tag, e.g. `v0.33.0`."),
        ("A `a. b` span. Then more.", "A `a. b` span."),
        ("No full stop", "No full stop"),
        ("Version 2.5 of it. Rest.", "Version 2.5 of it."),
    ],
)
def test_a_comment_is_the_first_sentence_of_the_description(description, first):
    assert scaffold.first_sentence(description) == first


def test_the_first_line_points_at_the_chart_schema_relative_to_the_output_file(tmp_path):
    out = init_file(tmp_path, *QWEN, name="deep/er/values.yaml")
    first = out.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    reference = first[len(prefix) :]
    assert not os.path.isabs(reference)
    assert (out.parent / reference).resolve() == (CHART / "values.schema.json").resolve()


def test_on_stdout_the_first_line_points_at_the_installed_chart_schema():
    code, out, _ = run("init", *QWEN)
    assert code == 0
    first = out.splitlines()[0]
    assert first == f"# yaml-language-server: $schema={(CHART / 'values.schema.json').resolve()}"
    assert yaml.safe_load(out) == {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}


def test_an_existing_output_file_is_kept_without_force_and_replaced_with_it(tmp_path):
    out = tmp_path / "values.yaml"
    out.write_text("mine: true\n")
    code, _, err = run("init", *QWEN, "-o", str(out))
    assert code == 1
    assert "exists; give --force" in err
    assert out.read_text() == "mine: true\n"
    code, _, _ = run("init", *QWEN, "-o", str(out), "--force")
    assert code == 0
    assert load(out)["model"]["name"] == "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.mark.parametrize(
    "pair",
    [
        "HF_TOKEN=abc",
        "OPENAI_API_KEY=sk-1",
        "DB_PASSWORD=pw",
        "DB_PASS=pw",
        "APP_SECRET=s3kr1t",
        "FOO=hf_abcdef",
        "HTTPS_PROXY=http://me:pw@proxy:3128",
    ],
)
def test_env_values_that_look_like_secrets_are_refused(tmp_path, pair):
    out = tmp_path / "values.yaml"
    code, stdout, err = run("init", *QWEN, "--env", pair, "-o", str(out))
    assert code == 1
    assert "--hf-token-secret" in err and "envFrom" in err
    assert pair.split("=", 1)[1] not in err  # the secret itself is never echoed
    assert not out.exists()
    assert stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --model or --path"),
        (["--source", "local"], "--source local needs --path"),
        (["--source", "local", *QWEN], "a local model is given with --path"),
        (["--source", "modelscope", "--path", "/m"], "--path is for --source local"),
        ([*QWEN, "--vgpu-cores", "50"], "give --vgpu-memory"),
        ([*QWEN, "--gpus", "100"], "--gpus: /gpu/count: 100 must be <= 64"),
        ([*QWEN, "--engine-arg=--dtype=fp17"], "--engine-arg: /engine/args/0: --dtype"),
        ([*QWEN, "--hf-mirror", "ftp://mirror"], "--hf-mirror: /huggingface/endpoint"),
        ([*QWEN, "--cpu", "lots"], "--cpu: /resources/requests/cpu"),
        (["--model", "org/m", "--host-path", "/data"], "give --path"),
        (["--path", "/models/m", "--volume-claim", "c", "--host-path", "/d"], "not both"),
        (["--path", "/models/m", "--mount-path", "/models"], "--mount-path says where"),
        (
            ["--path", "/models/m", "--host-path", "/d", "--mount-path", "/other"],
            "--mount-path /other: --path /models/m must be in the mounted folder",
        ),
    ],
)
def test_options_that_do_not_add_up_exit_1_naming_the_option(args, message):
    code, out, err = run("init", *args)
    assert code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args", [["--env", "NOEQUALS"], ["--node-selector", "=x"], ["--gpus", "-1"], ["--source", "s3"]]
)
def test_malformed_options_are_usage_errors(args):
    code, _, _ = run("init", *QWEN, *args)
    assert code == 2


def _chart_copy(tmp_path: Path, with_metrics: bool) -> Path:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"].pop("metrics", None)
    if with_metrics:
        schema["properties"]["metrics"] = {
            "description": "Prometheus metrics.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "serviceMonitor": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "enabled": {"description": "Render a ServiceMonitor.", "type": "boolean"}
                    },
                }
            },
        }
    (chart / "values.schema.json").write_text(json.dumps(schema))
    return chart


def test_metrics_fails_clearly_when_the_chart_schema_has_no_metrics_key(tmp_path):
    chart = _chart_copy(tmp_path, with_metrics=False)
    code, out, err = run("init", *QWEN, "--metrics", "--chart", str(chart))
    assert code == 1
    assert out == ""
    assert "--metrics sets metrics.serviceMonitor.enabled" in err
    assert "no `metrics` key" in err


def test_metrics_sets_the_service_monitor_switch_of_the_chart(tmp_path):
    out = tmp_path / "values.yaml"
    code, _, err = run("init", *QWEN, "--metrics", "-o", str(out))
    assert code == 0, err
    assert load(out)["metrics"] == {"serviceMonitor": {"enabled": True}}
    assert "# Render the ServiceMonitor" in out.read_text()


def test_without_a_terminal_init_never_prompts(monkeypatch):
    monkeypatch.setattr(scaffold, "stdin_is_interactive", lambda: False)
    code, out, err = run("init", input="Qwen/Qwen2.5-0.5B-Instruct\n")
    assert code == 1
    assert "Model" not in out
    assert "give --model or --path" in err


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Qwen/Qwen2.5-0.5B-Instruct", {"name": "Qwen/Qwen2.5-0.5B-Instruct"}),
        ("/root/.cache/llama", {"source": "local", "path": "/root/.cache/llama"}),
    ],
)
def test_at_a_terminal_init_asks_for_the_model(tmp_path, monkeypatch, answer, expected):
    monkeypatch.setattr(scaffold, "stdin_is_interactive", lambda: True)
    out = tmp_path / "values.yaml"
    code, stdout, err = run("init", "-o", str(out), input=f"{answer}\n")
    assert code == 0, err
    assert "Model (a hub repository id" in stdout
    assert load(out)["model"] == expected


def test_the_round_trip_keeps_comments_when_a_value_is_changed(tmp_path):
    out = init_file(tmp_path, *QWEN, "--gpus", "2", "--engine-arg=--dtype=half")
    rt = YAML(typ="rt")
    data = rt.load(out.read_text(encoding="utf-8"))
    data["gpu"]["count"] = 4
    buffer = io.StringIO()
    rt.dump(data, buffer)
    changed = buffer.getvalue()
    before = [
        ln for ln in out.read_text(encoding="utf-8").splitlines() if ln.lstrip().startswith("#")
    ]
    after = [ln for ln in changed.splitlines() if ln.lstrip().startswith("#")]
    assert before and after == before
    assert "  count: 4\n" in changed
    assert changed.splitlines()[0].startswith("# yaml-language-server: $schema=")


@pytest.mark.parametrize(
    ("args", "volume"),
    [
        pytest.param(
            ["--volume-claim", "shared-models"],
            {"name": "models", "persistentVolumeClaim": {"claimName": "shared-models",
                                                         "readOnly": True}},
            id="an-existing-claim",
        ),
        pytest.param(
            ["--host-path", "/data/models"],
            {"name": "models", "hostPath": {"path": "/data/models", "type": "Directory"}},
            id="a-node-folder",
        ),
    ],
)  # fmt: skip
def test_a_local_model_outside_the_cache_is_mounted_from_its_volume_and_validates(
    tmp_path, args, volume
):
    """Without a volume, a --path outside the cache always failed validate
    (local-path-not-mounted): --volume-claim / --host-path write the volume and its mount."""
    out = init_file(tmp_path, "--path", "/models/llama-3-8b", *args)
    values = load(out)
    assert values["extraVolumes"] == [volume]
    assert values["extraVolumeMounts"] == [
        {"name": "models", "mountPath": "/models", "readOnly": True}
    ]
    code, _, err = run("validate", "--strict", str(out))
    assert (code, err) == (0, "")
    pod = objects_of(out).pod
    assert volume in pod["volumes"]
    mounts = next(c for c in pod["containers"] if c["name"] == "vllm")["volumeMounts"]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in mounts
    assert pod["containers"][0]["args"][0] == "/models/llama-3-8b"


def test_the_mount_path_may_be_the_model_folder_itself(tmp_path):
    out = init_file(
        tmp_path, "--path", "/llama", "--host-path", "/data/llama", "--mount-path", "/llama"
    )
    assert load(out)["extraVolumeMounts"][0]["mountPath"] == "/llama"
    assert run("validate", "--strict", str(out))[0] == 0


def test_without_a_volume_a_path_outside_the_cache_still_fails_naming_the_options():
    code, _, err = run("init", "--path", "/models/llama-3-8b")
    assert code == 1
    assert "local-path-not-mounted" in err
