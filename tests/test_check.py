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

    def values(
        self, text: str, name: str = "values.yaml", model: str = "Qwen/Qwen2.5-0.5B-Instruct"
    ) -> str:
        path = self.tmp_path / name
        base = (  # six lines; what a test adds starts on line 7, under persistence
            f"model:\n  name: {model}\n"
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


def test_a_namespace_another_rendered_object_goes_into_must_exist(case):
    case.node()
    monitoring = unique("monitoring")
    values = case.values(
        f"metrics:\n  dashboard:\n    enabled: true\n    namespace: {monitoring}\n"
    )
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(10, "/metrics/dashboard/namespace", "check-namespace")]
    assert (
        f"ConfigMap values-modelservice-dashboard goes into namespace {monitoring!r}"
        in (problems[0]["message"])
    )
    assert f"kubectl create namespace {monitoring}" in problems[0]["message"]
    assert "or set metrics.dashboard.namespace to one that exists" in problems[0]["message"]
    case.server.ensure_namespace(monitoring)
    result, problems = case.check(values)
    assert result.exit_code == 0 and problems == [], result.output


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


# -- metrics APIs -------------------------------------------------------------------------------
# This API server serves no metrics API (no adapter, no KEDA): an autoscaler's metric is
# warned of. tests/test_hpa_without_adapter.py shows on the real controller manager the
# condition the warning names, and a served API passing.

AUTOSCALED = "  accessModes: [ReadWriteMany]\nautoscaling:\n  enabled: true\n"


@pytest.mark.parametrize(
    "metric_type, group, reason",
    [
        ("Pods", "custom.metrics.k8s.io", "FailedGetPodsMetric"),
        ("External", "external.metrics.k8s.io", "FailedGetExternalMetric"),
    ],
)
def test_an_hpa_metric_whose_api_no_adapter_serves_is_warned_of(case, metric_type, group, reason):
    case.node()
    values = case.values(AUTOSCALED + f"  engine: hpa\n  hpa:\n    metricType: {metric_type}\n")
    result, problems = case.check(values)
    assert result.exit_code == 0, result.output  # a warning: the release installs
    assert rules(problems) == [(12, "/autoscaling/hpa/metricType", "check-metrics-api")]
    message = problems[0]["message"]
    assert f"from {group}, which the cluster does not serve (no APIService of {group}" in message
    assert f"ScalingActive=False with reason {reason}" in message


def test_a_scaled_object_needs_the_external_metrics_api_of_keda(case):
    case.node()
    values = case.values(
        AUTOSCALED + "  engine: keda\n  keda:\n    serverAddress: http://prometheus:9090\n"
        # the query in the labels Prometheus gives the pods' series (no ServiceMonitor here)
        "    query: sum(vllm:num_requests_waiting{namespace='check'})\n"
    )
    result, problems = case.check(values)
    assert result.exit_code == 0, result.output
    assert rules(problems) == [(10, "/autoscaling/engine", "check-metrics-api")]
    assert "keda-hpa-" in problems[0]["message"]
    assert "KEDA's metrics API server" in problems[0]["message"]


def test_a_registered_metrics_api_that_is_not_available_is_warned_of_with_its_condition(case):
    case.node()
    name = "v1beta2.custom.metrics.k8s.io"
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": name},
        "spec": {
            "group": "custom.metrics.k8s.io",
            "version": "v1beta2",
            "service": {"namespace": case.namespace, "name": "no-adapter", "port": 443},
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 100,
            "versionPriority": 200,
        },
    }
    case.server.create(api_service)
    try:
        path = f"/apis/apiregistration.k8s.io/v1/apiservices/{name}"

        def judged():
            conditions = case.server.request("GET", path).get("status", {}).get("conditions")
            return conditions or None

        _wait("the aggregator's verdict on the APIService", judged)
        values = case.values(AUTOSCALED + "  engine: hpa\n")
        result, problems = case.check(values)
        assert result.exit_code == 0, result.output
        assert rules(problems) == [(10, "/autoscaling/engine", "check-metrics-api")]
        assert (
            f"APIService {name} is not Available (ServiceNotFound: service/no-adapter in "
            f'"{case.namespace}" is not present)' in problems[0]["message"]
        )
        assert "make its APIService Available" in problems[0]["message"]
    finally:
        case.server.delete(api_service)


def _wait(what, probe, timeout=60):
    import time

    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(0.2)
    return found


# -- features gated above the chart's floor ----------------------------------------------------
# This API server is Kubernetes 1.37 emulating 1.34, where ImageVolume is beta and off.

IMAGE_VOLUME = (
    "extraVolumes:\n  - name: models\n    image:\n"
    "      reference: registry.example.com/models/qwen2.5:1\n"
    "extraVolumeMounts:\n  - {name: models, mountPath: /models}\n"
)


def test_an_image_volume_is_refused_on_a_release_whose_gate_is_off_as_the_server_drops_it(case):
    case.node()
    values = case.values(IMAGE_VOLUME)
    result, problems = case.check(values)
    assert result.exit_code == 1
    assert rules(problems) == [(9, "/extraVolumes/0/image", "check-feature-gated")]
    version = case.server.request("GET", "/version")
    assert (version["emulationMajor"], version["emulationMinor"]) == ("1", "34")
    message = problems[0]["message"]
    assert f"Kubernetes 1.34 ({version['gitVersion']} emulating 1.34)" in message
    assert "its gate ImageVolume is Beta, off by default until 1.35" in message
    assert "the API server reports the gate off" in message
    assert "drops the volume and its mounts" in message
    # What the message says the server does: it accepts the Deployment and drops both.
    from modelservice.helm.engine import render
    from modelservice.values.loader import load_file

    rendered = render(CHART, load_file(values).data, release="llm", namespace=case.namespace)
    deployment = next(o for o in rendered.objects() if o["kind"] == "Deployment")
    stored = case.server.request(
        "POST",
        f"/apis/apps/v1/namespaces/{case.namespace}/deployments?dryRun=All&fieldValidation=Strict",
        deployment,
    )
    pod = stored["spec"]["template"]["spec"]
    assert "models" not in [v["name"] for v in pod["volumes"]]
    assert "/models" not in [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]]


def test_a_release_that_uses_no_gated_feature_passes_without_a_word_on_features(case):
    case.node()
    result = case.text(case.values(""))
    assert result.exit_code == 0, result.output
    assert "features:" not in result.stdout


@pytest.mark.parametrize(
    "release, gate_on, severity, says",
    [
        ((1, 30), None, "error", "that release does not know it (gate ImageVolume from 1.31)"),
        ((1, 32), None, "error", "Alpha, off by default until 1.35, and whether the API server"),
        ((1, 34), False, "error", "Beta, off by default until 1.35, and the API server reports"),
        ((1, 34), True, "warning", "the kubelets of the nodes the pods run on must have it on"),
        ((1, 35), None, None, "on by default (ImageVolume Beta)"),
        ((1, 36), False, None, "on by default (ImageVolume GA)"),
    ],
)
def test_the_verdict_on_a_gated_feature_follows_its_gate_at_the_clusters_release(
    release, gate_on, severity, says
):
    from modelservice.checks.cluster.features import FEATURES, verdict

    found = verdict(FEATURES["ImageVolume"], release, gate_on)
    assert found[0] == severity and says in found[1]


@pytest.mark.parametrize(
    "version, release",
    [
        ({"major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "34"}, (1, 34)),
        ({"major": "1", "minor": "33+", "gitVersion": "v1.33.5-eks-1"}, (1, 33)),
        ({"gitVersion": "v1.35.0"}, (1, 35)),
        ({}, None),
    ],
)
def test_the_clusters_release_is_the_one_its_api_server_emulates(version, release):
    from modelservice.checks.cluster.features import server_release

    assert server_release(version) == release


def test_the_gates_are_read_from_the_api_servers_metrics(apiserver):
    import urllib.request

    from modelservice.preflight.cluster import gates_enabled

    request = urllib.request.Request(apiserver.url + "/metrics")
    request.add_header("Authorization", f"Bearer {apiserver.token}")
    with urllib.request.urlopen(request, context=apiserver._context, timeout=30) as answer:
        text = answer.read().decode()
    gates = gates_enabled(text)
    lines = [line for line in text.splitlines() if line.startswith("kubernetes_feature_enabled{")]
    assert len(gates) == len(lines) > 50
    assert gates["ImageVolume"] is False  # beta, off, at 1.34
    assert any(gates.values())


def test_the_table_of_gated_features_is_kubernetes_own(apiserver):
    """Each feature's versioned specs as pkg/features/kube_features.go of the Kubernetes the
    suite runs lists them (copied into the cache by `make tools`)."""
    import re

    from kube_harness import cache_dir

    from modelservice.checks.cluster.features import FEATURES

    git = apiserver.request("GET", "/version")["gitVersion"]
    source = (cache_dir() / f"kubernetes-{git}" / "kube_features.go").read_text()
    table = source[source.index("var defaultVersionedKubernetesFeatureGates") :]
    for gate, found in FEATURES.items():
        block = re.search(rf"\n\t{gate}: \{{\n(.*?)\n\t\}},", table, re.DOTALL)
        assert block, gate
        specs = re.findall(
            r'version\.MustParse\("(\d+)\.(\d+)"\), Default: (true|false), '
            r"PreRelease: featuregate\.(\w+)",
            block.group(1),
        )
        assert [
            ((int(major), int(minor)), default == "true", stage)
            for major, minor, default, stage in specs
        ] == [(s.since, s.default, s.stage) for s in found.specs]


# -- image volumes ------------------------------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32


def image_volume_values(case) -> str:
    """A model from an image volume, on this case's nodes (lines 1-6 the model, 7-8 the node
    selector, 9-10 the cache's class)."""
    path = case.tmp_path / "image-volume.yaml"
    path.write_text(
        "model:\n  source: oci\n  name: Qwen/Qwen2.5-0.5B-Instruct\n  oci:\n"
        f"    reference: registry.internal:5000/models/qwen@{DIGEST}\n    mode: imageVolume\n"
        f"nodeSelector:\n  pool: {case.pool}\n"
        f"persistence:\n  storageClassName: {case.sc}\n",
        encoding="utf-8",
    )
    return str(path)


def node_info(server, node, kubelet, runtime):
    """What a kubelet reports of itself (its release, its container runtime)."""
    current = server.request("GET", f"/api/v1/nodes/{node['metadata']['name']}")
    status = dict(current["status"])
    status["nodeInfo"] = {
        **{k: "" for k in ("machineID", "systemUUID", "bootID", "kernelVersion", "osImage")},
        **{"kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
        "kubeletVersion": kubelet,
        "containerRuntimeVersion": runtime,
    }
    server.set_status(node, status)


def test_an_image_volume_is_refused_on_a_server_emulating_kubernetes_1_34(case):
    case.node()
    result, problems = case.check(image_volume_values(case))
    assert result.exit_code == 1, result.output
    assert rules(problems) == [(6, "/model/oci/mode", "check-feature-gated")]
    message = problems[0]["message"]
    assert "emulating 1.34" in message and "the API server reports the gate off" in message
    assert "Upgrade the cluster to 1.35" in message and "model.oci.mode: pull" in message


@pytest.fixture
def case_135(apiserver_135, tmp_path, monkeypatch):
    """A case on the API server emulating Kubernetes 1.35."""
    monkeypatch.setenv("KUBECONFIG", str(apiserver_135.kubeconfig(tmp_path / "kubeconfig")))
    runtime = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass"}
    ensure(apiserver_135, {**runtime, "metadata": {"name": "nvidia"}, "handler": "nvidia"})
    return Case(apiserver_135, tmp_path)


def test_an_image_volume_passes_on_kubernetes_1_35_and_old_nodes_are_named(case_135):
    node = case_135.node()
    node_info(case_135.server, node, "v1.35.1", "containerd://2.1.4")
    values = image_volume_values(case_135)
    result, problems = case_135.check(values)
    assert result.exit_code == 0 and problems == [], result.output
    old = case_135.node()
    node_info(case_135.server, old, "v1.34.3", "containerd://1.7.27")
    result, problems = case_135.check(values)
    assert result.exit_code == 1, result.output
    assert rules(problems) == [(6, "/model/oci/mode", "check-image-volume")]
    message = problems[0]["message"]
    name = old["metadata"]["name"]
    assert f"{name} (kubelet v1.34.3)" in message
    assert f"{name} (containerd://1.7.27, needs containerd 2.1)" in message


def test_the_image_volume_gate_is_read_from_the_servers_metrics(apiserver, apiserver_135):
    """What `check` reads of both servers: the release each emulates and its ImageVolume gate
    (a 1.34 server has it off by default, a 1.35 one on)."""
    import os

    from modelservice.preflight.cluster import Cluster

    gates = {}
    for server, name in ((apiserver, "134"), (apiserver_135, "135")):
        path = server.kubeconfig(Path(os.environ.get("TMPDIR", "/tmp")) / f"kubeconfig-{name}")
        os.environ["KUBECONFIG"] = str(path)
        try:
            cluster = Cluster()
            gates[name] = (
                cluster.version()["emulationMinor"],
                cluster.feature_gates()["ImageVolume"],
            )
        finally:
            del os.environ["KUBECONFIG"]
    assert gates == {"134": ("34", False), "135": ("35", True)}


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


#: A model whose 32 attention heads split over 8 GPUs (Qwen2.5-0.5B's 14 do not).
EIGHT_WAY = "meta-llama/Llama-3.1-8B-Instruct"


def test_three_replicas_of_eight_gpus_need_three_free_eight_gpu_nodes(case):
    case.node()
    case.node()
    shared = "  accessModes: [ReadWriteMany]\ngpu:\n  count: 8\n"
    result, problems = case.check(case.values(shared + "replicaCount: 3\n", model=EIGHT_WAY))
    assert result.exit_code == 1
    assert rules(problems) == [(9, "/gpu/count", "check-nodes")], result.output
    message = problems[0]["message"]
    assert "room for 2 of them" in message and "3 replicas of one pod (3 pods)" in message
    assert f"{GPU} 8" in message
    result, problems = case.check(case.values(shared + "replicaCount: 2\n", model=EIGHT_WAY))
    assert result.exit_code == 0 and problems == [], result.output


def test_the_autoscalers_minimum_counts_like_replicas(case):
    case.node()
    case.node()
    autoscaled = (
        "  accessModes: [ReadWriteMany]\ngpu:\n  count: 8\nautoscaling:\n  enabled: true\n"
        "  minReplicas: 3\n  maxReplicas: 6\n  keda:\n"
        "    serverAddress: http://prometheus-operated.monitoring.svc:9090\n"
        "metrics:\n  serviceMonitor:\n    enabled: true\n"
    )
    result, problems = case.check(
        case.values(autoscaled, model=EIGHT_WAY), "--namespace", case.namespace
    )
    assert result.exit_code == 1
    assert [p["rule"] for p in problems if p["rule"] == "check-nodes"] == ["check-nodes"]
    assert (
        "3 replicas of one pod"
        in next(p for p in problems if p["rule"] == "check-nodes")["message"]
    )


def test_memory_is_shown_in_binary_units_not_bytes(case):
    case.node()
    result, problems = case.check(case.values("resources:\n  requests:\n    memory: 600Gi\n"))
    assert result.exit_code == 1
    message = problems[0]["message"]
    assert "memory 600Gi" in message and "memory 512Gi" not in message
    assert not any(len(word) > 9 and word.strip(",;():").isdigit() for word in message.split())


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


def test_tls_without_verification_is_said_once_in_the_toolkits_words(case, tmp_path, monkeypatch):
    import yaml

    path = case.server.kubeconfig(tmp_path / "kc")
    config = yaml.safe_load(path.read_text())
    cluster = config["clusters"][0]["cluster"]
    del cluster["certificate-authority"]
    cluster["insecure-skip-tls-verify"] = True
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    case.node()
    result = case.text(case.values(""))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelservice: warning: TLS verification is off")
    assert "insecure-skip-tls-verify" in lines[0]
    assert "InsecureRequestWarning" not in result.output and "Unverified" not in result.output


# -- routing: the Gateway, the pool's conditions, a joined pool, the objectives' group ----------

ROUTE = "httpRoute:\n  enabled: true\n  parentRefs: [{name: inference-gateway}]\n"
POOL = "routing:\n  inferencePool:\n    enabled: true\n"


def gateway(case, controller, *, name="inference-gateway"):
    """A GatewayClass of ``controller`` (cluster-wide, one per test) and a Gateway of it."""
    class_name = unique("class")
    case.server.create(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": class_name},
            "spec": {"controllerName": controller},
        }
    )
    case.server.create(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": name},
            "spec": {
                "gatewayClassName": class_name,
                "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
            },
        },
        case.namespace,
    )
    return class_name


def installed(case, values, release, kinds):
    """The release's objects of ``kinds`` created on the server, as an install would."""
    from modelservice.helm.engine import render
    from modelservice.values.loader import load_file

    rendered = render(CHART, load_file(values).data, release=release, namespace=case.namespace)
    found = {}
    for obj in rendered.objects():
        if obj["kind"] in kinds:
            found[obj["kind"]] = case.server.create(obj, case.namespace)
    return found


def test_the_gateway_of_a_route_to_a_pool_and_its_class_must_exist(case):
    case.node()
    values = case.values(ROUTE + POOL)
    result, problems = case.check(values, "--release", "qwen")
    assert result.exit_code == 1
    assert rules(problems) == [(9, "/httpRoute/parentRefs/0/name", "check-gateway")]
    assert "inference-gateway does not exist" in problems[0]["message"]
    class_name = gateway(case, "istio.io/gateway-controller")
    case.server.request("DELETE", f"/apis/gateway.networking.k8s.io/v1/gatewayclasses/{class_name}")
    result, problems = case.check(values, "--release", "qwen")
    assert rules(problems) == [(9, "/httpRoute/parentRefs/0/name", "check-gateway")]
    assert f"GatewayClass {class_name}, which does not exist" in problems[0]["message"]


def test_a_gateway_of_a_conforming_implementation_passes_and_check_says_what_it_needs(case):
    case.node()
    gateway(case, "istio.io/gateway-controller")
    result = case.text(case.values(ROUTE + POOL), "--release", "qwen")
    assert result.exit_code == 0, result.output
    assert "is Istio (istio.io/gateway-controller)" in result.stdout
    assert "ENABLE_GATEWAY_API_INFERENCE_EXTENSION=true" in result.stdout


def test_a_gateway_whose_controller_does_not_route_to_pools_is_flagged(case):
    case.node()
    gateway(case, "example.com/plain-proxy")
    result, problems = case.check(case.values(ROUTE + POOL), "--release", "qwen")
    assert result.exit_code == 0  # a warning: a conforming implementation may be unlisted
    assert rules(problems) == [(9, "/httpRoute/parentRefs/0/name", "check-gateway-inference")]
    assert "run by example.com/plain-proxy" in problems[0]["message"]
    assert problems[0]["severity"] == "warning"


def _parent(accepted, resolved):
    def condition(kind, status, reason):
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": f"{kind} is {status}",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }

    return {
        "parentRef": {"name": "inference-gateway"},
        "controllerName": "istio.io/gateway-controller",
        "conditions": [condition("Accepted", *accepted), condition("ResolvedRefs", *resolved)],
    }


def test_an_installed_pool_must_be_accepted_and_its_refs_resolved(case):
    case.node()
    gateway(case, "istio.io/gateway-controller")
    values = case.values(ROUTE + POOL)
    pool = installed(case, values, "qwen", {"InferencePool"})["InferencePool"]
    result, problems = case.check(values, "--release", "qwen")
    assert rules(problems) == [(12, "/routing/inferencePool/enabled", "check-pool-status")]
    assert (
        problems[0]["severity"] == "warning"
        and "status.parents is empty" in (problems[0]["message"])
    )
    case.server.set_status(
        pool,
        {"parents": [_parent(("False", "NotSupportedByParent"), ("False", "InvalidExtensionRef"))]},
    )
    result, problems = case.check(values, "--release", "qwen")
    assert result.exit_code == 1
    assert [p["rule"] for p in problems] == ["check-pool-status"] * 2
    assert (
        "not Accepted by the Gateway inference-gateway (False, NotSupportedByParent"
        in (problems[0]["message"])
    )
    assert "not ResolvedRefs" in problems[1]["message"]
    pool = case.server.request(
        "GET",
        f"/apis/inference.networking.k8s.io/v1/namespaces/{case.namespace}/inferencepools/"
        "qwen-modelservice",
    )
    case.server.set_status(
        pool, {"parents": [_parent(("True", "Accepted"), ("True", "ResolvedRefs"))]}
    )
    result, problems = case.check(values, "--release", "qwen")
    assert result.exit_code == 0, result.output
    assert problems == []


def _pool_pod(case, pool, served):
    case.server.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": unique("a100"),
                "labels": {"modelservice/inference-pool": pool, "app.kubernetes.io/instance": "a"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "vllm",
                        "image": "vllm/vllm-openai:v0.33.0",
                        "command": ["vllm", "serve"],
                        "args": ["Qwen/Qwen2.5-0.5B-Instruct", "--served-model-name", served],
                    }
                ]
            },
        },
        case.namespace,
    )


JOIN = "routing:\n  inferencePool:\n    join: qwen\n"


def served_as(values: str, name: str, served: str) -> str:
    """The values file with its model replaced by ``name`` served as ``served``."""
    path = Path(values)
    text = path.read_text(encoding="utf-8").replace(
        "  name: Qwen/Qwen2.5-0.5B-Instruct\n", f"  name: {name}\n  servedModelName: {served}\n"
    )
    path.write_text(text, encoding="utf-8")
    return values


def test_a_joined_pool_must_exist_target_the_release_port_and_serve_its_model_name(case):
    case.node()
    joiner = served_as(
        case.values("engine:\n  port: 9000\n" + JOIN),
        "Qwen/Qwen2.5-0.5B-Instruct-AWQ",
        "qwen-small",
    )
    result, problems = case.check(joiner, "--release", "b")
    assert rules(problems) == [(12, "/routing/inferencePool/join", "check-pool-join")]
    assert "InferencePool qwen does not exist" in problems[0]["message"]
    owner = case.values(
        ROUTE + "routing:\n  inferencePool:\n    enabled: true\n    name: qwen\n", "owner.yaml"
    )
    installed(case, owner, "a", {"InferencePool"})
    _pool_pod(case, "qwen", "Qwen/Qwen2.5-0.5B-Instruct")
    result, problems = case.check(joiner, "--release", "b")
    assert result.exit_code == 1
    assert rules(problems) == [
        (3, "/model/servedModelName", "check-pool-join"),
        (9, "/engine/port", "check-pool-join"),
    ]
    assert "serve 'Qwen/Qwen2.5-0.5B-Instruct'" in problems[0]["message"]
    assert "this release would serve 'qwen-small'" in problems[0]["message"]
    assert "targets port(s) 8000" in problems[1]["message"]
    assert "set engine.port to 8000" in problems[1]["message"]
    fixed = served_as(
        case.values(JOIN), "Qwen/Qwen2.5-0.5B-Instruct-AWQ", "Qwen/Qwen2.5-0.5B-Instruct"
    )
    result, problems = case.check(fixed, "--release", "b")
    assert result.exit_code == 0, result.output
    assert problems == []


def test_a_joined_pool_must_select_the_pool_label_and_hear_the_kv_events_alike(case):
    case.node()
    mirror = "huggingface:\n  endpoint: https://hf-mirror.example.com\n"
    owner = case.values(
        mirror
        + ROUTE
        + "routing:\n  inferencePool:\n    enabled: true\n    name: qwen\n"
        + "  kvEvents:\n    enabled: true\n    blockSize: 32\n",
        "owner.yaml",
    )
    installed(case, owner, "a", {"InferencePool", "ConfigMap"})
    joiner = served_as(
        case.values(mirror + JOIN + "  kvEvents:\n    enabled: true\n    blockSize: 16\n"),
        "Qwen/Qwen2.5-0.5B-Instruct",
        "Qwen/Qwen2.5-0.5B-Instruct",
    )
    result, problems = case.check(joiner, "--release", "b")
    assert rules(problems) == [(15, "/routing/kvEvents/blockSize", "check-pool-join")]
    assert "blocks of 32" in problems[0]["message"]
    assert "set routing.kvEvents.blockSize to 32" in problems[0]["message"]
    path = f"/apis/inference.networking.k8s.io/v1/namespaces/{case.namespace}/inferencepools/qwen"
    pool = case.server.request("GET", path)
    pool["spec"]["selector"]["matchLabels"] = {"app": "vllm"}
    pool["spec"]["endpointPickerRef"]["name"] = "another-picker"
    case.server.request("PUT", path, pool)
    result, problems = case.check(joiner, "--release", "b")
    assert result.exit_code == 1
    assert [p["rule"] for p in problems] == ["check-pool-join"] * 2
    assert "selects {'app': 'vllm'}" in problems[0]["message"]
    assert "picker is another-picker" in problems[1]["message"]


def test_objectives_of_the_older_group_are_ignored_where_llm_d_ai_is_served(case):
    case.node()
    gateway(case, "gateway.nginx.org/nginx-gateway-controller")
    objectives = "  objectives:\n    - name: batch\n      priority: -1\n"
    older = case.values(
        ROUTE + POOL + objectives + "  objectivesApiGroup: inference.networking.x-k8s.io\n"
    )
    result, problems = case.check(older, "--release", "qwen")
    assert result.exit_code == 1
    assert rules(problems) == [(16, "/routing/objectivesApiGroup", "check-objective-group")]
    assert "set routing.objectivesApiGroup: llm-d.ai" in problems[0]["message"]
    result, problems = case.check(case.values(ROUTE + POOL + objectives), "--release", "qwen")
    assert result.exit_code == 0, result.output
