"""Read-only access to the cluster of the current kubeconfig, through the ``kubernetes`` client.

Every call is a GET or a LIST; answers come back as plain JSON data (the API server's own
form, quantities as written), ``None`` for an object that does not exist. A refusal (RBAC,
no route) becomes a :class:`~modelservice.core.errors.UserError` naming the permission.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from typing import Any

from ..core.errors import UserError


class Cluster:
    """A kube-apiserver reached with the kubeconfig's credentials."""

    def __init__(self, context: str | None = None) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        try:
            # KUBECONFIG as it is now (the client reads it once, at import)
            files = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            self.api = config.new_client_from_config(config_file=files, context=context)
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            where = f" context {context!r}" if context else ""
            raise UserError(f"cannot use the kubeconfig{where}: {exc}") from None
        self.client = client
        self.server = self.api.configuration.host
        #: whether the server's certificate is verified (insecure-skip-tls-verify turns it off)
        self.verifies_tls = bool(self.api.configuration.verify_ssl)
        self._answers: dict[str, Any] = {}

    def get(self, path: str, *, what: str) -> Any:
        """GET ``path``: the decoded object, or None when it does not exist (404); each path
        is asked once (the checks of one run see one state of the cluster)."""
        if path not in self._answers:
            self._answers[path] = self._get(path, what=what)
        return self._answers[path]

    def _get(self, path: str, *, what: str) -> Any:
        response = self._call(path, what=what, accept="application/json")
        if response is None or isinstance(response, int):
            return None
        return json.loads(response.data or b"null")

    def _call(self, path: str, *, what: str, accept: str, quiet: bool = False) -> Any:
        """GET ``path``: the response; None for 404; the status of a refusal when ``quiet``
        (else a refusal raises a UserError naming the permission)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError, InsecureRequestWarning

        try:
            with warnings.catch_warnings():
                # With verification off urllib3 warns on every request; check says it once.
                warnings.simplefilter("ignore", InsecureRequestWarning)
                response = self._request(path, accept)
        except ApiException as exc:
            if quiet:
                return exc.status or 0
            return self._refused(exc.status or 0, str(exc.reason), what)
        except (HTTPError, OSError) as exc:
            raise UserError(f"{self.server}: cannot reach the API server: {exc}") from None
        if response.status >= 300:
            if quiet:
                return response.status
            return self._refused(response.status, str(response.reason), what)
        return response

    def _request(self, path: str, accept: str) -> Any:
        method, url, headers, body, post = self.api.param_serialize(
            "GET",
            path,
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            method,
            url,
            header_params=headers,
            body=body,
            post_params=post,
            _request_timeout=30,
        )
        response.read()
        return response

    def _refused(self, status: int, reason: str, what: str) -> None:
        if status == 404:
            return None
        if status in (401, 403):
            raise UserError(
                f"{self.server}: may not {what} (HTTP {status}); see the permissions "
                "`modelservice check` needs in the README"
            )
        raise UserError(f"{self.server}: {what}: HTTP {status} {reason}")

    # -- the objects check reads ---------------------------------------------------------------

    def namespace(self, name: str) -> Any:
        return self.get(f"/api/v1/namespaces/{name}", what=f"get namespace {name}")

    def secret(self, namespace: str, name: str) -> Any:
        return self.get(
            f"/api/v1/namespaces/{namespace}/secrets/{name}",
            what=f"get secrets in namespace {namespace}",
        )

    def claim(self, namespace: str, name: str) -> Any:
        return self.get(
            f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}",
            what=f"get persistentvolumeclaims in namespace {namespace}",
        )

    def deployment(self, namespace: str, name: str) -> Any:
        return self.get(
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
            what=f"get deployments in namespace {namespace}",
        )

    def gateway(self, namespace: str, name: str) -> Any:
        return self.get(
            f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/gateways/{name}",
            what=f"get gateways in namespace {namespace}",
        )

    def gateway_class(self, name: str) -> Any:
        return self.get(
            f"/apis/gateway.networking.k8s.io/v1/gatewayclasses/{name}", what="get gatewayclasses"
        )

    def inference_pool(self, namespace: str, name: str) -> Any:
        return self.get(
            f"/apis/inference.networking.k8s.io/v1/namespaces/{namespace}/inferencepools/{name}",
            what=f"get inferencepools in namespace {namespace}",
        )

    def config_map(self, namespace: str, name: str) -> Any:
        return self.get(
            f"/api/v1/namespaces/{namespace}/configmaps/{name}",
            what=f"get configmaps in namespace {namespace}",
        )

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """Pods of a namespace that match a label selector."""
        from urllib.parse import quote

        found = self.get(
            f"/api/v1/namespaces/{namespace}/pods?labelSelector={quote(selector, safe='')}",
            what=f"list pods in namespace {namespace}",
        )
        return list((found or {}).get("items") or [])

    def storage_classes(self) -> list[dict[str, Any]]:
        found = self.get("/apis/storage.k8s.io/v1/storageclasses", what="list storageclasses")
        return list((found or {}).get("items") or [])

    def runtime_class(self, name: str) -> Any:
        return self.get(f"/apis/node.k8s.io/v1/runtimeclasses/{name}", what="get runtimeclasses")

    def priority_class(self, name: str) -> Any:
        return self.get(
            f"/apis/scheduling.k8s.io/v1/priorityclasses/{name}", what="get priorityclasses"
        )

    def crds(self) -> list[dict[str, Any]]:
        found = self.get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            what="list customresourcedefinitions",
        )
        return list((found or {}).get("items") or [])

    def api_services(self) -> list[dict[str, Any]]:
        """The APIServices of the aggregation layer, with their Available condition."""
        found = self.get("/apis/apiregistration.k8s.io/v1/apiservices", what="list apiservices")
        return list((found or {}).get("items") or [])

    def version(self) -> Any:
        """The API server's /version (its release, and the one it emulates, if it does)."""
        return self.get("/version", what="get /version")

    def feature_gates(self) -> dict[str, bool] | None:
        """The API server's feature gates as its /metrics reports them
        (``kubernetes_feature_enabled``), or None when the credentials may not read it."""
        if "/metrics" not in self._answers:
            response = self._call("/metrics", what="get /metrics", accept="text/plain", quiet=True)
            text = response.data.decode("utf-8", "replace") if hasattr(response, "data") else None
            self._answers["/metrics"] = gates_enabled(text) if text is not None else None
        found: dict[str, bool] | None = self._answers["/metrics"]
        return found

    def nodes(self) -> list[dict[str, Any]]:
        found = self.get("/api/v1/nodes", what="list nodes")
        return list((found or {}).get("items") or [])

    def pods_on(self, node: str) -> list[dict[str, Any]]:
        """Pods bound to a node that still hold their resources."""
        from urllib.parse import quote

        selector = quote(
            f"spec.nodeName={node},status.phase!=Succeeded,status.phase!=Failed", safe=""
        )
        found = self.get(f"/api/v1/pods?fieldSelector={selector}", what="list pods")
        return list((found or {}).get("items") or [])


def gates_enabled(metrics: str) -> dict[str, bool]:
    """The feature gates an API server reports in its /metrics (``kubernetes_feature_enabled``)."""
    found = {}
    pattern = re.compile(r"^kubernetes_feature_enabled\{([^}]*)\}\s+([0-9.eE+-]+)\s*$")
    for line in metrics.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1)))
        if "name" in labels:
            found[labels["name"]] = float(match.group(2)) == 1.0
    return found
