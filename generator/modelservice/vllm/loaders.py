"""What a vLLM release's weight loaders accept, and its sleep and development modes, from
``schemas/vllm/<version>-loaders.json`` (extracted from that release's own code by
``tools/extract_vllm_loaders.py``, by running it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..core.paths import schemas_dir


@dataclass(frozen=True)
class LoaderData:
    version: str
    data: dict[str, Any]

    @property
    def formats(self) -> dict[str, Any]:
        found: dict[str, Any] = self.data["load_formats"]
        return found

    def keys(self, fmt: str) -> dict[str, Any] | None:
        """The extra-config keys the format's loader takes, or None when vLLM's code does not
        list them (the toolkit then says nothing)."""
        extra = (self.formats.get(fmt) or {}).get("extra_config")
        return None if extra is None else dict(extra["keys"])

    def unknown_key_refusal(self, fmt: str, key: str) -> str:
        extra = (self.formats.get(fmt) or {}).get("extra_config") or {}
        return str(extra.get("unknown_key_refusal", "")).replace("{key}", key)

    def value_refusal(self, fmt: str, key: str, value: Any) -> str | None:
        """vLLM's refusal of ``value`` for ``key`` (None when it takes it): its verdict on the
        same sample, else on an integer by the least one it takes, else on a sample of the
        same kind."""
        rule = (self.keys(fmt) or {}).get(key)
        if rule is None:
            return None
        samples: dict[str, str | None] = rule["samples"]
        text = json.dumps(value)
        if text in samples:
            return samples[text]
        kind = _kind(value)
        if kind == "int" and "int" in rule["accepts"]:
            least = rule.get("minimum")
            if least is not None and value < least:
                below = str(rule.get("below_minimum") or "")
                return below.replace(str(least - 1), str(value)) if below else f"below {least}"
            return None
        if kind in rule["accepts"]:
            return None
        for sample, verdict in samples.items():
            given = json.loads(sample)
            if _kind(given) == kind and verdict is not None:
                # vLLM's words on the sample, about the value given
                return verdict.replace(f"got {given!r}", f"got {value!r}")
        return None

    def refused_combination(self, fmt: str, strategy: str | None, switches: set[str]) -> str | None:
        for combo in self.data.get("refused_combinations") or []:
            if combo["format"] == fmt and combo["strategy"] == strategy:
                if combo["switch"] is None or combo["switch"] in switches:
                    return str(combo["error"])
        return None

    @property
    def sleep_platforms(self) -> list[str]:
        return list(self.data["sleep_mode"]["platforms"])

    @property
    def dev_endpoints(self) -> list[str]:
        return list(self.data["dev_mode"]["endpoints"])

    @property
    def guarded_prefixes(self) -> list[str]:
        return list(self.data["dev_mode"]["guarded_prefixes"])


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


@cache
def loader_data(version: str) -> LoaderData | None:
    """The data of a vLLM release, or None when none was extracted for it."""
    path = schemas_dir() / "vllm" / f"{version}-loaders.json"
    if not path.is_file():
        return None
    return LoaderData(version, json.loads(path.read_text(encoding="utf-8")))
