"""The chart's HorizontalPodAutoscaler on the real controller manager, in a cluster that serves
no custom or external metrics API (no Prometheus Adapter, no KEDA): what a user then sees.

The HPA controller asks the metrics API for vLLM's metric on every sync; without an adapter
the API group is not registered, the HPA's ScalingActive condition turns False with the reason
below, and the workload stays at its replica count. docs/autoscaling.md shows the same.
"""

from __future__ import annotations

import pytest
from kube_cluster import unique

from conftest import CHART

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


@pytest.mark.parametrize("metric_type", EXPECTED)
def test_an_hpa_without_a_metrics_adapter_says_scaling_is_not_active_and_why(
    cluster, tmp_path, metric_type
):
    pool, namespace = unique("hpa"), unique("hpa")
    cluster.add_node(unique("gpu"), resources={"nvidia.com/gpu": 8}, labels={"pool": pool})
    values = tmp_path / "values.yaml"
    values.write_text(VALUES.format(pool=pool, metric_type=metric_type), encoding="utf-8")
    cluster.helm(
        "helm4", "install", "llm", str(CHART), "--namespace", namespace, "--create-namespace",
        "--values", str(values), "--wait", "--timeout", "120s",
    )  # fmt: skip
    path = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/llm-modelservice"

    def scaling_active() -> dict | None:
        hpa = cluster.get(path) or {}
        conditions = (hpa.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "ScalingActive"), None)

    condition = cluster.wait_for("the HPA's ScalingActive condition", scaling_active)
    reason, words = EXPECTED[metric_type]
    assert condition["status"] == "False"
    assert condition["reason"] == reason
    for part in words:
        assert part.format(namespace=namespace) in condition["message"]
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/llm-modelservice")
    assert deployment["spec"]["replicas"] == 1
    cluster.helm("helm4", "uninstall", "llm", "--namespace", namespace, "--wait")
