"""A release's life on a real control plane, with Helm 3 and Helm 4: install and wait, helm
test, upgrade, roll back, uninstall and install again.

The control plane (tests/kube_cluster.py) is real but for the kubelets: kwok plays them, so a
pod bound to a fake node becomes Running and Ready by kwok's stages, and the chart's `helm
test` pod succeeds by a stage of ours. Everything else (Deployments and ReplicaSets, the
scheduler's GPU accounting, the claim binder, garbage collection, Helm's waits and resource
policies) is the real thing.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_cluster import Cluster, pod_ready, unique

from conftest import CHART, EXAMPLES
from modelservice.helm.engine import release_name_for

HELMS = ["helm3", "helm4"]

#: Examples the fake cluster cannot run, and why. Each is left out of the install test.
DOES_NOT_FIT = {
    "volcano-vgpu-slice.yaml": "its pods name schedulerName: volcano; no Volcano scheduler runs",
    # tests/test_routing_cluster.py installs it beside its pool's A100 release, on H100 nodes
    "qwen2.5-7b-pool-h100-joins.yaml": "its pods select H100 nodes; the examples' pool is A100s",
}
#: What the examples expect to exist before `helm install` (their header comments say so).
SECRETS = {"hf-token": "token", "modelscope-token": "token", "vllm-api-key": "api-key"}
EXAMPLE_FILES = sorted(
    p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml" and p.name not in DOES_NOT_FIT
)


@pytest.fixture(scope="module")
def example_pool(cluster: Cluster) -> str:
    """Four 8-GPU nodes for the examples, labelled as the examples select: an A100 product
    label, one rack (a multi-node group stays in a rack), HAMi's vGPU memory and cores beside
    the GPUs. One example runs at a time, so 32 GPUs hold the largest (two 8-GPU pods)."""
    pool = unique("examples")
    for _ in range(4):
        cluster.add_node(
            unique("gpu"),
            resources={
                "nvidia.com/gpu": 8,
                "nvidia.com/gpumem": 8 * 81920,
                "nvidia.com/gpucores": 800,
            },
            labels={
                "pool": pool,
                "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
                "topology.kubernetes.io/rack": "rack-1",
            },
        )
    return pool


#: Existing claims the examples mount: name -> access mode.
CLAIMS = {"model-cache": "ReadWriteMany", "shared-models": "ReadOnlyMany"}


def prepare_namespace(cluster: Cluster, namespace: str) -> None:
    """What the examples expect of the cluster beside the chart: the Secrets they name, the
    existing claims they mount (each bound to a volume of its own), the PriorityClass of the
    A100 pool and the `monitoring` namespace of the Grafana dashboard."""
    cluster.server.ensure_namespace(namespace)
    cluster.server.ensure_namespace("monitoring")
    cluster.ensure(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "inference-high"},
            "value": 100000,
        }
    )
    for name, key in SECRETS.items():
        cluster.server.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name},
                "data": {key: base64.b64encode(b"not-a-real-secret").decode()},
            },
            namespace,
        )
    cluster.add_volumes(len(CLAIMS))
    for name, mode in CLAIMS.items():
        cluster.server.create(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name},
                "spec": {"accessModes": [mode], "resources": {"requests": {"storage": "500Gi"}}},
            },
            namespace,
        )


def workload_pods_ready(cluster: Cluster, namespace: str, release: str) -> list[dict[str, Any]]:
    """The server pods of a release (not the test pod), once there are some and each is Ready.
    Helm waits for a Deployment's or a StatefulSet's pods; it cannot for a LeaderWorkerSet's
    (neither Helm knows how that kind reports readiness), whose pods the controller creates
    after Helm has returned."""

    def ready() -> list[dict[str, Any]] | None:
        pods = cluster.pods(namespace, f"app.kubernetes.io/instance={release}")
        server = [p for p in pods if "helm.sh/hook" not in (p["metadata"].get("annotations") or {})]
        return server if server and all(pod_ready(p) for p in server) else None

    return cluster.wait_for(f"the pods of {release} Ready", ready)


@pytest.mark.parametrize("helm", HELMS)
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_an_example_installs_and_its_pods_become_ready_under_helm_install_wait(
    cluster, example_pool, tmp_path, path, helm
):
    namespace, release = unique("ex"), release_name_for(str(path))
    prepare_namespace(cluster, namespace)
    cluster.add_volumes(2)  # the example's own cache claim, or a claim per pod of a group
    # The example's values as written, placed on the examples' pool.
    placement = tmp_path / "placement.yaml"
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    selector = {**(values.get("nodeSelector") or {}), "pool": example_pool}
    placement.write_text(yaml.safe_dump({"nodeSelector": selector}), encoding="utf-8")
    cluster.helm(
        helm, "install", release, str(CHART), "--namespace", namespace,
        "--values", str(path), "--values", str(placement), "--wait", "--timeout", "300s",
    )  # fmt: skip
    try:
        workload_pods_ready(cluster, namespace, release)
    finally:
        cluster.helm(helm, "uninstall", release, "--namespace", namespace, "--wait")


# --- one release's whole life --------------------------------------------------------------------

LIFE_VALUES = """\
model:
  name: Qwen/Qwen2.5-0.5B-Instruct
engine:
  args: ["--max-model-len=4096"]
auth:
  apiKey:
    create: true
nodeSelector:
  pool: {pool}
"""


def bumped_chart(tmp_path: Path) -> Path:
    """A copy of the chart whose version alone is higher (a chart release changing no
    template)."""
    chart = tmp_path / "chart-bumped" / "modelservice"
    shutil.copytree(CHART, chart)
    meta = chart / "Chart.yaml"
    text = meta.read_text(encoding="utf-8")
    version = yaml.safe_load(text)["version"]
    major, minor, patch = (int(x) for x in version.split("."))
    meta.write_text(
        text.replace(f"version: {version}", f"version: {major}.{minor}.{patch + 1}", 1),
        encoding="utf-8",
    )
    return chart


def live_replica_set(cluster: Cluster, namespace: str, release: str) -> dict[str, Any]:
    """The one ReplicaSet of the release's Deployment that has pods wanted, once the rollout
    has settled (the others are scaled to 0)."""

    def settled() -> dict[str, Any] | None:
        sets = cluster.list(
            "/apis/apps/v1", "replicasets", namespace, f"app.kubernetes.io/instance={release}"
        )
        live = [s for s in sets if s["spec"].get("replicas")]
        if len(live) == 1 and live[0]["status"].get("readyReplicas") == live[0]["spec"]["replicas"]:
            return live[0]
        return None

    return cluster.wait_for(f"one ready ReplicaSet of {release}", settled)


def uids(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["uid"] for p in pods}


@pytest.mark.parametrize("helm", HELMS)
def test_a_release_installs_tests_upgrades_rolls_back_and_reinstalls_keeping_cache_and_key(
    cluster, tmp_path, helm
):
    # One node with one GPU: the cluster is full once the release runs, as GPU clusters are.
    pool, namespace, release = unique("life"), unique("life"), "qwen"
    cluster.add_node(unique("gpu"), resources={"nvidia.com/gpu": 1}, labels={"pool": pool})
    cluster.add_volumes(1)
    values = tmp_path / "values.yaml"
    values.write_text(LIFE_VALUES.format(pool=pool), encoding="utf-8")
    common = ["--namespace", namespace, "--values", str(values), "--wait", "--timeout", "120s"]
    deployment = f"/apis/apps/v1/namespaces/{namespace}/deployments/{release}-modelservice"
    claim = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{release}-modelservice-cache"
    secret = f"/api/v1/namespaces/{namespace}/secrets/{release}-modelservice-api-key"

    # install: the pod is Ready, the cache claim Bound, the API key generated.
    cluster.helm(helm, "install", release, str(CHART), "--create-namespace", *common)
    first = live_replica_set(cluster, namespace, release)
    pods = workload_pods_ready(cluster, namespace, release)
    cache, key = cluster.get(claim), cluster.get(secret)
    assert cache is not None and cache["status"]["phase"] == "Bound"
    assert key is not None and key["data"]

    # helm test: the test pod is created, runs and succeeds.
    tested = cluster.helm(helm, "test", release, "--namespace", namespace, "--timeout", "60s")
    assert f"TEST SUITE:     {release}-modelservice-test-api" in tested.stdout
    assert "Phase:          Succeeded" in tested.stdout

    # a chart release that changes no template: same pod template hash, same pods.
    cluster.helm(helm, "upgrade", release, str(bumped_chart(tmp_path)), *common)
    assert (
        live_replica_set(cluster, namespace, release)["metadata"]["uid"] == first["metadata"]["uid"]
    )
    assert uids(workload_pods_ready(cluster, namespace, release)) == uids(pods)
    assert cluster.get(deployment)["metadata"]["labels"]["helm.sh/chart"].endswith("0.1.1")

    # new engine arguments: a new pod template, a new ReplicaSet, the pod replaced.
    cluster.helm(
        helm, "upgrade", release, str(CHART), *common,
        "--set-json", 'engine.args=["--max-model-len=2048"]',
    )  # fmt: skip
    second = live_replica_set(cluster, namespace, release)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert (
        second["metadata"]["labels"]["pod-template-hash"]
        != first["metadata"]["labels"]["pod-template-hash"]
    )
    replaced = workload_pods_ready(cluster, namespace, release)
    assert not uids(replaced) & uids(pods)
    assert "--max-model-len=2048" in replaced[0]["spec"]["containers"][0]["args"]

    # rollback to revision 2: the ReplicaSet of that revision runs the pods again.
    cluster.helm(
        helm, "rollback", release, "2", "--namespace", namespace, "--wait", "--timeout", "120s"
    )
    back = live_replica_set(cluster, namespace, release)
    assert back["metadata"]["uid"] == first["metadata"]["uid"]
    assert (
        "--max-model-len=4096"
        in workload_pods_ready(cluster, namespace, release)[0]["spec"]["containers"][0]["args"]
    )

    # uninstall: everything goes but the cache claim and the generated key.
    gone = cluster.helm(helm, "uninstall", release, "--namespace", namespace, "--wait")
    assert "These resources were kept due to the resource policy:" in gone.stdout
    assert cluster.get(deployment) is None
    kept_cache, kept_key = cluster.get(claim), cluster.get(secret)
    assert kept_cache is not None and kept_cache["metadata"]["uid"] == cache["metadata"]["uid"]
    assert kept_key is not None and kept_key["data"] == key["data"]

    # reinstall under the same name: the same claim (weights kept) and the same key.
    cluster.helm(helm, "install", release, str(CHART), *common)
    again = workload_pods_ready(cluster, namespace, release)
    volumes = {v["name"]: v for v in again[0]["spec"]["volumes"]}
    assert volumes["cache"]["persistentVolumeClaim"]["claimName"] == f"{release}-modelservice-cache"
    assert cluster.get(claim)["metadata"]["uid"] == cache["metadata"]["uid"]
    assert cluster.get(secret)["data"] == key["data"]
    cluster.helm(helm, "uninstall", release, "--namespace", namespace, "--wait")
