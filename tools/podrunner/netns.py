"""Network namespaces for the pod runner: a thread enters a pod's network, sockets follow it.

A Linux network namespace is a property of each thread (``setns(2)`` with ``CLONE_NEWNET``
changes the calling thread only), and a socket belongs to the namespace of the thread that
created it, for its whole life. So the runner's probes, its stand-in for kube-proxy and the
fake hub each run in threads that first enter the pod's network; the rest of the process,
and every other thread, stays where it was. Needs root (CAP_SYS_ADMIN), as the runner does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

T = TypeVar("T")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def entered(netns: str | None) -> Iterator[None]:
    """Run the block with this thread in the network namespace at ``netns`` (a
    ``/proc/PID/ns/net`` path); ``None`` stays put. The thread returns to its own afterwards."""
    if netns is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def call_in(netns: str | None, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a short-lived thread inside ``netns`` (the calling thread never
    moves): for building a listening socket there."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            with entered(netns):
                box["value"] = function(*args)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def thread_in(netns: str | None, target: Callable[..., None], *args: Any) -> threading.Thread:
    """A started daemon thread that runs ``target(*args)`` inside ``netns``."""

    def run() -> None:
        with entered(netns):
            target(*args)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
