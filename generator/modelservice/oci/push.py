"""``modelservice push-model``: a model into an OCI registry, as a ModelPack artifact (or an image).

The model comes from a local folder, from a hub (Hugging Face or ModelScope, through the mirror
and the file patterns a values file gives, with the token of the environment), downloaded into
``~/.cache/modelservice/push-model/`` and resumed where an earlier run stopped. Each file becomes
one layer:

- ``artifact`` (the default): a CNCF ModelPack artifact (``application/vnd.cncf.model.manifest.v1+
  json``), one raw layer per file (weights, weight config, docs, code media types), annotated with
  its path (``org.cncf.model.filepath``, and the ``org.opencontainers.image.title`` ORAS writes
  files by); what ``model.oci.mode: pull`` pulls.
- ``image``: an OCI image (one tar layer per file, under ``model/``), which a container runtime
  can mount as an image volume (``model.oci.mode: imageVolume``, ``subPath: model``).

Blobs the registry holds already are not sent again; a blob cut off in the middle is resumed
where the registry says it stopped (the upload URL is kept in the cache). Nothing about the
run (no time stamp) enters the manifest: the same files give the same digest.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from ..core.errors import UserError
from .media import (
    ARTIFACT_TYPE,
    CODE,
    DOC,
    FILEPATH,
    IMAGE_CONFIG,
    IMAGE_LAYER,
    MANIFEST,
    MODEL_CONFIG,
    TITLE,
    WEIGHT,
    WEIGHT_CONFIG,
)
from .registry import Reference, Registry, sha256_of

#: The folder an image's layers put the model in (model.oci.subPath: model).
IMAGE_ROOT = "model"
WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.h5", "*.msgpack", "*.onnx")
DOCS = ("README*", "LICENSE*", "*.md", "NOTICE*")
Kind = Literal["artifact", "image"]
Progress = Callable[[str, int, int], None]
HUB_TIMEOUT = 60


def cache_root() -> Path:
    base = os.environ.get("MODELSERVICE_CACHE") or Path.home() / ".cache" / "modelservice"
    return Path(base) / "push-model"


def media_type(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatch(name, p) for p in WEIGHTS):
        return WEIGHT
    if any(fnmatch.fnmatch(name, p) for p in DOCS):
        return DOC
    if name.endswith(".py"):
        return CODE
    return WEIGHT_CONFIG


# -- sources ------------------------------------------------------------------------------------


@dataclass
class Source:
    """Where the model comes from, as the command line and a values file say."""

    kind: Literal["folder", "huggingface", "modelscope"]
    name: str
    revision: str | None = None
    folder: Path | None = None
    endpoint: str | None = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        if self.kind == "folder":
            return ""
        default = (
            "https://www.modelscope.cn" if self.kind == "modelscope" else "https://huggingface.co"
        )
        return f"{(self.endpoint or default).rstrip('/')}/{self.name}"


def chart_excludes() -> list[str]:
    """The files the chart's download skips by default (chart/values.yaml)."""
    import yaml

    from ..core.paths import chart_dir

    values = yaml.safe_load((chart_dir() / "values.yaml").read_text(encoding="utf-8"))
    return list(values["model"]["download"]["exclude"])


def source_of(text: str) -> Source:
    """A folder, ``hf://ORG/NAME[@REVISION]``, ``modelscope://ORG/NAME[@REVISION]``, or a values
    file (its model, the mirror of its hub, its download patterns)."""
    for scheme, kind in (("hf://", "huggingface"), ("modelscope://", "modelscope")):
        if text.startswith(scheme):
            repo, _, revision = text.removeprefix(scheme).partition("@")
            if not repo:
                raise UserError(f"{text!r}: name the repository, {scheme}ORG/NAME[@REVISION]")
            env = "MODELSCOPE_ENDPOINT" if kind == "modelscope" else "HF_ENDPOINT"
            return Source(
                kind,  # type: ignore[arg-type]
                repo,
                revision or None,
                endpoint=os.environ.get(env) or None,
                exclude=chart_excludes(),
            )
    path = Path(text)
    if path.is_dir():
        return Source("folder", path.resolve().name, folder=path.resolve())
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        return _from_values(path)
    raise UserError(
        f"{text!r} is neither a folder, a values file, hf://ORG/NAME nor modelscope://ORG/NAME"
    )


def _from_values(path: Path) -> Source:
    from ..core.paths import chart_dir
    from ..core.problem import has_errors
    from ..core.tree import get
    from ..validate import validate_file

    result = validate_file(str(path), chart_dir())
    if has_errors(result.problems) or result.context is None:
        from ..core.errors import InvalidValues

        raise InvalidValues([p for p in result.problems if p.severity == "error"])
    merged = result.context.merged
    source = str(get(merged, ("model", "source")) or "huggingface")
    if source == "local":
        return Source("folder", Path(str(get(merged, ("model", "path")))).name, folder=None)
    if source not in ("huggingface", "modelscope"):
        raise UserError(f"{path}: model.source {source} is not a hub: nothing to push from")
    hub = "modelscope" if source == "modelscope" else "huggingface"
    return Source(
        source,  # type: ignore[arg-type]
        str(get(merged, ("model", "name"))),
        str(get(merged, ("model", "revision")) or "") or None,
        endpoint=str(get(merged, (hub, "endpoint")) or "") or None,
        include=list(get(merged, ("model", "download", "include")) or []),
        exclude=list(get(merged, ("model", "download", "exclude")) or []),
    )


def _token(kind: str) -> str | None:
    name = "MODELSCOPE_API_TOKEN" if kind == "modelscope" else "HF_TOKEN"
    return os.environ.get(name) or None


def _get(url: str, token: str | None, *, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": "modelservice-push-model"})
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        return urllib.request.urlopen(request, timeout=HUB_TIMEOUT)
    except urllib.error.HTTPError as exc:
        hint = {401: ": export the hub token (HF_TOKEN / MODELSCOPE_API_TOKEN)"}.get(exc.code, "")
        raise UserError(f"{url}: HTTP {exc.code}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"{url}: {getattr(exc, 'reason', exc)}") from None


def hub_listing(source: Source) -> tuple[str, list[tuple[str, int]]]:
    """(revision the files are fetched at, [(path, size)]) of a hub repository."""
    base = source.url.rsplit("/" + source.name, 1)[0]
    repo = urllib.parse.quote(source.name, safe="/")
    token = _token(source.kind)
    if source.kind == "modelscope":
        revision = source.revision or "master"
        query = urllib.parse.urlencode({"Revision": revision, "Recursive": "true"})
        with _get(f"{base}/api/v1/models/{repo}/repo/files?{query}", token) as answer:
            data = json.loads(answer.read())
        files = [
            (str(f["Path"]), int(f.get("Size") or 0))
            for f in (data.get("Data") or {}).get("Files") or []
            if f.get("Type") == "blob"
        ]
        return revision, files
    revision = urllib.parse.quote(source.revision or "main", safe="")
    with _get(f"{base}/api/models/{repo}/revision/{revision}", token) as answer:
        commit = str(json.loads(answer.read()).get("sha") or source.revision or "main")
    with _get(f"{base}/api/models/{repo}/tree/{commit}?recursive=true", token) as answer:
        tree = json.loads(answer.read())
    files = [
        (str(i["path"]), int((i.get("lfs") or {}).get("size", i.get("size", 0)) or 0))
        for i in tree
        if i.get("type") == "file"
    ]
    return commit, files


def download(source: Source, progress: Progress) -> Path:
    """The hub repository's files (those its patterns keep) in the cache, resuming partial
    files with HTTP ranges; returns the folder."""
    revision, files = hub_listing(source)
    keep = [
        (p, s)
        for p, s in sorted(files)
        if (not source.include or any(fnmatch.fnmatch(p, i) for i in source.include))
        and not any(fnmatch.fnmatch(p, e) for e in source.exclude)
    ]
    if not keep:
        raise UserError(f"{source.url}: no file of the repository is left by its patterns")
    folder = cache_root() / "sources" / source.kind / source.name / revision.replace("/", "%2F")
    base = source.url.rsplit("/" + source.name, 1)[0]
    repo = urllib.parse.quote(source.name, safe="/")
    token = _token(source.kind)
    total = sum(s for _, s in keep)
    done = 0
    for path, size in keep:
        target = folder / path
        if target.is_file() and target.stat().st_size == size:
            done += size
            progress("download", done, total)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        have = part.stat().st_size if part.is_file() else 0
        if source.kind == "modelscope":
            query = urllib.parse.urlencode({"Revision": revision, "FilePath": path})
            url = f"{base}/api/v1/models/{repo}/repo?{query}"
        else:
            url = f"{base}/{repo}/resolve/{revision}/{urllib.parse.quote(path)}"
        headers = {"Range": f"bytes={have}-"} if have else {}
        with _get(url, token, headers=headers) as answer:
            mode = "ab" if have and answer.status == 206 else "wb"
            done += have if mode == "ab" else 0
            with part.open(mode) as out:
                while block := answer.read(4 * 1024 * 1024):
                    out.write(block)
                    done += len(block)
                    progress("download", done, total)
        if part.stat().st_size != size and size:
            raise UserError(f"{url}: got {part.stat().st_size} bytes of {size}")
        part.replace(target)
    return folder


# -- layers -------------------------------------------------------------------------------------


@dataclass
class Layer:
    path: str
    file: Path
    media_type: str
    size: int = 0
    digest: str = ""

    def open(self, offset: int) -> BinaryIO:
        handle = self.file.open("rb")
        handle.seek(offset)
        return handle


class _TarLayer(Layer):
    """One file as a tar archive holding ``model/<path>``, built as it is read (never on disk)."""

    def header(self) -> bytes:
        info = tarfile.TarInfo(f"{IMAGE_ROOT}/{self.path}")
        info.size, info.mode, info.mtime = self.file.stat().st_size, 0o644, 0
        info.uname = info.gname = ""
        return info.tobuf(format=tarfile.PAX_FORMAT)

    def parts(self) -> list[tuple[bytes | None, int]]:
        size = self.file.stat().st_size
        padding = (-size) % 512
        return [(self.header(), 0), (None, size), (b"\0" * (padding + 1024), 0)]

    def total(self) -> int:
        return sum(len(b) if b is not None else n for b, n in self.parts())

    def open(self, offset: int) -> BinaryIO:
        return _Concat(self, offset)  # type: ignore[return-value]


class _Concat(io.RawIOBase):
    def __init__(self, layer: _TarLayer, offset: int) -> None:
        self.pieces = layer.parts()
        self.file = layer.file.open("rb")
        self.position = offset

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        want = size if size and size > 0 else 1 << 30
        start = 0
        for data, length in self.pieces:
            length = len(data) if data is not None else length
            end = start + length
            if self.position < end and len(out) < want:
                inner = self.position - start
                take = min(end - self.position, want - len(out))
                if data is not None:
                    out += data[inner : inner + take]
                else:
                    self.file.seek(inner)
                    out += self.file.read(take)
                self.position += take
            start = end
        return bytes(out)

    def close(self) -> None:
        self.file.close()
        super().close()


def files_of(folder: Path) -> list[str]:
    """The files of a model folder, by relative path (no hidden folders such as .git)."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not any(p.startswith(".") for p in relative.split("/")):
            if not relative.endswith(".part"):
                found.append(relative)
    if not found:
        raise UserError(f"{folder}: no file to push")
    return found


def _digest_stream(handle: BinaryIO, progress: Callable[[int], None]) -> str:
    digest = hashlib.sha256()
    while block := handle.read(8 * 1024 * 1024):
        digest.update(block)
        progress(len(block))
    return "sha256:" + digest.hexdigest()


@dataclass
class Pushed:
    reference: Reference
    digest: str
    layers: list[Layer]
    uploaded: int
    skipped: int

    @property
    def pinned(self) -> str:
        return self.reference.pinned(self.digest)


@contextmanager
def _state(target: Reference) -> Iterator[dict[str, str]]:
    """The upload URLs of blobs cut off in an earlier run, kept per repository."""
    key = hashlib.sha256(target.name.encode()).hexdigest()[:16]
    path = cache_root() / "uploads" / f"{key}.json"
    state: dict[str, str] = {}
    if path.is_file():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            state = {}
    try:
        yield state
    finally:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=1), encoding="utf-8")


def push(
    source: Source,
    target: Reference,
    *,
    kind: Kind = "artifact",
    plain_http: bool = False,
    registry_config: Path | None = None,
    platform: str = "linux/amd64",
    progress: Progress = lambda stage, done, total: None,
) -> Pushed:
    """Push the model; returns the manifest's digest (what to pin in model.oci.reference)."""
    if target.digest:
        raise UserError(f"{target}: push to a tag (oci://REGISTRY/REPO:TAG), not to a digest")
    folder = source.folder
    if folder is None:
        if source.kind == "folder":
            raise UserError("model.source local names a path inside the container: push its folder")
        folder = download(source, progress)
    names = files_of(folder)
    cls = _TarLayer if kind == "image" else Layer
    layers = [cls(n, folder / n, IMAGE_LAYER if kind == "image" else media_type(n)) for n in names]
    total = sum(layer.file.stat().st_size for layer in layers)
    hashed = 0

    def hashing(count: int) -> None:
        nonlocal hashed
        hashed += count
        progress("hash", hashed, total)

    for layer in layers:
        if isinstance(layer, _TarLayer):
            layer.size = layer.total()
            with layer.open(0) as handle:
                layer.digest = _digest_stream(handle, hashing)
        else:
            layer.size = layer.file.stat().st_size
            layer.digest = sha256_of(layer.file, hashing)
    registry = Registry(target, plain_http=plain_http, config=registry_config)
    sent, uploaded, skipped = 0, 0, 0
    size = sum(layer.size for layer in layers)
    with _state(target) as state:
        for layer in layers:
            if registry.blob_size(layer.digest) == layer.size:
                skipped += 1
                sent += layer.size
                progress("push", sent, size)
                continue
            base = sent

            def moved(done: int, base: int = base) -> None:
                progress("push", base + done, size)

            def saved(location: str | None, digest: str = layer.digest) -> None:
                if location is None:
                    state.pop(digest, None)
                else:
                    state[digest] = location

            registry.upload(
                layer.open,
                layer.size,
                layer.digest,
                resume=state.get(layer.digest),
                saved=saved,
                progress=moved,
            )
            uploaded += 1
            sent += layer.size
        config, config_type = _config(source, layers, kind, platform)
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        registry.put_blob(config, config_digest)
        manifest = _manifest(layers, kind, config_type, config_digest, len(config))
        digest = registry.put_manifest(target.tag or "latest", manifest, MANIFEST)
    return Pushed(target, digest, layers, uploaded, skipped)


def _config(source: Source, layers: list[Layer], kind: Kind, platform: str) -> tuple[bytes, str]:
    diff_ids = [layer.digest for layer in layers]
    if kind == "image":
        system, _, architecture = platform.partition("/")
        data: dict[str, Any] = {
            "architecture": architecture or "amd64",
            "os": system or "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        }
        return _canonical(data), IMAGE_CONFIG
    descriptor: dict[str, Any] = {"name": source.name}
    if source.url:
        descriptor["sourceURL"] = source.url
    if source.revision:
        descriptor["revision"] = source.revision
    formats = {layer.path.rsplit(".", 1)[-1] for layer in layers if layer.media_type == WEIGHT}
    model: dict[str, Any] = {}
    if len(formats) == 1:
        model["format"] = formats.pop()
    data = {
        "descriptor": descriptor,
        "modelfs": {"type": "layers", "diffIds": diff_ids},
        "config": model,
    }
    return _canonical(data), MODEL_CONFIG


def _manifest(
    layers: list[Layer], kind: Kind, config_type: str, config_digest: str, config_size: int
) -> bytes:
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config_size},
        "layers": [
            {
                "mediaType": layer.media_type,
                "digest": layer.digest,
                "size": layer.size,
                "annotations": {FILEPATH: layer.path, TITLE: layer.path}
                if kind == "artifact"
                else {FILEPATH: f"{IMAGE_ROOT}/{layer.path}"},
            }
            for layer in layers
        ],
    }
    if kind == "artifact":
        data["artifactType"] = ARTIFACT_TYPE
    return _canonical(data)


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
