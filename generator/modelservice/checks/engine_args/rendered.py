"""``engine.args`` as they end up on the rendered server's command line: a flag the chart
renders itself, repeated; and flags that reach for a hub while the server runs offline.

The init container downloads the model, its tokenizer, the draft model and the LoRA adapters
into the cache, and the server then runs offline (``HF_HUB_OFFLINE=1``, which vLLM also reads
for ModelScope): anything else it would fetch from a hub at startup makes it crash-loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...core.rules import rule
from ...core.tree import dotted, get
from ...release import Server
from ..context import Finding, check
from .flags import ENGINE_ARG_DUPLICATES_KEY

if TYPE_CHECKING:
    from ..context import Context

_OFFLINE = (
    "while the server runs offline (HF_HUB_OFFLINE=1) on what the init container downloaded, "
    "it would fail at startup"
)
ENGINE_ARG_REVISION = rule(
    "engine-arg-revision",
    "error",
    "release",
    f"`--revision` in engine.args asks for a revision the init container did not download, and "
    f"{_OFFLINE}: set model.revision, which the download and the server both follow.",
)
ENGINE_ARG_DOWNLOAD_DIR = rule(
    "engine-arg-download-dir",
    "error",
    "release",
    "`--download-dir` makes the server look for the weights outside the cache the init "
    "container filled (HF_HOME / MODELSCOPE_CACHE under persistence.mountPath): drop it, and "
    "move the cache with persistence.mountPath instead.",
)
ENGINE_ARG_TOKENIZER_FROM_HUB = rule(
    "engine-arg-tokenizer-from-hub",
    "error",
    "release",
    f"`--tokenizer org/other` or `--tokenizer-revision` names a hub tokenizer the init "
    f"container does not download, and {_OFFLINE}: set model.tokenizer.name (and revision), "
    "downloaded with the model.",
)
ENGINE_ARG_LORA_FROM_HUB = rule(
    "engine-arg-lora-from-hub",
    "error",
    "release",
    f"`--lora-modules name=org/adapter` names a hub adapter the init container does not "
    f"download, and {_OFFLINE}: list it under lora.adapters, which the init container "
    "downloads and the chart serves from the cache.",
)
ENGINE_ARG_DRAFT_FROM_HUB = rule(
    "engine-arg-draft-from-hub",
    "error",
    "release",
    f"`--speculative-config` or `--spec-model` names a hub draft model the init container does "
    f"not download, and {_OFFLINE}: set speculative.model (and speculative.config for the other "
    "fields).",
)


def _user_offset(ctx: Context, server: Server) -> int | None:
    """Where engine.args begin on the rendered command line (they end it), or None."""
    user = [str(a) for a in get(ctx.values, ("engine", "args")) or []]
    args = server.container.args
    start = len(args) - len(user)
    if not user or start < 0 or args[start:] != user:
        return None
    return start


@check("release", ENGINE_ARG_DUPLICATES_KEY)
def repeated_chart_flags(ctx: Context) -> Iterator[Finding]:
    """A flag of engine.args that the chart renders itself from a typed key."""
    server = ctx.release.server
    start = _user_offset(ctx, server) if server is not None else None
    if server is None or start is None:
        return
    chart_flags = {g.name: g for g in server.args.given if g.flag_at < start}
    for given in server.args.given:
        if given.flag_at < start or given.name not in chart_flags:
            continue
        chart_at = server.arg_path(chart_flags[given.name].flag_at)
        key = ctx.values_path(server.obj, chart_at)
        found = ctx.values_map.entry(server.obj, chart_at)
        if key[:2] == ("engine", "args") and found and given.name in found[0].owned:
            # The chart's own flag spelled as the user's item: its owner is the typed key.
            key = found[0].owned[given.name]
        where_set = ""
        if ctx.sets(key):
            line, column = ctx.loaded.position(key)
            where_set = f" (this file sets {dotted(key)} on line {line}, column {column})"
        yield Finding(
            server.obj,
            server.arg_path(given.flag_at),
            f"{given.name} is rendered by the chart from {dotted(key)}; set that key instead "
            f"of repeating the flag{where_set}",
            ENGINE_ARG_DUPLICATES_KEY,
        )


def _is_hub_id(value: str) -> bool:
    """A value vLLM takes for a hub repository rather than a path: not absolute, no ``~``,
    no ``./`` (vLLM checks a relative path against the working directory, which holds none)."""
    return bool(value) and not value.startswith(("/", "~", "."))


def _lora_modules(value: str) -> list[tuple[str, str]]:
    """(name, path) of one ``--lora-modules`` value: ``name=path`` or JSON."""
    if value.startswith(("{", "[")):
        try:
            data = json.loads(value)
        except ValueError:
            return []
        items = data if isinstance(data, list) else [data]
        return [
            (str(i.get("name")), str(i.get("path")))
            for i in items
            if isinstance(i, dict) and i.get("path")
        ]
    name, sep, path = value.partition("=")
    return [(name, path)] if sep else []


def _draft(name: str, value: str) -> Any:
    if name != "--speculative-config":
        return value
    try:
        config = json.loads(value)
    except ValueError:
        return None  # the engine-argument check says why
    return config.get("model") if isinstance(config, dict) else None


@check(
    "release",
    ENGINE_ARG_REVISION,
    ENGINE_ARG_DOWNLOAD_DIR,
    ENGINE_ARG_TOKENIZER_FROM_HUB,
    ENGINE_ARG_LORA_FROM_HUB,
    ENGINE_ARG_DRAFT_FROM_HUB,
)
def offline_engine_args(ctx: Context) -> Iterator[Finding]:
    """Arguments of engine.args that make the offline server fetch from a hub at startup."""
    server = ctx.release.server
    start = _user_offset(ctx, server) if server is not None else None
    if server is None or start is None or not server.offline:
        return
    why = (
        "the server runs offline (HF_HUB_OFFLINE=1) on what the init container downloaded "
        "and would fail at startup"
    )
    for given in server.args.given:
        if given.flag_at < start or given.negation or given.subkey is not None:
            continue
        at = server.arg_path(given.flag_at)
        value = given.value or ""
        if given.name == "--revision":
            yield Finding(
                server.obj,
                at,
                f"--revision in engine.args asks for a revision the init container did not "
                f"download, and {why}: set model.revision, which the download and the server "
                "both follow",
                ENGINE_ARG_REVISION,
            )
        elif given.name == "--download-dir":
            yield Finding(
                server.obj,
                at,
                "--download-dir makes the server look for the weights outside the cache the "
                "init container filled (HF_HOME / MODELSCOPE_CACHE under "
                f"persistence.mountPath), and {why}: drop it, and move the cache with "
                "persistence.mountPath instead",
                ENGINE_ARG_DOWNLOAD_DIR,
            )
        elif given.name == "--tokenizer" and _is_hub_id(value):
            yield Finding(
                server.obj,
                at,
                f"--tokenizer {value} names a hub tokenizer the init container does not "
                f"download, and {why}: set model.tokenizer.name, which the download and the "
                "server both follow",
                ENGINE_ARG_TOKENIZER_FROM_HUB,
            )
        elif given.name == "--tokenizer-revision":
            yield Finding(
                server.obj,
                at,
                "--tokenizer-revision asks for a tokenizer revision the init container did "
                f"not download, and {why}: set model.tokenizer.name and "
                "model.tokenizer.revision, which the download and the server both follow",
                ENGINE_ARG_TOKENIZER_FROM_HUB,
            )
        elif given.name == "--lora-modules":
            hub = [m for v in given.values for m in _lora_modules(v) if _is_hub_id(m[1])]
            if hub:
                adapter, path = hub[0]
                yield Finding(
                    server.obj,
                    at,
                    f"--lora-modules {adapter}={path} names a hub adapter the init container "
                    f"does not download, and {why}: list it under lora.adapters as "
                    f"{{name: {adapter}, repo: {path}}}, which the init container downloads "
                    "and the chart serves from the cache",
                    ENGINE_ARG_LORA_FROM_HUB,
                )
        elif given.name in ("--speculative-config", "--spec-model"):
            draft = _draft(given.name, value)
            if isinstance(draft, str) and _is_hub_id(draft):
                yield Finding(
                    server.obj,
                    at,
                    f"{given.name} names the draft model {draft}, a hub repository the init "
                    f"container does not download, and {why}: set speculative.model (and "
                    "speculative.config for the other fields), which the init container "
                    "downloads with the model",
                    ENGINE_ARG_DRAFT_FROM_HUB,
                )
