"""Seeding the suite's real kube-apiserver (tests/kube_harness.py) with what a cluster holds:
Nodes with GPU capacity, labels and taints, pods holding GPUs, Secrets, claims Bound through
their status subresource, StorageClasses. Names are unique per test, so tests sharing the
server do not see each other's objects."""

from __future__ import annotations

import base64
import uuid

from kube_harness import ApiError

GPU = "nvidia.com/gpu"


def ensure(server, obj, namespace=None):
    """Create ``obj`` unless it exists (another test of the session made it)."""
    try:
        return server.create(obj, namespace)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return None


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def add_node(server, name, *, labels, gpus=8, taints=(), extra=None):
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": list(taints)},
    }
    server.create(node)
    capacity = {"cpu": "64", "memory": "512Gi", "pods": "110", GPU: str(gpus), **(extra or {})}
    ready = [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]
    server.set_status(node, {"capacity": capacity, "allocatable": capacity, "conditions": ready})
    # The API server taints a new node not-ready; its lifecycle controller lifts the taint
    # once the kubelet reports Ready. No controller runs here: lift it as it would.
    path = f"/api/v1/nodes/{name}"
    current = server.request("GET", path)
    current["spec"]["taints"] = list(taints)
    server.request("PUT", path, current)
    return node


def add_pod_on(server, node, namespace, gpus):
    server.ensure_namespace(namespace)
    server.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": unique("busy"), "namespace": namespace},
            "spec": {
                "nodeName": node,
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox:1.36",
                        "resources": {"limits": {GPU: str(gpus)}},
                    }
                ],
            },
        }
    )


def add_secret(server, namespace, name, data):
    server.ensure_namespace(namespace)
    server.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
    )


def add_claim(server, namespace, name, *, modes, phase="Bound", size="100Gi"):
    server.ensure_namespace(namespace)
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "accessModes": modes,
            "resources": {"requests": {"storage": size}},
            "storageClassName": "",
        },
    }
    server.create(claim)
    server.set_status(claim, {"phase": phase, "accessModes": modes, "capacity": {"storage": size}})


def storage_class(name, *, default=False):
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": "example.com/none",
    }
