"""Engine-argument values read as vLLM's own converters, registries and validation read them.

The data file records vLLM's verdict on sample texts for every converter kind and config class
(tools/extract_vllm_flags.py ran vLLM's callables on them); the toolkit's reading must agree
with every verdict. The rules between flags come from running vLLM's validation.
"""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from conftest import CASES, ROOT
from modelservice.cli import cli
from modelservice.engine_args import CHART_WIRING, check_args
from modelservice.vllm.converters import Refused, convert, convert_config
from modelservice.vllm.flags import _index, flag_data

DATA = flag_data("0.33.0")
INDEX = _index(str(ROOT / "schemas" / "vllm" / "0.33.0.json"))

SAMPLES = [
    (described["kind"], described["nullable"], sample)
    for described in DATA["converters"].values()
    for sample in described["samples"]
]
CONFIG_SAMPLES = [
    (name, sample)
    for name, described in DATA["config_classes"].items()
    for sample in described["samples"]
]


def _toolkit_verdict(read, *args, **kwargs):
    try:
        return True, read(*args, **kwargs)
    except Refused:
        return False, None


@pytest.mark.parametrize(
    ("kind", "nullable", "sample"),
    SAMPLES,
    ids=[f"{k}{':nullable' if n else ''}:{s['text']!r}" for k, n, s in SAMPLES],
)
def test_the_toolkit_reads_every_sample_as_vllms_converter_does(kind, nullable, sample):
    ok, value = _toolkit_verdict(convert, kind, sample["text"], nullable=nullable)
    assert ok == sample["ok"], f"vLLM {'accepts' if sample['ok'] else 'refuses'} it"
    if ok and "value" in sample:
        assert value == sample["value"] and type(value) is type(sample["value"])
    if ok and sample.get("object") == "float":
        assert math.isnan(value) or math.isinf(value)


@pytest.mark.parametrize(
    ("name", "sample"), CONFIG_SAMPLES, ids=[f"{n}:{s['text']!r}" for n, s in CONFIG_SAMPLES]
)
def test_the_toolkit_reads_every_config_class_sample_as_vllm_does(name, sample):
    ok, _ = _toolkit_verdict(convert_config, sample["text"], DATA["config_classes"][name])
    assert ok == sample["ok"]


def test_the_samples_cover_every_converter_kind_a_flag_uses():
    kinds = {
        f"{f['type']}:nullable" if f["nullable"] else f["type"]
        for f in DATA["flags"].values()
        if not f.get("config_class") and f["type"] not in ("bool", "custom")
    }
    assert kinds == set(DATA["converters"])
    assert {f["config_class"] for f in DATA["flags"].values() if f.get("config_class")} == set(
        DATA["config_classes"]
    )


def test_the_registries_and_startup_rules_were_extracted_from_vllm():
    registries = DATA["registries"]
    assert "fp8" in registries["quantization_methods"]["names"]
    assert "deepseek_r1" in registries["reasoning_parsers"]["names"]
    assert "hermes" in registries["tool_call_parsers"]["names"]
    assert DATA["flags"]["--tool-call-parser"]["registry"] == "tool_call_parsers"
    requires = {
        (r["flag"], r["requires"]) for r in DATA["startup_rules"] if r["kind"] == "requires"
    }
    assert ("--enable-auto-tool-choice", "--tool-call-parser") in requires
    assert {"--api-key", "--hf-token"} <= set(DATA["secret_flags"])


def test_the_normalizations_of_anonymous_converters_were_learnt_from_vllm():
    assert DATA["flags"]["--moe-backend"]["normalizes"] == ["lower", "dash_to_underscore"]
    assert DATA["flags"]["--device-ids"]["normalizes"] is None


def test_every_flag_the_chart_wiring_names_is_a_flag_of_the_pinned_release():
    assert set(CHART_WIRING) <= set(DATA["flags"])


@pytest.mark.parametrize(
    ("args", "rules"),
    [
        (["--max-model-len=-1"], []),
        (["--max-model-len", "AUTO"], []),
        (["--max-model-len=1K"], []),
        (["--max-model-len=25.6k"], []),
        (["--max-model-len=1_000"], []),
        (["--max-model-len=4096.5"], ["engine-arg-type"]),
        (["--max-num-batched-tokens=1.5K"], ["engine-arg-type"]),
        (["--max-num-batched-tokens=-1"], []),
        (["--kv-cache-memory-bytes=None"], []),
        (["--limit-mm-per-prompt", "image=4"], ["engine-arg-type"]),
        (["--limit-mm-per-prompt", '{"image": 4}'], []),
        (["--hf-overrides", "not-json-is-kept-as-text"], []),
        (["--hf-overrides", '{"a": 1,}'], ["engine-arg-type"]),
        (["--compilation-config", '{"mode": 3}'], []),
        (["--compilation-config", "3"], ["engine-arg-type"]),
        (["--compilation-config.mode=3"], []),
        (["--compilation-config.nope=3"], ["engine-arg-unknown"]),
        (["--reasoning-parser", "NONE"], []),
        (["--reasoning-parser", "qwen3"], []),
        (["--reasoning-parser", "qwen"], ["engine-arg-unknown-name"]),
        (["--quantization", "None"], []),
        (["-q", "awq"], []),
        (["-q", "awk"], ["engine-arg-unknown-name"]),
        (["--enable-auto-tool-choice"], ["engine-arg-requires"]),
        (["--enable-auto-tool-choice", "--tool-call-parser", "None"], ["engine-arg-requires"]),
        (["--enable-auto-tool-choice", "--tool-call-parser", "hermes"], []),
        (["--enable-log-outputs"], ["engine-arg-requires"]),
        (["--enable-log-outputs", "--enable-log-requests"], []),
        (["--enable-log-outputs", "--no-enable-log-outputs"], []),
        (["--enable-per-request-metrics", "--disable-log-stats"], ["engine-arg-conflict"]),
        (["--sse-keep-alive-interval=0"], []),
        (["--sse-keep-alive-interval=-5"], ["engine-arg-range"]),
        (["--api-key", "k1", "k2"], ["engine-arg-secret"]),
        (["--hf-token"], []),
        (["--hf-token="], []),
        (["--hf-token", "hf_abc"], ["engine-arg-secret"]),
        (["--host=0.0.0.0"], ["engine-arg-chart-wiring"]),
        (["--uds", "/tmp/s"], ["engine-arg-chart-wiring"]),
        (["--ssl-certfile", "/c"], ["engine-arg-chart-wiring"]),
        (["--headless"], ["engine-arg-chart-wiring"]),
        (["--root-path", "/api"], []),
        (["--model", "org/other"], ["engine-arg-duplicates-key"]),
        (["--max-model-len", 4096], []),  # the schema says to quote it
        (["--kv-cache-dtype", "fp8"], []),
        (["--moe-backend", "Deep-GEMM"], []),
        (["--moe-backend", "deepgemm"], ["engine-arg-choice"]),
        (["--device-ids", "0,1"], []),
        (
            ["--reasoning-parser=mine", "--reasoning-parser-plugin", "/p.py"],
            ["engine-arg-plugin-name"],
        ),
        (["--reasoning-parser=mine", "--tool-parser-plugin", "/p.py"], ["engine-arg-unknown-name"]),
        (["--tokenizer-mode", "mistral"], []),
        (["--tokenizer-mode", "mistrall"], ["engine-arg-unlisted-value"]),
    ],
)
def test_engine_args_get_the_verdict_vllm_gives_them(args, rules):
    assert [rule for _, _, rule in check_args(args, INDEX)] == rules


def test_an_unknown_image_tag_never_blocks_render():
    path = (
        CASES / "invalid" / "engine-args-checked-against-the-pinned-release-for-an-unknown-tag.yaml"
    )
    result = CliRunner().invoke(cli, ["render", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "kind: Deployment" in result.stdout
    assert "--dtype=fp17" in result.stdout
    assert "(by vLLM 0.33.0's flags; image tag v0.10.1 may differ)" in result.stderr


def test_a_secret_flag_is_an_error_whatever_the_image_tag(tmp_path):
    values = tmp_path / "v.yaml"
    values.write_text(
        "model:\n  name: a/b\nimage:\n  tag: v0.1.0\nengine:\n  args: ['--api-key=abc']\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(values)])
    assert result.exit_code == 1
    assert "[engine-arg-secret]" in result.stderr
    assert "auth.apiKey.secretName" in result.stderr
