"""The pod sandbox: what a kubelet's "pause" container holds for a pod.

One process (``unshare --net --mount``) owns the pod's network namespace, with loopback only,
and a mount namespace in which the pod's ``medium: Memory`` emptyDirs are mounted once, so that
every container of the pod (entering both) shares them. It lives while the runner keeps its
stdin open: when the runner exits, however it exits, the sandbox goes, and with it the network
and the tmpfs volumes.

Addresses, all on the pod's own loopback (the 127.0.0.0/8 block is local on ``lo``): the pod
is 127.0.1.1 (a probe reaches it there, so a server bound to 127.0.0.1 only fails its probes
as it would in a cluster), the fake hub listens on 127.0.0.1, and in the network of a client
pod (the helm test pod, or the runner's client network for --keep) each Service of the release
gets a "cluster IP" 127.0.10.N served by :class:`ServiceProxy` (kube-proxy's part). Nothing is
routed anywhere else: there is no other interface.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import netns

POD_IP = "127.0.1.1"
KUBERNETES_SERVICE_IP = "127.0.9.1"


def service_ip(index: int) -> str:
    return f"127.0.10.{index + 1}"


#: Run inside ``unshare --net --mount``: loopback up, the tmpfs volumes, then wait for EOF.
HOLDER = r"""
import fcntl, json, socket, struct, subprocess, sys
spec = json.loads(sys.argv[1])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
request = struct.pack("16sH", b"lo", 0)
flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, request))[1]  # SIOCGIFFLAGS
fcntl.ioctl(sock, 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP
for path, size in spec["tmpfs"]:
    options = "mode=1777" + (f",size={size}" if size else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path], check=True)
print("ready", flush=True)
sys.stdin.read()
"""


class Sandbox:
    """The pod's network and shared mounts, held by one process."""

    def __init__(self, tmpfs: list[tuple[str, int | None]] | None = None) -> None:
        self.tmpfs = tmpfs or []
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Sandbox:
        self.process = subprocess.Popen(
            [
                "unshare",
                "--net",
                "--mount",
                "--propagation",
                "private",
                "--",
                sys.executable,
                "-c",
                HOLDER,
                json.dumps({"tmpfs": self.tmpfs}),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.process.kill()
            error = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(
                "could not create the pod's network and mount namespaces "
                f"(unshare needs root): {error.strip()}"
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def netns(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def enter_command(self) -> list[str]:
        """The words that start a process in the pod's network and mounts."""
        return ["nsenter", f"--target={self.pid}", "--net", "--mount", "--"]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def hosts_file(pod_name: str, services: dict[str, str], namespace: str) -> str:
    """/etc/hosts as the kubelet writes it, plus the names cluster DNS would answer: each
    Service by its short name, ``NAME.NS``, ``NAME.NS.svc`` and ``NAME.NS.svc.cluster.local``."""
    lines = [
        "# Kubernetes-managed hosts file (modelservice pod runner).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{POD_IP}\t{pod_name}",
    ]
    for name, ip in services.items():
        names = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc"]
        names.append(f"{name}.{namespace}.svc.cluster.local")
        lines.append(f"{ip}\t{' '.join(names)}")
    return "\n".join(lines) + "\n"


def resolv_conf(namespace: str) -> str:
    """The search path a pod gets; no nameserver answers (names come from the hosts file)."""
    return (
        f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 127.0.0.53\noptions ndots:5\n"
    )


class ServiceProxy:
    """kube-proxy for one Service port, as a client pod sees it: ``ip:port`` in the client's
    network namespace forwards to the server pod's ``targetPort`` in the server's, while the
    server pod is an endpoint (Ready); otherwise connections are reset, as with a Service
    without ready endpoints. The Service IP is never an address of the server pod itself (in a
    cluster it is virtual), so the server's own port stays free for it."""

    def __init__(
        self, client_netns: str, ip: str, port: int, server_netns: str, target_port: int
    ) -> None:
        self.netns = client_netns
        self.server_netns = server_netns
        self.ip, self.port, self.target_port = ip, port, target_port
        self.ready = threading.Event()
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()

    def start(self) -> ServiceProxy:
        def listen() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.ip, self.port))
            sock.listen(64)
            return sock

        self._listener = netns.call_in(self.netns, listen)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.ready.is_set():
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                client.close()  # a reset: no ready endpoint
                continue
            netns.thread_in(self.server_netns, self._forward, client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((POD_IP, self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    sink.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (sink,):
                    try:
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass

        other = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        other.start()
        pump(client, upstream)
        other.join()
        client.close()
        upstream.close()


def wait_for(predicate: object, timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
