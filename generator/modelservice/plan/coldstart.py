"""The cold start of a new replica, estimated from stated inputs: the bytes to fetch (the hub's
file list, the OCI manifest, or the table's parameter count), at a stated bandwidth, plus the
load of the same bytes from the cache at a stated disk speed, plus a fixed warm-up.

It is what ``plan --bandwidth`` prints (with every input), and what ``validate`` checks the
timeouts of a request path against (``coldStart.bandwidth``, a model of the table). The image
pull of vLLM itself, the scheduling and a node's own start are not in it: a node that ran the
image before has it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import UserError

#: Seconds from the weights in memory to the first answer: CUDA graphs, torch.compile (cached
#: from the second start on), the engine's own start. A stated figure: vLLM's own start on a
#: GPU takes from about 20 s (small models, eager) to a few minutes (large, compiled).
WARMUP_SECONDS = 60.0
#: Disk speed of the load from the cache when none is given: a network disk or a local SSD.
DISK_DEFAULT = "1GB/s"
#: Bytes per parameter of the dtypes a config.json names.
DTYPE_BYTES = {
    "float32": 4,
    "float": 4,
    "float16": 2,
    "half": 2,
    "bfloat16": 2,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "int8": 1,
}

_RATE = re.compile(
    r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGT]i?)?(bit|B|b)(?:/s|ps)\s*$",
)
_PREFIX = {
    "": 1,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "ki": 1024,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}


def parse_rate(text: str) -> float:
    """Bytes per second of a rate such as ``1Gbit/s``, ``10Gbps``, ``200MB/s``, ``1GiB/s``."""
    match = _RATE.match(text or "")
    if not match:
        raise UserError(
            f"{text!r} is not a rate: write a number, a unit prefix and bit/s or B/s, such as "
            "1Gbit/s, 10Gbps or 200MB/s"
        )
    number, prefix, unit = match.groups()
    value = float(number) * _PREFIX[prefix or ""]
    if unit in ("bit", "b"):
        value /= 8
    if value <= 0:
        raise UserError(f"{text!r}: the rate must be above zero")
    return value


def shown_rate(rate: float) -> str:
    return f"{rate / 1e6:,.0f} MB/s"


def shown_bytes(size: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:.0f} B"


@dataclass(frozen=True)
class ModelBytes:
    """What a start fetches (and then loads), and where the figure comes from."""

    bytes: int
    origin: str
    files: int | None = None
    #: False for a model on a volume of the pod: loaded, never fetched
    fetched: bool = True


@dataclass
class ColdStart:
    """The estimate and every input it was made from."""

    model: ModelBytes
    bandwidth: float
    bandwidth_text: str
    disk: float
    disk_text: str
    warmup_seconds: float = WARMUP_SECONDS
    #: the release's own statement, coldStart.expectedSeconds
    expected_seconds: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def fetch_seconds(self) -> float:
        return self.model.bytes / self.bandwidth if self.model.fetched else 0.0

    @property
    def load_seconds(self) -> float:
        return self.model.bytes / self.disk

    @property
    def total_seconds(self) -> float:
        return self.fetch_seconds + self.load_seconds + self.warmup_seconds

    def inputs(self) -> str:
        """The sum as a person checks it: ``15.2 GB at 125 MB/s (122 s) + ...``."""
        size = shown_bytes(self.model.bytes)
        fetch = (
            f"{size} ({self.model.origin}) at {self.bandwidth_text} = {self.fetch_seconds:.0f} s"
            if self.model.fetched
            else f"nothing to fetch ({size}, {self.model.origin}, on a volume of the pod)"
        )
        return (
            f"{fetch}, + load from the cache at {self.disk_text} = {self.load_seconds:.0f} s, "
            f"+ warm-up {self.warmup_seconds:.0f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes": self.model.bytes,
            "bytes_from": self.model.origin,
            "files": self.model.files,
            "bandwidth_bytes_per_second": self.bandwidth,
            "bandwidth": self.bandwidth_text,
            "fetch_seconds": round(self.fetch_seconds, 1),
            "disk_bytes_per_second": self.disk,
            "disk_speed": self.disk_text,
            "load_seconds": round(self.load_seconds, 1),
            "warmup_seconds": self.warmup_seconds,
            "total_seconds": round(self.total_seconds, 1),
            "expected_seconds": self.expected_seconds,
            "covered": None
            if self.expected_seconds is None
            else self.expected_seconds >= self.total_seconds,
            "notes": list(self.notes),
        }


def estimate(
    model: ModelBytes,
    bandwidth: str,
    disk: str | None = None,
    *,
    expected_seconds: int | None = None,
) -> ColdStart:
    return ColdStart(
        model=model,
        bandwidth=parse_rate(bandwidth),
        bandwidth_text=bandwidth,
        disk=parse_rate(disk or DISK_DEFAULT),
        disk_text=disk or DISK_DEFAULT,
        expected_seconds=expected_seconds,
    )


# -- bytes to fetch -----------------------------------------------------------------------------


def from_table_entry(config: dict[str, Any], parameters: float, name: str) -> ModelBytes:
    """The weights of a model of the table: its parameter count x its dtype's bytes."""
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    size = DTYPE_BYTES.get(dtype, 2)
    return ModelBytes(
        int(parameters * size),
        f"{parameters / 1e9:.2f} B parameters x {size} bytes ({dtype}), the table's {name}",
    )


def wanted(name: str, include: list[str], exclude: list[str]) -> bool:
    """Whether a hub download with these --include/--exclude patterns fetches ``name``
    (fnmatch, as the hub clients filter)."""
    if include and not any(fnmatch.fnmatch(name, p) for p in include):
        return False
    return not any(fnmatch.fnmatch(name, p) for p in exclude)


def hub_files(
    source: str, endpoint: str | None, repo: str, revision: str | None, token: str | None
) -> list[tuple[str, int]]:
    """(path, size) of every file of a hub repository, from the hub's own file list (Hugging
    Face's tree API, ModelScope's file list)."""
    from ..model.sources import HF_DEFAULT, MODELSCOPE_DEFAULT, TIMEOUT_SECONDS, HubUnreachable

    quoted = urllib.parse.quote(repo, safe="/")
    if source == "modelscope":
        base = (endpoint or MODELSCOPE_DEFAULT).rstrip("/")
        query = urllib.parse.urlencode({"Revision": revision or "master", "Recursive": "true"})
        url = f"{base}/api/v1/models/{quoted}/repo/files?{query}"
    else:
        base = (endpoint or HF_DEFAULT).rstrip("/")
        rev = urllib.parse.quote(revision or "main", safe="")
        url = f"{base}/api/models/{quoted}/tree/{rev}?recursive=true"
    request = urllib.request.Request(url, headers={"User-Agent": "modelservice-plan"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            data = json.loads(answer.read(32 * 1024 * 1024) or b"null")
    except urllib.error.HTTPError as exc:
        raise UserError(f"{url}: HTTP {exc.code}: cannot list the repository's files") from None
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise HubUnreachable(f"{url}: {getattr(exc, 'reason', exc)}") from None
    if source == "modelscope":
        items = ((data or {}).get("Data") or {}).get("Files") or []
        return [
            (str(i["Path"]), int(i.get("Size") or 0))
            for i in items
            if i.get("Type") == "blob" and "Path" in i
        ]
    entries = data if isinstance(data, list) else []
    found = []
    for item in entries:
        if item.get("type") != "file":
            continue
        size = (item.get("lfs") or {}).get("size", item.get("size", 0))
        found.append((str(item["path"]), int(size or 0)))
    return found


def from_hub(
    source: str,
    endpoint: str | None,
    repo: str,
    revision: str | None,
    token: str | None,
    include: list[str],
    exclude: list[str],
) -> ModelBytes:
    files = [
        (name, size)
        for name, size in hub_files(source, endpoint, repo, revision, token)
        if wanted(name, include, exclude)
    ]
    where = (endpoint or "").rstrip("/") or ("ModelScope" if source == "modelscope" else "the Hub")
    return ModelBytes(
        sum(size for _, size in files),
        f"{len(files)} files of {repo} the init container downloads, from {where}'s file list",
        files=len(files),
    )


def from_registry(reference: str, plain_http: bool) -> ModelBytes:
    """The layers of an OCI model, from the registry's manifest (credentials of the Docker
    config, as push-model reads them)."""
    from ..oci.registry import Reference, Registry

    ref = Reference.parse(reference)
    registry = Registry(ref, plain_http=plain_http, timeout=20)
    digest, manifest = registry.manifest(ref.digest or ref.tag or "latest")
    layers = manifest.get("layers") or []
    return ModelBytes(
        sum(int(layer.get("size") or 0) for layer in layers),
        f"{len(layers)} layers of {ref.name}@{digest[:19]}..., from the registry's manifest",
        files=len(layers),
    )
