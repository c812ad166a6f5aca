"""plan's arithmetic agrees with vLLM's own config code on every model of its table.

Each table entry's config.json is written to a folder and resolved by vLLM's ModelConfig (its
CPU build, tests/vllm_env.py), all in one subprocess: the KV heads each tensor-parallel rank
holds, the head size, the layers, the sliding window, multi-head latent attention, the longest
context, the dtype it serves in and, through vLLM's own KV cache spec classes, the bytes one
token takes in the cache. plan must give the same numbers. The same process builds each model
on the meta device for its weights per GPU and its LoRA buffers, and runs vLLM's block planner
on its per-layer KV cache specs: one vLLM import for the whole module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kube_harness import cache_dir
from vllm_env import run_vllm

from modelservice.plan import sizing, tables
from modelservice.vllm.flags import pinned_version

TENSOR_PARALLEL = (1, 2, 4, 8)
KV_CACHE_DTYPES = ("auto", "fp8")


def _as_function(name: str, program: str) -> str:
    """A program that reads its request from stdin and prints its answers, as a function of
    the request that returns them (for one process to run several)."""
    body = program.replace("request = json.load(sys.stdin)\n", "").replace(
        "print(json.dumps(answers))", "return answers"
    )
    indented = "".join(f"    {line}\n" if line.strip() else "\n" for line in body.splitlines())
    return f"def {name}(request):\n{indented}"


PROGRAM = r"""
import json, sys
from vllm.config import ModelConfig, ParallelConfig
from vllm.utils.torch_utils import get_kv_cache_torch_dtype
from vllm.v1.kv_cache_interface import FullAttentionSpec, MLAAttentionSpec

request = json.load(sys.stdin)
answers = {}
for name, folder in request["models"].items():
    mc = ModelConfig(
        model=folder, tokenizer=folder, skip_tokenizer_init=True,
        allow_deprecated_quantization=True,
    )
    entry = {
        "use_mla": bool(mc.use_mla),
        "head_size": mc.get_head_size(),
        "total_kv_heads": mc.get_total_num_kv_heads(),
        "sliding_window": mc.get_sliding_window(),
        "layer_types": sorted(set(getattr(mc.hf_text_config, "layer_types", None) or [])),
        "max_model_len": mc.max_model_len,
        "dtype": str(mc.dtype).removeprefix("torch."),
        "per_rank": {},
    }
    for tp in request["tensor_parallel"]:
        pc = ParallelConfig(tensor_parallel_size=tp)
        heads = mc.get_num_kv_heads(pc)
        layers = mc.get_num_layers(pc)
        per_token = {}
        for kv_dtype in request["kv_cache_dtypes"]:
            dtype = get_kv_cache_torch_dtype(kv_dtype if kv_dtype == "auto" else "fp8", mc.dtype)
            cls = MLAAttentionSpec if mc.use_mla else FullAttentionSpec
            spec = cls(block_size=16, num_kv_heads=heads, head_size=mc.get_head_size(), dtype=dtype)
            per_token[kv_dtype] = spec.page_size_bytes // 16 * layers
        entry["per_rank"][str(tp)] = {"kv_heads": heads, "layers": layers, "kv_bytes": per_token}
    answers[name] = entry
print(json.dumps(answers))
"""


def _kv_request(root: Path) -> dict:
    """vLLM's resolution of every table entry."""
    folders = {}
    for index, model in enumerate(tables.models()):
        folder = root / f"m{index}"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(model.config), encoding="utf-8")
        folders[model.name] = str(folder)
    return {
        "models": folders,
        "tensor_parallel": list(TENSOR_PARALLEL),
        "kv_cache_dtypes": list(KV_CACHE_DTYPES),
    }


@pytest.fixture(scope="module")
def vllm_answers(_vllm_batch) -> dict:
    return _vllm_batch["kv"]


MODELS = [m.name for m in tables.models()]


@pytest.mark.parametrize("name", MODELS)
def test_plan_reads_the_architecture_as_vllm_does(vllm_answers, name):
    arch = sizing.architecture(tables.known_model(name).config)
    vllm = vllm_answers[name]
    assert (arch.mla is not None) == vllm["use_mla"]
    assert sizing.kv_head_size(arch) == vllm["head_size"]
    assert arch.max_len == vllm["max_model_len"]
    assert sizing.served_dtype(arch, "auto") == vllm["dtype"]
    # layers of more than one kind (sliding window and full) in the config vLLM reads
    assert arch.interleaved == (len(vllm["layer_types"]) > 1)
    assert arch.sliding_window == (None if arch.mla else vllm["sliding_window"])


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("tp", TENSOR_PARALLEL)
def test_kv_heads_per_rank_and_bytes_per_token_agree_with_vllm(vllm_answers, name, tp):
    arch = sizing.architecture(tables.known_model(name).config)
    vllm = vllm_answers[name]["per_rank"][str(tp)]
    assert sizing.kv_heads_per_rank(arch, tp) == vllm["kv_heads"]
    assert sizing.layers_per_stage(arch, 1) == vllm["layers"]
    for kv_dtype in KV_CACHE_DTYPES:
        settings = sizing.Settings(
            gpu_memory=80 * sizing.GIB, tensor_parallel=tp, kv_cache_dtype=kv_dtype
        )
        assert sizing.kv_bytes_per_token(arch, settings) == vllm["kv_bytes"][kv_dtype], kv_dtype


def test_the_table_holds_a_latent_attention_a_sliding_window_and_a_hybrid_model():
    kinds = [sizing.architecture(m.config) for m in tables.models()]
    assert any(a.mla for a in kinds)
    assert any(a.sliding_window and not a.interleaved for a in kinds)
    assert any(a.interleaved for a in kinds)


def test_configs_are_written_as_the_table_holds_them(tmp_path: Path):
    model = tables.models()[0]
    (tmp_path / "config.json").write_text(json.dumps(model.config), encoding="utf-8")
    assert json.loads((tmp_path / "config.json").read_text()) == model.config


WEIGHTS_PROGRAM = r"""
import json, sys, tempfile
import torch
from vllm.engine.arg_utils import EngineArgs
from vllm.config import set_current_vllm_config
from vllm.distributed import parallel_state
from vllm.distributed.parallel_state import (
    destroy_distributed_environment, destroy_model_parallel,
    init_distributed_environment, initialize_model_parallel)
from vllm.model_executor.model_loader.utils import initialize_model
from vllm.utils.torch_utils import set_default_torch_dtype

request = json.load(sys.stdin)
answers = {}
for name, folder in request["models"].items():
    per = {}
    for tp in request["tensor_parallel"][name]:
        cfg = EngineArgs(model=folder, skip_tokenizer_init=True, enforce_eager=True)
        cfg = cfg.create_engine_config()
        with set_current_vllm_config(cfg):
            init_distributed_environment(
                world_size=1, rank=0, local_rank=0, backend="gloo",
                distributed_init_method=f"file://{tempfile.mkdtemp()}/init")
            initialize_model_parallel(1, 1)
            # rank 0 of `tp` ranks: every layer sizes its shard by the group's world size
            parallel_state._TP.world_size = tp
            try:
                with set_default_torch_dtype(cfg.model_config.dtype), torch.device("meta"):
                    model = initialize_model(vllm_config=cfg)
                per[str(tp)] = sum(p.numel() * p.element_size() for p in model.parameters())
                del model
            finally:
                parallel_state._TP.world_size = 1
                destroy_model_parallel()
                destroy_distributed_environment()
    answers[name] = per
print(json.dumps(answers))
"""


def _unquantized(config: dict) -> dict:
    """The config without its quantization_config: vLLM's CPU build has no kernel to build an
    fp8 layer on this machine, so the model is built in its dtype and the parameters compared
    (the quantized width is the checkpoint's stated bits, tests/test_plan.py)."""
    return {k: v for k, v in config.items() if k != "quantization_config"}


def _weights_request(root: Path) -> dict:
    """The bytes of every parameter of tensor-parallel rank 0, as vLLM builds each table model
    on the meta device (no memory, no weights), for tensor parallel 1 and 8 (where 8 divides
    the heads), in one subprocess."""
    folders, sizes = {}, {}
    for index, model in enumerate(tables.models()):
        folder = root / f"m{index}"
        folder.mkdir()
        config = _unquantized(model.config)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        folders[model.name] = str(folder)
        heads = sizing.architecture(config).heads
        sizes[model.name] = [tp for tp in (1, 8) if heads % tp == 0]
    return {"models": folders, "tensor_parallel": sizes}


@pytest.fixture(scope="module")
def vllm_weights(_vllm_batch) -> dict:
    return _vllm_batch["weights"]


@pytest.mark.parametrize("name", MODELS)
def test_weights_per_gpu_agree_with_the_model_vllm_builds_within_one_percent(vllm_weights, name):
    arch = sizing.architecture(_unquantized(tables.known_model(name).config))
    answers = vllm_weights[name]
    assert "1" in answers
    for tp, built in answers.items():
        planned = sizing.weight_bytes(
            arch, sizing.Settings(gpu_memory=80 * sizing.GIB, tensor_parallel=int(tp))
        )
        assert abs(planned - built) <= built / 100, (tp, planned, built)
        if tp == "1":  # one rank holds every parameter: the count is exact
            assert planned == built


CAPACITY_PROGRAM = r"""
import json, sys
from vllm.config import set_current_vllm_config
from vllm.engine.arg_utils import EngineArgs
from vllm.v1.attention.backends.utils import resolve_kv_cache_layout
from vllm.v1.core.kv_cache_planning import get_global_kv_cache_groups, get_kv_cache_configs
from vllm.v1.core.kv_cache_utils import get_max_concurrency_for_kv_cache_config
from vllm.v1.kv_cache_interface import FullAttentionSpec, MLAAttentionSpec, SlidingWindowSpec

request = json.load(sys.stdin)
answers = {}
for name, folder in request["models"].items():
    cfg = EngineArgs(
        model=folder, skip_tokenizer_init=True, enforce_eager=True, block_size=16,
        allow_deprecated_quantization=True, max_model_len=request["max_model_len"][name],
        max_num_batched_tokens=request["batched"],
    ).create_engine_config()
    mc = cfg.model_config
    heads = mc.get_num_kv_heads(cfg.parallel_config)
    types = list(getattr(mc.hf_text_config, "layer_types", None) or [])
    window = mc.get_sliding_window()
    specs = {}
    for i in range(mc.get_num_layers(cfg.parallel_config)):
        common = dict(block_size=16, head_size=mc.get_head_size(), dtype=mc.dtype)
        kind = types[i] if types else ("sliding_attention" if window else "full_attention")
        if mc.use_mla:
            spec = MLAAttentionSpec(num_kv_heads=1, **common)
        elif kind == "sliding_attention" and window:
            spec = SlidingWindowSpec(num_kv_heads=heads, sliding_window=window, **common)
        else:
            spec = FullAttentionSpec(num_kv_heads=heads, **common)
        specs[f"model.layers.{i}.self_attn.attn"] = spec
    resolve_kv_cache_layout(cfg, [["LBNHC"]], specs.values())  # flash attention's layout
    with set_current_vllm_config(cfg):
        groups = get_global_kv_cache_groups(cfg, [specs])
        config = get_kv_cache_configs(cfg, [specs], [request["memory"]], groups)[0]
        concurrency = get_max_concurrency_for_kv_cache_config(cfg, config)
    answers[name] = {
        "num_blocks": config.num_blocks,
        "groups": len(config.kv_cache_groups),
        "concurrency": concurrency,
        "in_flight": cfg.max_in_flight_tokens,
        "max_model_len": mc.max_model_len,
    }
print(json.dumps(answers))
"""
KV_MEMORY = 10 * 1024**3


def _capacity_request(root: Path) -> dict:
    """vLLM's own block planner on every table model's KV cache specs (full, sliding-window,
    latent: per layer as vLLM gives them): the blocks of 10 GiB and the requests they hold."""
    folders, lengths = {}, {}
    for index, model in enumerate(tables.models()):
        folder = root / f"m{index}"
        folder.mkdir()
        config = _unquantized(model.config)  # the cache does not depend on the weights' width
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        folders[model.name] = str(folder)
        lengths[model.name] = min(sizing.architecture(model.config).max_len or 8192, 8192)
    return {"models": folders, "max_model_len": lengths, "batched": 2048, "memory": KV_MEMORY}


@pytest.fixture(scope="module")
def vllm_capacity(_vllm_batch) -> dict:
    return _vllm_batch["capacity"]


@pytest.mark.parametrize("name", MODELS)
def test_capacity_agrees_with_vllms_block_planner(vllm_capacity, name):
    """Sliding-window layers (Gemma 2's alternating ones, Mistral 7B v0.1's) as vLLM's hybrid
    KV cache manager counts them: the blocks of the pool and the blocks of one request."""
    arch = sizing.architecture(tables.known_model(name).config)
    vllm = vllm_capacity[name]
    settings = sizing.Settings(
        gpu_memory=80 * sizing.GIB,
        max_model_len=vllm["max_model_len"],
        kv_cache_memory_bytes=KV_MEMORY,
        in_flight_tokens=vllm["in_flight"],
    )
    found = sizing.estimate(arch, settings)
    layout = sizing.kv_layout(arch)
    assert layout.full_groups + layout.sliding_groups == vllm["groups"]
    assert found.num_blocks == vllm["num_blocks"]
    assert found.num_blocks / found.blocks_per_request == pytest.approx(vllm["concurrency"])
    assert found.max_sequences == int(vllm["concurrency"])


def test_the_table_holds_models_with_sliding_windows_on_some_and_on_all_layers():
    kinds = [sizing.architecture(m.config) for m in tables.models()]
    assert any(a.sliding_layers and a.full_layers for a in kinds)
    assert any(a.sliding_layers and not a.full_layers for a in kinds)


LORA_PROGRAM = r"""
import json, sys, tempfile
import torch
from vllm.engine.arg_utils import EngineArgs
from vllm.config import set_current_vllm_config
from vllm.distributed import parallel_state
from vllm.distributed.parallel_state import (
    destroy_distributed_environment, destroy_model_parallel,
    init_distributed_environment, initialize_model_parallel)
from vllm.lora.model_manager import LoRAModelManager
from vllm.model_executor.model_loader.utils import initialize_model
from vllm.utils.torch_utils import set_default_torch_dtype

request = json.load(sys.stdin)
answers = {}
for name, folder in request["models"].items():
    per = {}
    for tp in request["tensor_parallel"][name]:
        cfg = EngineArgs(
            model=folder, skip_tokenizer_init=True, enforce_eager=True, enable_lora=True,
            max_loras=request["max_loras"], max_lora_rank=request["max_lora_rank"],
        ).create_engine_config()
        with set_current_vllm_config(cfg):
            init_distributed_environment(
                world_size=1, rank=0, local_rank=0, backend="gloo",
                distributed_init_method=f"file://{tempfile.mkdtemp()}/init")
            initialize_model_parallel(1, 1)
            parallel_state._TP.world_size = tp
            try:
                with set_default_torch_dtype(cfg.model_config.dtype), torch.device("meta"):
                    model = initialize_model(vllm_config=cfg)
                    LoRAModelManager(
                        model, 256, 2048, cfg.model_config.get_vocab_size(), cfg.lora_config,
                        torch.device("meta"), cfg)
                total = 0
                for module in model.modules():
                    for attr in ("lora_a_stacked", "lora_b_stacked"):
                        found = getattr(module, attr, None)
                        found = [found] if isinstance(found, torch.Tensor) else found or ()
                        for t in found:
                            if isinstance(t, torch.Tensor):
                                total += t.numel() * t.element_size()
                per[str(tp)] = total
                del model
            finally:
                parallel_state._TP.world_size = 1
                destroy_model_parallel()
                destroy_distributed_environment()
    answers[name] = per
print(json.dumps(answers))
"""
LORA = {"max_loras": 4, "max_lora_rank": 64}
#: The dense grouped-query models of the table (plan counts LoRA slots for these).
DENSE = [
    m.name
    for m in tables.models()
    if not (a := sizing.architecture(m.config)).mla and not a.expert_parameters
]


def _lora_request(root: Path) -> dict:
    """The bytes of the LoRA buffers vLLM's LoRA manager allocates on rank 0 of tensor
    parallel 1 and 8 (where 8 divides the heads), the model built on the meta device."""
    folders, sizes = {}, {}
    for index, name in enumerate(DENSE):
        folder = root / f"m{index}"
        folder.mkdir()
        config = _unquantized(tables.known_model(name).config)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        folders[name] = str(folder)
        sizes[name] = [tp for tp in (1, 8) if sizing.architecture(config).heads % tp == 0]
    return {"models": folders, "tensor_parallel": sizes, **LORA}


@pytest.fixture(scope="module")
def vllm_lora(_vllm_batch) -> dict:
    return _vllm_batch["lora"]


@pytest.mark.parametrize("name", DENSE)
def test_lora_slots_take_the_memory_vllms_lora_manager_allocates(vllm_lora, name):
    from modelservice.plan.server import lora_embeddings

    config = tables.known_model(name).config
    arch = sizing.architecture(_unquantized(config))
    embeddings = lora_embeddings(pinned_version(), config["architectures"])
    for tp, allocated in vllm_lora[name].items():
        settings = sizing.Settings(
            gpu_memory=1, tensor_parallel=int(tp), lora_embeddings=embeddings, **LORA
        )
        assert sizing.lora_bytes(arch, settings) == allocated, tp


#: Each question of this module: its program, and what it asks (built in a folder of its own).
PARTS = {
    "kv": (PROGRAM, _kv_request),
    "weights": (WEIGHTS_PROGRAM, _weights_request),
    "capacity": (CAPACITY_PROGRAM, _capacity_request),
    "lora": (LORA_PROGRAM, _lora_request),
}


@pytest.fixture(scope="module")
def _vllm_batch(tmp_path_factory) -> dict:
    """One vLLM process for every question of this module (vLLM's import alone takes tens of
    seconds): the KV cache numbers, the weights, the block planner and the LoRA buffers."""
    root = tmp_path_factory.mktemp("vllm")
    requests = {}
    for name, (_, build) in PARTS.items():
        (root / name).mkdir()
        requests[name] = build(root / name)
    program = "import json, sys\nrequests = json.load(sys.stdin)\nresults = {}\n"
    for name, (code, _) in PARTS.items():
        program += _as_function(f"part_{name}", code)
        program += f"results[{name!r}] = part_{name}(requests[{name!r}])\n"
    program += "print(json.dumps(results))\n"
    return run_vllm(
        program,
        requests,
        env={
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HOME": str(root),
            # vLLM inspects each architecture's class in a subprocess (about 10 s each) and
            # caches the answer by the hash of the model's module: kept across runs, it only
            # saves time, the answers are the same.
            "VLLM_CACHE_ROOT": str(cache_dir() / f"vllm-{pinned_version()}-cache"),
        },
        timeout=1500,
    )
