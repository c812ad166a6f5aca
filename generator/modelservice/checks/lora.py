"""LoRA adapters: each from a hub or a folder, under a name of its own, and runtime loading
only behind an API key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..core.rules import rule
from .context import check

if TYPE_CHECKING:
    from .context import Context

LORA_ADAPTER_SOURCE = rule(
    "lora-adapter-source",
    "error",
    "values",
    "A LoRA adapter with both or neither of `repo` (a hub repository the init container "
    "downloads) and `path` (a folder on a volume the pod mounts), or a `revision` or `source` "
    "on a path adapter, where nothing reads them.",
)
LORA_ADAPTER_NAME = rule(
    "lora-adapter-name",
    "error",
    "values",
    "Two adapters under one name, or an adapter named like the model's served name: clients "
    "choose an adapter by its name, so each needs its own.",
)
LORA_RUNTIME_UPDATES_OPEN = rule(
    "lora-runtime-updates-open",
    "warning",
    "values",
    "lora.runtimeUpdates without an API key: any client that reaches the Service can load an "
    "adapter from any path of the container and replace what a served name answers. Set "
    "auth.apiKey.secretName (or auth.apiKey.create), or turn it off.",
)


@check("values", LORA_ADAPTER_SOURCE, LORA_ADAPTER_NAME, phase="rules")
def lora_adapters(ctx: Context) -> list[Problem]:
    """Each adapter comes from a hub (``repo``) or a folder (``path``), under a name of its own."""
    adapters = ctx.value(("lora", "adapters")) or []
    served = ctx.value(("model", "servedModelName")) or ctx.value(("model", "name"))
    problems: list[Problem] = []
    names: dict[str, int] = {}
    for index, adapter in enumerate(adapters):
        if not isinstance(adapter, dict):
            continue
        where = ("lora", "adapters", index)
        repo, path = adapter.get("repo"), adapter.get("path")
        if bool(repo) == bool(path):
            problems.append(
                ctx.problem(
                    where,
                    "an adapter needs either repo (a hub repository the init container "
                    "downloads) or path (a folder on a volume the pod mounts)"
                    + (", not both" if repo else ""),
                    LORA_ADAPTER_SOURCE,
                    key=False,
                )
            )
        elif path and (adapter.get("revision") or adapter.get("source")):
            extra = "revision" if adapter.get("revision") else "source"
            problems.append(
                ctx.problem(
                    (*where, extra),
                    f"{extra} is read only for a hub adapter (repo); an adapter at path is "
                    "served as the folder holds it",
                    LORA_ADAPTER_SOURCE,
                )
            )
        name = adapter.get("name")
        if not isinstance(name, str):
            continue
        if name in names:
            problems.append(
                ctx.problem(
                    (*where, "name"),
                    f"adapter name {name!r} is taken by lora.adapters[{names[name]}]: clients "
                    "choose an adapter by its name, so each needs its own",
                    LORA_ADAPTER_NAME,
                    key=False,
                )
            )
        elif name == served:
            problems.append(
                ctx.problem(
                    (*where, "name"),
                    f"adapter name {name!r} is the model's served name: a request for it "
                    "could not say whether it wants the adapter; pick another name",
                    LORA_ADAPTER_NAME,
                    key=False,
                )
            )
        names.setdefault(name, index)
    return problems


@check("values", LORA_RUNTIME_UPDATES_OPEN, phase="rules")
def runtime_lora_updates(ctx: Context) -> list[Problem]:
    """Runtime adapter loading on an API without a key lets anyone change what it serves."""
    if not ctx.value(("lora", "runtimeUpdates")):
        return []
    auth = ctx.value(("auth", "apiKey")) or {}
    if auth.get("secretName") or auth.get("create"):
        return []
    return [
        ctx.problem(
            ("lora", "runtimeUpdates"),
            "lora.runtimeUpdates lets any client that reaches the API load an adapter from "
            "any path of the container and replace what a served name answers, and no API "
            "key is set: set auth.apiKey.secretName (or auth.apiKey.create), or turn it off",
            LORA_RUNTIME_UPDATES_OPEN,
            key=False,
        )
    ]
