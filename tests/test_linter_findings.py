"""What the field's linters found in the chart, fixed: the per-pod StatefulSet's governing
Service (`serviceName`), the
PodDisruptionBudget's `unhealthyPodEvictionPolicy`, and an autoscaled example that exposed its
Ingress with neither TLS nor an API key."""

from __future__ import annotations

from conftest import EXAMPLES, Objects, render_values
from modelservice.values.loader import load_file

PER_POD = {
    "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
    "persistence": {"perPod": True},
    "replicaCount": 2,
}


def test_the_per_pod_statefulset_is_governed_by_a_headless_service_of_its_pods():
    objects = Objects(render_values(PER_POD))
    statefulset = objects.one("StatefulSet")
    services = {s["metadata"]["name"]: s for s in objects.of_kind("Service")}
    governing = services[statefulset["spec"]["serviceName"]]
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]
    # no ports: a ServiceMonitor's `port: http` finds each pod through the release's Service
    # only, so no metric is scraped twice
    assert "ports" not in governing["spec"]
    assert [s for s in services.values() if s["spec"].get("ports")] != []


def test_a_release_without_a_per_pod_cache_has_no_headless_service():
    objects = Objects(render_values({"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}))
    assert [s["spec"].get("clusterIP") for s in objects.of_kind("Service")] == [None]


def test_the_pdb_lets_a_drain_evict_a_server_still_loading_its_model(apiserver):
    objects = Objects(render_values({**PER_POD, "persistence": {"perPod": False}}))
    assert objects.one("PodDisruptionBudget")["spec"]["unhealthyPodEvictionPolicy"] == (
        "AlwaysAllow"
    )
    apiserver.ensure_namespace("pdb")
    assert apiserver.dry_run(objects.all, namespace="pdb") == [None] * len(objects.all)


def test_the_kubernetes_default_eviction_policy_can_be_chosen():
    values = {**PER_POD, "podDisruptionBudget": {"unhealthyPodEvictionPolicy": "IfHealthyBudget"}}
    pdb = Objects(render_values(values)).one("PodDisruptionBudget")
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"


def test_the_autoscaled_example_exposes_its_ingress_only_with_tls_and_an_api_key():
    values = load_file(EXAMPLES / "qwen2.5-7b-autoscaled.yaml").data
    objects = Objects(render_values(values))
    ingress = objects.one("Ingress")
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert [h for tls in ingress["spec"]["tls"] for h in tls["hosts"]] == hosts
    env = {e["name"]: e for e in objects.server.get("env", [])}
    assert "secretKeyRef" in env["VLLM_API_KEY"]["valueFrom"]
