"""Checks that the pod starts with everything vLLM reads, and serves what it should.

The init container downloads the model, its tokenizer and the LoRA adapters into the cache,
and the server then runs offline (``HF_HUB_OFFLINE=1``, which vLLM also reads for
ModelScope). So anything else the server would fetch from a hub at startup makes it
crash-loop, and a local model or adapter must be on a volume the pod mounts. Two kinds of
check live here:

- **rules** on the values (``RULES``): LoRA adapters listed coherently, a download that keeps
  the files the engine arguments ask for, runtime adapter loading on an open API;
- **review rules** on the rendered release (``REVIEW_RULES``): engine arguments of the
  rendered server that reach for a hub while it runs offline, model and adapter paths on no
  volume (or on an empty one), an ``existingClaim`` the rendered pod does not mount.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .core.problem import Problem
from .rendered_checks import Finding, _get, _server, pod_specs
from .rules import GPU_IMAGES
from .values.loader import has_path, value_at

if TYPE_CHECKING:
    from .validate import Context

Path_ = tuple[str | int, ...]


# -- rules on the values ------------------------------------------------------------------


def lora_adapters(ctx: Context) -> list[Problem]:
    """Each adapter comes from a hub (``repo``) or a folder (``path``), under a name of its own."""
    adapters = value_at(ctx.merged, ("lora", "adapters")) or []
    served = value_at(ctx.merged, ("model", "servedModelName")) or value_at(
        ctx.merged, ("model", "name")
    )
    problems: list[Problem] = []
    names: dict[str, int] = {}
    for index, adapter in enumerate(adapters):
        if not isinstance(adapter, dict):
            continue
        where = ("lora", "adapters", index)
        repo, path = adapter.get("repo"), adapter.get("path")
        if bool(repo) == bool(path):
            problems.append(
                ctx.problem(
                    where,
                    "an adapter needs either repo (a hub repository the init container "
                    "downloads) or path (a folder on a volume the pod mounts)"
                    + (", not both" if repo else ""),
                    "lora-adapter-source",
                    key=False,
                )
            )
        elif path and (adapter.get("revision") or adapter.get("source")):
            extra = "revision" if adapter.get("revision") else "source"
            problems.append(
                ctx.problem(
                    (*where, extra),
                    f"{extra} is read only for a hub adapter (repo); an adapter at path is "
                    "served as the folder holds it",
                    "lora-adapter-source",
                )
            )
        name = adapter.get("name")
        if not isinstance(name, str):
            continue
        if name in names:
            problems.append(
                ctx.problem(
                    (*where, "name"),
                    f"adapter name {name!r} is taken by lora.adapters[{names[name]}]: clients "
                    "choose an adapter by its name, so each needs its own",
                    "lora-adapter-name",
                    key=False,
                )
            )
        elif name == served:
            problems.append(
                ctx.problem(
                    (*where, "name"),
                    f"adapter name {name!r} is the model's served name: a request for it "
                    "could not say whether it wants the adapter; pick another name",
                    "lora-adapter-name",
                    key=False,
                )
            )
        names.setdefault(name, index)
    return problems


#: Files that vLLM's Mistral formats read (``--load-format/--config-format/--tokenizer-mode
#: mistral``), which a pattern of model.download.exclude could drop.
_MISTRAL_FILES = ("consolidated.safetensors", "params.json", "tekken.json")
_MISTRAL_FLAGS = ("--load-format", "--config-format", "--tokenizer-mode")


def download_patterns(ctx: Context) -> list[Problem]:
    """The download keeps the files the engine arguments make vLLM load."""
    from .vllm.flags import flag_values

    args = value_at(ctx.merged, ("engine", "args")) or []
    found = flag_values(list(args), ctx.merged, ctx.chart)
    mistral = [f for f in _MISTRAL_FLAGS if (found.get(f) or (0, None))[1] == "mistral"]
    if not mistral:
        return []
    problems: list[Problem] = []
    download = value_at(ctx.merged, ("model", "download")) or {}
    for index, pattern in enumerate(download.get("exclude") or []):
        dropped = [f for f in _MISTRAL_FILES if fnmatch.fnmatch(f, str(pattern))]
        if dropped:
            problems.append(
                ctx.problem(
                    ("model", "download", "exclude", index),
                    f"{pattern!r} keeps {', '.join(dropped)} out of the download, but "
                    f"{mistral[0]} mistral makes the offline server read them: set "
                    "model.download.exclude without it (e.g. to the Hugging Face format files "
                    '["model-*.safetensors", "original/*"])',
                    "download-excludes-loaded-files",
                    key=False,
                )
            )
    include = download.get("include") or []
    if include and not any(fnmatch.fnmatch(f, str(p)) for f in _MISTRAL_FILES for p in include):
        problems.append(
            ctx.problem(
                ("model", "download", "include"),
                f"no pattern of model.download.include takes {', '.join(_MISTRAL_FILES)}, "
                f"which {mistral[0]} mistral makes vLLM read offline: add them",
                "download-excludes-loaded-files",
                key=False,
            )
        )
    return problems


def runtime_lora_updates(ctx: Context) -> list[Problem]:
    """Runtime adapter loading on an API without a key lets anyone change what it serves."""
    if not value_at(ctx.merged, ("lora", "runtimeUpdates")):
        return []
    auth = value_at(ctx.merged, ("auth", "apiKey")) or {}
    if auth.get("secretName") or auth.get("create"):
        return []
    return [
        ctx.problem(
            ("lora", "runtimeUpdates"),
            "lora.runtimeUpdates lets any client that reaches the API load an adapter from "
            "any path of the container and replace what a served name answers, and no API "
            "key is set: set auth.apiKey.secretName (or auth.apiKey.create), or turn it off",
            "lora-runtime-updates-open",
            severity="warning",
            key=False,
        )
    ]


def speculative_config(ctx: Context) -> list[Problem]:
    """The draft model and its revision are typed keys: the init container downloads them."""
    config = value_at(ctx.merged, ("speculative", "config")) or {}
    problems: list[Problem] = []
    for key in ("model", "revision"):
        if isinstance(config, dict) and key in config:
            problems.append(
                ctx.problem(
                    ("speculative", "config", key),
                    f"speculative.config.{key} would reach vLLM as is, and the init container "
                    f"would not download it: set speculative.{key} instead (the draft model is "
                    "downloaded with the model and given to vLLM as a folder of the cache)",
                    "speculative-config-model",
                )
            )
    return problems


#: The rules on the merged values (see modelservice.validate).
RULES = (lora_adapters, download_patterns, runtime_lora_updates, speculative_config)


# -- review rules on the rendered release -------------------------------------------------


def _is_hub_id(value: str) -> bool:
    """A value vLLM takes for a hub repository rather than a path: not absolute, no ``~``,
    no ``./`` (vLLM checks a relative path against the working directory, which holds none)."""
    return bool(value) and not value.startswith(("/", "~", "."))


def _offline(container: dict[str, Any]) -> bool:
    return any(
        isinstance(e, dict) and e.get("name") == "HF_HUB_OFFLINE" and e.get("value") == "1"
        for e in container.get("env") or []
    )


def _lora_modules(value: str) -> list[tuple[str, str]]:
    """(name, path) of one ``--lora-modules`` value: ``name=path`` or JSON."""
    if value.startswith(("{", "[")):
        try:
            data = json.loads(value)
        except ValueError:
            return []
        items = data if isinstance(data, list) else [data]
        return [
            (str(i.get("name")), str(i.get("path")))
            for i in items
            if isinstance(i, dict) and i.get("path")
        ]
    name, sep, path = value.partition("=")
    return [(name, path)] if sep else []


def _flag_positions(args: list[str], ctx: Context) -> Iterator[tuple[str, int, list[str]]]:
    """Each known flag of ``args`` with its position and its values (several for nargs +)."""
    from .vllm.flags import flag_index

    index, _ = flag_index(ctx.merged, ctx.chart)
    if index is None:
        return
    i = 0
    while i < len(args):
        token = args[i]
        flag, has_value, value = token.partition("=")
        hit = index.lookup(flag) if token.startswith("-") else None
        if hit is None or hit[1]:
            i += 1
            continue
        name = hit[0]
        spec = index.flags[name]
        if has_value:
            yield name, i, [value]
        elif spec.get("takes_value"):
            values = []
            j = i + 1
            while j < len(args) and not args[j].startswith("-"):
                values.append(args[j])
                j += 1
                if spec.get("nargs") not in ("+", "*"):
                    break
            yield name, i, values
            i = j - 1
        i += 1


def offline_engine_args(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """Arguments that make the server fetch from a hub at startup while it runs offline."""
    server = _server(objects)
    if server is None:
        return
    obj, where, container = server
    if not _offline(container):
        return
    args = [str(a) for a in container.get("args") or []]
    user = [str(a) for a in value_at(ctx.values, ("engine", "args")) or []]
    start = len(args) - len(user)
    if not user or args[start:] != user:
        return
    why = (
        "the server runs offline (HF_HUB_OFFLINE=1) on what the init container downloaded "
        "and would fail at startup"
    )
    for name, position, values in _flag_positions(args[start:], ctx):
        at = (*where, "args", start + position)
        value = values[0] if values else ""
        if name == "--revision":
            yield Finding(
                obj,
                at,
                f"--revision in engine.args asks for a revision the init container did not "
                f"download, and {why}: set model.revision, which the download and the server "
                "both follow",
                "engine-arg-revision",
            )
        elif name == "--download-dir":
            yield Finding(
                obj,
                at,
                "--download-dir makes the server look for the weights outside the cache the "
                f"init container filled (HF_HOME / MODELSCOPE_CACHE under "
                f"persistence.mountPath), and {why}: drop it, and move the cache with "
                "persistence.mountPath instead",
                "engine-arg-download-dir",
            )
        elif name == "--tokenizer" and _is_hub_id(value):
            yield Finding(
                obj,
                at,
                f"--tokenizer {value} names a hub tokenizer the init container does not "
                f"download, and {why}: set model.tokenizer.name, which the download and the "
                "server both follow",
                "engine-arg-tokenizer-from-hub",
            )
        elif name == "--tokenizer-revision":
            yield Finding(
                obj,
                at,
                f"--tokenizer-revision asks for a tokenizer revision the init container did "
                f"not download, and {why}: set model.tokenizer.name and "
                "model.tokenizer.revision, which the download and the server both follow",
                "engine-arg-tokenizer-from-hub",
            )
        elif name == "--lora-modules":
            for adapter, path in (m for v in values for m in _lora_modules(v)):
                if _is_hub_id(path):
                    yield Finding(
                        obj,
                        at,
                        f"--lora-modules {adapter}={path} names a hub adapter the init "
                        f"container does not download, and {why}: list it under lora.adapters "
                        f"as {{name: {adapter}, repo: {path}}}, which the init container "
                        "downloads and the chart serves from the cache",
                        "engine-arg-lora-from-hub",
                    )
                    break
        elif name in ("--speculative-config", "--spec-model"):
            draft: Any = value
            if name == "--speculative-config":
                try:
                    config = json.loads(value)
                except ValueError:
                    continue  # the engine-argument check says why
                draft = config.get("model") if isinstance(config, dict) else None
            if isinstance(draft, str) and _is_hub_id(draft):
                yield Finding(
                    obj,
                    at,
                    f"{name} names the draft model {draft}, a hub repository the init "
                    f"container does not download, and {why}: set speculative.model (and "
                    "speculative.config for the other fields), which the init container "
                    "downloads with the model",
                    "engine-arg-draft-from-hub",
                )


def _mount_of(container: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The volume mount of ``container`` that holds ``path`` (the deepest one)."""
    best: dict[str, Any] | None = None
    for mount in container.get("volumeMounts") or []:
        root = str(mount.get("mountPath") or "").rstrip("/")
        if (path == root or path.startswith(root + "/")) and (
            best is None or len(root) > len(str(best.get("mountPath")).rstrip("/"))
        ):
            best = mount
    return best


def _volume(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next((v for v in spec.get("volumes") or [] if v.get("name") == name), {})


def local_paths(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """A local model or adapter folder lies on a volume the pod mounts, and not on an empty
    one (the cache is an emptyDir without persistence)."""
    server = _server(objects)
    if server is None:
        return
    obj, where, container = server
    spec = _get(obj, ("spec", "template", "spec")) or {}
    stock = bool(GPU_IMAGES.search(str(value_at(ctx.merged, ("image", "repository")) or "")))
    wanted: list[tuple[str, Path_, str]] = []
    if value_at(ctx.merged, ("model", "source")) == "local":
        args = container.get("args") or []
        if args and str(args[0]).startswith("/"):
            wanted.append((str(args[0]), ("model", "path"), "model.path"))
    for index, adapter in enumerate(value_at(ctx.merged, ("lora", "adapters")) or []):
        if isinstance(adapter, dict) and str(adapter.get("path") or "").startswith("/"):
            key = ("lora", "adapters", index, "path")
            wanted.append((str(adapter["path"]), key, f"lora.adapters[{index}].path"))
    for path, key, label in wanted:
        mount = _mount_of(container, path)
        if mount is None:
            mounts = ", ".join(
                m["mountPath"]
                for m in container.get("volumeMounts") or []
                if isinstance(m, dict) and isinstance(m.get("mountPath"), str)
            )
            image = (
                "the vLLM image has no such folder"
                if stock
                else "unless your image holds it, the folder will not exist"
            )
            yield Finding(
                obj,
                (*where, "args", 0),
                f"{label} {path} is on no volume of the pod (it mounts {mounts}) and {image}: "
                "mount the volume that holds it with extraVolumes and extraVolumeMounts, or "
                "put it under persistence.mountPath on a persistent cache",
                "local-path-not-mounted",
                severity="error" if stock else "warning",
                values=key,
            )
            continue
        volume = _volume(spec, str(mount.get("name")))
        if "emptyDir" in volume:
            source = (
                "persistence.enabled is false, so the cache"
                if mount.get("name") == "cache"
                else f"volume {mount.get('name')}"
            )
            yield Finding(
                obj,
                (*where, "args", 0),
                f"{label} {path} is under {mount.get('mountPath')}, and {source} is an "
                "emptyDir, empty when the pod starts: nothing puts the files there; mount a "
                "volume that holds them (persistence.enabled with existingClaim, or "
                "extraVolumes)",
                "local-path-on-empty-volume",
                values=key,
            )


def existing_claim(ctx: Context, objects: list[dict[str, Any]]) -> Iterator[Finding]:
    """persistence.existingClaim names a claim that the rendered pod mounts."""
    claim = value_at(ctx.values, ("persistence", "existingClaim"))
    if not claim or not has_path(ctx.values, ("persistence", "existingClaim")):
        return
    for obj in objects:
        if obj.get("kind") == "Pod":
            continue
        for base, spec in pod_specs(obj):
            claims = {
                _get(v, ("persistentVolumeClaim", "claimName")) for v in spec.get("volumes") or []
            }
            if claim in claims:
                continue
            yield Finding(
                obj,
                (*base, "volumes"),
                f"the claim {claim} is not mounted: with persistence.enabled false the cache "
                "is an emptyDir and existingClaim is ignored, so the pod starts without the "
                "files of the claim; set persistence.enabled: true to mount it",
                "existing-claim-not-mounted",
                values=("persistence", "existingClaim"),
            )


#: The review rules on the rendered release (see modelservice.rendered_checks).
REVIEW_RULES = (offline_engine_args, local_paths, existing_claim)
