"""``modelservice plan``: will this model fit these GPUs with this context length?

The values file is validated and rendered first; what the server gets is read off the
rendered command line (tensor and pipeline parallel sizes, ``--max-model-len``,
``--gpu-memory-utilization``, ``--dtype``, ``--quantization``, ``--kv-cache-dtype``), never
recomputed from the values. The model's config.json comes from :mod:`.sources`, the GPU's
memory from ``--gpu``/``--gpu-memory``, the vGPU slice (``vgpu.memoryMiB``) or a node selector
pinning a GPU product; :mod:`.sizing` does the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import InvalidValues, UserError
from ..core.tree import get
from ..model import ModelConfig, read_model, sources
from . import tables
from .coldstart import ColdStart
from .server import (
    GpuMemory,
    ServerFacts,
    gpu_from_options,
    gpu_from_values,
    server_facts,
    settings_for,
)
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
    cold_start: ColdStart | None = None

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
                "quantization": self.arch.quantization or self.settings.quantization,
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
            "cold_start": None if self.cold_start is None else self.cold_start.as_dict(),
            "notes": [*self.notes, *self.result.notes],
        }


def load_config(
    merged: dict[str, Any], facts: ServerFacts, *, config: str | None, offline: bool
) -> tuple[ModelConfig, list[str]]:
    """The model's config (the one reading, :mod:`modelservice.model`) and notes on where it
    came from; a user error when no source has it."""
    reading = read_model(merged, facts.model, config=config, offline=offline)
    if reading.config is None:
        raise UserError(reading.origin)
    return reading.config, reading.notes


def plan_file(
    file: str,
    chart: Path,
    *,
    gpu: str | None = None,
    gpu_memory: str | None = None,
    config: str | None = None,
    offline: bool = False,
    bandwidth: str | None = None,
    disk_speed: str | None = None,
) -> Plan:
    """Validate and render ``file``, then estimate its server's memory (and, with a bandwidth,
    its cold start)."""
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
    chosen = gpu_from_options(gpu, gpu_memory) or gpu_from_values(merged, facts)
    if chosen is None:
        raise UserError(
            f"{file}: which GPU? The values pin no GPU product (nodeSelector "
            "nvidia.com/gpu.product) and no vGPU memory: give --gpu NAME or --gpu-memory SIZE"
        )
    loaded, notes = load_config(merged, facts, config=config, offline=offline)
    try:
        arch = architecture(loaded)
    except NotModelled as exc:
        raise UserError(f"{loaded.origin}: cannot size this model: {exc}") from None
    settings = settings_for(facts, chosen, loaded.architectures)
    result = estimate(arch, settings)
    if facts.kv_offloading_gib:
        notes.append(
            f"--kv-offloading-size: up to {facts.kv_offloading_gib:g} GiB of the KV cache "
            "spills to CPU memory (resources.limits.memory must hold it); not counted here"
        )
    if settings.kv_cache_memory_bytes:
        notes.append(
            f"--kv-cache-memory-bytes: vLLM reserves {_gib(settings.kv_cache_memory_bytes)} "
            "per GPU for the KV cache, whatever --gpu-memory-utilization leaves"
        )
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
    if bandwidth:
        found.cold_start = cold_start(
            validated.context, bandwidth, disk_speed, offline=offline, notes=found.notes
        )
    return found


def cold_start(
    ctx: Any, bandwidth: str, disk_speed: str | None, *, offline: bool, notes: list[str]
) -> ColdStart:
    """The cold start of the rendered release: the bytes its init container (or the kubelet,
    for an image volume) fetches, from the hub's file list or the registry's manifest, else
    the table's parameter count."""
    from .coldstart import (
        ModelBytes,
        estimate,
        from_hub,
        from_registry,
        from_table_entry,
    )

    merged = ctx.merged
    source = str(get(merged, ("model", "source")) or "huggingface")
    name = str(get(merged, ("model", "name")) or "")
    known = tables.known_model(name)
    model: ModelBytes | None = None
    problem = ""
    if not offline and source in ("huggingface", "modelscope"):
        hub = "modelscope" if source == "modelscope" else "huggingface"
        init = next(
            (c for p in ctx.release.server_pods for c in p.containers() if c.name == "download"),
            None,
        )
        found = init.download_patterns if init is not None else ([], [])
        include, exclude = [p for _, p in found[0]], [p for _, p in found[1]]
        try:
            model = from_hub(
                source,
                str(get(merged, (hub, "endpoint")) or "") or None,
                name,
                str(get(merged, ("model", "revision")) or "") or None,
                sources.token_for(source),
                include,
                exclude,
            )
        except sources.HubUnreachable as exc:
            problem = f"the hub is unreachable ({exc})"
    elif not offline and source == "oci":
        try:
            model = from_registry(
                str(get(merged, ("model", "oci", "reference"))),
                bool(get(merged, ("model", "oci", "plainHTTP"))),
            )
        except UserError as exc:
            problem = f"the registry did not answer ({exc.message})"
    if model is None and known:
        model = from_table_entry(known.config, known.parameters, known.name)
        if problem:
            notes.append(f"cold start: {problem}: bytes from the table of known models")
    if model is None:
        raise UserError(
            f"--bandwidth: cannot tell how many bytes {name or 'the model'} is "
            f"({problem or 'not in the table of known models'})"
        )
    if source == "local":
        model = ModelBytes(model.bytes, model.origin, model.files, fetched=False)
    expected = get(merged, ("coldStart", "expectedSeconds"))
    return estimate(model, bandwidth, disk_speed, expected_seconds=expected)


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
    quant = a.quantization or s.quantization
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
        f"  weights per GPU  {_gib(r.weights_per_gpu)}"
        + (f" (+ {_gib(r.lora_per_gpu)} of LoRA slots)" if r.lora_per_gpu else ""),
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
    if plan.cold_start is not None:
        c = plan.cold_start
        lines.append(f"  cold start       {c.total_seconds:.0f} s: {c.inputs()}")
        if c.expected_seconds is not None:
            verdict = (
                f"coldStart.expectedSeconds {c.expected_seconds} covers it"
                if c.expected_seconds >= c.total_seconds
                else f"coldStart.expectedSeconds {c.expected_seconds} is shorter: set it to "
                f"{math.ceil(c.total_seconds)} or more (the HTTP add-on holds requests that long)"
            )
            lines.append(f"  expected         {verdict}")
    lines.extend(f"  note             {n}" for n in (*plan.notes, *r.notes))
    return "\n".join(lines)
