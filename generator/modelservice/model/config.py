"""A model's config.json read as vLLM reads it: through transformers' class defaults
(:mod:`.defaults`), the language model's part of a multimodal config, and the names vLLM
reads each number under (``ModelArchConfigConvertorBase``: KV heads as ``num_key_value_heads``
or ``n_head_kv``..., the head size of latent attention, the longest context with its key).

tests/test_plan_vllm.py and tests/test_engine_config_vllm.py hold every reading here to vLLM's
own on the table's models and the cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from . import defaults

#: Names vLLM reads a number under, first found wins (vllm.transformers_utils.config
#: CONFIG_FIELD_ALIASES and the convertor's getters).
KV_HEAD_KEYS = (
    "n_head_kv",
    "num_kv_heads",
    "num_key_value_heads",
    "multi_query_group_num",
    "num_attention_groups",
)
EXPERT_KEYS = ("num_experts", "moe_num_experts", "n_routed_experts", "num_local_experts")
#: Keys of config.json that bound the context, as vLLM reads them (the smallest wins).
MAX_LEN_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_target_positions",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
#: Rope types whose positions vLLM does not stretch by ``factor`` (the config's maximum is
#: already the scaled one, or the type has no factor): vllm/config/model.py
#: _get_and_verify_max_len.
UNSCALED_ROPE_TYPES = (
    "su",
    "longrope",
    "llama3",
    "yarn",
    "deepseek_yarn",
    "deepseek_llama_scaling",
)
#: Keys of the text part of a config that nests it.
TEXT_CONFIG_KEYS = ("text_config", "thinker_config", "llm_config", "language_config")


def _number(config: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


@dataclass
class ModelConfig:
    """One reading of a model's config.json (``raw``), with where it came from."""

    raw: dict[str, Any]
    origin: str = "config.json"
    notes: list[str] = field(default_factory=list)

    @cached_property
    def hf(self) -> dict[str, Any]:
        """The config with transformers' defaults for the keys the file leaves out."""
        return defaults.resolve(self.raw)

    @cached_property
    def text(self) -> dict[str, Any]:
        """The language model's config: the nested text config of a multimodal model (with
        the outer dtype and quantization), else the config itself."""
        for key in TEXT_CONFIG_KEYS:
            inner = self.hf.get(key)
            if isinstance(inner, dict) and "num_hidden_layers" in inner:
                merged = dict(inner)
                for outer in ("torch_dtype", "dtype", "quantization_config"):
                    if outer in self.hf and merged.get(outer) is None:
                        merged[outer] = self.hf[outer]
                return merged
        return self.hf

    @property
    def model_type(self) -> str:
        return str(self.hf.get("model_type") or "")

    @property
    def architectures(self) -> list[str]:
        found = self.hf.get("architectures")
        return [str(a) for a in found] if isinstance(found, list) else []

    @property
    def defaults_known(self) -> bool:
        """Whether transformers' class of this model_type is in the data."""
        return defaults.known(self.model_type)

    @property
    def heads(self) -> int:
        return _number(self.text, "num_attention_heads", "n_head") or 0

    @property
    def kv_heads(self) -> int:
        """KV heads of the whole model (the attention heads without grouped-query attention)."""
        return _number(self.text, *KV_HEAD_KEYS) or self.heads

    @property
    def layers(self) -> int:
        return _number(self.text, "num_hidden_layers", "n_layer", "num_layers") or 0

    @property
    def hidden(self) -> int:
        return _number(self.text, "hidden_size", "d_model", "n_embd") or 0

    @property
    def vocab(self) -> int:
        return _number(self.text, "vocab_size") or 0

    @property
    def use_mla(self) -> bool:
        """Multi-head latent attention (DeepSeek V2/V3 and their kind)."""
        return self.text.get("kv_lora_rank") is not None

    @property
    def head_size(self) -> int:
        """The head size vLLM's KV cache uses: the latent vector of latent attention."""
        if self.use_mla:
            return int(self.text["kv_lora_rank"]) + int(self.text.get("qk_rope_head_dim") or 0)
        head_dim = self.text.get("head_dim")
        if isinstance(head_dim, int) and head_dim > 0:
            return head_dim
        per_head = self.text.get("hidden_size_per_head")
        if isinstance(per_head, int):
            return per_head
        return self.hidden // self.heads if self.heads else 0

    @property
    def tie_word_embeddings(self) -> bool:
        return bool(self.text.get("tie_word_embeddings", self.hf.get("tie_word_embeddings")))

    @property
    def dtype(self) -> str:
        """The checkpoint's dtype as config.json states it (``float32`` when it does not)."""
        raw = self.text.get("torch_dtype") or self.text.get("dtype") or "float32"
        return str(raw).removeprefix("torch.")

    @property
    def quantization_config(self) -> dict[str, Any] | None:
        quant = self.text.get("quantization_config") or self.hf.get("compression_config")
        return quant if isinstance(quant, dict) else None

    @property
    def quantization(self) -> str | None:
        """The checkpoint's quantization method (``quant_method`` of quantization_config)."""
        quant = self.quantization_config
        method = quant.get("quant_method") if quant else None
        return str(method) if method else None

    @property
    def num_experts(self) -> int:
        found = _number(self.text, *EXPERT_KEYS)
        return found or 0

    @property
    def layer_types(self) -> list[str]:
        found = self.text.get("layer_types")
        return [str(t) for t in found] if isinstance(found, list) else []

    @property
    def sliding_window(self) -> int | None:
        """The window vLLM reads (None where ``use_sliding_window`` is false)."""
        if self.text.get("use_sliding_window") is False:
            return None
        window = self.text.get("sliding_window")
        return int(window) if isinstance(window, int) and window > 0 else None

    @property
    def rope_parameters(self) -> list[dict[str, Any]]:
        """The rope settings of every layer kind (``rope_scaling`` of older files)."""
        found = self.text.get("rope_parameters") or self.text.get("rope_scaling")
        if not isinstance(found, dict):
            return []
        if all(isinstance(v, dict) for v in found.values()) and found:
            return [v for v in found.values() if isinstance(v, dict)]
        return [found]

    @property
    def derived_max_len(self) -> tuple[int | None, str | None]:
        """The longest context the config allows and the key that says so, as vLLM derives
        it: the smallest of its keys (``model_max_length`` wins when set), times the rope
        scaling factor of the types that stretch positions."""
        length: float | None = None
        key = None
        for name in MAX_LEN_KEYS:
            value = self.text.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                if length is None or value < length:
                    length, key = value, name
        model_max = self.text.get("model_max_length")
        if isinstance(model_max, int | float) and not isinstance(model_max, bool) and model_max:
            length, key = model_max, "model_max_length"
        if length is None:
            return None, None
        if "gemma3" not in self.model_type:
            factor: float = 1.0
            for rope in self.rope_parameters:
                rope_type = rope.get("rope_type") or rope.get("type") or "default"
                if rope_type not in UNSCALED_ROPE_TYPES and rope.get("factor") is not None:
                    factor = float(rope["factor"])
            length = length * factor
        return int(length), key

    @property
    def max_len(self) -> int | None:
        return self.derived_max_len[0]

    def get(self, key: str, default: Any = None) -> Any:
        """A key of the text config (with the class's default)."""
        return self.text.get(key, default)
