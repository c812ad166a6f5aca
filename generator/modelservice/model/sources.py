"""Where a model's config.json is read from: a local folder (``--config``), the hub through the
values file's own mirror and token, or, offline, the committed table of popular models.

Hub requests go to ``huggingface.endpoint`` (default https://huggingface.co) or
``modelscope.endpoint`` (default https://www.modelscope.cn), at the values' ``model.revision``,
with the token of the environment (``HF_TOKEN``, or ``MODELSCOPE_API_TOKEN``, the variables the
chart gives the server): the values file names only the Secret, and ``plan`` never reads a
cluster. Only config.json is fetched (a few KiB).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from ..plan import tables

HF_DEFAULT = "https://huggingface.co"
MODELSCOPE_DEFAULT = "https://www.modelscope.cn"
TIMEOUT_SECONDS = 20
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    """A model's config.json and where it came from."""

    data: dict[str, Any]
    origin: str


class HubUnreachable(Exception):
    """The hub could not be asked (no route, DNS, timeout): offline, the table may answer."""


def from_folder(path: Path) -> Config:
    """config.json of a local model folder (or the file itself)."""
    file = path / "config.json" if path.is_dir() else path
    from ..values.loader import regular_file_problem

    try:
        why = regular_file_problem(file, "config.json file")
        if why:
            raise UserError(f"{file}: {why}")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{file}: cannot read the model's config: {exc.strerror or exc}") from None
    return Config(_parse(text, str(file)), str(file))


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UserError(f"{where}: config.json is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: config.json is not a JSON object")
    return data


def hub_url(source: str, endpoint: str | None, repo: str, revision: str | None) -> str:
    """The URL of a repository's config.json on a Hugging Face or ModelScope site."""
    quoted = urllib.parse.quote(repo, safe="/")
    if source == "modelscope":
        base = (endpoint or MODELSCOPE_DEFAULT).rstrip("/")
        query = urllib.parse.urlencode(
            {"Revision": revision or "master", "FilePath": "config.json"}
        )
        return f"{base}/api/v1/models/{quoted}/repo?{query}"
    base = (endpoint or HF_DEFAULT).rstrip("/")
    rev = urllib.parse.quote(revision or "main", safe="")
    return f"{base}/{quoted}/resolve/{rev}/config.json"


def from_hub(
    source: str,
    endpoint: str | None,
    repo: str,
    revision: str | None,
    token: str | None,
    timeout: float = TIMEOUT_SECONDS,
) -> Config:
    """config.json from the hub; :class:`HubUnreachable` when no answer came at all."""
    url = hub_url(source, endpoint, repo, revision)
    import urllib.error
    import urllib.request  # http.client and email: only for a file that reads the hub

    request = urllib.request.Request(url, headers={"User-Agent": "modelservice"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            raw = answer.read(MAX_CONFIG_BYTES + 1)
    except urllib.error.HTTPError as exc:
        hint = {
            401: "the repository needs a token: export HF_TOKEN (MODELSCOPE_API_TOKEN)",
            403: "the token may not read this repository (a gated model: accept its licence)",
            404: "no such repository, revision or file",
        }.get(exc.code, exc.reason)
        raise UserError(f"{url}: HTTP {exc.code}: {hint}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HubUnreachable(f"{url}: {reason}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UserError(f"{url}: config.json is larger than {MAX_CONFIG_BYTES} bytes")
    return Config(_parse(raw.decode("utf-8", errors="replace"), url), url)


def from_registry(reference: str, plain_http: bool, timeout: float = TIMEOUT_SECONDS) -> Config:
    """config.json of a model pushed to an OCI registry as an artifact (a layer per file, named
    by ``org.cncf.model.filepath`` or ORAS' title), by the manifest of ``reference``;
    :class:`HubUnreachable` when the registry does not answer at all."""
    from ..oci.media import FILEPATH, TITLE
    from ..oci.registry import Reference, Registry

    ref = Reference.parse(reference)
    registry = Registry(ref, plain_http=plain_http, timeout=timeout)
    try:
        digest, manifest = registry.manifest(ref.digest or ref.tag or "latest")
        for layer in manifest.get("layers") or []:
            notes = layer.get("annotations") or {}
            name = notes.get(FILEPATH) or notes.get(TITLE)
            if name == "config.json":
                if int(layer.get("size") or 0) > MAX_CONFIG_BYTES:
                    raise UserError(f"{reference}: config.json is larger than {MAX_CONFIG_BYTES}")
                raw = registry.blob(str(layer.get("digest")))
                where = f"{ref.name}@{digest[:19]}...: config.json"
                return Config(_parse(raw.decode("utf-8", errors="replace"), where), where)
    except (OSError, TimeoutError) as exc:
        raise HubUnreachable(f"{ref.registry}: {exc}") from None
    raise UserError(
        f"{reference}: no layer of the manifest is config.json (an image, not a model "
        "artifact): give the model's config.json with --config"
    )


def from_table(repo: str) -> Config | None:
    known = tables.known_model(repo)
    if known is None:
        return None
    return Config(dict(known.config), f"the table of known models ({known.source})")


def token_for(source: str) -> str | None:
    """The hub token of the environment, as the chart names it for the server."""
    names = ("MODELSCOPE_API_TOKEN",) if source == "modelscope" else ("HF_TOKEN",)
    return next((os.environ[n] for n in names if os.environ.get(n)), None)
