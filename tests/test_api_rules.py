"""The offline API rules (the release-stage checks that read objects alone: modelservice.checks
that ``reads="release"``) agree with a real kube-apiserver.

Each invalid case of an API rule is rendered by the real engine without validation and every
object is sent to the server of the test harness (strict field validation, server-side dry
run): an object the offline rules find fault with must be refused by the server, and every
other object accepted. Generated cases cover what no case file holds (256 KiB of annotations,
names the chart would never derive).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from case_files import INVALID, expectations

from conftest import EXAMPLES, render_values
from modelservice.checks import load
from modelservice.checks.k8s.api import api_findings
from modelservice.values.loader import load_file

#: Rule ids the offline API rules report: every rule of the checks that judge objects alone.
API_RULES = {
    rule.id
    for check in load().in_stage("release")
    if check.reads == "release"
    for rule in check.rules
}
API_CASES = [p for p in INVALID if {e[4] for e in expectations(p)} & API_RULES]


def verdicts(apiserver: Any, objects: list[dict[str, Any]]) -> list[tuple[str, bool, bool, str]]:
    """(object, refused offline, refused by the server, the server's message) per object."""
    flagged = {id(f.obj) for f in api_findings(objects)}
    answers = apiserver.dry_run(objects)
    return [
        (f"{o['kind']}/{o['metadata']['name']}", id(o) in flagged, answer is not None, answer or "")
        for o, answer in zip(objects, answers, strict=True)
    ]


def assert_agree(apiserver: Any, objects: list[dict[str, Any]]) -> None:
    found = verdicts(apiserver, objects)
    assert [(name, offline) for name, offline, _, _ in found] == [
        (name, server) for name, _, server, _ in found
    ], found
    assert any(offline for _, offline, _, _ in found), "the case must exercise an API rule"


def test_every_api_rule_has_a_case_sent_to_the_server():
    covered = {e[4] for p in API_CASES for e in expectations(p)}
    generated = {"k8s-object-name", "k8s-annotations-too-large", "k8s-probe-success-threshold"}
    assert API_RULES - generated <= covered


@pytest.mark.parametrize("path", API_CASES, ids=lambda p: p.stem)
def test_an_api_rule_case_is_refused_by_the_real_api_server_too(apiserver, path: Path):
    values = load_file(path).data
    assert_agree(apiserver, render_values(values, release="api").objects())


def test_annotations_over_256_kib_are_refused_offline_and_by_the_server(apiserver):
    values = {
        "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
        "podAnnotations": {f"note-{i}": "x" * 1000 for i in range(270)},
    }
    assert_agree(apiserver, render_values(values, release="big").objects())


def test_annotations_just_under_256_kib_are_accepted_offline_and_by_the_server(apiserver):
    values = {
        "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
        "podAnnotations": {f"note-{i}": "x" * 1000 for i in range(255)},
    }
    objects = render_values(values, release="big").objects()
    assert not any(offline or server for _, offline, server, _ in verdicts(apiserver, objects))


@pytest.mark.parametrize("name", ["7b-chat", "qwen2.5", "Upper", "a" * 64])
def test_a_service_name_that_is_no_dns_1035_label_is_refused_offline_and_by_the_server(
    apiserver, name: str
):
    service = render_values({"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}, release="svc")
    obj = copy.deepcopy(next(o for o in service.objects() if o["kind"] == "Service"))
    obj["metadata"]["name"] = name
    assert_agree(apiserver, [obj])


@pytest.mark.parametrize("release", ["7b-chat", "qwen2.5", "x" * 53])
def test_release_names_helm_accepts_render_objects_the_server_accepts(apiserver, release: str):
    values = load_file(EXAMPLES / "ingress-auth.yaml").data  # Service, Ingress, policy, PDB
    objects = render_values(values, release=release).objects()
    found = verdicts(apiserver, objects)
    assert not any(offline or server for _, offline, server, _ in found), found


@pytest.mark.parametrize("probe", ["livenessProbe", "startupProbe"])
def test_a_success_threshold_above_one_is_refused_offline_and_by_the_server(apiserver, probe):
    rendered = render_values({"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}}, release="probe")
    obj = copy.deepcopy(next(o for o in rendered.objects() if o["kind"] == "Deployment"))
    obj["spec"]["template"]["spec"]["containers"][0][probe]["successThreshold"] = 2
    assert_agree(apiserver, [obj])
