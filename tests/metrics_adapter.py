"""A custom metrics API for the control plane of the tests (tests/kube_cluster.py), registered
with the API server's aggregation layer the way a cluster registers Prometheus Adapter.

It serves ``custom.metrics.k8s.io/v1beta2`` on 127.0.0.1 over TLS: the discovery document, and
one Pods metric of every pod a label selector selects, at one value (what Prometheus Adapter
answers from Prometheus). The APIService names a Service of type ExternalName ``127.0.0.1``:
the aggregator resolves such a Service to that host and the APIService's port (no kube-proxy,
no endpoints needed), checks its certificate against ``<service>.<namespace>.svc`` with the
APIService's caBundle, and marks the APIService Available once the discovery document answers.
Everything the HPA controller does with it (discovery, the metric request, the condition it
sets) is the real controller's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kube_cluster import Cluster, unique

GROUP = "custom.metrics.k8s.io"
VERSION = "v1beta2"
API_SERVICE = f"{VERSION}.{GROUP}"


def _certificates(folder: Path, host: str) -> bytes:
    """A CA and a serving certificate for the DNS name ``host`` signed by it (tls.crt,
    tls.key); returns the CA certificate (PEM)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=metrics-adapter-ca",
        "-days", "2", "-out", "ca.crt",
    )  # fmt: skip
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tls.key")
    openssl("req", "-new", "-key", "tls.key", "-subj", f"/CN={host}", "-out", "tls.csr")
    (folder / "san.cnf").write_text(f"subjectAltName=DNS:{host}\n")
    openssl(
        "x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "tls.crt",
    )  # fmt: skip
    return (folder / "ca.crt").read_bytes()


def _handler(cluster: Cluster, metric: str, value: str) -> type[BaseHTTPRequestHandler]:
    prefix = f"/apis/{GROUP}/{VERSION}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test reads the cluster, not this log

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(url.path)
            if path == prefix:
                return self._send(200, _discovery(metric))
            parts = path.removeprefix(prefix + "/").split("/")
            # namespaces/NS/pods/*/METRIC: the metric of the pods the selector selects
            if (
                path.startswith(prefix + "/")
                and len(parts) == 5
                and (parts[0], parts[2], parts[3], parts[4]) == ("namespaces", "pods", "*", metric)
            ):
                selector = urllib.parse.parse_qs(url.query).get("labelSelector", [""])[0]
                pods = cluster.pods(parts[1], selector or None)
                return self._send(200, _values(parts[1], pods, metric, value))
            return self._send(
                404,
                {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                 "reason": "NotFound", "message": f"{path} is not served here"},
            )  # fmt: skip

    return Handler


def _discovery(metric: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{GROUP}/{VERSION}",
        "resources": [
            {
                "name": f"pods/{metric}",
                "singularName": "",
                "namespaced": True,
                "kind": "MetricValueList",
                "verbs": ["get"],
            }
        ],
    }


def _values(namespace: str, pods: list[dict[str, Any]], metric: str, value: str) -> dict:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "MetricValueList",
        "apiVersion": f"{GROUP}/{VERSION}",
        "metadata": {},
        "items": [
            {
                "describedObject": {
                    "kind": "Pod",
                    "namespace": namespace,
                    "name": pod["metadata"]["name"],
                    "apiVersion": "/v1",
                },
                "metric": {"name": metric},
                "timestamp": now,
                "value": value,
            }
            for pod in pods
        ],
    }


@contextlib.contextmanager
def custom_metrics_adapter(cluster: Cluster, metric: str, value: str = "0") -> Iterator[str]:
    """Serve the Pods metric ``metric`` at ``value`` through the aggregation layer until the
    block ends; yields the namespace of its Service. The APIService is Available when the
    block starts, and it is deleted when the block ends (the control plane is shared: other
    tests see no custom metrics API)."""
    namespace, service = unique("metrics-adapter"), "custom-metrics"
    with tempfile.TemporaryDirectory(prefix="modelservice-metrics-adapter-") as work:
        ca = _certificates(Path(work), f"{service}.{namespace}.svc")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(Path(work) / "tls.crt", Path(work) / "tls.key")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cluster, metric, value))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        api_service = {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": API_SERVICE},
            "spec": {
                "group": GROUP,
                "version": VERSION,
                "service": {
                    "namespace": namespace,
                    "name": service,
                    "port": server.server_address[1],
                },
                "caBundle": base64.b64encode(ca).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 200,
            },
        }
        try:
            cluster.server.create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": service, "namespace": namespace},
                    "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
                },
                namespace,
            )
            cluster.server.create(api_service)
            path = f"/apis/apiregistration.k8s.io/v1/apiservices/{API_SERVICE}"

            def available() -> bool:
                conditions = ((cluster.get(path) or {}).get("status") or {}).get("conditions")
                return any(
                    c["type"] == "Available" and c["status"] == "True" for c in conditions or []
                )

            cluster.wait_for(f"APIService {API_SERVICE} Available", available)
            yield namespace
        finally:
            cluster.server.delete(api_service)
            server.shutdown()
            server.server_close()
