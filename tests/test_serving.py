"""The serving surface: API-key auth, probes, Ingress, HTTPRoute, NetworkPolicy, PDB, the
``helm test`` pod (and its script, run against a fake server) and NOTES.txt."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from conftest import CHART, EXAMPLES, QWEN, Objects, render_values, values
from conftest import render_notes as notes
from modelservice.cli import cli
from modelservice.core.errors import EngineError


def helm_test_pod(rendered: Objects) -> dict[str, Any]:
    return rendered.one("Pod")


def pod_env(pod: dict[str, Any]) -> dict[str, Any]:
    container = pod["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# -- API-key auth ------------------------------------------------------------------------------


def test_auth_apikey_create_renders_a_kept_opaque_secret_holding_a_random_48_character_key(
    objects,
):
    rendered = objects(values(auth={"apiKey": {"create": True}}), release="chat")
    secret = rendered.one("Secret")
    assert secret["metadata"]["name"] == "chat-modelservice-api-key"
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert list(secret["data"]) == ["api-key"]
    key = base64.b64decode(secret["data"]["api-key"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{48}", key)


def test_the_server_reads_the_generated_key_only_through_a_secret_key_ref(objects):
    rendered = objects(values(auth={"apiKey": {"create": True}}), release="chat")
    assert rendered.env()["VLLM_API_KEY"] == {
        "secretKeyRef": {"name": "chat-modelservice-api-key", "key": "api-key"}
    }
    secret_value = rendered.one("Secret")["data"]["api-key"]
    deployment_text = json.dumps(rendered.deployment)
    assert secret_value not in deployment_text
    assert base64.b64decode(secret_value).decode() not in deployment_text


def test_auth_apikey_secretkey_names_the_key_of_the_generated_secret(objects):
    rendered = objects(values(auth={"apiKey": {"create": True, "secretKey": "token"}}))
    assert list(rendered.one("Secret")["data"]) == ["token"]
    assert rendered.env()["VLLM_API_KEY"]["secretKeyRef"]["key"] == "token"


def test_an_existing_secret_name_wins_over_create_and_no_secret_is_rendered(objects):
    rendered = objects(values(auth={"apiKey": {"create": True, "secretName": "team-key"}}))
    assert rendered.of_kind("Secret") == []
    assert rendered.env()["VLLM_API_KEY"] == {
        "secretKeyRef": {"name": "team-key", "key": "api-key"}
    }


def test_without_auth_there_is_no_secret_and_no_api_key(objects):
    rendered = objects(values())
    assert rendered.of_kind("Secret") == []
    assert "VLLM_API_KEY" not in rendered.env()


def test_the_generated_secret_name_keeps_its_suffix_under_a_long_release_name(objects):
    rendered = objects(values(auth={"apiKey": {"create": True}}), release="r" * 53)
    name = rendered.one("Secret")["metadata"]["name"]
    assert name.endswith("-api-key") and len(name) <= 63
    assert rendered.env()["VLLM_API_KEY"]["secretKeyRef"]["name"] == name


# -- probes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe", "rendered_as"),
    [("startup", "startupProbe"), ("readiness", "readinessProbe"), ("liveness", "livenessProbe")],
)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("initialDelaySeconds", 7),
        ("periodSeconds", 3),
        ("timeoutSeconds", 4),
        ("failureThreshold", 360),
    ],
)
def test_changing_a_probe_value_changes_the_rendered_probe(
    objects, probe, rendered_as, field, value
):
    default = objects(values()).server[rendered_as]
    changed = objects(values(probes={probe: {field: value}})).server[rendered_as]
    assert changed[field] == value
    assert {k: v for k, v in changed.items() if k != field} == {
        k: v for k, v in default.items() if k != field
    }


def test_the_default_startup_probe_allows_thirty_minutes_to_load_the_model(objects):
    startup = objects(values()).server["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 30 * 60


# -- exposure: defaults ------------------------------------------------------------------------


def test_exposure_objects_are_opt_in_and_one_replica_gets_no_pdb(objects):
    kinds = {o["kind"] for o in objects(values()).all}
    assert kinds.isdisjoint({"Ingress", "HTTPRoute", "NetworkPolicy", "PodDisruptionBudget"})


# -- Ingress -----------------------------------------------------------------------------------


def test_an_ingress_routes_hosts_and_paths_to_the_service_port_http(objects):
    ingress_values = {
        "enabled": True,
        "className": "nginx",
        "annotations": {"nginx.ingress.kubernetes.io/proxy-buffering": "off"},
        "hosts": [
            {"host": "llm.example.com", "paths": [{"path": "/v1", "pathType": "Prefix"}]},
            {"host": "*.llm.example.com"},
        ],
        "tls": [{"secretName": "llm-tls", "hosts": ["llm.example.com"]}],
    }
    rendered = objects(values(ingress=ingress_values))
    ingress = rendered.one("Ingress")
    service = rendered.one("Service")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["metadata"]["annotations"] == ingress_values["annotations"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == ingress_values["tls"]
    backend = {"service": {"name": service["metadata"]["name"], "port": {"name": "http"}}}
    assert service["spec"]["ports"][0]["name"] == "http"
    assert ingress["spec"]["rules"] == [
        {
            "host": "llm.example.com",
            "http": {"paths": [{"path": "/v1", "pathType": "Prefix", "backend": backend}]},
        },
        {
            "host": "*.llm.example.com",
            "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
        },
    ]


def test_an_ingress_without_hosts_has_one_rule_for_any_host(objects):
    ingress = objects(values(ingress={"enabled": True})).one("Ingress")
    assert "ingressClassName" not in ingress["spec"]
    (rule,) = ingress["spec"]["rules"]
    assert "host" not in rule
    assert rule["http"]["paths"][0]["path"] == "/"


# -- HTTPRoute ---------------------------------------------------------------------------------


def assert_valid_httproute(route: dict[str, Any]) -> None:
    """The fields the Gateway API CRD requires (Kubernetes has no built-in schema for it)."""
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["kind"] == "HTTPRoute"
    assert route["metadata"]["name"] and route["metadata"]["namespace"]
    spec = route["spec"]
    assert spec["parentRefs"] and all(ref.get("name") for ref in spec["parentRefs"])
    assert spec["rules"]
    for rule in spec["rules"]:
        for backend in rule["backendRefs"]:
            assert isinstance(backend["name"], str) and backend["name"]
            assert isinstance(backend["port"], int) and 1 <= backend["port"] <= 65535
        for match in rule.get("matches", []):
            assert match["path"]["type"] in {"Exact", "PathPrefix", "RegularExpression"}
        duration = r"([0-9]{1,5}(h|m|s|ms)){1,4}"
        for timeout in rule.get("timeouts", {}).values():
            assert re.fullmatch(duration, timeout), timeout


def test_an_httproute_sends_every_path_to_the_service_with_long_timeouts(objects):
    parents = [{"name": "public", "namespace": "gateways", "sectionName": "https"}]
    route_values = {
        "enabled": True,
        "parentRefs": parents,
        "hostnames": ["llm.example.com"],
        "annotations": {"team": "ml"},
    }
    rendered = objects(values(httpRoute=route_values, service={"port": 8080}), namespace="ai")
    route = rendered.one("HTTPRoute")
    assert_valid_httproute(route)
    assert route["metadata"]["namespace"] == "ai"
    assert route["metadata"]["annotations"] == {"team": "ml"}
    assert route["spec"]["parentRefs"] == parents
    assert route["spec"]["hostnames"] == ["llm.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule["backendRefs"] == [
        {"name": rendered.one("Service")["metadata"]["name"], "port": 8080}
    ]
    assert rule["timeouts"] == {"request": "600s", "backendRequest": "600s"}


@pytest.mark.parametrize(
    ("timeouts", "expected"),
    [
        ({"request": "1h", "backendRequest": "30m"}, {"request": "1h", "backendRequest": "30m"}),
        ({"request": "900s", "backendRequest": ""}, {"request": "900s"}),
        ({"request": "", "backendRequest": ""}, None),
    ],
)
def test_httproute_timeouts_are_rendered_as_given_and_empty_ones_are_left_out(
    objects, timeouts, expected
):
    route_values = {"enabled": True, "parentRefs": [{"name": "gw"}], "timeouts": timeouts}
    route = objects(values(httpRoute=route_values)).one("HTTPRoute")
    assert_valid_httproute(route)
    assert route["spec"]["rules"][0].get("timeouts") == expected


def test_an_httproute_without_a_parent_gateway_is_refused_by_helms_schema_check():
    with pytest.raises(EngineError, match=r"/httpRoute/parentRefs"):
        render_values(values(httpRoute={"enabled": True, "parentRefs": []}))


# -- NetworkPolicy -----------------------------------------------------------------------------

PEERS = [
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
    {"podSelector": {"matchLabels": {"app": "gateway"}}},
]


def test_a_network_policy_admits_the_listed_peers_and_the_test_pod_to_the_api_port_only(objects):
    rendered = objects(values(networkPolicy={"enabled": True, "from": PEERS}))
    policy = rendered.one("NetworkPolicy")
    assert policy["spec"]["podSelector"] == rendered.deployment["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"][:2] == PEERS
    (test_peer,) = rule["from"][2:]
    assert set(test_peer) == {"podSelector"}
    assert selects(
        test_peer["podSelector"]["matchLabels"], helm_test_pod(rendered)["metadata"]["labels"]
    )
    assert rendered.server["ports"][0]["name"] == "http"


@pytest.mark.parametrize(
    ("peers", "tests_enabled", "admitted"),
    [
        ([], True, "the test pod only"),
        ([], False, "nobody"),
        (PEERS[:1], False, "the listed peers only"),
    ],
)
def test_network_policy_from_decides_who_is_admitted(objects, peers, tests_enabled, admitted):
    given = values(networkPolicy={"enabled": True, "from": peers}, tests={"enabled": tests_enabled})
    policy = objects(given).one("NetworkPolicy")
    ingress = policy["spec"]["ingress"]
    if admitted == "nobody":
        # No rule at all: an ingress rule without `from` would admit every source.
        assert ingress == []
    else:
        (rule,) = ingress
        assert rule["from"], "a rule without peers admits everything"
        assert (rule["from"] == peers) is (admitted == "the listed peers only")


def test_a_network_policy_peer_with_an_unknown_key_is_rejected_by_the_schema():
    bad = values(networkPolicy={"enabled": True, "from": [{"namespaceSelectr": {}}]})
    with pytest.raises(EngineError, match="namespaceSelectr"):
        render_values(bad)


# -- PodDisruptionBudget -----------------------------------------------------------------------

RWX = {"accessModes": ["ReadWriteMany"]}


@pytest.mark.parametrize(("max_unavailable", "expected"), [(1, 1), (2, 2), ("50%", "50%")])
def test_a_pdb_is_rendered_when_replicas_exceed_one(objects, max_unavailable, expected):
    rendered = objects(
        values(
            replicaCount=3,
            persistence=RWX,
            podDisruptionBudget={"maxUnavailable": max_unavailable},
        )
    )
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == expected
    assert pdb["spec"]["selector"] == rendered.deployment["spec"]["selector"]
    assert not selects(
        pdb["spec"]["selector"]["matchLabels"], helm_test_pod(rendered)["metadata"]["labels"]
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"replicaCount": 1},
        {"replicaCount": 0},
        {"replicaCount": 2, "persistence": RWX, "podDisruptionBudget": {"enabled": False}},
    ],
)
def test_no_pdb_with_one_replica_or_when_disabled(objects, extra):
    assert objects(values(**extra)).of_kind("PodDisruptionBudget") == []


# -- the helm test pod -------------------------------------------------------------------------


def test_the_helm_test_pod_is_a_hook_that_runs_once_and_is_cleaned_up(objects):
    pod = helm_test_pod(objects(values()))
    annotations = pod["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "test"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "curlimages/curl:8.11.1"
    assert container["command"][:2] == ["/bin/sh", "-ec"]


def test_the_helm_test_pod_is_locked_down_with_small_fixed_resources(objects):
    pod = helm_test_pod(objects(values()))
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] >= 10000
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_tests_image_and_resources_are_configurable(objects):
    small = {"cpu": "50m", "memory": "32Mi"}
    given = values(
        tests={
            "image": {"repository": "registry.local/curl", "tag": "8.12.0", "pullPolicy": "Always"},
            "resources": {"requests": small, "limits": small},
        }
    )
    (container,) = helm_test_pod(objects(given))["spec"]["containers"]
    assert container["image"] == "registry.local/curl:8.12.0"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == {"requests": small, "limits": small}


def test_the_helm_test_pod_is_never_a_service_endpoint(objects):
    rendered = objects(values())
    selector = rendered.one("Service")["spec"]["selector"]
    assert selects(selector, rendered.deployment["spec"]["template"]["metadata"]["labels"])
    assert not selects(selector, helm_test_pod(rendered)["metadata"]["labels"])


TAINT = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
NODE_AFFINITY = {
    "requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
        ]
    }
}
ANTI_AFFINITY = {
    "requiredDuringSchedulingIgnoredDuringExecution": [
        {
            "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "test"}},
            "topologyKey": "kubernetes.io/hostname",
        }
    ]
}


def test_the_test_pod_goes_where_the_server_goes_by_default(objects):
    """Where every node is tainted, a test pod without the server's tolerations never runs."""
    rendered = objects(
        values(
            nodeSelector={"pool": "gpu"},
            tolerations=TAINT,
            affinity={"nodeAffinity": NODE_AFFINITY, "podAntiAffinity": ANTI_AFFINITY},
        )
    )
    spec = helm_test_pod(rendered)["spec"]
    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["tolerations"] == TAINT
    # the node affinity only: the anti-affinity spreads the server's replicas
    assert spec["affinity"] == {"nodeAffinity": NODE_AFFINITY}


def test_tests_scheduling_keys_replace_the_servers_for_the_test_pod(objects):
    own_toleration = [{"key": "test-only", "operator": "Exists"}]
    own_affinity = {"nodeAffinity": {**NODE_AFFINITY}}
    rendered = objects(
        values(
            nodeSelector={"pool": "gpu"},
            tolerations=TAINT,
            affinity={"podAntiAffinity": ANTI_AFFINITY},
            tests={
                "nodeSelector": {"pool": "cpu"},
                "tolerations": own_toleration,
                "affinity": own_affinity,
            },
        )
    )
    spec = helm_test_pod(rendered)["spec"]
    assert spec["nodeSelector"] == {"pool": "cpu"}
    assert spec["tolerations"] == own_toleration
    assert spec["affinity"] == own_affinity
    assert rendered.pod["nodeSelector"] == {"pool": "gpu"}  # the server keeps its own


def test_the_test_pod_has_no_scheduling_constraints_when_the_server_has_none(objects):
    spec = helm_test_pod(objects(values(affinity={"podAntiAffinity": ANTI_AFFINITY})))["spec"]
    assert {"nodeSelector", "tolerations", "affinity"}.isdisjoint(spec)


def test_tests_enabled_false_renders_no_test_pod(objects):
    assert objects(values(tests={"enabled": False})).of_kind("Pod") == []


def test_the_test_pod_is_printed_last_like_helm_template_prints_hooks():
    rendered = render_values(values(auth={"apiKey": {"create": True}}))
    assert rendered.documents[-1].kind == "Pod" and rendered.documents[-1].is_hook
    assert not any(d.is_hook for d in rendered.documents[:-1])


def test_render_output_dir_writes_the_test_pod_apart_under_hooks(tmp_path):
    source = tmp_path / "chat.yaml"
    source.write_text(f"model:\n  name: {QWEN}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["render", str(source), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "chat" / "hooks" / "pod-chat-modelservice-test-api.yaml").is_file()
    assert not (tmp_path / "out" / "chat" / "pod-chat-modelservice-test-api.yaml").exists()


EMBEDDING_ARGS = [
    ["--runner=pooling"],
    ["--runner", "pooling"],
    ["--runner pooling"],
    ["--dtype=half", "--convert=embed"],
    ["--convert", "embed", "--max-model-len=512"],
    ["--task=embed"],
]


@pytest.mark.parametrize("args", EMBEDDING_ARGS, ids=" ".join)
def test_an_embedding_model_is_tested_on_v1_embeddings(objects, args):
    env = pod_env(helm_test_pod(objects(values(engine={"args": args}))))
    assert env["API_PATH"] == "/v1/embeddings"
    assert json.loads(env["REQUEST"]) == {"model": QWEN, "input": "Hello"}


@pytest.mark.parametrize(
    "args", [[], ["--runner=generate"], ["--convert=none"], ["--max-model-len=4096"]]
)
def test_a_generative_model_is_tested_with_one_chat_token(objects, args):
    env = pod_env(helm_test_pod(objects(values(engine={"args": args}))))
    assert env["API_PATH"] == "/v1/chat/completions"
    assert json.loads(env["REQUEST"]) == {
        "model": QWEN,
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 1,
    }


@pytest.mark.parametrize(
    ("endpoint", "path", "request_keys"),
    [
        ("chat", "/v1/chat/completions", {"model", "messages", "max_tokens"}),
        ("completions", "/v1/completions", {"model", "prompt", "max_tokens"}),
        ("embeddings", "/v1/embeddings", {"model", "input"}),
    ],
)
def test_tests_endpoint_overrides_the_api_the_test_calls(objects, endpoint, path, request_keys):
    given = values(engine={"args": ["--runner=pooling"]}, tests={"endpoint": endpoint})
    env = pod_env(helm_test_pod(objects(given)))
    assert env["API_PATH"] == path
    assert set(json.loads(env["REQUEST"])) == request_keys


def test_the_test_pod_checks_the_served_model_name_at_the_service(objects):
    rendered = objects(values(model={"servedModelName": "qwen-small"}, service={"port": 9000}))
    env = pod_env(helm_test_pod(rendered))
    assert env["MODEL"] == "qwen-small"
    assert env["BASE_URL"] == f"http://{rendered.one('Service')['metadata']['name']}:9000"
    assert json.loads(env["REQUEST"])["model"] == "qwen-small"


@pytest.mark.parametrize(
    ("auth", "secret"),
    [
        ({"create": True}, "test-modelservice-api-key"),
        ({"secretName": "team-key", "secretKey": "key"}, "team-key"),
    ],
)
def test_with_auth_the_test_sends_the_key_from_a_secret_key_ref(objects, auth, secret):
    pod = helm_test_pod(objects(values(auth={"apiKey": auth})))
    assert pod_env(pod)["API_KEY"] == {
        "secretKeyRef": {"name": secret, "key": auth.get("secretKey", "api-key")}
    }
    assert "Authorization: Bearer ${API_KEY}" in pod["spec"]["containers"][0]["command"][2]


def test_without_auth_the_test_sends_no_key(objects):
    pod = helm_test_pod(objects(values()))
    assert "API_KEY" not in pod_env(pod)
    assert "Authorization" not in pod["spec"]["containers"][0]["command"][2]


# -- the helm test script, run with sh and curl against a fake vLLM ----------------------------


class FakeVLLM(BaseHTTPRequestHandler):
    """Answers like vLLM: /health, /v1/models, and the POST APIs, with an optional key."""

    models: ClassVar[list[str]] = []
    key: ClassVar[str | None] = None
    post_status: ClassVar[int] = 200
    seen: ClassVar[list[tuple[str, str, str | None, bytes]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self) -> bool:
        return self.key is None or self.headers.get("Authorization") == f"Bearer {self.key}"

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, self.headers.get("Authorization"), b""))
        if self.path == "/health":
            self.answer(200, {})
        elif self.path == "/v1/models" and self.authorized():
            self.answer(200, {"object": "list", "data": [{"id": m} for m in self.models]})
        else:
            self.answer(401 if self.path.startswith("/v1") else 404, {"error": "no"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append(("POST", self.path, self.headers.get("Authorization"), body))
        if not self.authorized():
            self.answer(401, {"error": "Unauthorized"})
        elif self.post_status == 201:
            self.answer(201, {"id": "x"})
        else:
            self.answer(self.post_status, {"id": "x", "choices": [], "data": []})


@pytest.fixture
def fake_vllm() -> Iterator[tuple[str, type[FakeVLLM]]]:
    handler = type("Handler", (FakeVLLM,), {"seen": [], "models": [], "key": None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_test_script(pod: dict[str, Any], base_url: str, api_key: str | None) -> int:
    """Run the pod's script as the pod would (sh -ec), with its env and our fake server."""
    container = pod["spec"]["containers"][0]
    env = {k: v for k, v in pod_env(pod).items() if isinstance(v, str)}
    env.update(BASE_URL=base_url, PATH=os.environ["PATH"])
    if api_key is not None:
        env["API_KEY"] = api_key
    proc = subprocess.run(
        [shutil.which("sh") or "/bin/sh", *container["command"][1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode


@pytest.mark.parametrize(
    ("case", "served", "models", "post_status", "passes"),
    [
        ("healthy chat model", "Qwen/Qwen2.5-0.5B-Instruct", [QWEN], 200, True),
        ("name not served", "qwen-small", [QWEN], 200, False),
        ("name only a prefix", "Qwen/Qwen2.5", [QWEN], 200, False),
        ("server error", QWEN, [QWEN], 500, False),
        ("a non-200 success", QWEN, [QWEN], 201, False),
    ],
)
def test_the_helm_test_script_passes_only_on_http_200_with_the_served_model(
    fake_vllm, case, served, models, post_status, passes
):
    base_url, server = fake_vllm
    server.models, server.post_status = models, post_status
    pod = helm_test_pod(Objects(render_values(values(model={"servedModelName": served}))))
    assert (run_test_script(pod, base_url, None) == 0) is passes, case
    posts = [s for s in server.seen if s[0] == "POST"]
    if passes:
        assert [p[1] for p in posts] == ["/v1/chat/completions"]
        assert json.loads(posts[0][3])["max_tokens"] == 1


@pytest.mark.parametrize(("given_key", "passes"), [("s3cret", True), ("wrong", False)])
def test_the_helm_test_script_sends_the_api_key_as_a_bearer_token(fake_vllm, given_key, passes):
    base_url, server = fake_vllm
    server.models, server.key = ["bge-m3"], "s3cret"
    given = values(
        model={"servedModelName": "bge-m3"},
        engine={"args": ["--runner=pooling"]},
        auth={"apiKey": {"create": True}},
    )
    pod = helm_test_pod(Objects(render_values(given)))
    assert (run_test_script(pod, base_url, given_key) == 0) is passes
    if passes:
        assert [(s[0], s[1], s[2]) for s in server.seen] == [
            ("GET", "/health", "Bearer s3cret"),
            ("GET", "/v1/models", "Bearer s3cret"),
            ("POST", "/v1/embeddings", "Bearer s3cret"),
        ]


# -- NOTES.txt ---------------------------------------------------------------------------------


def test_notes_name_the_vllm_release_of_the_image_tag():
    assert notes(values()).startswith(
        f'modelservice chat serves "{QWEN}" (chat API) with vLLM v0.33.0.\n'
    )


def test_notes_print_the_image_with_its_digest_when_a_digest_pins_it():
    digest = "sha256:" + "b" * 64
    first = notes(values(image={"digest": digest, "tag": "v0.33.0"})).splitlines()[0]
    assert first.endswith(f"with the image vllm/vllm-openai@{digest}.")
    assert "v0.33.0" not in first


ROLLING_ON_RWO = "WARNING: strategy is a RollingUpdate, and the model cache"


@pytest.mark.parametrize(
    "strategy",
    [
        {"type": "RollingUpdate"},
        {"rollingUpdate": {"maxUnavailable": 1}},  # Kubernetes' default type, maxSurge 25%
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%"}},
    ],
)
def test_notes_warn_that_a_rolling_update_on_a_readwriteonce_cache_never_finishes(strategy):
    text = notes(values(strategy=strategy))
    assert (
        f"{ROLLING_ON_RWO} (claim chat-modelservice-cache) is ReadWriteOnce." in text.splitlines()
    )
    assert "Leave\nstrategy empty (Recreate), set strategy.rollingUpdate.maxSurge to 0" in text


def test_notes_name_a_readwriteoncepod_existing_claim_in_the_warning():
    given = values(
        strategy={"type": "RollingUpdate"},
        persistence={"existingClaim": "models", "accessModes": ["ReadWriteOncePod"]},
    )
    assert f"{ROLLING_ON_RWO} (claim models) is ReadWriteOncePod." in notes(given)


@pytest.mark.parametrize(
    "given",
    [
        {},  # the chart picks Recreate
        {"strategy": {"type": "Recreate"}},
        {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}}},
        {"strategy": {"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": 1}}},
        {"strategy": {"type": "RollingUpdate"}, "persistence": {"enabled": False}},
        {
            "strategy": {"type": "RollingUpdate"},
            "persistence": {"existingClaim": "shared", "accessModes": ["ReadWriteMany"]},
        },
    ],
)
def test_notes_do_not_warn_when_the_old_pod_stops_first_or_the_cache_is_shared(given):
    assert "WARNING: strategy" not in notes(values(**given))


def test_notes_print_the_in_cluster_url_and_a_port_forward():
    text = notes(values(service={"port": 9000}))
    assert "http://chat-modelservice.ai.svc.cluster.local:9000/v1" in text
    assert "kubectl port-forward svc/chat-modelservice 8000:9000 -n ai" in text


def test_notes_without_auth_warn_that_the_api_is_open_and_send_no_key():
    text = notes(values())
    assert "WARNING" in text and "open to anything that can reach the Service" in text
    assert "Authorization" not in text
    assert 'api_key="none"' in text


@pytest.mark.parametrize(
    ("auth", "secret", "jsonpath"),
    [
        ({"create": True}, "chat-modelservice-api-key", "{.data.api-key}"),
        ({"secretName": "team-key", "secretKey": "api.key"}, "team-key", "{.data.api\\.key}"),
    ],
)
def test_notes_with_auth_fetch_the_key_from_its_secret_and_send_it(auth, secret, jsonpath):
    text = notes(values(auth={"apiKey": auth}))
    assert "WARNING" not in text
    assert (
        f"export KEY=$(kubectl get secret {secret} -n ai -o jsonpath='{jsonpath}' | base64 -d)"
        in text
    )
    assert '-H "Authorization: Bearer $KEY"' in text
    assert 'api_key=os.environ["KEY"]' in text


def test_notes_show_a_chat_call_with_the_served_model_name_in_curl_and_python():
    text = notes(values(model={"servedModelName": "qwen-small"}))
    assert "curl http://localhost:8000/v1/chat/completions" in text
    body = re.search(r"-d '(.*)'", text)
    assert body and json.loads(body.group(1))["model"] == "qwen-small"
    assert 'client.chat.completions.create(model="qwen-small"' in text


def test_notes_show_an_embeddings_call_for_an_embedding_model():
    text = notes(values(engine={"args": ["--runner=pooling"]}))
    assert "curl http://localhost:8000/v1/embeddings" in text
    assert "/v1/chat/completions" not in text
    assert f'client.embeddings.create(model="{QWEN}"' in text


def test_notes_follow_the_download_only_when_there_is_one():
    follow = "kubectl logs -f deploy/chat-modelservice -c download -n ai"
    assert follow in notes(values())
    assert follow not in notes(values(model={"download": {"enabled": False}}))
    assert follow not in notes({"model": {"source": "local", "path": "/models/x"}})


def test_notes_name_helm_test_only_when_the_test_pod_exists():
    assert "helm test chat -n ai" in notes(values())
    assert "helm test" not in notes(values(tests={"enabled": False}))


def test_notes_list_the_ingress_hosts_with_their_scheme():
    given = values(
        ingress={
            "enabled": True,
            "hosts": [{"host": "llm.example.com"}, {"host": "plain.example.com"}],
            "tls": [{"secretName": "llm-tls", "hosts": ["llm.example.com"]}],
        }
    )
    text = notes(given)
    assert "https://llm.example.com/v1" in text
    assert "http://plain.example.com/v1" in text


def test_notes_survive_a_quote_in_the_served_model_name():
    text = notes(values(model={"servedModelName": "it's"}))
    body = re.search(r"-d '(.*)'$", text, flags=re.MULTILINE)
    assert body and body.group(1).replace("'\\''", "'") == json.dumps(
        {"messages": [{"content": "Hello!", "role": "user"}], "model": "it's"},
        separators=(",", ":"),
    )


# -- the examples of this surface --------------------------------------------------------------


def example(name: str, objects) -> Objects:
    from modelservice.validate import validate_file

    result = validate_file(EXAMPLES / name, CHART)
    assert result.problems == []
    return objects(result.values, release=Path(name).stem, namespace="ai")


def test_the_ingress_auth_example_renders_key_ingress_policy_and_pdb(objects):
    rendered = example("ingress-auth.yaml", objects)
    assert {"Secret", "Ingress", "NetworkPolicy", "PodDisruptionBudget"} <= {
        o["kind"] for o in rendered.all
    }
    secret = rendered.one("Secret")["metadata"]["name"]
    assert rendered.env()["VLLM_API_KEY"]["secretKeyRef"]["name"] == secret
    assert pod_env(helm_test_pod(rendered))["API_KEY"]["secretKeyRef"]["name"] == secret
    annotations = rendered.one("Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"


def test_the_non_root_example_runs_as_uid_1000_with_home_and_cache_relocated(objects):
    rendered = example("non-root.yaml", objects)
    security = rendered.pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (1000,) * 3
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in (rendered.server, rendered.download):
        env = rendered.env(container)
        assert env["HOME"] == "/home/vllm"
        assert env["HF_HOME"] == "/home/vllm/.cache/huggingface"
        assert env["VLLM_CACHE_ROOT"] == "/home/vllm/.cache/vllm"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts["/home/vllm/.cache"] == "cache" and mounts["/home/vllm"] == "home"
