"""What the init container downloads against what vLLM loads (`download-excludes-loaded-files`):
the data file is what tools/extract_vllm_loading.py reads from the cached vLLM release's own
code, and the toolkit's reading of include/exclude patterns is huggingface_hub's own
(`filter_repo_objects`, which `hf download` applies), run in vLLM's venv."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from vllm_env import run_vllm, supported_versions, vllm_python

from conftest import ROOT
from modelservice.checks.download import downloaded, loading_data, sample_files


def _extractor():
    spec = importlib.util.spec_from_file_location(
        "extract_vllm_loading", ROOT / "tools" / "extract_vllm_loading.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("extract_vllm_loading", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("version", supported_versions())
def test_the_loading_data_is_what_each_supported_vllm_release_reads(version: str):
    site = next(vllm_python(version).parent.parent.glob("lib/python3*/site-packages"))
    committed = loading_data(version)
    assert committed is not None, f"schemas/vllm/{version}-loading.json is missing"
    assert committed == json.loads(json.dumps(_extractor().extract(site)))
    assert committed["weights"]["hf"]["patterns"] == ["*.safetensors", "*.bin"]
    assert committed["config"] == {"hf": "config.json", "mistral": "params.json"}


FILES = [
    "config.json",
    "params.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer.model.v3",
    "model.safetensors",
    "model-00001-of-00002.safetensors",
    "consolidated.safetensors",
    "pytorch_model.bin",
    "original/consolidated.00.pth",
    "original/params.json",
]
PATTERNS = [
    ([], []),
    ([], ["original/*", "consolidated*"]),
    ([], ["*.json"]),
    ([], ["original/"]),
    (["*.safetensors"], []),
    (["*.safetensors", "*.json"], ["original/*"]),
    (["tokenizer*", "config.json"], ["*.model"]),
    (["original/"], []),
]


def test_include_and_exclude_are_read_as_huggingface_hub_reads_them():
    program = """
import json, sys
from huggingface_hub.utils import filter_repo_objects
cases = json.load(sys.stdin)
print(json.dumps([sorted(filter_repo_objects(c["files"], allow_patterns=c["include"] or None,
                                             ignore_patterns=c["exclude"] or None))
                  for c in cases]))
"""
    cases = [{"files": FILES, "include": i, "exclude": e} for i, e in PATTERNS]
    theirs = run_vllm(program, cases)
    ours = [sorted(f for f in FILES if downloaded(f, i, e)) for i, e in PATTERNS]
    assert ours == theirs


@pytest.mark.parametrize(
    ("pattern", "stands_for"),
    [
        ("*.safetensors", "model-00001-of-00002.safetensors"),
        ("consolidated*.safetensors", "consolidated.safetensors"),
        ("tokenizer.model.v*", "tokenizer.model.v3"),
        ("config.json", "config.json"),
    ],
)
def test_a_glob_of_vllm_stands_for_the_files_repositories_hold(pattern, stands_for):
    assert stands_for in sample_files(pattern)
