"""The pod starts offline with everything vLLM reads: the real programs, a fake hub.

A tiny model (a generated Llama config, tokenizer and safetensors), a tokenizer repository, a
draft model for speculative decoding and a LoRA adapter are served by a fake hub on 127.0.0.1
(tools/podrunner/fake_hub.py). For each source the chart is rendered with the hub as its
endpoint and the cache volume at a temporary path; then:

1. the init container's exact command line (command, args and env of the rendered pod) runs
   with the real ``hf`` / ``modelscope`` of the vLLM venv and fills the cache;
2. vLLM's own code (its CPU build, tests/vllm_env.py) parses the server container's rendered
   arguments and resolves the model (config, weights), the tokenizer and the adapters with the
   server container's exact environment, while the hub keeps running: no request may reach it
   (the draft model through vLLM's own speculative config);
3. the hub stops, and the init container runs again, as in a pod rescheduled while the hub is
   down: it must succeed from the cache, and vLLM resolves everything once more.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from vllm_env import run_vllm, vllm_python

from conftest import Objects, render_values
from podrunner.fake_hub import FakeHub, Repo

#: Writes the tiny repositories with transformers/tokenizers/safetensors of the vLLM venv.
GENERATE = r"""
import json, os, sys
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

out = json.load(sys.stdin)["out"]
words = ["<unk>", "<s>", "</s>", "hello", "world", "the", "a", "an"]
vocab = {w: i for i, w in enumerate(words)}
tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
fast = PreTrainedTokenizerFast(
    tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
)
config = LlamaConfig(
    vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
    num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
    bos_token_id=1, eos_token_id=2,
)
config.architectures = ["LlamaForCausalLM"]
torch.manual_seed(0)
model_dir = os.path.join(out, "model")
LlamaForCausalLM(config).save_pretrained(model_dir, safe_serialization=True)
fast.save_pretrained(model_dir)
tokenizer_dir = os.path.join(out, "tokenizer")
fast.save_pretrained(tokenizer_dir)
config.save_pretrained(tokenizer_dir)
lora_dir = os.path.join(out, "lora")
os.makedirs(lora_dir)
rank = 8
with open(os.path.join(lora_dir, "adapter_config.json"), "w") as f:
    json.dump({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 16,
        "lora_dropout": 0.0, "bias": "none", "target_modules": ["q_proj", "v_proj"],
        "base_model_name_or_path": "tiny/model", "fan_in_fan_out": False,
    }, f)
tensors = {}
for module in ("q_proj", "v_proj"):
    prefix = f"base_model.model.model.layers.0.self_attn.{module}"
    tensors[f"{prefix}.lora_A.weight"] = torch.zeros(rank, 16)
    tensors[f"{prefix}.lora_B.weight"] = torch.zeros(16, rank)
save_file(tensors, os.path.join(lora_dir, "adapter_model.safetensors"))
print(json.dumps({"ok": True}))
"""

#: vLLM's own reading of the server's command line and its own resolution of every repository
#: it names: the model config, the weight files, the tokenizer and each LoRA adapter.
RESOLVE = r"""
import json, os, sys
payload = json.load(sys.stdin)
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.common.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser

parser = make_arg_parser(FlexibleArgumentParser())
args = parser.parse_args(payload["args"])
args.model = args.model_tag
engine_args = AsyncEngineArgs.from_cli_args(args)
model_config = engine_args.create_model_config()

from vllm.model_executor.model_loader.default_loader import DefaultModelLoader
loader = DefaultModelLoader(engine_args.create_load_config())
folder, weights, *_ = loader._prepare_weights(
    model_config.model, None, model_config.revision, fall_back_to_pt=True,
    allow_patterns_overrides=None,
)

from vllm.config import ParallelConfig
speculative = engine_args.create_speculative_config(model_config, ParallelConfig())
draft = speculative.draft_model_config

from vllm.tokenizers import cached_tokenizer_from_config
tokenizer = cached_tokenizer_from_config(model_config)

from vllm.config.lora import LoRAConfig
from vllm.lora.peft_helper import PEFTHelper
from vllm.lora.utils import get_adapter_absolute_path
lora_config = LoRAConfig(max_lora_rank=args.max_lora_rank, max_loras=args.max_loras)
adapters = {}
for module in args.lora_modules or []:
    path = get_adapter_absolute_path(module.path)
    helper = PEFTHelper.from_local_dir(path, model_config.max_model_len)
    helper.validate_legal(lora_config)
    adapters[module.name] = {
        "path": path, "rank": helper.r, "files": sorted(os.listdir(path)),
    }
print(json.dumps({
    "architectures": model_config.architectures,
    "draft": {"architectures": draft.architectures, "model": draft.model,
              "tokens": speculative.num_speculative_tokens},
    "weights": [os.path.relpath(w, folder) for w in weights],
    "folder_files": sorted(
        os.path.relpath(os.path.join(d, f), folder)
        for d, _, fs in os.walk(folder) for f in fs
    ),
    "tokenizer": {"vocab": tokenizer.vocab_size if hasattr(tokenizer, "vocab_size") else None,
                  "ids": tokenizer.encode("hello world", add_special_tokens=False)},
    "adapters": adapters,
}))
"""


@pytest.fixture(scope="module")
def tiny_repos(tmp_path_factory) -> dict[str, dict[str, bytes]]:
    """The repositories the fake hub serves, generated by the vLLM venv's own libraries. The
    model repository also carries a Meta-style ``original/`` checkpoint that vLLM never loads."""
    out = tmp_path_factory.mktemp("repos")
    run_vllm(GENERATE, {"out": str(out)})

    def files(folder: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }

    model = files(out / "model")
    model["original/consolidated.00.pth"] = b"\0" * 4096
    model["original/params.json"] = b'{"dim": 16}'
    return {
        "tiny/model": model,
        "tiny/tokenizer": files(out / "tokenizer"),
        "tiny/lora": files(out / "lora"),
        "tiny/draft": files(out / "model"),
    }


def _values(source: str, hub: FakeHub, cache: Path) -> dict[str, Any]:
    hub_key = "modelscope" if source == "modelscope" else "huggingface"
    return {
        "model": {
            "source": source,
            "name": "tiny/model",
            "tokenizer": {"name": "tiny/tokenizer"},
            # One try, no wait: the second run below meets a stopped hub on purpose.
            "download": {"attempts": 1, "retryDelaySeconds": 0},
        },
        hub_key: {"endpoint": hub.url},
        "lora": {"adapters": [{"name": "tiny-sql", "repo": "tiny/lora"}], "maxRank": 8},
        "speculative": {"model": "tiny/draft", "config": {"num_speculative_tokens": 2}},
        "persistence": {"mountPath": str(cache)},
    }


def _environment(container: dict[str, Any], home: Path) -> dict[str, str]:
    """The container's rendered env (plain values; this test sets no Secret), on a PATH that
    finds the vLLM venv's `hf` and `modelscope` and a shell."""
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    assert all("value" in e for e in container.get("env", [])), container["env"]
    path = f"{vllm_python().parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
    return {**env, "PATH": path, "HOME": str(home)}


def _run_init(objects: Objects, home: Path) -> subprocess.CompletedProcess[str]:
    init = objects.download
    assert init is not None
    return subprocess.run(
        [*init["command"], *init.get("args", [])],
        env=_environment(init, home),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _resolve(
    objects: Objects, home: Path, env: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    server = objects.server
    container = server if env is None else {**server, "env": env}
    return run_vllm(RESOLVE, {"args": server["args"]}, env=_environment(container, home))


@pytest.mark.parametrize("source", ["huggingface", "modelscope"])
def test_the_server_resolves_model_tokenizer_and_adapters_offline_after_the_init_container(
    source, tiny_repos, tmp_path
):
    revision = "master" if source == "modelscope" else "main"
    repos = {name: Repo(dict(files), revision=revision) for name, files in tiny_repos.items()}
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    with FakeHub(repos) as hub:
        objects = Objects(render_values(_values(source, hub, cache)))
        first = _run_init(objects, home)
        assert first.returncode == 0, first.stderr[-4000:]
        downloaded = len(hub.requests)
        assert downloaded > 0

        resolved = _resolve(objects, home)
        assert hub.requests[downloaded:] == [], "the server asked the hub"
        if source == "modelscope":
            # The control, and the bug this fixes: without HF_HUB_OFFLINE (as the chart
            # rendered it for ModelScope before), vLLM goes to the hub on every start. It runs
            # on a copy of the cache, which it changes.
            copy = tmp_path / "cache-copy"
            shutil.copytree(cache, copy, symlinks=True)
            control = Objects(render_values(_values(source, hub, copy)))
            online = [e for e in control.server["env"] if e["name"] != "HF_HUB_OFFLINE"]
            _resolve(control, home, env=online)
            assert hub.requests[downloaded:], "vLLM never asked the hub, even online"

    assert resolved["architectures"] == ["LlamaForCausalLM"]
    assert resolved["draft"]["architectures"] == ["LlamaForCausalLM"]
    assert resolved["draft"]["tokens"] == 2
    assert resolved["draft"]["model"] == str(cache / "speculative" / "draft")
    assert resolved["weights"] == ["model.safetensors"]
    # The default exclude kept Meta's original/ checkpoint out of the cache.
    assert not any(f.startswith("original/") for f in resolved["folder_files"])
    assert resolved["tokenizer"]["ids"] == [3, 4]
    adapter = resolved["adapters"]["tiny-sql"]
    assert adapter["path"] == str(cache / "lora" / "tiny-sql")
    assert adapter["rank"] == 8
    assert "adapter_model.safetensors" in adapter["files"]

    # The hub is down now: a rescheduled pod's init container starts from the cache.
    again = _run_init(objects, home)
    assert again.returncode == 0, again.stderr[-4000:]
    assert _resolve(objects, home) == resolved
