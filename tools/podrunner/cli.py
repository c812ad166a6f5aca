"""tools/run-release: a release started end to end on this machine, as its kubelet would start it.

    tools/run-release VALUES [--release NAME] [--namespace NS] [--set KEY=VALUE]...
                      [--claim NAME=DIR]... [--model-at PATH] [--secrets FILE] [--keep]

1. The values (plus ``--set``, plus the mirror keys pointed at the fake hub) are validated and
   rendered by the toolkit (``modelservice validate``, ``modelservice render``: the embedded
   Helm engine).
2. The server pod of the workload the chart rendered runs as the kubelet runs it
   (podrunner/kubelet.py): init containers, then the server, each in its own mount namespace
   in the pod's own network, with the rendered mounts, env, command and probes. Images are
   replaced by the matching local programs (podrunner/images.py), the list printed once.
3. The fake hub serves tiny generated models under the repository ids the release names,
   inside the pod's network, reached only through the release's own mirror keys.
4. Once the pod is Ready, each ``helm test`` pod's exact command runs against the Service.

Exit 0 when the pod is Ready and every test pod succeeded; 1 when the release fails as a user
would see it fail (the reason, and the log that says why); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from . import images, kubelet, sandbox, tiny_models, vllm_cpu
from .fake_hub import FakeHub, Repo
from .oci import PORT as REGISTRY_PORT
from .oci import ModelRegistry
from .release import (
    ReleaseError,
    Rendered,
    downloads,
    helm_values,
    merge,
    namespace_of,
    release_of,
    render,
    set_values,
    validate,
)

#: The fake hub's port on the pod's own 127.0.0.1 (another when a container port takes it).
HUB_PORT = 18080
READY_TIMEOUT = 900.0
TEST_TIMEOUT = 300.0
CLASSIFIER_PATHS = ("/v1/score", "/v1/rerank", "/classify")


_print_lock = threading.Lock()


def log(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tools/run-release",
        description="Start a release's server pod on this machine as its kubelet would, on "
        "vLLM's CPU build with a tiny model from a fake hub, then run its helm test.",
    )
    parser.add_argument("values", type=Path, help="values file")
    parser.add_argument("--release", help="release name (default: the file name)")
    parser.add_argument("--namespace", default="default", help="release namespace")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value, as helm --set reads it (repeatable)",
    )
    parser.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="back the PersistentVolumeClaim NAME by DIR (repeatable)",
    )
    parser.add_argument(
        "--model-at",
        metavar="PATH",
        help="put the tiny model at PATH, a path inside the server container "
        "on one of its volumes (default for a local model: model.path, when "
        "nothing is there yet)",
    )
    parser.add_argument(
        "--secrets",
        type=Path,
        metavar="FILE",
        help="Secrets (and ConfigMaps) of the namespace, as manifests: used "
        "instead of generated ones",
    )
    parser.add_argument(
        "--no-generated-secrets",
        action="store_true",
        help="generate no Secret the release reads but does not create",
    )
    parser.add_argument(
        "--hub-down",
        action="store_true",
        help="do not start the fake hub: its endpoint refuses connections",
    )
    parser.add_argument(
        "--hub-lacks",
        action="append",
        default=[],
        metavar="REPO",
        help="the hub answers as for a repository it does not have",
    )
    parser.add_argument(
        "--hub-padding",
        type=float,
        default=0,
        metavar="MB",
        help="add a file of MB megabytes the server never reads to the model's repository "
        "(bench/bench_cold_start.py: a download of real size)",
    )
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=1,
        metavar="N",
        help="give up once a container restarted N times (default 1)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=READY_TIMEOUT,
        metavar="SECONDS",
        help=f"give up when the pod is not Ready by then (default {READY_TIMEOUT:g})",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the pod serving after the tests, until SIGINT or SIGTERM",
    )
    parser.add_argument(
        "--status",
        type=Path,
        metavar="FILE",
        help="write the run's state as JSON to FILE at every stage",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where claims persist between runs (default ~/.cache/modelservice/run-release)",
    )
    parser.add_argument(
        "--chart", type=Path, metavar="DIR", help="chart folder (default: the toolkit's chart)"
    )
    return parser.parse_args(argv)


class Run:
    """One run of the runner: the stages, the report, the status file."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stop_requested = threading.Event()
        self.status: dict[str, Any] = {"stage": "starting"}
        self.tmp = Path(tempfile.mkdtemp(prefix="run-release-"))
        self.pods: list[kubelet.Pod] = []
        self.hub: FakeHub | None = None
        self.registry: ModelRegistry | None = None
        self.proxies: list[sandbox.ServiceProxy] = []
        self.clients: list[sandbox.Sandbox] = []
        self.endpoint_ready = threading.Event()

    def write_status(self, **changes: Any) -> None:
        self.status.update(changes)
        self.status["pods"] = [pod.status() for pod in self.pods]
        if self.hub is not None:
            self.status["hub"] = {
                "requests": len(self.hub.requests),
                "servedBytes": self.hub.served_bytes,
                # Which credentials reached the hub, as digests: a test compares them with the
                # digest of the token it gave; nothing here prints a secret.
                "authorizationDigests": sorted(
                    {hashlib.sha256(a.encode()).hexdigest() for a in self.hub.authorizations if a}
                ),
                "unauthorized": [
                    " ".join(r)
                    for r, a in zip(self.hub.requests, self.hub.authorizations, strict=True)
                    if not a
                ],
            }
        if self.args.status:
            tmp = self.args.status.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.status, indent=2), encoding="utf-8")
            tmp.replace(self.args.status)

    # -- stages ---------------------------------------------------------------------------

    def values(self) -> tuple[dict[str, Any], str]:
        """The user's values, --set on top, then the mirror keys at the fake hub."""
        text = self.args.values.read_text(encoding="utf-8")
        values = helm_values(text)
        for expression in self.args.set:
            values = merge(values, set_values(expression))
        ports = {
            (values.get("engine") or {}).get("port", 8000),
            (values.get("service") or {}).get("port", 8000),
        }
        port = HUB_PORT
        while port in ports:
            port += 1
        url = f"http://127.0.0.1:{port}"
        for key in ("huggingface", "modelscope"):
            before = ((values.get(key) or {}).get("endpoint")) or "(the public hub)"
            log(f"  {key}.endpoint: {before} -> {url} (the fake hub, on the pod's own 127.0.0.1)")
        values = merge(values, {"huggingface": {"endpoint": url}, "modelscope": {"endpoint": url}})
        return values, url

    def execute(self) -> int:
        args = self.args
        log(f"run-release: {args.values} in namespace {args.namespace}")
        venv = vllm_cpu.ensure(log)
        tiny = tiny_models.ensure(vllm_cpu.cache_dir(), venv / "bin" / "python")
        try:
            validate(args.values, args.chart)
        except ReleaseError as exc:
            print(exc, file=sys.stderr)
            return 1
        log("values (the runner's changes, as a user sets a mirror):")
        values, hub_url = self.values()
        values = self._oci_values(values, tiny)
        # Under the file's own name: without --release, `render` names the release after it,
        # as it would the user's file.
        merged = self.tmp / "values" / args.values.name
        merged.parent.mkdir()
        merged.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
        try:
            objects = render(merged, args.release, args.namespace, args.chart)
            release = release_of(objects)
            rendered = Rendered(release, args.namespace, objects)
        except ReleaseError as exc:
            print(f"{exc}\n(values: {args.values} with --set and the mirror keys)", file=sys.stderr)
            return 1
        log(f"release {release}")
        if rendered.workload["kind"] == "LeaderWorkerSet":
            size = int(rendered.workload["spec"]["leaderWorkerTemplate"].get("size", 1))
            if size > 1:
                print(
                    f"run-release: {rendered.server.owner} is a group of {size} pods: the runner "
                    "starts one pod, and a leader waits for its workers forever (multi-node is "
                    "not run here: docs/development.md, 'The pod runner')",
                    file=sys.stderr,
                )
                return 1
        provided = []
        if args.secrets:
            provided = [d for d in yaml.safe_load_all(args.secrets.read_text()) if d]
        ns, generated = namespace_of(rendered, provided, not args.no_generated_secrets)
        server = rendered.server_container()
        tests = rendered.test_pods()
        stand_ins = {
            server["image"]: images.vllm_stand_in(
                server["image"], venv, self._wrappers(venv), vllm_cpu.VERSION
            )
        }
        for pod in tests:
            for item in pod.spec["containers"]:
                stand_ins.setdefault(item["image"], images.curl_stand_in(item["image"]))
        for item in rendered.server.spec.get("initContainers") or []:
            if item["name"] == "pull-model" and item["image"] not in stand_ins:
                oras = vllm_cpu.cache_dir() / "bin" / "oras"
                stand_ins[item["image"]] = images.oras_stand_in(
                    item["image"], oras, self.tmp / "oras-bin"
                )
        cpu_args, cpu_env = images.cpu_additions(world_size(server.get("args") or []))
        log("images (the only substitutions):")
        for image, stand_in in stand_ins.items():
            log(f"  {image} -> {stand_in.description}")
        limits = (server.get("resources") or {}).get("limits") or {}
        devices = {
            k: v for k, v in limits.items() if k not in ("cpu", "memory", "ephemeral-storage")
        }
        if devices or rendered.server.spec.get("runtimeClassName"):
            shown = ", ".join(f"{k}: {v}" for k, v in devices.items())
            runtime = rendered.server.spec.get("runtimeClassName")
            log(
                f"  devices {shown or '-'} and runtimeClassName {runtime or '-'}"
                " -> this machine's CPU"
            )
        log(
            f"CPU-only additions (server container): args {' '.join(cpu_args)}; image env "
            + ", ".join(f"{k}={v}" for k, v in cpu_env.items())
        )
        for line in generated:
            log(f"secret {line}: generated for this run (not printed; --secrets FILE to choose)")

        # The hub's repositories: what the init container downloads, and what a server that
        # downloads by itself names.
        repos = self._repos(rendered, values, tiny)
        self.hub = FakeHub(repos, missing=set(args.hub_lacks))
        if repos:
            log("fake hub serves:")
            for repo_id, repo in repos.items():
                kind = getattr(repo, "kind", "")
                gone = " (answers: not found)" if repo_id in self.hub.missing else ""
                log(f"  {repo_id}@{repo.revision}: {tiny_models.describe(tiny, kind)}{gone}")

        claims = {}
        for item in args.claim:
            name, _, folder = item.partition("=")
            claims[name] = Path(folder).resolve()
        state = args.state_dir or vllm_cpu.cache_dir() / "run-release"
        options = kubelet.Options(
            images=stand_ins,
            cpu_args=cpu_args,
            cpu_env=cpu_env,
            claims=claims,
            claims_root=state / "claims",
            logs=state / "logs" / args.namespace / release,
            max_restarts=args.max_restarts,
        )
        shutil.rmtree(options.logs, ignore_errors=True)
        log(f"logs: {options.logs}/POD/CONTAINER/RESTART.log")
        self._check_service(rendered)
        pod = kubelet.Pod(
            rendered.server, ns, self.tmp / "pods" / rendered.server.name, options, log
        )
        self.pods.append(pod)
        log(f"pod {rendered.server.name} ({rendered.server.owner})")
        try:
            pod.start()
        except kubelet.ConfigError as exc:
            log(f"pod {rendered.server.name}: {exc}")
            return 1
        self._place_local_models(pod, rendered, values, tiny)
        if not args.hub_down:
            self.hub.start("127.0.0.1", int(hub_url.rsplit(":", 1)[1]), netns=pod.netns)
        if self.registry is not None and not args.hub_down:
            assert pod.netns is not None
            self.registry.start(pod.netns, REGISTRY_PORT)
        self.write_status(stage="init", netns=pod.netns, hubUrl=hub_url)

        started = time.monotonic()
        if not pod.run_init_containers():
            return self._failed(pod, "init")
        init_seconds = time.monotonic() - started
        for status in pod.statuses.values():
            if status.init:
                log(f"  init {status.name}: Completed in {init_seconds:.1f} s")
        if pod.spec.get("initContainers"):
            served = self.hub.served_bytes
            rate = served / init_seconds / 1e6 if init_seconds else 0
            if self.registry is None or served:
                log(
                    f"  downloaded {served / 1e6:.2f} MB from the hub in {init_seconds:.1f} s"
                    f" ({rate:.2f} MB/s)"
                )
            if self.registry is not None:
                log(
                    f"  pulled the model ({self.registry.pushed_bytes / 1e6:.2f} MB) from the "
                    f"registry by digest in {init_seconds:.1f} s"
                )
        self.status["init"] = {
            "seconds": round(init_seconds, 3),
            "bytes": self.hub.served_bytes,
            "hubRequests": len(self.hub.requests),
        }

        pod.start_containers()
        self.write_status(stage="starting-server")
        done = pod.wait(
            lambda: pod.ready or self._broken(pod) or self.stop_requested.is_set(), args.timeout
        )
        if not pod.ready:
            if self.stop_requested.is_set():
                return 1
            return self._failed(pod, "server" if done else "timeout")
        self.endpoint_ready.set()
        self.status["hubRequestsAtReady"] = len(self.hub.requests)
        self._report_ready(pod)
        self.write_status(stage="tests")

        ok = self._run_tests(tests, ns, options, pod, rendered)
        if not ok:
            return self._failed(pod, "test")
        if args.keep:
            # A client pod's network: the Services by their cluster IPs, as for any other pod.
            client = sandbox.Sandbox().start()
            self.clients.append(client)
            self._start_proxies(rendered, pod, client.netns)
            ips = ", ".join(f"{name} {ip}" for name, ip in ns.service_ips.items())
            self.write_status(clientNetns=client.netns, serviceIPs=ns.service_ips)
            log(
                f"serving: the server pod's network: nsenter --net={pod.netns} "
                f"(the pod is {sandbox.POD_IP}); a client pod's network: nsenter "
                f"--net={client.netns} (Services: {ips}); SIGINT or SIGTERM stops it"
            )
        self.write_status(stage="serving")
        if args.keep:
            while not self.stop_requested.wait(1):
                if self._broken(pod):
                    return self._failed(pod, "server")
        return 0

    # -- pieces ---------------------------------------------------------------------------

    def _oci_values(self, values: dict[str, Any], tiny: Path) -> dict[str, Any]:
        """A model from an OCI registry (mode pull): the tiny model pushed by `modelservice
        push-model` into a registry the pod reaches on its own 127.0.0.1, and the reference
        pointed there (its repository path and tag kept; a digest becomes the pushed one)."""
        model = values.get("model") or {}
        oci = model.get("oci") or {}
        if model.get("source") != "oci" or oci.get("mode") == "imageVolume":
            return values
        reference = str(oci.get("reference") or "")
        rest = reference.split("/", 1)[1] if "/" in reference else "models/tiny"
        repository, _, digest = rest.partition("@")
        tag = "latest"
        if ":" in repository.rsplit("/", 1)[-1]:
            repository, tag = repository.rsplit(":", 1)
        endpoint = ((values.get("tests") or {}).get("endpoint")) or ""
        kind = "classifier" if endpoint in ("score", "rerank", "classify") else "causal"
        self.registry = ModelRegistry(self.tmp / "registry")
        pushed = self.registry.push(tiny / kind, repository, tag)
        host = f"127.0.0.1:{REGISTRY_PORT}"
        new = f"{host}/{repository}@{pushed}" if digest else f"{host}/{repository}:{tag}"
        log(
            f"  model.oci.reference: {reference or '(none)'} -> {new} (the "
            f"{tiny_models.describe(tiny, kind)}, pushed by modelservice push-model into a "
            "registry on the pod's own 127.0.0.1)"
        )
        log("  model.oci.plainHTTP: -> true (that registry speaks plain HTTP)")
        return merge(values, {"model": {"oci": {"reference": new, "plainHTTP": True}}})

    def _wrappers(self, venv: Path) -> Path:
        folder = self.tmp / "image-bin"
        images.write_wrappers(venv, folder)
        return folder

    def _repos(self, rendered: Rendered, values: dict[str, Any], tiny: Path) -> dict[str, Repo]:
        server = rendered.server_container()
        pod_spec = rendered.server.spec
        init = next(iter(pod_spec.get("initContainers") or []), None)
        adapters = {a.get("repo") for a in ((values.get("lora") or {}).get("adapters") or [])}
        model_kind = self._model_kind(rendered)
        wanted: dict[str, tuple[str, str | None]] = {}
        for tool, repo_id, revision, _ in downloads(init):
            wanted[repo_id] = (tool, revision)
        args = server.get("args") or []
        source = ((values.get("model") or {}).get("source")) or "huggingface"
        if args and source != "local" and not args[0].startswith("/"):
            tool = "modelscope" if source == "modelscope" else "hf"
            wanted.setdefault(args[0], (tool, None))
        repos: dict[str, Repo] = {}
        for repo_id, (tool, revision) in wanted.items():
            kind = "lora" if repo_id in adapters else model_kind
            default = "master" if tool == "modelscope" else "main"
            if revision and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
                repo = Repo(tiny_models.files(tiny, kind), revision=default, commit=revision)
            else:
                repo = Repo(tiny_models.files(tiny, kind), revision=revision or default)
            repo.kind = kind  # type: ignore[attr-defined]
            if kind != "lora" and self.args.hub_padding and args and repo_id == args[0]:
                repo.files["extra/padding.dat"] = os.urandom(int(self.args.hub_padding * 1e6))
                repo.commit = ""
                repo.__post_init__()
            repos[repo_id] = repo
        return repos

    @staticmethod
    def _model_kind(rendered: Rendered) -> str:
        for pod in rendered.test_pods():
            for item in pod.spec["containers"]:
                for env in item.get("env") or []:
                    if env["name"] == "API_PATH" and env.get("value") in CLASSIFIER_PATHS:
                        return "classifier"
        return "causal"

    def _place_local_models(
        self, pod: kubelet.Pod, rendered: Rendered, values: dict[str, Any], tiny: Path
    ) -> None:
        """A local model (and local LoRA adapters) where the values say they lie: the tiny
        model goes there when nothing is there yet, or at --model-at."""
        server = rendered.server_container()
        places: list[tuple[str, str]] = []
        model = values.get("model") or {}
        if self.args.model_at:
            places.append((self.args.model_at, self._model_kind(rendered)))
        elif model.get("source") == "local" and (server.get("args") or [None])[0]:
            places.append((server["args"][0], self._model_kind(rendered)))
        for adapter in (values.get("lora") or {}).get("adapters") or []:
            if adapter.get("path"):
                places.append((adapter["path"], "lora"))
        for inside, kind in places:
            host = self._host_path(pod, server, inside)
            if host is None:
                raise SystemExit(f"run-release: {inside} is on no volume of the server container")
            if host.is_dir() and any(host.iterdir()) and not self.args.model_at:
                log(f"  {inside}: found in {host}")
                continue
            shutil.copytree(tiny / kind, host, dirs_exist_ok=True)
            log(f"  {inside}: put the {tiny_models.describe(tiny, kind)} there ({host})")

    @staticmethod
    def _host_path(pod: kubelet.Pod, container: dict[str, Any], inside: str) -> Path | None:
        best = None
        for mount in pod.container_mounts(container):
            target = mount["target"].rstrip("/") or "/"
            if inside == target or inside.startswith(target + "/"):
                if best is None or len(target) > len(best[0]):
                    best = (target, Path(mount["source"]))
        if best is None:
            return None
        rest = inside[len(best[0]) :].lstrip("/")
        return best[1] / rest if rest else best[1]

    def _check_service(self, rendered: Rendered) -> None:
        """The Service must select the server pod and its targetPort must name a port of it."""
        server = rendered.server_container()
        for service in rendered.services():
            name = service["metadata"]["name"]
            selector = service.get("spec", {}).get("selector") or {}
            if any(rendered.server.labels.get(k) != v for k, v in selector.items()):
                raise SystemExit(
                    f"run-release: Service {name} selects {selector}, which the server pod's "
                    f"labels {rendered.server.labels} do not match: it has no endpoints"
                )
            for port in service.get("spec", {}).get("ports") or []:
                target = port.get("targetPort", port["port"])
                try:
                    number = _target_port(server, port)
                except kubelet.ConfigError:
                    raise SystemExit(
                        f"run-release: Service {name} port {port['port']} targets {target!r}, "
                        f"which names no port of container {server['name']}"
                    ) from None
                log(f"service {name}:{port['port']} -> targetPort {target} ({number})")

    def _start_proxies(self, rendered: Rendered, server_pod: kubelet.Pod, client: str) -> None:
        """The release's Services in a client pod's network, forwarding to the server pod."""
        server = rendered.server_container()
        assert server_pod.netns is not None
        for service in rendered.services():
            ip = server_pod.ns.service_ips.get(service["metadata"]["name"])
            if ip is None:
                continue
            for port in service["spec"].get("ports") or []:
                target = _target_port(server, port)
                proxy = sandbox.ServiceProxy(
                    client, ip, int(port["port"]), server_pod.netns, target
                )
                proxy.ready = self.endpoint_ready
                self.proxies.append(proxy.start())

    @staticmethod
    def _broken(pod: kubelet.Pod) -> bool:
        return any(
            (s.reason == "CreateContainerConfigError" or s.gave_up) and not s.init
            for s in pod.statuses.values()
        )

    def _report_ready(self, pod: kubelet.Pod) -> None:
        for status in pod.statuses.values():
            if status.init or status.started_at is None:
                continue
            start = status.started_at
            ready = (status.ready_at or start) - start
            first = f"{status.first_200_at - start:.1f} s" if status.first_200_at else "-"
            log(
                f"  {status.name}: Ready {ready:.1f} s after start (kubelet cadence); "
                f"first 200 from /health at {first}; restartCount {status.restart_count}"
            )
            self.status.setdefault("server", {})[status.name] = {
                "readySeconds": round(ready, 3),
                "first200Seconds": round(status.first_200_at - start, 3)
                if status.first_200_at
                else None,
                "restartCount": status.restart_count,
            }

    def _run_tests(
        self,
        tests: list[kubelet.PodObject],
        ns: kubelet.Namespace,
        options: kubelet.Options,
        server: kubelet.Pod,
        rendered: Rendered,
    ) -> bool:
        """Each helm test pod in its own network, where the Services lead to the server pod."""
        for test in tests:
            pod = kubelet.Pod(test, ns, self.tmp / "pods" / test.name, options, log)
            self.pods.append(pod)
            started = time.monotonic()
            try:
                pod.start()
            except kubelet.ConfigError as exc:
                log(f"helm test {test.name}: {exc}")
                return False
            assert pod.netns is not None
            self._start_proxies(rendered, server, pod.netns)
            pod.start_containers()
            pod.wait(
                lambda pod=pod: (
                    all(s.state != "Running" and s.started_at for s in pod.statuses.values())
                    or self._broken(pod)
                ),
                TEST_TIMEOUT,
            )
            pod.stop()
            codes = [s.exit_code for s in pod.statuses.values()]
            seconds = time.monotonic() - started
            if codes and all(code == 0 for code in codes):
                log(f"helm test {test.name}: Succeeded in {seconds:.1f} s")
                self.status.setdefault("tests", {})[test.name] = "Succeeded"
                continue
            self.status.setdefault("tests", {})[test.name] = "Failed"
            log(f"helm test {test.name}: Failed")
            for status in pod.statuses.values():
                if status.log:
                    log(_tail(status.log))
                if status.message:
                    log(f"  {status.name}: {status.reason}: {status.message}")
            return False
        return True

    def _failed(self, pod: kubelet.Pod, where: str) -> int:
        pod_status = pod.status()
        if where == "init":
            failed = next(
                (
                    s
                    for s in pod.statuses.values()
                    if s.init and (s.exit_code or s.reason == "CreateContainerConfigError")
                ),
                None,
            )
            reason = pod.reason or "Init:Error"
            log(f"pod {pod.pod.name}: {reason}")
            if failed is not None and failed.log:
                log(f"  init container {failed.name} exited {failed.exit_code}; its log:")
                log(_tail(failed.log))
            log("  the server never started")
        elif where == "timeout":
            log(f"pod {pod.pod.name}: not Ready after {self.args.timeout:g} s")
        elif where == "test":
            log(f"pod {pod.pod.name}: Ready, but its helm test failed")
        else:
            for status in pod.statuses.values():
                if status.init:
                    continue
                log(
                    f"pod {pod.pod.name}: {status.name} {status.reason or status.state}"
                    f" (restartCount {status.restart_count})"
                    + (f": {status.message}" if status.message else "")
                )
                if status.last_state:
                    last = status.last_state
                    log(
                        f"  last state: Terminated ({last['reason']}, exit code {last['exitCode']})"
                        + (f", killed by the {last['killedBy']}" if last.get("killedBy") else "")
                    )
                if status.log:
                    cause = _first_error(status.log)
                    if cause:
                        log(f"  the first error in its log: {cause}")
                    log(_tail(status.log))
        self.write_status(stage="failed", failure=where, podStatus=pod_status)
        return 1

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.stop()
        for client in self.clients:
            client.stop()
        for pod in reversed(self.pods):
            if pod.phase == "Terminated":
                continue
            started = time.monotonic()
            ended = pod.stop()
            for name, how in ended.items():
                log(f"stopped {pod.pod.name}/{name} in {time.monotonic() - started:.1f} s ({how})")
        if self.hub is not None:
            self.hub.stop()
        if self.registry is not None:
            self.registry.stop()
        self.write_status(
            stage=self.status.get("stage") if self.status.get("stage") == "failed" else "stopped"
        )
        shutil.rmtree(self.tmp, ignore_errors=True)


def world_size(args: list[str]) -> int:
    """Tensor x pipeline parallel size of a rendered command line (the chart renders each flag
    and its value as two items; ``--flag=value`` is read too)."""
    sizes = {"--tensor-parallel-size": 1, "--pipeline-parallel-size": 1}
    for index, word in enumerate(args):
        flag, _, value = word.partition("=")
        if flag in sizes:
            if not value and index + 1 < len(args):
                value = args[index + 1]
            if value.isdigit():
                sizes[flag] = int(value)
    return sizes["--tensor-parallel-size"] * sizes["--pipeline-parallel-size"]


def _target_port(container: dict[str, Any], port: dict[str, Any]) -> int:
    """A Service port's targetPort as a number: by name among the container's ports."""
    target = port.get("targetPort", port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for item in container.get("ports") or []:
        if item.get("name") == target:
            return int(item["containerPort"])
    raise kubelet.ConfigError(f"targetPort {target!r} names no port of {container['name']}")


#: A line that is an exception, bare (a traceback's last line) or behind vLLM's log prefix.
_ERROR = re.compile(
    r"^(?:\([^)]*\) ERROR [^\]]*\] )?((?:[a-z_]\w*\.)*[A-Z]\w*(?:Error|Exception): .+)"
    r"((?:\n {2}\S.*)?)$",
    re.MULTILINE,
)


def _first_error(path: str) -> str:
    """The first ``SomethingError: message`` of a log: usually the root cause, where the last
    lines show only how the failure travelled up."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    match = _ERROR.search(text)
    return " ".join(part.strip() for part in match.groups() if part) if match else ""


def _tail(path: str, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"    | {line}" for line in text[-lines:])


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if os.geteuid() != 0:
        print(
            "run-release: needs root (namespaces, mounts, cgroups), as a kubelet does",
            file=sys.stderr,
        )
        return 2
    if not args.values.is_file():
        print(f"run-release: {args.values}: no such file", file=sys.stderr)
        return 2
    kubelet.clean_stale_cgroups()
    run = Run(args)

    def on_signal(signum: int, frame: object) -> None:
        run.stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        code = run.execute()
    except (ReleaseError, kubelet.ConfigError, RuntimeError, FileNotFoundError) as exc:
        print(f"run-release: {exc}", file=sys.stderr)
        code = 1
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        code = 1
    finally:
        run.close()
    return code
