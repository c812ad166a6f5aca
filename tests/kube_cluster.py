"""A real control plane for the lifecycle tests, all on 127.0.0.1, started once per session.

Beside etcd and kube-apiserver (tests/kube_harness.py) it runs, each built by ``make tools``
(tools/test-binaries.sh) from its Go module and cached in ``~/.cache/modelservice/bin``:

- kube-controller-manager: Deployments and their ReplicaSets, StatefulSets, garbage collection,
  the claim binder, the HorizontalPodAutoscaler controller, EndpointSlices, ServiceAccounts;
- kube-scheduler: places pods on the nodes by their requests (GPUs included), taints and
  affinity, or marks them Unschedulable;
- kwok: plays the kubelet of every fake node (Nodes annotated ``kwok.x-k8s.io/node: fake``):
  nodes become Ready and keep their leases, and pods become Running and Ready by kwok's own
  stages (copied from its module by ``make tools``), plus two stages of ours
  (tests/kwok-stages.yaml): the ``helm test`` pod succeeds, and a container crashes and
  restarts on demand (the label ``modelservice-tests/crash: "true"`` on a running pod);
- the LeaderWorkerSet controller (sigs.k8s.io/lws, the version of schemas/crds/), with its
  mutating and validating webhooks (as its release configures them, patches included) served
  on 127.0.0.1 with a certificate of a CA made for the session and registered with that CA as
  their caBundle (what cert-manager or lws' own cert rotation does in a cluster, where the
  webhooks are reached through a Service). Nothing more is needed: lws' internal certificate
  management, which writes a Secret and patches the caBundles itself, is turned off.

No component emulates storage or networking beyond that: a claim is bound by the real binder
to a PersistentVolume the test adds (:meth:`Cluster.add_volumes`), and pod IPs are kwok's
addresses, which nothing connects to.

The API server, the controller manager and the scheduler emulate the Kubernetes release of the
dry-run server (:data:`kube_harness.EMULATED_KUBE_VERSION`), the lowest the chart claims.

Use it through the session fixture ``cluster`` (tests/conftest.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kube_harness import (
    EMULATED_KUBE_VERSION,
    ApiError,
    ApiServer,
    _die_with_parent,
    _free_port,
    _spawn,
    _stop,
    _tail,
    cache_dir,
    cached_binary,
    start_apiserver,
    start_scheduler,
)

HERE = Path(__file__).resolve().parent
#: The annotation that hands a Node to kwok (``--manage-nodes-with-annotation-selector``).
KWOK_NODE = {"kwok.x-k8s.io/node": "fake"}
#: The default StorageClass of the fake cluster: no provisioner, claims bind to the volumes a
#: test adds.
STORAGE_CLASS = "standard"
#: The label that makes kwok crash and restart a running pod's containers once.
CRASH_LABEL = "modelservice-tests/crash"

T = TypeVar("T")


def cached_file(*parts: str) -> Path:
    """A file ``make tools`` copied from a Go module into the cache."""
    path = cache_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make tools` (tools/test-binaries.sh)")
    return path


@dataclass
class Cluster:
    """The running control plane: the API server, a kubeconfig for Helm, helpers to seed nodes
    and volumes, and waits on what the controllers do."""

    server: ApiServer
    kubeconfig: Path
    work: Path
    _volumes: int = field(default=0, repr=False)

    # --- Helm -----------------------------------------------------------------------------------
    def helm(
        self, helm: str, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a cached Helm binary (``helm3``/``helm4``) against this cluster."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            # Helm's caches and repository config stay in the session's folder.
            "HELM_CACHE_HOME": str(self.work / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.work / "helm" / "config"),
            "HELM_DATA_HOME": str(self.work / "helm" / "data"),
        }
        result = subprocess.run(
            [str(cached_binary(helm)), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            namespace = args[args.index("--namespace") + 1] if "--namespace" in args else None
            raise AssertionError(
                f"{helm} {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
                + (self.describe(namespace) if namespace else "")
            )
        return result

    def describe(self, namespace: str) -> str:
        """What a person would look at when a wait failed: the pods and the events."""
        lines = [f"\n--- pods and events of {namespace}"]
        for pod in self.list("/api/v1", "pods", namespace):
            status = pod.get("status") or {}
            conditions = [
                f"{c['type']}={c['status']}"
                + (f" ({c.get('message')})" if c.get("message") else "")
                for c in status.get("conditions") or []
            ]
            lines.append(
                f"pod {pod['metadata']['name']} {status.get('phase')} "
                f"node={pod['spec'].get('nodeName')} {' '.join(conditions)}"
            )
        for event in self.events(namespace):
            lines.append(
                f"event {event['involvedObject']['kind']}/{event['involvedObject']['name']} "
                f"{event['reason']}: {event.get('message', '')}"
            )
        return "\n".join(lines)

    # --- seeding --------------------------------------------------------------------------------
    def add_node(
        self,
        name: str,
        *,
        resources: Mapping[str, int | str] | None = None,
        labels: Mapping[str, str] | None = None,
        taints: Iterable[Mapping[str, str]] = (),
    ) -> dict[str, Any]:
        """A fake node kwok keeps Ready: 64 CPUs, 512 GiB and ``resources`` (extended resources
        such as ``nvidia.com/gpu``) as its capacity and allocatable. A Node's status may be set
        on create, as a kubelet registering itself does."""
        capacity = {"cpu": "64", "memory": "512Gi", "pods": "110"}
        capacity.update({k: str(v) for k, v in (resources or {}).items()})
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": dict(KWOK_NODE),
                "labels": {"kubernetes.io/hostname": name, "type": "kwok", **(labels or {})},
            },
            "spec": {"taints": [dict(t) for t in taints]},
            "status": {"capacity": capacity, "allocatable": capacity},
        }
        return self.server.create(node)

    def ensure(self, obj: dict[str, Any], namespace: str | None = None) -> None:
        """Create an object unless it exists (objects shared by the tests of a session)."""
        try:
            self.server.create(obj, namespace)
        except ApiError as exc:
            if exc.status != 409:
                raise

    def add_volumes(self, count: int, *, size: str = "2Ti") -> None:
        """``count`` PersistentVolumes of the default StorageClass, of every access mode a
        claim can share, for the claim binder to bind claims to (nothing mounts them)."""
        for _ in range(count):
            self._volumes += 1
            self.server.create(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": f"volume-{self._volumes}"},
                    "spec": {
                        "capacity": {"storage": size},
                        "accessModes": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"],
                        "storageClassName": STORAGE_CLASS,
                        "persistentVolumeReclaimPolicy": "Retain",
                        "hostPath": {"path": f"/fake/volume-{self._volumes}"},
                    },
                }
            )

    # --- reading --------------------------------------------------------------------------------
    def get(self, path: str) -> dict[str, Any] | None:
        """One object by its API path, or None when absent."""
        try:
            found: dict[str, Any] = self.server.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def list(
        self, api_path: str, plural: str, namespace: str, selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Objects of a kind in a namespace (``api_path`` as ``/api/v1`` or ``/apis/apps/v1``)."""
        path = f"{api_path}/namespaces/{namespace}/{plural}"
        if selector:
            path += "?labelSelector=" + urllib.parse.quote(selector)
        items: list[dict[str, Any]] = self.server.request("GET", path)["items"]
        return items

    def pods(self, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        """Pods of a namespace, deleted ones (with a deletionTimestamp) left out."""
        return [
            pod
            for pod in self.list("/api/v1", "pods", namespace, selector)
            if not pod["metadata"].get("deletionTimestamp")
        ]

    def events(self, namespace: str) -> list[dict[str, Any]]:
        return self.list("/api/v1", "events", namespace)

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of one object."""
        req = urllib.request.Request(
            self.server.url + path, data=json.dumps(body).encode(), method="PATCH"
        )
        req.add_header("Authorization", f"Bearer {self.server.token}")
        req.add_header("Content-Type", "application/merge-patch+json")
        with urllib.request.urlopen(req, context=self.server._context, timeout=60) as answer:
            patched: dict[str, Any] = json.loads(answer.read())
        return patched

    @staticmethod
    def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120) -> T:
        """Poll ``probe`` until it returns something truthy; a TimeoutError saying ``what``
        otherwise. The tests wait for a state the controllers must reach, never for time."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout:.0f}s")
            time.sleep(0.25)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def unschedulable_message(pod: Mapping[str, Any]) -> str | None:
    """The scheduler's message on a pod it could not place, else None."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition["type"] == "PodScheduled" and condition.get("reason") == "Unschedulable":
            message: str = condition.get("message", "")
            return message
    return None


# --- the components ------------------------------------------------------------------------------


def _wait_until(
    name: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    ready: Callable[[], bool],
    timeout: float = 120,
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not ready in {timeout:.0f}s:\n{_tail(log)}")
        time.sleep(0.2)


def _https_ok(url: str) -> Callable[[], bool]:
    """A probe of a component's own health endpoint, whose certificate it made itself."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as answer:
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    return probe


def _http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    return probe


def _listening(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    return probe


@contextlib.contextmanager
def _component(
    name: str, command: list[str], work: Path, ready: Callable[[], bool], env: Any = None
) -> Iterator[subprocess.Popen[bytes]]:
    log = work / f"{name}.log"
    if env is None:
        proc = _spawn(command, log)
    else:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                env=env,
            )
    try:
        _wait_until(name, proc, log, ready)
        yield proc
    finally:
        _stop(proc)


def _controller_manager(server: ApiServer, kubeconfig: Path, work: Path) -> Any:
    port = _free_port()
    assert server.service_account_key is not None
    return _component(
        "kube-controller-manager",
        [
            str(cached_binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={work / 'kcm-certs'}",
            "--leader-elect=false",
            # Every controller a cluster runs by default; the claim binder binds claims to
            # the volumes a test adds, the HPA controller asks the metrics APIs.
            "--controllers=*",
            f"--service-account-private-key-file={server.service_account_key}",
            f"--root-ca-file={server.ca_file}",
            # One sync of the HPAs every 2 seconds instead of 15: the condition shows sooner.
            "--horizontal-pod-autoscaler-sync-period=2s",
            # kwok renews the fake nodes' leases; on a loaded 2-core machine (a test worker per
            # core, each with its control plane) a renewal can come late, and a node the
            # controller marks NotReady marks its pods not ready, which kwok, setting a pod's
            # conditions once, never undoes. A node's silence counts after 5 minutes, not 50 s.
            "--node-monitor-grace-period=5m",
            # The release the API server emulates, as for the scheduler: the controllers then
            # use only the kinds that release serves.
            f"--emulated-version=kube={EMULATED_KUBE_VERSION}",
            f"--min-compatibility-version=kube={EMULATED_KUBE_VERSION}",
            "--v=1",
        ],
        work,
        _https_ok(f"https://127.0.0.1:{port}/healthz"),
    )


def _kwok(kubeconfig: Path, work: Path) -> Any:
    stages = [*sorted(cached_file("kwok", "stages").glob("*.yaml")), HERE / "kwok-stages.yaml"]
    config = work / "kwok.yaml"
    config.write_text(
        "\n---\n".join(path.read_text(encoding="utf-8") for path in stages), encoding="utf-8"
    )
    port = _free_port()
    return _component(
        "kwok",
        [
            str(cached_binary("kwok")),
            f"--kubeconfig={kubeconfig}",
            f"--config={config}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector="
            + ",".join(f"{k}={v}" for k, v in KWOK_NODE.items()),
            "--cidr=10.244.0.0/16",
            "--node-ip=10.243.0.1",
            f"--server-address=127.0.0.1:{port}",
        ],
        work,
        _http_ok(f"http://127.0.0.1:{port}/healthz"),
    )


def _webhook_certificates(folder: Path) -> bytes:
    """A CA for the session and a serving certificate for 127.0.0.1 signed by it, in the file
    names controller-runtime reads (tls.crt, tls.key); returns the CA certificate (PEM)."""
    folder.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=modelservice-tests-ca",
        "-days", "2", "-out", "ca.crt",
    )  # fmt: skip
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tls.key")
    openssl("req", "-new", "-key", "tls.key", "-subj", "/CN=127.0.0.1", "-out", "tls.csr")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "tls.crt",
    )  # fmt: skip
    return (folder / "ca.crt").read_bytes()


@contextlib.contextmanager
def _leaderworkerset_controller(
    server: ApiServer, kubeconfig: Path, work: Path
) -> Iterator[subprocess.Popen[bytes]]:
    certs = work / "lws-certs"
    ca = _webhook_certificates(certs)
    webhook, health = _free_port(), _free_port()
    config = work / "lws-config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "config.lws.x-k8s.io/v1alpha1",
                "kind": "Configuration",
                "leaderElection": {"leaderElect": False},
                # The harness made the certificates and registers the webhooks itself.
                "internalCertManagement": {"enable": False},
                "webhook": {"host": "127.0.0.1", "port": webhook, "certDir": str(certs)},
                "metrics": {"bindAddress": "0"},
                "health": {"healthProbeBindAddress": f"127.0.0.1:{health}"},
            }
        ),
        encoding="utf-8",
    )
    with _component(
        "lws-controller",
        [str(cached_binary("lws-controller")), f"--config={config}", "--zap-log-level=info"],
        work,
        lambda: _http_ok(f"http://127.0.0.1:{health}/readyz")() and _listening(webhook)(),
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    ) as proc:
        bundle = base64.b64encode(ca).decode()
        patches = {
            "MutatingWebhookConfiguration": cached_file("lws", "mutating-patch.yaml"),
            "ValidatingWebhookConfiguration": cached_file("lws", "validating-patch.yaml"),
        }
        for doc in yaml.safe_load_all(cached_file("lws", "webhooks.yaml").read_text()):
            if not doc:
                continue
            # The release's patches (JSON patches replacing one webhook each): the pod
            # webhooks with an objectSelector, so that they see the pods of LeaderWorkerSets
            # only and no other pod waits on this controller.
            for op in yaml.safe_load(patches[doc["kind"]].read_text()):
                index = op["path"].removeprefix("/webhooks/")
                if op["op"] != "replace" or not index.isdigit():
                    raise ValueError(f"unexpected patch of the lws webhooks: {op}")
                doc["webhooks"][int(index)] = op["value"]
            doc["metadata"]["name"] = "lws-" + doc["metadata"]["name"]
            for hook in doc["webhooks"]:
                path = hook["clientConfig"]["service"]["path"]
                hook["clientConfig"] = {
                    "url": f"https://127.0.0.1:{webhook}{path}",
                    "caBundle": bundle,
                }
            server.create(doc)
        yield proc


def _seed(server: ApiServer) -> None:
    """What a GPU cluster has before any release: a default StorageClass and the NVIDIA
    RuntimeClass (the GPU Operator's)."""
    server.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
        }
    )
    server.create(
        {
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {"name": "nvidia"},
            "handler": "nvidia",
        }
    )


@contextlib.contextmanager
def start_control_plane() -> Iterator[Cluster]:
    """Start etcd, the API server, the controller manager, the scheduler, kwok and the
    LeaderWorkerSet controller on 127.0.0.1; yield the :class:`Cluster`; stop all of them
    and remove their folder, also when the body raises."""
    work = Path(tempfile.mkdtemp(prefix="modelservice-control-plane-"))
    try:
        # No "watch list" streams: they need etcd's RequestWatchProgress (etcd 3.4.31 or 3.5.13),
        # which Debian's etcd 3.4.23 lacks. kwok's client (client-go 0.36) opens them by default;
        # the server refused each and kwok's watches broke and came back after a backoff, so
        # pods and nodes reached kwok seconds late. With the gate off every client lists and
        # watches as before it, and a change reaches kwok at once.
        with (
            start_apiserver(extra_args=["--feature-gates=WatchList=false"]) as server,
            contextlib.ExitStack() as stack,
        ):
            kubeconfig = server.kubeconfig(work / "kubeconfig")
            _seed(server)
            stack.enter_context(_controller_manager(server, kubeconfig, work))
            stack.enter_context(start_scheduler(server))
            stack.enter_context(_kwok(kubeconfig, work))
            stack.enter_context(_leaderworkerset_controller(server, kubeconfig, work))
            yield Cluster(server=server, kubeconfig=kubeconfig, work=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def unique(prefix: str) -> str:
    """A name no other test of the session uses (the control plane is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
