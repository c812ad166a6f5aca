"""The weight loader: ``--load-format``, ``--model-loader-extra-config`` and
``--safetensors-load-strategy`` as the rendered server gets them (from ``loader.*`` or
``engine.args``), judged by what the image's vLLM release does with them
(``schemas/vllm/<version>-loaders.json``, vLLM's own verdicts recorded by running its loaders).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..core.rules import rule
from ..vllm.loaders import loader_data
from .context import Finding, check

if TYPE_CHECKING:
    from ..core.tree import Path_
    from ..release import Server
    from .context import Context

#: The values key the chart renders each extra-config key from.
VALUES_KEYS = {
    "concurrency": "concurrency",
    "memory_limit": "memoryLimit",
    "distributed": "distributed",
}

LOADER_FORMAT_UNKNOWN = rule(
    "loader-format-unknown",
    "error",
    "release",
    "A `--load-format` (loader.format, or engine.args) that the image's vLLM release has no "
    "loader for: the server stops with `Load format ... is not supported` unless a plugin "
    "registers it. The message names the closest format vLLM has.",
)
LOADER_EXTRA_CONFIG_REFUSED = rule(
    "loader-extra-config-refused",
    "error",
    "release",
    "A key of `--model-loader-extra-config` (loader.concurrency, loader.memoryLimit, "
    "loader.distributed, or engine.args) that the chosen format's loader refuses, or a value it "
    "refuses, as vLLM's own loader says when it starts: `concurrency` and `memory_limit` belong "
    "to `runai_streamer`, and concurrency must be at least 1, memory_limit at least -1. The "
    "message gives the keys the loader takes.",
)
LOADER_COMBINATION_REFUSED = rule(
    "loader-combination-refused",
    "error",
    "release",
    "A `--safetensors-load-strategy` that the chosen loader refuses with its extra config (the "
    "multi-thread loader, `enable_multithread_load`, implements only the lazy strategy), as "
    "vLLM's own loader says when it starts.",
)


def _extra_config(server: Server) -> tuple[dict[str, Any], int | None]:
    """The extra config the server reads (the last JSON given, then dotted sub-keys), with the
    index of the token that gives it."""
    config: dict[str, Any] = {}
    at = None
    for given in server.args.all("--model-loader-extra-config"):
        if given.value is None or (given.refusal is not None and given.refusal.refuses):
            continue
        if given.subkey is None:
            try:
                loaded = json.loads(given.value)
            except ValueError:
                continue
            if isinstance(loaded, dict):
                config, at = dict(loaded), given.flag_at
        else:
            try:
                config[given.subkey] = json.loads(given.value)
            except ValueError:
                config[given.subkey] = given.value
            at = given.flag_at
    return config, at


@check("release", LOADER_FORMAT_UNKNOWN, LOADER_EXTRA_CONFIG_REFUSED, LOADER_COMBINATION_REFUSED)
def loader(ctx: Context) -> Iterator[Finding]:
    server = ctx.release.server
    index = ctx.flags[0]
    data = loader_data(index.version) if index is not None else None
    if server is None or data is None:
        return
    given = server.args.last("--load-format")
    fmt = (given.value if given is not None else None) or "auto"
    fmt = fmt.lower()  # vLLM's LoadConfig lowercases it
    if fmt not in data.formats:
        near = difflib.get_close_matches(fmt, sorted(data.formats), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else ""
        at = given.flag_at if given is not None else 0
        yield Finding(
            server.obj,
            server.arg_path(at),
            f"--load-format {fmt} is not a format of vLLM {data.version}{hint}: the server "
            f"would stop with `Load format {fmt} is not supported` unless a plugin registers it; "
            f"vLLM has {', '.join(sorted(data.formats))}",
            LOADER_FORMAT_UNKNOWN,
        )
        return
    config, at = _extra_config(server)
    keys = data.keys(fmt)
    if config and keys is not None and at is not None:
        takes = ", ".join(sorted(keys)) or "none"
        for key, value in config.items():
            mine: Path_ = ("loader", VALUES_KEYS.get(key, ""))
            values = mine if key in VALUES_KEYS and ctx.sets(mine) else None
            if key not in keys:
                owners = sorted(f for f in data.formats if key in (data.keys(f) or {}))
                advice = (
                    f"set loader.format: {owners[0]}, whose loader takes it"
                    if owners
                    else "drop it"
                )
                yield Finding(
                    server.obj,
                    server.arg_path(at),
                    f"`{key}` is not a key the {fmt} loader of vLLM {data.version} takes "
                    f"(it takes {takes}): vLLM stops with "
                    f"`{data.unknown_key_refusal(fmt, key)}`; {advice}",
                    LOADER_EXTRA_CONFIG_REFUSED,
                    values=values,
                )
                continue
            refusal = data.value_refusal(fmt, key, value)
            if refusal:
                least = keys[key].get("minimum")
                bound = f" (the least it takes is {least})" if least is not None else ""
                yield Finding(
                    server.obj,
                    server.arg_path(at),
                    f"{key} {json.dumps(value)}: the {fmt} loader of vLLM {data.version} refuses "
                    f"it{bound}: `{refusal}`",
                    LOADER_EXTRA_CONFIG_REFUSED,
                    values=values,
                )
    strategy = server.args.value("--safetensors-load-strategy")
    if strategy:
        switches = {k for k, v in config.items() if v is True}
        refusal = data.refused_combination(fmt, strategy, switches)
        if refusal:
            where = server.args.last("--safetensors-load-strategy")
            assert where is not None
            yield Finding(
                server.obj,
                server.arg_path(where.flag_at),
                f"--safetensors-load-strategy {strategy} with the {fmt} loader and "
                f"{', '.join(sorted(switches)) or 'its extra config'}: vLLM {data.version} "
                f"refuses the combination: `{refusal}`; use the lazy strategy, or drop the switch",
                LOADER_COMBINATION_REFUSED,
            )
