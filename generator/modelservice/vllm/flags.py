"""The flags of a vLLM release: every spelling of every flag, its converter, choices and
default, from ``schemas/vllm/<version>.json``, extracted from that release's own argument
parser by ``tools/extract_vllm_flags.py``. Argument lists are read with them by
:mod:`modelservice.vllm.args`.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from ..core.paths import chart_dir, schemas_dir


@cache
def _load(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def flag_data(version: str) -> dict[str, Any] | None:
    """The flag data of a vLLM version, or None when none was extracted for it."""
    path = schemas_dir() / "vllm" / f"{version}.json"
    return _load(str(path)) if path.is_file() else None


class FlagIndex:
    """Every spelling of every flag, mapped to its canonical long flag."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.version: str = str(data.get("vllm_version") or "")
        self.flags: dict[str, dict[str, Any]] = data["flags"]
        self.dotted = set(data.get("dotted_subkey_flags", []))
        self.spelling: dict[str, tuple[str, bool]] = {}
        for name, spec in self.flags.items():
            self.spelling[name] = (name, False)
            for alias in spec.get("aliases") or []:
                self.spelling[alias] = (name, False)
            for negation in [spec.get("negation"), *(spec.get("negation_aliases") or [])]:
                if negation:
                    self.spelling[negation] = (name, True)

    def lookup(self, flag: str) -> tuple[str, bool] | None:
        """(canonical flag, is a negation) for a spelling, underscores read as dashes."""
        if flag.startswith("--"):
            flag = "--" + flag[2:].replace("_", "-")
        return self.spelling.get(flag)

    def suggest(self, flag: str) -> str | None:
        longs = [s for s in self.spelling if s.startswith("--")]
        near = difflib.get_close_matches(flag.replace("_", "-"), longs, n=1, cutoff=0.75)
        return near[0] if near else None


@cache
def _index(path: str) -> FlagIndex:
    return FlagIndex(_load(path))


def index_for(version: str) -> FlagIndex | None:
    """The flags of one vLLM release, or None when none were extracted for it."""
    path = schemas_dir() / "vllm" / f"{version}.json"
    return _index(str(path)) if path.is_file() else None


def flag_index(merged: dict[str, Any], chart: Path) -> tuple[FlagIndex | None, str | None]:
    """The flags of the vLLM release ``image.tag`` pins, and, when no data was extracted for
    that tag, the chart's pinned version used instead (else None). No index without data."""
    image = merged.get("image")
    tag = str((image if isinstance(image, dict) else {}).get("tag") or "").removeprefix("v")
    fallback = None
    data = flag_data(tag)
    if data is None:
        fallback = pinned_version(chart)
        data = flag_data(fallback)
    if data is None:
        return None, fallback
    return index_for(str(data["vllm_version"])), fallback


def pinned_version(chart: Path | None = None) -> str:
    """The vLLM version the chart's appVersion pins (the packaged chart by default)."""
    text = ((chart or chart_dir()) / "Chart.yaml").read_text(encoding="utf-8")
    match = re.search(r"^appVersion:\s*[\"']?v?([^\"'\s]+)", text, flags=re.M)
    return match.group(1) if match else ""
