"""Extract what vLLM's weight loaders accept, and what its sleep and development modes are, into a
JSON data file, by running vLLM's own code.

Run it with the python of a vLLM venv (``tools/vllm_env.sh``; ``make tools`` keeps one per
release in ``~/.cache/modelservice/vllm-<version>``)::

    VLLM_TARGET_DEVICE=cpu ~/.cache/modelservice/vllm-0.33.0/bin/python \
        tools/extract_vllm_loaders.py

It writes ``schemas/vllm/<vllm version>-loaders.json``:

- ``load_formats``: every ``--load-format`` of vLLM's loader table
  (``vllm.model_executor.model_loader._LOAD_FORMAT_TO_MODEL_LOADER``), with its loader class and
  vLLM's verdict on constructing it with no extra config (``constructs``; a format that needs
  more, such as tensorizer's config or a package the image may lack, records the error). For a
  loader whose ``__init__`` lists the keys of ``--model-loader-extra-config`` it accepts (an
  ``allowed_keys`` set in its source), ``extra_config`` gives each key with the kinds of JSON
  value vLLM took (``bool``, ``int``, ``float``, ``str``) among ``VALUE_SAMPLES``, the least
  integer it took (``minimum``, when every larger sample passed too) and its refusal of the
  others; and vLLM's refusal of an unknown key. Each listed key is verified by running the
  constructor: a key it does not take is an error of this tool, not data.
- ``safetensors_load_strategies``: the values of ``--safetensors-load-strategy``.
- ``refused_combinations``: each (format, strategy, switch) the constructor refuses although the
  format alone and the strategy alone pass; switches are the extra-config keys that take
  ``true``.
- ``sleep_mode.platforms``: the platforms vLLM's ``is_sleep_mode_available`` answers yes for.
- ``dev_mode``: the HTTP endpoints ``VLLM_SERVER_DEV_MODE=1`` adds (the routers vLLM registers
  then, on an empty FastAPI app), and ``guarded_prefixes``, the paths vLLM's API key guards.

Nothing is typed by hand and no vLLM code is copied: the output is canonical JSON (sorted keys,
indent 2), so a rerun on the same vLLM gives the same bytes.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

GENERATOR = "tools/extract_vllm_loaders.py"
REPO_ROOT = Path(__file__).resolve().parent.parent
#: JSON values tried for every extra-config key, by kind.
VALUE_SAMPLES: list[tuple[str, Any]] = [
    ("bool", True),
    ("bool", False),
    ("int", 8),
    ("float", 1.5),
    ("str", "8"),
]
#: Integers tried to find the least one a numeric key takes.
INT_SAMPLES = list(range(-4, 5))
UNKNOWN_KEY = "modelservice_probe"


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def allowed_keys(cls: type) -> list[str] | None:
    """The ``allowed_keys`` set literal of a loader's ``__init__``, or None."""
    try:
        source = textwrap.dedent(inspect.getsource(cls.__init__))
    except (OSError, TypeError):
        return None
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Set):
            continue
        if any(isinstance(t, ast.Name) and t.id == "allowed_keys" for t in node.targets):
            keys = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
            if all(isinstance(k, str) for k in keys):
                return sorted(keys)
    return None


def construct(
    fmt: str, extra: dict[str, Any] | None = None, strategy: str | None = None
) -> str | None:
    """vLLM's verdict on a loader: None when it constructs, else its error."""
    from vllm.config.load import LoadConfig
    from vllm.model_executor.model_loader import get_model_loader

    try:
        config = LoadConfig(
            load_format=fmt,
            model_loader_extra_config=dict(extra or {}),
            safetensors_load_strategy=strategy,
        )
        get_model_loader(config)
    except Exception as exc:  # vLLM's verdict, recorded as data
        return _error(exc)
    return None


def key_rules(fmt: str, key: str) -> dict[str, Any]:
    """What one extra-config key of a format takes: vLLM's verdict on each sample (by its JSON
    text: null when taken, else the error), the kinds of value it took at least once, and for
    an integer key the least integer it takes (every larger sample taken too)."""
    samples: dict[str, str | None] = {}
    accepts: list[str] = []
    for kind, value in VALUE_SAMPLES:
        verdict = construct(fmt, {key: value})
        samples[json.dumps(value)] = verdict
        if verdict is None and kind not in accepts:
            accepts.append(kind)
    entry: dict[str, Any] = {"accepts": sorted(accepts), "samples": samples}
    if "int" in accepts:
        verdicts = {n: construct(fmt, {key: n}) for n in INT_SAMPLES}
        taken = [n for n in INT_SAMPLES if verdicts[n] is None]
        least = min(taken) if taken else None
        if (
            least is not None
            and least > INT_SAMPLES[0]
            and taken == [n for n in INT_SAMPLES if n >= least]
        ):
            entry["minimum"] = least
            entry["below_minimum"] = verdicts[least - 1]
    return entry


def load_formats() -> dict[str, Any]:
    from vllm.model_executor import model_loader

    table = model_loader._LOAD_FORMAT_TO_MODEL_LOADER
    found: dict[str, Any] = {}
    for fmt, cls in sorted(table.items()):
        base = construct(fmt)
        entry: dict[str, Any] = {"loader": cls.__name__, "constructs": base is None}
        if base is not None:
            entry["error"] = base
            found[fmt] = entry
            continue
        keys = allowed_keys(cls)
        if keys is not None:
            rules = {key: key_rules(fmt, key) for key in keys}
            for key, rule in rules.items():
                if not rule["accepts"]:
                    raise SystemExit(f"{fmt}: {cls.__name__} lists {key!r} but takes no sample")
            unknown = construct(fmt, {UNKNOWN_KEY: 1})
            if unknown is None:
                raise SystemExit(f"{fmt}: {cls.__name__} takes the unknown key {UNKNOWN_KEY}")
            entry["extra_config"] = {
                "keys": rules,
                "unknown_key_refusal": unknown.replace(UNKNOWN_KEY, "{key}"),
            }
        found[fmt] = entry
    return found


def strategies() -> list[str]:
    import typing

    from vllm.config import load

    return list(typing.get_args(load.SafetensorsLoadStrategy))


def refused_combinations(formats: dict[str, Any], choices: list[str]) -> list[dict[str, Any]]:
    found = []
    for fmt, entry in formats.items():
        if not entry["constructs"]:
            continue
        keys = (entry.get("extra_config") or {}).get("keys") or {}
        switches = [None, *(k for k, rule in keys.items() if "bool" in rule["accepts"])]
        for strategy in choices:
            if construct(fmt, None, strategy) is not None:
                continue
            for switch in switches:
                extra = {switch: True} if switch else {}
                if switch and construct(fmt, extra) is not None:
                    continue
                verdict = construct(fmt, extra, strategy)
                if verdict is not None:
                    found.append(
                        {"format": fmt, "strategy": strategy, "switch": switch, "error": verdict}
                    )
    return found


def sleep_platforms() -> list[str]:
    from vllm.platforms.interface import Platform, PlatformEnum

    available = []
    for member in PlatformEnum:
        probe = Platform()
        probe._enum = member
        if probe.is_sleep_mode_available():
            available.append(member.name.lower())
    return sorted(available)


def dev_mode() -> dict[str, Any]:
    from fastapi import FastAPI
    from vllm.entrypoints.rl.factories import register_rl_api_routers
    from vllm.entrypoints.serve import register_vllm_dev_api_routers
    from vllm.entrypoints.serve.middleware import authenticate

    app = FastAPI()
    register_vllm_dev_api_routers(app)
    register_rl_api_routers(app)
    paths = sorted({route.path for route in app.routes} - {r.path for r in FastAPI().routes})
    return {"endpoints": paths, "guarded_prefixes": sorted(authenticate.GUARDED_PREFIX)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="default: schemas/vllm/<version>-loaders.json")
    args = parser.parse_args(argv)
    import vllm

    version = vllm.__version__.split("+")[0]
    formats = load_formats()
    choices = strategies()
    data = {
        "generator": GENERATOR,
        "vllm_version": version,
        "load_formats": formats,
        "safetensors_load_strategies": choices,
        "refused_combinations": refused_combinations(formats, choices),
        "sleep_mode": {"platforms": sleep_platforms()},
        "dev_mode": dev_mode(),
    }
    out = args.output or REPO_ROOT / "schemas" / "vllm" / f"{version}-loaders.json"
    out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
