"""Whether a known model clearly cannot fit the GPUs the values give: ``plan``'s arithmetic.

Runs on the rendered server (parallel sizes, ``--max-model-len``, ``--gpu-memory-utilization``
and friends as the chart renders them) when both facts are known offline: the model is in
``plan``'s table of known models (``schemas/plan/models.yaml``) and the values say how much
memory a GPU has (``vgpu.memoryMiB``, or a node selector pinning a GPU product of
``schemas/plan/gpus.yaml``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..core.rules import rule
from .context import check

if TYPE_CHECKING:
    from .context import Context

MODEL_DOES_NOT_FIT = rule(
    "model-does-not-fit",
    "warning",
    "model",
    "A model of `plan`'s table whose weights per GPU (after tensor x pipeline parallel) exceed "
    "what vLLM may use of the GPU the values give (vgpu.memoryMiB, or a nodeSelector on "
    "nvidia.com/gpu.product): the server would not start. The message gives a parallel size "
    "that fits (see `modelservice plan`).",
)
MAX_MODEL_LEN_DOES_NOT_FIT = rule(
    "max-model-len-does-not-fit",
    "warning",
    "model",
    "The weights fit, but the KV cache left cannot hold one sequence of --max-model-len (or "
    "of the model's full context): vLLM refuses to start. The message gives the longest "
    "context that fits.",
)


@check("model", MODEL_DOES_NOT_FIT, MAX_MODEL_LEN_DOES_NOT_FIT)
def fits(ctx: Context) -> list[Problem]:
    """``model-does-not-fit`` / ``max-model-len-does-not-fit`` warnings."""
    from ..plan.gpu import gpu_from_values

    server = ctx.release.server
    if server is None or ctx.value(("model", "source")) == "local":
        return []
    gpu = gpu_from_values(ctx.merged, server.pod.spec.get("nodeSelector") or {})
    if gpu is None:
        return []
    from ..plan.tables import known_model

    known = known_model(str(ctx.value(("model", "name")) or ""))
    if known is None:
        return []
    # plan's arithmetic, imported only when the model and the GPU are both known
    from ..plan.server import server_facts, settings_for
    from ..plan.sizing import GIB, NotModelled, architecture, estimate, smallest_fit

    try:
        arch = architecture(known.config)
    except NotModelled:
        return []
    facts = server_facts(server)
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
        path = ("gpu", "count") if ctx.sets(("gpu", "count")) else gpu.values_path
        return [
            ctx.problem(
                path or ("gpu", "count"),
                f"{known.name} needs {found.weights_per_gpu / GIB:.1f} GiB of weights per GPU "
                f"on {where}, and vLLM may use {found.budget_per_gpu / GIB:.1f} GiB of each "
                f"(--gpu-memory-utilization {settings.gpu_memory_utilization:g}) with about "
                f"{found.overhead_per_gpu / GIB:.0f} GiB of it for activations and CUDA graphs: "
                f"the server would not start{advice} (see `modelservice plan`)",
                MODEL_DOES_NOT_FIT,
            )
        ]
    path: tuple[str | int, ...] = ("model", "name")
    given = server.args.last("--max-model-len")
    if given is not None:
        mapped = ctx.values_path(server.obj, server.arg_path(given.flag_at))
        if ctx.sets(mapped):
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
            MAX_MODEL_LEN_DOES_NOT_FIT,
        )
    ]
