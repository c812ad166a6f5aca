"""The naming helpers: release-chart names, overrides, and the 63-character limit."""

from __future__ import annotations

import pytest

from conftest import Objects, assert_valid_kubernetes, render_values
from modelservice.helm.engine import validate_release_name
from modelservice.k8s import schemas as k8s


def names(values, release="test"):
    rendered = render_values({"model": {"name": "org/model"}, **values}, release=release)
    assert_valid_kubernetes(rendered)
    objects = Objects(rendered)
    return {o["kind"]: o["metadata"]["name"] for o in objects.all}, objects


def test_objects_are_named_release_dash_chart():
    found, _ = names({}, release="qwen")
    assert found["Deployment"] == "qwen-modelservice"
    assert found["Service"] == "qwen-modelservice"
    assert found["PersistentVolumeClaim"] == "qwen-modelservice-cache"


def test_a_release_name_containing_the_chart_name_is_used_alone():
    found, _ = names({}, release="modelservice-qwen")
    assert found["Deployment"] == "modelservice-qwen"


def test_nameoverride_replaces_the_chart_name_in_names_and_the_name_label():
    found, objects = names({"nameOverride": "llm"}, release="qwen")
    assert found["Deployment"] == "qwen-llm"
    labels = objects.deployment["spec"]["selector"]["matchLabels"]
    assert labels["app.kubernetes.io/name"] == "llm"


def test_fullnameoverride_replaces_the_whole_name():
    found, _ = names({"fullnameOverride": "chat"}, release="qwen")
    assert found["Deployment"] == "chat"
    assert found["PersistentVolumeClaim"] == "chat-cache"


@pytest.mark.parametrize("length", [53])
def test_long_release_names_are_cut_to_63_characters_keeping_suffixes(length):
    release = "r" * (length - 1) + "x"
    found, _ = names({}, release=release)
    assert len(found["Deployment"]) <= 63
    assert not found["Deployment"].endswith("-")
    assert found["PersistentVolumeClaim"].endswith("-cache")
    assert len(found["PersistentVolumeClaim"]) <= 63


def test_a_63_character_fullnameoverride_still_yields_distinct_derived_names():
    found, _ = names({"fullnameOverride": "a" * 63})
    assert found["Deployment"] == "a" * 63
    assert found["PersistentVolumeClaim"] == "a" * 57 + "-cache"
    assert len(found["PersistentVolumeClaim"]) == 63


# -- names Kubernetes accepts, whatever release name Helm accepts ------------------------------

EVERYTHING = {
    "model": {"name": "org/model"},
    "replicaCount": 2,
    "auth": {"apiKey": {"create": True}},
    "serviceAccount": {"create": True},
    "ingress": {"enabled": True, "hosts": [{"host": "llm.example.com"}]},
    "httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}]},
    "networkPolicy": {"enabled": True},
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    },
}


def every_name_kubernetes_accepts(rendered) -> dict[str, str]:
    """Every object's name checked against the API server's rule for its kind, and every
    reference to the Service checked as a DNS-1035 label; returns kind -> name."""
    found = {}
    for obj in rendered.objects():
        kind, name = obj["kind"], obj["metadata"]["name"]
        found[kind] = name
        assert len(name) <= 253 and k8s.DNS1123_SUBDOMAIN.match(name), (kind, name)
        if kind in ("Service", "Deployment", "Pod", "ServiceAccount", "NetworkPolicy"):
            # Deployment names become pod-name prefixes and hostnames: DNS-1123 labels.
            assert len(name) <= 63 and k8s.DNS1123_LABEL.match(name), (kind, name)
        if kind == "Service":
            assert len(name) <= 63 and k8s.DNS1035_LABEL.match(name), (kind, name)
    service = found["Service"]
    for obj in rendered.objects():
        if obj["kind"] == "Ingress":
            backend = obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
            assert backend == service
        if obj["kind"] == "HTTPRoute":
            assert obj["spec"]["rules"][0]["backendRefs"][0]["name"] == service
    return found


@pytest.mark.parametrize(
    "release",
    ["qwen2.5", "7b-chat", "1.5b", "a" * 52 + "9", "q." * 26 + "q", "9" * 53, "x--y"],
)
def test_every_helm_valid_release_name_yields_object_names_kubernetes_accepts(release):
    validate_release_name(release)  # Helm accepts it
    rendered = render_values(EVERYTHING, release=release)
    assert_valid_kubernetes(rendered)
    every_name_kubernetes_accepts(rendered)


def test_the_instance_label_stays_the_release_name_dots_and_all():
    rendered = render_values(EVERYTHING, release="qwen2.5")
    for obj in rendered.objects():
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "qwen2.5"
    selector = Objects(rendered).deployment["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/instance"] == "qwen2.5"


def test_dots_in_the_release_name_become_dashes_in_object_names():
    found, _ = names({}, release="qwen2.5")
    assert found["Service"] == found["Deployment"] == "qwen2-5-modelservice"
    assert found["PersistentVolumeClaim"] == "qwen2-5-modelservice-cache"


def test_a_release_name_starting_with_a_digit_gets_a_letter_in_front():
    found, objects = names({}, release="7b-chat")
    assert found["Service"] == found["Deployment"] == "m-7b-chat-modelservice"
    assert found["PersistentVolumeClaim"] == "m-7b-chat-modelservice-cache"
    test_pod = objects.one("Pod")
    base_url = next(e["value"] for e in test_pod["spec"]["containers"][0]["env"])
    assert base_url == "http://m-7b-chat-modelservice:8000"


def test_a_53_character_release_name_with_dots_is_cut_to_a_63_character_label():
    release = "q." * 26 + "q"
    found, _ = names({}, release=release)
    assert found["Service"] == ("q-" * 26 + "q-modelservice")[:63] == "q-" * 26 + "q-modelserv"
    assert len(found["PersistentVolumeClaim"]) <= 63
    assert found["PersistentVolumeClaim"].endswith("-cache")


@pytest.mark.parametrize(
    ("values", "service"),
    [
        ({"nameOverride": "7b"}, "qwen-7b"),
        ({"nameOverride": "llm"}, "m-1-5b-llm"),
    ],
)
def test_name_overrides_combine_with_any_release_into_a_dns_1035_service_name(values, service):
    found, _ = names(values, release="qwen" if service.startswith("qwen") else "1.5b")
    assert found["Service"] == service


def test_a_cut_that_falls_on_a_run_of_dashes_removes_all_of_them():
    found, _ = names({"nameOverride": "b" * 7 + "--c"}, release="a" * 53)
    assert found["Service"] == "a" * 53 + "-" + "b" * 7
    assert found["PersistentVolumeClaim"] == "a" * 53 + "-bbb-cache"
