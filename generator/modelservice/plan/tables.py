"""The committed tables ``plan`` reads: models' architecture numbers and GPUs' memory.

Both live under ``schemas/plan/`` as facts with their sources named (``models.yaml``: fields
of each repository's config.json; ``gpus.yaml``: the memory the driver reports, or the vendor's
datasheet where no report was published).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..core.data import read_yaml
from ..core.paths import schemas_dir


@cache
def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = read_yaml(schemas_dir() / "plan" / name)
    return data


@dataclass(frozen=True)
class KnownModel:
    name: str
    source: str
    config: dict[str, Any]
    parameters: float
    parameters_source: str


def models() -> list[KnownModel]:
    """Every model of the table, in its order."""
    return [
        KnownModel(
            name=m["name"],
            source=m["source"],
            config=m["config"],
            parameters=float(m["parameters"]["count"]),
            parameters_source=m["parameters"]["source"],
        )
        for m in _load("models.yaml")["models"]
    ]


def known_model(name: str) -> KnownModel | None:
    """The table's entry for a hub repository id (case-insensitive), or None."""
    wanted = name.strip().lower()
    return next((m for m in models() if m.name.lower() == wanted), None)


@dataclass(frozen=True)
class Gpu:
    name: str
    memory: int  # bytes
    source: str
    aliases: tuple[str, ...]
    products: tuple[str, ...]
    #: ``driver``: the total nvidia-smi reports; ``datasheet``: the vendor's stated capacity
    reported: str = "driver"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|[KMGT]i|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ti": 1024**4,
    "tib": 1024**4,
}


def parse_size(text: str) -> int | None:
    """Bytes of ``80GiB``, ``80Gi``, ``80GB`` (decimal), ``81920MiB``; None when unreadable."""
    match = _SIZE.match(str(text))
    if not match:
        return None
    unit = (match.group(2) or "").lower()
    return int(float(match.group(1)) * _UNITS[unit])


def gpus() -> list[Gpu]:
    return [
        Gpu(
            name=g["name"],
            memory=parse_size(g["memory"]) or 0,
            source=g["source"],
            aliases=tuple(g.get("aliases") or ()),
            products=tuple(g.get("products") or ()),
            reported=str(g.get("reported") or "driver"),
        )
        for g in _load("gpus.yaml")["gpus"]
    ]


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def gpu_named(name: str) -> Gpu | None:
    """A GPU by its table name or alias (``H100``, ``a100-80gb``, ``A100 80GB``)."""
    wanted = _norm(name)
    for gpu in gpus():
        if wanted in {_norm(n) for n in (gpu.name, *gpu.aliases, *gpu.products)}:
            return gpu
    return None


def gpu_of_product(label: str) -> Gpu | None:
    """The GPU a ``nvidia.com/gpu.product`` node label value names, or None."""
    for gpu in gpus():
        if label in gpu.products:
            return gpu
    return None
