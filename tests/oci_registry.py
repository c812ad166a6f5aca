"""A real OCI registry for the tests: Debian's ``docker-registry`` on 127.0.0.1, plain HTTP.

Installed by ``make tools`` (tools/test-binaries.sh). Each registry gets its own configuration
file and storage folder in a temporary directory and listens on a free loopback port; it is
stopped (and its storage removed) when the ``with`` block ends::

    with start_registry() as registry:
        helm("push", archive, f"oci://{registry.host}/charts", "--plain-http")
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kube_harness import _free_port

REGISTRY_BINARY = Path("/usr/bin/docker-registry")


@dataclass(frozen=True)
class Registry:
    """A running registry: ``host`` is ``127.0.0.1:PORT``."""

    host: str
    storage: Path


def _config(port: int, storage: Path) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )


@contextlib.contextmanager
def start_registry(timeout: float = 30.0) -> Iterator[Registry]:
    """Start a registry, wait until ``/v2/`` answers, stop it afterwards."""
    if not os.access(REGISTRY_BINARY, os.X_OK):
        raise FileNotFoundError(f"{REGISTRY_BINARY} is missing: run `make tools`")
    with tempfile.TemporaryDirectory(prefix="modelservice-registry-") as tmp:
        storage = Path(tmp) / "storage"
        storage.mkdir()
        port = _free_port()
        config = Path(tmp) / "config.yml"
        config.write_text(_config(port, storage), encoding="utf-8")
        log = (Path(tmp) / "registry.log").open("wb")
        process = subprocess.Popen(
            [str(REGISTRY_BINARY), "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        "docker-registry exited: " + (Path(tmp) / "registry.log").read_text()
                    )
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                        if r.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"docker-registry did not answer on port {port}")
                time.sleep(0.1)
            yield Registry(f"127.0.0.1:{port}", storage)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
