"""Tiny generated models the fake hub serves under whatever repository ids a release names.

- ``causal``: a Llama-architecture causal LM of about 1 MB (float32), head size 32 (vLLM's CPU
  attention takes head sizes 32, 64, 80, ... only), 8 attention heads (any tensor-parallel size
  up to 8 divides them), a byte-level BPE tokenizer trained on a few sentences, a chat
  template, and 128k positions (any ``--max-model-len`` a values file names fits);
- ``classifier``: the same body as ``LlamaForSequenceClassification`` with one label, for a
  release whose ``helm test`` calls /v1/score, /v1/rerank or /classify;
- ``lora``: a rank-8 LoRA adapter of ``causal`` (q_proj and v_proj of every layer).

An embedding release serves ``causal`` itself: vLLM's pooling runner turns a causal LM into an
embedding model (``--convert embed``, as the chart's embedding example asks).

They are written once by the libraries of vLLM's CPU venv (torch, transformers, tokenizers,
safetensors) into ``~/.cache/modelservice/tiny-models-<hash of this file>/``, with fixed seeds.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

KINDS = ("causal", "classifier", "lora")

#: Run by the CPU venv's Python with the output folder as its argument.
GENERATE = r"""
import json, os, sys
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, PreTrainedTokenizerFast,
)

out = sys.argv[1]
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
corpus = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "SELECT name, email FROM users WHERE id = 42 ORDER BY name;",
    "You are a helpful assistant. How can I help you today?",
    "Kubernetes runs the model server in a pod; Helm installs the release.",
    "0123456789 + - * / = ( ) [ ] { } < > ' \" , . : ; ? ! @ # $ % ^ & _ | ~",
] * 8
tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tokenizer.decoder = decoders.ByteLevel()
tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(
    vocab_size=512, special_tokens=specials, show_progress=False,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
))
fast = PreTrainedTokenizerFast(
    tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
)
fast.chat_template = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
eos = fast.convert_tokens_to_ids("<|im_end|>")
pad = fast.convert_tokens_to_ids("<|endoftext|>")
config = LlamaConfig(
    vocab_size=tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=256,
    num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=8, head_dim=32,
    max_position_embeddings=131072, eos_token_id=eos, pad_token_id=pad, bos_token_id=None,
    tie_word_embeddings=False, torch_dtype="float32",
)

torch.manual_seed(0)
causal = os.path.join(out, "causal")
config.architectures = ["LlamaForCausalLM"]
LlamaForCausalLM(config).save_pretrained(causal, safe_serialization=True)
fast.save_pretrained(causal)

torch.manual_seed(1)
classifier = os.path.join(out, "classifier")
config.architectures = ["LlamaForSequenceClassification"]
config.num_labels = 1
LlamaForSequenceClassification(config).save_pretrained(classifier, safe_serialization=True)
fast.save_pretrained(classifier)

torch.manual_seed(2)
lora = os.path.join(out, "lora")
os.makedirs(lora)
rank, hidden = 8, config.hidden_size
with open(os.path.join(lora, "adapter_config.json"), "w") as f:
    json.dump({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 16,
        "lora_dropout": 0.0, "bias": "none", "target_modules": ["q_proj", "v_proj"],
        "base_model_name_or_path": "tiny/causal", "fan_in_fan_out": False,
    }, f, indent=2)
tensors = {}
for layer in range(config.num_hidden_layers):
    for module in ("q_proj", "v_proj"):
        prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
        tensors[f"{prefix}.lora_A.weight"] = torch.randn(rank, hidden) * 0.02
        tensors[f"{prefix}.lora_B.weight"] = torch.randn(hidden, rank) * 0.02
save_file(tensors, os.path.join(lora, "adapter_model.safetensors"))
print(json.dumps({"ok": True}))
"""


def _folder(cache: Path) -> Path:
    digest = hashlib.sha256(GENERATE.encode()).hexdigest()[:12]
    return cache / f"tiny-models-{digest}"


def ensure(cache: Path, python: Path) -> Path:
    """The folder holding one subfolder per kind, generated on first use with ``python`` (the
    CPU venv's interpreter). Safe against a concurrent runner: one generates, the other waits."""
    folder = _folder(cache)
    if (folder / ".complete").is_file():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / ".complete").is_file():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        done = subprocess.run(
            [str(python), "-c", GENERATE, str(folder)],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(folder)},
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"generating the tiny models failed:\n{done.stderr[-3000:]}")
        (folder / ".complete").touch()
    return folder


def files(folder: Path, kind: str) -> dict[str, bytes]:
    """The files of one tiny model, by path inside its repository."""
    root = folder / kind
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def size(folder: Path, kind: str) -> int:
    return sum(len(data) for data in files(folder, kind).values())


def describe(folder: Path, kind: str) -> str:
    """One phrase for the run's report: ``tiny Llama causal LM, 1.0 MB``."""
    config = json.loads((folder / kind / "config.json").read_text()) if kind != "lora" else {}
    what = {
        "causal": "tiny Llama causal LM",
        "classifier": "tiny Llama sequence classifier",
        "lora": "tiny LoRA adapter (rank 8)",
    }[kind]
    layers = f", {config['num_hidden_layers']} layers" if config else ""
    return f"{what}{layers}, {size(folder, kind) / 1e6:.1f} MB"
