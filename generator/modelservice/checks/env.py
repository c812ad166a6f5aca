"""Environment variables of the rendered containers: each set once, and the chart's own set
through their typed keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..core.rules import rule
from ..core.tree import Path_, dotted
from .context import Finding, check

if TYPE_CHECKING:
    from .context import Context

ENV_DUPLICATE = rule(
    "env-duplicate",
    "error",
    "release",
    "One variable twice in `env`: Kubernetes keeps the last one silently, so one of the two "
    "values is lost. Keep one.",
)
ENV_OVERRIDES_CHART = rule(
    "env-overrides-chart",
    "error",
    "release",
    "An `env` entry setting a variable the chart sets from a typed key (`HF_ENDPOINT` from "
    "huggingface.endpoint, `HF_TOKEN` from huggingface.token, `HF_HUB_OFFLINE`, ...): the two "
    "fight, and only one wins without a word. Set the typed key instead; the message names it.",
)


@check("release", ENV_DUPLICATE, ENV_OVERRIDES_CHART)
def environment(ctx: Context) -> Iterator[Finding]:
    """A variable set twice in one container: Kubernetes keeps the last one silently."""
    for pod in ctx.release.pods:
        for container in pod.containers():
            seen: dict[str, Path_] = {}
            for index, var in container.env():
                name = var["name"]
                path = (*container.path, "env", index)
                if name not in seen:
                    seen[name] = path
                    continue
                first = ctx.values_path(pod.obj, seen[name])
                second = ctx.values_path(pod.obj, path)
                if first[:1] == ("env",) and second[:1] == ("env",):
                    yield Finding(
                        pod.obj,
                        (*path, "name"),
                        f"{name} is already set by env[{first[1]}]; Kubernetes keeps only the "
                        "last one",
                        ENV_DUPLICATE,
                    )
                else:
                    yield Finding(
                        pod.obj,
                        (*path, "name"),
                        f"{name} is set by the chart from {dotted(first)}; change that key "
                        "instead of setting the variable",
                        ENV_OVERRIDES_CHART,
                    )
