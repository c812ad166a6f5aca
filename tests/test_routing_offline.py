"""The endpoint picker's tokenizer starts offline: the real programs, a fake hub.

With routing.kvEvents the picker tokenizes prompts with the model's own tokenizer, through
vLLM's render server in the picker's pod. A tiny model (tools/podrunner/tiny_models.py) is
served by a fake hub on 127.0.0.1 that stands for the values' mirror (huggingface.endpoint);
the chart is rendered with the cache volume at a temporary path, then:

1. the picker's init container runs its exact command line (command, args, env) with the real
   ``hf`` of the vLLM venv: it fetches the tokenizer and config files, never the weights;
2. the tokenizer container runs its exact command line (``vllm launch render`` of the vLLM
   release the image pins, tests/vllm_env.py) with its exact environment, HF_HUB_OFFLINE=1
   among it, while the hub keeps running: no request may reach it;
3. the render endpoint the picker calls (``/v1/completions/render``) answers with ids of the
   model's own vocabulary that decode back to the prompt (its tokenizer is byte-level BPE).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from vllm_env import vllm_python

from conftest import Objects, render_values
from podrunner import tiny_models, vllm_cpu
from podrunner.fake_hub import FakeHub, Repo

MODEL = "tiny/model"
PROMPT = "Kubernetes runs the model server in a pod"


def _byte_decoder() -> dict[str, int]:
    """Byte-level BPE's map from the printable characters of its tokens back to bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def decoded(ids: list[int], tokenizer_json: bytes) -> str:
    """Token ids as text, by the model's own vocabulary (tokenizer.json)."""
    vocab = {i: token for token, i in json.loads(tokenizer_json)["model"]["vocab"].items()}
    table = _byte_decoder()
    return bytes(table[c] for i in ids for c in vocab[i]).decode("utf-8")


def _environment(container: dict[str, Any], home: Path) -> dict[str, str]:
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    assert all("value" in e for e in container.get("env", [])), container["env"]
    path = f"{vllm_python().parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
    return {**env, "PATH": path, "HOME": str(home), "VLLM_TARGET_DEVICE": "cpu"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def test_the_pickers_tokenizer_starts_offline_from_the_mirror_and_tokenizes_as_the_model(
    tmp_path,
):
    tiny = tiny_models.ensure(vllm_cpu.cache_dir(), vllm_cpu.venv() / "bin" / "python")
    files = tiny_models.files(tiny, "causal")
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    with FakeHub({MODEL: Repo(files)}) as hub:
        values = {
            "model": {"name": MODEL, "download": {"attempts": 1, "retryDelaySeconds": 0}},
            "huggingface": {"endpoint": hub.url},
            "persistence": {"mountPath": str(cache)},
            "httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}]},
            "routing": {"inferencePool": {"enabled": True}, "kvEvents": {"enabled": True}},
        }
        objects = Objects(render_values(values))
        (picker,) = [
            d
            for d in objects.of_kind("Deployment")
            if d["metadata"]["labels"]["app.kubernetes.io/component"] == "endpoint-picker"
        ]
        pod = picker["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        tokenizer = next(c for c in pod["containers"] if c["name"] == "tokenizer")
        assert {"name": "cache", "mountPath": str(cache)} in tokenizer["volumeMounts"]

        downloaded = subprocess.run(
            [*init["command"], *init["args"]],
            env=_environment(init, home),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert downloaded.returncode == 0, downloaded.stderr[-4000:]
        fetched = {path for _, path in hub.requests if "/resolve/" in path}
        assert fetched and not any(p.endswith(".safetensors") for p in fetched), fetched
        assert any(p.endswith("tokenizer.json") for p in fetched), fetched
        asked = len(hub.requests)

        port = _free_port()
        env = _environment(tokenizer, home)
        assert env["HF_HUB_OFFLINE"] == "1" and env["HF_ENDPOINT"] == hub.url
        # The container's exact command line; the port moves to a free one of this machine
        # (argparse keeps the last --port).
        command = [*tokenizer["command"], *tokenizer["args"], "--port", str(port)]
        log = (tmp_path / "render.log").open("w")
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while True:
                assert server.poll() is None, (tmp_path / "render.log").read_text()[-4000:]
                try:
                    _get(f"http://127.0.0.1:{port}/health")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            "the render server did not start within 300s"
                        ) from None
                    time.sleep(1)
            (rendered,) = _get(
                f"http://127.0.0.1:{port}/v1/completions/render",
                {"model": MODEL, "prompt": PROMPT},
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
        assert hub.requests[asked:] == [], "the tokenizer asked the hub"

    ids = rendered["token_ids"]
    assert 1 < len(ids) < len(PROMPT.split()) * 2, ids  # merged by the model's own BPE
    assert decoded(ids, files["tokenizer.json"]) == PROMPT
