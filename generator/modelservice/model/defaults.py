"""transformers' defaults for the keys a config.json leaves out, as its config classes define
them: ``schemas/hf/config-defaults.json``, extracted from transformers' own classes by
``tools/extract_hf_config_defaults.py`` (the transformers of the pinned vLLM's venv).

vLLM reads config.json through the class of its ``model_type``: a key the file leaves out
takes the class's default (Gemma-2's file has no ``tie_word_embeddings``; ``Gemma2Config``
makes it true; a Qwen2 file without ``num_key_value_heads`` gets 32, not the head count). A
default that the class derives from other keys (None in the data) is left to the reader.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from ..core.paths import schemas_dir


@cache
def data() -> dict[str, Any]:
    path = schemas_dir() / "hf" / "config-defaults.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def transformers_version() -> str:
    return str(data().get("transformers_version") or "")


def known(model_type: str) -> bool:
    return model_type in data()["models"]


def resolve(raw: dict[str, Any], model_type: str | None = None) -> dict[str, Any]:
    """config.json as transformers' class of its model_type reads it: the file's keys, keys
    the class reads under another name (``attribute_map``), the class's defaults for the keys
    the file leaves out, its derived ``layer_types`` pattern where the file leaves out what
    changes it, and nested configs (``text_config``) resolved by their own class."""
    kind = str(raw.get("model_type") or model_type or "")
    entry = data()["models"].get(kind)
    if entry is None:
        return dict(raw)
    found = dict(raw)
    for name, target in (entry.get("attribute_map") or {}).items():
        if name not in found and target in found:
            found[name] = found[target]
    for key, value in entry["defaults"].items():
        if key not in found:
            found[key] = value
    for name, sub_type in (entry.get("sub_configs") or {}).items():
        nested = found.get(name)
        if isinstance(nested, dict):
            found[name] = resolve(nested, str(nested.get("model_type") or sub_type))
        elif name == "text_config" and nested is None and known(sub_type):
            found[name] = resolve({}, sub_type)
    pattern = data()["layer_types"].get(kind)
    layers = found.get("num_hidden_layers")
    if (
        pattern is not None
        and not isinstance(found.get("layer_types"), list)
        and isinstance(layers, int)
        and all(
            name not in raw or raw[name] == entry["defaults"].get(name)
            for name in pattern["depends_on"]
        )
    ):
        cycle = pattern["pattern"]
        found["layer_types"] = [cycle[i % len(cycle)] for i in range(layers)]
    return found
