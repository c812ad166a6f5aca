"""Pools on the real control plane (tests/kube_cluster.py: API server, controller manager,
scheduler, kwok's GPU nodes, the LeaderWorkerSet controller): what docs/routing.md promises.

- The InferencePool of a multi-node release selects the leaders of its groups, which serve the
  API, and never a worker: checked on the pods the LeaderWorkerSet controller really creates.
- Two releases on two GPU types form one pool: the A100 example creates it, the H100 example
  joins it, and the pool's selector matches the servers of both (and no picker); `modelservice
  check` of the joining release finds the live pool in order, and finds a joining release that
  would serve another model name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from kube_cluster import Cluster, pod_ready, unique

from conftest import CHART, EXAMPLES
from modelservice.cli import cli

POOLS = "/apis/inference.networking.k8s.io/v1/namespaces/{namespace}/inferencepools/{name}"
LWS = "leaderworkerset.sigs.k8s.io"


def selected(cluster: Cluster, namespace: str, pool: str) -> list[dict[str, Any]]:
    """The pods the live pool's selector matches, as its endpoint picker would list them."""
    live = cluster.get(POOLS.format(namespace=namespace, name=pool))
    assert live is not None, f"no InferencePool {pool}"
    labels = live["spec"]["selector"]["matchLabels"]
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return cluster.pods(namespace, selector)


def ready(cluster: Cluster, namespace: str, count: int, selector: str):
    def probe():
        pods = cluster.pods(namespace, selector)
        return pods if len(pods) == count and all(pod_ready(p) for p in pods) else None

    return probe


def test_the_pool_of_a_multi_node_release_selects_the_leaders_and_no_worker(cluster, tmp_path):
    node_pool, namespace = unique("lws-pool"), unique("lws-pool")
    for _ in range(4):
        cluster.add_node(unique("gpu"), resources={"nvidia.com/gpu": 8}, labels={"pool": node_pool})
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "model": {"name": "deepseek-ai/DeepSeek-R1"},
                "gpu": {"count": 8},
                "engine": {"tensorParallelSize": 8, "args": ["--pipeline-parallel-size=2"]},
                "multiNode": {"enabled": True, "nodes": 2},
                "replicaCount": 2,
                "persistence": {"enabled": False},
                "nodeSelector": {"pool": node_pool},
                "routing": {"inferencePool": {"enabled": True, "name": "r1"}},
            }
        )
    )
    cluster.helm(
        "helm4", "install", "r1", str(CHART), "--namespace", namespace, "--create-namespace",
        "--values", str(values), "--wait", "--timeout", "120s",
    )  # fmt: skip
    group = f"{LWS}/name=r1-modelservice"
    pods = cluster.wait_for("two groups of two pods Ready", ready(cluster, namespace, 4, group))
    leaders = {
        p["metadata"]["name"] for p in pods if p["metadata"]["labels"][f"{LWS}/worker-index"] == "0"
    }
    assert len(leaders) == 2
    assert {p["metadata"]["name"] for p in selected(cluster, namespace, "r1")} == leaders
    cluster.helm("helm4", "uninstall", "r1", "--namespace", namespace, "--wait")


@pytest.fixture(scope="module")
def two_gpu_types(cluster: Cluster, tmp_path_factory) -> dict[str, Any]:
    """The two pool examples installed in one namespace: A100 nodes for the release that
    creates the pool, H100 nodes for the one that joins it."""
    namespace, node_pool = unique("pool"), unique("pool")
    for product in ("NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3"):
        for _ in range(2):
            cluster.add_node(
                unique("gpu"),
                resources={"nvidia.com/gpu": 8},
                labels={"pool": node_pool, "nvidia.com/gpu.product": product},
            )
    cluster.add_volumes(2)
    folder = tmp_path_factory.mktemp("pool")
    releases = {
        "qwen-a100": EXAMPLES / "qwen2.5-7b-pool-a100.yaml",
        "qwen-h100": EXAMPLES / "qwen2.5-7b-pool-h100-joins.yaml",
    }
    for release, path in releases.items():
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
        placement = folder / f"{release}.yaml"
        selector = {**values["nodeSelector"], "pool": node_pool}
        placement.write_text(yaml.safe_dump({"nodeSelector": selector}), encoding="utf-8")
        cluster.helm(
            "helm4", "install", release, str(CHART), "--namespace", namespace,
            "--create-namespace", "--values", str(path), "--values", str(placement),
            "--wait", "--timeout", "120s",
        )  # fmt: skip
    return {"namespace": namespace, "folder": folder, "releases": releases}


def test_two_releases_on_two_gpu_types_form_one_pool(cluster, two_gpu_types):
    namespace = two_gpu_types["namespace"]
    servers = cluster.wait_for(
        "the servers of both releases Ready",
        ready(cluster, namespace, 4, "app.kubernetes.io/name=modelservice"),
    )
    pods = selected(cluster, namespace, "qwen2-5-7b")
    assert {p["metadata"]["name"] for p in pods} == {p["metadata"]["name"] for p in servers}
    by_release = {}
    for pod in pods:
        release = pod["metadata"]["labels"]["app.kubernetes.io/instance"]
        by_release.setdefault(release, set()).add(
            pod["spec"]["nodeSelector"]["nvidia.com/gpu.product"]
        )
    assert by_release == {
        "qwen-a100": {"NVIDIA-A100-SXM4-80GB"},
        "qwen-h100": {"NVIDIA-H100-80GB-HBM3"},
    }
    pickers = cluster.pods(namespace, "app.kubernetes.io/component=endpoint-picker")
    assert len(pickers) == 2 and not {p["metadata"]["name"] for p in pickers} & {
        p["metadata"]["name"] for p in pods
    }


def _check(cluster: Cluster, values: Path, namespace: str, release: str, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    result = CliRunner().invoke(
        cli,
        ["check", str(values), "--namespace", namespace, "--release", release, "--format", "json"],
    )
    assert "Traceback" not in result.output, result.output
    return json.loads(result.stdout) if result.stdout.strip() else []


def test_check_finds_the_live_pool_in_order_for_the_joining_release(
    cluster, two_gpu_types, monkeypatch
):
    namespace = two_gpu_types["namespace"]
    joiner = two_gpu_types["releases"]["qwen-h100"]
    problems = _check(cluster, joiner, namespace, "qwen-h100", monkeypatch)
    assert [p for p in problems if p["rule"].startswith("check-pool")] == []
    other = two_gpu_types["folder"] / "other-name.yaml"
    other.write_text(
        joiner.read_text(encoding="utf-8").replace(
            "servedModelName: qwen2.5-7b-instruct", "servedModelName: qwen-fp8"
        ),
        encoding="utf-8",
    )
    problems = _check(cluster, other, namespace, "qwen-h100", monkeypatch)
    joins = [p for p in problems if p["rule"] == "check-pool-join"]
    assert [p["pointer"] for p in joins] == ["/model/servedModelName"]
    assert "serve 'qwen2.5-7b-instruct'" in joins[0]["message"]
    assert "set model.servedModelName to 'qwen2.5-7b-instruct'" in joins[0]["message"]
