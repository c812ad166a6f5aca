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


def made_by_controllers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """What the controllers make of a workload, which the API server judges when it is made:
    the claims of a StatefulSet's or a LeaderWorkerSet's claim templates, and a
    LeaderWorkerSet's pod templates (its custom resource holds them unjudged), sent as
    PodTemplates: validated as a Deployment's template is, without the admission of a pod."""
    name = obj["metadata"]["name"]
    found = []
    if obj["kind"] == "LeaderWorkerSet":
        group = obj["spec"]["leaderWorkerTemplate"]
        claims = group.get("volumeClaimTemplates") or []
        for role in ("leaderTemplate", "workerTemplate"):
            template = copy.deepcopy(group[role])
            # the controller gives each pod a volume per claim template, the claim it made
            template["spec"].setdefault("volumes", []).extend(
                {
                    "name": c["metadata"]["name"],
                    "persistentVolumeClaim": {"claimName": f"{c['metadata']['name']}-{name}-0"},
                }
                for c in claims
            )
            found.append(
                {
                    "apiVersion": "v1",
                    "kind": "PodTemplate",
                    "metadata": {"name": f"{name}-{role.lower()}"},
                    "template": template,
                }
            )
    else:
        claims = (obj.get("spec") or {}).get("volumeClaimTemplates") or []
    for claim in claims:
        metadata = {"name": f"{claim['metadata']['name']}-{name}-0"}
        found.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": metadata,
                "spec": claim["spec"],
            }
        )
    return found


def verdicts(apiserver: Any, objects: list[dict[str, Any]]) -> list[tuple[str, bool, bool, str]]:
    """(object, refused offline, refused by the server, the server's message) per object; the
    server refuses a workload when it refuses the workload or an object made of it."""
    flagged = {id(f.obj) for f in api_findings(objects)}
    found = []
    for obj in objects:
        answers = [a for a in apiserver.dry_run([obj, *made_by_controllers(obj)]) if a]
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        found.append((name, id(obj) in flagged, bool(answers), "; ".join(answers)))
    return found


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


#: Values that render the server as each workload kind.
KINDS = {
    "Deployment": {},
    "StatefulSet": {"persistence": {"perPod": True}},
    "LeaderWorkerSet": {
        "engine": {"tensorParallelSize": 2},
        "multiNode": {"enabled": True, "nodes": 2},
        "persistence": {"perPod": True},
    },
}


def server_pod_template(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The pod template of the server's workload (a group's leader's)."""
    workload = next(o for o in objects if o["kind"] == kind)
    if kind == "LeaderWorkerSet":
        return workload["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    return workload["spec"]["template"]


@pytest.mark.parametrize("kind", KINDS)
def test_annotations_over_256_kib_are_refused_offline_and_by_the_server(apiserver, kind):
    values = {
        "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
        "podAnnotations": {f"note-{i}": "x" * 1000 for i in range(270)},
        **KINDS[kind],
    }
    assert_agree(apiserver, render_values(values, release="big").objects())


@pytest.mark.parametrize("kind", KINDS)
def test_annotations_just_under_256_kib_are_accepted_offline_and_by_the_server(apiserver, kind):
    values = {
        "model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"},
        "podAnnotations": {f"note-{i}": "x" * 1000 for i in range(255)},
        **KINDS[kind],
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


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("probe", ["livenessProbe", "startupProbe"])
def test_a_success_threshold_above_one_is_refused_offline_and_by_the_server(apiserver, probe, kind):
    values = {"model": {"name": "Qwen/Qwen2.5-0.5B-Instruct"}, **KINDS[kind]}
    objects = copy.deepcopy(render_values(values, release="probe").objects())
    server_pod_template(objects, kind)["spec"]["containers"][0][probe]["successThreshold"] = 2
    assert_agree(apiserver, [o for o in objects if o["kind"] == kind])
