"""What the rendered server asks of a GPU: its settings read off the rendered command line
(tensor and pipeline parallel sizes, ``--max-model-len``, ``--gpu-memory-utilization``,
``--dtype``, ``--quantization``, ``--kv-cache-dtype``) by the one reader of the release, never
recomputed from the values; and the GPU memory the values (or options) give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import UserError
from ..core.tree import get
from ..release import Server
from . import tables
from .sizing import Settings

Path_ = tuple[str | int, ...]
PRODUCT_LABELS = ("nvidia.com/gpu.product", "amd.com/gpu.product-name")


@dataclass
class ServerFacts:
    """What the rendered release gives the vLLM server."""

    model: str
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    dtype: str = "auto"
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    data_parallel: int = 1
    expert_parallel: bool = False
    kv_cache_memory_bytes: int | None = None
    #: --kv-offloading-size: GiB of CPU memory the KV cache spills to
    kv_offloading_gib: float | None = None
    max_num_batched_tokens: int | None = None
    #: LoRA slots (0 without --enable-lora) and their rank
    max_loras: int = 0
    max_lora_rank: int = 16
    #: the vLLM release whose data the server is read with
    vllm_version: str = ""
    #: index in the rendered args of each flag found there
    arg_index: dict[str, int] = field(default_factory=dict)
    #: the rendered object and the path of the server container
    obj: dict[str, Any] | None = None
    where: Path_ = ()
    node_selector: dict[str, Any] = field(default_factory=dict)


def server_facts(server: Server) -> ServerFacts:
    """The server's settings as rendered, read by the one reader of the release (a flag's
    default from the pinned release's flag data where the command line leaves it out)."""
    args = server.args
    parallel = server.parallel
    utilization = args.number("--gpu-memory-utilization", 0.9)
    length = args.number("--max-model-len")
    quantization = args.value("--quantization")
    return ServerFacts(
        model=server.model,
        tensor_parallel=parallel.tensor,
        pipeline_parallel=parallel.pipeline,
        gpu_memory_utilization=float(utilization),
        max_model_len=int(length) if isinstance(length, int) and length > 0 else None,
        dtype=args.value("--dtype") or "auto",
        quantization=quantization if quantization and quantization.lower() != "none" else None,
        kv_cache_dtype=args.value("--kv-cache-dtype") or "auto",
        data_parallel=parallel.data,
        expert_parallel=args.active("--enable-expert-parallel"),
        kv_cache_memory_bytes=_positive(args.number("--kv-cache-memory-bytes")),
        kv_offloading_gib=_positive(args.number("--kv-offloading-size")),
        max_num_batched_tokens=_positive(args.number("--max-num-batched-tokens")),
        max_loras=int(args.number("--max-loras", 1)) if args.active("--enable-lora") else 0,
        max_lora_rank=int(args.number("--max-lora-rank", 16)),
        vllm_version=args.index.version,
        arg_index={g.name: g.flag_at for g in args.given},
        obj=server.obj,
        where=server.container.path,
        node_selector=dict(server.pod.spec.get("nodeSelector") or {}),
    )


def _positive(value: Any) -> Any:
    return value if isinstance(value, int | float) and value > 0 else None


@dataclass(frozen=True)
class GpuMemory:
    bytes: int
    name: str
    #: how the GPU was chosen, for the report
    how: str
    #: the values key that chose it, when the values file did
    values_path: Path_ | None = None


def gpu_from_values(merged: dict[str, Any], facts: ServerFacts) -> GpuMemory | None:
    """The GPU memory the values imply: a vGPU slice's memory, or a node selector pinning a GPU
    product of the table. None when the values do not say."""
    if get(merged, ("vgpu", "enabled")) and get(merged, ("vgpu", "memoryMiB")):
        mib = int(get(merged, ("vgpu", "memoryMiB")))
        return GpuMemory(
            mib * 1024**2, f"{mib} MiB vGPU slice", "vgpu.memoryMiB", ("vgpu", "memoryMiB")
        )
    for label in PRODUCT_LABELS:
        product = facts.node_selector.get(label)
        gpu = tables.gpu_of_product(str(product)) if product else None
        if gpu is not None:
            return GpuMemory(
                gpu.memory, gpu.name, f"nodeSelector {label}={product}", ("nodeSelector", label)
            )
    return None


def gpu_from_options(gpu: str | None, gpu_memory: str | None) -> GpuMemory | None:
    if gpu_memory:
        size = tables.parse_size(gpu_memory)
        if not size:
            raise UserError(f"--gpu-memory {gpu_memory!r}: give a size such as 80GiB or 24GB")
        return GpuMemory(size, gpu_memory, "--gpu-memory")
    if gpu:
        found = tables.gpu_named(gpu)
        if found is None:
            names = ", ".join(g.name for g in tables.gpus())
            raise UserError(
                f"--gpu {gpu!r}: not a GPU of the table ({names}); or give --gpu-memory"
            )
        told = "the driver's total" if found.reported == "driver" else "its datasheet"
        return GpuMemory(found.memory, found.name, f"--gpu ({told})")
    return None


def lora_embeddings(version: str, architectures: list[str]) -> tuple[str, ...]:
    """The embedding modules vLLM's class of the model adapts with LoRA (its data)."""
    from ..checks.engine_config import config_rules

    table = config_rules(version).get("lora_embedding_modules") or {}
    return tuple(next((table[a] for a in architectures if a in table), []))


def settings_for(
    facts: ServerFacts, gpu: GpuMemory, architectures: list[str] | None = None
) -> Settings:
    return Settings(
        lora_embeddings=lora_embeddings(facts.vllm_version, architectures or []),
        gpu_memory=gpu.bytes,
        tensor_parallel=facts.tensor_parallel,
        pipeline_parallel=facts.pipeline_parallel,
        gpu_memory_utilization=facts.gpu_memory_utilization,
        max_model_len=facts.max_model_len,
        dtype=facts.dtype,
        quantization=facts.quantization,
        kv_cache_dtype=facts.kv_cache_dtype,
        data_parallel=facts.data_parallel,
        expert_parallel=facts.expert_parallel,
        kv_cache_memory_bytes=facts.kv_cache_memory_bytes,
        max_loras=facts.max_loras,
        max_lora_rank=facts.max_lora_rank,
        **(
            {"in_flight_tokens": 2 * int(facts.max_num_batched_tokens)}
            if facts.max_num_batched_tokens
            else {}
        ),
    )
