"""Extract the architecture defaults of transformers' config classes into a JSON data file.

vLLM reads a model's config.json through transformers' config class of its ``model_type``: a
key the file leaves out takes the class's default (Gemma-2's config.json has no
``tie_word_embeddings``; ``Gemma2Config`` makes it true). The toolkit reads config.json files
without transformers, so it takes those defaults from the file this tool writes. Run it with
the python of the vLLM venv (tools/vllm_env.sh), whose transformers is the one vLLM uses::

    VLLM_TARGET_DEVICE=cpu ~/.cache/modelservice/vllm-0.33.0/bin/python \\
        tools/extract_hf_config_defaults.py

It writes ``schemas/hf/config-defaults.json``. Only data is taken, never code:

- ``models``: per ``model_type``, the class, the defaults of its dataclass fields that are plain
  data and not None (None marks a value the class derives from others, left to the reader),
  without the fields every config has and those that never change what vLLM sizes or refuses
  (dropout, initialisation, token ids); ``attribute_map`` (another name a class reads a key
  under); ``sub_configs`` (the model_type of a nested config, e.g. ``text_config``);
- ``layer_types``: where a class derives ``layer_types`` from ``num_hidden_layers`` (sliding
  window and full attention layers), the repeating pattern, found by building the class with
  several layer counts, and the fields whose value changes the pattern (found by changing each
  one): the reader repeats the pattern only when the config.json leaves those at the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATOR = "tools/extract_hf_config_defaults.py"
#: Fields that never change what vLLM sizes or refuses.
SKIPPED = re.compile(
    r"dropout|initializer|init_std|_eps$|eps$|token_id|token_index|use_cache|"
    r"output_|return_dict|chunk_size_feed_forward|problem_type|id2label|label2id"
)
#: Layer counts the layer-type pattern is checked with.
LAYER_COUNTS = (1, 2, 3, 5, 7, 8, 12, 13, 24, 61)
#: Longest pattern recorded: a longer one is a list, not a repeating pattern.
MAX_PERIOD = 12


def plain(value: Any) -> tuple[bool, Any]:
    try:
        return True, json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return False, None


def defaults_of(cls: type, base: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.name in base or SKIPPED.search(item.name):
            continue
        value = item.default
        if value is dataclasses.MISSING:
            if item.default_factory is dataclasses.MISSING:  # type: ignore[misc]
                continue
            try:
                value = item.default_factory()  # type: ignore[misc]
            except Exception:  # a factory that needs arguments: not plain data
                continue
        ok, data = plain(value)
        if ok and data is not None:
            out[item.name] = data
    return dict(sorted(out.items()))


def _layer_types(cls: type, **kwargs: Any) -> list[str] | None:
    try:
        found = getattr(cls(**kwargs), "layer_types", None)
    except Exception:  # a class that refuses these arguments
        return None
    return list(found) if isinstance(found, list) else None


def _period(types: list[str]) -> list[str]:
    for size in range(1, len(types) + 1):
        if all(types[i] == types[i % size] for i in range(len(types))):
            return types[:size]
    return types


def layer_pattern(cls: type, defaults: dict[str, Any]) -> dict[str, Any] | None:
    """The repeating pattern of derived layer types, and the fields that change it."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if "layer_types" not in fields or fields["layer_types"].default is not None:
        return None
    longest = _layer_types(cls, num_hidden_layers=max(LAYER_COUNTS))
    if not longest:
        return None
    pattern = _period(longest)
    if len(pattern) > MAX_PERIOD:
        return None
    for count in LAYER_COUNTS:
        types = _layer_types(cls, num_hidden_layers=count)
        if types != [pattern[i % len(pattern)] for i in range(count)]:
            return None
    depends: list[str] = []
    for name, value in defaults.items():
        if name in ("num_hidden_layers", "layer_types"):
            continue
        if isinstance(value, bool):
            trials: list[Any] = [not value]
        elif isinstance(value, int):
            trials = [0, 1, 2, value * 2 + 1]
        else:
            continue
        for trial in trials:
            types = _layer_types(cls, num_hidden_layers=max(LAYER_COUNTS), **{name: trial})
            if types is not None and types != longest:
                depends.append(name)
                break
    return {"pattern": pattern, "depends_on": sorted(depends)}


def extract() -> dict[str, Any]:
    import transformers
    from transformers import PretrainedConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING, CONFIG_MAPPING_NAMES

    base = {f.name for f in dataclasses.fields(PretrainedConfig)}
    models: dict[str, Any] = {}
    layer_types: dict[str, Any] = {}
    for model_type in sorted(CONFIG_MAPPING_NAMES):
        cls = CONFIG_MAPPING[model_type]
        if not dataclasses.is_dataclass(cls):
            continue
        defaults = defaults_of(cls, base)
        entry: dict[str, Any] = {"class": cls.__name__, "defaults": defaults}
        mapped = {str(k): str(v) for k, v in (getattr(cls, "attribute_map", None) or {}).items()}
        if mapped:
            entry["attribute_map"] = dict(sorted(mapped.items()))
        subs = {}
        for name, sub in (getattr(cls, "sub_configs", None) or {}).items():
            sub_type = getattr(sub, "model_type", "") or ""
            if sub_type:
                subs[str(name)] = str(sub_type)
        if subs:
            entry["sub_configs"] = dict(sorted(subs.items()))
        models[model_type] = entry
        pattern = layer_pattern(cls, defaults)
        if pattern is not None:
            layer_types[model_type] = pattern
    return {
        "generator": GENERATOR,
        "source": "transformers.models.auto.configuration_auto.CONFIG_MAPPING (dataclass fields)",
        "transformers_version": transformers.__version__,
        "models": models,
        "layer_types": layer_types,
    }


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument(
        "--output", type=Path, default=REPO_ROOT / "schemas" / "hf" / "config-defaults.json"
    )
    args = cli.parse_args(argv)
    data = extract()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n"
    args.output.write_text(text, encoding="utf-8")
    print(
        f"wrote {args.output}: {len(data['models'])} model types, "
        f"{len(data['layer_types'])} layer-type patterns",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
