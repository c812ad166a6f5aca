"""Routing through an InferencePool (routing.*), on the rendered objects: the pool selects the
pods that serve the API, the route's backend is the pool, the endpoint picker runs with flags,
plugins and configuration fields its own code declares (schemas/picker/, read from llm-d-router
v0.10.0 by tools/extract_picker.py), least-privilege RBAC, leader election with more than one
replica, KV events that vLLM's own KVEventsConfig parses, and the picker's dashboard panels on
metrics it exports. The pool's CRD refuses what the chart must never render (9 ports, a port
twice, a picker Service without a port), on the real API server."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from functools import cache
from typing import Any

import helm_python
import pytest
import yaml
from vllm_env import run_vllm

from conftest import CHART, ROOT, render_values

PICKER = json.loads((ROOT / "schemas" / "picker" / "v0.10.0.json").read_text(encoding="utf-8"))
MODEL = "Qwen/Qwen2.5-7B-Instruct"
ROUTE = {"enabled": True, "parentRefs": [{"name": "inference-gateway"}]}
MIRROR = "https://hf-mirror.example.com"


def routed(**routing: Any) -> dict[str, Any]:
    """Values of a release behind a pool (and its route), with ``routing`` over the pool."""
    values: dict[str, Any] = {
        "model": {"name": MODEL},
        "httpRoute": ROUTE,
        "routing": {"inferencePool": {"enabled": True}},
    }
    for key, value in routing.items():
        values["routing"][key] = value
    return values


def kinds(objects) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in objects.all:
        found.setdefault(obj["kind"], []).append(obj)
    return found


def component(obj: dict[str, Any]) -> str | None:
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def picker_deployment(objects) -> dict[str, Any]:
    (found,) = [o for o in objects.of_kind("Deployment") if component(o) == "endpoint-picker"]
    return found


def server_deployment(objects) -> dict[str, Any]:
    (found,) = [o for o in objects.of_kind("Deployment") if component(o) != "endpoint-picker"]
    return found


def server_container(objects) -> dict[str, Any]:
    return container(server_deployment(objects)["spec"]["template"]["spec"], "vllm")


def picker_config(objects) -> dict[str, Any]:
    (config_map,) = [o for o in objects.of_kind("ConfigMap") if component(o) == "endpoint-picker"]
    return yaml.safe_load(config_map["data"]["config.yaml"])


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod["containers"] + pod.get("initContainers", []) if c["name"] == name)


# -- the pool, the route, the labels ------------------------------------------------------------


def test_an_enabled_pool_renders_the_pool_its_picker_and_a_route_to_the_pool(objects):
    rendered = objects(routed(), release="qwen")
    found = kinds(rendered)
    (pool,) = found["InferencePool"]
    assert pool["apiVersion"] == "inference.networking.k8s.io/v1"
    assert pool["spec"] == {
        "selector": {"matchLabels": {"modelservice/inference-pool": "qwen-modelservice"}},
        "targetPorts": [{"number": 8000}],
        "appProtocol": "http",
        "endpointPickerRef": {
            "name": "qwen-modelservice-epp",
            "port": {"number": 9002},
            "failureMode": "FailOpen",
        },
    }
    (route,) = found["HTTPRoute"]
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {
            "group": "inference.networking.k8s.io",
            "kind": "InferencePool",
            "name": "qwen-modelservice",
        }
    ]
    picker = {
        (o["kind"], o["metadata"]["name"])
        for o in rendered.all
        if component(o) == "endpoint-picker"
    }
    assert picker == {
        ("Deployment", "qwen-modelservice-epp"),
        ("Service", "qwen-modelservice-epp"),
        ("ServiceAccount", "qwen-modelservice-epp"),
        ("ConfigMap", "qwen-modelservice-epp"),
        ("Role", "qwen-modelservice-epp"),
        ("RoleBinding", "qwen-modelservice-epp"),
        ("ClusterRoleBinding", "default-qwen-modelservice-epp-auth"),
    }


def test_a_release_without_routing_renders_no_routing_object_and_routes_to_its_service(objects):
    rendered = objects({"model": {"name": MODEL}, "httpRoute": ROUTE})
    assert not {"InferencePool", "InferenceObjective"} & set(kinds(rendered))
    assert all(component(o) != "endpoint-picker" for o in rendered.all)
    (route,) = rendered.of_kind("HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "test-modelservice", "port": 8000}]
    assert (
        "modelservice/inference-pool"
        not in rendered.deployment["spec"]["template"]["metadata"]["labels"]
    )


def test_the_pool_label_is_on_the_pods_that_serve_the_api_and_on_no_other_pod(objects):
    values = routed(inferencePool={"enabled": True, "name": "qwen"})
    rendered = objects(values)
    label = {"modelservice/inference-pool": "qwen"}
    template = server_deployment(rendered)["spec"]["template"]["metadata"]["labels"]
    assert label.items() <= template.items()
    picker_labels = picker_deployment(rendered)["spec"]["template"]["metadata"]["labels"]
    assert "modelservice/inference-pool" not in picker_labels
    (test_pod,) = rendered.of_kind("Pod")
    assert "modelservice/inference-pool" not in test_pod["metadata"]["labels"]
    group = objects(
        {
            **values,
            "gpu": {"count": 8},
            "engine": {"tensorParallelSize": 8, "args": ["--pipeline-parallel-size=2"]},
            "multiNode": {"enabled": True, "nodes": 2},
            "persistence": {"perPod": True},
        }
    ).one("LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    assert label.items() <= group["leaderTemplate"]["metadata"]["labels"].items()
    assert "modelservice/inference-pool" not in group["workerTemplate"]["metadata"]["labels"]


def test_the_picker_and_the_servers_never_select_each_others_pods(objects):
    rendered = objects(routed())
    server_labels = server_deployment(rendered)["spec"]["template"]["metadata"]["labels"]
    picker_labels = picker_deployment(rendered)["spec"]["template"]["metadata"]["labels"]
    services = {component(s): s["spec"]["selector"] for s in rendered.of_kind("Service")}
    assert not services["endpoint-picker"].items() <= server_labels.items()
    assert not services["model-server"].items() <= picker_labels.items()
    (monitor_less,) = rendered.of_kind("PodDisruptionBudget") or [None]
    if monitor_less is not None:
        assert not monitor_less["spec"]["selector"]["matchLabels"].items() <= picker_labels.items()


def test_a_joining_release_labels_its_pods_for_the_joined_pool_and_renders_no_picker(objects):
    values = {
        "model": {"name": f"{MODEL}-AWQ", "servedModelName": MODEL},
        "httpRoute": ROUTE,
        "routing": {"inferencePool": {"join": "qwen"}, "objectives": [{"name": "canary"}]},
    }
    rendered = objects(values)
    assert "InferencePool" not in kinds(rendered)
    assert all(component(o) != "endpoint-picker" for o in rendered.all)
    labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["modelservice/inference-pool"] == "qwen"
    (objective,) = rendered.of_kind("InferenceObjective")
    assert objective["spec"]["poolRef"]["name"] == "qwen"
    (route,) = rendered.of_kind("HTTPRoute")
    assert route["spec"]["rules"][0]["backendRefs"][0]["name"] == "qwen"


def test_objectives_render_in_the_current_group_or_the_older_one(objects):
    objectives = [{"name": "interactive", "priority": 10}, {"name": "batch", "priority": -5}]
    current = objects(routed(objectives=objectives)).of_kind("InferenceObjective")
    assert [(o["apiVersion"], o["metadata"]["name"], o["spec"]["priority"]) for o in current] == [
        ("llm-d.ai/v1alpha2", "interactive", 10),
        ("llm-d.ai/v1alpha2", "batch", -5),
    ]
    older = objects(
        routed(objectives=objectives, objectivesApiGroup="inference.networking.x-k8s.io")
    ).of_kind("InferenceObjective")
    assert {o["apiVersion"] for o in older} == {"inference.networking.x-k8s.io/v1alpha2"}


def test_the_network_policy_admits_the_pools_picker_to_the_api_port(objects):
    policy = objects({**routed(), "networkPolicy": {"enabled": True}}).one("NetworkPolicy")
    peers = policy["spec"]["ingress"][0]["from"]
    assert {
        "podSelector": {"matchLabels": {"modelservice/endpoint-picker-of": "test-modelservice"}}
    } in peers


# -- the picker as its own code reads it ---------------------------------------------------------


def test_the_picker_runs_its_pinned_image_with_flags_its_code_declares(objects):
    pod = picker_deployment(objects(routed()))["spec"]["template"]["spec"]
    epp = container(pod, "epp")
    assert epp["image"] == f"{PICKER['image']}:{PICKER['version']}"
    flags = [a.split("=")[0] for a in epp["args"] if a.startswith("--")]
    assert flags and set(f[2:] for f in flags) <= set(PICKER["flags"])
    assert not any(PICKER["flags"][f[2:]]["deprecated"] for f in flags)
    args = epp["args"]
    value = {
        args[i][2:]: args[i + 1] for i in range(len(args) - 1) if not args[i + 1].startswith("--")
    }
    # The ports the chart declares are the picker's own defaults, made explicit.
    for flag in ("grpc-port", "grpc-health-port", "metrics-port"):
        assert value[flag] == PICKER["flags"][flag]["default"]
    ports = {p["name"]: p["containerPort"] for p in epp["ports"]}
    assert ports == {"grpc": 9002, "grpc-health": 9003, "metrics": 9090}
    assert {epp["livenessProbe"]["grpc"]["service"], epp["readinessProbe"]["grpc"]["service"]} == (
        set(PICKER["health_services"])
    )
    assert value["pool-group"] == "inference.networking.k8s.io"


def _walk(node: Any, struct: str, structs: dict[str, dict[str, str]], where: str) -> list[str]:
    """Keys of ``node`` the Go struct ``struct`` does not decode (the picker refuses them)."""
    fields = structs[struct]
    problems = []
    for key, value in node.items():
        if key not in fields:
            problems.append(f"{where}.{key}")
            continue
        target = re.sub(r"^[\[\]*]+", "", fields[key])
        target = target if target in structs else target.rsplit(".", 1)[-1]
        if target in structs and isinstance(value, dict):
            problems += _walk(value, target, structs, f"{where}.{key}")
        elif target in structs and isinstance(value, list):
            for index, item in enumerate(value):
                problems += _walk(item, target, structs, f"{where}.{key}[{index}]")
    return problems


@pytest.mark.parametrize(
    "values",
    [
        routed(),
        routed(endpointPicker={"scorers": {"loraAffinity": 1}}),
        {**routed(kvEvents={"enabled": True}), "huggingface": {"endpoint": MIRROR}},
    ],
    ids=["defaults", "lora-affinity", "kv-events"],
)
def test_the_picker_configuration_holds_only_plugins_and_fields_the_picker_decodes(objects, values):
    config = picker_config(objects(values))
    schema = PICKER["config"]
    assert (config["apiVersion"], config["kind"]) == (schema["apiVersion"], schema["kind"])
    # apiVersion and kind are its inline TypeMeta; the rest are the struct's own fields.
    body = {k: v for k, v in config.items() if k not in ("apiVersion", "kind")}
    assert _walk(body, "EndpointPickerConfig", schema["structs"], "config") == []
    names = set()
    for plugin in config["plugins"]:
        assert plugin["type"] in PICKER["plugins"], plugin["type"]
        names.add(plugin.get("name", plugin["type"]))
        if "parameters" in plugin:
            struct = schema["plugin_parameters"][plugin["type"]]
            assert _walk(plugin["parameters"], struct, schema["structs"], plugin["type"]) == []
    refs = [p["pluginRef"] for profile in config["schedulingProfiles"] for p in profile["plugins"]]
    refs += [s["pluginRef"] for s in config["dataLayer"]["sources"]]
    assert set(refs) <= names


def test_the_charts_default_metrics_for_the_picker_are_the_pickers_own_for_vllm():
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["routing"]["endpointPicker"]
    by_field = {
        "queuedRequests": "queuedRequestsSpec",
        "runningRequests": "runningRequestsSpec",
        "kvCacheUsage": "kvUsageSpec",
        "loraInfo": "loraSpec",
        "cacheInfo": "cacheInfoSpec",
    }
    assert {by_field[k]: v for k, v in defaults["metrics"].items()} == PICKER["engine_metrics"][
        "vllm"
    ]


@pytest.mark.parametrize(
    ("weights", "profile"),
    [
        ({}, [("queue-scorer", 2), ("kv-cache-utilization-scorer", 2), ("prefix-cache-scorer", 3)]),
        ({"queue": 1, "kvCacheUsage": 0, "prefixCache": 0}, [("queue-scorer", 1)]),
        (
            {"prefixCache": 5, "loraAffinity": 1.5},
            [
                ("queue-scorer", 2),
                ("kv-cache-utilization-scorer", 2),
                ("lora-affinity-scorer", 1.5),
                ("prefix-cache-scorer", 5),
            ],
        ),
    ],
)
def test_the_scorers_are_the_keys_with_a_weight_above_zero(objects, weights, profile):
    config = picker_config(objects(routed(endpointPicker={"scorers": weights})))
    (default,) = config["schedulingProfiles"]
    scored = [(p["pluginRef"], p["weight"]) for p in default["plugins"] if "weight" in p]
    assert scored == profile
    assert default["plugins"][-1] == {"pluginRef": "max-score-picker"}


def test_leader_election_and_its_lease_rights_come_with_more_than_one_replica(objects):
    def picker(replicas: int) -> tuple[dict[str, Any], dict[str, Any]]:
        rendered = objects(routed(endpointPicker={"replicas": replicas}))
        (role,) = [r for r in rendered.of_kind("Role") if component(r) == "endpoint-picker"]
        return picker_deployment(rendered), role

    one, role = picker(1)
    assert one["spec"]["replicas"] == 1 and one["spec"]["strategy"] == {"type": "Recreate"}
    assert (
        "--ha-enable-leader-election"
        not in container(one["spec"]["template"]["spec"], "epp")["args"]
    )
    assert all("coordination.k8s.io" not in r["apiGroups"] for r in role["rules"])
    three, role = picker(3)
    assert three["spec"]["replicas"] == 3
    assert (
        "--ha-enable-leader-election" in container(three["spec"]["template"]["spec"], "epp")["args"]
    )
    lease = {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    }
    assert lease in role["rules"]


def test_the_pickers_rights_are_reads_in_its_namespace_and_the_auth_delegator(objects):
    rendered = objects(routed())
    (role,) = [r for r in rendered.of_kind("Role") if component(r) == "endpoint-picker"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["inference.networking.k8s.io"],
            "resources": ["inferencepools"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["llm-d.ai", "inference.networking.x-k8s.io"],
            "resources": ["inferenceobjectives", "inferencemodelrewrites"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    (binding,) = rendered.of_kind("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "system:auth-delegator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "test-modelservice-epp", "namespace": "default"}
    ]
    assert not rendered.of_kind("ClusterRole")
    pod = picker_deployment(rendered)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "test-modelservice-epp"
    assert pod["securityContext"]["runAsNonRoot"] is True
    epp = container(pod, "epp")["securityContext"]
    assert epp["readOnlyRootFilesystem"] and epp["capabilities"] == {"drop": ["ALL"]}


def test_failure_mode_and_target_ports_reach_the_pool(objects):
    pool = objects(
        routed(
            inferencePool={"enabled": True, "targetPorts": [8000]},
            endpointPicker={"failureMode": "FailClose"},
        )
    ).one("InferencePool")
    assert pool["spec"]["endpointPickerRef"]["failureMode"] == "FailClose"
    assert pool["spec"]["targetPorts"] == [{"number": 8000}]


# -- KV events -------------------------------------------------------------------------------------


def kv_values(**extra: Any) -> dict[str, Any]:
    values = routed(kvEvents={"enabled": True, "blockSize": 32})
    values["huggingface"] = {"endpoint": MIRROR}
    values.update(extra)
    return values


def test_kv_events_wire_the_servers_to_the_pickers_service_with_one_block_size(objects):
    rendered = objects(kv_values(), release="qwen", namespace="ai")
    server = server_container(rendered)
    args = server["args"]
    events = json.loads(args[args.index("--kv-events-config") + 1])
    assert events == {
        "enable_kv_cache_events": True,
        "publisher": "zmq",
        "endpoint": "tcp://qwen-modelservice-epp.ai.svc:5557",
        "topic": f"kv@$(POD_IP):8000@{MODEL}",
    }
    assert args[args.index("--block-size") + 1] == "32" and "--enable-prefix-caching" in args
    pod_ip = next(e for e in server["env"] if e["name"] == "POD_IP")
    assert pod_ip["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    config = picker_config(rendered)
    producer = next(p for p in config["plugins"] if p["type"] == "precise-prefix-cache-producer")
    assert producer["parameters"]["tokenProcessorConfig"] == {"blockSizeTokens": 32}
    assert producer["parameters"]["kvEventsConfig"] == {
        "zmqEndpoint": "tcp://*:5557",
        "topicFilter": PICKER["kv_events"]["topicFilter"],
        "engineType": "vllm",
        "discoverPods": False,
    }
    service = next(s for s in rendered.of_kind("Service") if component(s) == "endpoint-picker")
    assert {"name": "kv-events", "port": 5557, "targetPort": "kv-events", "protocol": "TCP"} in (
        service["spec"]["ports"]
    )


def test_a_joining_release_publishes_its_kv_events_to_the_joined_pools_picker(objects):
    values = {
        "model": {"name": MODEL, "servedModelName": "qwen"},
        "huggingface": {"endpoint": MIRROR},
        "routing": {"inferencePool": {"join": "qwen-7b"}, "kvEvents": {"enabled": True}},
    }
    args = server_container(objects(values, namespace="ai"))["args"]
    events = json.loads(args[args.index("--kv-events-config") + 1])
    owner = objects(routed(inferencePool={"enabled": True, "name": "qwen-7b"}), namespace="ai")
    (service,) = [s for s in owner.of_kind("Service") if component(s) == "endpoint-picker"]
    assert events["endpoint"] == f"tcp://{service['metadata']['name']}.ai.svc:5557"
    assert events["topic"] == "kv@$(POD_IP):8000@qwen"


#: vLLM's own reading of rendered command lines: its parser, its engine arguments, its
#: KVEventsConfig; $(POD_IP) as the kubelet expands it.
PARSE = r"""
import json, sys
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.common.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser
found = []
for argv in json.load(sys.stdin):
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(argv)
    engine = AsyncEngineArgs.from_cli_args(args)
    config = engine.kv_events_config
    found.append({"config": type(config).__name__, "fields": vars(config),
                  "block_size": engine.block_size,
                  "prefix_caching": engine.enable_prefix_caching})
print(json.dumps(found))
"""


def test_vllms_own_code_parses_the_rendered_kv_events_config(objects):
    owner = server_container(objects(kv_values()))["args"]
    joiner = objects(
        {
            "model": {"name": MODEL, "servedModelName": "qwen"},
            "huggingface": {"endpoint": MIRROR},
            "routing": {"inferencePool": {"join": "qwen-7b"}, "kvEvents": {"enabled": True}},
        }
    ).server["args"]  # a joining release renders no picker: one Deployment
    expanded = [[a.replace("$(POD_IP)", "10.0.3.7") for a in argv] for argv in (owner, joiner)]
    parsed = run_vllm(PARSE, expanded)
    assert [p["config"] for p in parsed] == ["KVEventsConfig", "KVEventsConfig"]
    assert parsed[0]["fields"]["topic"] == f"kv@10.0.3.7:8000@{MODEL}"
    assert parsed[0]["fields"]["endpoint"] == "tcp://test-modelservice-epp.default.svc:5557"
    assert parsed[1]["fields"]["endpoint"] == "tcp://qwen-7b-epp.default.svc:5557"
    for found, size in zip(parsed, (32, 16), strict=True):
        assert found["fields"]["enable_kv_cache_events"] is True
        assert found["fields"]["publisher"] == "zmq"
        assert (found["block_size"], found["prefix_caching"]) == (size, True)


@pytest.mark.parametrize(
    ("values", "source", "mount"),
    [
        (kv_values(), "mirror", {"name": "cache", "mountPath": "/root/.cache"}),
        (
            {**kv_values(), "huggingface": {}, "persistence": {"accessModes": ["ReadWriteMany"]}},
            "cache",
            {"name": "cache", "mountPath": "/root/.cache", "readOnly": True},
        ),
        (
            {**kv_values(), "huggingface": {}, "model": {"source": "modelscope", "name": MODEL}},
            "modelscope",
            {"name": "cache", "mountPath": "/root/.cache"},
        ),
    ],
    ids=["mirror", "shared-cache", "modelscope"],
)
def test_the_pickers_tokenizer_reads_the_release_cache_the_mirror_or_modelscope_offline(
    objects, values, source, mount
):
    pod = picker_deployment(objects(values))["spec"]["template"]["spec"]
    tokenizer = container(pod, "tokenizer")
    env = {e["name"]: e.get("value") for e in tokenizer["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    assert tokenizer["command"] == ["vllm", "launch", "render"]
    assert tokenizer["args"][:3] == [MODEL, "--served-model-name", MODEL]
    assert mount in tokenizer["volumeMounts"]
    cache_volume = next(v for v in pod["volumes"] if v["name"] == "cache")
    downloads = [c for c in pod.get("initContainers", []) if c["name"] == "tokenizer-download"]
    if source == "cache":
        assert cache_volume["persistentVolumeClaim"] == {
            "claimName": "test-modelservice-cache",
            "readOnly": True,
        }
        assert downloads == []
    else:
        assert cache_volume == {"name": "cache", "emptyDir": {}}
        (download,) = downloads
        tool = "modelscope" if source == "modelscope" else "hf"
        assert download["args"][:3] == [tool, "download", MODEL]
        assert not any(a.endswith((".safetensors", ".bin")) for a in download["args"])
        if source == "mirror":
            assert {"name": "HF_ENDPOINT", "value": MIRROR} in download["env"]
    config = picker_config(objects(values))
    producer = next(p for p in config["plugins"] if p["type"] == "token-producer")
    assert producer["parameters"] == {"modelName": MODEL, "vllm": {"url": "http://localhost:8200"}}


def test_without_kv_events_the_picker_estimates_prefixes_and_reads_no_tokenizer(objects):
    pod = picker_deployment(objects(routed()))["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["epp"]
    assert "initContainers" not in pod
    config = picker_config(objects(routed()))
    assert {"type": "prefix-cache-scorer"} in config["plugins"]
    assert not any(p["type"] == "token-producer" for p in config["plugins"])


# -- monitoring ----------------------------------------------------------------------------------


MONITORED = {
    **routed(inferencePool={"enabled": True, "name": "qwen"}),
    "metrics": {
        "serviceMonitor": {"enabled": True, "namespace": "monitoring"},
        "dashboard": {"enabled": True},
    },
}


def test_the_pickers_metrics_reach_its_own_servicemonitor_with_a_reader_token(objects):
    rendered = objects(MONITORED, namespace="ai")
    monitors = {component(m): m for m in rendered.of_kind("ServiceMonitor")}
    monitor = monitors["endpoint-picker"]
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ai"]}
    service = next(s for s in rendered.of_kind("Service") if component(s) == "endpoint-picker")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http-metrics" and endpoint["path"] == "/metrics"
    assert {p["name"] for p in service["spec"]["ports"]} >= {"http-metrics", "grpc-ext-proc"}
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "qwen-epp-metrics", "key": "token"},
    }
    (secret,) = rendered.of_kind("Secret")
    assert secret["type"] == "kubernetes.io/service-account-token" and "data" not in secret
    assert secret["metadata"]["namespace"] == "monitoring"
    (role,) = rendered.of_kind("ClusterRole")
    assert role["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    # The server's monitor still selects the server's Service only.
    assert monitors["model-server"]["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "modelservice",
        "app.kubernetes.io/instance": "test",
    }


def _dashboard(objects) -> dict[str, Any]:
    (config_map,) = [
        c for c in objects(MONITORED).of_kind("ConfigMap") if component(c) != "endpoint-picker"
    ]
    return json.loads(next(iter(config_map["data"].values())))


PROMQL_NAME = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")


def routing_targets(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] if p["id"] >= 100 for t in p.get("targets", [])]


def test_the_dashboard_gains_the_pickers_panels_on_metrics_it_exports(objects):
    dashboard = _dashboard(objects)
    titles = [p["title"] for p in dashboard["panels"] if p["id"] >= 100]
    assert titles[0].startswith("Routing") and len(titles) == 5
    pool = next(v for v in dashboard["templating"]["list"] if v["name"] == "pool")
    assert (pool["type"], pool["query"], pool["current"]["value"]) == ("constant", "qwen", "qwen")
    series = {s: m for m in PICKER["metrics"].values() for s in m["series"]}
    used = set()
    for expr in routing_targets(dashboard):
        for name, selector in PROMQL_NAME.findall(re.sub(r'"[^"]*"', '""', expr)):
            if name in series:
                used.add(name)
                labels = set(re.findall(r"(\w+)\s*=~?", selector)) - {"namespace"}
                assert labels <= set(series[name]["labels"] or []), (name, labels)
    assert used == {
        "llm_d_epp_ready_endpoints",
        "llm_d_epp_average_kv_cache_utilization",
        "llm_d_epp_average_queue_size",
        "llm_d_epp_request_total",
        "llm_d_epp_request_error_total",
        "llm_d_epp_scheduler_e2e_duration_seconds_bucket",
    }


def test_promtool_parses_the_pickers_dashboard_expressions(objects, tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by make tools (Debian's prometheus package)"
    grafana = {"$namespace": "ai", "$pool": "qwen", "$model_name": ".*"}
    rules = []
    for index, expr in enumerate(routing_targets(_dashboard(objects))):
        for variable, value in grafana.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"routing:query{index}", "expr": expr})
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "routing", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_helm_lint_strict_reports_nothing_with_routing_kv_events_and_monitoring_on():
    values = {**kv_values(), "metrics": MONITORED["metrics"], "networkPolicy": {"enabled": True}}
    report = helm_python.lint(str(CHART), values, strict=True)
    assert report["errors"] == [] and report["messages"] == []


# -- the pool's CRD, on the real API server --------------------------------------------------------


@cache
def rendered_pool() -> dict[str, Any]:
    (pool,) = [o for o in render_values(routed()).objects() if o["kind"] == "InferencePool"]
    return pool


def test_the_rendered_pool_passes_the_servers_strict_dry_run(apiserver):
    assert apiserver.dry_run_one(rendered_pool(), "ai") is None


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (lambda s: s.update(targetPorts=[{"number": 8000 + i} for i in range(9)]), "at most 8"),
        (
            lambda s: s.update(targetPorts=[{"number": 8000}, {"number": 8000}]),
            "port number must be unique",
        ),
        (lambda s: s["endpointPickerRef"].pop("port"), "port is required when kind is 'Service'"),
        (lambda s: s.update(appProtocol="grpc"), "Unsupported value"),
        (lambda s: s["endpointPickerRef"].update(failureMode="Open"), "Unsupported value"),
    ],
    ids=[
        "nine-ports",
        "a-port-twice",
        "picker-service-without-port",
        "app-protocol",
        "failure-mode",
    ],
)
def test_the_pool_crd_refuses_what_the_chart_must_never_render(apiserver, change, refusal):
    pool = copy.deepcopy(rendered_pool())
    change(pool["spec"])
    message = apiserver.dry_run_one(pool, "ai")
    assert message is not None and refusal in message, message


# -- the gateways check knows are the ones docs/routing.md explains --------------------------------


def test_every_gateway_check_recognizes_is_in_the_routing_guide_with_its_controllers():
    from modelservice.checks.cluster.routing import gateway_of, known_gateways

    guide = (ROOT / "docs" / "routing.md").read_text(encoding="utf-8")
    names = [g["name"] for g in known_gateways()]
    assert names == [
        "Istio",
        "kgateway",
        "NGINX Gateway Fabric",
        "agentgateway",
        "GKE Gateway",
        "Envoy AI Gateway",
    ]
    for gateway in known_gateways():
        assert f'<a id="{gateway["anchor"]}"></a>{gateway["name"]} |' in guide
        for controller in gateway["controllers"]:
            assert f"`{controller}`" in guide
            assert gateway_of(controller) is gateway
    assert gateway_of("example.com/plain-proxy") is None
