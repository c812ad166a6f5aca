"""The data of every supported vLLM release equals what that release's own code says.

For each release with data in schemas/vllm/ (the pinned one and the others a values file may
pin with image.tag), its CPU venv (installed by `make tools`) runs the committed extractors'
own functions on its parser and config classes, and the committed files must hold the same:
the flags (tools/extract_vllm_flags.py) and the engine-config rules
(tools/extract_vllm_config_rules.py). A values file pinning 0.33 is checked against 0.33's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vllm_env import run_vllm, supported_versions

from conftest import ROOT, render_values
from modelservice.release import Release
from modelservice.vllm.flags import flag_data, index_for, pinned_version

PROGRAM = r"""
import json, sys
tools = json.load(sys.stdin)["tools"]
sys.path.insert(0, tools)
import extract_vllm_flags as flags
import extract_vllm_config_rules as rules
parser, version = flags.build_vllm_parser()
data = flags.parser_to_data(parser, version)
out = {
    "version": version,
    "flags": {k: {f: v[f] for f in ("type", "choices", "takes_value", "aliases", "negation")}
              for k, v in data["flags"].items()},
    "counts": data["counts"],
    "bounds": rules.bounds_by_flag(parser),
    "quantization": rules.quantization(),
}
print(json.dumps(out))
"""
VERSIONS = supported_versions()


@pytest.fixture(scope="module", params=VERSIONS)
def release(request) -> tuple[str, dict]:
    answer = run_vllm(
        PROGRAM,
        {"tools": str(ROOT / "tools")},
        env={"VLLM_TARGET_DEVICE": "cpu"},
        timeout=600,
        version=request.param,
    )
    return request.param, answer


def test_there_is_more_than_the_pinned_release():
    assert pinned_version() in VERSIONS and len(VERSIONS) >= 2


def test_each_releases_flag_data_equals_its_own_parser(release):
    version, answer = release
    assert answer["version"] == version
    data = flag_data(version)
    assert data is not None and data["counts"] == answer["counts"]
    committed = {
        k: {f: v[f] for f in ("type", "choices", "takes_value", "aliases", "negation")}
        for k, v in data["flags"].items()
    }
    assert committed == answer["flags"]


def test_each_releases_engine_config_data_equals_its_own_config_classes(release):
    version, answer = release
    path = ROOT / "schemas" / "vllm" / f"{version}-config.json"
    committed = json.loads(path.read_text(encoding="utf-8"))
    assert committed["bounds"] == answer["bounds"]
    assert committed["quantization"] == answer["quantization"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_values_file_pinning_a_release_is_read_with_that_releases_flags(version: str):
    values = {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}, "image": {"tag": f"v{version}"}}
    objects = render_values(values).objects()
    server = Release(objects, index_for(version)).server
    assert server is not None and server.args.index.version == version
    assert (ROOT / "schemas" / "vllm" / f"{version}-metrics.json").is_file()


def test_a_flag_only_the_newer_release_has_is_checked_against_the_pinned_one(tmp_path: Path):
    from click.testing import CliRunner

    from modelservice.cli import cli

    newest = VERSIONS[-1]
    older = flag_data(VERSIONS[0])["flags"]
    added = sorted(set(flag_data(newest)["flags"]) - set(older))
    assert added, "the newest release adds no flag: pick another probe"
    for tag, code in ((f"v{newest}", 0), (f"v{VERSIONS[0]}", 1)):
        values = tmp_path / "values.yaml"
        values.write_text(
            f"model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\nimage:\n  tag: {tag}\n"
            f'engine:\n  args: ["{added[0]}=1"]\n',
            encoding="utf-8",
        )
        result = CliRunner().invoke(cli, ["validate", str(values)])
        assert result.exit_code == code, (tag, result.output)
