"""The rules vLLM's config classes apply when it assembles its engine config
(``EngineArgs.create_engine_config``): what it refuses only at startup, after the download, in
a crash loop. Each is reported at the line of the flag, with the fix.

- ``engine-arg-bound``: a number outside the bounds of the config class field the flag fills
  (``--gpu-memory-utilization 1.5``, ``--max-num-seqs 0``, ``--block-size 0``): the bounds are
  vLLM's own, extracted from its pydantic fields (``schemas/vllm/<v>-config.json``);
- ``engine-arg-rendered-value``: a value a typed key renders that vLLM's parser refuses
  (``lora.maxRank: 48`` renders ``--max-lora-rank 48``);
- ``scheduler-*``, ``parallel-*``: SchedulerConfig's and ParallelConfig's rules between flags;
- ``speculative-config-*``: the fields and values of ``--speculative-config`` (from
  speculative.config or engine.args) that SpeculativeConfig refuses;
- ``gpu-mig-tensor-parallel``: ranks on MIG slices (CUDA shows a process one MIG device);
- the ``model`` stage: what ModelConfig and VllmConfig refuse against the model's own config
  (attention heads, context length, quantization, decode context parallel), read once by
  :mod:`modelservice.model`; offline with no config, a warning names the checks skipped.

tests/test_engine_config_vllm.py runs vLLM's own ``create_engine_config`` on every case and
holds each rule to its verdict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from ..core.paths import schemas_dir
from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import Path_
from ..release import Server
from ..vllm.args import Given
from .context import Finding, check

if TYPE_CHECKING:
    from ..model import ModelConfig
    from .context import Context

ENGINE_ARG_BOUND = rule(
    "engine-arg-bound",
    "error",
    "release",
    "A number outside the bounds vLLM's config class declares for the flag "
    "(`--gpu-memory-utilization` above 0 and at most 1, `--max-num-seqs` and "
    "`--max-num-batched-tokens` at least 1, `--block-size` above 0, ...): vLLM refuses it when it "
    "builds its engine config. The bounds come from vLLM's own fields "
    "(schemas/vllm/VERSION-config.json); the message gives them.",
)
ENGINE_ARG_RENDERED_VALUE = rule(
    "engine-arg-rendered-value",
    "error",
    "release",
    "A typed key renders a flag value vLLM's parser refuses (`lora.maxRank: 48` renders "
    "`--max-lora-rank 48`, and vLLM takes only 1, 8, 16, 32, 64, 128, 256, 320, 512): set the "
    "key to one of the flag's choices.",
)
SCHEDULER_BATCHED_TOKENS = rule(
    "scheduler-batched-tokens",
    "error",
    "release",
    "`--max-num-batched-tokens` below `--max-num-seqs` (one token per sequence of a step), or "
    "below the context (`--max-model-len`) with chunked prefill off: vLLM's SchedulerConfig "
    "refuses it. Raise --max-num-batched-tokens or lower the other.",
)
PARALLEL_DECODE_CONTEXT = rule(
    "parallel-decode-context",
    "error",
    "release",
    "A `--decode-context-parallel-size` that does not divide `--tensor-parallel-size` (decode "
    "context parallel reuses the tensor-parallel ranks), or, with prefill context parallel, "
    "one other than 1, the prefill size or tensor x prefill: vLLM's ParallelConfig refuses it.",
)
PARALLEL_NNODES_RAY = rule(
    "parallel-nnodes-ray",
    "error",
    "release",
    "`--nnodes` above 1 with the Ray executor: vLLM's ParallelConfig takes --nnodes only with "
    "its multiprocessing backend (the Ray cluster spans the nodes itself). Drop --nnodes, or "
    "use multiNode.backend: mp.",
)
SPECULATIVE_CONFIG_FIELD = rule(
    "speculative-config-field",
    "error",
    "release",
    "A field of `--speculative-config` (speculative.config, or the flag in engine.args) that "
    "vLLM's SpeculativeConfig does not have: it refuses the whole config at startup. The "
    "message names the closest field.",
)
SPECULATIVE_CONFIG_VALUE = rule(
    "speculative-config-value",
    "error",
    "release",
    "A value of `--speculative-config` that SpeculativeConfig refuses: a `method` it does not "
    "know, a number below its bound (`num_speculative_tokens` at least 1, ...). The message "
    "gives what it takes.",
)
GPU_MIG_TENSOR_PARALLEL = rule(
    "gpu-mig-tensor-parallel",
    "error",
    "release",
    "More than one GPU rank per pod on MIG slices (`nvidia.com/mig-*` with tensor or pipeline "
    "parallel above 1): CUDA shows a process one MIG device, so vLLM sees one GPU and refuses "
    "the larger world size. Serve on one slice (tensor parallel 1) or on whole GPUs.",
)
MODEL_TENSOR_PARALLEL_HEADS = rule(
    "model-tensor-parallel-heads",
    "error",
    "model",
    "A tensor-parallel size that does not divide the model's attention heads (its config.json): "
    "vLLM's ModelConfig refuses it. The message lists the sizes that divide them.",
)
MODEL_MAX_MODEL_LEN = rule(
    "model-max-model-len",
    "error",
    "model",
    "`--max-model-len` above the context the model's config.json allows (its "
    "max_position_embeddings, stretched by a rope scaling that vLLM applies): vLLM refuses it "
    "unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. Lower it, or serve a checkpoint with rope "
    "scaling for that length.",
)
MODEL_QUANTIZATION_CHECKPOINT = rule(
    "model-quantization-checkpoint",
    "error",
    "model",
    "`--quantization awq` / `gptq` (a method that reads its settings from the checkpoint) on a "
    "checkpoint whose config.json has no quantization_config (a bf16 one): vLLM cannot find "
    "the method's config and stops. Serve the quantized repository, or drop --quantization "
    "(`fp8` quantizes a bf16 checkpoint online).",
)
MODEL_QUANTIZATION_DEPRECATED = rule(
    "model-quantization-deprecated",
    "error",
    "model",
    "A quantization method vLLM deprecated (`fbgemm_fp8`, ...), from --quantization or the "
    "checkpoint's quantization_config: vLLM refuses to start unless "
    "`--allow-deprecated-quantization` is given. Add that flag to engine.args, or serve a "
    "checkpoint quantized another way.",
)
MODEL_DECODE_CONTEXT_PARALLEL = rule(
    "model-decode-context-parallel",
    "error",
    "model",
    "Decode context parallel on a grouped-query attention model needs tensor parallel above the "
    "model's KV heads, a size at most tensor parallel / KV heads, and one that divides the "
    "query heads per KV head: vLLM's ModelConfig refuses the others.",
)
MODEL_CONFIG_UNAVAILABLE = rule(
    "model-config-unavailable",
    "warning",
    "model",
    "The model's config.json could not be read (offline and not in the table of known models, "
    "or a local path only the cluster has): the checks that need it were skipped, and the "
    "message names them. Give the file with `--config`, or let validate read the hub with "
    "`--online`.",
)


@cache
def config_rules(version: str) -> dict[str, Any]:
    """The data of vLLM's config classes for a release (empty when none was extracted)."""
    path = schemas_dir() / "vllm" / f"{version}-config.json"
    if not path.is_file():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _rules(ctx: Context) -> dict[str, Any]:
    index = ctx.flags[0]
    return config_rules(index.version) if index is not None else {}


def _finding(
    server: Server, given: Given | None, message: str, found: Any, *, values: Path_ | None = None
) -> Finding:
    """A finding at the flag's token of the rendered command line (its values line)."""
    at = given.flag_at if given is not None else 0
    return Finding(server.obj, server.arg_path(at), message, found, values=values)


def _number(given: Given | None) -> int | float | None:
    if given is None or given.refusal is not None or given.negation:
        return None
    value = given.converted
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


_WORDS = {"gt": "above", "ge": "at least", "lt": "below", "le": "at most"}


def _bound_broken(value: float, bounds: dict[str, Any]) -> bool:
    return (
        ("gt" in bounds and not value > bounds["gt"])
        or ("ge" in bounds and not value >= bounds["ge"])
        or ("lt" in bounds and not value < bounds["lt"])
        or ("le" in bounds and not value <= bounds["le"])
    )


def _bounds_text(bounds: dict[str, Any]) -> str:
    return " and ".join(
        f"{_WORDS[k]} {bounds[k]:g}" for k in ("gt", "ge", "lt", "le") if k in bounds
    )


@check("release", ENGINE_ARG_BOUND, ENGINE_ARG_RENDERED_VALUE)
def bounds(ctx: Context) -> Iterator[Finding]:
    """Each flag's value within its config field's bounds; values typed keys render that the
    parser refuses."""
    data = _rules(ctx).get("bounds") or {}
    index = ctx.flags[0]
    for server in ctx.release.servers():
        for given in server.args.given:
            if given.subkey is not None:
                continue
            if given.value is not None and "$(" in given.value:
                continue  # the kubelet expands $(VAR) from the container's env first
            if given.refusal is not None and given.refusal.refuses:
                mapped = ctx.values_path(server.obj, server.arg_path(given.flag_at))
                if mapped[:2] != ("engine", "args"):
                    yield _finding(
                        server,
                        given,
                        f"{given.name} {given.value}: {given.refusal.message}; vLLM "
                        f"{index.version if index else ''} refuses it at startup: set "
                        f"{'.'.join(map(str, mapped))} to one of the values it takes",
                        ENGINE_ARG_RENDERED_VALUE,
                    )
                continue
            spec = data.get(given.name)
            value = _number(given)
            if spec is None or value is None or not _bound_broken(value, spec):
                continue
            shown = {k: spec[k] for k in ("gt", "ge", "lt", "le") if k in spec}
            default = (index.flags.get(given.name) or {}).get("default") if index else None
            hint = f" (its default is {default})" if default is not None else ""
            yield _finding(
                server,
                given,
                f"{given.name} {given.value}: vLLM's {spec['class']}.{spec['field']} must be "
                f"{_bounds_text(shown)}, and vLLM refuses to start: set a value "
                f"{_bounds_text(shown)}{hint}",
                ENGINE_ARG_BOUND,
            )


@check("release", SCHEDULER_BATCHED_TOKENS)
def scheduler(ctx: Context) -> Iterator[Finding]:
    """--max-num-batched-tokens at least --max-num-seqs, and at least --max-model-len without
    chunked prefill (both given: the defaults depend on the GPU)."""
    for server in ctx.release.servers():
        args = server.args
        batched_flag = args.last("--max-num-batched-tokens")
        batched = _number(batched_flag)
        if batched is None or batched < 1:
            continue
        seqs = _number(args.last("--max-num-seqs"))
        if seqs is not None and seqs >= 1 and batched < seqs:
            yield _finding(
                server,
                batched_flag,
                f"--max-num-batched-tokens {batched} is below --max-num-seqs {seqs}: vLLM's "
                f"SchedulerConfig needs at least one token per sequence of a step and refuses "
                f"to start: set --max-num-batched-tokens to {seqs} or more, or --max-num-seqs "
                f"to {batched} or less",
                SCHEDULER_BATCHED_TOKENS,
            )
            continue
        chunked = args.last("--enable-chunked-prefill")
        length = _number(args.last("--max-model-len"))
        if chunked is not None and chunked.negation and length is not None and batched < length:
            yield _finding(
                server,
                batched_flag,
                f"--max-num-batched-tokens {batched} is below --max-model-len {length} with "
                "chunked prefill off: a prompt must fit one step, and vLLM's SchedulerConfig "
                f"refuses to start: set --max-num-batched-tokens to {length} or more, or "
                "enable chunked prefill",
                SCHEDULER_BATCHED_TOKENS,
            )


@check("release", PARALLEL_DECODE_CONTEXT, PARALLEL_NNODES_RAY)
def parallel(ctx: Context) -> Iterator[Finding]:
    """ParallelConfig's rules between the parallel sizes and the executor."""
    for server in ctx.release.servers():
        sizes = server.parallel
        tp, pcp, dcp = sizes.tensor, sizes.prefill_context, sizes.decode_context
        dcp_flag = server.args.last("--decode-context-parallel-size")
        if pcp == 1 and tp % dcp:
            fits = [d for d in range(1, tp + 1) if tp % d == 0]
            yield _finding(
                server,
                dcp_flag,
                f"--decode-context-parallel-size {dcp} does not divide --tensor-parallel-size "
                f"{tp} (decode context parallel reuses the tensor-parallel ranks), and vLLM "
                f"refuses to start: use one of {', '.join(map(str, fits))}",
                PARALLEL_DECODE_CONTEXT,
            )
        elif pcp > 1 and dcp not in (1, pcp, tp * pcp):
            valid = sorted({1, pcp, tp * pcp})
            yield _finding(
                server,
                dcp_flag,
                f"--decode-context-parallel-size {dcp} with prefill context parallel {pcp} and "
                f"tensor parallel {tp}: vLLM takes only {', '.join(map(str, valid))} (off, the "
                "prefill axis, or tensor x prefill) and refuses to start",
                PARALLEL_DECODE_CONTEXT,
            )
        nodes = _number(server.args.last("--nnodes"))
        backend = server.args.value("--distributed-executor-backend")
        if nodes is not None and nodes > 1 and backend == "ray":
            yield _finding(
                server,
                server.args.last("--nnodes"),
                f"--nnodes {nodes} with --distributed-executor-backend ray: vLLM's "
                "ParallelConfig takes --nnodes only with its mp, uni or external_launcher "
                "backends, and refuses to start (the Ray cluster spans the nodes itself): drop "
                "--nnodes, or use multiNode.backend: mp",
                PARALLEL_NNODES_RAY,
            )


def _spec_source(ctx: Context, server: Server) -> tuple[Given | None, dict[str, Any] | None]:
    given = server.args.last("--speculative-config")
    value = given.converted if given is not None and given.refusal is None else None
    return given, value if isinstance(value, dict) else None


@check("release", SPECULATIVE_CONFIG_FIELD, SPECULATIVE_CONFIG_VALUE)
def speculative(ctx: Context) -> Iterator[Finding]:
    """The fields and values of --speculative-config, against SpeculativeConfig's."""
    import difflib

    described = (_rules(ctx).get("json_fields") or {}).get("SpeculativeConfig")
    if not described:
        return
    known = set(described["known"])
    for server in ctx.release.servers():
        given, config = _spec_source(ctx, server)
        if config is None:
            continue
        from_values = ctx.values_path(server.obj, server.arg_path(given.flag_at)) if given else ()
        typed = from_values[:1] == ("speculative",)

        def at(key: str, typed: bool = typed) -> Path_ | None:
            if typed and ctx.sets(("speculative", "config", key)):
                return ("speculative", "config", key)
            return None

        for key, value in config.items():
            if key not in known and described.get("extra") == "forbid":
                near = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                yield _finding(
                    server,
                    given,
                    f"--speculative-config has a field {key!r} that vLLM's SpeculativeConfig "
                    f"does not have{hint}, and vLLM refuses the config at startup: remove it",
                    SPECULATIVE_CONFIG_FIELD,
                    values=at(key),
                )
                continue
            spec = described["fields"].get(key) or {}
            choices = spec.get("choices")
            if choices and value is not None and value not in choices:
                near = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                yield _finding(
                    server,
                    given,
                    f"--speculative-config {key} {value!r} is not one vLLM's SpeculativeConfig "
                    f"takes{hint}; it refuses to start: use one of {', '.join(map(str, choices))}",
                    SPECULATIVE_CONFIG_VALUE,
                    values=at(key),
                )
            limits = spec.get("bounds")
            number = (
                value if isinstance(value, int | float) and not isinstance(value, bool) else None
            )
            if limits and number is not None and _bound_broken(number, limits):
                yield _finding(
                    server,
                    given,
                    f"--speculative-config {key} {value}: vLLM's SpeculativeConfig takes a value "
                    f"{_bounds_text(limits)} and refuses to start: set it {_bounds_text(limits)}",
                    SPECULATIVE_CONFIG_VALUE,
                    values=at(key),
                )


_MIG = re.compile(r"^nvidia\.com/mig-")


@check("release", GPU_MIG_TENSOR_PARALLEL)
def mig(ctx: Context) -> Iterator[Finding]:
    """One GPU rank per pod on MIG slices."""
    for server in ctx.release.servers():
        limits = server.container.resources("limits")
        slices = [name for name in limits if _MIG.match(str(name))]
        ranks = server.parallel.world // max(server.pod.group_size, 1)
        if not slices or server.parallel.world <= 1 or ranks < 1:
            continue
        culprit = server.parallel.culprit()
        yield _finding(
            server,
            culprit,
            f"{server.parallel.product()} on MIG slices ({slices[0]}): CUDA shows a process one "
            f"MIG device, so vLLM sees one GPU for {server.parallel.world} ranks and refuses to "
            "start: serve on one slice with tensor parallel 1 (engine.tensorParallelSize: 1, "
            "gpu.count: 1), or on whole GPUs (gpu.resourceName: nvidia.com/gpu)",
            GPU_MIG_TENSOR_PARALLEL,
            values=("gpu", "resourceName") if ctx.sets(("gpu", "resourceName")) else None,
        )


# --- the model stage: what needs the model's own config ----------------------------------


def _tp_at(ctx: Context, server: Server) -> tuple[Given | None, Path_ | None]:
    """The tensor-parallel flag, and gpu.count where the chart took the size from it."""
    given = server.args.last("--tensor-parallel-size")
    if given is not None:
        mapped = ctx.values_path(server.obj, server.arg_path(given.flag_at))
        if not ctx.sets(mapped) and ctx.sets(("gpu", "count")):
            return given, ("gpu", "count")
    return given, None


def _heads(server: Server, model: ModelConfig) -> Iterator[tuple[Given | None, str, Any]]:
    heads, tp = model.heads, server.parallel.tensor
    if heads and heads % tp:
        sizes = [n for n in range(1, min(heads, 64) + 1) if heads % n == 0 and n <= 16]
        yield (
            server.args.last("--tensor-parallel-size"),
            f"tensor parallel {tp} does not divide the model's {heads} attention heads "
            f"(num_attention_heads of its config.json), and vLLM refuses to start: use a "
            f"tensor-parallel size that divides them ({', '.join(map(str, sizes))}), with "
            "gpu.count to match",
            MODEL_TENSOR_PARALLEL_HEADS,
        )


def _context(
    server: Server, model: ModelConfig, allow_long: bool
) -> Iterator[tuple[Given | None, str, Any]]:
    given = server.args.last("--max-model-len")
    length = _number(given)
    limit, key = model.derived_max_len
    if length is None or length < 1 or limit is None or allow_long:
        return
    model_max = model.get("model_max_length")
    if length > limit and (model_max is None or length > model_max):
        yield (
            given,
            f"--max-model-len {length} is above the model's context ({key} {limit} in its "
            f"config.json, rope scaling included), and vLLM refuses to start: set "
            f"--max-model-len={limit} or less, or serve a checkpoint whose rope scaling "
            "reaches that length",
            MODEL_MAX_MODEL_LEN,
        )


def _quantization(
    server: Server, model: ModelConfig, data: dict[str, Any]
) -> Iterator[tuple[Given | None, str, Any]]:
    given = server.args.last("--quantization")
    method = given.converted if given is not None and given.refusal is None else None
    if not isinstance(method, str) or model.quantization_config is not None:
        return
    spec = (data.get("quantization") or {}).get(method) or {}
    files = spec.get("config_files")
    if spec.get("online", True) or not files:
        return
    yield (
        given,
        f"--quantization {method} on a checkpoint whose config.json has no quantization_config "
        f"(a {model.dtype} checkpoint): {method} reads its settings from the checkpoint "
        f"({' or '.join(files)}), and vLLM stops at startup: serve the {method}-quantized "
        "repository, or drop --quantization (fp8 quantizes this checkpoint online)",
        MODEL_QUANTIZATION_CHECKPOINT,
    )


def _deprecated(
    server: Server, model: ModelConfig, index: Any
) -> Iterator[tuple[Given | None, str, Any]]:
    given = server.args.last("--quantization")
    flag = given.converted if given is not None and given.refusal is None else None
    method = flag if isinstance(flag, str) and flag else model.quantization
    registry = ((index.data.get("registries") or {}) if index else {}).get("quantization_methods")
    deprecated = (registry or {}).get("deprecated") or []
    if method not in deprecated or server.args.active("--allow-deprecated-quantization"):
        return
    source = "--quantization" if flag else "the checkpoint's quantization_config"
    yield (
        given if flag else None,
        f"{method} ({source}) is a quantization method vLLM {index.version} deprecated, and it "
        "refuses to start without --allow-deprecated-quantization: add that flag to "
        "engine.args, or serve a checkpoint quantized another way",
        MODEL_QUANTIZATION_DEPRECATED,
    )


def _decode_context(server: Server, model: ModelConfig) -> Iterator[tuple[Given | None, str, Any]]:
    sizes = server.parallel
    dcp, tp = sizes.decode_context, sizes.tensor
    if dcp <= 1 or model.use_mla:
        return
    given = server.args.last("--decode-context-parallel-size")
    kv, heads = model.kv_heads, model.heads
    if tp <= kv:
        message = (
            f"decode context parallel {dcp} on a model with {kv} KV heads needs tensor "
            f"parallel above {kv} (it is {tp}), and vLLM refuses to start: raise "
            "--tensor-parallel-size, or set --decode-context-parallel-size 1"
        )
    elif dcp > tp // kv:
        message = (
            f"decode context parallel {dcp} exceeds tensor parallel {tp} / {kv} KV heads = "
            f"{tp // kv}, and vLLM refuses to start: set --decode-context-parallel-size "
            f"{tp // kv} or less"
        )
    elif kv and (heads // kv) % dcp:
        message = (
            f"the model's {heads // kv} query heads per KV head are not divisible by decode "
            f"context parallel {dcp}, and vLLM refuses to start: use a size that divides "
            f"{heads // kv}"
        )
    else:
        return
    yield given, message, MODEL_DECODE_CONTEXT_PARALLEL


def _converted(given: Given | None) -> bool:
    """Whether a flag is given with a value vLLM reads (a refused one is said already)."""
    return given is not None and given.refusal is None and given.converted not in (None, "")


#: The model-stage checks and what each needs on the command line to judge anything.
MODEL_CHECKS = {
    "attention heads / tensor parallel": lambda s: s.parallel.tensor > 1,
    "--max-model-len / the model's context": lambda s: _converted(s.args.last("--max-model-len")),
    "--quantization / the checkpoint": lambda s: _converted(s.args.last("--quantization")),
    "decode context parallel / KV heads": lambda s: s.parallel.decode_context > 1,
}


@check(
    "model",
    MODEL_TENSOR_PARALLEL_HEADS,
    MODEL_MAX_MODEL_LEN,
    MODEL_QUANTIZATION_CHECKPOINT,
    MODEL_QUANTIZATION_DEPRECATED,
    MODEL_DECODE_CONTEXT_PARALLEL,
    MODEL_CONFIG_UNAVAILABLE,
)
def model_rules(ctx: Context) -> Iterator[Finding | Problem]:
    """ModelConfig's and VllmConfig's rules against the model's own config."""
    server = ctx.release.server
    if server is None:
        return
    needed = [name for name, wanted in MODEL_CHECKS.items() if wanted(server)]
    if not needed:
        return
    reading = ctx.model
    if reading.config is None:
        yield ctx.problem(
            ("model", "name") if ctx.sets(("model", "name")) else ("model",),
            f"the model's config.json was not read ({reading.origin}); checks skipped: "
            f"{'; '.join(needed)}",
            MODEL_CONFIG_UNAVAILABLE,
            key=False,
        )
        return
    model = reading.config
    allow_long = server.container.env_value("VLLM_ALLOW_LONG_MAX_MODEL_LEN") in ("1", "true")
    found = [
        *_heads(server, model),
        *_context(server, model, allow_long),
        *_quantization(server, model, _rules(ctx)),
        *_deprecated(server, model, ctx.flags[0]),
        *_decode_context(server, model),
    ]
    for given, message, broken in found:
        values = _tp_at(ctx, server)[1] if broken is MODEL_TENSOR_PARALLEL_HEADS else None
        if given is None and values is None:
            values = ("model", "name") if ctx.sets(("model", "name")) else ("model",)
        yield _finding(server, given, message, broken, values=values)
