"""validate's warning that a known model clearly cannot fit the GPUs the values give.

Runs on the rendered release (tensor and pipeline parallel sizes, ``--max-model-len``,
``--gpu-memory-utilization`` and friends as the chart renders them) when both facts are known
offline: the model is in ``plan``'s table of known models (``schemas/plan/models.yaml``) and the
values say how much memory a GPU has (``vgpu.memoryMiB``, or a node selector pinning a GPU
product of ``schemas/plan/gpus.yaml``). The arithmetic is ``modelservice plan``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core.problem import Problem
from .values.loader import has_path, value_at

if TYPE_CHECKING:
    from .validate import Context


def check(ctx: Context) -> list[Problem]:
    """``model-does-not-fit`` / ``max-model-len-does-not-fit`` warnings."""
    from .core.errors import UserError
    from .plan import gpu_from_values, server_facts, settings_for
    from .plan.sizing import GIB, NotModelled, architecture, estimate, smallest_fit
    from .plan.tables import known_model

    if ctx.rendered is None or value_at(ctx.merged, ("model", "source")) == "local":
        return []
    known = known_model(str(value_at(ctx.merged, ("model", "name")) or ""))
    if known is None:
        return []
    try:
        facts = server_facts(ctx.rendered.objects(), ctx.merged, ctx.chart)
        arch = architecture(known.config)
    except (NotModelled, UserError):  # nothing to say where the release has no server
        return []
    gpu = gpu_from_values(ctx.merged, facts)
    if gpu is None:
        return []
    settings = settings_for(facts, gpu)
    found = estimate(arch, settings)
    if found.fits:
        return []
    gpus = settings.tensor_parallel * settings.pipeline_parallel
    bigger = smallest_fit(arch, settings)
    advice = ""
    if bigger and bigger[1] == 1:
        advice = f"; tensor parallel {bigger[0]} (gpu.count: {bigger[0]}) fits"
    elif bigger:
        advice = f"; {bigger[1]} nodes of {bigger[0]} GPUs fit"
    where = f"{gpus} x {gpu.name} ({gpu.bytes / GIB:.1f} GiB)"
    if found.kv_budget_per_gpu <= 0:
        path = ("gpu", "count") if has_path(ctx.values, ("gpu", "count")) else gpu.values_path
        return [
            ctx.problem(
                path or ("gpu", "count"),
                f"{known.name} needs {found.weights_per_gpu / GIB:.1f} GiB of weights per GPU "
                f"on {where}, and vLLM may use {found.budget_per_gpu / GIB:.1f} GiB of each "
                f"(--gpu-memory-utilization {settings.gpu_memory_utilization:g}) with about "
                f"{found.overhead_per_gpu / GIB:.0f} GiB of it for activations and CUDA graphs: "
                f"the server would not start{advice} (see `modelservice plan`)",
                "model-does-not-fit",
                severity="warning",
            )
        ]
    from .rendered_checks import ValuesMap

    path: tuple[str | int, ...] = ("model", "name")
    index = facts.arg_index.get("--max-model-len")
    if index is not None and facts.obj is not None:
        mapped = ValuesMap.of_chart(ctx.chart).values_path(
            ctx, facts.obj, (*facts.where, "args", index)
        )
        if has_path(ctx.values, mapped):
            path = mapped
    told = "--max-model-len" if settings.max_model_len else "the model's full context"
    return [
        ctx.problem(
            path,
            f"{told} of {found.max_model_len} tokens does not fit the KV cache on {where}: "
            f"{found.kv_budget_per_gpu / GIB:.1f} GiB per GPU is left after the weights, "
            f"{found.tokens} tokens at {found.kv_bytes_per_token} bytes each, and vLLM refuses "
            f"to start without room for one full sequence: set --max-model-len={found.tokens} "
            f"or less{advice} (see `modelservice plan`)",
            "max-model-len-does-not-fit",
            severity="warning",
        )
    ]
