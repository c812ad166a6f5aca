"""Read-only access to the cluster of the current kubeconfig, through the ``kubernetes`` client.

Every call is a GET or a LIST; answers come back as plain JSON data (the API server's own
form, quantities as written), ``None`` for an object that does not exist. A refusal (RBAC,
no route) becomes a :class:`~modelservice.core.errors.UserError` naming the permission.
"""

from __future__ import annotations

import json
import os
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
        self._answers: dict[str, Any] = {}

    def get(self, path: str, *, what: str) -> Any:
        """GET ``path``: the decoded object, or None when it does not exist (404); each path
        is asked once (the checks of one run see one state of the cluster)."""
        if path not in self._answers:
            self._answers[path] = self._get(path, what=what)
        return self._answers[path]

    def _get(self, path: str, *, what: str) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            method, url, headers, body, post = self.api.param_serialize(
                "GET",
                path,
                header_params={"Accept": "application/json"},
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
        except ApiException as exc:
            return self._refused(exc.status or 0, str(exc.reason), what)
        except (HTTPError, OSError) as exc:
            raise UserError(f"{self.server}: cannot reach the API server: {exc}") from None
        if response.status >= 300:
            return self._refused(response.status, str(response.reason), what)
        return json.loads(response.data or b"null")

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

    def version(self) -> dict[str, Any]:
        """The server's /version: its release, and the release it emulates
        (``emulationMajor``/``emulationMinor``, Kubernetes 1.31 and later)."""
        found = self.get("/version", what="get /version")
        return dict(found or {})

    def feature_gates(self) -> dict[str, bool] | None:
        """The API server's feature gates as its /metrics reports them
        (``kubernetes_feature_enabled``), or None when the credentials may not read /metrics."""
        if "/metrics" not in self._answers:
            self._answers["/metrics"] = self._metrics()
        gates: dict[str, bool] | None = self._answers["/metrics"]
        return gates

    def _metrics(self) -> dict[str, bool] | None:
        import re

        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            method, url, headers, body, post = self.api.param_serialize(
                "GET",
                "/metrics",
                header_params={"Accept": "text/plain"},
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(
                method, url, header_params=headers, body=body, post_params=post, _request_timeout=30
            )
            response.read()
        except ApiException:
            return None
        except (HTTPError, OSError) as exc:
            raise UserError(f"{self.server}: cannot reach the API server: {exc}") from None
        if response.status >= 300:
            return None
        text = (response.data or b"").decode("utf-8", errors="replace")
        pattern = re.compile(
            r'^kubernetes_feature_enabled\{name="([^"]+)"[^}]*\}\s+([0-9.]+)', re.M
        )
        return {name: float(value) > 0 for name, value in pattern.findall(text)}

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
