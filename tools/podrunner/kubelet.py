"""The kubelet's part of starting a pod, for one rendered pod spec on this machine.

What it does as the kubelet does it (the function or rule it follows is named where it helps):

- volumes: ``emptyDir`` -> a folder of the pod (``medium: Memory`` -> a tmpfs of ``sizeLimit``,
  mounted once in the pod's sandbox and shared by its containers), ``persistentVolumeClaim``
  -> a folder that outlives the run (or the one given for the claim), ``configMap`` /
  ``secret`` -> their files, ``hostPath`` -> the path; ``subPath`` and ``readOnly`` honoured;
  ``fsGroup`` owns the writable ones (SetVolumeOwnership);
- environment (kubelet_pods.go makeEnvironmentVariables): service links (on unless
  ``enableServiceLinks: false``; the master Service's variables always), ``envFrom`` in order,
  then ``env`` in order with ``$(VAR)`` expanded against what is defined so far, ``valueFrom``
  (``secretKeyRef``, ``configMapKeyRef``, ``fieldRef``, ``resourceFieldRef``); a missing object
  or key that is not ``optional`` stops the container before it starts:
  ``CreateContainerConfigError``;
- command and args expanded with the final environment (``$(VAR)``; unknown names and
  ``$((...))`` stay as written, ``$$`` becomes ``$``);
- init containers one by one, each to completion, then the containers; a failed init
  container is ``Init:Error`` and nothing after it starts;
- probes (startup, then readiness and liveness) on their own cadence: ``initialDelaySeconds``,
  ``periodSeconds``, ``timeoutSeconds``, ``failureThreshold``, ``successThreshold``; an HTTP
  probe succeeds on a status from 200 to 399; a failed startup or liveness probe kills the
  container, which restarts (``restartPolicy: Always``) after the kubelet's back-off (10 s,
  doubling, at most 300 s), ``restartCount`` counting each restart;
- stop: SIGTERM to the container's first process, SIGKILL to its whole cgroup after
  ``terminationGracePeriodSeconds``.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import container as container_module
from . import netns, sandbox
from .images import StandIn

CGROUP_ROOT = Path("/sys/fs/cgroup/unified")
if not (CGROUP_ROOT / "cgroup.procs").exists():
    CGROUP_ROOT = Path("/sys/fs/cgroup")
BACKOFF = (0, 10, 20, 40, 80, 160, 300)
KUBELET_VERSION = "1.37"


class ConfigError(Exception):
    """CreateContainerConfigError: the container cannot be configured, so it never starts."""


# -- $(VAR) expansion (third_party/forked/golang/expansion) -----------------------------------


def expand(text: str, *contexts: dict[str, str]) -> str:
    """The kubelet's expansion: ``$(NAME)`` -> its value when defined, else left as written;
    ``$$`` -> ``$``; any other ``$`` stays. ``$((x))`` is read as the name ``(x``, which no
    variable has, so it stays too."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_name(text[cursor + 1 :])
            if is_var:
                for context in contexts:
                    if read in context:
                        out.append(context[read])
                        break
                else:
                    out.append(f"$({read})")
            else:
                out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _read_name(text: str) -> tuple[str, bool, int]:
    if text[0] == "$":
        return "$", False, 1
    if text[0] == "(":
        for index in range(1, len(text)):
            if text[index] == ")":
                return text[1:index], True, index + 1
        return "$(", False, 1
    return "$" + text[0], False, 1


# -- quantities -------------------------------------------------------------------------------


def quantity(value: Any) -> Decimal:
    from kubernetes.utils import parse_quantity

    return Decimal(parse_quantity(str(value)))


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(services: list[dict[str, Any]], ips: dict[str, str]) -> dict[str, str]:
    """The variables of service links (pkg/kubelet/envvars FromServices)."""
    env: dict[str, str] = {}
    for service in services:
        name = service["metadata"]["name"]
        ip = ips.get(name)
        ports = service.get("spec", {}).get("ports") or []
        if ip is None or not ports:
            continue
        prefix = _env_name(name)
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port["port"])
        for index, port in enumerate(ports):
            protocol = port.get("protocol", "TCP")
            url = f"{protocol.lower()}://{ip}:{port['port']}"
            if index == 0:
                env[f"{prefix}_PORT"] = url
            link = f"{prefix}_PORT_{port['port']}_{protocol.upper()}"
            env[link] = url
            env[f"{link}_PROTO"] = protocol.lower()
            env[f"{link}_PORT"] = str(port["port"])
            env[f"{link}_ADDR"] = ip
    return env


KUBERNETES_SERVICE = {
    "metadata": {"name": "kubernetes", "namespace": "default"},
    "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP"}]},
}


# -- the namespace the pod lives in -----------------------------------------------------------


@dataclass
class Namespace:
    """The objects of the release's namespace the kubelet reads: Secrets, ConfigMaps, Services."""

    name: str
    secrets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    configmaps: dict[str, dict[str, str]] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    service_ips: dict[str, str] = field(default_factory=dict)

    def secret(self, name: str, key: str | None, optional: bool) -> dict[str, bytes] | None:
        data = self.secrets.get(name)
        if data is None:
            if optional:
                return None
            raise ConfigError(f'secret "{name}" not found')
        if key is not None and key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in Secret {self.name}/{name}")
        return data

    def configmap(self, name: str, key: str | None, optional: bool) -> dict[str, str] | None:
        data = self.configmaps.get(name)
        if data is None:
            if optional:
                return None
            raise ConfigError(f'configmap "{name}" not found')
        if key is not None and key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in ConfigMap {self.name}/{name}")
        return data


@dataclass
class PodObject:
    """A pod as the API server would hold it: name, labels and the rendered spec."""

    name: str
    namespace: str
    spec: dict[str, Any]
    labels: dict[str, str]
    annotations: dict[str, str]
    owner: str
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Options:
    images: dict[str, StandIn]
    cpu_args: list[str]
    cpu_env: dict[str, str]
    claims: dict[str, Path]
    claims_root: Path
    logs: Path = Path("/tmp")
    max_restarts: int = 1
    node_cpus: int = os.cpu_count() or 1
    node_memory: int = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


# -- container state --------------------------------------------------------------------------


@dataclass
class ContainerStatus:
    name: str
    init: bool
    state: str = "Waiting"
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int | None = None
    restart_count: int = 0
    started: bool = False
    ready: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    ready_at: float | None = None
    first_200_at: float | None = None
    last_state: dict[str, Any] | None = None
    log: str = ""
    pid: int | None = None
    gave_up: bool = False
    events: list[str] = field(default_factory=list)

    def as_dict(self, origin: float) -> dict[str, Any]:
        def rel(t: float | None) -> float | None:
            return None if t is None else round(t - origin, 3)

        return {
            "name": self.name,
            "init": self.init,
            "state": self.state,
            "reason": self.reason,
            "message": self.message,
            "exitCode": self.exit_code,
            "restartCount": self.restart_count,
            "started": self.started,
            "ready": self.ready,
            "startedAt": rel(self.started_at),
            "finishedAt": rel(self.finished_at),
            "readyAt": rel(self.ready_at),
            "first200At": rel(self.first_200_at),
            "lastState": self.last_state,
            "log": self.log,
            "pid": self.pid,
            "gaveUp": self.gave_up,
            "events": self.events,
        }


class Pod:
    """One pod started the kubelet's way. ``report`` gets one line per event worth printing."""

    def __init__(
        self,
        pod: PodObject,
        namespace: Namespace,
        workdir: Path,
        options: Options,
        report: Callable[[str], None],
        *,
        sandbox_of: Pod | None = None,
    ) -> None:
        self.pod = pod
        self.ns = namespace
        self.dir = workdir
        self.options = options
        self.report = report
        self.shared = sandbox_of
        self.spec = pod.spec
        self.volumes: dict[str, tuple[Path, bool]] = {}
        self.tmpfs: list[tuple[str, int | None]] = []
        self.sandbox: sandbox.Sandbox | None = None
        self.statuses: dict[str, ContainerStatus] = {}
        self.phase = "Pending"
        self.reason = ""
        self.origin = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        self.cgroup = CGROUP_ROOT / "modelservice-runner" / f"{os.getpid()}-{pod.name}"

    # -- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.pod.name,
                "namespace": self.pod.namespace,
                "owner": self.pod.owner,
                "phase": self.phase,
                "reason": self.reason,
                "ready": self.ready,
                "netns": self.netns,
                "podIP": sandbox.POD_IP,
                "containers": [s.as_dict(self.origin) for s in self.statuses.values()],
            }

    @property
    def ready(self) -> bool:
        mains = [s for s in self.statuses.values() if not s.init]
        return bool(mains) and all(s.ready for s in mains)

    @property
    def netns(self) -> str | None:
        box = self.shared.sandbox if self.shared else self.sandbox
        return box.netns if box else None

    def _set(self, status: ContainerStatus, **changes: Any) -> None:
        with self.changed:
            for key, value in changes.items():
                setattr(status, key, value)
            self.changed.notify_all()

    def _event(self, status: ContainerStatus, text: str) -> None:
        with self.changed:
            status.events.append(text)
            self.changed.notify_all()
        self.report(f"  {status.name}: {text}")

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 1.0))
            return True

    # -- volumes --------------------------------------------------------------------------

    def prepare_volumes(self) -> None:
        """Every volume of the spec, backed by a folder (or a tmpfs in the sandbox)."""
        security = self.spec.get("securityContext") or {}
        fs_group = security.get("fsGroup")
        for volume in self.spec.get("volumes") or []:
            name = volume["name"]
            base = self.dir / "volumes" / name
            if "emptyDir" in volume:
                empty = volume["emptyDir"] or {}
                base.mkdir(parents=True, exist_ok=True)
                if empty.get("medium") == "Memory":
                    limit = empty.get("sizeLimit")
                    size = int(quantity(limit)) if limit else None
                    self.tmpfs.append((str(base), size))
                else:
                    base.chmod(0o777)
                self.volumes[name] = (base, False)
                if fs_group is not None and empty.get("medium") != "Memory":
                    _own(base, int(fs_group), security.get("fsGroupChangePolicy"))
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]
                folder = self.claim_folder(claim["claimName"])
                self.volumes[name] = (folder, bool(claim.get("readOnly")))
                if fs_group is not None:
                    _own(folder, int(fs_group), security.get("fsGroupChangePolicy"))
            elif "configMap" in volume or "secret" in volume:
                self.volumes[name] = (self._projected_files(volume, base), True)
            elif "hostPath" in volume:
                self.volumes[name] = (Path(volume["hostPath"]["path"]), False)
            else:
                kind = next((k for k in volume if k != "name"), "?")
                raise ConfigError(f"volume {name}: the runner cannot back a {kind} volume")

    def claim_folder(self, claim: str) -> Path:
        folder = self.options.claims.get(claim)
        if folder is None:
            folder = self.options.claims_root / self.pod.namespace / claim
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _projected_files(self, volume: dict[str, Any], base: Path) -> Path:
        if "configMap" in volume:
            source = volume["configMap"]
            data = self.ns.configmap(source["name"], None, bool(source.get("optional")))
            files = {k: v.encode() for k, v in (data or {}).items()}
        else:
            source = volume["secret"]
            raw = self.ns.secret(source["secretName"], None, bool(source.get("optional")))
            files = dict(raw or {})
        items = source.get("items")
        if items:
            files = {item["path"]: files[item["key"]] for item in items if item["key"] in files}
        base.mkdir(parents=True, exist_ok=True)
        mode = source.get("defaultMode", 0o644)
        for path, content in files.items():
            target = base / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(mode)
        return base

    def container_mounts(self, container: dict[str, Any]) -> list[dict[str, Any]]:
        mounts = []
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in self.volumes:
                raise ConfigError(f"volumeMount {mount['name']}: no volume of that name")
            source, readonly = self.volumes[mount["name"]]
            sub = mount.get("subPath")
            if sub:
                source = source / sub
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(
                {
                    "name": mount["name"],
                    "source": str(source),
                    "target": mount["mountPath"],
                    "readonly": bool(mount.get("readOnly")) or readonly,
                }
            )
        # Parents first (the runtime sorts mounts by the depth of their destination).
        return sorted(mounts, key=lambda m: len(Path(m["target"]).parts))

    # -- environment ----------------------------------------------------------------------

    def environment(self, container: dict[str, Any]) -> dict[str, str]:
        spec = self.spec
        links = spec.get("enableServiceLinks", True)
        services = [
            s for s in self.ns.services if links and s.get("spec", {}).get("clusterIP") != "None"
        ]
        service_vars = service_env(services, self.ns.service_ips)
        service_vars.update(
            service_env([KUBERNETES_SERVICE], {"kubernetes": sandbox.KUBERNETES_SERVICE_IP})
        )
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                ref = source["configMapRef"]
                data = self.ns.configmap(ref["name"], None, bool(ref.get("optional")))
                values = dict(data or {})
            else:
                ref = source["secretRef"]
                raw = self.ns.secret(ref["name"], None, bool(ref.get("optional")))
                values = {k: v.decode() for k, v in (raw or {}).items()}
            for key, value in values.items():
                env[prefix + key] = value
        for item in container.get("env") or []:
            name = item["name"]
            if item.get("value"):
                env[name] = expand(item["value"], env, service_vars)
            elif "valueFrom" in item:
                value = self._value_from(container, item["valueFrom"])
                if value is None:
                    continue
                env[name] = value
            else:
                env[name] = ""
        for key, value in service_vars.items():
            env.setdefault(key, value)
        return env

    def _value_from(self, container: dict[str, Any], source: dict[str, Any]) -> str | None:
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = self.ns.secret(ref["name"], ref["key"], bool(ref.get("optional")))
            return None if data is None else data[ref["key"]].decode()
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            cm = self.ns.configmap(ref["name"], ref["key"], bool(ref.get("optional")))
            return None if cm is None else cm[ref["key"]]
        if "fieldRef" in source:
            return self._field(source["fieldRef"]["fieldPath"])
        if "resourceFieldRef" in source:
            return self._resource(container, source["resourceFieldRef"])
        raise ConfigError(f"unsupported valueFrom {sorted(source)}")

    def _field(self, path: str) -> str:
        pod = self.pod
        if path.startswith("metadata.labels['"):
            return pod.labels.get(path[len("metadata.labels['") : -2], "")
        if path.startswith("metadata.annotations['"):
            return pod.annotations.get(path[len("metadata.annotations['") : -2], "")
        node_ip = sandbox.POD_IP
        values = {
            "metadata.name": pod.name,
            "metadata.namespace": pod.namespace,
            "metadata.uid": pod.uid,
            "spec.nodeName": socket.gethostname(),
            "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
            "status.hostIP": node_ip,
            "status.hostIPs": node_ip,
            "status.podIP": sandbox.POD_IP,
            "status.podIPs": sandbox.POD_IP,
        }
        if path not in values:
            raise ConfigError(f"unsupported fieldRef {path}")
        return values[path]

    def _resource(self, container: dict[str, Any], ref: dict[str, Any]) -> str:
        name = ref.get("containerName") or container["name"]
        target = next(
            (c for c in self._all_containers() if c["name"] == name),
            None,
        )
        if target is None:
            raise ConfigError(f"resourceFieldRef: no container {name}")
        resources = target.get("resources") or {}
        kind, _, resource = ref["resource"].partition(".")
        limits = resources.get("limits") or {}
        requests = resources.get("requests") or {}
        divisor = quantity(ref.get("divisor", "1"))
        allocatable = {
            "cpu": Decimal(self.options.node_cpus),
            "memory": Decimal(self.options.node_memory),
            "ephemeral-storage": Decimal(shutil.disk_usage("/").total),
        }
        if kind == "limits":
            value = quantity(limits[resource]) if resource in limits else allocatable[resource]
        else:
            found = requests.get(resource, limits.get(resource))
            value = quantity(found) if found is not None else Decimal(0)
        return str(math.ceil(value / divisor))

    def _all_containers(self) -> list[dict[str, Any]]:
        return list(self.spec.get("initContainers") or []) + list(self.spec["containers"])

    # -- one container process ------------------------------------------------------------

    def _stand_in(self, container: dict[str, Any]) -> StandIn:
        image = container.get("image", "")
        stand_in = self.options.images.get(image)
        if stand_in is None:
            raise ConfigError(f"no local program stands in for image {image}")
        return stand_in

    def _identity(self, container: dict[str, Any], stand_in: StandIn) -> tuple[int, int, list[int]]:
        pod_ctx = self.spec.get("securityContext") or {}
        ctx = container.get("securityContext") or {}
        uid = ctx.get("runAsUser", pod_ctx.get("runAsUser", stand_in.uid))
        gid = ctx.get(
            "runAsGroup", pod_ctx.get("runAsGroup", stand_in.gid if uid == stand_in.uid else 0)
        )
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if non_root and uid == 0:
            raise ConfigError(
                "container has runAsNonRoot and image will run as root "
                f'(pod: "{self.pod.name}_{self.pod.namespace}", container: {container["name"]})'
            )
        groups = [gid]
        if pod_ctx.get("fsGroup") is not None:
            groups.append(int(pod_ctx["fsGroup"]))
        groups += [int(g) for g in pod_ctx.get("supplementalGroups") or []]
        return int(uid), int(gid), sorted(set(groups))

    def command_line(self, container: dict[str, Any], env: dict[str, str]) -> list[str]:
        stand_in = self._stand_in(container)
        command = container.get("command")
        args = container.get("args")
        if command is None:
            command = stand_in.entrypoint
            args = args if args is not None else []
        argv = [expand(word, env) for word in [*command, *(args or [])]]
        return argv

    def launch(self, container: dict[str, Any], status: ContainerStatus) -> subprocess.Popen[bytes]:
        """Start one container process (ConfigError when the kubelet would not start it)."""
        stand_in = self._stand_in(container)
        # The kubelet expands $(VAR) with the variables it made; the image's own ENV joins
        # later, in the runtime, below the container's env.
        pod_env = self.environment(container)
        argv = self.command_line(container, pod_env)
        image_env = dict(stand_in.env)
        if stand_in.entrypoint == ["vllm", "serve"] and argv[:2] == ["vllm", "serve"]:
            image_env.update(self.options.cpu_env)
            argv = [*argv, *self.options.cpu_args]
        env = {**image_env, **pod_env}
        uid, gid, groups = self._identity(container, stand_in)
        if "HOME" not in env:
            env["HOME"] = "/root" if uid == 0 else "/"
        env.setdefault("HOSTNAME", self.pod.name)
        run = self.dir / "containers" / f"{container['name']}-{status.restart_count}"
        run.mkdir(parents=True, exist_ok=True)
        (run / "rootfs").mkdir(exist_ok=True)
        ctx = container.get("securityContext") or {}
        cgroup = self.cgroup / container["name"]
        cgroup.mkdir(parents=True, exist_ok=True)
        files = self.dir / "etc"
        spec = {
            "rootfs": str(run / "rootfs"),
            "stage": stand_in.stage,
            "image_dirs": stand_in.image_dirs,
            "files": [
                (str(files / "hosts"), "/etc/hosts"),
                (str(files / "resolv.conf"), "/etc/resolv.conf"),
                (str(files / "hostname"), "/etc/hostname"),
            ],
            "mounts": self.container_mounts(container),
            "cgroup": str(cgroup),
            "workdir": container.get("workingDir") or stand_in.workdir,
            "uid": uid,
            "gid": gid,
            "groups": groups,
            "no_new_privs": ctx.get("allowPrivilegeEscalation") is False,
            "drop_caps": _dropped_caps(ctx),
            "readonly_root": bool(ctx.get("readOnlyRootFilesystem")),
            "argv": argv,
            "env": env,
        }
        spec_file = run / "spec.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        spec_file.chmod(0o600)
        log_dir = self.options.logs / self.pod.name / container["name"]
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"{status.restart_count}.log"
        owner = self.shared.sandbox if self.shared else self.sandbox
        assert owner is not None
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    *owner.enter_command(),
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    sys.executable,
                    container_module.__file__,
                    str(spec_file),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._set(
            status,
            state="Running",
            reason="",
            message="",
            started_at=time.monotonic(),
            log=str(log),
            pid=process.pid,
            exit_code=None,
        )
        with self._lock:
            self._procs[container["name"]] = process
        return process

    def stop_container(self, name: str, grace: float, reason: str = "") -> str:
        """SIGTERM the first process, then SIGKILL the cgroup after ``grace`` seconds."""
        with self._lock:
            process = self._procs.get(name)
        cgroup = self.cgroup / name
        how = "exited"
        if process is not None and process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=grace)
                how = "SIGTERM"
            except subprocess.TimeoutExpired:
                how = f"SIGKILL after {grace:g} s"
        _kill_cgroup(cgroup)
        if process is not None:
            process.wait()
        return how

    # -- probes ---------------------------------------------------------------------------

    def _port(self, container: dict[str, Any], port: Any) -> int:
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
        for item in container.get("ports") or []:
            if item.get("name") == port:
                return int(item["containerPort"])
        raise ConfigError(f"probe port {port!r} names no port of container {container['name']}")

    def probe(
        self, container: dict[str, Any], probe: dict[str, Any], pid: int | None
    ) -> tuple[bool, str]:
        """One probe, from this thread (which is in the pod's network)."""
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = self._port(container, get["port"])
            host = get.get("host") or sandbox.POD_IP
            scheme = get.get("scheme", "HTTP").lower()
            path = get.get("path", "/")
            url = f"{scheme}://{host}:{port}{path}"
            connection_class = (
                http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            )
            connection = connection_class(host, port, timeout=timeout)
            headers = {"User-Agent": f"kube-probe/{KUBELET_VERSION}", "Accept": "*/*"}
            for header in get.get("httpHeaders") or []:
                headers[header["name"]] = header["value"]
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read(10240)
            except TimeoutError:
                return (
                    False,
                    f'Get "{url}": context deadline exceeded'
                    " (Client.Timeout exceeded while awaiting headers)",
                )
            except OSError as exc:
                reason = exc.strerror or str(exc)
                return False, f'Get "{url}": dial tcp {host}:{port}: connect: {reason.lower()}'
            finally:
                connection.close()
            if 200 <= response.status < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {response.status}"
        if "tcpSocket" in probe:
            port = self._port(container, probe["tcpSocket"]["port"])
            host = probe["tcpSocket"].get("host") or sandbox.POD_IP
            try:
                socket.create_connection((host, port), timeout=timeout).close()
            except OSError as exc:
                return (
                    False,
                    f"dial tcp {host}:{port}: connect: {(exc.strerror or str(exc)).lower()}",
                )
            return True, ""
        if "exec" in probe:
            if pid is None:
                return False, "container not running"
            done = subprocess.run(
                [
                    "nsenter",
                    f"--target={pid}",
                    "--mount",
                    "--net",
                    "--root",
                    "--wd",
                    "--",
                    *probe["exec"]["command"],
                ],
                capture_output=True,
                timeout=timeout + 5,
                check=False,
            )
            if done.returncode == 0:
                return True, ""
            return False, f"command {probe['exec']['command']} exited with {done.returncode}"
        return False, f"unsupported probe handler {sorted(probe)}"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Volumes, the sandbox, the pod's /etc files."""
        self.prepare_volumes()
        if self.shared is None:
            self.sandbox = sandbox.Sandbox(self.tmpfs).start()
        etc = self.dir / "etc"
        services = {
            s["metadata"]["name"]: self.ns.service_ips[s["metadata"]["name"]]
            for s in self.ns.services
            if s["metadata"]["name"] in self.ns.service_ips
        }
        sandbox.write(
            etc / "hosts", sandbox.hosts_file(self.pod.name, services, self.pod.namespace)
        )
        sandbox.write(etc / "resolv.conf", sandbox.resolv_conf(self.pod.namespace))
        sandbox.write(etc / "hostname", self.pod.name + "\n")
        self.cgroup.mkdir(parents=True, exist_ok=True)
        for item in self._all_containers():
            init = any(item is c for c in self.spec.get("initContainers") or [])
            self.statuses[item["name"]] = ContainerStatus(item["name"], init)

    def run_init_containers(self) -> bool:
        """Each init container to completion, in order. False on the first failure."""
        for item in self.spec.get("initContainers") or []:
            status = self.statuses[item["name"]]
            with self._lock:
                self.phase, self.reason = "Pending", f"Init:{item['name']}"
            try:
                process = self.launch(item, status)
            except ConfigError as exc:
                self._config_error(status, str(exc))
                return False
            code = _exit_code(process.wait())
            _kill_cgroup(self.cgroup / item["name"])
            reason = "Completed" if code == 0 else "Error"
            self._set(
                status,
                state="Terminated",
                reason=reason,
                exit_code=code,
                finished_at=time.monotonic(),
                pid=None,
            )
            if code != 0:
                with self._lock:
                    self.phase, self.reason = "Pending", "Init:Error"
                return False
        return True

    def _config_error(self, status: ContainerStatus, message: str) -> None:
        self._set(status, state="Waiting", reason="CreateContainerConfigError", message=message)
        with self._lock:
            self.phase, self.reason = "Pending", "CreateContainerConfigError"
        self._event(status, f"Error: {message}")

    def start_containers(self) -> None:
        with self._lock:
            self.phase, self.reason = "Running", ""
        for item in self.spec["containers"]:
            thread = threading.Thread(target=self._supervise, args=(item,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _supervise(self, item: dict[str, Any]) -> None:
        """One container: start, probe, restart with back-off, until the pod stops."""
        status = self.statuses[item["name"]]
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        with netns.entered(self.netns):
            while not self._stop.is_set():
                try:
                    process = self.launch(item, status)
                except ConfigError as exc:
                    self._config_error(status, str(exc))
                    return
                killed = self._watch(item, status, process, grace)
                if self._stop.is_set():
                    return
                code = _exit_code(process.returncode)
                reason = "Completed" if code == 0 else "Error"
                last = {
                    "reason": reason,
                    "exitCode": code,
                    "killedBy": killed,
                    "startedAt": round((status.started_at or 0) - self.origin, 3),
                    "finishedAt": round(time.monotonic() - self.origin, 3),
                }
                self._set(
                    status,
                    state="Terminated",
                    reason=reason,
                    exit_code=code,
                    ready=False,
                    started=False,
                    last_state=last,
                    finished_at=time.monotonic(),
                    pid=None,
                )
                policy = self.spec.get("restartPolicy", "Always")
                if policy == "Never" or (policy == "OnFailure" and code == 0):
                    _kill_cgroup(self.cgroup / item["name"])
                    return
                if status.restart_count >= self.options.max_restarts:
                    self._set(
                        status,
                        state="Waiting",
                        reason="CrashLoopBackOff",
                        message=f"back-off restarting failed container {item['name']}",
                        gave_up=True,
                    )
                    self._event(
                        status,
                        f"CrashLoopBackOff (restartCount {status.restart_count}); the kubelet"
                        " would go on restarting it, the runner stops here",
                    )
                    return
                delay = BACKOFF[min(status.restart_count, len(BACKOFF) - 1)]
                if delay:
                    self._set(
                        status,
                        state="Waiting",
                        reason="CrashLoopBackOff",
                        message=f"back-off {delay}s restarting failed container",
                    )
                    if self._stop.wait(delay):
                        return
                self._set(status, restart_count=status.restart_count + 1)
                self._event(status, f"restarted (restartCount {status.restart_count})")

    def _watch(
        self,
        item: dict[str, Any],
        status: ContainerStatus,
        process: subprocess.Popen[bytes],
        grace: float,
    ) -> str:
        """Probe a running container until it exits, the pod stops, or a probe kills it.
        Returns what killed it ("" when it exited by itself)."""
        start = time.monotonic()
        probes = {kind: item.get(f"{kind}Probe") for kind in ("startup", "readiness", "liveness")}
        due = {k: start + float(p.get("initialDelaySeconds", 0)) for k, p in probes.items() if p}
        counts = {k: [0, 0] for k in due}  # consecutive successes, failures
        started = probes["startup"] is None
        self._set(status, started=started, ready=probes["readiness"] is None and started)
        health = self._first_200(item, status, process)
        while True:
            if process.poll() is not None:
                health.set()
                return ""
            if self._stop.is_set():
                health.set()
                return ""
            now = time.monotonic()
            for kind, when in sorted(due.items(), key=lambda kv: kv[1]):
                if now < when:
                    continue
                probe = probes[kind]
                assert probe is not None
                due[kind] = when + float(probe.get("periodSeconds", 10))
                if kind != "startup" and not started:
                    continue
                if kind == "startup" and started:
                    continue
                ok, message = self.probe(item, probe, process.pid)
                success, failure = counts[kind]
                counts[kind] = [success + 1, 0] if ok else [0, failure + 1]
                threshold_ok = int(probe.get("successThreshold", 1))
                threshold_fail = int(probe.get("failureThreshold", 3))
                if ok and counts[kind][0] >= threshold_ok:
                    if kind == "startup" and not started:
                        started = True
                        self._set(status, started=True)
                        if probes["readiness"] is None:
                            self._set(status, ready=True, ready_at=time.monotonic())
                    elif kind == "readiness" and not status.ready:
                        self._set(status, ready=True, ready_at=time.monotonic())
                if not ok:
                    if kind == "readiness":
                        if counts[kind][1] >= threshold_fail and status.ready:
                            self._set(status, ready=False)
                            self._event(status, f"Readiness probe failed: {message}")
                        continue
                    name = kind.capitalize()
                    if counts[kind][1] >= threshold_fail:
                        self._event(status, f"{name} probe failed: {message}")
                        self._event(
                            status,
                            f"Container {item['name']} failed {kind} probe, will be restarted",
                        )
                        health.set()
                        self._set(status, ready=False)
                        how = self.stop_container(item["name"], grace)
                        return f"{kind} probe ({how})"
            next_due = min(due.values(), default=now + 1)
            wait = max(0.05, min(0.5, next_due - time.monotonic()))
            if self._stop.wait(wait):
                health.set()
                return ""

    def _first_200(
        self, item: dict[str, Any], status: ContainerStatus, process: subprocess.Popen[bytes]
    ) -> threading.Event:
        """Outside the kubelet's cadence: the first 200 of the probes' HTTP path, polled
        every 0.25 s (how soon the server could have been Ready)."""
        done = threading.Event()
        probe = item.get("readinessProbe") or item.get("startupProbe")
        if not probe or "httpGet" not in probe:
            return done
        get = probe["httpGet"]
        port = self._port(item, get["port"])

        def poll() -> None:
            while not done.is_set() and process.poll() is None:
                connection = http.client.HTTPConnection(sandbox.POD_IP, port, timeout=2)
                try:
                    connection.request("GET", get.get("path", "/"))
                    if connection.getresponse().status == 200:
                        self._set(status, first_200_at=time.monotonic())
                        return
                except OSError:
                    pass
                finally:
                    connection.close()
                done.wait(0.25)

        netns.thread_in(self.netns, poll)
        return done

    def stop(self) -> dict[str, str]:
        """Stop every running container (SIGTERM, then SIGKILL after the grace period), then
        the sandbox. Returns how each container ended."""
        self._stop.set()
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        ended: dict[str, str] = {}
        stoppers = []
        for name in [n for n, p in self._procs.items() if p.poll() is None]:

            def stop_one(name: str = name) -> None:
                ended[name] = self.stop_container(name, grace)

            thread = threading.Thread(target=stop_one, daemon=True)
            thread.start()
            stoppers.append(thread)
        for thread in stoppers:
            thread.join()
        for thread in self._threads:
            thread.join(timeout=10)
        for status in self.statuses.values():
            if status.state == "Running":
                self._set(
                    status,
                    state="Terminated",
                    reason="Completed",
                    ready=False,
                    finished_at=time.monotonic(),
                    pid=None,
                )
        if self.sandbox is not None:
            self.sandbox.stop()
        _remove_cgroup(self.cgroup)
        with self._lock:
            self.phase = "Terminated"
        return ended


# -- helpers ------------------------------------------------------------------------------------

#: Linux capability numbers (linux/capability.h), by the names a securityContext uses.
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def _dropped_caps(ctx: dict[str, Any]) -> list[int]:
    """The capabilities a container's securityContext drops (``ALL`` or by name), less the
    ones it adds back."""
    caps = ctx.get("capabilities") or {}
    names = {str(n).upper().removeprefix("CAP_") for n in caps.get("drop") or []}
    added = {str(n).upper().removeprefix("CAP_") for n in caps.get("add") or []}
    dropped = set(CAPABILITIES) if "ALL" in names else names & set(CAPABILITIES)
    return sorted(CAPABILITIES.index(n) for n in dropped - added)


def _exit_code(returncode: int) -> int:
    """A process's exit code as the runtime reports it: 128 + the signal that ended it."""
    return 128 - returncode if returncode < 0 else returncode


def _own(folder: Path, gid: int, policy: str | None) -> None:
    """fsGroup: the volume's files belong to the group, writable by it, setgid folders."""
    if policy == "OnRootMismatch" and folder.stat().st_gid == gid:
        return
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        os.chown(path, -1, gid)
        mode = path.stat().st_mode
        extra = 0o2070 if path.is_dir() else 0o060
        path.chmod((mode | extra) & 0o7777)


def _kill_cgroup(cgroup: Path) -> None:
    kill = cgroup / "cgroup.kill"
    if not kill.exists():
        return
    try:
        kill.write_text("1")
    except OSError:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if "populated 0" in (cgroup / "cgroup.events").read_text():
                return
        except OSError:
            return
        time.sleep(0.05)


def _remove_cgroup(cgroup: Path) -> None:
    if not cgroup.exists():
        return
    for child in sorted(cgroup.glob("*/"), reverse=True):
        if (child / "cgroup.procs").exists():
            _kill_cgroup(child)
            try:
                child.rmdir()
            except OSError:
                pass
    try:
        cgroup.rmdir()
    except OSError:
        pass


def clean_stale_cgroups() -> None:
    """Cgroups of runners that died without cleaning up (their processes are killed)."""
    base = CGROUP_ROOT / "modelservice-runner"
    if not base.is_dir():
        return
    for pod in base.iterdir():
        if not pod.is_dir():
            continue
        owner = pod.name.split("-", 1)[0]
        if owner.isdigit() and Path(f"/proc/{owner}").exists():
            continue
        _remove_cgroup(pod)


def decode_secret(obj: dict[str, Any]) -> dict[str, bytes]:
    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
    return data
