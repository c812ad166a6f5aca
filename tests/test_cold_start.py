"""Cold start: a model from the cluster's own registry (pulled by digest, or an image volume), the
weight loaders, sleep mode fenced, and scale from zero through KEDA's HTTP add-on, asserted on
the rendered objects; the image volume on real API servers emulating 1.34 and 1.35."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from kube_harness import ApiServer

from conftest import EXAMPLES, Objects, render_values
from modelservice.helm.engine import release_name_for, render
from modelservice.validate import validate_file

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE_VOLUME = EXAMPLES / "kubernetes-1.35" / "oci-model-as-an-image-volume.yaml"


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def oci(**extra: Any) -> dict[str, Any]:
    return {"model": {"source": "oci", "oci": {**extra}}}


# -- model.source: oci ------------------------------------------------------------------------


def test_a_pulled_oci_model_is_fetched_by_digest_into_the_cache_and_served_from_there(objects):
    ref = f"registry.internal:5000/models/qwen@{DIGEST}"
    found = objects(
        {
            **oci(reference=ref, subPath="weights", plainHTTP=True, pullSecret="regcred"),
            "imagePullSecrets": [{"name": "other"}],
        }
    )
    [pull] = found.pod["initContainers"]
    assert pull["name"] == "pull-model"
    assert pull["image"] == "ghcr.io/oras-project/oras:v1.3.6"
    folder = f"/root/.cache/oci/registry.internal_5000/models/qwen/sha256-{DIGEST[7:]}"
    assert pull["args"] == [ref, folder]
    assert pull["command"][:2] == ["/bin/sh", "-c"]
    assert env(pull)["PULL_FLAGS"] == (
        "--plain-http --registry-config=/run/secrets/modelservice/registry/.dockerconfigjson"
    )
    assert found.server["args"][0] == f"{folder}/weights"
    assert env(found.server)["HF_HUB_OFFLINE"] == "1"
    auth = next(v for v in found.pod["volumes"] if v["name"] == "registry-auth")
    assert auth["secret"]["secretName"] == "regcred"
    # the served name: the repository's last segment
    assert found.server["args"][1:3] == ["--served-model-name", "qwen"]


def test_a_tag_reference_pulls_into_a_folder_named_after_the_tag(objects):
    found = objects(oci(reference="registry.internal/team/llama-3:v2"))
    pull = found.pod["initContainers"][0]
    assert pull["args"][1] == "/root/.cache/oci/registry.internal/team/llama-3/v2"
    assert "registry-auth" not in {v["name"] for v in found.pod["volumes"]}
    assert env(pull)["PULL_FLAGS"] == ""


def test_an_image_volume_model_is_mounted_read_only_and_nothing_is_pulled(objects):
    ref = f"registry.internal/models/qwen@{DIGEST}"
    found = objects(oci(reference=ref, mode="imageVolume", subPath="model/"))
    assert "initContainers" not in found.pod
    volume = next(v for v in found.pod["volumes"] if v["name"] == "oci-model")
    assert volume["image"] == {"reference": ref, "pullPolicy": "IfNotPresent"}
    mount = next(m for m in found.server["volumeMounts"] if m["name"] == "oci-model")
    assert mount == {
        "name": "oci-model",
        "mountPath": "/mnt/model",
        "subPath": "model",
        "readOnly": True,
    }
    assert found.server["args"][0] == "/mnt/model"
    assert env(found.server)["HF_HUB_OFFLINE"] == "1"


def test_hub_adapters_of_an_oci_model_still_download_after_the_pull(objects):
    values = oci(reference=f"registry.internal/models/qwen@{DIGEST}")
    values["lora"] = {"adapters": [{"name": "sql", "repo": "org/sql-lora"}]}
    found = objects(values)
    assert [c["name"] for c in found.pod["initContainers"]] == ["pull-model", "download"]
    assert found.download is not None and found.download["args"][:3] == [
        "hf",
        "download",
        "org/sql-lora",
    ]


def _created(server: ApiServer, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The object as the server would store it (strict server-side dry run)."""
    plural, _ = server.resource_for(obj["apiVersion"], obj["kind"])
    server.ensure_namespace(namespace)
    base = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    path = f"{base}/namespaces/{urllib.parse.quote(namespace)}/{plural}"
    stored: dict[str, Any] = server.request(
        "POST", f"{path}?dryRun=All&fieldValidation=Strict", obj
    )
    return stored


def test_the_image_volume_example_is_kept_by_a_1_35_server_and_dropped_by_a_1_34_one(
    apiserver, apiserver_135
):
    result = validate_file(IMAGE_VOLUME, EXAMPLES.parent / "chart")
    assert [p.rule for p in result.problems] == ["oci-image-volume-kubernetes"]
    rendered = render(
        EXAMPLES.parent / "chart",
        result.values,
        release=release_name_for(str(IMAGE_VOLUME)),
        namespace="ai",
    )
    objects = rendered.objects()
    assert apiserver_135.dry_run(objects, namespace="ai") == [None] * len(objects)
    deployment = next(o for o in objects if o["kind"] == "Deployment")

    def volumes(server: ApiServer) -> tuple[list[str], list[str]]:
        spec = _created(server, deployment, "ai")["spec"]["template"]["spec"]
        mounts = [m["name"] for m in spec["containers"][0].get("volumeMounts", [])]
        return [v["name"] for v in spec["volumes"]], mounts

    kept, mounted = volumes(apiserver_135)
    assert "oci-model" in kept and "oci-model" in mounted
    # Kubernetes 1.34 (ImageVolume off by default) accepts the Deployment and silently drops
    # the volume and its mount: what `check` refuses, since no dry run says it.
    dropped, unmounted = volumes(apiserver)
    assert "oci-model" not in dropped and "oci-model" not in unmounted


# -- loader.* ---------------------------------------------------------------------------------


def test_the_runai_streamer_and_its_extra_config_are_rendered_as_vllm_reads_them(objects):
    found = objects(
        {
            "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
            "loader": {"format": "runai_streamer", "concurrency": 16, "memoryLimit": -1},
        }
    )
    args = found.server["args"]
    assert args[args.index("--load-format") + 1] == "runai_streamer"
    extra = json.loads(args[args.index("--model-loader-extra-config") + 1])
    assert extra == {"concurrency": 16, "memory_limit": -1}
    assert "--safetensors-load-strategy" not in args


def test_the_safetensors_strategy_alone_renders_no_extra_config(objects):
    found = objects(
        {
            "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
            "loader": {"safetensorsLoadStrategy": "eager"},
        }
    )
    args = found.server["args"]
    assert args[args.index("--safetensors-load-strategy") + 1] == "eager"
    assert "--model-loader-extra-config" not in args and "--load-format" not in args


# -- sleepMode ---------------------------------------------------------------------------------


def test_sleep_mode_renders_the_flag_and_dev_mode_and_routes_only_the_api(objects):
    found = objects(
        {
            "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
            "sleepMode": {"enabled": True, "fromNamespaces": ["llm-controller"]},
            "networkPolicy": {"enabled": True},
            "ingress": {"enabled": True, "hosts": [{"host": "qwen.example.com"}]},
            "httpRoute": {"enabled": True, "parentRefs": [{"name": "public"}]},
        }
    )
    assert "--enable-sleep-mode" in found.server["args"]
    assert env(found.server)["VLLM_SERVER_DEV_MODE"] == "1"
    [rule] = found.one("NetworkPolicy")["spec"]["ingress"]
    namespaces = [
        p["namespaceSelector"]["matchLabels"] for p in rule["from"] if "namespaceSelector" in p
    ]
    assert namespaces == [{"kubernetes.io/metadata.name": "llm-controller"}]
    path = found.one("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["path"]
    route = found.one("HTTPRoute")["spec"]["rules"][0]["matches"][0]["path"]
    assert path == "/v1" and route == {"type": "PathPrefix", "value": "/v1"}


def test_without_sleep_mode_there_is_no_dev_mode(objects):
    found = objects({"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}})
    assert "--enable-sleep-mode" not in found.server["args"]
    assert "VLLM_SERVER_DEV_MODE" not in env(found.server)


# -- autoscaling.keda.http ----------------------------------------------------------------------


def test_scale_from_zero_sends_the_ingress_and_route_to_the_interceptor_that_holds_requests(
    objects,
):
    found = objects(
        {
            "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
            "coldStart": {"expectedSeconds": 420},
            "autoscaling": {
                "enabled": True,
                "minReplicas": 0,
                "maxReplicas": 3,
                "keda": {"cooldownPeriod": 900, "http": {"enabled": True, "concurrency": 8}},
            },
            "ingress": {"enabled": True, "hosts": [{"host": "qwen.example.com"}]},
            "httpRoute": {
                "enabled": True,
                "parentRefs": [{"name": "public"}],
                "hostnames": ["qwen.example.com", "qwen.internal"],
            },
            "networkPolicy": {"enabled": True},
        },
        release="qwen",
        namespace="ai",
    )
    assert found.of_kind("ScaledObject") == []
    spec = found.one("HTTPScaledObject")["spec"]
    assert spec["hosts"] == ["qwen.example.com", "qwen.internal"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "qwen-modelservice",
        "service": "qwen-modelservice",
        "port": 8000,
    }
    assert spec["replicas"] == {"min": 0, "max": 3}
    assert spec["timeouts"] == {"conditionWait": "420s", "responseHeader": "600s"}
    assert spec["initialCooldownPeriod"] == 420 and spec["scaledownPeriod"] == 900
    assert spec["scalingMetric"] == {"concurrency": {"targetValue": 8}}
    alias = next(s for s in found.of_kind("Service") if s["spec"]["type"] == "ExternalName")
    assert alias["metadata"]["name"] == "qwen-modelservice-interceptor"
    assert alias["spec"]["externalName"] == (
        "keda-add-ons-http-interceptor-proxy.keda.svc.cluster.local"
    )
    backend = found.one("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {
        "service": {"name": "qwen-modelservice-interceptor", "port": {"number": 8080}}
    }
    [ref] = found.one("HTTPRoute")["spec"]["rules"][0]["backendRefs"]
    assert ref == {"name": "keda-add-ons-http-interceptor-proxy", "namespace": "keda", "port": 8080}
    peers = found.one("NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}} in peers
    assert "replicas" not in found.deployment["spec"]


def test_the_scale_from_zero_example_passes_with_its_custom_kind_on_the_api_server(apiserver):
    path = EXAMPLES / "scale-from-zero-holding-requests.yaml"
    result = validate_file(path, EXAMPLES.parent / "chart")
    assert result.problems == []
    rendered = render(
        EXAMPLES.parent / "chart",
        result.values,
        release=release_name_for(str(path)),
        namespace="ai",
    )
    kinds = [o["kind"] for o in rendered.objects()]
    assert "HTTPScaledObject" in kinds
    assert apiserver.dry_run(rendered.objects(), namespace="ai") == [None] * len(kinds)


def test_the_server_refuses_an_httpscaledobject_breaking_its_crds_rules(apiserver):
    rendered = Objects(
        render_values(
            {
                "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
                "autoscaling": {"enabled": True, "keda": {"http": {"enabled": True}}},
            }
        )
    )
    scaler = rendered.one("HTTPScaledObject")
    scaler["spec"]["scaleTargetRef"]["portName"] = "http"  # port and portName: CEL refuses
    [message] = apiserver.dry_run([scaler], namespace="controls")
    assert message is not None and "must define either the 'portName' or the 'port'" in message


# -- plan --bandwidth ---------------------------------------------------------------------------


def plan_json(*args: str) -> dict[str, Any]:
    from click.testing import CliRunner

    from modelservice.cli import cli

    result = CliRunner().invoke(cli, ["plan", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_plan_estimates_the_cold_start_from_the_hubs_file_list_the_download_keeps(tmp_path):
    from podrunner import tiny_models, vllm_cpu
    from podrunner.fake_hub import FakeHub, Repo

    folder = tiny_models.ensure(vllm_cpu.cache_dir(), vllm_cpu.venv() / "bin/python")
    files = tiny_models.files(folder, "causal")
    files["original/consolidated.00.pth"] = b"\0" * 5_000_000  # the chart's download skips it
    kept = sum(len(data) for name, data in files.items() if not name.startswith("original/"))
    with FakeHub({"tiny/model": Repo(files, revision="main")}) as hub:
        values = tmp_path / "tiny.yaml"
        values.write_text(
            f"model:\n  name: tiny/model\nhuggingface:\n  endpoint: {hub.url}\n"
            "coldStart:\n  expectedSeconds: 60\n",
            encoding="utf-8",
        )
        found = plan_json(
            str(values), "--gpu-memory", "8GiB", "--bandwidth", "8Mbit/s", "--disk-speed", "1MB/s"
        )["cold_start"]
    assert found["bytes"] == kept and found["files"] == len(files) - 1
    assert found["fetch_seconds"] == round(kept / 1e6, 1)  # 8 Mbit/s is 1 MB/s
    assert found["load_seconds"] == round(kept / 1e6, 1)
    assert found["warmup_seconds"] == 60
    assert found["total_seconds"] == round(2 * kept / 1e6 + 60, 1)
    assert found["covered"] is False and "file list" in found["bytes_from"]


def test_plan_reads_an_oci_models_bytes_from_the_registrys_manifest(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from oci_registry import start_registry

    from modelservice.cli import cli
    from modelservice.oci import push as push_module
    from podrunner import tiny_models, vllm_cpu

    monkeypatch.setattr(push_module, "cache_root", lambda: tmp_path / "push-cache")
    folder = tiny_models.ensure(vllm_cpu.cache_dir(), vllm_cpu.venv() / "bin/python") / "causal"
    size = sum(p.stat().st_size for p in folder.iterdir())
    with start_registry() as registry:
        pushed = CliRunner().invoke(
            cli, ["push-model", "--plain-http", str(folder), f"oci://{registry.host}/m/tiny:v1"]
        )
        assert pushed.exit_code == 0, pushed.output
        values = tmp_path / "oci.yaml"
        values.write_text(
            "model:\n  source: oci\n  oci:\n"
            f"    reference: {pushed.stdout.strip()}\n    plainHTTP: true\n",
            encoding="utf-8",
        )
        found = plan_json(
            str(values), "--config", str(folder), "--gpu-memory", "8GiB", "--bandwidth", "1MB/s"
        )["cold_start"]
    assert found["bytes"] == size and found["files"] == 6
    assert "the registry's manifest" in found["bytes_from"]
    assert found["fetch_seconds"] == round(size / 1e6, 1)


def test_plan_offline_counts_the_tables_parameters_and_says_when_the_expectation_is_short(tmp_path):
    from click.testing import CliRunner

    from modelservice.cli import cli

    values = tmp_path / "qwen.yaml"
    values.write_text(
        "model:\n  name: Qwen/Qwen2.5-7B-Instruct\ncoldStart:\n  expectedSeconds: 120\n",
        encoding="utf-8",
    )
    args = [str(values), "--gpu", "L40S", "--offline", "--bandwidth", "1Gbit/s"]
    found = plan_json(*args)["cold_start"]
    assert found["bytes"] == int(7.61e9 * 2)
    assert found["fetch_seconds"] == round(7.61e9 * 2 / 125e6, 1)
    text = CliRunner().invoke(cli, ["plan", *args]).stdout
    assert "cold start       197 s: 15.2 GB" in text
    assert "coldStart.expectedSeconds 120 is shorter: set it to 197 or more" in text
    bad = CliRunner().invoke(cli, ["plan", str(values), "--gpu", "L40S", "--bandwidth", "fast"])
    assert bad.exit_code == 1 and "'fast' is not a rate" in bad.stderr
