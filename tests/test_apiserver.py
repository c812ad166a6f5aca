"""Every rendered object is accepted by a real kube-apiserver's strict server-side dry run.

The server is built from the Kubernetes Go modules and runs on 127.0.0.1 with etcd and the
released CRDs of schemas/crds/ (tests/kube_harness.py); each object is created with
``dryRun=All&fieldValidation=Strict``, so unknown fields and every server-side validation
(names, quantities, CRD schemas and CEL rules) count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kube_harness import ApiServer

from conftest import CASES, CHART, EXAMPLES, render_values
from modelservice.helm.engine import Rendered, release_name_for, render
from modelservice.validate import validate_file
from modelservice.values.loader import load_file

EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml")
VALID_CASES = sorted((CASES / "valid").glob("*.yaml"))

#: Files the real API server refuses although `modelservice validate` lets them through:
#: file name -> the server's message. Each is an xfail(strict=True), so a fix shows up.
REJECTED: dict[str, str] = {}


def rendered_example(path: Path) -> Rendered:
    """An example as test_examples.py renders it: its own release name, namespace ``ai``."""
    values = validate_file(path, CHART).values
    return render(CHART, values, release=release_name_for(str(path)), namespace="ai")


def rendered_case(path: Path) -> Rendered:
    """A valid case as test_validate_cases.py renders it."""
    return render_values(load_file(path).data)


def with_known_rejections(paths: list[Path]) -> list[Any]:
    return [
        pytest.param(
            path,
            id=path.stem,
            marks=[pytest.mark.xfail(strict=True, reason=REJECTED[path.name])]
            if path.name in REJECTED
            else [],
        )
        for path in paths
    ]


def refusals(server: ApiServer, rendered: Rendered) -> dict[str, str]:
    objects = rendered.objects()
    verdicts = server.dry_run(objects, namespace=rendered.namespace)
    return {
        f"{o['kind']}/{o['metadata']['name']}": message
        for o, message in zip(objects, verdicts, strict=True)
        if message is not None
    }


@pytest.mark.parametrize("path", with_known_rejections(EXAMPLE_FILES))
def test_every_object_of_an_example_passes_the_real_api_servers_strict_dry_run(apiserver, path):
    assert refusals(apiserver, rendered_example(path)) == {}


@pytest.mark.parametrize("path", with_known_rejections(VALID_CASES))
def test_every_object_of_a_valid_case_passes_the_real_api_servers_strict_dry_run(apiserver, path):
    assert refusals(apiserver, rendered_case(path)) == {}


def test_the_examples_render_the_monitoring_custom_kinds_the_server_then_checks():
    kinds = {o["kind"] for path in EXAMPLE_FILES for o in rendered_example(path).objects()}
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds


def test_an_httproute_the_chart_renders_passes_the_gateway_api_crd_and_its_cel_rules(apiserver):
    # No example exposes the service through a Gateway, so this one does.
    route = {
        "enabled": True,
        "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
        "hostnames": ["llm.example.com"],
        "annotations": {"team": "ml"},
    }
    rendered = render_values(
        {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}, "httpRoute": route}, namespace="ai"
    )
    assert "HTTPRoute" in {o["kind"] for o in rendered.objects()}
    assert refusals(apiserver, rendered) == {}


def test_the_server_serves_the_kinds_of_the_coming_multi_node_and_autoscaling_work(apiserver):
    assert apiserver.resource_for("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet") == (
        "leaderworkersets",
        True,
    )
    assert apiserver.resource_for("keda.sh/v1alpha1", "ScaledObject") == ("scaledobjects", True)


# --- negative controls: the harness really validates -------------------------------------------


def deployment(**container_extra: Any) -> dict[str, Any]:
    labels = {"app": "control"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "control"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "busybox:1", **container_extra}]},
            },
        },
    }


def test_a_plain_deployment_is_accepted(apiserver):
    assert apiserver.dry_run([deployment()], namespace="controls") == [None]


def test_a_deployment_with_an_unknown_field_is_rejected_by_strict_field_validation(apiserver):
    [message] = apiserver.dry_run([deployment(imagePullPolicyy="Always")], namespace="controls")
    assert message is not None
    assert "strict decoding error" in message
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolicyy"' in message


def test_a_service_named_like_a_model_size_is_rejected_as_not_a_dns_1035_label(apiserver):
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "7b-chat"},
        "spec": {"ports": [{"name": "http", "port": 8000}]},
    }
    [message] = apiserver.dry_run([service], namespace="controls")
    assert message is not None
    assert 'metadata.name: Invalid value: "7b-chat"' in message
    assert "DNS-1035 label" in message


def test_a_custom_object_is_checked_against_its_installed_crd(apiserver):
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "control"},
        "spec": {"selector": {}, "endpoints": [{"port": "http", "intervall": "30s"}]},
    }
    [message] = apiserver.dry_run([monitor], namespace="controls")
    assert message is not None
    assert 'unknown field "spec.endpoints[0].intervall"' in message
    monitor["spec"]["endpoints"][0] = {"port": "http", "interval": "30s"}
    assert apiserver.dry_run([monitor], namespace="controls") == [None]


def test_a_custom_object_breaking_a_cel_rule_of_its_crd_is_rejected(apiserver):
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "control"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [
                {
                    "backendRefs": [{"name": "svc", "port": 8000}],
                    "timeouts": {"request": "1s", "backendRequest": "10s"},
                }
            ],
        },
    }
    [message] = apiserver.dry_run([route], namespace="controls")
    assert message is not None
    assert "backendRequest timeout cannot be longer than request timeout" in message
