"""Upgrading a GPU release on a cluster whose GPUs are all taken, with Helm 3 and Helm 4.

A RollingUpdate with surge starts the new pod before an old one stops: the new pod needs GPUs
beyond what the release holds, stays Pending (Insufficient nvidia.com/gpu), the old pods keep
theirs, and `helm upgrade --wait` runs into its timeout. The chart's default for a GPU release
(maxSurge 0, maxUnavailable 1: one pod stops, its replacement takes the freed GPU) completes
the same upgrade on the same full cluster. Nothing here waits on luck: the surge pod can never
be placed, and the default's pods always can.
"""

from __future__ import annotations

import pytest
import yaml
from kube_cluster import Cluster, pod_ready, unique, unschedulable_message

from conftest import CHART

HELMS = ["helm3", "helm4"]

VALUES = """\
model:
  name: Qwen/Qwen2.5-0.5B-Instruct
replicaCount: 2
persistence:
  enabled: false
engine:
  args: ["--max-model-len=4096"]
nodeSelector:
  pool: {pool}
"""
#: What users write for "a rolling update": Kubernetes' defaults, 25% surge (one pod, rounded
#: up) and 25% unavailable (none of two pods, rounded down).
SURGE = {"strategy": {"type": "RollingUpdate"}}


def full_gpu_pool(cluster: Cluster) -> str:
    """Two nodes with one GPU each: two replicas of one GPU fill them."""
    pool = unique("full")
    for _ in range(2):
        cluster.add_node(unique("gpu"), resources={"nvidia.com/gpu": 1}, labels={"pool": pool})
    return pool


def install(cluster: Cluster, helm: str, tmp_path, extra: dict | None = None) -> tuple[str, list]:
    pool, namespace = full_gpu_pool(cluster), unique("rollout")
    values = tmp_path / "values.yaml"
    text = VALUES.format(pool=pool)
    if extra:
        text += yaml.safe_dump(extra)
    values.write_text(text, encoding="utf-8")
    args = ["--namespace", namespace, "--values", str(values)]
    cluster.helm(
        helm, "install", "llm", str(CHART), "--create-namespace", *args,
        "--wait", "--timeout", "120s",
    )  # fmt: skip
    pods = cluster.pods(namespace, "app.kubernetes.io/instance=llm")
    assert len(pods) == 2 and all(pod_ready(p) for p in pods)
    return namespace, args


@pytest.mark.parametrize("helm", HELMS)
def test_a_rolling_update_with_surge_blocks_on_full_gpus_and_helm_upgrade_wait_times_out(
    cluster, tmp_path, helm
):
    namespace, args = install(cluster, helm, tmp_path, SURGE)
    old = {p["metadata"]["uid"] for p in cluster.pods(namespace, "app.kubernetes.io/instance=llm")}

    upgrade = cluster.helm(
        helm, "upgrade", "llm", str(CHART), *args,
        "--set-json", 'engine.args=["--max-model-len=2048"]',
        "--wait", "--timeout", "15s", check=False,
    )  # fmt: skip
    assert upgrade.returncode != 0, upgrade.stdout
    # What each Helm says when its --timeout runs out (docs/upgrade-uninstall.md quotes both).
    assert {
        "helm3": "Error: UPGRADE FAILED: context deadline exceeded",
        "helm4": f"Error: UPGRADE FAILED: resource Deployment/{namespace}/llm-modelservice not "
        "ready. status: InProgress, message: Updated: 1/2",
    }[helm] in upgrade.stderr

    pods = cluster.pods(namespace, "app.kubernetes.io/instance=llm")
    surge = [p for p in pods if p["metadata"]["uid"] not in old]
    assert len(surge) == 1, "one surge pod, the old ones kept"
    message = cluster.wait_for(
        "the scheduler's verdict on the surge pod",
        lambda: unschedulable_message(
            cluster.get(f"/api/v1/namespaces/{namespace}/pods/{surge[0]['metadata']['name']}")
        ),
    )
    assert "Insufficient nvidia.com/gpu" in message
    kept = [p for p in pods if p["metadata"]["uid"] in old]
    assert len(kept) == 2 and all(pod_ready(p) for p in kept)
    assert cluster.helm(helm, "status", "llm", "--namespace", namespace, "-o", "json").stdout
    cluster.helm(helm, "uninstall", "llm", "--namespace", namespace, "--wait")


@pytest.mark.parametrize("helm", HELMS)
def test_the_default_strategy_of_a_gpu_release_completes_an_upgrade_on_full_gpus(
    cluster, tmp_path, helm
):
    namespace, args = install(cluster, helm, tmp_path)
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/llm-modelservice")
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    old = {p["metadata"]["uid"] for p in cluster.pods(namespace, "app.kubernetes.io/instance=llm")}

    cluster.helm(
        helm, "upgrade", "llm", str(CHART), *args,
        "--set-json", 'engine.args=["--max-model-len=2048"]',
        "--wait", "--timeout", "120s",
    )  # fmt: skip

    def replaced() -> list | None:
        pods = cluster.pods(namespace, "app.kubernetes.io/instance=llm")
        new = [p for p in pods if p["metadata"]["uid"] not in old and pod_ready(p)]
        return new if len(new) == 2 and len(pods) == 2 else None

    # Helm 4 waits for the rollout to finish; Helm 3 counts maxUnavailable and may return one
    # pod early, so the end state is awaited from the cluster, not from Helm's return alone.
    new = cluster.wait_for("both pods replaced and Ready", replaced)
    assert all("--max-model-len=2048" in p["spec"]["containers"][0]["args"] for p in new)
    cluster.helm(helm, "uninstall", "llm", "--namespace", namespace, "--wait")
