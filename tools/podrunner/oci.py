"""The cluster's own registry, for a release whose model comes from one (``model.source: oci``,
``mode: pull``): Debian's docker-registry holding the tiny model, put there by the toolkit's own
``modelservice push-model``, then served inside the pod's network on 127.0.0.1, where the
release's reference is pointed (as a user points it at their registry)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .netns import call_in

BINARY = Path("/usr/bin/docker-registry")
#: The registry's port on the pod's own 127.0.0.1.
PORT = 15000


def _config(storage: Path, port: int) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ModelRegistry:
    """A registry whose storage outlives its processes: filled on this machine's network, then
    served in the pod's."""

    def __init__(self, work: Path) -> None:
        if not BINARY.is_file():
            raise FileNotFoundError(
                f"{BINARY} is missing: run `make tools` (Debian's docker-registry)"
            )
        self.work = work
        self.storage = work / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = work / "registry.log"
        self.pushed_bytes = 0

    def _serve(self, port: int, netns: str | None) -> None:
        config = self.work / f"config-{port}.yml"
        config.write_text(_config(self.storage, port), encoding="utf-8")
        enter = ["nsenter", f"--net={netns}"] if netns else []
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*enter, str(BINARY), "serve", str(config)],
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                    return bool(r.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        while not call_in(netns, answers):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def push(self, folder: Path, repository: str, tag: str) -> str:
        """Push ``folder`` with ``modelservice push-model``; returns the digest it printed."""
        port = _free_port()
        self._serve(port, None)
        try:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "modelservice",
                    "push-model",
                    "--plain-http",
                    str(folder),
                    f"oci://127.0.0.1:{port}/{repository}:{tag}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            self.stop()
        if done.returncode != 0:
            raise RuntimeError(f"push-model failed: {done.stderr.strip()}")
        self.pushed_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        return done.stdout.strip().rsplit("@", 1)[1]

    def start(self, netns: str, port: int = PORT) -> None:
        """Serve the storage on 127.0.0.1:``port`` of the pod's network."""
        self._serve(port, netns)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
