"""Rendering with the real Helm engine: in-process (helm-python-sdk) or a ``helm`` binary.

Nothing here re-implements Helm's template language. The embedded engine is Helm's Go SDK
loaded as a native library; the ``helm`` engine runs ``helm template``. Both return the same
:class:`Rendered` list of documents, printed the way ``helm template`` prints them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from ..core.errors import EngineError, UserError

EngineName = Literal["embedded", "helm"]

#: Helm's install order of kinds (pkg/release/v1/util InstallOrder): ``helm template`` prints
#: non-hook manifests in this order, unknown kinds last, hooks after everything. The embedded
#: SDK renders templates to a mapping and offers no sort of its own, so this list is the one
#: fact taken from Helm by hand; tests/test_helm_binaries.py holds it to Helm's: helm3 and
#: helm4 print every example byte-identically to ``render``.
INSTALL_ORDER = [
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
]
_ORDER = {kind: index for index, kind in enumerate(INSTALL_ORDER)}
_KIND = re.compile(r"^kind:\s*[\"']?([A-Za-z0-9]+)", re.MULTILINE)
_HOOK = re.compile(r"^\s+[\"']?helm\.sh/hook[\"']?\s*:", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Document:
    """One rendered Kubernetes manifest and the template it came from."""

    source: str
    text: str

    @property
    def kind(self) -> str:
        match = _KIND.search(self.text)
        return match.group(1) if match else ""

    @property
    def is_hook(self) -> bool:
        return bool(_HOOK.search(self.text))

    def load(self) -> Any:
        """The manifest as data, read the way Kubernetes reads it.

        kubectl, Helm's install and the API server's YAML decoding all go through
        sigs.k8s.io/yaml, and Helm's own values reader is that code. A YAML 1.1 reader
        (PyYAML) reads Helm's output differently wherever Go's marshaller writes a string
        plain: ``a: =`` is a value-key tag PyYAML cannot construct, ``12:30`` would be the
        number 750, ``2001-12-14`` a date, ``<<`` a merge key.
        """
        import helm_python

        try:
            return helm_python.values_from_yaml(self.text)
        except helm_python.HelmError as exc:
            raise EngineError(
                f"{self.source}: not a Kubernetes object: {_first_line(exc)}"
            ) from None


@dataclass(frozen=True)
class Rendered:
    """The manifests of one release, in ``helm template`` order."""

    release: str
    namespace: str
    documents: list[Document]

    def text(self) -> str:
        """The ``helm template`` text: ``---``, a ``# Source:`` line, the manifest."""
        return "".join(f"---\n# Source: {d.source}\n{d.text}\n" for d in self.documents)

    def objects(self) -> list[dict[str, Any]]:
        """Every manifest as data."""
        return [obj for obj in (d.load() for d in self.documents) if obj]


def _order(documents: list[Document]) -> list[Document]:
    """Helm's printing order: non-hooks by install order (stable), then hooks."""
    plain = [d for d in documents if not d.is_hook]
    hooks = [d for d in documents if d.is_hook]
    unknown = len(INSTALL_ORDER)

    def rank(doc: Document) -> tuple[int, str]:
        kind = doc.kind
        return (_ORDER.get(kind, unknown), kind if kind not in _ORDER else "")

    return sorted(plain, key=rank) + hooks


def split_documents(source: str, text: str) -> list[Document]:
    """The non-empty YAML documents of one rendered template file."""
    docs = []
    for chunk in re.split(r"^---[ \t]*$", text, flags=re.MULTILINE):
        body = chunk.strip("\n")
        lines = [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if lines:
            docs.append(Document(source=source, text=body.rstrip() + ""))
    return docs


@cache
def _loaded_chart(path: str) -> Any:
    import helm_python

    helm_python.disable_logging()
    try:
        return helm_python.Chart.load(path)
    except helm_python.HelmError as exc:
        raise UserError(f"{path}: not a Helm chart: {_first_line(exc)}") from None


def load_chart(chart: Path) -> Any:
    """The chart loaded by Helm's SDK, once per directory and process (a command runs against
    one chart; reloading it per values file would cost more than rendering)."""
    if not (chart / "Chart.yaml").is_file():
        raise UserError(f"{chart}: no chart there (no Chart.yaml)")
    return _loaded_chart(str(chart.resolve()))


@cache
def _schemaless_chart(path: str) -> Any:
    import helm_python

    loaded = _loaded_chart(path)
    with tempfile.TemporaryDirectory(prefix="modelservice-") as tmp:
        # Helm writes out the chart it loaded (its .helmignore already applied), and loads
        # it back without the schema: a few milliseconds, no archive.
        saved = Path(loaded.save_dir(tmp))
        (saved / "values.schema.json").unlink(missing_ok=True)
        return helm_python.Chart.load(str(saved))


def schemaless_chart(chart: Path) -> Any:
    """The chart as Helm loaded it, less its values.schema.json (held in memory only).

    Helm's render checks the values against the chart's schema again, compiling the schema on
    every call: most of a render's time. A caller whose values already passed the one schema
    validator of :mod:`modelservice.schema.check` (the same verdict as Helm's, tested on
    generated values by tests/test_schema_agreement.py and tests/test_property.py) renders
    with this copy; the templates, defaults and files are the very ones Helm loaded.
    """
    load_chart(chart)  # the same refusals for a missing or broken chart
    return _schemaless_chart(str(chart.resolve()))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.split()) if text else type(exc).__name__


def validate_release_name(name: str) -> None:
    """Helm's own release name rule (DNS subdomain, at most 53 characters)."""
    import helm_python

    try:
        helm_python.validate_release_name(name)
    except helm_python.HelmError:
        raise UserError(
            f"invalid release name {name!r}: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 53 characters"
        ) from None


def render_embedded(
    chart: Path,
    values: dict[str, Any],
    *,
    release: str,
    namespace: str,
    schema_checked: bool = False,
) -> Rendered:
    """Render in-process with Helm's Go SDK (offline; enforces values.schema.json).

    ``schema_checked`` says the caller has already checked the merged values against the
    chart's schema with :mod:`modelservice.schema.check`; Helm's own second check is then
    skipped (:func:`schemaless_chart`).
    """
    import helm_python

    validate_release_name(release)
    loaded = schemaless_chart(chart) if schema_checked else load_chart(chart)
    try:
        with go_log_silenced():
            files = loaded.render(values, name=release, namespace=namespace, is_install=True)
    except helm_python.HelmError as exc:
        raise EngineError(f"helm: {_engine_message(exc)}") from None
    documents: list[Document] = []
    for source in sorted(files):
        if source.endswith("NOTES.txt"):
            continue
        documents.extend(split_documents(source, files[source]))
    return Rendered(release=release, namespace=namespace, documents=_order(documents))


@contextmanager
def go_log_silenced() -> Iterator[None]:
    """Keep Helm's Go logger off the user's stderr while the SDK runs.

    Helm's values coalescing logs "warning: destination for X is a table..." through Go's
    log package, straight to file descriptor 2, for values of the wrong type; validate says
    the same thing once, at the line in the file, and stderr stays one line per problem.
    """
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def merge_values(chart: Path, values: dict[str, Any]) -> dict[str, Any]:
    """The user's values over the chart's defaults, coalesced by Helm's own code."""
    with go_log_silenced():
        merged: dict[str, Any] = load_chart(chart).merge_values(values)
    return merged


def _engine_message(exc: BaseException) -> str:
    text = str(exc).strip()
    # Helm prefixes template failures with their position; keep the user's message readable.
    match = re.search(r"execution error at \([^)]*\): (.*)", text, flags=re.DOTALL)
    if match:
        return " ".join(match.group(1).split())
    return " ".join(text.split())


def helm_binary() -> str | None:
    """The ``helm`` on PATH, if any."""
    import shutil

    return shutil.which("helm")


def render_helm(
    chart: Path,
    values: dict[str, Any] | None = None,
    *,
    values_file: Path | None = None,
    release: str,
    namespace: str,
    binary: str | None = None,
    kube_version: str | None = None,
) -> Rendered:
    """Render with an external ``helm template`` (Helm 3.x or 4.x): ``binary``, else the
    ``helm`` on PATH; from the values file itself when one is given (Helm reads its own
    text), else from ``values``. ``kube_version`` (``v1.34.0``) is the cluster release Helm
    renders for, and checks the chart's ``kubeVersion`` against; None leaves Helm's default,
    which is older than the chart's floor in Helm before 3.19 (v1.32.0 in 3.17)."""
    import subprocess

    binary = binary or helm_binary()
    if binary is None:
        raise EngineError(
            "--engine helm needs a helm binary on PATH (the embedded engine needs none)"
        )
    validate_release_name(release)
    with tempfile.TemporaryDirectory(prefix="modelservice-") as tmp:
        if values_file is None:
            values_file = Path(tmp) / "values.json"
            values_file.write_text(json.dumps(values or {}), encoding="utf-8")
        command = [
            binary,
            "template",
            release,
            str(chart),
            "--namespace",
            namespace,
            "--values",
            str(values_file),
            *(["--kube-version", kube_version] if kube_version else []),
        ]
        env = {**os.environ, "HELM_NO_PLUGINS": "1"}
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        message = proc.stderr.strip().removeprefix("Error: ")
        raise EngineError(f"helm: {_engine_message(RuntimeError(message))}")
    documents: list[Document] = []
    for chunk in re.split(r"^---[ \t]*$", proc.stdout, flags=re.MULTILINE):
        match = _SOURCE.search(chunk)
        if not match:
            continue
        body = _SOURCE.sub("", chunk, count=1).strip("\n")
        documents.extend(split_documents(match.group(1).strip(), body))
    return Rendered(release=release, namespace=namespace, documents=documents)


def render(
    chart: Path,
    values: dict[str, Any],
    *,
    release: str,
    namespace: str = "default",
    engine: EngineName = "embedded",
    schema_checked: bool = False,
) -> Rendered:
    """Render ``values`` with the chosen engine (``schema_checked``: see
    :func:`render_embedded`)."""
    if engine == "helm":
        return render_helm(chart, values, release=release, namespace=namespace)
    return render_embedded(
        chart, values, release=release, namespace=namespace, schema_checked=schema_checked
    )


def release_name_for(file: str) -> str:
    """A valid release name from a values file's name (``Qwen2.5_7B.yaml`` -> ``qwen2-5-7b``).

    A leading digit is kept (``7b-chat.yaml`` -> ``7b-chat``): Helm accepts it as a release
    name, and the chart makes every object name a DNS-1035 label on its own (Service
    ``m-7b-chat-modelservice``), as it must for a release named by hand.
    """
    stem = Path(file).name
    for suffix in (".yaml", ".yml", ".json"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    name = re.sub(r"[^a-z0-9-]+", "-", stem.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-")[:53].strip("-")
    return name or "modelservice"
