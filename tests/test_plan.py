"""modelservice plan: the table's facts, the arithmetic, where config.json comes from (a local
folder, a hub mirror on 127.0.0.1 with the values' own endpoint and token, the table when the
hub is unreachable), and the command's output. No test needs the network."""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from modelservice.cli import cli
from modelservice.plan import sizing, tables

EXAMPLES = Path(__file__).resolve().parent.parent / "values-examples"


def write(tmp_path: Path, text: str, name: str = "values.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(*args: str):
    return CliRunner().invoke(cli, ["plan", *args])


# -- the tables --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", tables.models(), ids=lambda m: m.name)
def test_the_parameters_counted_from_a_tables_config_match_its_model_card(model):
    counted, _ = sizing.count_parameters(model.config)
    assert abs(counted / model.parameters - 1) < 0.01, (counted, model.parameters)


@pytest.mark.parametrize("model", tables.models(), ids=lambda m: m.name)
def test_every_table_entry_names_the_config_it_was_copied_from(model):
    assert model.source == f"https://huggingface.co/{model.name}/blob/main/config.json"
    assert model.parameters_source


@pytest.mark.parametrize(
    ("name", "mib"),
    [
        ("H100", 81559),
        ("h100-80gb", 81559),
        ("A100-40GB", 40960),
        ("A100 80GB", 81920),
        ("L40S", 46068),
        ("L4", 23034),
        ("A10", 23028),
        ("A10G", 23028),
        ("T4", 15360),
        ("B200", 183359),
        ("H200", 141 * 1024),
        ("MI300X", 192 * 1024),
        ("Gaudi 3", 128 * 1024),
        ("910B", 64 * 1024),
    ],
)
def test_gpu_names_map_to_the_memory_the_driver_reports(name, mib):
    gpu = tables.gpu_named(name)
    assert gpu is not None and gpu.memory == mib * 1024**2


def test_the_datasheet_gb_of_gddr_cards_are_not_gib():
    for name, datasheet_gb in (("L4", 24), ("A10", 24), ("A10G", 24), ("L40S", 48), ("T4", 16)):
        gpu = tables.gpu_named(name)
        assert gpu is not None and gpu.reported == "driver", name
        assert gpu.memory < datasheet_gb * 1024**3, name


def test_every_gpu_of_the_table_names_its_source_and_a_node_label():
    for gpu in tables.gpus():
        assert gpu.source.startswith("https://") and gpu.products and gpu.memory > 0


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("80GiB", 80 * 1024**3),
        ("80Gi", 80 * 1024**3),
        ("24GB", 24 * 10**9),
        ("81920MiB", 80 * 1024**3),
        ("1.5TiB", int(1.5 * 1024**4)),
        ("lots", None),
    ],
)
def test_gpu_memory_sizes_are_read_in_binary_and_decimal_units(text, size):
    assert tables.parse_size(text) == size


# -- the arithmetic ----------------------------------------------------------------------------


def arch(name: str) -> sizing.Architecture:
    return sizing.architecture(tables.known_model(name).config)


def test_weights_split_over_ranks_but_for_what_every_tensor_rank_holds_whole():
    a = arch("meta-llama/Meta-Llama-3-70B-Instruct")
    one = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1))
    assert one == a.parameters * 2
    four = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1, tensor_parallel=4))
    pipeline = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1, pipeline_parallel=4))
    assert pipeline == one // 4
    # the norms stay whole on each tensor rank: 3/4 of them are added back
    assert four == (one - a.replicated_parameters * 2) // 4 + a.replicated_parameters * 2
    assert 0 < a.replicated_parameters < a.parameters // 1000


def test_fp8_and_int4_quantization_shrink_the_linear_layers_not_the_embeddings():
    a = arch("meta-llama/Meta-Llama-3-8B-Instruct")
    bf16 = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1))
    fp8 = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1, quantization="fp8"))
    awq = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1, quantization="awq"))
    linear = a.parameters - a.embedding_parameters
    assert fp8 == a.embedding_parameters * 2 + linear
    assert awq < fp8 < bf16


def test_a_pre_quantized_checkpoint_is_sized_in_its_own_width():
    a = arch("deepseek-ai/DeepSeek-V3")
    assert a.quantization == "fp8"
    weights = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1))
    assert weights < a.parameters * 1.01


@pytest.mark.parametrize(
    ("quantization_config", "per_weight"),
    [
        ({"quant_method": "gptq", "bits": 8, "group_size": 128}, 1.0),
        ({"quant_method": "gptq", "bits": 4, "group_size": 128}, 0.5 + 2.5 / 128),
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, 0.5 + 2.5 / 128),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "int"}}},
            },
            1.0,
        ),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, 0.5 + 2.5 / 128),
    ],
)
def test_a_quantized_checkpoint_is_sized_by_the_bits_its_config_states(
    quantization_config, per_weight
):
    config = {**tables.known_model("Qwen/Qwen2.5-7B-Instruct").config}
    config["quantization_config"] = quantization_config
    a = sizing.architecture(config)
    weights = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1))
    linear = a.parameters - a.embedding_parameters
    assert weights == int(a.embedding_parameters * 2 + linear * per_weight)


def test_latent_attention_caches_one_vector_per_layer_on_every_rank():
    a = arch("deepseek-ai/DeepSeek-V2-Lite-Chat")
    for tp in (1, 2, 8):
        per_token = sizing.kv_bytes_per_token(a, sizing.Settings(gpu_memory=1, tensor_parallel=tp))
        assert per_token == 27 * (512 + 64) * 2


def test_kv_heads_are_replicated_when_ranks_outnumber_them():
    a = arch("Qwen/Qwen2.5-7B-Instruct")  # 4 KV heads
    assert [sizing.kv_heads_per_rank(a, tp) for tp in (1, 2, 4, 8)] == [4, 2, 1, 1]


def test_an_fp8_kv_cache_holds_twice_the_tokens():
    a = arch("Qwen/Qwen2.5-7B-Instruct")
    auto = sizing.kv_bytes_per_token(a, sizing.Settings(gpu_memory=1))
    fp8 = sizing.kv_bytes_per_token(a, sizing.Settings(gpu_memory=1, kv_cache_dtype="fp8_e4m3"))
    assert auto == 2 * fp8 == 28 * 4 * 128 * 2 * 2


def test_a_sliding_window_bounds_what_one_sequence_keeps():
    a = arch("mistralai/Mistral-7B-Instruct-v0.1")
    settings = sizing.Settings(gpu_memory=80 * sizing.GIB, max_model_len=32768)
    found = sizing.estimate(a, settings)
    # the window less one, the two in-flight batches, in whole blocks, and one block more
    in_flight = settings.in_flight_tokens
    assert found.blocks_per_request == -(-(4096 - 1 + in_flight) // 16) + 1
    assert found.max_sequences == found.num_blocks // found.blocks_per_request
    assert sizing.largest_context(a, settings) == a.max_len


def test_alternating_sliding_and_full_layers_are_grouped_as_vllm_groups_them():
    a = arch("google/gemma-2-9b-it")
    assert a.interleaved and (a.full_layers, a.sliding_layers) == (21, 21)
    layout = sizing.kv_layout(a)
    assert layout == sizing.KvLayout(group_size=21, full_groups=1, sliding_groups=1)
    found = sizing.estimate(a, sizing.Settings(gpu_memory=80 * sizing.GIB))
    # 8192 tokens in the full group, the 4096-token window (+ in flight, capped at the
    # request) in the sliding one
    assert found.blocks_per_request == 512 + 513
    assert any("hybrid KV cache manager" in n for n in found.notes)


def test_a_model_that_does_not_fit_gets_the_smallest_tensor_parallel_that_does():
    a = arch("Qwen/Qwen2.5-72B-Instruct")
    settings = sizing.Settings(gpu_memory=80 * sizing.GIB)
    assert not sizing.estimate(a, settings).fits
    assert sizing.smallest_fit(a, settings) == (4, 1)
    assert sizing.estimate(a, sizing.Settings(gpu_memory=80 * sizing.GIB, tensor_parallel=4)).fits


def test_a_model_beyond_one_node_gets_a_node_count():
    a = arch("deepseek-ai/DeepSeek-V3")
    assert sizing.smallest_fit(a, sizing.Settings(gpu_memory=80 * sizing.GIB)) == (8, 2)


def test_the_largest_context_that_fits_is_what_the_cache_holds():
    a = arch("meta-llama/Llama-3.1-8B-Instruct")
    settings = sizing.Settings(gpu_memory=24 * sizing.GIB, max_model_len=131072)
    found = sizing.estimate(a, settings)
    assert not found.fits
    longest = sizing.largest_context(a, settings)
    assert longest == found.num_blocks * 16
    shorter = sizing.Settings(gpu_memory=24 * sizing.GIB, max_model_len=longest)
    assert sizing.estimate(a, shorter).fits


# -- the command -------------------------------------------------------------------------------


def test_plan_reads_the_gpu_from_the_node_selector_and_the_flags_from_the_rendered_args():
    result = run(str(EXAMPLES / "a100-node-pool.yaml"), "--offline", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["gpu"]["name"] == "A100-80GB"
    assert found["max_model_len"] == 32768  # --max-model-len=32768 of engine.args
    assert found["gpu_memory_utilization"] == 0.92  # vLLM 0.33.0's default, from its flag data
    assert found["fits"] is True and found["max_sequences"] >= 1


def test_plan_sizes_a_vgpu_slice_by_its_memory():
    result = run(str(EXAMPLES / "hami-vgpu-slice.yaml"), "--offline", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["gpu"]["memory_bytes"] == 8000 * 1024**2
    assert found["gpu_memory_utilization"] == 0.85


def test_plan_prints_a_verdict_and_exits_one_when_the_model_does_not_fit(tmp_path):
    values = write(tmp_path, "model:\n  name: Qwen/Qwen2.5-72B-Instruct\n")
    result = run(values, "--offline", "--gpu", "A100-80GB")
    assert result.exit_code == 1
    assert "does not fit" in result.stdout
    assert "smallest fit     tensor parallel 4" in result.stdout


def test_plan_names_the_largest_context_that_fits(tmp_path):
    values = write(
        tmp_path,
        "model:\n  name: meta-llama/Llama-3.1-8B-Instruct\n"
        "engine:\n  args: [--max-model-len=131072]\n",
    )
    result = run(values, "--offline", "--gpu", "L4", "--format", "json")
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert 0 < found["largest_context"] < 131072
    assert found["suggestion"] == {"tensor_parallel": 2, "pipeline_parallel": 1}


def test_tensor_parallel_of_the_values_reaches_the_estimate(tmp_path):
    values = write(tmp_path, "model:\n  name: Qwen/Qwen2.5-72B-Instruct\ngpu:\n  count: 4\n")
    result = run(values, "--offline", "--gpu-memory", "80GiB", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tensor_parallel"] == 4


def test_plan_asks_which_gpu_when_the_values_do_not_say(tmp_path):
    values = write(tmp_path, "model:\n  name: Qwen/Qwen2.5-7B-Instruct\n")
    result = run(values, "--offline")
    assert result.exit_code == 1
    assert "--gpu NAME or --gpu-memory SIZE" in result.stderr
    assert "Traceback" not in result.output


def test_plan_refuses_an_unknown_gpu_name_with_the_table_s_names(tmp_path):
    values = write(tmp_path, "model:\n  name: Qwen/Qwen2.5-7B-Instruct\n")
    result = run(values, "--offline", "--gpu", "H1000")
    assert result.exit_code == 1 and "H100-80GB" in result.stderr


def test_plan_reports_invalid_values_like_validate(tmp_path):
    values = write(tmp_path, "model:\n  name: Qwen/Qwen2.5-7B-Instruct\ngpu:\n  count: two\n")
    result = run(values, "--offline", "--gpu", "L4")
    assert result.exit_code == 1
    assert f"{values}:4:10: /gpu/count:" in result.stderr


def test_plan_offline_refuses_a_model_outside_the_table(tmp_path):
    values = write(tmp_path, "model:\n  name: acme/secret-model\n")
    result = run(values, "--offline", "--gpu", "L4")
    assert result.exit_code == 1 and "not in the table of known models" in result.stderr


def _on_volume(folder: object) -> str:
    """Values that mount ``folder`` into the pod (validate refuses a local model on no volume)."""
    return (
        "extraVolumes:\n  - name: models\n    persistentVolumeClaim:\n      claimName: models\n"
        f"extraVolumeMounts:\n  - name: models\n    mountPath: {folder}\n"
    )


def test_a_local_model_is_sized_from_its_config_json(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    config = tables.known_model("Qwen/Qwen2.5-0.5B-Instruct").config
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    values = write(tmp_path, f"model:\n  source: local\n  path: {folder}\n" + _on_volume(folder))
    result = run(values, "--gpu", "T4", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["config"] == str(folder / "config.json")
    assert found["architecture"]["layers"] == 24


def test_a_local_path_only_inside_the_container_asks_for_config(tmp_path):
    folder = "/models/not-here"
    values = write(tmp_path, f"model:\n  source: local\n  path: {folder}\n" + _on_volume(folder))
    result = run(values, "--gpu", "T4")
    assert result.exit_code == 1 and "--config" in result.stderr


# -- the hub, through the values' own mirror ---------------------------------------------------


class _Hub(http.server.BaseHTTPRequestHandler):
    """A minimal hub: serves one config.json at the paths of a Hugging Face mirror and of
    ModelScope's file API, and records every request."""

    config: ClassVar[dict] = {}
    seen: ClassVar[list] = []

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Authorization")))
        hf = self.path == "/acme/tiny-llm/resolve/v2/config.json"
        ms = self.path == "/api/v1/models/acme/tiny-llm/repo?Revision=master&FilePath=config.json"
        if not (hf or ms):
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps(self.config).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(handler: type, tls: Path | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _handler() -> type:
    return type("Hub", (_Hub,), {"seen": [], "config": tables.models()[1].config})


@pytest.fixture
def hub() -> Iterator[tuple[str, type]]:
    """The hub over plain HTTP (a Hugging Face mirror may be http)."""
    handler = _handler()
    for url in _serve(handler):
        yield url, handler


@pytest.fixture
def tls_hub(tmp_path, monkeypatch) -> Iterator[tuple[str, type]]:
    """The hub over HTTPS with a certificate for 127.0.0.1 that the process trusts
    (SSL_CERT_FILE): the chart's ModelScope endpoint is https only, as the SDK speaks."""
    tls = tmp_path / "tls"
    tls.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tls / "key.pem"),
            "-out",
            str(tls / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(tls / "cert.pem"))
    handler = _handler()
    for url in _serve(handler, tls):
        yield url, handler


def test_plan_reads_config_json_through_the_values_mirror_with_the_token(
    hub, tmp_path, monkeypatch
):
    url, handler = hub
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_for_the_fake_hub")
    values = write(
        tmp_path,
        f"model:\n  name: acme/tiny-llm\n  revision: v2\nhuggingface:\n  endpoint: {url}\n"
        "  token:\n    secretName: hf-token\n",
    )
    result = run(values, "--gpu", "L4", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"] == f"{url}/acme/tiny-llm/resolve/v2/config.json"
    assert handler.seen == [
        ("/acme/tiny-llm/resolve/v2/config.json", "Bearer hf_test_token_for_the_fake_hub")
    ]
    assert "hf_test_token" not in result.output


def test_plan_reads_config_json_from_a_modelscope_endpoint(tls_hub, tmp_path, monkeypatch):
    url, handler = tls_hub
    monkeypatch.delenv("MODELSCOPE_API_TOKEN", raising=False)
    values = write(
        tmp_path,
        f"model:\n  source: modelscope\n  name: acme/tiny-llm\nmodelscope:\n  endpoint: {url}\n",
    )
    result = run(values, "--gpu", "L4", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["architecture"]["layers"] == 28
    assert handler.seen == [
        ("/api/v1/models/acme/tiny-llm/repo?Revision=master&FilePath=config.json", None)
    ]


def test_a_missing_repository_on_the_mirror_is_a_user_error(hub, tmp_path):
    url, _ = hub
    values = write(tmp_path, f"model:\n  name: acme/absent\nhuggingface:\n  endpoint: {url}\n")
    result = run(values, "--gpu", "L4")
    assert result.exit_code == 1 and "HTTP 404" in result.stderr


def test_an_unreachable_hub_falls_back_to_the_table_and_says_so(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    values = write(
        tmp_path,
        "model:\n  name: Qwen/Qwen2.5-7B-Instruct\n"
        f"huggingface:\n  endpoint: http://127.0.0.1:{port}\n",
    )
    result = run(values, "--gpu", "L4", "--format", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["config"].startswith("the table of known models")
    assert any("unreachable" in note for note in found["notes"])


def test_gemma2s_missing_tie_word_embeddings_takes_its_config_class_default():
    """Gemma-2's config.json has no tie_word_embeddings; Gemma2Config makes it true, and vLLM
    reads the file through that class: the output layer shares the embedding's weights."""
    config = dict(tables.known_model("google/gemma-2-9b-it").config)
    config.pop("tie_word_embeddings")
    untied = {**config, "tie_word_embeddings": False}
    counted, embedding = sizing.count_parameters(config)
    assert embedding == 256000 * 3584
    assert counted == sizing.count_parameters({**config, "tie_word_embeddings": True})[0]
    assert sizing.count_parameters(untied)[0] - counted == 256000 * 3584


def test_the_checkpoints_quantization_wins_over_a_flag_that_contradicts_it():
    a = arch("meta-llama/Llama-3.1-405B-Instruct-FP8")
    assert a.quantization == "fbgemm_fp8"
    plain = sizing.weight_bytes(a, sizing.Settings(gpu_memory=1, tensor_parallel=8))
    told = sizing.weight_bytes(
        a, sizing.Settings(gpu_memory=1, tensor_parallel=8, quantization="awq")
    )
    assert told == plain


def test_expert_parallel_spreads_the_routed_experts_over_the_data_parallel_ranks():
    a = arch("deepseek-ai/DeepSeek-V3")
    assert 0 < a.expert_parameters < a.parameters
    base = sizing.Settings(gpu_memory=1, tensor_parallel=8, data_parallel=2)
    replicated = sizing.weight_bytes(a, base)
    spread = sizing.weight_bytes(a, sizing.Settings(**{**base.__dict__, "expert_parallel": True}))
    per_weight = a.quant_bytes or 1
    # each of 8 tensor ranks held 1/8 of every expert; with expert parallel over 8 x 2 ranks,
    # 1/16: half of the expert weights leave each GPU
    assert abs(replicated - spread - a.expert_parameters * per_weight / 16) <= 2


def test_kv_cache_memory_bytes_is_the_kv_budget_vllm_reserves():
    a = arch("Qwen/Qwen2.5-7B-Instruct")
    settings = sizing.Settings(gpu_memory=80 * sizing.GIB, kv_cache_memory_bytes=4 * sizing.GIB)
    found = sizing.estimate(a, settings)
    assert found.kv_budget_per_gpu == 4 * sizing.GIB
    assert found.tokens == 4 * sizing.GIB // found.kv_bytes_per_token // 16 * 16
