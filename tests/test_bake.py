"""`modelservice bake`: a derived chart with a platform's defaults and constraints."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import helm_python
import pytest
import yaml
from click.testing import CliRunner

from conftest import CHART, EXAMPLES, Objects, assert_valid_kubernetes
from modelservice.cli import cli
from modelservice.core.errors import EngineError
from modelservice.helm.engine import render

PLATFORM = EXAMPLES / "platform"
DEFAULTS = PLATFORM / "defaults.yaml"
CONSTRAINTS = PLATFORM / "constraints.yaml"
QWEN = {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def bake(output: Path, *extra: str, defaults: Path = DEFAULTS, name: str = "platform") -> Path:
    code, _, err = run(
        "bake", "--defaults", str(defaults), "--name", name, "--version", "1.0.0",
        "--output", str(output), *extra,
    )  # fmt: skip
    assert code == 0, err
    return output


@pytest.fixture(scope="module")
def baked(tmp_path_factory) -> Path:
    return bake(tmp_path_factory.mktemp("bake") / "platform", "--constraints", str(CONSTRAINTS))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- what the derived chart holds ------------------------------------------------------------


def test_chart_yaml_has_the_new_name_and_version_and_records_the_base(baked):
    base = yaml.safe_load((CHART / "Chart.yaml").read_text())
    chart = yaml.safe_load((baked / "Chart.yaml").read_text())
    assert (chart["name"], chart["version"]) == ("platform", "1.0.0")
    assert chart["appVersion"] == base["appVersion"]
    assert chart["kubeVersion"] == base["kubeVersion"]
    assert f"{base['name']} {base['version']}" in chart["description"]
    assert chart["annotations"]["modelservice/base-chart"] == base["name"]
    assert chart["annotations"]["modelservice/base-chart-version"] == base["version"]
    assert chart["annotations"]["category"] == base["annotations"]["category"]


def test_the_templates_and_helmignore_are_the_base_charts(baked):
    templates = sorted(p for p in (CHART / "templates").rglob("*") if p.is_file())
    for source in [CHART / ".helmignore", *templates]:
        copy = baked / source.relative_to(CHART)
        assert copy.read_bytes() == source.read_bytes(), source.name


def test_values_yaml_keeps_every_comment_and_the_key_order_of_the_base(baked):
    base_text = (CHART / "values.yaml").read_text()
    baked_text = (baked / "values.yaml").read_text()
    comments = [ln.strip() for ln in base_text.splitlines() if ln.strip().startswith("#")]
    baked_comments = [ln.strip() for ln in baked_text.splitlines() if ln.strip().startswith("#")]
    assert baked_comments[1:] == comments  # plus one header line naming the base chart
    assert baked_comments[0].startswith("# Baked by `modelservice bake` from modelservice")
    assert list(yaml.safe_load(baked_text)) == list(yaml.safe_load(base_text))


def test_every_comment_still_sits_above_the_key_it_documents(baked):
    def commented_keys(text):
        lines = text.splitlines()
        return {
            (lines[i - 1].strip(), ln.split(":")[0].strip())
            for i, ln in enumerate(lines)
            if i and lines[i - 1].strip().startswith("# --") and ":" in ln
        }

    base = commented_keys((CHART / "values.yaml").read_text())
    assert base <= commented_keys((baked / "values.yaml").read_text())


def test_values_yaml_holds_the_defaults_merged_into_the_base_values(baked):
    base = yaml.safe_load((CHART / "values.yaml").read_text())
    values = yaml.safe_load((baked / "values.yaml").read_text())
    assert values["image"] == {
        **base["image"],
        "repository": "registry.example.com/mirror/vllm/vllm-openai",
    }
    assert values["persistence"]["size"] == "100Gi"
    assert values["persistence"]["accessModes"] == base["persistence"]["accessModes"]
    assert values["huggingface"]["token"] == {"secretName": "hf-token", "secretKey": "token"}
    assert values["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert values["engine"]["tensorParallelSize"] is None  # null stays null


def test_a_merged_list_replaces_the_base_list(tmp_path):
    defaults = write(tmp_path / "d.yaml", "persistence:\n  accessModes: [ReadWriteMany]\n")
    out = bake(tmp_path / "out", defaults=defaults)
    assert yaml.safe_load((out / "values.yaml").read_text())["persistence"]["accessModes"] == [
        "ReadWriteMany"
    ]


def test_the_schema_defaults_are_the_baked_defaults(baked):
    schema = json.loads((baked / "values.schema.json").read_text())
    props = schema["properties"]
    assert props["persistence"]["properties"]["size"]["default"] == "100Gi"
    assert props["nodeSelector"]["default"] == {"node-pool": "gpu"}
    assert props["huggingface"]["properties"]["token"]["properties"]["secretName"]["default"] == (
        "hf-token"
    )
    # the modelscope token shares the base definition and keeps its own (empty) default
    assert "default" not in json.dumps(
        schema["definitions"]["hubToken"]["properties"]["secretName"]
    )


def test_the_baked_readme_has_the_parameter_table_with_the_new_defaults(baked):
    text = (baked / "README.md").read_text()
    assert text.startswith("# platform\n")
    assert (
        '| `persistence.size` | string or number | `"100Gi"` | Size of the created claim. '
        "Platform constraint: at most 2Ti. |" in text
    )
    assert "| `maxGPUs` | at most 8 accelerators per model replica: `gpu.count` x " in text
    assert "<!-- parameters:start -->" in text and "<!-- parameters:end -->" in text


def test_the_baked_chart_passes_helm_lint(baked):
    report = helm_python.lint(str(baked), QWEN, strict=True)
    assert report["errors"] == []
    assert report["messages"] == []


def test_a_release_of_the_baked_chart_gets_the_platform_defaults(baked):
    rendered = render(baked, QWEN, release="chat")
    assert_valid_kubernetes(rendered)
    objects = Objects(rendered)
    assert objects.server["image"] == "registry.example.com/mirror/vllm/vllm-openai:v0.33.0"
    assert objects.pod["nodeSelector"] == {"node-pool": "gpu"}
    assert objects.env()["HF_ENDPOINT"] == "https://hf-mirror.com"
    assert objects.env()["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert objects.one("PersistentVolumeClaim")["spec"]["storageClassName"] == "fast-ssd"
    assert objects.deployment["metadata"]["labels"]["helm.sh/chart"] == "platform-1.0.0"


# -- constraints: enforced by Helm itself, and reported by validate and render ----------------

POOL = (
    "httpRoute:\n  enabled: true\n  parentRefs: [{name: inference-gateway}]\n"
    "routing:\n  inferencePool:\n    enabled: true\n"
)
VIOLATIONS = [
    pytest.param("image:\n  repository: vllm/vllm-openai\n", "/image/repository", 5, id="image"),
    # 9 data-parallel engines of one GPU each (tensor parallel 9 would not divide the heads)
    pytest.param(
        "gpu:\n  count: 9\nengine:\n  tensorParallelSize: 1\n  args: [--data-parallel-size=9]\n",
        "/gpu/count",
        5,
        id="max-gpus",
    ),
    pytest.param(
        "persistence:\n  storageClassName: standard\n",
        "/persistence/storageClassName",
        5,
        id="storage-class",
    ),
    pytest.param("gpu:\n  runtimeClassName: runc\n", "/gpu/runtimeClassName", 5, id="runtime"),
    pytest.param('huggingface:\n  endpoint: ""\n', "/huggingface/endpoint", 5, id="mirror"),
    pytest.param("nodeSelector:\n  node-pool: null\n", "/nodeSelector", 5, id="node-selector"),
    # the pool's endpoint picker is a pod of the release too, with keys of its own
    pytest.param(
        POOL + "  endpointPicker:\n    image:\n      repository: ghcr.io/llm-d/llm-d-router-epp\n",
        "/routing/endpointPicker/image/repository",
        12,
        id="picker-image",
    ),
    pytest.param(
        POOL + "  endpointPicker:\n    nodeSelector:\n      node-pool: null\n",
        "/routing/endpointPicker/nodeSelector",
        12,
        id="picker-node-selector",
    ),
]
MODEL = "model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\n"


@pytest.mark.parametrize(("text", "pointer", "line"), VIOLATIONS)
def test_helm_itself_refuses_values_that_break_a_constraint(baked, text, pointer, line):
    values = yaml.safe_load(MODEL + text)
    # the baked schema's refusal of the key, or the templates' (what a schema cannot say)
    dotted = pointer.strip("/").replace("/", ".")
    with pytest.raises(helm_python.HelmError, match=f"at '{pointer}|modelservice: {dotted}: "):
        helm_python.Chart.load(str(baked)).render(values, name="x", namespace="d", is_install=True)


@pytest.mark.parametrize(("text", "pointer", "line"), VIOLATIONS)
def test_validate_reports_a_broken_constraint_with_line_and_pointer(
    baked, tmp_path, text, pointer, line
):
    values = write(tmp_path / "bad.yaml", MODEL + "# the platform says no\n" + text)
    code, _, err = run("validate", "--chart", str(baked), str(values))
    assert code == 1
    assert f"{values}:{line}:" in err and f": {pointer}" in err, err
    # the base chart accepts the same file
    assert run("validate", str(values))[0] == 0 or pointer.endswith("/nodeSelector")


@pytest.mark.parametrize(("text", "pointer", "line"), VIOLATIONS)
def test_render_refuses_a_broken_constraint_and_prints_nothing(
    baked, tmp_path, text, pointer, line
):
    values = write(tmp_path / "bad.yaml", MODEL + "# the platform says no\n" + text)
    code, out, err = run("render", "--chart", str(baked), str(values))
    assert code == 1
    assert out == ""
    assert pointer in err


def test_values_within_the_constraints_render(baked, tmp_path):
    values = write(
        tmp_path / "ok.yaml",
        # 8 GPUs: tensor parallel 8 on Llama-3.1-8B's 32 heads
        "model:\n  name: meta-llama/Llama-3.1-8B-Instruct\n"
        "gpu:\n  count: 8\npersistence:\n  storageClassName: shared-nfs\n",
    )
    code, out, err = run("render", "--chart", str(baked), str(values))
    assert code == 0, err
    assert re.search(r'storageClassName: "?shared-nfs"?$', out, flags=re.M)


def test_required_node_selector_values_are_pinned(tmp_path):
    constraints = write(tmp_path / "c.yaml", "requiredNodeSelector:\n  node-pool: a100\n")
    defaults = write(tmp_path / "d.yaml", "nodeSelector:\n  node-pool: a100\n")
    out = bake(tmp_path / "out", "--constraints", str(constraints), defaults=defaults)
    bad = write(tmp_path / "bad.yaml", MODEL + "nodeSelector:\n  node-pool: h100\n")
    code, _, err = run("validate", "--chart", str(out), str(bad))
    assert code == 1
    assert f"{bad}:4:14: /nodeSelector/node-pool:" in err


# -- the defaults and constraints files are checked first ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "maxGPU: 4\n",
            "c.yaml:1:1: /maxGPU: unknown key `maxGPU` at the top level (did you mean `maxGPUs`?)",
        ),
        ("maxGPUs: four\n", 'c.yaml:1:10: /maxGPUs: "four" is not of type integer'),
        (
            "requireMirror: true\nallowedStorageClasses: fast\n",
            "c.yaml:2:24: /allowedStorageClasses:",
        ),
        ("- maxGPUs\n", "c.yaml:1:1: /: "),
        ("maxGPUs: [\n", "c.yaml:"),
    ],
)
def test_a_wrong_constraints_file_fails_with_line_and_column(tmp_path, text, expected):
    constraints = write(tmp_path / "c.yaml", text)
    code, _, err = run(
        "bake", "--defaults", str(DEFAULTS), "--constraints", str(constraints),
        "--name", "p", "--version", "1.0.0", "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert expected in err.replace(str(tmp_path) + "/", ""), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpu:\n  cuont: 2\n", "d.yaml:2:3: /gpu/cuont: unknown key `cuont`"),
        ("engine:\n  args: [--dtype=fp17]\n", "d.yaml:2:10: /engine/args/0: --dtype"),
        ("- a\n", "d.yaml:1:1: /: is a list"),
    ],
)
def test_a_wrong_defaults_file_fails_like_a_values_file(tmp_path, text, expected):
    defaults = write(tmp_path / "d.yaml", text)
    code, _, err = run(
        "bake", "--defaults", str(defaults), "--name", "p", "--version", "1.0.0",
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert expected in err.replace(str(tmp_path) + "/", ""), err


@pytest.mark.parametrize("text", ["", "# only a comment\n", "gpu:\n  count: 2\n"])
def test_a_defaults_file_may_leave_the_model_to_each_release(tmp_path, text):
    defaults = write(tmp_path / "d.yaml", text)
    out = bake(tmp_path / "out", defaults=defaults)
    assert (out / "Chart.yaml").is_file()


def test_a_constraint_the_baked_defaults_break_is_reported_at_the_constraint(tmp_path):
    constraints = write(
        tmp_path / "c.yaml", "maxGPUs: 8\nallowedImageRepositories: [registry.corp/vllm]\n"
    )
    code, _, err = run(
        "bake", "--defaults", str(write(tmp_path / "d.yaml", "")),
        "--constraints", str(constraints), "--name", "p", "--version", "1.0.0",
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert (
        f"{constraints}:2:1: /allowedImageRepositories: the baked default at /image/repository"
        in err
    )
    assert "set image.repository in the defaults file" in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--name", "Platform_Chart", "a chart name is lowercase"),
        ("--version", "1.0", "SemVer 2"),
        ("--version", "v1.0.0", "SemVer 2"),
    ],
)
def test_a_bad_chart_name_or_version_is_refused(tmp_path, option, value, message):
    args = {"--name": "p", "--version": "1.0.0", option: value}
    code, _, err = run(
        "bake", "--defaults", str(DEFAULTS), "--output", str(tmp_path / "o"),
        *[x for kv in args.items() for x in kv],
    )  # fmt: skip
    assert code == 1
    assert message in err


# -- the output directory ----------------------------------------------------------------------


def test_a_non_empty_output_is_refused_without_force_and_replaced_with_it(tmp_path):
    out = tmp_path / "out"
    write(out / "stale.txt", "old")
    code, _, err = run(
        "bake",
        "--defaults",
        str(DEFAULTS),
        "--name",
        "p",
        "--version",
        "1.0.0",
        "--output",
        str(out),
    )
    assert code == 1
    assert "not empty; give --force" in err
    assert (out / "stale.txt").exists()
    bake(out, "--force")
    assert not (out / "stale.txt").exists()
    assert (out / "values.schema.json").is_file()


def test_an_empty_output_directory_is_used_without_force(tmp_path):
    (tmp_path / "out").mkdir()
    assert (bake(tmp_path / "out") / "Chart.yaml").is_file()


def test_force_never_replaces_the_base_chart(tmp_path):
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    code, _, err = run(
        "bake", "--chart", str(chart), "--defaults", str(DEFAULTS), "--name", "p",
        "--version", "1.0.0", "--output", str(chart), "--force",
    )  # fmt: skip
    assert code == 1
    assert "holds the base chart" in err
    assert (chart / "Chart.yaml").read_text() == (CHART / "Chart.yaml").read_text()


# -- baking a baked chart ------------------------------------------------------------------------


def test_a_baked_chart_can_be_baked_again_and_both_sets_of_rules_hold(baked, tmp_path):
    defaults = write(tmp_path / "team.yaml", "persistence:\n  size: 20Gi\n")
    constraints = write(tmp_path / "team-rules.yaml", "maxGPUs: 2\n")
    out = tmp_path / "team-a"
    code, _, err = run(
        "bake", "--chart", str(baked), "--defaults", str(defaults), "--constraints",
        str(constraints), "--name", "team-a", "--version", "0.3.0", "--output", str(out),
    )  # fmt: skip
    assert code == 0, err
    chart = yaml.safe_load((out / "Chart.yaml").read_text())
    assert chart["annotations"]["modelservice/base-chart"] == "platform"
    assert chart["annotations"]["modelservice/base-chart-version"] == "1.0.0"
    assert chart["description"].count("Baked from") == 1
    values = yaml.safe_load((out / "values.yaml").read_text())
    assert values["persistence"]["size"] == "20Gi"
    assert values["persistence"]["storageClassName"] == "fast-ssd"  # from the first bake
    text = (out / "values.yaml").read_text()
    assert text.count("# Baked by") == 1
    assert helm_python.lint(str(out), QWEN, strict=True)["errors"] == []
    bad = write(tmp_path / "bad.yaml", MODEL + "gpu:\n  count: 3\nimage:\n  repository: x/y\n")
    code, _, err = run("validate", "--chart", str(out), str(bad))
    assert code == 1
    assert "/gpu/count: 3 must be <= 2" in err
    assert "/image/repository" in err


EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml")
#: Examples that break a rule of values-examples/platform/constraints.yaml.
FORBIDDEN_BY_THE_PLATFORM = {
    # two pods of 8 GPUs per model replica, and maxGPUs is 8 per replica
    "deepseek-r1-multinode": "constraint-gpus",
    "llama-3.1-405b-fp8-ray": "constraint-gpus",
    # ModelScope reached directly, and requireMirror holds for every hub
    "modelscope-qwen2.5-7b-instruct": "constraint-mirror",
}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_validates_and_renders_with_the_baked_chart(baked, path):
    """Helm checks the schema on the merged values: a node label that only the baked
    defaults set satisfies the requirement, in validate as in Helm. The examples the
    platform's rules forbid are refused under the constraint they break."""
    code, _, err = run("validate", "--strict", "--chart", str(baked), str(path))
    if path.stem in FORBIDDEN_BY_THE_PLATFORM:
        assert code == 1 and f"[{FORBIDDEN_BY_THE_PLATFORM[path.stem]}]" in err, err
        return
    assert (code, err) == (0, "")
    rendered = render(baked, yaml.safe_load(path.read_text()), release="example")
    assert_valid_kubernetes(rendered)
    for pod in Objects(rendered).pods:
        assert pod["nodeSelector"]["node-pool"] == "gpu"


def test_init_against_the_baked_chart_writes_only_what_differs_from_its_defaults(baked, tmp_path):
    out = tmp_path / "chat.yaml"
    code, _, err = run(
        "init", "--chart", str(baked), "--model", "Qwen/Qwen2.5-0.5B-Instruct",
        "--hf-mirror", "https://hf-mirror.com", "--cache-size", "100Gi", "--gpus", "2",
        "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert yaml.safe_load(out.read_text()) == {
        "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
        "gpu": {"count": 2},
    }
    code, _, err = run("init", "--chart", str(baked), *["--model", "a/b", "--gpus", "16"])
    assert code == 1
    assert "--gpus: /gpu/count: 16 must be <= 8" in err


# -- a bake only narrows ---------------------------------------------------------------------


def rebake(baked: Path, tmp_path: Path, rules: str, defaults: str = "") -> tuple[int, str, Path]:
    """Bake team-a from the platform chart with the given constraints file text."""
    out = tmp_path / "team-a"
    code, _, err = run(
        "bake", "--chart", str(baked), "--defaults", str(write(tmp_path / "team.yaml", defaults)),
        "--constraints", str(write(tmp_path / "team-rules.yaml", rules)),
        "--name", "team-a", "--version", "0.3.0", "--output", str(out),
    )  # fmt: skip
    return code, err, out


def test_a_rebake_narrowing_an_allowed_list_keeps_the_narrower_list(baked, tmp_path):
    code, err, out = rebake(baked, tmp_path, "allowedStorageClasses: [fast-ssd]\n")
    assert code == 0, err
    schema = json.loads((out / "values.schema.json").read_text())
    storage = schema["properties"]["persistence"]["properties"]["storageClassName"]
    assert storage["enum"] == ["fast-ssd"]
    bad = write(tmp_path / "bad.yaml", MODEL + "persistence:\n  storageClassName: shared-nfs\n")
    assert run("validate", "--chart", str(out), str(bad))[0] == 1


def test_a_rebake_re_allowing_what_the_base_chart_forbade_is_one_line_naming_both_lists(
    baked, tmp_path
):
    code, err, out = rebake(baked, tmp_path, "allowedStorageClasses: [fast-ssd, standard]\n")
    assert code == 1
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"{tmp_path / 'team-rules.yaml'}:1:1: /allowedStorageClasses: ")
    assert (
        "team-a would allow `fast-ssd`, `standard` for persistence.storageClassName, "
        "but its base chart platform 1.0.0 allows only `fast-ssd`, `shared-nfs`" in line
    )
    assert "`standard`" in line.split("but", 1)[1]  # named as the widening
    assert not out.exists()


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            "allowedImageRepositories: [docker.io/vllm/vllm-openai]\n",
            "team-a would allow `docker.io/vllm/vllm-openai` for image.repository, but its base "
            "chart platform 1.0.0 allows only `registry.example.com/mirror/vllm/vllm-openai`",
        ),
        (
            "maxGPUs: 16\n",
            "team-a would allow gpu.count up to 16, but its base chart platform 1.0.0 allows "
            "at most 8",
        ),
    ],
)
def test_every_kind_of_widening_is_refused(baked, tmp_path, rules, expected):
    code, err, _ = rebake(baked, tmp_path, rules)
    assert code == 1
    assert expected in err, err


def test_a_pinned_node_label_cannot_be_pinned_to_another_value_but_any_label_can_be_pinned(
    baked, tmp_path
):
    # the platform requires node-pool with any value: pinning it narrows
    code, err, team = rebake(
        baked,
        tmp_path,
        "requiredNodeSelector:\n  node-pool: a100\n",
        "nodeSelector:\n  node-pool: a100\n",
    )
    assert code == 0, err
    out = tmp_path / "team-b"
    rules = write(tmp_path / "b-rules.yaml", "requiredNodeSelector: {node-pool: h100}\n")
    code, _, err = run(
        "bake", "--chart", str(team), "--defaults", str(write(tmp_path / "b.yaml", "")),
        "--constraints", str(rules),
        "--name", "team-b", "--version", "0.1.0", "--output", str(out),
    )  # fmt: skip
    assert code == 1
    assert (
        "team-b would allow `h100` for nodeSelector.node-pool, but its base chart team-a 0.3.0 "
        "allows only `a100`" in err
    ), err


def test_a_first_bake_may_not_allow_more_gpus_than_the_chart_does(tmp_path):
    constraints = write(tmp_path / "c.yaml", "maxGPUs: 100\n")
    code, _, err = run(
        "bake", "--defaults", str(write(tmp_path / "d.yaml", "")), "--constraints",
        str(constraints), "--name", "p", "--version", "1.0.0", "--output", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 1
    assert "p would allow gpu.count up to 100, but its base chart modelservice 0.1.0" in err


# -- a baked constraint cannot be bypassed with null -----------------------------------------

NULLS = [
    pytest.param({"huggingface": {"endpoint": None}}, "/huggingface", id="mirror"),
    pytest.param({"huggingface": None}, "", id="huggingface"),
    pytest.param({"image": {"repository": None}}, "/image", id="image"),
    pytest.param({"gpu": {"count": None}}, "/gpu", id="gpus"),
    pytest.param({"gpu": {"runtimeClassName": None}}, "/gpu", id="runtime"),
    pytest.param({"persistence": {"storageClassName": None}}, "/persistence", id="storage"),
    pytest.param({"nodeSelector": None}, "", id="node-selector"),
]


@pytest.mark.parametrize(("nulled", "parent"), NULLS)
def test_helm_refuses_null_for_a_constrained_key_of_a_baked_chart(baked, nulled, parent):
    """Helm deletes a key set to null before it checks the schema: a baked chart marks every
    constrained key (and its parents) required, so plain `helm install` refuses the null."""
    values = {**QWEN, **nulled}
    with pytest.raises(EngineError, match=f"at '{parent}': missing property"):
        render(baked, values, release="chat")


def test_the_base_chart_accepts_a_null_mirror_the_baked_chart_refuses(baked):
    values = {**QWEN, "huggingface": {"endpoint": None}}
    assert "HF_ENDPOINT" not in Objects(render(CHART, values, release="chat")).env()
    with pytest.raises(EngineError, match="endpoint"):
        render(baked, values, release="chat")


def test_the_baked_schema_requires_each_constrained_key_and_its_parents(baked):
    schema = json.loads((baked / "values.schema.json").read_text())
    props = schema["properties"]
    assert {"image", "gpu", "persistence", "huggingface", "nodeSelector"} <= set(schema["required"])
    assert "repository" in props["image"]["required"]
    assert {"count", "runtimeClassName"} <= set(props["gpu"]["required"])
    assert "storageClassName" in props["persistence"]["required"]
    assert "endpoint" in props["huggingface"]["required"]
    base = json.loads((CHART / "values.schema.json").read_text())
    # The base chart already requires what its defaults fill; a bake only adds to that.
    assert set(base["properties"]["gpu"]["required"]) <= set(props["gpu"]["required"])


# -- constraints on everything the release renders, with plain Helm too ------------------------

ESCAPES = [
    pytest.param(
        "extraVolumes:\n  - name: scratch\n    ephemeral:\n      volumeClaimTemplate:\n"
        "        spec:\n          accessModes: [ReadWriteOnce]\n"
        "          storageClassName: standard\n"
        "          resources: {requests: {storage: 10Gi}}\n"
        "extraVolumeMounts:\n  - {name: scratch, mountPath: /scratch}\n",
        "constraint-storage-class",
        "/extraVolumes",
        "the ephemeral volume scratch names StorageClass standard",
        id="ephemeral-volume-of-another-class",
    ),
    pytest.param(
        "extraVolumes:\n  - name: scratch\n    ephemeral:\n      volumeClaimTemplate:\n"
        "        spec:\n          accessModes: [ReadWriteOnce]\n"
        "          resources: {requests: {storage: 10Gi}}\n"
        "extraVolumeMounts:\n  - {name: scratch, mountPath: /scratch}\n",
        "constraint-storage-class",
        "/extraVolumes",
        "names no StorageClass (the cluster's default would provision it)",
        id="ephemeral-volume-of-the-default-class",
    ),
    pytest.param(
        "extraVolumes:\n  - name: scratch\n    ephemeral:\n      volumeClaimTemplate:\n"
        "        spec:\n          accessModes: [ReadWriteOnce]\n"
        "          storageClassName: fast-ssd\n"
        "          resources: {requests: {storage: 100Ti}}\n"
        "extraVolumeMounts:\n  - {name: scratch, mountPath: /scratch}\n",
        "constraint-claim-size",
        "/extraVolumes",
        "at most 2Ti, and the ephemeral volume scratch asks for 100Ti",
        id="ephemeral-volume-of-any-size",
    ),
    pytest.param(
        "persistence:\n  size: 3Ti\n",
        "constraint-claim-size",
        "/persistence/size",
        "asks for 3Ti: ask for 2Ti or less",
        id="cache-claim-above-the-size",
    ),
    pytest.param(
        "model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\n  source: modelscope\n",
        "constraint-mirror",
        "/model/source",
        "reaches ModelScope directly: set modelscope.endpoint",
        id="modelscope-without-a-mirror",
    ),
    pytest.param(
        "env:\n  - name: HF_ENDPOINT\n    value: https://huggingface.co\n",
        "constraint-mirror",
        "/env",
        "env sets it again for the container download",
        id="a-second-hf-endpoint-in-env",
    ),
    pytest.param(
        "resources:\n  limits:\n    amd.com/gpu: 16\n",
        "constraint-gpus",
        "/resources",
        "one replica would take 17",
        id="the-init-container-taking-gpus",
    ),
    pytest.param(
        "gpu:\n  count: 8\nengine:\n  args: [--pipeline-parallel-size=8]\n"
        "multiNode:\n  enabled: true\n  nodes: 8\npersistence:\n  perPod: true\n",
        "constraint-gpus",
        "/gpu/count",
        "one replica would take 64",
        id="a-group-of-8-pods-of-8-gpus",
    ),
    pytest.param(
        "tests:\n  resources:\n    limits:\n      nvidia.com/gpu: 9\n",
        "constraint-gpus",
        "/tests/resources",
        "the test pod",
        id="the-test-pod-taking-gpus",
    ),
    pytest.param(
        "tests:\n  nodeSelector:\n    pool: cpu\n",
        "constraint-node-selector",
        "/tests/nodeSelector",
        "the node selector of the test pod",
        id="the-test-pod-on-other-nodes",
    ),
]


def _helm_template(helm: str, chart: Path, values: Path) -> subprocess.CompletedProcess[str]:
    from kube_harness import EMULATED_KUBE_VERSION, cached_binary

    return subprocess.run(
        [
            str(cached_binary(helm)),
            "template",
            "x",
            str(chart),
            "--values",
            str(values),
            "--kube-version",
            f"v{EMULATED_KUBE_VERSION}.0",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("text", "rule", "pointer", "says"), ESCAPES)
def test_a_constraint_holds_for_everything_the_release_renders_with_plain_helm_too(
    baked, tmp_path, text, rule, pointer, says
):
    values = write(tmp_path / "escape.yaml", text if text.startswith("model:") else MODEL + text)
    for helm in ("helm3", "helm4"):
        done = _helm_template(helm, baked, values)
        assert done.returncode != 0, done.stdout[:300]
        assert f"[{rule}]" in done.stderr and says in done.stderr, done.stderr
    code, _, err = run("validate", "--chart", str(baked), str(values))
    assert code == 1
    assert f": {pointer}: " in err and f"[{rule}]" in err and says in err, err
    # the base chart, with no constraints, accepts the same values (or refuses them for
    # another reason of its own)
    assert f"[{rule}]" not in run("validate", str(values))[2]


def test_values_within_every_constraint_render_with_plain_helm(baked, tmp_path):
    values = write(
        tmp_path / "ok.yaml",
        # 8 GPUs, the limit: tensor parallel 4 (of Llama's 32 heads) by pipeline parallel 2
        "model:\n  name: meta-llama/Llama-3.1-8B-Instruct\n"
        + "gpu:\n  count: 4\nengine:\n  args: [--pipeline-parallel-size=2]\n"
        + "multiNode:\n  enabled: true\n  nodes: 2\npersistence:\n  perPod: true\n"
        + "  size: 2Ti\n",
    )
    for helm in ("helm3", "helm4"):
        done = _helm_template(helm, baked, values)
        assert done.returncode == 0, done.stderr
    assert run("validate", "--chart", str(baked), str(values))[0] == 0


def test_the_test_pods_image_is_constrained_like_the_servers(baked, tmp_path):
    values = write(
        tmp_path / "t.yaml", MODEL + "tests:\n  image:\n    repository: curlimages/curl\n"
    )
    code, _, err = run("validate", "--chart", str(baked), str(values))
    assert code == 1 and "/tests/image/repository" in err and "[schema-enum]" in err
    with pytest.raises(helm_python.HelmError, match="/tests/image/repository"):
        helm_python.Chart.load(str(baked)).render(
            yaml.safe_load(values.read_text()), name="x", namespace="d", is_install=True
        )


def test_the_templates_the_constraints_read_are_every_one_that_renders_a_pod_or_claim():
    from conftest import render_values
    from modelservice.values.loader import load_file

    text = (CHART / "templates" / "_constraints.tpl").read_text()
    listed = set(re.search(r"\n(deployment\.yaml [^\n]*)\n", text).group(1).split())
    holders = set()
    files = [
        *sorted(EXAMPLES.glob("*.yaml")),
        *sorted((CHART.parent / "tests" / "cases" / "valid").glob("*.yaml")),
    ]
    for path in files:
        if path.name == "helmfile.yaml":
            continue
        for document in render_values(load_file(path).data).documents:
            obj = document.load() or {}
            spec = obj.get("spec") or {}
            if (
                obj.get("kind") in ("Pod", "PersistentVolumeClaim")
                or "template" in spec
                or ("leaderWorkerTemplate" in spec)
            ):
                holders.add(document.source.split("/templates/", 1)[1])
    assert holders and holders <= listed, holders - listed


def test_a_default_that_breaks_a_constraint_the_templates_enforce_fails_the_bake(tmp_path):
    defaults = write(tmp_path / "defaults.yaml", "persistence:\n  size: 5Ti\n")
    rules = write(tmp_path / "rules.yaml", "maxClaimSize: 2Ti\n")
    code, _, err = run(
        "bake", "--defaults", str(defaults), "--constraints", str(rules), "--name", "p",
        "--version", "1.0.0", "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert f"{rules}:1:1: /maxClaimSize:" in err and "[bake-default-conflict]" in err, err
    assert "asks for 5Ti" in err
    assert not (tmp_path / "out").exists()


def test_a_rebake_keeps_the_narrower_of_both_charts_constraints(baked, tmp_path):
    defaults = write(tmp_path / "team.yaml", "podLabels:\n  team: a\n")
    narrower = write(tmp_path / "narrower.yaml", "maxGPUs: 4\nmaxClaimSize: 1Ti\n")
    team = bake(
        tmp_path / "team", "--constraints", str(narrower), "--chart", str(baked),
        defaults=defaults, name="team",
    )  # fmt: skip
    enforced = yaml.safe_load((team / "files" / "constraints.yaml").read_text())
    assert enforced["maxGPUs"] == 4 and enforced["maxClaimSize"] == "1Ti"
    assert enforced["requireMirror"] is True  # the platform's, kept
    wider = write(tmp_path / "wider.yaml", "maxClaimSize: 4Ti\n")
    code, _, err = run(
        "bake", "--defaults", str(defaults), "--constraints", str(wider), "--chart", str(baked),
        "--name", "team2", "--version", "1.0.0", "--output", str(tmp_path / "team2"),
    )  # fmt: skip
    assert code == 1 and "[bake-widens]" in err and "above the base chart's 2Ti" in err, err


def test_the_base_chart_carries_no_constraints_and_refuses_nothing_for_them():
    assert not (CHART / "files" / "constraints.yaml").exists()
