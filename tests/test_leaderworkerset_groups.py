"""Multi-node groups on the real LeaderWorkerSet controller (its webhooks included), the real
controller manager and scheduler, and kwok's nodes: what docs/multi-node.md promises.

- A worker whose container crashes and restarts recreates its whole group (restartPolicy
  RecreateGroupOnPodRestart); the other groups keep their pods.
- The Service selects the leaders only: its EndpointSlices hold the leaders' addresses, never a
  worker's, before and after a group is recreated.
- A rolling update replaces one group at a time, the highest index first, all pods of a group
  together (LeaderWorkerSet's default: maxUnavailable 1, maxSurge 0), so it completes on a
  cluster whose GPUs are all taken; a new revision that cannot be placed stops after one group
  while the other keeps serving.
"""

from __future__ import annotations

from typing import Any

import pytest
from kube_cluster import CRASH_LABEL, Cluster, pod_ready, unique

from conftest import CHART

RELEASE = "r1"
GROUP = "leaderworkerset.sigs.k8s.io"
VALUES = """\
model:
  name: deepseek-ai/DeepSeek-R1
gpu:
  count: 8
engine:
  tensorParallelSize: 8
  args: ["--pipeline-parallel-size=2"]
multiNode:
  enabled: true
  nodes: 2
replicaCount: 2
persistence:
  enabled: false
nodeSelector:
  pool: {pool}
"""


class Groups:
    """The release's LeaderWorkerSet on the shared cluster, read live."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.name = f"{RELEASE}-modelservice"

    def pods(self) -> list[dict[str, Any]]:
        return self.cluster.pods(self.namespace, f"{GROUP}/name={self.name}")

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {p["metadata"]["name"]: p for p in self.pods()}

    def formed(self, revision: str | None = None) -> dict[str, dict[str, Any]] | None:
        """Both groups with a Ready leader and worker (of ``revision`` when given)."""
        pods = self.by_name()
        names = {f"{self.name}-{g}" for g in "01"} | {f"{self.name}-{g}-1" for g in "01"}
        if set(pods) != names or not all(pod_ready(p) for p in pods.values()):
            return None
        if revision and any(self.revision(p) != revision for p in pods.values()):
            return None
        return pods

    @staticmethod
    def revision(pod: dict[str, Any]) -> str:
        return pod["metadata"]["labels"][f"{GROUP}/template-revision-hash"]

    def service_addresses(self) -> set[str]:
        slices = self.cluster.list(
            "/apis/discovery.k8s.io/v1",
            "endpointslices",
            self.namespace,
            f"kubernetes.io/service-name={self.name}",
        )
        return {
            address
            for s in slices
            for endpoint in s.get("endpoints") or []
            for address in endpoint["addresses"]
        }

    def leader_addresses(self, pods: dict[str, dict[str, Any]]) -> set[str]:
        return {
            p["status"]["podIP"]
            for p in pods.values()
            if p["metadata"]["labels"][f"{GROUP}/worker-index"] == "0"
        }

    def serving(self, leaders: set[str]) -> set[str] | None:
        """The Service's endpoints once they are exactly ``leaders``."""
        addresses = self.service_addresses()
        return addresses if addresses == leaders else None


@pytest.fixture(scope="module")
def groups(cluster: Cluster, tmp_path_factory) -> Groups:
    """Two groups of two 8-GPU pods on four 8-GPU nodes: every GPU of the pool is taken."""
    pool, namespace = unique("groups"), unique("groups")
    for _ in range(4):
        cluster.add_node(unique("gpu"), resources={"nvidia.com/gpu": 8}, labels={"pool": pool})
    values = tmp_path_factory.mktemp("groups") / "values.yaml"
    values.write_text(VALUES.format(pool=pool), encoding="utf-8")
    cluster.helm(
        "helm4", "install", RELEASE, str(CHART), "--namespace", namespace, "--create-namespace",
        "--values", str(values), "--wait", "--timeout", "120s",
    )  # fmt: skip
    found = Groups(cluster, namespace)
    found.values = values  # type: ignore[attr-defined]
    cluster.wait_for("two groups formed", found.formed)
    return found


def test_the_groups_report_available_where_docs_tell_users_to_wait(groups):
    # docs/multi-node.md: kubectl wait lws/<name> --for=condition=Available (Helm cannot wait).
    path = (
        f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{groups.namespace}"
        f"/leaderworkersets/{groups.name}"
    )

    def available() -> bool:
        conditions = (groups.cluster.get(path) or {}).get("status", {}).get("conditions") or []
        return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

    groups.cluster.wait_for("two groups formed", groups.formed)
    assert groups.cluster.wait_for("the LeaderWorkerSet Available", available)


def test_the_service_selects_the_leaders_of_the_groups_only(groups):
    pods = groups.cluster.wait_for("two groups formed", groups.formed)
    leaders = groups.leader_addresses(pods)
    assert len(leaders) == 2
    assert groups.cluster.wait_for(
        "the leaders behind the Service", lambda: groups.serving(leaders)
    )


def test_a_worker_that_crashes_recreates_its_group_and_only_its_group(groups):
    cluster, name = groups.cluster, groups.name
    before = cluster.wait_for("two groups formed", groups.formed)
    worker = f"{name}-1-1"
    cluster.patch(
        f"/api/v1/namespaces/{groups.namespace}/pods/{worker}",
        {"metadata": {"labels": {CRASH_LABEL: "true"}}},
    )

    def recreated() -> dict[str, dict[str, Any]] | None:
        pods = groups.formed()
        if not pods:
            return None
        fresh = {
            n
            for n in (f"{name}-1", worker)
            if pods[n]["metadata"]["uid"] != before[n]["metadata"]["uid"]
        }
        return pods if len(fresh) == 2 else None

    after = cluster.wait_for("group 1 recreated and formed again", recreated)
    for kept in (f"{name}-0", f"{name}-0-1"):
        assert after[kept]["metadata"]["uid"] == before[kept]["metadata"]["uid"]
    reasons = {e["reason"] for e in cluster.events(groups.namespace)}
    assert "RecreateGroupOnPodRestart" in reasons
    leaders = groups.leader_addresses(after)
    assert cluster.wait_for("the new leader behind the Service", lambda: groups.serving(leaders))


def upgrade(groups: Groups, *extra: str) -> None:
    groups.cluster.helm(
        "helm4", "upgrade", RELEASE, str(CHART), "--namespace", groups.namespace,
        "--values", str(groups.values), *extra,  # type: ignore[attr-defined]
    )  # fmt: skip


def test_a_rolling_update_replaces_every_group_on_full_gpus(groups):
    cluster = groups.cluster
    lws = cluster.get(
        f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{groups.namespace}/leaderworkersets/{groups.name}"
    )
    assert lws["spec"]["rolloutStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0, "partition": 0},
    }
    before = cluster.wait_for("two groups formed", groups.formed)
    old = {groups.revision(p) for p in before.values()}
    assert len(old) == 1

    upgrade(
        groups, "--set-json", 'engine.args=["--pipeline-parallel-size=2","--max-model-len=8192"]'
    )

    def updated() -> dict[str, dict[str, Any]] | None:
        pods = groups.formed()
        if pods and not {groups.revision(p) for p in pods.values()} & old:
            return pods
        return None

    after = cluster.wait_for("both groups on the new revision", updated, timeout=180)
    assert not {p["metadata"]["uid"] for p in after.values()} & {
        p["metadata"]["uid"] for p in before.values()
    }
    for pod in after.values():
        assert "--max-model-len=8192" in pod["spec"]["containers"][0]["args"]


def test_a_new_revision_that_cannot_be_placed_stops_after_the_highest_group(groups):
    cluster, name = groups.cluster, groups.name
    before = cluster.wait_for("two groups formed", groups.formed)
    # More CPU than any node has: the new revision's pods can never be placed.
    upgrade(groups, "--set", "resources.requests.cpu=100")

    def stalled() -> dict[str, dict[str, Any]] | None:
        pods = groups.by_name()
        pending = [pods.get(f"{name}-1")]
        if pending[0] and groups.revision(pending[0]) != groups.revision(before[f"{name}-1"]):
            return pods
        return None

    pods = cluster.wait_for("group 1 recreated on the new revision", stalled)
    # Group 1's new leader waits for a node; group 0 keeps its pods, Ready, and alone serves.
    leader = cluster.wait_for(
        "the scheduler's verdict on group 1's leader",
        lambda: (
            (p := cluster.get(f"/api/v1/namespaces/{groups.namespace}/pods/{name}-1"))
            and p["status"].get("conditions")
            and next(
                (c for c in p["status"]["conditions"] if c.get("reason") == "Unschedulable"), None
            )
        ),
    )
    assert "Insufficient cpu" in leader["message"]
    still = groups.by_name()
    for kept in (f"{name}-0", f"{name}-0-1"):
        assert still[kept]["metadata"]["uid"] == before[kept]["metadata"]["uid"]
        assert pod_ready(still[kept])
    serving = groups.leader_addresses({k: v for k, v in pods.items() if k.startswith(f"{name}-0")})
    assert cluster.wait_for(
        "group 0's leader alone behind the Service", lambda: groups.serving(serving)
    )
    # Rolling back restores the placeable revision, and both groups form again.
    groups.cluster.helm(
        "helm4", "rollback", RELEASE, "--namespace", groups.namespace, "--wait", "--timeout", "120s"
    )
    cluster.wait_for("two groups formed again", groups.formed, timeout=180)
