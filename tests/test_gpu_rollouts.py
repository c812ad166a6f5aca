"""Upgrading a GPU release on a cluster whose GPUs are all taken, with Helm 3 and Helm 4.

A RollingUpdate with surge starts the new pod before an old one stops: the new pod needs GPUs
beyond what the release holds, stays Pending (Insufficient nvidia.com/gpu), the old pods keep
theirs, and `helm upgrade --wait` runs into its timeout. The chart's default for a GPU release
(maxSurge 0, maxUnavailable 1: one pod stops, its replacement takes the freed GPU) completes
the same upgrade on the same full cluster. Nothing here waits on luck: the surge pod can never
be placed, and the default's pods always can.

Before each upgrade `modelservice check` judges it on the same cluster (rule
check-rollout-surge): it warns of exactly the upgrade that then blocks, in the words the
scheduler and Helm then use, and of no other.
"""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from kube_cluster import Cluster, pod_ready, unique, unschedulable_message

from conftest import CHART
from modelservice.cli import cli

HELMS = ["helm3", "helm4"]

VALUES = """\
model:
  name: Qwen/Qwen2.5-0.5B-Instruct
replicaCount: 2
persistence:
  enabled: false
engine:
  args: ["--max-model-len=4096"]
nodeSelector:
  pool: {pool}
"""
#: What users write for "a rolling update": Kubernetes' defaults, 25% surge (one pod, rounded
#: up) and 25% unavailable (none of two pods, rounded down).
SURGE = {"strategy": {"type": "RollingUpdate"}}
#: A surge and one pod that may stop first: the surge pod waits for the GPU an old pod frees.
SURGE_AND_ONE_DOWN = {
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
}
#: What every upgrade here changes: an engine argument, so the pods roll.
UPGRADE = ["--set-json", 'engine.args=["--max-model-len=2048"]']


def full_gpu_pool(cluster: Cluster) -> str:
    """Two nodes with one GPU each: two replicas of one GPU fill them."""
    pool = unique("full")
    for _ in range(2):
        cluster.add_node(unique("gpu"), resources={"nvidia.com/gpu": 1}, labels={"pool": pool})
    return pool


def install(cluster: Cluster, helm: str, tmp_path, extra: dict | None = None) -> tuple[str, list]:
    pool, namespace = full_gpu_pool(cluster), unique("rollout")
    values = tmp_path / "values.yaml"
    text = VALUES.format(pool=pool)
    if extra:
        text += yaml.safe_dump(extra)
    values.write_text(text, encoding="utf-8")
    # The values of the upgrade, for `modelservice check` before it.
    (tmp_path / "upgrade.yaml").write_text(
        text.replace('"--max-model-len=4096"', '"--max-model-len=2048"'), encoding="utf-8"
    )
    args = ["--namespace", namespace, "--values", str(values)]
    cluster.helm(
        helm, "install", "llm", str(CHART), "--create-namespace", *args,
        "--wait", "--timeout", "120s",
    )  # fmt: skip
    pods = cluster.pods(namespace, "app.kubernetes.io/instance=llm")
    assert len(pods) == 2 and all(pod_ready(p) for p in pods)
    return namespace, args


def check_upgrade(cluster: Cluster, namespace: str, tmp_path, monkeypatch) -> tuple[int, list]:
    """`modelservice check` of the upgrade's values against the installed release: its exit
    code and its problems."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    result = CliRunner().invoke(
        cli,
        [
            "check", str(tmp_path / "upgrade.yaml"), "--release", "llm",
            "--namespace", namespace, "--format", "json",
        ],
    )  # fmt: skip
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("helm", HELMS)
def test_a_rolling_update_with_surge_blocks_on_full_gpus_and_helm_upgrade_wait_times_out(
    cluster, tmp_path, helm, monkeypatch
):
    namespace, args = install(cluster, helm, tmp_path, SURGE)
    old = {p["metadata"]["uid"] for p in cluster.pods(namespace, "app.kubernetes.io/instance=llm")}

    code, problems = check_upgrade(cluster, namespace, tmp_path, monkeypatch)
    assert code == 0, problems  # a warning: the release is fine, its next upgrade is not
    assert [(p["pointer"], p["rule"], p["severity"]) for p in problems] == [
        ("/strategy", "check-rollout-surge", "warning")
    ]
    warning = problems[0]["message"]
    assert "maxSurge 25% and maxUnavailable 25%" in warning
    assert "a new pod starts asking for nvidia.com/gpu 1" in warning
    assert "Leave strategy empty (the chart's default for GPU pods: maxSurge 0" in warning
    assert "set rollingUpdate.maxSurge: 0 with maxUnavailable: 1" in warning
    assert "or type: Recreate (every replica down for one start)" in warning

    upgrade = cluster.helm(
        helm, "upgrade", "llm", str(CHART), *args, *UPGRADE,
        "--wait", "--timeout", "15s", check=False,
    )  # fmt: skip
    assert upgrade.returncode != 0, upgrade.stdout
    # What each Helm says when its --timeout runs out (docs/upgrade-uninstall.md quotes both),
    # as the warning quoted it.
    said = {
        "helm3": "UPGRADE FAILED: context deadline exceeded",
        "helm4": f"resource Deployment/{namespace}/llm-modelservice not "
        "ready. status: InProgress, message: Updated: 1/2",
    }[helm]
    assert f"Error: UPGRADE FAILED: {said.removeprefix('UPGRADE FAILED: ')}" in upgrade.stderr
    assert f'"{said}"' in warning

    pods = cluster.pods(namespace, "app.kubernetes.io/instance=llm")
    surge = [p for p in pods if p["metadata"]["uid"] not in old]
    assert len(surge) == 1, "one surge pod, the old ones kept"
    message = cluster.wait_for(
        "the scheduler's verdict on the surge pod",
        lambda: unschedulable_message(
            cluster.get(f"/api/v1/namespaces/{namespace}/pods/{surge[0]['metadata']['name']}")
        ),
    )
    assert "Insufficient nvidia.com/gpu" in message
    assert "the scheduler: Insufficient nvidia.com/gpu)" in warning
    kept = [p for p in pods if p["metadata"]["uid"] in old]
    assert len(kept) == 2 and all(pod_ready(p) for p in kept)
    assert cluster.helm(helm, "status", "llm", "--namespace", namespace, "-o", "json").stdout
    cluster.helm(helm, "uninstall", "llm", "--namespace", namespace, "--wait")


def upgrade_completes(cluster: Cluster, helm: str, namespace: str, args: list) -> None:
    """Upgrade the engine arguments and wait until both pods are replaced and Ready."""
    old = {p["metadata"]["uid"] for p in cluster.pods(namespace, "app.kubernetes.io/instance=llm")}
    cluster.helm(
        helm, "upgrade", "llm", str(CHART), *args, *UPGRADE, "--wait", "--timeout", "120s",
    )  # fmt: skip

    def replaced() -> list | None:
        pods = cluster.pods(namespace, "app.kubernetes.io/instance=llm")
        new = [p for p in pods if p["metadata"]["uid"] not in old and pod_ready(p)]
        return new if len(new) == 2 and len(pods) == 2 else None

    # Helm 4 waits for the rollout to finish; Helm 3 counts maxUnavailable and may return one
    # pod early, so the end state is awaited from the cluster, not from Helm's return alone.
    new = cluster.wait_for("both pods replaced and Ready", replaced)
    assert all("--max-model-len=2048" in p["spec"]["containers"][0]["args"] for p in new)
    cluster.helm(helm, "uninstall", "llm", "--namespace", namespace, "--wait")


@pytest.mark.parametrize("helm", HELMS)
def test_the_default_strategy_of_a_gpu_release_completes_an_upgrade_on_full_gpus(
    cluster, tmp_path, helm, monkeypatch
):
    namespace, args = install(cluster, helm, tmp_path)
    deployment = cluster.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/llm-modelservice")
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    # check: nothing to say (the release's own pods free their GPUs for their replacements)
    assert check_upgrade(cluster, namespace, tmp_path, monkeypatch) == (0, [])
    upgrade_completes(cluster, helm, namespace, args)


def test_a_surge_with_a_pod_that_may_stop_first_completes_an_upgrade_on_full_gpus(
    cluster, tmp_path, monkeypatch
):
    namespace, args = install(cluster, "helm4", tmp_path, SURGE_AND_ONE_DOWN)
    # The surge pod stays Pending until an old pod stops and frees its GPU: slower, not blocked.
    assert check_upgrade(cluster, namespace, tmp_path, monkeypatch) == (0, [])
    upgrade_completes(cluster, "helm4", namespace, args)
