"""Writing inside an output folder without ever writing outside it.

What the toolkit writes (``render --output-dir`` release folders, ``bake --output``, ``init
-o``) goes into a folder the user named. Inside that folder nothing is trusted: a file or a
subfolder there may be a symbolic link to somewhere else (a GitOps checkout holds links; a
shared machine holds other people's), and writing through it would overwrite a file the user
never named. So

- a folder is opened once, without following a link (``O_NOFOLLOW | O_DIRECTORY``), and every
  file below is reached relative to that open folder (``dir_fd``): a link swapped in later
  cannot redirect a write;
- a file is written to a fresh temporary name in the same folder (``O_EXCL | O_NOFOLLOW``)
  and renamed over its target: a reader sees the old file or the new one, never half of one,
  and a rename replaces a link itself, never what it points to;
- a link where a file or folder is to be written or removed is refused, with a message that
  names it and where it points, before anything is written;
- an ``OSError`` (a read-only file system, a missing permission, ``/proc``) becomes a
  :class:`~modelservice.errors.UserError` naming the path, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _link_target(path: Path) -> str:
    with contextlib.suppress(OSError):
        return os.readlink(path)
    return "?"


def refuse_link(path: Path, what: str) -> UserError:
    """The error for a symbolic link found where ``what`` writes."""
    return UserError(
        f"{path}: a symbolic link (to {_link_target(path)}); {what} never writes through a "
        "link, lest it overwrite what the link points to: remove the link, or write elsewhere"
    )


def os_error(path: Path, exc: OSError, doing: str = "cannot write") -> UserError:
    """A user error for an ``OSError`` met while writing ``path``."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason += " (give a folder you can write to)"
    elif exc.errno == errno.ENOENT and path.parent.is_dir():
        # /proc and other virtual file systems answer "no such file" to a new name
        reason = f"{path.parent} takes no new files or folders (give a folder you can write to)"
    return UserError(f"{path}: {doing}: {reason}")


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """``lstat`` of ``name`` in an open folder, or None when nothing is there."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def check_entry(dir_fd: int, name: str, display: Path, what: str, *, folder: bool) -> bool:
    """Whether ``name`` exists in the open folder; raises when it is a link, or a file where
    a folder belongs (and the other way round)."""
    st = lstat_at(dir_fd, name)
    if st is None:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise refuse_link(display, what)
    if folder and not stat.S_ISDIR(st.st_mode):
        raise UserError(f"{display}: exists and is not a folder; move it away")
    if not folder and not stat.S_ISREG(st.st_mode):
        raise UserError(f"{display}: exists and is not a regular file; move it away")
    return True


def open_folder(
    path: Path, what: str, *, parent_fd: int | None = None, create: bool = False
) -> int:
    """An open descriptor of a folder, never reached through a link.

    With ``parent_fd`` the folder is ``path.name`` inside that open folder (a link there is
    refused); without, ``path`` is the user's own output folder, whose own path is taken as
    given (it may itself be a link the user chose), created with its parents when missing.
    """
    try:
        if parent_fd is None:
            if create:
                path.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        exists = check_entry(parent_fd, path.name, path, what, folder=True)
        if not exists and create:
            os.mkdir(path.name, 0o777, dir_fd=parent_fd)
        return os.open(path.name, _DIR_FLAGS, dir_fd=parent_fd)
    except UserError:
        raise
    except FileExistsError:
        raise UserError(f"{path}: exists and is not a folder; move it away") from None
    except NotADirectoryError:
        raise UserError(f"{path}: not a folder (a file is in the way)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse_link(path, what) from None
        doing = "cannot create this folder" if create else "cannot open"
        raise os_error(path, exc, doing) from None


@contextlib.contextmanager
def folder(
    path: Path, what: str, *, parent_fd: int | None = None, create: bool = False
) -> Iterator[int]:
    """:func:`open_folder` as a context manager that closes the descriptor."""
    fd = open_folder(path, what, parent_fd=parent_fd, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def read_at(dir_fd: int, name: str, display: Path, what: str, limit: int = -1) -> bytes | None:
    """The bytes of a regular file in an open folder (at most ``limit``), None when missing;
    a link or a non-regular file is refused."""
    if not check_entry(dir_fd, name, display, what, folder=False):
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse_link(display, what) from None
        raise os_error(display, exc, "cannot read") from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit)


def write_at(dir_fd: int, name: str, data: bytes, display: Path, what: str) -> None:
    """Write ``name`` in an open folder atomically: a temporary file beside it, renamed over
    it. A link at ``name`` is refused, never followed."""
    check_entry(dir_fd, name, display, what, folder=False)
    temporary = f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o666,
            dir_fd=dir_fd,
        )
    except OSError as exc:
        raise os_error(display, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise os_error(display, exc) from None


def remove_at(dir_fd: int, name: str, display: Path, what: str) -> bool:
    """Remove a regular file of an open folder; a link there is refused. Whether it was
    there."""
    if not check_entry(dir_fd, name, display, what, folder=False):
        return False
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise os_error(display, exc, "cannot remove") from None
    return True


def write_file(path: Path, data: bytes, what: str) -> None:
    """Write one file the user named (``init -o FILE``) atomically, never through a link:
    its folder is created when missing and taken as given; the file itself must not be a
    link."""
    parent = path.parent
    with folder(parent, what, create=True) as fd:
        write_at(fd, path.name, data, path, what)


def is_inside(path: Path, folder_path: Path) -> bool:
    """Whether ``path`` is ``folder_path`` or lies below it, both resolved (links followed):
    the question "would writing or removing ``folder_path`` touch ``path``"."""
    try:
        return path.resolve().is_relative_to(folder_path.resolve())
    except (OSError, RuntimeError):
        return False
