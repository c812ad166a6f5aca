"""The chart's HorizontalPodAutoscaler on the real controller manager, in a cluster that serves
no custom or external metrics API (no Prometheus Adapter, no KEDA): what a user then sees.

The HPA controller asks the metrics API for vLLM's metric on every sync; without an adapter
the API group is not registered, the HPA's ScalingActive condition turns False with the reason
below, and the workload stays at its replica count. docs/autoscaling.md shows the same.

`modelservice check` says so before the install (rule check-metrics-api), naming the reason the
controller then gives; with a custom metrics API registered and Available (a minimal adapter
of the tests' own, tests/metrics_adapter.py) it says nothing, and the same HPA scales.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from kube_cluster import Cluster, unique
from metrics_adapter import custom_metrics_adapter

from conftest import CHART
from modelservice.cli import cli

VALUES = """\
model:
  name: Qwen/Qwen2.5-0.5B-Instruct
persistence:
  enabled: false
autoscaling:
  enabled: true
  engine: hpa
  minReplicas: 1
  maxReplicas: 3
  hpa:
    metricType: {metric_type}
nodeSelector:
  pool: {pool}
"""

#: metric type -> (reason, the words of the message a user reads in `kubectl describe hpa`).
#: Without an adapter the custom metrics API group is not registered at all; the external one is
#: looked up by resource and not found.
EXPECTED = {
    "Pods": (
        "FailedGetPodsMetric",
        [
            "the HPA was unable to compute the replica count: unable to get metric "
            "vllm:num_requests_waiting: unable to fetch metrics from custom metrics API: "
            "no custom metrics API (custom.metrics.k8s.io) registered"
        ],
    ),
    "External": (
        "FailedGetExternalMetric",
        [
            "the HPA was unable to compute the replica count: unable to get external metric "
            "{namespace}/vllm:num_requests_waiting/",
            "unable to fetch metrics from external metrics API: the server could not find the "
            "requested resource (get vllm:num_requests_waiting.external.metrics.k8s.io)",
        ],
    ),
}


def check(cluster: Cluster, values, namespace: str, monkeypatch) -> list[dict]:
    """`modelservice check` of the release before its install: its problems (it must pass)."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    cluster.server.ensure_namespace(namespace)
    result = CliRunner().invoke(
        cli,
        ["check", str(values), "--release", "llm", "--namespace", namespace, "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    problems: list[dict] = json.loads(result.stdout)
    return problems


def install(cluster: Cluster, tmp_path, metric_type: str) -> tuple[str, object]:
    pool, namespace = unique("hpa"), unique("hpa")
    node = cluster.add_node(unique("gpu"), resources={"nvidia.com/gpu": 8}, labels={"pool": pool})
    path = f"/api/v1/nodes/{node['metadata']['name']}"
    # check judges the node as the scheduler will: once kwok reports it Ready and the node
    # lifecycle controller has lifted its not-ready taint.
    cluster.wait_for(
        "the node Ready, untainted",
        lambda: not ((cluster.get(path) or {}).get("spec") or {}).get("taints"),
    )
    values = tmp_path / "values.yaml"
    values.write_text(VALUES.format(pool=pool, metric_type=metric_type), encoding="utf-8")
    return namespace, values


def helm_install(cluster: Cluster, namespace: str, values) -> None:
    cluster.helm(
        "helm4", "install", "llm", str(CHART), "--namespace", namespace, "--create-namespace",
        "--values", str(values), "--wait", "--timeout", "120s",
    )  # fmt: skip


def scaling_active(cluster: Cluster, namespace: str, status: str | None = None) -> dict:
    """The HPA's ScalingActive condition, once the controller has set it (to ``status``)."""
    path = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/llm-modelservice"
    seen: list[dict] = []

    def found() -> dict | None:
        hpa = cluster.get(path) or {}
        conditions = (hpa.get("status") or {}).get("conditions") or []
        condition = next((c for c in conditions if c["type"] == "ScalingActive"), None)
        seen[:] = [condition] if condition else []
        return condition if condition and status in (None, condition["status"]) else None

    try:
        condition: dict = cluster.wait_for("the HPA's ScalingActive condition", found)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; the last one: {seen}") from None
    return condition


@pytest.mark.parametrize("metric_type", EXPECTED)
def test_an_hpa_without_a_metrics_adapter_says_scaling_is_not_active_and_why(
    cluster, tmp_path, metric_type, monkeypatch
):
    namespace, values = install(cluster, tmp_path, metric_type)
    reason, words = EXPECTED[metric_type]
    problems = check(cluster, values, namespace, monkeypatch)
    assert [(p["pointer"], p["rule"]) for p in problems] == [
        ("/autoscaling/hpa/metricType", "check-metrics-api")
    ]
    assert f"ScalingActive=False with reason {reason}" in problems[0]["message"]

    helm_install(cluster, namespace, values)
    condition = scaling_active(cluster, namespace)
    assert condition["status"] == "False"
    assert condition["reason"] == reason
    for part in words:
        assert part.format(namespace=namespace) in condition["message"]
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/llm-modelservice")
    assert deployment["spec"]["replicas"] == 1
    cluster.helm("helm4", "uninstall", "llm", "--namespace", namespace, "--wait")


def test_an_hpa_whose_custom_metrics_api_is_served_passes_check_and_scales(
    cluster, tmp_path, monkeypatch
):
    namespace, values = install(cluster, tmp_path, "Pods")
    with custom_metrics_adapter(cluster, "vllm:num_requests_waiting", value="0"):
        assert check(cluster, values, namespace, monkeypatch) == []
        helm_install(cluster, namespace, values)
        # The HPA's first sync may come before the pods exist (no metrics yet); a served API
        # then makes it active.
        condition = scaling_active(cluster, namespace, "True")
        assert condition["reason"] == "ValidMetricFound"
        cluster.helm("helm4", "uninstall", "llm", "--namespace", namespace, "--wait")
