"""The vLLM flag data: taken from the pinned release's own parser, and used as vLLM reads it."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from conftest import CHART, ROOT
from modelservice.checks.engine_args.flags import check_args
from modelservice.validate import validate_file
from modelservice.vllm.flags import flag_data, index_for

DATA = ROOT / "schemas" / "vllm" / "0.33.0.json"


def extractor():
    spec = importlib.util.spec_from_file_location(
        "extract", ROOT / "tools" / "extract_vllm_flags.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_data_is_for_the_release_the_chart_pins():
    chart = (CHART / "Chart.yaml").read_text()
    assert 'appVersion: "v0.33.0"' in chart
    assert flag_data("0.33.0")["vllm_version"] == "0.33.0"


def test_the_data_has_the_flags_every_vllm_release_has():
    flags = flag_data("0.33.0")["flags"]
    assert flags["--max-model-len"]["takes_value"] is True
    assert {"auto", "half", "bfloat16", "float16"} <= set(flags["--dtype"]["choices"])
    assert "-tp" in flags["--tensor-parallel-size"]["aliases"]
    assert flags["--gpu-memory-utilization"]["type"] == "float"
    assert flags["--enforce-eager"]["takes_value"] is False
    assert len(flags) > 250


def test_the_committed_data_file_is_in_the_extractors_canonical_form():
    assert extractor().dump(json.loads(DATA.read_text())) == DATA.read_text()


def test_the_extractor_is_deterministic_on_a_hand_made_parser():
    def parser():
        made = argparse.ArgumentParser()
        made.add_argument("--max-len", type=int, default=None, help="Length. More text.")
        made.add_argument("--mode", choices=["a", "b"], default="a")
        made.add_argument("--fast", action=argparse.BooleanOptionalAction)
        made.add_argument("-n", "--num", type=float)
        return made

    tool = extractor()
    first = tool.dump(tool.parser_to_data(parser(), "9.9.9"))
    assert first == tool.dump(tool.parser_to_data(parser(), "9.9.9"))
    flags = json.loads(first)["flags"]
    assert flags["--mode"]["choices"] == ["a", "b"]
    assert flags["--fast"]["takes_value"] is False
    assert "-n" in flags["--num"]["aliases"]


@pytest.mark.parametrize(
    "args",
    [
        ["--max-model-len=4096"],
        ["--max-model-len", "4k"],
        ["--max_model_len=auto"],
        ["-tp", "1"],
        ["--no-enable-prefix-caching"],
        ["--compilation-config.mode=3"],
        ["-O3"],
        ["--kv-cache-dtype", "fp8"],
        ["--enforce-eager", "--dtype", "half"],
    ],
)
def test_every_form_vllm_accepts_passes(args):
    index = index_for("0.33.0")
    found = [(i, rule.id) for i, _, rule in check_args(args, index)]
    assert found == [] or all(rule == "engine-arg-duplicates-key" for _, rule in found)


def test_an_unknown_image_tag_is_checked_against_the_pinned_release_with_warnings_only(
    tmp_path: Path,
):
    values = tmp_path / "v.yaml"
    values.write_text(
        "model:\n  name: a/b\nimage:\n  tag: v0.1.0\nengine:\n  args:\n    - --dtype=fp17\n"
    )
    problems = validate_file(values, CHART).problems
    assert [(p.rule, p.severity) for p in problems] == [
        ("engine-args-unknown-release", "warning"),
        ("engine-arg-choice", "warning"),
    ]
    assert "by vLLM 0.33.0's flags; image tag v0.1.0 may differ" in problems[1].message


def test_a_repeated_flag_points_at_the_typed_key_the_file_also_sets():
    from click.testing import CliRunner

    from conftest import CASES
    from modelservice.cli import cli

    path = CASES / "invalid" / "engine-arg-repeats-tensor-parallel-with-underscores.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    typed = 1 + next(i for i, line in enumerate(lines) if line.startswith("  tensorParallelSize:"))
    repeated = 1 + next(i for i, line in enumerate(lines) if "--tensor_parallel_size" in line)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{repeated}:7: /engine/args/0: ")
    assert f"this file sets engine.tensorParallelSize on line {typed}, column 3" in first
