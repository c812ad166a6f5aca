"""modelservice check against a real kube-apiserver (tests/kube_harness.py), seeded for each
case with what a cluster holds: Nodes with GPU capacity, labels and taints, pods using GPUs,
Secrets, claims Bound through their status subresource, classes and CRDs. Every check rule has
a passing and a failing case. Each test works in its own namespace and labels its own nodes,
so tests sharing the server do not see each other's objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cluster_seed import (
    GPU,
    add_claim,
    add_node,
    add_pod_on,
    add_secret,
    ensure,
    storage_class,
    unique,
)

from conftest import CHART
from modelservice.cli import cli


@pytest.fixture
def cluster(apiserver, tmp_path, monkeypatch):
    """The shared API server behind a kubeconfig of this test's own, with the RuntimeClass the
    chart names by default."""
    monkeypatch.setenv("KUBECONFIG", str(apiserver.kubeconfig(tmp_path / "kubeconfig")))
    ensure(
        apiserver,
        {
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {"name": "nvidia"},
            "handler": "nvidia",
        },
    )
    return apiserver


class Case:
    """A values file, a namespace and the label that selects this test's own nodes."""

    def __init__(self, server, tmp_path: Path):
        self.server = server
        self.tmp_path = tmp_path
        self.namespace = unique("check")
        self.pool = unique("pool")
        server.ensure_namespace(self.namespace)
        self.sc = unique("sc")
        server.create(storage_class(self.sc))

    def values(self, text: str) -> str:
        path = self.tmp_path / "values.yaml"
        base = (  # six lines; what a test adds starts on line 7, under persistence
            "model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\n"
            f"nodeSelector:\n  pool: {self.pool}\n"
            f"persistence:\n  storageClassName: {self.sc}\n"
        )
        path.write_text(base + text, encoding="utf-8")
        return str(path)

    def node(self, **kw):
        labels = {"pool": self.pool, **kw.pop("labels", {})}
        return add_node(self.server, unique("node"), labels=labels, **kw)

    def check(self, values: str, *extra: str):
        result = CliRunner().invoke(
            cli, ["check", values, "--namespace", self.namespace, "--format", "json", *extra]
        )
        assert "Traceback" not in result.output, result.output
        problems = json.loads(result.stdout) if result.stdout.strip() else []
        return result, problems

    def text(self, values: str, *extra: str):
        return CliRunner().invoke(cli, ["check", values, "--namespace", self.namespace, *extra])


@pytest.fixture
def case(cluster, tmp_path):
    return Case(cluster, tmp_path)


def rules(problems):
    return [(p["line"], p["pointer"], p["rule"]) for p in problems]


# -- a release that installs and schedules ------------------------------------------------------


def test_a_release_with_everything_in_place_passes_with_the_nodes_that_fit(case):
    case.node()
    case.node(gpus=2)
    values = case.values("")
    result = case.text(values)
    assert result.exit_code == 0, result.output
    assert "2 of " in result.stdout and f"{GPU} 10" in result.stdout
    assert result.stderr == ""


# -- namespace ----------------------------------------------------------------------------------


def test_a_missing_namespace_is_reported(case):
    case.node()
    values = case.values("")
    result = CliRunner().invoke(
        cli, ["check", values, "--namespace", unique("absent"), "--format", "json"]
    )
    assert result.exit_code == 1
    assert rules(json.loads(result.stdout)) == [(1, "/", "check-namespace")]


# -- Secrets ------------------------------------------------------------------------------------


def test_the_hub_token_secret_must_exist(case):
    case.node()
    values = case.values("huggingface:\n  token:\n    secretName: hf-token\n")
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(9, "/huggingface/token/secretName", "check-secret")]


def test_the_hub_token_secret_must_hold_the_key(case):
    case.node()
    add_secret(case.server, case.namespace, "hf-token", {"HF_TOKEN": "hf_x"})
    values = case.values("huggingface:\n  token:\n    secretName: hf-token\n")
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(9, "/huggingface/token/secretName", "check-secret")]
    assert "has no key 'token' (its keys: HF_TOKEN)" in problems[0]["message"]


def test_secrets_holding_their_keys_pass(case):
    case.node()
    add_secret(case.server, case.namespace, "hf-token", {"token": "hf_x"})
    add_secret(case.server, case.namespace, "api", {"api-key": "k"})
    values = case.values(
        "huggingface:\n  token:\n    secretName: hf-token\nauth:\n  apiKey:\n    secretName: api\n"
    )
    result, problems = case.check(values)
    assert result.exit_code == 0 and problems == []


# -- the cache claim ----------------------------------------------------------------------------


def test_an_existing_claim_must_exist(case):
    case.node()
    result, problems = case.check(case.values("  existingClaim: models\n"))
    assert result.exit_code == 1
    assert rules(problems) == [(7, "/persistence/existingClaim", "check-claim")]


def test_an_existing_claim_must_be_bound(case):
    case.node()
    add_claim(case.server, case.namespace, "models", modes=["ReadWriteOnce"], phase="Pending")
    result, problems = case.check(case.values("  existingClaim: models\n"))
    assert result.exit_code == 1
    assert "is Pending, not Bound" in problems[0]["message"]


def test_a_claim_shared_by_replicas_must_be_read_write_many(case):
    case.node()
    add_claim(case.server, case.namespace, "models", modes=["ReadWriteOnce"])
    values = case.values(
        "  existingClaim: models\n  accessModes: [ReadWriteMany]\nreplicaCount: 2\n"
    )
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(7, "/persistence/existingClaim", "check-claim")]
    assert "ReadWriteMany" in problems[0]["message"]


def test_a_claim_the_values_declare_read_write_many_must_be(case):
    case.node()
    add_claim(case.server, case.namespace, "models", modes=["ReadWriteOnce"])
    result, problems = case.check(
        case.values("  existingClaim: models\n  accessModes: [ReadWriteMany]\n")
    )
    assert result.exit_code == 1
    assert rules(problems) == [(7, "/persistence/existingClaim", "check-claim")]
    assert "declares it ReadWriteMany" in problems[0]["message"]


def test_a_bound_read_write_many_claim_shared_by_replicas_passes(case):
    case.node()
    add_claim(case.server, case.namespace, "models", modes=["ReadWriteMany"])
    values = case.values(
        "  existingClaim: models\n  accessModes: [ReadWriteMany]\nreplicaCount: 2\n"
    )
    result, problems = case.check(values)
    assert result.exit_code == 0 and problems == [], result.output


# -- classes ------------------------------------------------------------------------------------


def test_a_named_storage_class_must_exist(case):
    case.node()
    values = case.values("")
    text = Path(values).read_text().replace(case.sc, "no-such-class")
    Path(values).write_text(text)
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(6, "/persistence/storageClassName", "check-storage-class")]


def test_an_unnamed_storage_class_needs_a_default_class(case):
    case.node()
    values = case.values("")
    Path(values).write_text(
        Path(values).read_text().replace(f"storageClassName: {case.sc}\n", "size: 20Gi\n")
    )
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(5, "/persistence", "check-storage-class")]
    default = storage_class(unique("default"), default=True)
    case.server.create(default)
    try:
        result, problems = case.check(values)
        assert result.exit_code == 0 and problems == [], result.output
    finally:
        case.server.delete(default)


def test_the_runtime_class_must_exist(case):
    case.node()
    result, problems = case.check(case.values("gpu:\n  runtimeClassName: kata-gpu\n"))
    assert result.exit_code == 1
    assert rules(problems) == [(8, "/gpu/runtimeClassName", "check-runtime-class")]
    ensure(
        case.server,
        {
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {"name": "kata-gpu"},
            "handler": "kata",
        },
    )
    result, problems = case.check(case.values("gpu:\n  runtimeClassName: kata-gpu\n"))
    assert result.exit_code == 0 and problems == []


def test_the_priority_class_must_exist(case):
    case.node()
    name = unique("inference")
    values = case.values(f"priorityClassName: {name}\n")
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(7, "/priorityClassName", "check-priority-class")]
    case.server.create(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": 1000,
        }
    )
    result, problems = case.check(values)
    assert result.exit_code == 0 and problems == []


# -- scheduler and CRDs -------------------------------------------------------------------------

VOLCANO_PODGROUP_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: podgroups.scheduling.volcano.sh
spec:
  group: scheduling.volcano.sh
  names: {kind: PodGroup, plural: podgroups, singular: podgroup, listKind: PodGroupList}
  scope: Namespaced
  versions:
    - name: v1beta1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def test_the_volcano_scheduler_must_be_installed(case):
    case.node(
        extra={
            "volcano.sh/vgpu-number": "8",
            "volcano.sh/vgpu-memory": "81920",
            "volcano.sh/vgpu-cores": "800",
        }
    )
    values = case.values("vgpu:\n  enabled: true\n  provider: volcano\n  memoryMiB: 8000\n")
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(9, "/vgpu/provider", "check-scheduler")]
    crd = case.tmp_path / "podgroups.yaml"
    crd.write_text(VOLCANO_PODGROUP_CRD)
    case.server.install_crds([crd])
    result, problems = case.check(values)
    assert result.exit_code == 0 and problems == [], result.output


def test_hami_slices_need_free_slice_counts_and_leave_memory_shares_to_hami(case):
    node = case.node(gpus=2)
    values = case.values("vgpu:\n  enabled: true\n  memoryMiB: 8000\n")
    result = case.text(values)
    assert result.exit_code == 0, result.output
    assert "nvidia.com/gpumem" in result.stdout and "not checked" in result.stdout
    add_pod_on(case.server, node["metadata"]["name"], case.namespace, 2)
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(9, "/vgpu/memoryMiB", "check-nodes")]


def test_every_custom_kind_rendered_needs_a_crd_serving_its_version(case):
    case.node()
    values = case.values("metrics:\n  serviceMonitor:\n    enabled: true\n")
    result, problems = case.check(values)
    assert result.exit_code == 0 and problems == [], result.output
    # The cluster serves ServiceMonitor only at monitoring.coreos.com/v1: a release that
    # renders another version, or a kind with no CRD, is refused at the key that enables it.
    from modelservice.checks import load
    from modelservice.checks.cluster.objects import custom_kinds
    from modelservice.preflight.cluster import Cluster
    from modelservice.validate import validate_file

    load()
    ctx = validate_file(values, CHART, namespace=case.namespace).context
    assert ctx is not None
    ctx.cluster = Cluster()
    ctx.release.objects[:] = [
        {"apiVersion": "monitoring.coreos.com/v2", "kind": "ServiceMonitor", "metadata": {}},
        {"apiVersion": "widgets.example.com/v1", "kind": "Widget", "metadata": {}},
    ]
    found = [ctx.report(f) for f in custom_kinds(ctx)]
    assert [(p.pointer, p.rule) for p in found] == [
        ("/metrics/serviceMonitor/enabled", "check-crd"),
        ("/", "check-crd"),
    ]
    assert "serves v1" in found[0].message and "no CRD" in found[1].message


# -- nodes --------------------------------------------------------------------------------------


def test_no_node_matching_the_selector_is_reported_at_the_selector(case):
    result, problems = case.check(case.values(""))
    assert result.exit_code == 1
    assert rules(problems) == [(3, "/nodeSelector", "check-nodes")]


def test_a_taint_the_pod_does_not_tolerate_keeps_it_off_the_node(case):
    taint = {"key": "dedicated", "value": "a100", "effect": "NoSchedule"}
    case.node(taints=[taint])
    result, problems = case.check(case.values(""))
    assert result.exit_code == 1
    assert "taint dedicated=a100" in problems[0]["message"]
    tolerated = case.values(
        "tolerations:\n  - {key: dedicated, operator: Equal, value: a100, effect: NoSchedule}\n"
    )
    result, problems = case.check(tolerated)
    assert result.exit_code == 0 and problems == [], result.output


def test_required_node_affinity_is_matched_like_the_scheduler(case):
    case.node(labels={"gpu": "h100"})
    affinity = (
        "affinity:\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n"
        "      nodeSelectorTerms:\n        - matchExpressions:\n"
        "            - {key: gpu, operator: In, values: [%s]}\n"
    )
    result, problems = case.check(case.values(affinity % "a100"))
    assert result.exit_code == 1 and rules(problems)[0][2] == "check-nodes"
    result, problems = case.check(case.values(affinity % "h100"))
    assert result.exit_code == 0 and problems == [], result.output


def test_gpus_used_by_other_pods_are_not_free(case):
    node = case.node(gpus=4)
    add_pod_on(case.server, node["metadata"]["name"], case.namespace, 3)
    values = case.values("gpu:\n  count: 2\n")
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(8, "/gpu/count", "check-nodes")]
    assert f"{GPU} 1" in problems[0]["message"]
    result, problems = case.check(case.values("gpu:\n  count: 1\n"))
    assert result.exit_code == 0 and problems == [], result.output


def test_a_cordoned_node_takes_no_pod(case):
    node = case.node()
    node_path = f"/api/v1/nodes/{node['metadata']['name']}"
    current = case.server.request("GET", node_path)
    current["spec"]["unschedulable"] = True
    case.server.request("PUT", node_path, current)
    result, problems = case.check(case.values(""))
    assert result.exit_code == 1 and "cordoned" in problems[0]["message"]


# -- upgrades -----------------------------------------------------------------------------------


def _install(case, values: str, release: str):
    """Create what `helm install` would of a release (its Deployment and claim)."""
    from conftest import CHART
    from modelservice.helm.engine import render
    from modelservice.values.loader import load_file

    rendered = render(CHART, load_file(values).data, release=release, namespace=case.namespace)
    for obj in rendered.objects():
        if obj["kind"] in ("Deployment", "PersistentVolumeClaim"):
            case.server.create(obj, case.namespace)


def test_an_upgrade_that_changes_nothing_keeps_the_pods(case):
    case.node()
    values = case.values("fullnameOverride: chat\n")
    _install(case, values, "chat")
    result = case.text(values, "--release", "chat")
    assert result.exit_code == 0, result.output
    assert "its pods stay as they are" in result.stdout


def test_an_upgrade_of_the_engine_args_restarts_the_pods(case):
    case.node()
    _install(case, case.values("fullnameOverride: chat\n"), "chat")
    changed = case.values("fullnameOverride: chat\nengine:\n  args: [--max-model-len=4096]\n")
    result = case.text(changed, "--release", "chat")
    assert result.exit_code == 0, result.output
    assert "the pods restart" in result.stdout and "downloaded again" not in result.stdout


def test_an_upgrade_to_another_model_downloads_it_again(case):
    case.node()
    _install(case, case.values("fullnameOverride: chat\n"), "chat")
    other = case.values("fullnameOverride: chat\n").replace("0.5B", "1.5B")
    Path(other).write_text(Path(other).read_text().replace("0.5B", "1.5B"))
    result = case.text(other, "--release", "chat")
    assert result.exit_code == 0, result.output
    assert "downloaded again" in result.stdout


def test_an_upgrade_that_changes_the_selector_is_refused(case):
    case.node()
    _install(case, case.values("fullnameOverride: chat\nnameOverride: qwen\n"), "chat")
    result, problems = case.check(
        case.values("fullnameOverride: chat\nnameOverride: llm\n"), "--release", "chat"
    )
    assert result.exit_code == 1
    assert rules(problems) == [(8, "/nameOverride", "check-immutable")]


def test_an_upgrade_that_shrinks_or_reclasses_the_claim_is_refused(case):
    case.node()
    _install(case, case.values("  size: 100Gi\nfullnameOverride: chat\n"), "chat")
    result, problems = case.check(
        case.values("  size: 50Gi\nfullnameOverride: chat\n"), "--release", "chat"
    )
    assert result.exit_code == 1
    assert rules(problems) == [(7, "/persistence/size", "check-immutable")]
    other_class = unique("sc")
    case.server.create(storage_class(other_class))
    values = case.values("  size: 100Gi\nfullnameOverride: chat\n")
    Path(values).write_text(Path(values).read_text().replace(case.sc, other_class))
    result, problems = case.check(values, "--release", "chat")
    assert rules(problems) == [(6, "/persistence/storageClassName", "check-immutable")]


# -- the command --------------------------------------------------------------------------------


def test_check_reports_invalid_values_like_validate_before_asking_the_cluster(case):
    result = case.text(case.values("gpu:\n  count: two\n"))
    assert result.exit_code == 1
    assert ":8:10: /gpu/count:" in result.stderr


def test_check_without_a_usable_kubeconfig_says_so_in_one_line(case, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    result = case.text(case.values(""))
    assert result.exit_code == 1
    assert result.stderr.startswith("modelservice: cannot use the kubeconfig")
    assert "Traceback" not in result.output


def test_check_uses_the_context_it_is_given(case, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(case.server.kubeconfig(tmp_path / "kc", context="gpu")))
    case.node()
    result = case.text(case.values(""), "--context", "gpu")
    assert result.exit_code == 0, result.output
    result = case.text(case.values(""), "--context", "other")
    assert result.exit_code == 1 and "context 'other'" in result.stderr


def test_credentials_the_server_refuses_are_one_line_naming_the_call(case, tmp_path, monkeypatch):
    path = case.server.kubeconfig(tmp_path / "kc")
    path.write_text(path.read_text().replace(case.server.token, "not-a-valid-token"))
    monkeypatch.setenv("KUBECONFIG", str(path))
    result = case.text(case.values(""))
    assert result.exit_code == 1
    assert "may not get namespace" in result.stderr and "HTTP 401" in result.stderr
    assert len(result.stderr.splitlines()) == 1
