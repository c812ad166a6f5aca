"""check's node verdict agrees with the real kube-scheduler.

For each scenario a test seeds Nodes (GPU capacity, labels, taints) and pods holding GPUs on
the real API server, asks `modelservice check` whether a pod of the release can be placed,
then creates that pod (the rendered Deployment's pod template) and lets the real
kube-scheduler (built by `make tools` from the same Go modules) place it or mark it
Unschedulable. The two verdicts must agree, and a bound pod lands on a node check counted."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from cluster_seed import add_node, add_pod_on, ensure, unique
from kube_harness import start_scheduler

from conftest import CHART
from modelservice.cli import cli
from modelservice.helm.engine import render
from modelservice.values.loader import load_file


@pytest.fixture(scope="module")
def scheduler(apiserver):
    with start_scheduler(apiserver) as proc:
        yield proc


TAINT = {"key": "dedicated", "value": "a100", "effect": "NoSchedule"}
TOLERATION = (
    "tolerations:\n  - {key: dedicated, operator: Equal, value: a100, effect: NoSchedule}\n"
)
AFFINITY = (
    "affinity:\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n"
    "      nodeSelectorTerms:\n        - matchExpressions:\n"
    "            - {key: zone, operator: In, values: [%s]}\n"
)

#: name: (nodes as (gpus, busy gpus, taints, extra labels), extra values)
SCENARIOS = {
    "a node with free gpus": ([(8, 0, [], {})], ""),
    "every gpu held by other pods": ([(2, 2, [], {}), (1, 1, [], {})], ""),
    "some gpus free on a second node": ([(2, 2, [], {}), (4, 1, [], {})], "gpu:\n  count: 2\n"),
    "more gpus than any node has": ([(4, 0, [], {})], "gpu:\n  count: 8\n"),
    "a taint the pod does not tolerate": ([(8, 0, [TAINT], {})], ""),
    "a taint the pod tolerates": ([(8, 0, [TAINT], {})], TOLERATION),
    "affinity no node meets": ([(8, 0, [], {"zone": "b"})], AFFINITY % "a"),
    "affinity a node meets": (
        [(8, 0, [], {"zone": "b"}), (8, 0, [], {"zone": "a"})],
        AFFINITY % "a",
    ),
}


def _decision(server, namespace: str, name: str) -> str | None:
    """The node the scheduler bound the pod to, or None once it marked it Unschedulable."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pod = server.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        if pod["spec"].get("nodeName"):
            return pod["spec"]["nodeName"]
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition["type"] == "PodScheduled" and condition.get("reason") == "Unschedulable":
                return None
        time.sleep(0.2)
    raise TimeoutError(f"the scheduler decided nothing about {namespace}/{name} in 120s")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_check_and_the_scheduler_agree_on_where_a_pod_goes(
    apiserver, scheduler, tmp_path, monkeypatch, scenario
):
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
    nodes, extra = SCENARIOS[scenario]
    namespace, pool = unique("sched"), unique("pool")
    apiserver.ensure_namespace(namespace)
    names = []
    for gpus, busy, taints, labels in nodes:
        node = add_node(
            apiserver, unique("node"), labels={"pool": pool, **labels}, gpus=gpus, taints=taints
        )
        names.append(node["metadata"]["name"])
        if busy:
            add_pod_on(apiserver, node["metadata"]["name"], namespace, busy)
    values = tmp_path / "values.yaml"
    values.write_text(
        # Llama-3.1-8B: its 32 heads take tensor parallel 1, 2 and 8
        "model:\n  name: meta-llama/Llama-3.1-8B-Instruct\npersistence:\n  enabled: false\n"
        f"nodeSelector:\n  pool: {pool}\n" + extra,
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["check", str(values), "--namespace", namespace, "--format", "json"]
    )
    problems = json.loads(result.stdout)
    assert all(p["rule"] == "check-nodes" for p in problems), problems
    check_places = not problems

    rendered = render(CHART, load_file(values).data, release="sched", namespace=namespace)
    for obj in rendered.objects():
        if obj["kind"] == "ServiceAccount":
            apiserver.create(obj, namespace)
    template = next(o for o in rendered.objects() if o["kind"] == "Deployment")["spec"]["template"]
    pod_name = unique("vllm")
    apiserver.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod_name, "labels": template["metadata"].get("labels", {})},
            "spec": template["spec"],
        },
        namespace,
    )
    placed_on = _decision(apiserver, namespace, pod_name)
    assert (placed_on is not None) == check_places, (scenario, placed_on, problems)
    if placed_on is not None:
        assert placed_on in names
