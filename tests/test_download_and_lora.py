"""The download, LoRA adapters and the `helm test` pod by task, on the rendered objects; the
init container's script and the test pod's script run for real (bash, curl) against fakes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import QWEN, Objects, values


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_pod(rendered: Objects) -> dict[str, Any]:
    return rendered.one("Pod")["spec"]["containers"][0]


test_pod.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


# -- what the init container downloads ---------------------------------------------------------


def test_the_model_download_skips_meta_and_mistral_checkpoints_by_default(objects):
    args = objects(values()).download["args"]
    assert args == [
        "hf",
        "download",
        QWEN,
        "--exclude",
        "original/*",
        "--exclude",
        "consolidated*",
        "--max-workers",
        "8",
        ";",
    ]


def test_model_download_include_and_exclude_become_download_patterns(objects):
    given = {"download": {"include": ["*.json", "*.safetensors"], "exclude": []}}
    args = objects(values(model=given)).download["args"]
    assert args == [
        "hf", "download", QWEN, "--include", "*.json", "--include", "*.safetensors",
        "--max-workers", "8", ";",
    ]  # fmt: skip


def test_a_modelscope_download_names_the_repository_positionally(objects):
    given = {"source": "modelscope", "name": "Qwen/Qwen2.5-7B-Instruct", "revision": "v1"}
    args = objects(values(model=given)).download["args"]
    assert args[:5] == ["modelscope", "download", "Qwen/Qwen2.5-7B-Instruct", "--revision", "v1"]
    assert "--model" not in args


def test_a_modelscope_server_runs_offline_and_reads_modelscope_endpoint(objects):
    rendered = objects(
        values(
            model={"source": "modelscope"}, modelscope={"endpoint": "https://www.modelscope.ai/"}
        )
    )
    env = rendered.env()
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["MODELSCOPE_ENDPOINT"] == "https://www.modelscope.ai"
    assert rendered.env(rendered.download)["MODELSCOPE_ENDPOINT"] == "https://www.modelscope.ai"
    assert "MODELSCOPE_DOMAIN" not in env


def test_model_tokenizer_is_downloaded_without_weights_and_passed_to_the_server(objects):
    given = {"tokenizer": {"name": "org/tokenizer", "revision": "v2"}}
    rendered = objects(values(model=given))
    args = rendered.download["args"]
    second = args[args.index(";") + 1 : args.index(";", args.index(";") + 1)]
    assert second[:5] == ["hf", "download", "org/tokenizer", "--revision", "v2"]
    assert "*.safetensors" in second and "*.bin" in second
    server = rendered.server["args"]
    assert flag(server, "--tokenizer") == "org/tokenizer"
    assert flag(server, "--tokenizer-revision") == "v2"


def test_hub_adapters_are_downloaded_into_the_cache_and_served_from_there(objects):
    lora = {
        "adapters": [
            {"name": "sql", "repo": "org/sql-lora", "revision": "v1"},
            {"name": "ms", "repo": "org/ms-lora", "source": "modelscope"},
            {"name": "local", "path": "/root/.cache/adapters/local"},
        ]
    }
    rendered = objects(values(lora=lora, persistence={"mountPath": "/cache"}))
    args = rendered.download["args"]
    sql = args.index("org/sql-lora")
    assert args[sql - 2 : sql + 6] == [
        "hf", "download", "org/sql-lora", "--revision", "v1", "--local-dir", "/cache/lora/sql", ";",
    ]  # fmt: skip
    ms = args.index("org/ms-lora")
    assert args[ms - 2 : ms + 4] == [
        "modelscope", "download", "org/ms-lora", "--local-dir", "/cache/lora/ms", ";",
    ]  # fmt: skip
    assert "/root/.cache/adapters/local" not in args  # a folder on a volume is not downloaded
    server = rendered.server["args"]
    assert "--enable-lora" in server
    modules = server[server.index("--lora-modules") + 1 :][:3]
    assert modules == [
        "sql=/cache/lora/sql",
        "ms=/cache/lora/ms",
        "local=/root/.cache/adapters/local",
    ]


def test_lora_slots_and_rank_are_rendered_with_the_charts_defaults(objects):
    server = objects(values(lora={"adapters": [{"name": "a", "repo": "o/a"}]})).server["args"]
    assert flag(server, "--max-loras") == "1"
    assert flag(server, "--max-lora-rank") == "16"
    server = objects(
        values(lora={"adapters": [{"name": "a", "repo": "o/a"}], "maxLoras": 4, "maxRank": 64})
    ).server["args"]
    assert (flag(server, "--max-loras"), flag(server, "--max-lora-rank")) == ("4", "64")


def test_no_lora_flag_without_adapters(objects):
    server = objects(values()).server
    assert not any("lora" in a for a in server["args"])
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING" not in objects(values()).env()


def test_lora_runtime_updates_enable_lora_and_vllms_runtime_switch(objects):
    rendered = objects(values(lora={"runtimeUpdates": True}))
    assert rendered.env()["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert "--enable-lora" in rendered.server["args"]
    assert "--lora-modules" not in rendered.server["args"]


def test_a_local_model_with_hub_adapters_still_downloads_the_adapters(objects):
    given = {"model": {"source": "local", "path": "/root/.cache/m"}}
    rendered = objects({**given, "lora": {"adapters": [{"name": "a", "repo": "o/a"}]}})
    assert rendered.download["args"][:3] == ["hf", "download", "o/a"]
    assert "HF_HUB_OFFLINE" not in rendered.env()  # the model itself is not from a hub


# -- the init container's script, run for real ------------------------------------------------


def _fake_tool(folder: Path, name: str, fails: int) -> Path:
    """An executable ``name`` that fails its first ``fails`` calls, counting calls in a file."""
    count = folder / f"{name}.calls"
    tool = folder / name
    tool.write_text(
        "#!/usr/bin/env bash\n"
        f'n=$(( $(cat "{count}" 2>/dev/null || echo 0) + 1 ))\n'
        f'echo "$n" > "{count}"\n'
        f'echo "$*" >> "{folder}/{name}.args"\n'
        f'[ "$n" -gt {fails} ]\n'
    )
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return count


def _run_init(rendered: Objects, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    init = rendered.download
    env = {e["name"]: e["value"] for e in init["env"] if "value" in e}
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin:/bin"
    return subprocess.run(
        [*init["command"], *init["args"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_download_retries_a_hub_hiccup(objects, tmp_path):
    given = {"download": {"attempts": 3, "retryDelaySeconds": 0}}
    rendered = objects(values(model=given, persistence={"mountPath": str(tmp_path / "cache")}))
    calls = _fake_tool(tmp_path, "hf", fails=2)
    done = _run_init(rendered, tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().strip() == "3"
    assert "attempt 2 failed" in done.stderr


def test_the_download_fails_the_pod_when_the_hub_never_answers_and_nothing_is_cached(
    objects, tmp_path
):
    given = {"download": {"attempts": 2, "retryDelaySeconds": 0}}
    rendered = objects(values(model=given, persistence={"mountPath": str(tmp_path / "cache")}))
    calls = _fake_tool(tmp_path, "hf", fails=99)
    done = _run_init(rendered, tmp_path)
    assert done.returncode == 1
    assert calls.read_text().strip() == "2"


def test_a_download_that_finished_before_starts_the_pod_while_the_hub_is_down(objects, tmp_path):
    given = {"source": "modelscope", "download": {"attempts": 1, "retryDelaySeconds": 0}}
    cache = tmp_path / "cache"
    rendered = objects(values(model=given, persistence={"mountPath": str(cache)}))
    _fake_tool(tmp_path, "modelscope", fails=0)
    assert _run_init(rendered, tmp_path).returncode == 0
    # The hub goes down (every call fails from now on): the cached download is used.
    _fake_tool(tmp_path, "modelscope", fails=99)
    done = _run_init(rendered, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the cache holds this download" in done.stderr
    # Another revision was never downloaded: it fails while the hub is down.
    other = objects(
        values(model={**given, "revision": "v2"}, persistence={"mountPath": str(cache)})
    )
    assert _run_init(other, tmp_path).returncode == 1


# -- the helm test pod, by task -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "tests", "path", "body_keys"),
    [
        ([], "", "/v1/chat/completions", {"model", "messages", "max_tokens"}),
        (["--convert=classify"], "", "/classify", {"model", "input"}),
        (["--convert", "embed"], "", "/v1/embeddings", {"model", "input"}),
        (["--runner=pooling"], "", "/v1/embeddings", {"model", "input"}),
        (["--runner=pooling"], "rerank", "/v1/rerank", {"model", "query", "documents"}),
        (["--runner=pooling"], "score", "/v1/score", {"model", "queries", "documents"}),
        ([], "completions", "/v1/completions", {"model", "prompt", "max_tokens"}),
        (["--convert=classify"], "classify", "/classify", {"model", "input"}),
    ],
)
def test_the_helm_test_calls_the_endpoint_of_the_models_task(objects, args, tests, path, body_keys):
    rendered = objects(values(engine={"args": args}, tests={"endpoint": tests}))
    env = rendered.env(test_pod(rendered))
    assert env["API_PATH"] == path
    assert set(json.loads(env["REQUEST"])) == body_keys


class _FakeVllm:
    """A fake vLLM API: /health, /v1/models listing ``served`` and the POST paths of ``posts``."""

    def __init__(self, served: list[str], posts: set[str]) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.calls.append(("GET", self.path, None))
                if self.path == "/health":
                    self._answer(200, {})
                elif self.path == "/v1/models":
                    self._answer(200, {"data": [{"id": name} for name in served]})
                else:
                    self._answer(404, {})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append(("POST", self.path, body))
                self._answer(200 if self.path in posts else 404, {"ok": True})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _run_test_pod(rendered: Objects, fake: _FakeVllm) -> subprocess.CompletedProcess[str]:
    container = test_pod(rendered)
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env["BASE_URL"] = fake.url
    env["PATH"] = "/usr/bin:/bin"
    return subprocess.run(
        container["command"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_helm_test_pod_passes_when_the_model_and_every_adapter_are_listed(objects):
    lora = {"adapters": [{"name": "sql", "repo": "o/sql"}, {"name": "chat", "repo": "o/chat"}]}
    rendered = objects(values(lora=lora, tests={"endpoint": "rerank"}))
    fake = _FakeVllm([QWEN, "sql", "chat"], {"/v1/rerank"})
    try:
        done = _run_test_pod(rendered, fake)
    finally:
        fake.close()
    assert done.returncode == 0, done.stderr
    assert fake.calls[-1][:2] == ("POST", "/v1/rerank")
    assert fake.calls[-1][2]["documents"] == ["Hello world"]


def test_the_helm_test_pod_fails_when_an_adapter_is_not_served(objects):
    lora = {"adapters": [{"name": "sql", "repo": "o/sql"}, {"name": "chat", "repo": "o/chat"}]}
    rendered = objects(values(lora=lora))
    fake = _FakeVllm([QWEN, "sql"], {"/v1/chat/completions"})
    try:
        done = _run_test_pod(rendered, fake)
    finally:
        fake.close()
    assert done.returncode == 1
    assert 'does not list the adapter "chat"' in done.stderr


def test_a_modelscope_adapter_of_a_hugging_face_model_gets_the_modelscope_endpoint(objects):
    lora = {"adapters": [{"name": "a", "repo": "o/a", "source": "modelscope"}]}
    given = values(lora=lora, modelscope={"endpoint": "https://www.modelscope.ai"})
    rendered = objects(given)
    assert rendered.env(rendered.download)["MODELSCOPE_ENDPOINT"] == "https://www.modelscope.ai"
    assert "VLLM_USE_MODELSCOPE" not in rendered.env()  # the model itself is from Hugging Face
    assert "MODELSCOPE_ENDPOINT" not in objects(values()).env()
