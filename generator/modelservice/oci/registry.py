"""A small client of the OCI distribution API (what every registry serves under ``/v2/``): blobs
checked, uploaded in chunks that a later run resumes, manifests put and fetched.

Credentials come from a Docker config file (``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json``, or ``--registry-config``): ``docker login`` / ``oras login`` write
one, and it is what a ``kubernetes.io/dockerconfigjson`` Secret holds. Nothing here takes a
password on the command line. A registry that asks for a bearer token (``WWW-Authenticate:
Bearer realm=...``) gets one from its realm, with those credentials or anonymously.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import ssl
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..core.errors import UserError

#: Bytes sent per PATCH of a chunked upload: what a resumed upload can lose at most.
CHUNK = 64 * 1024 * 1024
#: Bytes per socket write.
BLOCK = 1024 * 1024
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_REF = re.compile(
    r"^(?P<registry>[a-zA-Z0-9](?:[-a-zA-Z0-9.]*[a-zA-Z0-9])?(?::[0-9]+)?)/"
    r"(?P<repository>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """``[oci://]REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]``."""
        bare = text.removeprefix("oci://")
        match = _REF.match(bare)
        if not match:
            raise UserError(
                f"{text!r} is not an OCI reference: write oci://REGISTRY/REPOSITORY:TAG, such as "
                "oci://registry.internal:5000/models/qwen2.5-0.5b:v1"
            )
        return cls(**match.groupdict())

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def pinned(self, digest: str) -> str:
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 * BLOCK):
            digest.update(block)
            if progress:
                progress(len(block))
    return f"sha256:{digest.hexdigest()}"


def credentials(registry: str, config: Path | None = None) -> tuple[str, str] | None:
    """(user, password) of a registry from a Docker config file, or None."""
    if config is None:
        folder = os.environ.get("DOCKER_CONFIG")
        config = Path(folder) / "config.json" if folder else Path.home() / ".docker/config.json"
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{config}: not a Docker config file: {exc}") from None
    auths = data.get("auths") or {}
    for key, entry in auths.items():
        host = urllib.parse.urlsplit(key if "//" in key else f"//{key}").netloc or key
        if host != registry or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return user, password
        if entry.get("username"):
            return str(entry["username"]), str(entry.get("password") or "")
    return None


@dataclass
class Registry:
    """One repository of one registry."""

    ref: Reference
    plain_http: bool = False
    config: Path | None = None
    timeout: float = 120
    _token: str | None = field(default=None, repr=False)

    @property
    def scheme(self) -> str:
        return "http" if self.plain_http else "https"

    def _connection(self, netloc: str) -> http.client.HTTPConnection:
        if self.plain_http:
            return http.client.HTTPConnection(netloc, timeout=self.timeout, blocksize=BLOCK)
        return http.client.HTTPSConnection(
            netloc, timeout=self.timeout, context=ssl.create_default_context(), blocksize=BLOCK
        )

    def _authorization(self) -> dict[str, str]:
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        found = credentials(self.ref.registry, self.config)
        if found and self._basic:
            pair = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}

    _basic: bool = False

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | BinaryIO | Iterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
    ) -> tuple[int, dict[str, str], bytes]:
        """One request, authenticating on a 401 as the registry asks (once)."""
        for attempt in range(2):
            parts = urllib.parse.urlsplit(url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection = self._connection(parts.netloc)
            try:
                connection.request(
                    method, target, body=body, headers={**(headers or {}), **self._authorization()}
                )
                answer = connection.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException) as exc:
                raise UserError(f"{self.ref.registry}: {method} {parts.path}: {exc}") from None
            finally:
                connection.close()
            found = {k.lower(): v for k, v in answer.getheaders()}
            if answer.status == 401 and attempt == 0 and not isinstance(body, Iterator):
                self._authenticate(found.get("www-authenticate", ""))
                if hasattr(body, "seek"):
                    body.seek(0)  # type: ignore[union-attr]
                continue
            if answer.status not in ok:
                raise RegistryError(answer.status, method, parts.path, data)
            return answer.status, found, data
        raise RegistryError(401, method, url, b"")

    def _authenticate(self, challenge: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic":
            if credentials(self.ref.registry, self.config) is None:
                raise UserError(
                    f"{self.ref.registry} asks for credentials: log in (docker login / oras login "
                    "write ~/.docker/config.json) or give --registry-config"
                )
            self._basic = True
            return
        fields = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        realm = fields.pop("realm", "")
        if scheme.lower() != "bearer" or not realm:
            raise UserError(f"{self.ref.registry}: an authentication it does not say how to do")
        url = f"{realm}?{urllib.parse.urlencode(fields)}"
        found = credentials(self.ref.registry, self.config)
        headers = {}
        if found:
            pair = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        parts = urllib.parse.urlsplit(url)
        connection = self._connection(parts.netloc)
        try:
            connection.request("GET", f"{parts.path}?{parts.query}", headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            raise UserError(f"{realm}: cannot get a token: {exc}") from None
        finally:
            connection.close()
        if answer.status != 200:
            raise UserError(f"{realm}: HTTP {answer.status}: the registry refused a token")
        token = json.loads(data or b"{}")
        self._token = token.get("token") or token.get("access_token")

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.ref.registry}/v2/{self.ref.repository}/{path}"

    # -- blobs -----------------------------------------------------------------------------

    def blob_size(self, digest: str) -> int | None:
        """The size of a blob the repository holds, or None."""
        try:
            _, headers, _ = self.request("HEAD", self.url(f"blobs/{digest}"), ok=(200,))
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        return int(headers.get("content-length") or 0)

    def upload(
        self,
        source: Callable[[int], BinaryIO],
        size: int,
        digest: str,
        *,
        resume: str | None = None,
        saved: Callable[[str | None], None] = lambda location: None,
        progress: Callable[[int], None] = lambda done: None,
    ) -> None:
        """Upload a blob of ``size`` bytes in chunks. ``source(offset)`` opens it at an offset;
        ``resume`` is the upload URL of an earlier run, continued where the registry says it
        stopped; ``saved`` is told the URL after each chunk (so a later run can resume)."""
        location, offset = None, 0
        if resume:
            try:
                _, headers, _ = self.request("GET", resume, ok=(204,))
                location = urllib.parse.urljoin(resume, headers.get("location") or resume)
                # bytes the registry holds: "0-LAST" (distribution says "0--1" for none)
                held = re.match(r"^\s*(?:bytes=)?0-(-?\d+)\s*$", headers.get("range") or "")
                offset = int(held.group(1)) + 1 if held else 0
            except RegistryError:
                location, offset = None, 0
        if location is None:
            _, headers, _ = self.request("POST", self.url("blobs/uploads/"), ok=(202,))
            location = urllib.parse.urljoin(self.url(""), headers["location"])
        progress(offset)
        saved(location)
        with source(offset) as handle:
            while offset < size:
                length = min(CHUNK, size - offset)
                chunk = Limited(handle, length)
                _, headers, _ = self.request(
                    "PATCH",
                    location,
                    body=chunk,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(length),
                        "Content-Range": f"{offset}-{offset + length - 1}",
                    },
                    ok=(202,),
                )
                offset += length
                location = urllib.parse.urljoin(location, headers.get("location") or location)
                saved(location)
                progress(offset)
        separator = "&" if "?" in location else "?"
        self.request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            body=b"",
            headers={"Content-Length": "0"},
            ok=(201, 204),
        )
        saved(None)

    def put_blob(self, data: bytes, digest: str) -> None:
        """A small blob (a config) in one request, unless it is there already."""
        if self.blob_size(digest) is not None:
            return
        _, headers, _ = self.request("POST", self.url("blobs/uploads/"), ok=(202,))
        location = urllib.parse.urljoin(self.url(""), headers["location"])
        separator = "&" if "?" in location else "?"
        self.request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            body=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
            ok=(201, 204),
        )

    def blob(self, digest: str) -> bytes:
        _, _, data = self.request("GET", self.url(f"blobs/{digest}"), ok=(200,))
        return data

    # -- manifests -------------------------------------------------------------------------

    def put_manifest(self, tag: str, data: bytes, media_type: str) -> str:
        """Put a manifest under ``tag``; returns its digest (the registry's, checked)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        _, headers, _ = self.request(
            "PUT",
            self.url(f"manifests/{tag}"),
            body=data,
            headers={"Content-Type": media_type, "Content-Length": str(len(data))},
            ok=(201,),
        )
        said = headers.get("docker-content-digest")
        if said and said != digest:
            raise UserError(f"{self.ref.registry} stored the manifest as {said}, not {digest}")
        return digest

    def manifest(self, reference: str) -> tuple[str, dict[str, Any]]:
        """(digest, manifest) of a tag or digest."""
        _, _, data = self.request(
            "GET",
            self.url(f"manifests/{reference}"),
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
            ok=(200,),
        )
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise UserError(f"{self.ref.registry}: the manifest of {reference} hashes to {digest}")
        return digest, json.loads(data)


class Limited:
    """The next ``length`` bytes of a file, read in blocks (an upload body)."""

    def __init__(self, handle: BinaryIO, length: int) -> None:
        self.handle, self.left = handle, length

    def read(self, size: int = BLOCK) -> bytes:
        if self.left <= 0:
            return b""
        data = self.handle.read(min(size if size > 0 else BLOCK, self.left))
        self.left -= len(data)
        return data


class RegistryError(UserError):
    def __init__(self, status: int, method: str, path: str, body: bytes) -> None:
        detail = ""
        try:
            errors = json.loads(body or b"{}").get("errors") or []
            detail = "; ".join(str(e.get("message") or e.get("code")) for e in errors)
        except (ValueError, AttributeError):
            detail = body[:200].decode(errors="replace")
        hint = {
            401: ": log in (docker login / oras login) or give --registry-config",
            403: ": the credentials may not write this repository",
        }.get(status, "")
        super().__init__(f"{method} {path}: HTTP {status}{': ' + detail if detail else ''}{hint}")
        self.status = status
