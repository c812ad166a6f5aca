"""A fake model hub: for the pod runner (tools/run-release) and the offline-start test.

The pod runner starts it inside each pod's own network namespace, on the pod's 127.0.0.1, and
points the release's own mirror keys at it (``huggingface.endpoint``, ``modelscope.endpoint``);
tests/test_offline_start.py starts it on the machine's 127.0.0.1. It implements the part of two
hub APIs that the real clients use to download a repository:

- **Hugging Face** (``hf download``, huggingface_hub, vLLM through it): the repository's
  info at a revision (``/api/models/{repo}/revision/{rev}``, with its commit ``sha`` and
  ``siblings``), its file tree (``/api/models/{repo}/tree/{rev}``) and every file by
  ``/{repo}/resolve/{rev}/{file}`` with the ``X-Repo-Commit``, ``ETag`` and
  ``Content-Length`` headers the client relies on (HEAD and GET).
- **ModelScope** (``modelscope download``, its SDK, vLLM through it): the repository's
  revisions, its file list with sizes and sha256 (``/api/v1/models/{repo}/repo/files``) and
  every file (``/api/v1/models/{repo}/repo?FilePath=...``).

Every request is recorded (``requests``; ``authorizations`` holds the Authorization header
each one carried), so a test can prove that none arrived while the server was meant to be
offline and that the hub token was sent; ``stop()`` closes the port, so a client that tries
anyway meets a refused connection. A repository it does not serve, or one listed in
``missing``, answers as the real hubs answer a repository they do not have: for Hugging Face a
404 with the ``X-Error-Code: RepoNotFound`` header the client reads (without it ``hf`` takes
any 404 for a hub hiccup and falls back to its cache), for ModelScope its JSON error.
``served_bytes`` counts the bytes of file bodies sent.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import netns as _netns


@dataclass
class Repo:
    """A repository at one commit: its files by path."""

    files: dict[str, bytes]
    revision: str = "main"
    commit: str = ""

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1()
            for path in sorted(self.files):
                digest.update(path.encode() + b"\0")
                digest.update(self.files[path])
            self.commit = digest.hexdigest()
        self._oids: dict[str, str] = {}

    def oid(self, path: str) -> str:
        """The git object id of a file (hashed once: the hub sends it with every answer)."""
        if path not in self._oids:
            self._oids[path] = _git_oid(self.files[path])
        return self._oids[path]


def _git_oid(data: bytes) -> str:
    digest = hashlib.sha1(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


@dataclass
class FakeHub:
    """The fake hub serving ``repos`` (by repository id) on 127.0.0.1."""

    repos: dict[str, Repo]
    missing: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    served_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0, netns: str | None = None) -> FakeHub:
        """Listen on ``host:port`` (0: a free port), inside the network namespace at ``netns``
        (a ``/proc/PID/ns/net`` path) when given."""
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                hub._handle(self, body=False)

            def do_GET(self) -> None:
                hub._handle(self, body=True)

            def do_POST(self) -> None:
                hub._handle(self, body=True)

        self._server = _netns.call_in(netns, ThreadingHTTPServer, (host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: from now on a client meets a refused connection."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- routing ----------------------------------------------------------------------------

    def _repo(self, repo_id: str, revision: str | None) -> Repo | None:
        repo = None if repo_id in self.missing else self.repos.get(repo_id)
        if repo is None:
            return None
        if revision in (None, "", repo.revision, repo.commit):
            return repo
        return None

    def _handle(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        with self._lock:
            self.requests.append((handler.command, handler.path))
            self.authorizations.append(handler.headers.get("Authorization"))
        if handler.command == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            handler.rfile.read(length)
        split = urlsplit(handler.path)
        path = unquote(split.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        for route in (self._hf, self._modelscope):
            answer = route(handler.command, path, query)
            if answer is not None:
                status, headers, payload = answer
                break
        else:
            status, headers, payload = 404, {}, b'{"error": "not found"}'
        self._send(handler, status, headers, payload, body=body)

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        payload: bytes,
        *,
        body: bool,
    ) -> None:
        handler.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if body:
            handler.wfile.write(payload)
            if headers.get("Content-Type") == "application/octet-stream":
                with self._lock:
                    self.served_bytes += len(payload)

    @staticmethod
    def _json(data: Any, status: int = 200, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return status, headers, json.dumps(data).encode()

    # -- Hugging Face -----------------------------------------------------------------------

    def _split_repo(self, rest: str) -> tuple[str, str] | None:
        """``org/name/<tail>`` as (repo id, tail) for a known repository."""
        for repo_id in self.repos:
            if repo_id in self.missing:
                continue
            if rest == repo_id or rest.startswith(repo_id + "/"):
                return repo_id, rest[len(repo_id) + 1 :]
        return None

    @classmethod
    def _hf_error(cls, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
        """A 404 as the Hugging Face Hub sends it: the client reads the two headers."""
        return cls._json(
            {"error": message}, 404, **{"X-Error-Code": code, "X-Error-Message": message}
        )

    def _hf(self, method: str, path: str, query: dict[str, str]) -> Any:
        if path.startswith("/api/models/"):
            found = self._split_repo(path.removeprefix("/api/models/"))
            if found is None:
                return self._hf_error("RepoNotFound", "Repository not found")
            repo_id, tail = found
            if tail == "" or tail.startswith("revision/"):
                revision = tail.removeprefix("revision/") or None
                repo = self._repo(repo_id, revision)
                if repo is None:
                    return self._hf_error("RevisionNotFound", f"Invalid rev id: {revision}")
                return self._json(
                    {
                        "_id": repo.commit[:24],
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": repo.commit,
                        "private": False,
                        "disabled": False,
                        "gated": False,
                        "tags": [],
                        "siblings": [{"rfilename": name} for name in sorted(repo.files)],
                    }
                )
            if tail.startswith("tree/"):
                revision = tail.removeprefix("tree/").split("/", 1)[0]
                repo = self._repo(repo_id, revision)
                if repo is None:
                    return self._hf_error("RevisionNotFound", f"Invalid rev id: {revision}")
                return self._json(
                    [
                        {"type": "file", "path": name, "size": len(data), "oid": repo.oid(name)}
                        for name, data in sorted(repo.files.items())
                    ]
                )
            return None
        if "/resolve/" in path:
            found = self._split_repo(path.lstrip("/"))
            if found is None:
                return self._hf_error("RepoNotFound", "Repository not found")
            repo_id, tail = found
            revision, _, name = tail.removeprefix("resolve/").partition("/")
            repo = self._repo(repo_id, revision)
            if repo is None:
                return self._hf_error("RevisionNotFound", f"Invalid rev id: {revision}")
            if name not in repo.files:
                return self._hf_error("EntryNotFound", f'{name} does not exist on "{revision}"')
            data = repo.files[name]
            return (
                200,
                {
                    "Content-Type": "application/octet-stream",
                    "X-Repo-Commit": repo.commit,
                    "ETag": f'"{repo.oid(name)}"',
                },
                data,
            )
        return None

    # -- ModelScope -------------------------------------------------------------------------

    def _modelscope(self, method: str, path: str, query: dict[str, str]) -> Any:
        if not path.startswith("/api/v1/models/"):
            return None
        found = self._split_repo(path.removeprefix("/api/v1/models/"))
        if found is None:
            return self._json({"Code": 10010205001, "Message": "model not found"}, 404)
        repo_id, tail = found
        repo = self._repo(repo_id, query.get("Revision"))
        if repo is None:
            return self._json({"Code": 10010205001, "Message": "revision not found"}, 404)
        if tail == "repo/files":
            files = [
                {
                    "Name": name.rsplit("/", 1)[-1],
                    "Path": name,
                    "Type": "blob",
                    "Size": len(data),
                    "Sha256": hashlib.sha256(data).hexdigest(),
                    "Revision": repo.commit,
                }
                for name, data in sorted(repo.files.items())
            ]
            return self._json({"Code": 200, "Success": True, "Data": {"Files": files}})
        if tail == "repo" and "FilePath" in query:
            data = repo.files.get(query["FilePath"])
            if data is None:
                return self._json({"Code": 10010205001, "Message": "file not found"}, 404)
            return 200, {"Content-Type": "application/octet-stream"}, data
        if tail == "":
            return self._json(
                {
                    "Code": 200,
                    "Success": True,
                    "Data": {"Path": repo_id.split("/")[0], "Name": repo_id.split("/")[-1]},
                }
            )
        if tail == "revisions":
            return self._json(
                {
                    "Code": 200,
                    "Success": True,
                    "Data": {
                        "RevisionMap": {
                            "Branches": [{"Revision": repo.revision, "CommitId": repo.commit}],
                            "Tags": [],
                        }
                    },
                }
            )
        return None
