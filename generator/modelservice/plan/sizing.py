"""Memory arithmetic of one vLLM server, from a model's config.json, the way vLLM sizes it.

vLLM loads the weights, profiles one batch, and gives what is left of
``gpu_memory_utilization`` x the GPU's memory to the KV cache; it refuses to start when the
cache cannot hold one sequence of ``max_model_len`` tokens. This module estimates each term:

- **weights**: parameters counted from the config (dense, mixture-of-experts and multi-head
  latent attention layers), in the dtype vLLM resolves (``--dtype auto`` is the config's dtype,
  float32 served as bfloat16) or the quantization's width (the checkpoint's stated bits, else
  the method's usual width), split evenly over the tensor x pipeline parallel ranks;
- **KV cache per token**: 2 (key and value) x layers of the rank's pipeline stage x KV heads of
  the rank (``max(1, kv_heads // tensor_parallel)``, vLLM replicates a head when there are
  fewer heads than ranks) x head size x the width of ``--kv-cache-dtype``; multi-head latent
  attention caches one latent vector (``kv_lora_rank + qk_rope_head_dim``) per layer, the same
  on every rank;
- **capacity**: in blocks of 16 tokens, as vLLM's KV cache manager counts them: layers grouped
  by kind (full or sliding-window attention) into groups of one size over one pool of blocks;
  a request holds all its tokens in a full group and, in a sliding-window group, the window
  plus the tokens in flight and one block (Gemma 2's alternating layers, Mistral 7B v0.1's
  window on every layer);
- **overhead**: CUDA context, CUDA graphs and the activations of vLLM's profiling batch are not
  computed: a stated margin per GPU (:data:`OVERHEAD_GIB`).

Nothing here reads files or the network; :mod:`modelservice.model` reads the config.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..model import ModelConfig

GIB = 1024**3
#: CUDA context, CUDA graphs and the profiling batch's activations, per GPU: a stated margin,
#: not a computation (vLLM measures them at startup).
OVERHEAD_GIB = 2.0
#: vLLM's KV cache block (tokens); capacities are whole blocks.
BLOCK_TOKENS = 16
#: Tokens vLLM schedules in one step when a chunked prefill runs (V1 default for serving).
CHUNK_TOKENS = 2048

#: Bytes per element of the dtypes ``--dtype`` and config.json name.
DTYPE_BYTES = {
    "bfloat16": 2,
    "float16": 2,
    "half": 2,
    "float32": 4,
    "float": 4,
}
#: The dtype a ``--dtype`` choice means.
DTYPE_NAMES = {"half": "float16", "float": "float32", "bfloat16": "bfloat16", "float16": "float16"}

#: Bytes per weight of the linear layers for each quantization method (group-wise int4 methods
#: store a 16-bit scale and a 4-bit zero point per group of 128 weights: +2.5/128 byte).
QUANT_BYTES = {
    "fp8": 1.0,
    "fbgemm_fp8": 1.0,
    "modelopt": 1.0,
    "ptpc_fp8": 1.0,
    "experts_int8": 1.0,
    "bitsandbytes": 0.5 + 2.5 / 64,
    "awq": 0.5 + 2.5 / 128,
    "awq_marlin": 0.5 + 2.5 / 128,
    "gptq": 0.5 + 2.5 / 128,
    "gptq_marlin": 0.5 + 2.5 / 128,
    "compressed-tensors": 0.5 + 2.5 / 128,
    "gguf": 0.5 + 2.5 / 128,
    "mxfp4": 0.5 + 1 / 32,
}


class NotModelled(Exception):
    """The config lacks what the estimate needs (an architecture this module cannot count)."""


def _int(config: dict[str, Any], *keys: str, default: int | None = None) -> int:
    for key in keys:
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    if default is not None:
        return default
    raise NotModelled(f"config.json has no {' or '.join(keys)}")


@dataclass(frozen=True)
class Architecture:
    """What sizing needs of a config.json."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    dtype: str
    #: multi-head latent attention: (kv_lora_rank, qk_rope_head_dim)
    mla: tuple[int, int] | None = None
    #: a sliding window on every layer (tokens), or None
    sliding_window: int | None = None
    #: layers mix sliding-window and full attention
    interleaved: bool = False
    #: layers of full attention and of sliding-window attention, as vLLM gives each its
    #: KV cache spec (latent attention: full)
    full_layers: int = 0
    sliding_layers: int = 0
    max_len: int | None = None
    quantization: str | None = None
    #: bytes per linear-layer weight the checkpoint's quantization_config states (its bits)
    quant_bytes: float | None = None
    parameters: int = 0
    embedding_parameters: int = 0
    #: the routed experts' parameters (what expert parallel spreads)
    expert_parameters: int = 0
    #: parameters every tensor-parallel rank holds whole (norms, routers, low-rank projections)
    replicated_parameters: int = 0
    #: the MLP's inner width (0 when the config does not say)
    intermediate: int = 0

    @property
    def kind(self) -> str:
        if self.mla:
            return "multi-head latent attention"
        if self.interleaved:
            return (
                f"{self.sliding_layers} sliding-window ({self.sliding_window} tokens) and "
                f"{self.full_layers} full-attention layers"
            )
        if self.sliding_window:
            return f"sliding window of {self.sliding_window} tokens on every layer"
        if self.kv_heads < self.heads:
            return "grouped-query attention"
        return "multi-head attention"


def _dtype_of(config: dict[str, Any]) -> str:
    raw = str(config.get("torch_dtype") or config.get("dtype") or "float32").removeprefix("torch.")
    if raw in DTYPE_NAMES:
        return DTYPE_NAMES[raw]
    return raw if raw in DTYPE_BYTES else "bfloat16"


def count_parameters(config: dict[str, Any]) -> tuple[int, int]:
    """(all parameters, those of the embedding and output layers) of a decoder-only model:
    embeddings, attention (grouped-query or latent), dense or mixture-of-experts MLPs, norms.
    The speculative (MTP) layers some checkpoints carry are not loaded to serve: not counted.
    Keys the file leaves out take transformers' class defaults (Gemma-2's tied embeddings)."""
    config = ModelConfig(config).text
    hidden = _int(config, "hidden_size", "d_model", "n_embd")
    layers = _int(config, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int(config, "num_attention_heads", "n_head")
    kv_heads = _int(config, "num_key_value_heads", default=heads)
    head_dim = _int(config, "head_dim", default=hidden // heads)
    vocab = _int(config, "vocab_size")
    embedding = vocab * hidden * (1 if config.get("tie_word_embeddings") else 2)

    if config.get("kv_lora_rank"):
        rank = _int(config, "kv_lora_rank")
        rope = _int(config, "qk_rope_head_dim")
        nope = _int(config, "qk_nope_head_dim")
        v_dim = _int(config, "v_head_dim")
        q_rank = config.get("q_lora_rank")
        if q_rank:
            q = hidden * q_rank + q_rank + q_rank * heads * (nope + rope)
        else:
            q = hidden * heads * (nope + rope)
        attention = q + hidden * (rank + rope) + rank + rank * heads * (nope + v_dim)
        attention += heads * v_dim * hidden
    else:
        q_out, kv_out = heads * head_dim, kv_heads * head_dim
        attention = hidden * (q_out + 2 * kv_out) + q_out * hidden
        if config.get("model_type") in ("qwen2", "qwen2_moe") or config.get("attention_bias"):
            attention += q_out + 2 * kv_out
        if config.get("model_type") in ("qwen3", "qwen3_moe"):
            attention += 2 * head_dim  # q_norm and k_norm

    dense = 3 * hidden * _int(config, "intermediate_size", "ffn_dim", default=4 * hidden)
    experts = config.get("n_routed_experts") or config.get("num_local_experts")
    experts = experts or config.get("num_experts")
    moe_layers = 0
    moe = 0
    if experts:
        expert_inter = _int(config, "moe_intermediate_size", "intermediate_size")
        moe = experts * 3 * hidden * expert_inter + hidden * experts
        shared = config.get("n_shared_experts")
        if shared:
            moe += shared * 3 * hidden * expert_inter
        shared_inter = config.get("shared_expert_intermediate_size")
        if shared_inter:
            moe += 3 * hidden * int(shared_inter) + hidden
        first_dense = int(config.get("first_k_dense_replace") or 0)
        step = int(config.get("decoder_sparse_step") or config.get("moe_layer_freq") or 1)
        only_dense = set(config.get("mlp_only_layers") or [])
        moe_layers = sum(
            1
            for i in range(layers)
            if i >= first_dense and i not in only_dense and (i + 1) % step == 0
        )
    per_layer_norms = _NORMS_PER_LAYER.get(str(config.get("model_type")), 2) * hidden
    total = embedding + hidden  # the final norm
    total += layers * (attention + per_layer_norms)
    total += moe_layers * moe + (layers - moe_layers) * dense
    return total, embedding


#: Norms per decoder layer where a model has more than the usual two (Gemma 2 and 3 norm before
#: and after both attention and MLP).
_NORMS_PER_LAYER = {"gemma2": 4, "gemma3": 4, "gemma3_text": 4}


def replicated_parameters(config: dict[str, Any]) -> int:
    """Parameters every tensor-parallel rank holds whole, as vLLM builds the layers: the norms,
    the low-rank projections of latent attention (``q_a_proj``, ``kv_a_proj_with_mqa``) and
    their norms, Qwen3's q/k norms, and the router of each mixture-of-experts layer."""
    config = ModelConfig(config).text
    hidden = _int(config, "hidden_size", "d_model", "n_embd")
    layers = _int(config, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int(config, "num_attention_heads", "n_head")
    per_layer = _NORMS_PER_LAYER.get(str(config.get("model_type")), 2) * hidden
    if config.get("kv_lora_rank"):
        rank = _int(config, "kv_lora_rank")
        rope = _int(config, "qk_rope_head_dim")
        q_rank = config.get("q_lora_rank")
        per_layer += hidden * (rank + rope) + rank
        if q_rank:
            per_layer += hidden * int(q_rank) + int(q_rank)
    if config.get("model_type") in ("qwen3", "qwen3_moe"):
        per_layer += 2 * _int(config, "head_dim", default=hidden // heads)
    experts = config.get("n_routed_experts") or config.get("num_local_experts")
    experts = experts or config.get("num_experts")
    total = hidden + layers * per_layer
    if experts:
        first_dense = int(config.get("first_k_dense_replace") or 0)
        step = int(config.get("decoder_sparse_step") or config.get("moe_layer_freq") or 1)
        only_dense = set(config.get("mlp_only_layers") or [])
        moe_layers = sum(
            1
            for i in range(layers)
            if i >= first_dense and i not in only_dense and (i + 1) % step == 0
        )
        total += moe_layers * hidden * int(experts)
    return int(total)


def expert_parameters(config: dict[str, Any]) -> int:
    """The parameters of the routed experts (0 for a dense model), as count_parameters counts
    them."""
    config = ModelConfig(config).text
    experts = config.get("n_routed_experts") or config.get("num_local_experts")
    experts = experts or config.get("num_experts")
    if not experts:
        return 0
    hidden = _int(config, "hidden_size", "d_model", "n_embd")
    layers = _int(config, "num_hidden_layers", "n_layer", "num_layers")
    inter = _int(config, "moe_intermediate_size", "intermediate_size")
    first_dense = int(config.get("first_k_dense_replace") or 0)
    step = int(config.get("decoder_sparse_step") or config.get("moe_layer_freq") or 1)
    only_dense = set(config.get("mlp_only_layers") or [])
    moe_layers = sum(
        1 for i in range(layers) if i >= first_dense and i not in only_dense and (i + 1) % step == 0
    )
    return int(moe_layers * experts * 3 * hidden * inter)


def checkpoint_weight_bytes(quant: dict[str, Any]) -> float | None:
    """Bytes per weight a checkpoint's quantization_config states: its ``bits`` (GPTQ, AWQ),
    the ``num_bits`` of its weights (compressed-tensors), bitsandbytes' 8/4-bit switches; a
    16-bit scale and a 4-bit zero point per group of 128 for the sub-byte widths."""
    bits = quant.get("bits") or quant.get("w_bit")
    if not bits:
        for group in (quant.get("config_groups") or {}).values():
            bits = ((group or {}).get("weights") or {}).get("num_bits")
            if bits:
                break
    if quant.get("load_in_8bit"):
        bits = 8
    if quant.get("load_in_4bit"):
        bits = 4
    if not isinstance(bits, (int, float)) or isinstance(bits, bool) or bits <= 0:
        return None
    return bits / 8 + (2.5 / 128 if bits < 8 else 0)


def architecture(config: dict[str, Any] | ModelConfig) -> Architecture:
    """The sizing facts of a model's config, read once (:mod:`modelservice.model`: the keys
    config.json leaves out take transformers' class defaults); raises :class:`NotModelled`
    when it lacks them."""
    model = config if isinstance(config, ModelConfig) else ModelConfig(config)
    cfg = model.text
    hidden = _int(cfg, "hidden_size", "d_model", "n_embd")
    heads = _int(cfg, "num_attention_heads", "n_head")
    layers = _int(cfg, "num_hidden_layers", "n_layer", "num_layers")
    window = None if model.use_mla else model.sliding_window
    sliding = 0
    if window:
        types = model.layer_types
        sliding = sum(1 for t in types if t == "sliding_attention") if types else layers
    full = layers - sliding
    interleaved = bool(full and sliding)
    mla = None
    if model.use_mla:
        mla = (_int(cfg, "kv_lora_rank"), _int(cfg, "qk_rope_head_dim"))
    quant = model.quantization_config
    quant_bytes = checkpoint_weight_bytes(quant) if quant else None
    parameters, embedding = count_parameters(cfg)
    experts = expert_parameters(cfg)
    replicated = replicated_parameters(cfg)
    return Architecture(
        layers=_int(cfg, "num_hidden_layers", "n_layer", "num_layers"),
        hidden=hidden,
        heads=heads,
        kv_heads=model.kv_heads,
        head_dim=_int(cfg, "head_dim", default=hidden // heads) or hidden // heads,
        vocab=_int(cfg, "vocab_size"),
        dtype=_dtype_of(cfg),
        mla=mla,
        sliding_window=window if sliding else None,
        interleaved=interleaved,
        full_layers=full,
        sliding_layers=sliding,
        max_len=model.max_len,
        quantization=model.quantization,
        quant_bytes=quant_bytes,
        parameters=parameters,
        embedding_parameters=embedding,
        expert_parameters=experts,
        replicated_parameters=replicated,
        intermediate=_int(cfg, "intermediate_size", "ffn_dim", default=0),
    )


@dataclass(frozen=True)
class Settings:
    """What the rendered command line and the GPUs give the server."""

    gpu_memory: int  # bytes per GPU
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    dtype: str = "auto"
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    #: data-parallel engines of a replica; each holds the whole model (but the experts, with
    #: expert parallel)
    data_parallel: int = 1
    #: --enable-expert-parallel: the routed experts spread over tensor x data parallel ranks
    expert_parallel: bool = False
    #: --kv-cache-memory-bytes: the KV cache vLLM reserves per GPU, instead of what
    #: --gpu-memory-utilization leaves
    kv_cache_memory_bytes: int | None = None
    #: tokens scheduled but not yet freed: a sliding-window layer keeps them beside its
    #: window (vLLM's max_in_flight_tokens: two batches of --max-num-batched-tokens with
    #: asynchronous scheduling, its default on GPUs)
    in_flight_tokens: int = 2 * CHUNK_TOKENS
    #: LoRA slots (--max-loras when --enable-lora; 0: no LoRA) and their rank
    max_loras: int = 0
    max_lora_rank: int = 16
    #: the embedding modules vLLM's class of this architecture adapts too (``embed_tokens``,
    #: ``lm_head``: schemas/vllm/VERSION-config.json)
    lora_embeddings: tuple[str, ...] = ()


def served_dtype(arch: Architecture, dtype: str) -> str:
    """The dtype vLLM computes in: ``auto`` is the config's, float32 served as bfloat16."""
    if dtype in ("auto", "", None):
        return "bfloat16" if arch.dtype == "float32" else arch.dtype
    return DTYPE_NAMES.get(dtype, dtype)


def kv_heads_per_rank(arch: Architecture, tensor_parallel: int) -> int:
    """KV heads each tensor-parallel rank holds (latent attention: one latent vector)."""
    if arch.mla:
        return 1
    return max(1, arch.kv_heads // tensor_parallel)


def kv_head_size(arch: Architecture) -> int:
    return sum(arch.mla) if arch.mla else arch.head_dim


def layers_per_stage(arch: Architecture, pipeline_parallel: int) -> int:
    """Layers of the largest pipeline stage."""
    return math.ceil(arch.layers / pipeline_parallel)


def kv_bytes_per_token(arch: Architecture, settings: Settings) -> int:
    """KV cache bytes of one token on one GPU (its heads, its pipeline stage's layers)."""
    kv_dtype = settings.kv_cache_dtype
    if kv_dtype.startswith("fp8"):
        width = 1
    else:
        width = DTYPE_BYTES[served_dtype(arch, settings.dtype)]
    per_layer = kv_heads_per_rank(arch, settings.tensor_parallel) * kv_head_size(arch) * width
    per_layer *= 1 if arch.mla else 2
    return per_layer * layers_per_stage(arch, settings.pipeline_parallel)


def weight_bytes(arch: Architecture, settings: Settings) -> int:
    """Bytes of the weights on one GPU: embeddings in the served dtype, the rest in the
    quantization's width (the checkpoint's own quantization_config wins over --quantization,
    as vLLM's does), split over tensor x pipeline ranks but for what every tensor rank holds
    whole (norms, routers, latent attention's low-rank projections); with expert parallel,
    the routed experts over tensor x data parallel ranks instead (each data-parallel engine
    holds the rest of the model whole)."""
    width = DTYPE_BYTES[served_dtype(arch, settings.dtype)]
    method = arch.quantization or settings.quantization
    if arch.quantization and arch.quant_bytes:
        per_weight = arch.quant_bytes
    else:
        per_weight = QUANT_BYTES.get(method, width) if method else width
    replicated = arch.replicated_parameters
    linear = arch.parameters - arch.embedding_parameters - arch.expert_parameters - replicated
    stage = settings.tensor_parallel * settings.pipeline_parallel
    experts = arch.expert_parameters * per_weight / stage
    if settings.expert_parallel:
        experts /= max(settings.data_parallel, 1)
    dense = (arch.embedding_parameters * width + linear * per_weight) / stage
    whole = replicated * per_weight / settings.pipeline_parallel
    return int(dense + experts + whole)


def lora_bytes(arch: Architecture, settings: Settings) -> int | None:
    """GPU memory of the LoRA slots on one GPU, as vLLM allocates them: for each slot and each
    linear layer of the stage, an A (rank x its input) and a B (its output x rank) buffer per
    slice, in the served dtype; the inputs of row-parallel layers and the outputs of column-
    parallel ones split over tensor ranks. None when the model is not a dense grouped-query one
    (latent attention, experts): not modelled."""
    if not settings.max_loras:
        return 0
    if arch.mla or arch.expert_parameters or not arch.intermediate:
        return None
    tp = settings.tensor_parallel
    hidden = arch.hidden
    q = arch.heads * arch.head_dim // tp
    kv = kv_heads_per_rank(arch, tp) * arch.head_dim
    inner = arch.intermediate // tp
    # qkv (3 slices) and gate_up (2) read the whole hidden state; o and down read their shard
    per_layer = (3 * hidden + q + 2 * kv) + (q + hidden) + (2 * hidden + 2 * inner)
    per_layer += inner + hidden
    width = DTYPE_BYTES[served_dtype(arch, settings.dtype)]
    layers = layers_per_stage(arch, settings.pipeline_parallel)
    # the input embedding and the output layer: vocabulary x rank and rank x hidden, whole on
    # every rank
    embeddings = len(set(settings.lora_embeddings) & {"embed_tokens", "lm_head"})
    per_slot = per_layer * layers + embeddings * (arch.vocab + hidden)
    return settings.max_loras * settings.max_lora_rank * per_slot * width


@dataclass
class Estimate:
    """The answer of ``plan`` for one configuration."""

    weights_per_gpu: int
    overhead_per_gpu: int
    budget_per_gpu: int
    kv_budget_per_gpu: int
    kv_bytes_per_token: int
    tokens: int
    max_model_len: int
    tokens_per_sequence: int
    max_sequences: int
    fits: bool
    reason: str
    notes: list[str] = field(default_factory=list)
    #: blocks of vLLM's KV cache pool, and the blocks one full-length request holds
    num_blocks: int = 0
    blocks_per_request: int = 0
    #: the LoRA slots' buffers on one GPU
    lora_per_gpu: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KvLayout:
    """How vLLM's KV cache manager groups one GPU's attention layers: groups of
    ``group_size`` layers of one kind, each group with its own block table over one shared
    pool of blocks (a block holds 16 tokens of ``group_size`` layers)."""

    group_size: int
    full_groups: int
    sliding_groups: int


def kv_layout(arch: Architecture, pipeline_parallel: int = 1) -> KvLayout:
    """vLLM's grouping (``_get_kv_cache_groups_uniform_page_size``): the group size is the
    smaller layer count, or the larger one when it is under 1.5 times the smaller."""
    full = math.ceil(arch.full_layers / pipeline_parallel) if arch.full_layers else 0
    sliding = math.ceil(arch.sliding_layers / pipeline_parallel) if arch.sliding_layers else 0
    if not full and not sliding:
        full = layers_per_stage(arch, pipeline_parallel)
    counts = [c for c in (full, sliding) if c]
    size = min(counts)
    if max(counts) < size * 1.5:
        size = max(counts)
    return KvLayout(size, -(-full // size) if full else 0, -(-sliding // size) if sliding else 0)


def blocks_per_request(arch: Architecture, layout: KvLayout, length: int, in_flight: int) -> int:
    """Blocks one request of ``length`` tokens holds, over every group: all its tokens in a
    full-attention group; in a sliding-window group the window (less one) plus the in-flight
    tokens, never more than the request, and one block more, since the window may start
    mid-block (vLLM's SlidingWindowSpec)."""
    blocks = layout.full_groups * -(-length // BLOCK_TOKENS)
    if layout.sliding_groups and arch.sliding_window:
        kept = min(arch.sliding_window - 1 + in_flight, length)
        blocks += layout.sliding_groups * (-(-kept // BLOCK_TOKENS) + 1)
    return blocks


def estimate(arch: Architecture, settings: Settings) -> Estimate:
    """Weights, KV budget and capacity per GPU, and whether vLLM would start, counted as
    vLLM's KV cache manager counts blocks (one pool shared by the groups of layers; a
    sliding-window layer keeps its window, not the whole sequence)."""
    weights = weight_bytes(arch, settings)
    lora = lora_bytes(arch, settings)
    overhead = int(OVERHEAD_GIB * GIB)
    budget = int(settings.gpu_memory * settings.gpu_memory_utilization)
    kv_budget = budget - weights - (lora or 0) - overhead
    if settings.kv_cache_memory_bytes:  # vLLM reserves this, whatever the utilization leaves
        kv_budget = settings.kv_cache_memory_bytes
        budget = weights + (lora or 0) + overhead + kv_budget
    per_token = kv_bytes_per_token(arch, settings)
    layout = kv_layout(arch, settings.pipeline_parallel)
    stage_layers = max(layers_per_stage(arch, settings.pipeline_parallel), 1)
    block_bytes = per_token // stage_layers * BLOCK_TOKENS * layout.group_size
    num_blocks = max(0, kv_budget) // block_bytes if block_bytes else 0
    groups = layout.full_groups + layout.sliding_groups
    tokens = num_blocks * BLOCK_TOKENS * layout.group_size * groups // stage_layers
    context = settings.max_model_len or arch.max_len or 0
    per_request = blocks_per_request(arch, layout, context, settings.in_flight_tokens)
    per_sequence = per_request * BLOCK_TOKENS * layout.group_size // stage_layers
    notes: list[str] = []
    if lora is None:
        notes.append("LoRA slots of latent-attention or mixture-of-experts models: not counted")
    elif lora:
        notes.append(
            f"{settings.max_loras} LoRA slots of rank {settings.max_lora_rank}: "
            f"{lora / GIB:.2f} GiB per GPU"
        )
    if layout.sliding_groups and arch.sliding_window:
        notes.append(
            f"a sliding-window layer keeps its last {arch.sliding_window} tokens plus "
            f"{settings.in_flight_tokens} in flight and one block, not the whole sequence "
            f"(vLLM's hybrid KV cache manager: {layout.full_groups} full and "
            f"{layout.sliding_groups} sliding groups of {layout.group_size} layers)"
        )
    sequences = num_blocks // per_request if per_request else 0
    if kv_budget <= 0:
        fits, reason = False, "the weights and overhead exceed the memory vLLM may use"
    elif num_blocks < per_request:
        fits, reason = (
            False,
            f"the KV cache holds {num_blocks} blocks, fewer than one sequence of "
            f"{context} tokens needs ({per_request}): vLLM refuses to start",
        )
    else:
        fits, reason = True, "fits"
    return Estimate(
        weights_per_gpu=weights,
        overhead_per_gpu=overhead,
        budget_per_gpu=budget,
        kv_budget_per_gpu=max(0, kv_budget),
        kv_bytes_per_token=per_token,
        tokens=tokens,
        max_model_len=context,
        tokens_per_sequence=per_sequence,
        max_sequences=sequences,
        fits=fits,
        reason=reason,
        notes=notes,
        num_blocks=num_blocks,
        blocks_per_request=per_request,
        lora_per_gpu=lora or 0,
    )


def smallest_fit(
    arch: Architecture, settings: Settings, *, gpus_per_node: int = 8, max_nodes: int = 16
) -> tuple[int, int] | None:
    """The smallest (tensor parallel, pipeline parallel) that fits with these GPUs: tensor
    parallel within a node (a divisor of the attention heads), then whole nodes of pipeline
    stages. None when even ``max_nodes`` nodes do not fit."""
    candidates: list[tuple[int, int]] = []
    tp = 1
    while tp <= gpus_per_node:
        if arch.heads % tp == 0:
            candidates.append((tp, 1))
        tp *= 2
    widest = max(t for t, _ in candidates)
    candidates += [(widest, pp) for pp in range(2, max_nodes + 1)]
    for tp, pp in candidates:
        if tp * pp < settings.tensor_parallel * settings.pipeline_parallel:
            continue
        trial = Settings(**{**asdict(settings), "tensor_parallel": tp, "pipeline_parallel": pp})
        if estimate(arch, trial).fits:
            return tp, pp
    return None


def largest_context(arch: Architecture, settings: Settings) -> int:
    """The longest --max-model-len whose one request the KV cache holds as configured (0 when
    the weights alone do not fit; the model's own maximum when every layer has a window)."""
    found = estimate(arch, settings)
    if found.kv_budget_per_gpu <= 0:
        return 0
    layout = kv_layout(arch, settings.pipeline_parallel)
    limit = arch.max_len or 0
    if not layout.full_groups:
        return limit
    low, high = 0, limit or found.num_blocks * BLOCK_TOKENS
    while low < high:  # the request's blocks grow with its length: bisect
        middle = (low + high + 1) // 2
        if blocks_per_request(arch, layout, middle, settings.in_flight_tokens) <= found.num_blocks:
            low = middle
        else:
            high = middle - 1
    return low
