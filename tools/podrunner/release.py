"""The release as the runner meets it: values (with --set and the mirror keys), rendered by the
toolkit's own CLI (validation first, the embedded Helm engine), and the objects a cluster would
then hold: the server pod of whichever workload kind the chart rendered, the helm test pods,
the Secrets, ConfigMaps and Services of the namespace."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .kubelet import Namespace, PodObject, decode_secret

HOOK = "helm.sh/hook"


class ReleaseError(Exception):
    """The values do not validate or render: the toolkit's own messages, verbatim."""


def helm_values(text: str) -> dict[str, Any]:
    """A values file's text as Helm reads it (``helm install -f``)."""
    import helm_python

    data: dict[str, Any] = helm_python.values_from_yaml(text) or {}
    return data


def set_values(expression: str) -> dict[str, Any]:
    """One ``--set`` as Helm parses it (strvals)."""
    import helm_python

    return helm_python.parse_set_string(expression)


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of a later values source over an earlier one (maps merge, the rest is
    replaced)."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _modelservice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelservice", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _chart(chart: Path | None) -> list[str]:
    return ["--chart", str(chart)] if chart else []


def validate(path: Path, chart: Path | None = None) -> None:
    done = _modelservice("validate", str(path), *_chart(chart))
    if done.returncode != 0:
        raise ReleaseError(done.stderr.strip() or done.stdout.strip())


def render(
    path: Path, release: str | None, namespace: str, chart: Path | None = None
) -> list[dict[str, Any]]:
    named = ["--release", release] if release else []
    done = _modelservice("render", str(path), *named, "--namespace", namespace, *_chart(chart))
    if done.returncode != 0:
        raise ReleaseError(done.stderr.strip() or done.stdout.strip())
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def release_of(objects: list[dict[str, Any]]) -> str:
    """The release name, as the chart labels every object with it."""
    for obj in objects:
        name = ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/instance")
        if name:
            return str(name)
    raise ReleaseError("no rendered object carries the app.kubernetes.io/instance label")


@dataclass
class Rendered:
    """The rendered release, looked up the ways the runner needs."""

    name: str
    namespace: str
    objects: list[dict[str, Any]]
    server: PodObject = field(init=False)
    workload: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.workload, self.server = self._server_pod()

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def _server_pod(self) -> tuple[dict[str, Any], PodObject]:
        """The pod the workload would create first: a Deployment's, a StatefulSet's pod 0, or
        the leader of LeaderWorkerSet group 0."""
        for kind in ("Deployment", "StatefulSet", "LeaderWorkerSet"):
            # The endpoint picker's Deployment (routing.inferencePool) runs no model server.
            found = [
                o
                for o in self.of_kind(kind)
                if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
                != "endpoint-picker"
            ]
            if found:
                return found[0], self._pod_of(found[0])
        raise ReleaseError("the release renders no Deployment, StatefulSet or LeaderWorkerSet")

    def _pod_of(self, workload: dict[str, Any]) -> PodObject:
        kind, name = workload["kind"], workload["metadata"]["name"]
        spec = workload["spec"]
        claims: list[dict[str, Any]] = []
        if kind == "LeaderWorkerSet":
            group = spec["leaderWorkerTemplate"]
            template = group.get("leaderTemplate") or group["workerTemplate"]
            claims = group.get("volumeClaimTemplates") or []
        else:
            template = spec["template"]
            claims = spec.get("volumeClaimTemplates") or []
        template = json.loads(json.dumps(template))
        labels = dict(template.get("metadata", {}).get("labels") or {})
        annotations = dict(template.get("metadata", {}).get("annotations") or {})
        pod_spec = template["spec"]
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
        if kind == "Deployment":
            hash10 = digest[:10]
            pod_name = f"{name}-{hash10}-{digest[10:15]}"
            labels["pod-template-hash"] = hash10
        else:
            pod_name = f"{name}-0"
        if kind == "StatefulSet":
            labels["statefulset.kubernetes.io/pod-name"] = pod_name
            labels["apps.kubernetes.io/pod-index"] = "0"
        if kind == "LeaderWorkerSet":
            size = int(spec["leaderWorkerTemplate"].get("size", 1))
            labels.update(
                {
                    "leaderworkerset.sigs.k8s.io/name": name,
                    "leaderworkerset.sigs.k8s.io/group-index": "0",
                    "leaderworkerset.sigs.k8s.io/worker-index": "0",
                    "leaderworkerset.sigs.k8s.io/group-key": digest[:40],
                }
            )
            annotations["leaderworkerset.sigs.k8s.io/size"] = str(size)
            # The LeaderWorkerSet controller puts these first in every container's env.
            lws_env = [
                {"name": "LWS_LEADER_ADDRESS", "value": f"{name}-0.{name}.{self.namespace}"},
                {"name": "LWS_GROUP_SIZE", "value": str(size)},
                {"name": "LWS_WORKER_INDEX", "value": "0"},
            ]
            for item in [*pod_spec.get("initContainers", []), *pod_spec["containers"]]:
                item["env"] = lws_env + list(item.get("env") or [])
            pod_spec.setdefault("hostname", pod_name)
            pod_spec.setdefault("subdomain", name)
        # Claim templates become the pod's claim volumes: <template>-<pod name>.
        volumes = pod_spec.setdefault("volumes", [])
        for claim in claims:
            template_name = claim["metadata"]["name"]
            volumes.append(
                {
                    "name": template_name,
                    "persistentVolumeClaim": {"claimName": f"{template_name}-{pod_name}"},
                }
            )
        return PodObject(pod_name, self.namespace, pod_spec, labels, annotations, f"{kind}/{name}")

    def test_pods(self) -> list[PodObject]:
        pods = []
        for obj in self.of_kind("Pod"):
            hook = (obj["metadata"].get("annotations") or {}).get(HOOK, "")
            if "test" in hook.split(","):
                meta = obj["metadata"]
                pods.append(
                    PodObject(
                        meta["name"],
                        self.namespace,
                        obj["spec"],
                        dict(meta.get("labels") or {}),
                        dict(meta.get("annotations") or {}),
                        f"Pod/{meta['name']}",
                    )
                )
        return pods

    def services(self) -> list[dict[str, Any]]:
        return [
            s
            for s in self.of_kind("Service")
            if s["metadata"].get("namespace", self.namespace) == self.namespace
        ]

    def server_container(self) -> dict[str, Any]:
        containers = self.server.spec["containers"]
        return next((c for c in containers if c["name"] == "vllm"), containers[0])


def secret_refs(pods: list[PodObject]) -> dict[str, set[str]]:
    """Every Secret the pods read, with the keys they read (an envFrom or a whole-volume read
    names no key)."""
    refs: dict[str, set[str]] = {}
    for pod in pods:
        for item in [*pod.spec.get("initContainers", []), *pod.spec["containers"]]:
            for env in item.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.setdefault(ref["name"], set()).add(ref["key"])
            for source in item.get("envFrom") or []:
                if "secretRef" in source:
                    refs.setdefault(source["secretRef"]["name"], set())
        for volume in pod.spec.get("volumes") or []:
            if "secret" in volume:
                keys = {i["key"] for i in volume["secret"].get("items") or []}
                refs.setdefault(volume["secret"]["secretName"], set()).update(keys)
    return refs


def namespace_of(
    rendered: Rendered, provided: list[dict[str, Any]], generate: bool
) -> tuple[Namespace, list[str]]:
    """The namespace's Secrets (rendered, then the ones given with --secrets, then generated for
    any Secret the pods read that exists nowhere, as the user would have created it), its
    ConfigMaps and Services. Also returns the names of the generated Secrets."""
    ns = Namespace(rendered.namespace)
    for obj in rendered.of_kind("Secret"):
        ns.secrets[obj["metadata"]["name"]] = decode_secret(obj)
    for obj in provided:
        if obj.get("kind") == "Secret":
            ns.secrets[obj["metadata"]["name"]] = decode_secret(obj)
    for obj in rendered.of_kind("ConfigMap"):
        data = {k: str(v) for k, v in (obj.get("data") or {}).items()}
        ns.configmaps[obj["metadata"]["name"]] = data
    for obj in provided:
        if obj.get("kind") == "ConfigMap":
            ns.configmaps[obj["metadata"]["name"]] = dict(obj.get("data") or {})
    generated = []
    if generate:
        for name, keys in sorted(secret_refs([rendered.server, *rendered.test_pods()]).items()):
            if name not in ns.secrets:
                ns.secrets[name] = {
                    # a registry Secret holds a Docker config (no credentials: an open registry)
                    key: b'{"auths": {}}'
                    if key == ".dockerconfigjson"
                    else secrets.token_urlsafe(32).encode()
                    for key in sorted(keys)
                }
                generated.append(f"{name} ({', '.join(sorted(keys)) or 'no keys'})")
    ns.services = rendered.services()
    ns.service_ips = {
        s["metadata"]["name"]: f"127.0.10.{i + 1}"
        for i, s in enumerate(ns.services)
        if s.get("spec", {}).get("clusterIP") != "None"
    }
    return ns, generated


def downloads(init: dict[str, Any] | None) -> list[tuple[str, str, str | None, bool]]:
    """What the rendered init container downloads: (tool, repo id, revision, into a
    --local-dir), read from its args (one command per ';'-ended run of words)."""
    if init is None:
        return []
    found = []
    words: list[str] = []
    for word in [*(init.get("args") or []), ";"]:
        if word != ";":
            words.append(word)
            continue
        if len(words) >= 3 and words[1] == "download":
            revision = None
            if "--revision" in words:
                revision = words[words.index("--revision") + 1]
            found.append((words[0], words[2], revision, "--local-dir" in words))
        words = []
    return found
