"""Extract the data of the rules vLLM's config classes apply into a JSON data file.

Run it with the python of the vLLM venv (tools/vllm_env.sh)::

    VLLM_TARGET_DEVICE=cpu ~/.cache/modelservice/vllm-0.33.0/bin/python \\
        tools/extract_vllm_config_rules.py

It writes ``schemas/vllm/<vllm version>-config.json``. Only data is taken from vLLM, never
code; the checks that use it are the toolkit's (``modelservice.checks.engine_config``), and
tests/test_engine_config_vllm.py holds each of them to vLLM's own ``create_engine_config``.

- ``bounds``: per flag of ``vllm serve``, the bounds (``gt``, ``ge``, ``lt``, ``le``) the
  pydantic field of the config class it fills declares (``CacheConfig.gpu_memory_utilization``:
  greater than 0, at most 1; ``SchedulerConfig.max_num_seqs``: at least 1), with the class and
  field;
- ``json_fields``: for each config class a JSON flag is validated against
  (``--speculative-config``: ``SpeculativeConfig``), per field its ``Literal`` choices and its
  bounds;
- ``quantization``: per method of vLLM's registry, the files it reads its settings from when
  config.json has no ``quantization_config`` (``get_config_filenames()``) and whether it
  quantizes online without any (``_ONLINE_SHORTHANDS``, or no file);
- ``rope_types``: per rope type, whether vLLM stretches the config's longest context by the
  rope ``factor`` (found by running ``_get_and_verify_max_len`` on each type);
- ``lora_embedding_modules``: per architecture of vLLM's model registry (those whose module
  imports on this machine), the embedding modules its class gives LoRA slots
  (``embedding_modules``: ``embed_tokens``, ``lm_head``), which plan counts in LoRA memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATOR = "tools/extract_vllm_config_rules.py"
BOUND_NAMES = ("gt", "ge", "lt", "le")
#: Rope types tried (vLLM normalises ``type`` to ``rope_type``); transformers' registry is
#: added at run time.
#: JSON flags that EngineArgs turns into a config class by keyword arguments (its
#: create_speculative_config), beyond the classes the flag data names for its converters.
KEYWORD_CLASSES = {"--speculative-config": "SpeculativeConfig"}
ROPE_TYPES = ("default", "linear", "dynamic", "su", "deepseek_yarn", "deepseek_llama_scaling")


def _plain(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return None


def field_bounds(cls: type) -> dict[str, dict[str, Any]]:
    """The declared bounds of every pydantic field of a vLLM config class."""
    fields = getattr(cls, "__pydantic_fields__", None) or {}
    out: dict[str, dict[str, Any]] = {}
    for name, info in fields.items():
        bounds: dict[str, Any] = {}
        for item in getattr(info, "metadata", None) or []:
            for bound in BOUND_NAMES:
                value = getattr(item, bound, None)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    bounds[bound] = value
        if bounds:
            out[name] = bounds
    return out


def _literals(annotation: Any) -> list[Any] | None:
    """The values of a ``Literal[...]`` annotation (or of the Literals of a union)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            inner = _literals(arg)
            if inner is None and arg is not type(None):
                return None  # a union with a free type takes more than the literals
            found.extend(inner or [])
        return found or None
    return None


def json_fields(cls: type, flag: str) -> dict[str, Any]:
    """The fields a JSON flag's object may hold (``known``: the class's init fields) and, per
    field, its ``Literal`` choices and bounds."""
    hints = typing.get_type_hints(cls, include_extras=False)
    bounds = field_bounds(cls)
    out: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        entry: dict[str, Any] = {}
        choices = _literals(hints.get(item.name))
        if choices:
            entry["choices"] = _plain(choices)
        if item.name in bounds:
            entry["bounds"] = bounds[item.name]
        if entry:
            out[item.name] = entry
    known = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    extra = (getattr(cls, "__pydantic_config__", None) or {}).get("extra")
    return {"flag": flag, "known": known, "extra": extra, "fields": dict(sorted(out.items()))}


def config_classes() -> dict[str, type]:
    import vllm.config as config

    found = {}
    for name in dir(config):
        value = getattr(config, name)
        if isinstance(value, type) and name.endswith("Config") and dataclasses.is_dataclass(value):
            found[name] = value
    return found


def bounds_by_flag(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Flag -> the bounds of the config class field it fills (matched by the flag's dest)."""
    from vllm.engine.arg_utils import EngineArgs

    engine_fields = {f.name for f in dataclasses.fields(EngineArgs)}
    by_field: dict[str, tuple[str, dict[str, Any]]] = {}
    for class_name, cls in sorted(config_classes().items()):
        for name, bounds in field_bounds(cls).items():
            by_field.setdefault(name, (class_name, bounds))
    out: dict[str, Any] = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if not longs or action.dest not in by_field or action.dest not in engine_fields:
            continue
        class_name, bounds = by_field[action.dest]
        out[longs[0]] = {"class": class_name, "field": action.dest, **bounds}
    return dict(sorted(out.items()))


def quantization() -> dict[str, Any]:
    from vllm.config.quantization import _ONLINE_SHORTHANDS
    from vllm.model_executor.layers.quantization import (
        QUANTIZATION_METHODS,
        get_quantization_config,
    )

    out: dict[str, Any] = {}
    for method in sorted(QUANTIZATION_METHODS):
        try:
            files = list(get_quantization_config(method).get_config_filenames())
        except Exception:  # a method whose class cannot load on this machine
            files = None
        out[method] = {
            "config_files": files,
            "online": method in _ONLINE_SHORTHANDS or files == [],
        }
    return out


def rope_types() -> dict[str, bool]:
    """Per rope type: whether vLLM multiplies the config's longest context by its factor."""
    from types import SimpleNamespace

    from vllm.config.model import _get_and_verify_max_len

    try:
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

        names = sorted(set(ROPE_TYPES) | set(ROPE_INIT_FUNCTIONS))
    except ImportError:
        names = sorted(ROPE_TYPES)
    out: dict[str, bool] = {}
    for name in names:
        hf = SimpleNamespace(model_type="probe", rope_parameters={"rope_type": name, "factor": 4.0})
        arch = SimpleNamespace(derived_max_model_len_and_key=(1000, "max_position_embeddings"))
        length = _get_and_verify_max_len(
            hf_config=hf,
            model_arch_config=arch,
            tokenizer_config=None,
            max_model_len=None,
            disable_sliding_window=False,
            sliding_window=None,
        )
        out[name] = length == 4000
    return out


def lora_embedding_modules() -> dict[str, list[str]]:
    """Architecture -> the embedding modules its vLLM class adapts with LoRA."""
    import importlib

    from vllm.model_executor.models.registry import _VLLM_MODELS

    out: dict[str, list[str]] = {}
    for architecture, (module, name) in sorted(_VLLM_MODELS.items()):
        try:
            cls = getattr(importlib.import_module(f"vllm.model_executor.models.{module}"), name)
        except Exception:  # a model whose module needs a GPU-only package: not recorded
            continue
        out[architecture] = sorted((getattr(cls, "embedding_modules", None) or {}).keys())
    return out


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--output", type=Path, help="default: schemas/vllm/<version>-config.json")
    args = cli.parse_args(argv)
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    import vllm
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser())
    classes = config_classes()
    json_classes = {}
    named = {cls: flag for flag, cls in KEYWORD_CLASSES.items()}
    flags_file = REPO_ROOT / "schemas" / "vllm" / f"{vllm.__version__}.json"
    if flags_file.is_file():
        described = json.loads(flags_file.read_text(encoding="utf-8"))
        for name, entry in (described.get("config_classes") or {}).items():
            named.setdefault(name, entry["flag"])
    for name, flag in named.items():
        if name in classes:
            json_classes[name] = json_fields(classes[name], flag)
    data = {
        "vllm_version": vllm.__version__,
        "generator": GENERATOR,
        "bounds": bounds_by_flag(parser),
        "json_fields": dict(sorted(json_classes.items())),
        "quantization": quantization(),
        "rope_types": rope_types(),
        "lora_embedding_modules": lora_embedding_modules(),
    }
    output = args.output or REPO_ROOT / "schemas" / "vllm" / f"{vllm.__version__}-config.json"
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}: {len(data['bounds'])} bounded flags", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
