"""What the field's linters found in the chart, fixed: the per-pod StatefulSet's governing
Service (`serviceName`, immutable: an upgrade keeps what a StatefulSet has), the
PodDisruptionBudget's `unhealthyPodEvictionPolicy`, and an autoscaled example that exposed its
Ingress with neither TLS nor an API key."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_harness import ApiError, cached_binary

from conftest import CHART, EXAMPLES, Objects, render_values
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


def helm_template(helm: str, values: Path, kubeconfig: Path, namespace: str) -> list[Any]:
    """`helm template --dry-run=server`: Helm's lookup reads the cluster, as in an upgrade."""
    proc = subprocess.run(
        [str(cached_binary(helm)), "template", "chat", str(CHART), "-f", str(values),
         "-n", namespace, "--dry-run=server", "--kubeconfig", str(kubeconfig)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_an_upgrade_keeps_the_service_name_a_statefulset_was_created_without(
    apiserver, tmp_path, helm
):
    """spec.serviceName is immutable: a StatefulSet created before the chart set it keeps
    none (lookup reads it), and the update the upgrade sends is one the API server accepts,
    where setting the name is refused."""
    namespace = f"upgrade-{helm}"
    apiserver.ensure_namespace(namespace)
    values = tmp_path / "chat.yaml"
    values.write_text(yaml.safe_dump(PER_POD))
    kubeconfig = apiserver.kubeconfig(tmp_path / "kubeconfig")
    fresh = helm_template(helm, values, kubeconfig, namespace)
    statefulset = next(d for d in fresh if d["kind"] == "StatefulSet")
    assert statefulset["spec"]["serviceName"] == "chat-modelservice-pods"

    older = copy.deepcopy(statefulset)  # as the chart rendered it before: no serviceName
    del older["spec"]["serviceName"]
    older["metadata"].setdefault("annotations", {}).update(
        {"meta.helm.sh/release-name": "chat", "meta.helm.sh/release-namespace": namespace}
    )
    existing = apiserver.create(older, namespace=namespace)
    assert not existing["spec"].get("serviceName")

    upgraded = next(
        d for d in helm_template(helm, values, kubeconfig, namespace) if d["kind"] == "StatefulSet"
    )
    assert "serviceName" not in upgraded["spec"]
    name = existing["metadata"]["name"]
    path = f"/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}?dryRun=All"
    update = {**upgraded, "metadata": {**upgraded["metadata"], **existing["metadata"]}}
    apiserver.request("PUT", path, update)  # accepted
    update["spec"] = {**update["spec"], "serviceName": "chat-modelservice-pods"}
    with pytest.raises(ApiError, match="field is immutable"):
        apiserver.request("PUT", path, update)


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
