"""Shared fixtures and helpers: values of a small hub model, render them with the real Helm
engine (manifests and NOTES.txt), check the objects; one API server and one promtool for the
session."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from kube_cluster import Cluster, start_control_plane
from kube_harness import ApiServer, cache_dir, start_apiserver

from modelservice.helm.engine import Rendered, render
from modelservice.k8s import names
from modelservice.k8s import schemas as k8s

#: Every Hypothesis test draws the same examples on every run: `make test` passes or fails on
#: the code, never on the luck of a draw (derandomize seeds each test from its own name; no
#: example database carries draws from one run to the next; no deadline, a render is slow on
#: a busy CI machine). A test's own @settings (max_examples) still applies on top. Search
#: further locally with `pytest --hypothesis-profile=explore`; a failure it finds belongs in
#: an @example.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True, max_examples=100
)
settings.register_profile("explore", deadline=None, max_examples=2000)
settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
# The pod runner (tools/run-release) and its fake hub are importable as `podrunner`.
sys.path.insert(0, str(ROOT / "tools"))
CHART = ROOT / "chart"
EXAMPLES = ROOT / "values-examples"
CASES = ROOT / "tests" / "cases"
#: The hub model of tests that need some model: small, in plan's table, a chat model.
QWEN = "Qwen/Qwen2.5-0.5B-Instruct"

# `helm` on PATH is the cached Helm 4 of `make tools` (tools/test-binaries.sh), so the tests of
# `--engine helm` run everywhere: the suite installs its tools and never skips for a missing one.
os.environ["PATH"] = f"{cache_dir() / 'helm-on-path'}{os.pathsep}{os.environ.get('PATH', '')}"

#: The test files that take minutes, longest first: they run first, so that with a worker per
#: core (`make test`: pytest-xdist, a file per worker) no worker is left with one of them at
#: the end while the others idle.
LONG_FILES = (
    "test_property.py",
    "test_run_release.py",
    "test_lifecycle.py",
    "test_offline_start.py",
    "test_oci_models.py",
    "test_engine_config_vllm.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files first, the rest in their own order (a stable sort)."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def apiserver() -> Iterator[ApiServer]:
    """One real kube-apiserver (with etcd and the CRDs of schemas/crds/) for the whole session;
    ``apiserver.dry_run(objects, namespace)`` gives per object None or the server's message."""
    with start_apiserver() as server:
        yield server


@pytest.fixture(scope="session")
def apiserver_135() -> Iterator[ApiServer]:
    """A second API server, emulating Kubernetes 1.35: the first release that keeps an image
    volume (ImageVolume on by default). Started only by the tests that need it."""
    with start_apiserver(emulated_version="1.35") as server:
        yield server


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """One real control plane for the whole session (tests/kube_cluster.py): its own API
    server, the controller manager, the scheduler, kwok's fake GPU nodes and the
    LeaderWorkerSet controller. Tests seed their own nodes (a pool label each) and volumes."""
    with start_control_plane() as plane:
        yield plane


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus' promtool (tests/promql.py installs it when missing; never a skip)."""
    from promql import installed_promtool

    found = installed_promtool()
    if found is None:
        pytest.fail("promtool is needed: apt-get install prometheus (Debian) or put it on PATH")
    return found


def values(**extra: Any) -> dict[str, Any]:
    """Values of :data:`QWEN` plus the given top-level keys (``model``'s keys are merged)."""
    result: dict[str, Any] = {"model": {"name": QWEN}}
    for key, value in extra.items():
        if key == "model":
            result["model"].update(value)
        else:
            result[key] = value
    return result


#: The API key the chart generates (randAlphaNum 48 | b64enc) when no Secret exists yet.
_GENERATED_KEY = re.compile(
    r"(# Source: modelservice/templates/secret-api-key\.yaml\n(?:.*\n)*?data:\n(?:  .*\n)*?"
    r"  \S+: )[A-Za-z0-9+/]{64}$",
    re.MULTILINE,
)


def generated_key_masked(text: str) -> str:
    """``helm template`` text with the chart's random API key replaced by ``<generated>``: two
    renders are byte-identical but for that key."""
    return _GENERATED_KEY.sub(r"\1<generated>", text)


def render_values(
    values: dict[str, Any], *, release: str = "test", namespace: str = "default"
) -> Rendered:
    """Render values with the embedded Helm engine."""
    return render(CHART, values, release=release, namespace=namespace)


def render_notes(values: dict[str, Any], release: str = "chat", namespace: str = "ai") -> str:
    """NOTES.txt as Helm renders it (helm_python returns it beside the manifests)."""
    import helm_python

    chart = helm_python.Chart.load(str(CHART))
    files = chart.render(values, name=release, namespace=namespace, is_install=True)
    return str(files["modelservice/templates/NOTES.txt"])


def strict_errors(obj: dict[str, Any]) -> list[str]:
    """Strict Kubernetes schema errors of one manifest (built-in kinds only)."""
    try:
        return [f"{path}: {msg}" for path, msg in k8s.iter_object_errors(obj)]
    except LookupError:
        return []


def assert_valid_kubernetes(rendered: Rendered) -> None:
    """Every manifest passes strict validation; labels and extended resources are what an API
    server accepts."""
    for obj in rendered.objects():
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        assert not strict_errors(obj), (where, strict_errors(obj))
        for key, value in (obj.get("metadata", {}).get("labels") or {}).items():
            assert names.label_key_problem(key) is None, (where, key)
            assert names.label_value_problem(value) is None, (where, key, value)
        name = obj["metadata"]["name"]
        assert len(name) <= 253 and names.DNS1123_SUBDOMAIN.match(name), (where, name)
        if obj["kind"] == "Service":
            assert len(name) <= 63 and names.DNS1035_LABEL.match(name), (where, name)


class Objects:
    """Rendered objects looked up by kind."""

    def __init__(self, rendered: Rendered) -> None:
        self.rendered = rendered
        self.all = rendered.objects()

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.all if o.get("kind") == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    @property
    def deployment(self) -> dict[str, Any]:
        """The model server's Deployment (not the endpoint picker's, with routing)."""
        found = [
            o
            for o in self.of_kind("Deployment")
            if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
            != "endpoint-picker"
        ]
        assert len(found) == 1, f"expected one server Deployment, found {len(found)}"
        return found[0]

    @property
    def pod(self) -> dict[str, Any]:
        return self.deployment["spec"]["template"]["spec"]

    @property
    def pods(self) -> list[dict[str, Any]]:
        """Every pod spec of the model server: the Deployment's, or with multiNode the
        LeaderWorkerSet's leader and worker."""
        groups = self.of_kind("LeaderWorkerSet")
        if groups:
            template = groups[0]["spec"]["leaderWorkerTemplate"]
            return [template[role]["spec"] for role in ("leaderTemplate", "workerTemplate")]
        return [self.pod]

    @property
    def server(self) -> dict[str, Any]:
        return next(c for c in self.pod["containers"] if c["name"] == "vllm")

    @property
    def download(self) -> dict[str, Any] | None:
        return next(
            (c for c in self.pod.get("initContainers", []) if c["name"] == "download"), None
        )

    def env(self, container: dict[str, Any] | None = None) -> dict[str, Any]:
        """Env of a container as name -> value (or valueFrom)."""
        container = container or self.server
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.fixture
def objects():
    """Render values and wrap the objects; validates every manifest strictly on the way."""

    def make(values: dict[str, Any], **kwargs: Any) -> Objects:
        rendered = render_values(values, **kwargs)
        assert_valid_kubernetes(rendered)
        return Objects(rendered)

    return make
