"""Autoscaling: a KEDA ScaledObject or a HorizontalPodAutoscaler sets the replica count.

Rendered by the real Helm engine; the trigger's PromQL is checked against the metrics vLLM
0.33.0 exports (schemas/vllm/0.33.0-metrics.json, from vLLM's own code) and parsed by
promtool; every object goes to the real API server (KEDA v2.21.0's CRD installed) for a strict
dry run.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from promql import check_expression, run_promtool

from conftest import CASES, CHART, EXAMPLES, render_values
from conftest import render_notes as notes
from modelservice.validate import validate_file

QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"
PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"


def autoscaled(autoscaling: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An autoscaled service on a ReadWriteMany cache, scraped through the ServiceMonitor (the
    chart's KEDA query needs its `service` label); ``autoscaling`` keys replace."""
    given: dict[str, Any] = {
        "model": {"name": QWEN_7B},
        "persistence": {"accessModes": ["ReadWriteMany"]},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "autoscaling": {
            "enabled": True,
            "minReplicas": 1,
            "maxReplicas": 8,
            "keda": {"serverAddress": PROMETHEUS},
            **(autoscaling or {}),
        },
    }
    given.update(extra)
    return given


def kinds(given: dict[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in render_values(given, **kwargs).objects()}


def test_the_workload_leaves_its_replica_count_to_the_autoscaler():
    assert "replicas" not in kinds(autoscaled())["Deployment"]["spec"]
    group = autoscaled(
        gpu={"count": 8},
        engine={"args": ["--pipeline-parallel-size=2"]},
        multiNode={"enabled": True},
    )
    assert "replicas" not in kinds(group)["LeaderWorkerSet"]["spec"]
    assert (
        kinds({"model": {"name": QWEN_7B}, "replicaCount": 3})["Deployment"]["spec"]["replicas"]
        == 3
    )


def test_renders_no_autoscaler_by_default():
    assert not {"ScaledObject", "HorizontalPodAutoscaler"} & set(
        kinds({"model": {"name": QWEN_7B}})
    )


def test_keda_scales_the_deployment_between_min_and_max_on_waiting_requests_per_replica():
    scaled = kinds(autoscaled(), release="qwen", namespace="ai")["ScaledObject"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "qwen-modelservice",
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 8)
    assert "cooldownPeriod" not in spec  # only scaling to zero waits for it
    [trigger] = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "AverageValue"
    assert trigger["metadata"] == {
        "serverAddress": PROMETHEUS,
        "query": 'sum(vllm:num_requests_waiting{namespace="ai", service="qwen-modelservice", '
        f'model_name="{QWEN_7B}"}})',
        "threshold": "5",
    }


def test_keda_scales_a_leaderworkerset_by_groups():
    given = autoscaled(
        gpu={"count": 8},
        engine={"args": ["--pipeline-parallel-size=2"]},
        multiNode={"enabled": True},
    )
    ref = kinds(given, release="r1")["ScaledObject"]["spec"]["scaleTargetRef"]
    assert ref == {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "name": "r1-modelservice",
    }


def test_kv_cache_usage_is_the_other_metric_with_a_fractional_target():
    trigger = kinds(autoscaled({"metric": "kvCacheUsage", "target": 0.8}))["ScaledObject"]["spec"]
    metadata = trigger["triggers"][0]["metadata"]
    assert metadata["query"].startswith("sum(vllm:kv_cache_usage_perc{")
    assert metadata["threshold"] == "0.8"


@pytest.mark.parametrize("metric", ["waitingRequests", "kvCacheUsage"])
def test_every_trigger_query_uses_only_series_and_labels_vllm_0_33_0_exports(metric):
    target = 0.8 if metric == "kvCacheUsage" else 5  # usage is a fraction
    spec = kinds(autoscaled({"metric": metric, "target": target}))["ScaledObject"]["spec"]
    assert check_expression(spec["triggers"][0]["metadata"]["query"]) == []


def test_the_query_check_catches_a_metric_vllm_does_not_export():
    assert check_expression('sum(vllm:num_requests_queued{namespace="ai"})') != []


def test_promtool_parses_the_queries_of_both_metrics(promtool, tmp_path):
    rules = [
        {
            "record": f"keda:{metric}",
            "expr": kinds(autoscaled({"metric": metric, "target": target}))["ScaledObject"]["spec"][
                "triggers"
            ][0]["metadata"]["query"],
        }
        for metric, target in (("waitingRequests", 5), ("kvCacheUsage", 0.8))
    ]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "keda", "rules": rules}]}))
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scale_down_waits_for_the_stabilisation_window_and_goes_one_replica_at_a_time():
    behavior = kinds(autoscaled())["ScaledObject"]["spec"]["advanced"][
        "horizontalPodAutoscalerConfig"
    ]
    assert behavior["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 600,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
    }
    longer = kinds(autoscaled({"scaleDownStabilizationSeconds": 1200}))["ScaledObject"]["spec"]
    down = longer["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] == 1200


def test_scale_to_zero_sets_min_zero_the_cooldown_and_keeps_the_wake_triggers():
    wake = {
        "type": "cron",
        "metadata": {
            "timezone": "UTC",
            "start": "0 8 * * *",
            "end": "0 18 * * *",
            "desiredReplicas": "1",
        },
    }
    spec = kinds(
        autoscaled(
            {"minReplicas": 0, "keda": {"serverAddress": PROMETHEUS, "extraTriggers": [wake]}}
        )
    )["ScaledObject"]["spec"]
    assert spec["minReplicaCount"] == 0
    assert spec["cooldownPeriod"] == 1800
    assert spec["triggers"][1] == wake


def test_an_authentication_ref_reaches_the_prometheus_trigger_with_its_auth_modes():
    keda = {"serverAddress": PROMETHEUS, "authenticationRef": "prom-auth", "authModes": "basic"}
    trigger = kinds(autoscaled({"keda": keda}))["ScaledObject"]["spec"]["triggers"][0]
    assert trigger["authenticationRef"] == {"name": "prom-auth"}
    # KEDA's Prometheus scaler reads the TriggerAuthentication only for the modes named here.
    assert trigger["metadata"]["authModes"] == "basic"


def test_an_hpa_scales_on_the_pods_metric_of_a_metrics_adapter():
    hpa = kinds(autoscaled({"engine": "hpa", "minReplicas": 2}), release="q")[
        "HorizontalPodAutoscaler"
    ]
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"]["kind"] == "Deployment"
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 8)
    assert spec["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "vllm:num_requests_waiting"},
                "target": {"type": "AverageValue", "averageValue": "5"},
            },
        }
    ]
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert "ScaledObject" not in kinds(autoscaled({"engine": "hpa"}))


def test_an_hpa_on_an_external_metric_takes_its_name_and_selector():
    hpa = kinds(
        autoscaled(
            {
                "engine": "hpa",
                "hpa": {
                    "metricType": "External",
                    "metricName": "vllm_queue",
                    "selector": {"matchLabels": {"service": "qwen"}},
                },
            }
        )
    )["HorizontalPodAutoscaler"]
    assert hpa["spec"]["metrics"] == [
        {
            "type": "External",
            "external": {
                "metric": {"name": "vllm_queue", "selector": {"matchLabels": {"service": "qwen"}}},
                "target": {"type": "AverageValue", "averageValue": "5"},
            },
        }
    ]


def test_a_pod_disruption_budget_follows_the_fewest_replicas_the_autoscaler_keeps():
    assert "PodDisruptionBudget" not in kinds(autoscaled({"minReplicas": 1}))
    assert "PodDisruptionBudget" in kinds(autoscaled({"minReplicas": 2}))


def test_notes_say_how_scaling_behaves_and_what_scale_to_zero_costs():
    text = notes(
        autoscaled(
            {
                "minReplicas": 0,
                "keda": {"serverAddress": PROMETHEUS, "extraTriggers": [{"type": "cron"}]},
            }
        ),
        release="q",
        namespace="ai",
    )
    assert "0 to 8 replicas" in text
    assert "vllm:num_requests_waiting at 5 per replica" in text
    assert "after the\nmetric has stayed low for 600 s" in text
    assert "full cold start" in text
    assert "kubectl get scaledobject q-modelservice -n ai -w" in text


@pytest.mark.parametrize("engine", ["keda", "hpa"])
def test_autoscaled_deployments_and_groups_pass_the_real_api_servers_dry_run(apiserver, engine):
    for given in (
        autoscaled(
            {
                "engine": engine,
                "minReplicas": 2,
                "hpa": {"metricType": "External", "selector": {"matchLabels": {"a": "b"}}},
            }
        ),
        autoscaled(
            {"engine": engine, "minReplicas": 1},
            gpu={"count": 8},
            engine={"args": ["--pipeline-parallel-size=2"]},
            multiNode={"enabled": True},
        ),
    ):
        found = render_values(given, namespace="ai").objects()
        answers = apiserver.dry_run(found, namespace="ai")
        assert {o["kind"]: a for o, a in zip(found, answers, strict=True) if a} == {}


def test_the_api_server_refuses_a_scaledobject_without_a_target(apiserver):
    scaled = kinds(autoscaled(), namespace="ai")["ScaledObject"]
    del scaled["spec"]["scaleTargetRef"]
    [message] = apiserver.dry_run([scaled], namespace="ai")
    assert message is not None and "scaleTargetRef" in message


def test_validate_accepts_the_autoscaled_example_without_a_warning():
    assert validate_file(EXAMPLES / "qwen2.5-7b-autoscaled.yaml", CHART).problems == []


def test_the_autoscaled_examples_wake_trigger_names_the_ingress_the_chart_renders():
    result = validate_file(EXAMPLES / "qwen2.5-7b-autoscaled.yaml", CHART)
    found = {
        o["kind"]: o
        for o in render_values(
            result.values, release="qwen2-5-7b-autoscaled", namespace="ai"
        ).objects()
    }
    wake = found["ScaledObject"]["spec"]["triggers"][1]["metadata"]["query"]
    assert f'ingress="{found["Ingress"]["metadata"]["name"]}"' in wake
    assert 'exported_namespace="ai"' in wake


# -- a claim per replica, without ReadWriteMany storage -----------------------------------------


def per_pod(**autoscaling: Any) -> dict[str, Any]:
    given = autoscaled(autoscaling)
    given["persistence"] = {"perPod": True, "size": "100Gi"}
    return given


def test_a_claim_per_pod_runs_the_replicas_in_a_statefulset_instead_of_the_deployment():
    found = kinds(per_pod(), release="q")
    assert "Deployment" not in found and "PersistentVolumeClaim" not in found
    sts = found["StatefulSet"]
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert "replicas" not in sts["spec"]
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "cache"
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    pod = sts["spec"]["template"]["spec"]
    assert "cache" not in {v["name"] for v in pod.get("volumes", [])}
    server = next(c for c in pod["containers"] if c["name"] == "vllm")
    assert {"name": "cache", "mountPath": "/root/.cache"} in server["volumeMounts"]
    assert found["ScaledObject"]["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "q-modelservice",
    }


def test_the_statefulsets_pod_is_the_deployments_pod_but_for_the_cache_volume():
    sts = kinds(per_pod())["StatefulSet"]["spec"]["template"]
    shared = autoscaled()
    deployment = kinds(shared)["Deployment"]["spec"]["template"]
    deployment["spec"]["volumes"] = [
        v for v in deployment["spec"]["volumes"] if v["name"] != "cache"
    ]
    assert sts == deployment


def test_a_claim_per_pod_needs_no_readwritemany_cache_to_autoscale():
    found = render_values(per_pod()).objects()
    case = CASES / "valid" / "per-pod-cache-claims-for-autoscaled-replicas.yaml"
    assert validate_file(case, CHART).problems == []
    assert {o["kind"] for o in found} >= {"StatefulSet", "ScaledObject"}


def test_notes_follow_the_statefulsets_pods():
    text = notes(per_pod(), release="q", namespace="ai")
    assert "kubectl logs -f sts/q-modelservice -c vllm -n ai" in text
    assert "cache-q-modelservice-<n>" in text
    assert "deploy/" not in text


def test_per_pod_claims_of_a_statefulset_pass_the_real_api_servers_dry_run(apiserver):
    for given in (per_pod(), {**per_pod(), "autoscaling": {"enabled": False}, "replicaCount": 3}):
        found = render_values(given, namespace="ai").objects()
        answers = apiserver.dry_run(found, namespace="ai")
        assert {o["kind"]: a for o, a in zip(found, answers, strict=True) if a} == {}


def test_promtool_evaluates_the_trigger_query_to_this_services_waiting_requests_only(
    promtool,
    tmp_path,
):
    """Two replicas of this service, one of another service and one of another model: the
    query sums the two (KEDA divides the sum by the replica count)."""
    query = kinds(autoscaled(), release="qwen", namespace="ai")["ScaledObject"]["spec"]["triggers"][
        0
    ]["metadata"]["query"]
    rules = {"groups": [{"name": "keda", "rules": [{"record": "keda:waiting", "expr": query}]}]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    mine = f'namespace="ai", service="qwen-modelservice", model_name="{QWEN_7B}", engine="0"'
    series = [
        {"series": f'vllm:num_requests_waiting{{{mine}, pod="qwen-a"}}', "values": "3x5"},
        {"series": f'vllm:num_requests_waiting{{{mine}, pod="qwen-b"}}', "values": "9x5"},
        {
            "series": 'vllm:num_requests_waiting{namespace="ai", service="other-modelservice", '
            f'model_name="{QWEN_7B}", engine="0", pod="other-a"}}',
            "values": "100x5",
        },
        {
            "series": 'vllm:num_requests_waiting{namespace="ai", service="qwen-modelservice", '
            'model_name="another/model", engine="0", pod="qwen-c"}',
            "values": "50x5",
        },
    ]
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": "keda:waiting",
                        "eval_time": "2m",
                        "exp_samples": [{"labels": "keda:waiting", "value": 12}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "keda.test.yaml").write_text(yaml.safe_dump(test))
    result = run_promtool(promtool, "test", "rules", tmp_path / "keda.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_idle_replica_count_of_zero_scales_to_zero_between_bursts_above_one(apiserver):
    cron = {
        "type": "cron",
        "metadata": {
            "timezone": "UTC",
            "start": "0 8 * * *",
            "end": "0 18 * * *",
            "desiredReplicas": "2",
        },
    }
    given = autoscaled(
        {
            "minReplicas": 2,
            "keda": {"serverAddress": PROMETHEUS, "idleReplicaCount": 0, "extraTriggers": [cron]},
        }
    )
    found = render_values(given, namespace="ai").objects()
    spec = next(o for o in found if o["kind"] == "ScaledObject")["spec"]
    assert (spec["idleReplicaCount"], spec["minReplicaCount"]) == (0, 2)
    assert spec["cooldownPeriod"] == 1800
    assert "idleReplicaCount" not in kinds(autoscaled())["ScaledObject"]["spec"]
    answers = apiserver.dry_run(found, namespace="ai")
    assert {o["kind"]: a for o, a in zip(found, answers, strict=True) if a} == {}
    assert "With idleReplicaCount 0 the service scales to zero" in notes(given)


def test_the_api_server_refuses_the_extra_triggers_validate_refuses(apiserver):
    """The KEDA trigger rule agrees with the real API server on its invalid case (the
    chart's own trigger comes first, the extra ones follow)."""
    case = CASES / "invalid" / "autoscaling-extra-trigger-kedas-schema-refuses.yaml"
    scaled = kinds(yaml.safe_load(case.read_text()), namespace="ai")["ScaledObject"]
    [message] = apiserver.dry_run([scaled], namespace="ai")
    assert message is not None and 'unknown field "spec.triggers[2].metadataa"' in message
    scaled["spec"]["triggers"][2]["metadata"] = scaled["spec"]["triggers"][2].pop("metadataa")
    [message] = apiserver.dry_run([scaled], namespace="ai")
    assert message is not None
    assert "spec.triggers[1].metadata.threshold" in message
    scaled["spec"]["triggers"][1]["metadata"]["threshold"] = "1000"
    assert apiserver.dry_run([scaled], namespace="ai") == [None]
