"""A real kube-apiserver for the tests: etcd and kube-apiserver on 127.0.0.1, started once.

The binaries come from ``make tools`` (tools/test-binaries.sh), cached in
``$MODELSERVICE_CACHE/bin`` (default ``~/.cache/modelservice/bin``). Nothing but loopback
addresses is used: etcd and the API server listen on free ports of 127.0.0.1, and the service
cluster IP range is only a configuration value.

Use it through the session fixture ``apiserver`` (tests/conftest.py)::

    def test_something(apiserver):
        assert apiserver.dry_run(rendered.objects(), namespace="ai") == [None] * n

or outside pytest::

    with start_apiserver() as server:
        errors = server.dry_run(objects)

No controller-manager runs, so nothing creates a namespace's ``default`` ServiceAccount. The
ServiceAccount admission plugin stays on (it checks a Pod's account as a real cluster does), and
:meth:`ApiServer.ensure_namespace` creates the namespace and its ``default`` ServiceAccount.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CRDS = ROOT / "schemas" / "crds"
ADMIN_USER = "modelservice-tests"
#: The server (Kubernetes 1.37) emulates the oldest release it can, 1.34: the nearest to the
#: 1.33 of the offline checks (modelservice.k8s.KUBERNETES_VERSION), and the strictest. A chart
#: must work on the older clusters too: 1.37 accepts a Service named `7b-chat`
#: (RelaxedServiceNameValidation, GA there), 1.34 refuses it, as the offline checks do.
EMULATED_KUBE_VERSION = "1.34"


def cache_dir() -> Path:
    """Where ``make tools`` keeps the binaries (``MODELSERVICE_CACHE`` overrides)."""
    return Path(os.environ.get("MODELSERVICE_CACHE") or Path.home() / ".cache" / "modelservice")


def cached_binary(name: str) -> Path:
    """A binary installed by ``make tools``; a clear error (never a skip) when it is missing."""
    path = cache_dir() / "bin" / name
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path} is missing: run `make tools` (tools/test-binaries.sh)")
    return path


class ApiError(Exception):
    """A request the API server refused, with its HTTP status and status message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class ApiServer:
    """A running kube-apiserver, reached as a ``system:masters`` user with a bearer token."""

    url: str
    token: str
    ca_file: Path
    #: The key that signs ServiceAccount tokens (the controller manager's token controller
    #: signs with it too).
    service_account_key: Path | None = None
    _context: ssl.SSLContext = field(init=False, repr=False)
    _resources: dict[str, dict[str, tuple[str, bool]]] = field(default_factory=dict, repr=False)
    _namespaces: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._context = ssl.create_default_context(cafile=str(self.ca_file))

    # --- plain HTTP -----------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One request; returns the decoded JSON answer or raises :class:`ApiError`."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self._context, timeout=60) as answer:
                text = answer.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode(errors="replace")
            try:
                message = json.loads(raw).get("message", raw)
            except ValueError:
                message = raw
            raise ApiError(exc.code, message) from None
        return json.loads(text) if text else None

    # --- discovery ------------------------------------------------------------------------------
    def resource_for(self, api_version: str, kind: str) -> tuple[str, bool]:
        """``(plural, namespaced)`` of a kind, from the server's discovery."""
        if api_version not in self._resources:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            listing = self.request("GET", base)
            self._resources[api_version] = {
                r["kind"]: (r["name"], r["namespaced"])
                for r in listing["resources"]
                if "/" not in r["name"]
            }
        try:
            return self._resources[api_version][kind]
        except KeyError:
            raise LookupError(f"the server serves no {kind} in {api_version}") from None

    # --- namespaces -----------------------------------------------------------------------------
    def ensure_namespace(self, name: str) -> None:
        """Create a namespace and its ``default`` ServiceAccount (no controller does it here)."""
        if name in self._namespaces:
            return
        for path, body in (
            ("/api/v1/namespaces", {"metadata": {"name": name}}),
            (f"/api/v1/namespaces/{name}/serviceaccounts", {"metadata": {"name": "default"}}),
        ):
            with contextlib.suppress(_AlreadyExists):
                self._create(path, body)
        self._namespaces.add(name)

    def _create(self, path: str, body: Any) -> None:
        try:
            self.request("POST", path, {"apiVersion": "v1", "kind": _kind_of(path), **body})
        except ApiError as exc:
            if exc.status == 409:
                raise _AlreadyExists from None
            raise

    # --- the point of it all --------------------------------------------------------------------
    def dry_run_one(self, obj: dict[str, Any], namespace: str = "default") -> str | None:
        """Create one object with ``dryRun=All&fieldValidation=Strict``: None if the server
        accepts it, else the server's status message. The object's own ``metadata.namespace``
        wins over ``namespace``."""
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        try:
            plural, namespaced = self.resource_for(api_version, kind)
        except (LookupError, ApiError) as exc:
            return str(exc)
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced:
            ns = (obj.get("metadata") or {}).get("namespace") or namespace
            self.ensure_namespace(ns)
            path += f"/namespaces/{urllib.parse.quote(ns, safe='')}"
        path += f"/{plural}?dryRun=All&fieldValidation=Strict"
        try:
            self.request("POST", path, obj)
        except ApiError as exc:
            return exc.message
        return None

    def dry_run(
        self, objects: Iterable[dict[str, Any]], namespace: str = "default"
    ) -> list[str | None]:
        """:meth:`dry_run_one` for each object, in order."""
        return [self.dry_run_one(obj, namespace) for obj in objects]

    # --- CRDs -----------------------------------------------------------------------------------
    def install_crds(self, files: Iterable[Path]) -> None:
        """Create CustomResourceDefinitions from YAML files and wait until each is served."""
        import yaml

        names = []
        for path in files:
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    with contextlib.suppress(_AlreadyExists):
                        self._create_crd(doc)
                    names.append(doc["metadata"]["name"])
        deadline = time.monotonic() + 60
        for name in names:
            while not self._established(name):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {name} not established within 60s")
                time.sleep(0.1)
        self._resources.clear()

    def _create_crd(self, doc: dict[str, Any]) -> None:
        try:
            self.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", doc)
        except ApiError as exc:
            if exc.status == 409:
                raise _AlreadyExists from None
            raise

    def _established(self, name: str) -> bool:
        crd = self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    # --- a cluster to check against (modelservice check) ----------------------------------------
    def kubeconfig(self, path: Path, *, context: str = "harness") -> Path:
        """Write a kubeconfig that reaches this server as the admin user; returns ``path``."""
        import yaml

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "harness",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "harness", "user": ADMIN_USER}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def _object_path(self, obj: dict[str, Any], namespace: str | None) -> str:
        api_version, kind = obj["apiVersion"], obj["kind"]
        plural, namespaced = self.resource_for(api_version, kind)
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced:
            ns = (obj.get("metadata") or {}).get("namespace") or namespace or "default"
            self.ensure_namespace(ns)
            path += f"/namespaces/{urllib.parse.quote(ns, safe='')}"
        return f"{path}/{plural}"

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create one object for real (seeding a cluster); returns the stored object. The
        ``status`` of a kind with a status subresource is set with :meth:`set_status`."""
        created: dict[str, Any] = self.request("POST", self._object_path(obj, namespace), obj)
        return created

    def set_status(
        self, obj: dict[str, Any], status: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """Replace an object's status through its status subresource (a Node's capacity, a
        claim's phase): what a kubelet or a volume controller would write."""
        name = obj["metadata"]["name"]
        path = f"{self._object_path(obj, namespace)}/{urllib.parse.quote(name, safe='')}"
        current = self.request("GET", path)
        current["status"] = status
        updated: dict[str, Any] = self.request("PUT", f"{path}/status", current)
        return updated

    def delete(self, obj: dict[str, Any], namespace: str | None = None) -> None:
        """Delete one object (absent is fine)."""
        name = obj["metadata"]["name"]
        path = f"{self._object_path(obj, namespace)}/{urllib.parse.quote(name, safe='')}"
        try:
            self.request("DELETE", path)
        except ApiError as exc:
            if exc.status != 404:
                raise


class _AlreadyExists(Exception):
    pass


def _kind_of(path: str) -> str:
    return {"namespaces": "Namespace", "serviceaccounts": "ServiceAccount"}[path.rsplit("/", 1)[1]]


def _wait_ready(server: ApiServer, procs: dict[str, subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 120
    last = ""
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}:\n{_tail(logs / f'{name}.log')}"
                )
        try:
            req = urllib.request.Request(server.url + "/readyz")
            req.add_header("Authorization", f"Bearer {server.token}")
            with urllib.request.urlopen(req, context=server._context, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError, ssl.SSLError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise TimeoutError(
        f"kube-apiserver not ready in 120s ({last}):\n{_tail(logs / 'kube-apiserver.log')}"
    )


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even by SIGKILL (Linux)."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server with its output in ``log``, in its own session (a Ctrl-C of pytest
    reaches pytest, which then stops it), ended by the kernel if pytest is killed."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def start_apiserver(
    *,
    crds: Iterable[Path] | None = None,
    emulated_version: str | None = EMULATED_KUBE_VERSION,
    extra_args: Iterable[str] = (),
) -> Iterator[ApiServer]:
    """Start etcd and kube-apiserver on 127.0.0.1 in a temporary folder, install the CRDs of
    ``schemas/crds/`` (or ``crds``), yield the ready :class:`ApiServer`, then stop both and
    remove the folder, also when the body raises. ``emulated_version`` (``major.minor``, or
    None for the binary's own release) is the Kubernetes release whose rules the server
    applies."""
    etcd, apiserver = cached_binary("etcd"), cached_binary("kube-apiserver")
    work = Path(tempfile.mkdtemp(prefix="modelservice-apiserver-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        certs, logs = work / "certs", work / "logs"
        certs.mkdir()
        logs.mkdir()
        token = secrets.token_hex(16)
        tokens = work / "tokens.csv"
        tokens.write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        sa_key = work / "service-account.key"
        subprocess.run(
            ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", sa_key],
            check=True,
            capture_output=True,
        )

        client, peer, secure = _free_port(), _free_port(), _free_port()
        etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        procs["etcd"] = _spawn(
            [
                str(etcd),
                "--name=modelservice-tests",
                f"--data-dir={work / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=modelservice-tests={peer_url}",
                "--log-level=warn",
                "--logger=zap",
            ],
            logs / "etcd.log",
        )
        procs["kube-apiserver"] = _spawn(
            [
                str(apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={secure}",
                f"--cert-dir={certs}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={sa_key}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.0.0.0/24",
                # As kubeadm sets it, so a privileged container is judged like on a real cluster.
                "--allow-privileged=true",
                # No Endpoints for the `kubernetes` Service: nothing routes to this server.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                "--v=1",
                *([f"--emulated-version=kube={emulated_version}"] if emulated_version else []),
                *extra_args,
            ],
            logs / "kube-apiserver.log",
        )
        server = ApiServer(
            url=f"https://127.0.0.1:{secure}",
            token=token,
            ca_file=_wait_for_file(certs / "apiserver.crt", procs, logs),
            service_account_key=sa_key,
        )
        _wait_ready(server, procs, logs)
        server.install_crds(sorted(CRDS.glob("*.yaml")) if crds is None else crds)
        yield server
    finally:
        for name in ("kube-apiserver", "etcd"):
            if name in procs:
                _stop(procs[name])
        shutil.rmtree(work, ignore_errors=True)


def _wait_for_file(path: Path, procs: dict[str, subprocess.Popen[bytes]], logs: Path) -> Path:
    """The server writes its self-signed certificate into --cert-dir shortly after start."""
    deadline = time.monotonic() + 60
    while not path.is_file() or path.stat().st_size == 0:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}:\n{_tail(logs / f'{name}.log')}"
                )
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path} within 60s:\n{_tail(logs / 'kube-apiserver.log')}")
        time.sleep(0.05)
    time.sleep(0.1)  # written in one go, but let the writer finish
    return path


@contextlib.contextmanager
def start_scheduler(server: ApiServer) -> Iterator[subprocess.Popen[bytes]]:
    """Run the real kube-scheduler (``make tools`` builds it) against ``server`` until the block
    ends: it binds pods to the Nodes a test creates, or marks them Unschedulable, as on a
    cluster (no kubelet runs: a bound pod stays Pending, which is all a test needs)."""
    binary = cached_binary("kube-scheduler")
    work = Path(tempfile.mkdtemp(prefix="modelservice-scheduler-"))
    kubeconfig = server.kubeconfig(work / "kubeconfig")
    proc = _spawn(
        [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={_free_port()}",
            f"--cert-dir={work}",
            # The release the API server emulates: the scheduler then watches only the kinds
            # that release serves (1.37's device taint rules are not served by a 1.34 server).
            f"--emulated-version=kube={EMULATED_KUBE_VERSION}",
            f"--min-compatibility-version=kube={EMULATED_KUBE_VERSION}",
            "--v=1",
        ],
        work / "kube-scheduler.log",
    )
    try:
        deadline = time.monotonic() + 60
        while "Starting Kubernetes Scheduler" not in _tail(work / "kube-scheduler.log", 200):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"kube-scheduler exited with {proc.returncode}:\n"
                    f"{_tail(work / 'kube-scheduler.log')}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"kube-scheduler not started in 60s:\n{_tail(work / 'kube-scheduler.log')}"
                )
            time.sleep(0.2)
        yield proc
    finally:
        _stop(proc)
        shutil.rmtree(work, ignore_errors=True)
