"""``modelservice plan``: will this model fit these GPUs with this context length?

The values file is validated and rendered first; what the server gets is read off the
rendered command line (tensor and pipeline parallel sizes, ``--max-model-len``,
``--gpu-memory-utilization``, ``--dtype``, ``--quantization``, ``--kv-cache-dtype``), never
recomputed from the values. The model's config.json comes from :mod:`.sources`, the GPU's
memory from ``--gpu``/``--gpu-memory``, the vGPU slice (``vgpu.memoryMiB``) or a node selector
pinning a GPU product; :mod:`.sizing` does the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import InvalidValues, UserError
from ..core.tree import get
from . import sources
from .gpu import GpuMemory, gpu_from_options, gpu_from_values
from .server import ServerFacts, server_facts, settings_for
from .sizing import (
    GIB,
    OVERHEAD_GIB,
    Architecture,
    Estimate,
    NotModelled,
    Settings,
    architecture,
    estimate,
    kv_head_size,
    kv_heads_per_rank,
    largest_context,
    served_dtype,
    smallest_fit,
)


@dataclass
class Plan:
    """The answer for one values file."""

    file: str
    model: str
    config_origin: str
    gpu: GpuMemory
    facts: ServerFacts
    arch: Architecture
    settings: Settings
    result: Estimate
    suggestion: tuple[int, int] | None = None
    largest_context: int | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "model": self.model,
            "config": self.config_origin,
            "gpu": {"name": self.gpu.name, "memory_bytes": self.gpu.bytes, "from": self.gpu.how},
            "architecture": {
                "layers": self.arch.layers,
                "kv_heads": self.arch.kv_heads,
                "kv_heads_per_rank": kv_heads_per_rank(self.arch, self.settings.tensor_parallel),
                "head_size": kv_head_size(self.arch),
                "attention": self.arch.kind,
                "sliding_window": self.arch.sliding_window,
                "mla": self.arch.mla is not None,
                "parameters": self.arch.parameters,
                "dtype": served_dtype(self.arch, self.settings.dtype),
                "quantization": self.settings.quantization or self.arch.quantization,
            },
            "tensor_parallel": self.settings.tensor_parallel,
            "pipeline_parallel": self.settings.pipeline_parallel,
            "gpu_memory_utilization": self.settings.gpu_memory_utilization,
            **self.result.as_dict(),
            "suggestion": (
                None
                if self.suggestion is None
                else {
                    "tensor_parallel": self.suggestion[0],
                    "pipeline_parallel": self.suggestion[1],
                }
            ),
            "largest_context": self.largest_context,
            "notes": [*self.notes, *self.result.notes],
        }


def load_config(
    merged: dict[str, Any], facts: ServerFacts, *, config: str | None, offline: bool
) -> tuple[sources.Config, list[str]]:
    """The model's config.json (see :mod:`.sources`) and notes on where it came from."""
    if config:
        return sources.from_folder(Path(config)), []
    source = str(get(merged, ("model", "source")) or "huggingface")
    if source == "local":
        path = Path(str(get(merged, ("model", "path")) or facts.model))
        if path.exists():
            return sources.from_folder(path), []
        raise UserError(
            f"model.path {str(path)!r} is a path inside the container, not on this machine: "
            "give the model folder (or its config.json) with --config"
        )
    repo = str(get(merged, ("model", "name")) or facts.model)
    known = sources.from_table(repo)
    if offline:
        if known is None:
            raise UserError(
                f"{repo} is not in the table of known models; without --offline plan reads its "
                "config.json from the hub, or give it with --config"
            )
        return known, []
    endpoint_key = "modelscope" if source == "modelscope" else "huggingface"
    endpoint = str(get(merged, (endpoint_key, "endpoint")) or "") or None
    revision = str(get(merged, ("model", "revision")) or "") or None
    try:
        return (
            sources.from_hub(source, endpoint, repo, revision, sources.token_for(source)),
            [],
        )
    except sources.HubUnreachable as exc:
        if known is None:
            raise UserError(
                f"cannot reach the hub ({exc}) and {repo} is not in the table of known models: "
                "give its config.json with --config"
            ) from None
        return known, [f"the hub is unreachable ({exc}): numbers from the table of known models"]


def plan_file(
    file: str,
    chart: Path,
    *,
    gpu: str | None = None,
    gpu_memory: str | None = None,
    config: str | None = None,
    offline: bool = False,
) -> Plan:
    """Validate and render ``file``, then estimate its server's memory."""
    from ..core.problem import has_errors
    from ..validate import validate_file

    validated = validate_file(file, chart)
    if has_errors(validated.problems) or validated.context is None:
        errors = [p for p in validated.problems if p.severity == "error"]
        raise InvalidValues(errors or validated.problems)
    merged = validated.context.merged
    server = validated.context.release.server
    if server is None:
        raise UserError(f"{file}: the rendered release runs no `vllm serve`: nothing to size")
    facts = server_facts(server)
    chosen = gpu_from_options(gpu, gpu_memory) or gpu_from_values(merged, facts.node_selector)
    if chosen is None:
        raise UserError(
            f"{file}: which GPU? The values pin no GPU product (nodeSelector "
            "nvidia.com/gpu.product) and no vGPU memory: give --gpu NAME or --gpu-memory SIZE"
        )
    loaded, notes = load_config(merged, facts, config=config, offline=offline)
    try:
        arch = architecture(loaded.data)
    except NotModelled as exc:
        raise UserError(f"{loaded.origin}: cannot size this model: {exc}") from None
    settings = settings_for(facts, chosen)
    result = estimate(arch, settings)
    found = Plan(
        file=file,
        model=facts.model,
        config_origin=loaded.origin,
        gpu=chosen,
        facts=facts,
        arch=arch,
        settings=settings,
        result=result,
        notes=notes,
    )
    if not result.fits:
        found.suggestion = smallest_fit(arch, settings)
        found.largest_context = largest_context(arch, settings)
    return found


def _gib(size: int) -> str:
    return f"{size / GIB:.1f} GiB"


def format_text(plan: Plan) -> str:
    """The human report."""
    a, s, r = plan.arch, plan.settings, plan.result
    heads = kv_heads_per_rank(a, s.tensor_parallel)
    gpus = s.tensor_parallel * s.pipeline_parallel
    attention = (
        f"latent {kv_head_size(a)} per layer ({a.kind})"
        if a.mla
        else f"{a.kv_heads} KV heads x {a.head_dim} ({a.kind}); {heads} per GPU"
    )
    quant = s.quantization or a.quantization
    dtype = served_dtype(a, s.dtype) + (f", {quant} weights" if quant else "")
    lines = [
        f"{plan.file}: {plan.model}",
        f"  config           {plan.config_origin}",
        f"  architecture     {a.parameters / 1e9:.2f} B parameters, {a.layers} layers, {attention}",
        f"  dtype            {dtype}; KV cache {s.kv_cache_dtype}",
        f"  GPUs             {gpus} x {plan.gpu.name} ({_gib(plan.gpu.bytes)}, "
        f"from {plan.gpu.how}); "
        f"tensor parallel {s.tensor_parallel}, pipeline parallel {s.pipeline_parallel}",
        f"  usable per GPU   {_gib(r.budget_per_gpu)} (--gpu-memory-utilization "
        f"{s.gpu_memory_utilization:g})",
        f"  weights per GPU  {_gib(r.weights_per_gpu)}",
        f"  overhead         {OVERHEAD_GIB:.1f} GiB per GPU (CUDA context, CUDA graphs, "
        "activations: a stated margin)",
        f"  KV cache         {_gib(r.kv_budget_per_gpu)} per GPU, {r.kv_bytes_per_token:,} bytes "
        f"per token -> {r.tokens:,} tokens",
        f"  context          {r.max_model_len:,} tokens"
        f" ({'--max-model-len' if s.max_model_len else 'the model maximum'})"
        f" -> {r.max_sequences:,} sequences at full length",
    ]
    verdict = "fits" if r.fits else f"does not fit: {r.reason}"
    lines.append(f"  verdict          {verdict}")
    if not r.fits:
        if plan.suggestion:
            tp, pp = plan.suggestion
            if pp == 1:
                lines.append(
                    f"  smallest fit     tensor parallel {tp} (gpu.count: {tp} of these GPUs)"
                )
            else:
                lines.append(
                    f"  smallest fit     {pp} nodes of {tp} GPUs (multiNode.nodes: {pp}, "
                    f"tensor parallel {tp}, pipeline parallel {pp})"
                )
        else:
            lines.append("  smallest fit     none within 16 nodes of 8 of these GPUs")
        if plan.largest_context:
            lines.append(
                f"  largest context  --max-model-len={plan.largest_context} fits as configured"
            )
    lines.extend(f"  note             {n}" for n in (*plan.notes, *r.notes))
    return "\n".join(lines)
