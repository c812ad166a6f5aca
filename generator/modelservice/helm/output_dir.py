"""``render --output-dir``: one folder per release, one file per manifest, safe for GitOps.

A release folder is shared with its owner: a GitOps repository keeps a hand-written
``kustomization.yaml`` (or anything else) beside the generated manifests. So

- the files a render wrote are listed in :data:`MANIFEST` in the folder, and the next render
  removes only files of that list that it no longer writes, never anything else;
- a Secret that holds data is never written: the only Secret the chart renders is its
  generated API key, a new random value on every offline render, which would be a plain
  secret in git; the caller says how to create it instead;
- hook objects (``helm.sh/hook``, e.g. the ``helm test`` pod) go to :data:`HOOKS`, a subfolder
  that ``kubectl apply -f FOLDER`` (without ``-R``) does not read: applied with the release,
  a test pod would run at once instead of when asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..core.errors import UserError
from .engine import Document, Rendered

#: The list of files the last render wrote in a release folder (not YAML: no tool applies it).
MANIFEST = ".modelservice-manifest"
#: Subfolder of the hook objects.
HOOKS = "hooks"
_MANIFEST_HEADER = (
    "# Files `modelservice render --output-dir` wrote in this folder, one per line. The next\n"
    "# render removes the ones it no longer writes; it never touches any other file.\n"
)
#: The first line of every file a render writes; files of a folder written before there was
#: a manifest are recognised by it.
_GENERATED = re.compile(r"^# Source: [^/\n]+/templates/")


@dataclass(frozen=True)
class LeftOutSecret:
    """A Secret holding data that was not written, and how to create it instead."""

    name: str
    namespace: str
    keys: tuple[str, ...]

    def command(self) -> str:
        """A command that creates the Secret with fresh random values."""
        literals = " ".join(f"--from-literal={key}=$(openssl rand -hex 32)" for key in self.keys)
        return f"kubectl create secret generic {self.name} -n {self.namespace} {literals}"


@dataclass
class WrittenRelease:
    """What a render wrote into one release folder."""

    folder: Path
    files: list[str] = field(default_factory=list)
    hooks: int = 0
    removed: list[str] = field(default_factory=list)
    secrets: list[LeftOutSecret] = field(default_factory=list)


def manifest_file_name(kind: str, name: str, taken: set[str]) -> str:
    """A stable file name for one manifest in a release folder."""
    base = re.sub(r"[^a-z0-9.-]+", "-", f"{kind}-{name}".lower()).strip("-") or "manifest"
    candidate, n = f"{base}.yaml", 2
    while candidate in taken:
        candidate, n = f"{base}-{n}.yaml", n + 1
    taken.add(candidate)
    return candidate


_METADATA_NAME = re.compile(r"^metadata:\n(?:[ ]{2}.*\n)*?[ ]{2}name: *[\"']?([^\"'\s]+)", re.M)


def _object_name(doc: Document) -> str:
    """metadata.name of a manifest: read off Helm's block-style output, parsed if unusual."""
    match = _METADATA_NAME.search(doc.text + "\n")
    if match:
        return match.group(1)
    data = doc.load()
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        return str(data["metadata"].get("name", ""))
    return ""


def _secret_with_data(doc: Document, namespace: str) -> LeftOutSecret | None:
    if doc.kind != "Secret":
        return None
    data = doc.load()
    if not isinstance(data, dict):
        return None
    keys = [*(data.get("data") or {}), *(data.get("stringData") or {})]
    if not keys:
        return None
    metadata = data.get("metadata") or {}
    return LeftOutSecret(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace") or namespace),
        keys=tuple(dict.fromkeys(str(k) for k in keys)),
    )


def _own_path(entry: str) -> str | None:
    """An entry of a manifest, if it names a file this module may have written there."""
    path = PurePosixPath(entry)
    if path.is_absolute() or ".." in path.parts or not entry.endswith(".yaml"):
        return None
    if len(path.parts) == 1 or (len(path.parts) == 2 and path.parts[0] == HOOKS):
        return path.as_posix()
    return None


def previously_written(folder: Path) -> set[str]:
    """Files (relative paths) an earlier render wrote in ``folder``: its manifest, or, for a
    folder written before there was one, the YAML files that start with the render's header."""
    manifest = folder / MANIFEST
    if manifest.is_file():
        lines = manifest.read_text(encoding="utf-8").splitlines()
        entries = (ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
        return {own for own in map(_own_path, entries) if own}
    found = set()
    for candidate in [*folder.glob("*.yaml"), *(folder / HOOKS).glob("*.yaml")]:
        try:
            with candidate.open(encoding="utf-8") as handle:
                first = handle.readline()
        except (OSError, UnicodeDecodeError):
            continue
        if _GENERATED.match(first):
            found.add(candidate.relative_to(folder).as_posix())
    return found


def write_release(rendered: Rendered, output_dir: Path) -> WrittenRelease:
    """Write one file per manifest under ``output_dir/<release>/`` (hooks under ``hooks/``),
    leave out Secrets holding data, and remove what an earlier render wrote and this one does
    not. Unchanged files are left alone: GitOps diffs and file times stay quiet. A file that
    a manifest would replace but that no render wrote is an error, before anything is written.
    """
    folder = output_dir / rendered.release
    before = previously_written(folder) if folder.is_dir() else set()
    result = WrittenRelease(folder)
    planned: dict[str, bytes] = {}
    taken: set[str] = set()
    for doc in rendered.documents:
        secret = _secret_with_data(doc, rendered.namespace)
        if secret is not None:
            result.secrets.append(secret)
            continue
        name = manifest_file_name(doc.kind or "object", _object_name(doc), taken)
        relative = f"{HOOKS}/{name}" if doc.is_hook else name
        result.hooks += doc.is_hook
        planned[relative] = f"# Source: {doc.source}\n{doc.text}\n".encode()
    for relative in planned:
        if (folder / relative).exists() and relative not in before:
            raise UserError(
                f"{folder / relative}: not written by modelservice render, and a manifest of "
                f"release {rendered.release} would replace it; move it out of the release folder"
            )
    folder.mkdir(parents=True, exist_ok=True)
    for relative, content in planned.items():
        file = folder / relative
        file.parent.mkdir(exist_ok=True)
        if not file.is_file() or file.read_bytes() != content:
            file.write_bytes(content)
    result.files = list(planned)
    for stale in sorted(before - planned.keys()):
        (folder / stale).unlink(missing_ok=True)
        result.removed.append(stale)
    hooks = folder / HOOKS
    if hooks.is_dir() and not any(hooks.iterdir()):
        hooks.rmdir()
    manifest = _MANIFEST_HEADER + "".join(f"{f}\n" for f in sorted(planned))
    manifest_file = folder / MANIFEST
    if not manifest_file.is_file() or manifest_file.read_text(encoding="utf-8") != manifest:
        manifest_file.write_text(manifest, encoding="utf-8")
    return result
