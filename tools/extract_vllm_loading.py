#!/usr/bin/env python3
"""Record which files of a model repository vLLM reads, from the source of a vLLM release and
the transformers it pins, into ``schemas/vllm/<version>-loading.json``.

    python3 tools/extract_vllm_loading.py SITE_PACKAGES           # write the data file
    python3 tools/extract_vllm_loading.py SITE_PACKAGES --check   # exit 1 if it differs

``SITE_PACKAGES`` is that of the venv ``tools/vllm_env.sh`` makes (vLLM and its transformers
installed). Only the standard library is used: the source is parsed (``ast``), never imported
or run, and only data is taken from it:

- ``weights``: for each ``--load-format`` (``_LOAD_FORMAT_TO_MODEL_LOADER`` of
  ``vllm/model_executor/model_loader/__init__.py``), the glob patterns of the weight files its
  loader takes from a model folder: ``DefaultModelLoader._prepare_weights`` (its branch per
  format, and the ``*.pt`` fallback of the formats that do not insist on safetensors),
  ``ShardedStateLoader._prepare_weights``, ``RunaiModelStreamerLoader._prepare_weights``; null
  for a loader that reads no weight files of the repository (``dummy``, ``tensorizer``, ...);
- ``auto_mistral``: the patterns whose presence makes ``--load-format auto`` load Mistral's
  own format;
- ``config``: the config file of each ``--config-format`` (``hf``: transformers'
  ``CONFIG_NAME``; ``mistral``: vLLM's ``MISTRAL_CONFIG_NAME``);
- ``tokenizer``: the files a tokenizer is loaded from, per ``--tokenizer-mode``: ``hf`` is
  transformers' ``FULL_TOKENIZER_FILE`` and every tokenizer class's ``vocab_file`` and
  ``tokenizer_file`` (``VOCAB_FILES_NAMES``); ``mistral`` the patterns
  ``resolve_tokenizer_args`` looks for.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = "tools/extract_vllm_loading.py"
LOADERS = "vllm/model_executor/model_loader"


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _strings(node: ast.AST) -> list[str]:
    """The string constants of a list literal."""
    if isinstance(node, ast.List):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _constant(module: ast.Module, name: str) -> Any:
    """A module-level ``NAME = <constant>``."""
    for node in module.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise ValueError(f"no module constant {name}")


def _method(module: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    for node in ast.walk(module):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
    raise ValueError(f"no method {cls}.{name}")


def _formats_of(test: ast.AST) -> list[str]:
    """The formats an ``if load_format == "x" or load_format == "y"`` test names."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        return [f for value in test.values for f in _formats_of(value)]
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "load_format"
        and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant)
    ):
        return [str(test.comparators[0].value)]
    return []


def _assigned(body: list[ast.stmt], name: str) -> Any:
    for node in body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.value
    return None


def default_loader(module: ast.Module) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per format of DefaultModelLoader: its patterns, whether *.pt is its fallback; and the
    patterns that turn ``auto`` into ``mistral``."""
    method = _method(module, "DefaultModelLoader", "_prepare_weights")
    formats: dict[str, dict[str, Any]] = {}
    auto: list[str] = []
    fallback: list[str] = []
    for node in ast.walk(method):
        if isinstance(node, ast.If):
            names = _formats_of(node.test)
            branch: ast.If | None = node
            while branch is not None:
                names = _formats_of(branch.test)
                patterns = _strings(_assigned(branch.body, "allow_patterns") or ast.List(elts=[]))
                safetensors = isinstance(_assigned(branch.body, "use_safetensors"), ast.Constant)
                for name in names:
                    if patterns:
                        formats[name] = {"patterns": patterns, "safetensors_only": safetensors}
                orelse = branch.orelse
                branch = orelse[0] if len(orelse) == 1 and isinstance(orelse[0], ast.If) else None
            if names == ["auto"]:
                for call in ast.walk(node):
                    if isinstance(call, ast.Call):
                        for keyword in call.keywords:
                            if keyword.arg == "allow_patterns":
                                auto = _strings(keyword.value)
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.BoolOp)
            and any(isinstance(v, ast.Name) and v.id == "fall_back_to_pt" for v in node.test.values)
        ):
            for item in node.body:
                if isinstance(item, ast.AugAssign):
                    fallback = _strings(item.value)
    for entry in formats.values():
        entry["fallback"] = [] if entry.pop("safetensors_only") else fallback
    return formats, auto


def loader_patterns(module: ast.Module, cls: str) -> list[str]:
    """The patterns of a loader whose ``_prepare_weights`` names them in one assignment."""
    method = _method(module, cls, "_prepare_weights")
    for node in ast.walk(method):
        if isinstance(node, ast.Assign):
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in (
                "allow_patterns",
                "safetensors_pattern",
            ):
                found = _strings(node.value)
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    found = [node.value.value]
                if found:
                    return found
    raise ValueError(f"no weight patterns in {cls}._prepare_weights")


def tokenizer_files(transformers: Path) -> list[str]:
    """transformers' full tokenizer file, then every tokenizer class's vocabulary files, the
    ones most classes read first."""
    full = _constant(_parse(transformers / "tokenization_utils_base.py"), "FULL_TOKENIZER_FILE")
    uses: dict[str, int] = {}
    for path in sorted((transformers / "models").glob("*/tokenization_*.py")):
        try:
            table = _constant(_parse(path), "VOCAB_FILES_NAMES")
        except (ValueError, SyntaxError):
            continue
        if isinstance(table, dict):
            for key, name in table.items():
                if key in ("vocab_file", "tokenizer_file") and name != full:
                    uses[name] = uses.get(name, 0) + 1
    return [full, *sorted(uses, key=lambda n: (-uses[n], n))]


def mistral_tokenizer_patterns(registry: ast.Module) -> list[str]:
    for node in ast.walk(registry):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") == "any_pattern_in_repo_files"
        ):
            for keyword in node.keywords:
                if keyword.arg == "allow_patterns":
                    return _strings(keyword.value)
    raise ValueError("no Mistral tokenizer patterns in resolve_tokenizer_args")


def extract(site: Path) -> dict[str, Any]:
    vllm = site / "vllm"
    loaders = site / LOADERS
    registry = _parse(loaders / "__init__.py")
    mapping: dict[str, str] = {}
    for node in ast.walk(registry):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id == "_LOAD_FORMAT_TO_MODEL_LOADER":
                assert isinstance(node.value, ast.Dict)
                for key, value in zip(node.value.keys, node.value.values, strict=True):
                    if isinstance(key, ast.Constant) and isinstance(value, ast.Name):
                        mapping[str(key.value)] = value.id
    default, auto = default_loader(_parse(loaders / "default_loader.py"))
    others = {
        "ShardedStateLoader": loader_patterns(
            _parse(loaders / "sharded_state_loader.py"), "ShardedStateLoader"
        ),
        "RunaiModelStreamerLoader": loader_patterns(
            _parse(loaders / "runai_streamer_loader.py"), "RunaiModelStreamerLoader"
        ),
    }
    weights: dict[str, Any] = {}
    for name, loader in sorted(mapping.items()):
        if loader == "DefaultModelLoader" and name in default:
            weights[name] = {"loader": loader, **default[name]}
        elif loader in others:
            weights[name] = {"loader": loader, "patterns": others[loader], "fallback": []}
        else:
            weights[name] = None  # reads no weight files of the repository (or decides at run time)
    config = _parse(vllm / "transformers_utils" / "config.py")
    transformers = site / "transformers"
    hf_config = _constant(_parse(transformers / "utils" / "__init__.py"), "CONFIG_NAME")
    version = (
        _constant(_parse(vllm / "_version.py"), "__version__")
        if (vllm / "_version.py").is_file()
        else ""
    )
    return {
        "generator": GENERATOR,
        "vllm_version": str(version).split("+")[0],
        "weights": weights,
        "auto_mistral": auto,
        "config": {"hf": hf_config, "mistral": _constant(config, "MISTRAL_CONFIG_NAME")},
        "tokenizer": {
            "hf": tokenizer_files(transformers),
            "mistral": mistral_tokenizer_patterns(_parse(vllm / "tokenizers" / "registry.py")),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site_packages", type=Path)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    data = extract(args.site_packages)
    if not data["vllm_version"]:
        sys.exit("cannot read vLLM's version (vllm/_version.py)")
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    out = ROOT / "schemas" / "vllm" / f"{data['vllm_version']}-loading.json"
    if args.check:
        same = out.is_file() and out.read_text(encoding="utf-8") == text
        if not same:
            print(f"{out.relative_to(ROOT)} differs from vLLM's source", file=sys.stderr)
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
