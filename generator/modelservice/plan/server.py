"""What the rendered server asks of a GPU: its settings read off the rendered command line
(tensor and pipeline parallel sizes, ``--max-model-len``, ``--gpu-memory-utilization``,
``--dtype``, ``--quantization``, ``--kv-cache-dtype``) by the one reader of the release, never
recomputed from the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..release import Server
from .gpu import GpuMemory
from .sizing import Settings

Path_ = tuple[str | int, ...]


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
        arg_index={g.name: g.flag_at for g in args.given},
        obj=server.obj,
        where=server.container.path,
        node_selector=dict(server.pod.spec.get("nodeSelector") or {}),
    )


def settings_for(facts: ServerFacts, gpu: GpuMemory) -> Settings:
    return Settings(
        gpu_memory=gpu.bytes,
        tensor_parallel=facts.tensor_parallel,
        pipeline_parallel=facts.pipeline_parallel,
        gpu_memory_utilization=facts.gpu_memory_utilization,
        max_model_len=facts.max_model_len,
        dtype=facts.dtype,
        quantization=facts.quantization,
        kv_cache_dtype=facts.kv_cache_dtype,
    )
