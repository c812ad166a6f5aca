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
  a test pod would run at once instead of when asked for;
- nothing is written outside the folder: a symbolic link inside it (the release folder,
  ``hooks/``, the manifest, a manifest file) is refused, never followed, every file is written
  to a temporary name and renamed (:mod:`.safe_write`), and everything refusable is refused
  before the first write; an input of the render (a values file, the chart) is never replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..core import safe_write
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


#: What the refusals of :mod:`.safe_write` name.
_WHAT = "render --output-dir"
#: Bytes of a file read to recognise a render's header (one line).
_HEAD = 4096


def _scan_generated(dir_fd: int, folder: Path, prefix: str) -> set[str]:
    """YAML files of an open folder that start with a render's header (links skipped)."""
    found = set()
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            if not entry.name.endswith(".yaml") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                head = safe_write.read_at(dir_fd, entry.name, folder / entry.name, _WHAT, _HEAD)
                first = (head or b"").split(b"\n", 1)[0].decode("utf-8")
            except (UserError, UnicodeDecodeError):
                continue
            if _GENERATED.match(first):
                found.add(prefix + entry.name)
    return found


def _previously_written(folder_fd: int, folder: Path) -> set[str]:
    manifest = safe_write.read_at(folder_fd, MANIFEST, folder / MANIFEST, _WHAT)
    if manifest is not None:
        lines = manifest.decode("utf-8", errors="replace").splitlines()
        entries = (ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
        return {own for own in map(_own_path, entries) if own}
    found = _scan_generated(folder_fd, folder, "")
    if safe_write.check_entry(folder_fd, HOOKS, folder / HOOKS, _WHAT, folder=True):
        with safe_write.folder(folder / HOOKS, _WHAT, parent_fd=folder_fd) as hooks_fd:
            found |= _scan_generated(hooks_fd, folder / HOOKS, f"{HOOKS}/")
    return found


def previously_written(folder: Path) -> set[str]:
    """Files (relative paths) an earlier render wrote in ``folder``: its manifest, or, for a
    folder written before there was one, the YAML files that start with the render's header.
    A link in the folder (or the folder itself a link) is refused, never followed."""
    with (
        safe_write.folder(folder.parent, _WHAT) as parent_fd,
        safe_write.folder(folder, _WHAT, parent_fd=parent_fd) as fd,
    ):
        return _previously_written(fd, folder)


def _planned(rendered: Rendered, result: WrittenRelease) -> dict[str, bytes]:
    """The files of a release folder (relative path -> bytes); Secrets holding data are left
    out and recorded in ``result``."""
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
    return planned


def _at(fds: dict[str, int], relative: str) -> tuple[int, str]:
    """(open folder, file name) of a path relative to the release folder."""
    head, _, name = relative.rpartition("/")
    return fds[head], name


def check_release(
    rendered: Rendered, output_dir: Path, protected: Sequence[Path] = ()
) -> WrittenRelease:
    """Everything :func:`write_release` would refuse, checked without writing anything: a
    link in the release folder (the folder, ``hooks/``, the manifest, a file to write or
    remove), a file no render wrote that a manifest would replace, a folder inside the chart
    or a file to write or remove that is one of the ``protected`` inputs (the values files,
    the chart). Returns what would be written; ``removed`` lists the stale files."""
    folder = output_dir / rendered.release
    result = WrittenRelease(folder)
    planned = _planned(rendered, result)
    result.files = list(planned)
    for guarded in protected:
        if guarded.is_dir() and (
            safe_write.is_inside(folder, guarded) or safe_write.is_inside(guarded, folder)
        ):
            raise UserError(
                f"{folder}: the release folder would hold or be inside {guarded}, an input of "
                "this render; give another --output-dir"
            )
    before: set[str] = set()
    with contextlib.ExitStack() as stack:
        if output_dir.is_dir():
            out_fd = stack.enter_context(safe_write.folder(output_dir, _WHAT))
            if safe_write.check_entry(out_fd, folder.name, folder, _WHAT, folder=True):
                fd = stack.enter_context(safe_write.folder(folder, _WHAT, parent_fd=out_fd))
                before = _previously_written(fd, folder)
                fds = {"": fd}
                if safe_write.check_entry(fd, HOOKS, folder / HOOKS, _WHAT, folder=True):
                    fds[HOOKS] = stack.enter_context(
                        safe_write.folder(folder / HOOKS, _WHAT, parent_fd=fd)
                    )
                for relative in sorted(planned.keys() | before):
                    if relative.startswith(f"{HOOKS}/") and HOOKS not in fds:
                        continue
                    dir_fd, name = _at(fds, relative)
                    there = safe_write.check_entry(
                        dir_fd, name, folder / relative, _WHAT, folder=False
                    )
                    if there and relative not in before:
                        raise UserError(
                            f"{folder / relative}: not written by modelservice render, and a "
                            f"manifest of release {rendered.release} would replace it; move it "
                            "out of the release folder"
                        )
    result.removed = sorted(before - planned.keys())
    inputs = {p.resolve() for p in protected if not p.is_dir()}
    for relative in sorted(planned.keys() | before):
        if (folder / relative).resolve() in inputs:
            raise UserError(
                f"{folder / relative}: an input of this render, which the render would "
                "replace or remove; give another --output-dir"
            )
    return result


def write_release(
    rendered: Rendered, output_dir: Path, protected: Sequence[Path] = ()
) -> WrittenRelease:
    """Write one file per manifest under ``output_dir/<release>/`` (hooks under ``hooks/``),
    leave out Secrets holding data, and remove what an earlier render wrote and this one does
    not. Unchanged files are left alone: GitOps diffs and file times stay quiet. Whatever
    :func:`check_release` refuses is refused before anything is written; every file is
    written atomically and never through a link (:mod:`.safe_write`).
    """
    result = check_release(rendered, output_dir, protected)
    folder = result.folder
    planned = _planned(rendered, WrittenRelease(folder))
    with contextlib.ExitStack() as stack:
        out_fd = stack.enter_context(safe_write.folder(output_dir, _WHAT, create=True))
        fd = stack.enter_context(safe_write.folder(folder, _WHAT, parent_fd=out_fd, create=True))
        fds = {"": fd}
        if any(r.startswith(f"{HOOKS}/") for r in [*planned, *result.removed]):
            fds[HOOKS] = stack.enter_context(
                safe_write.folder(folder / HOOKS, _WHAT, parent_fd=fd, create=True)
            )
        for relative, content in planned.items():
            dir_fd, name = _at(fds, relative)
            if safe_write.read_at(dir_fd, name, folder / relative, _WHAT) != content:
                safe_write.write_at(dir_fd, name, content, folder / relative, _WHAT)
        for stale in result.removed:
            dir_fd, name = _at(fds, stale)
            safe_write.remove_at(dir_fd, name, folder / stale, _WHAT)
        if HOOKS in fds:
            with contextlib.suppress(OSError):  # not empty: it holds hooks, or the user's files
                os.rmdir(HOOKS, dir_fd=fd)
        manifest = (_MANIFEST_HEADER + "".join(f"{f}\n" for f in sorted(planned))).encode()
        if safe_write.read_at(fd, MANIFEST, folder / MANIFEST, _WHAT) != manifest:
            safe_write.write_at(fd, MANIFEST, manifest, folder / MANIFEST, _WHAT)
    return result
