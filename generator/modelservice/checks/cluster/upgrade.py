"""An upgrade of an installed release: what it cannot change (a selector, a claim's size, class
and access modes), and what it does to the pods (notes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...core.rules import rule
from ...core.tree import get
from ...vllm.args import read_args
from ..context import Finding, check
from . import namespace_exists
from .nodes import quantity

if TYPE_CHECKING:
    from ..context import Context

CHECK_IMMUTABLE = rule(
    "check-immutable",
    "error",
    "cluster",
    "The release is installed, and the upgrade would change what Kubernetes never changes in "
    "place: a Deployment's selector (another release or chart name), a claim's size downwards, "
    "its StorageClass or access modes. `helm upgrade` fails.",
)


def subset_difference(rendered: Any, live: Any, path: str = "") -> str | None:
    """The first field of ``rendered`` that ``live`` lacks or holds otherwise (fields the API
    server defaults are ignored)."""
    if live is None and rendered in (0, "", False, None, [], {}):
        return None  # the API server leaves out empty fields
    if isinstance(rendered, dict):
        if not isinstance(live, dict):
            return path or "/"
        for key, value in rendered.items():
            found = subset_difference(value, live.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(rendered, list):
        if not isinstance(live, list) or len(live) != len(rendered):
            return path
        for index, (mine, theirs) in enumerate(zip(rendered, live, strict=True)):
            found = subset_difference(mine, theirs, f"{path}[{index}]")
            if found:
                return found
        return None
    if live != rendered and str(live) != str(rendered):
        return path
    return None


def _revision(ctx: Context, args: list[Any]) -> str | None:
    index = ctx.flags[0]
    return read_args(args, index, positionals=1).value("--revision") if index else None


@check("cluster", CHECK_IMMUTABLE)
def upgrade(ctx: Context) -> Iterator[Finding]:
    """What an upgrade over the installed release cannot change, and what it restarts."""
    if not namespace_exists(ctx):
        return
    installed = False
    for obj in ctx.release.of_kind("Deployment"):
        name = str(get(obj, ("metadata", "name")))
        live = ctx.cluster.deployment(ctx.namespace, name)
        if live is None:
            continue
        installed = True
        if get(obj, ("spec", "selector")) != get(live, ("spec", "selector")):
            yield Finding(
                obj,
                ("spec", "selector"),
                f"Deployment {name} exists with another selector "
                f"({get(live, ('spec', 'selector', 'matchLabels'))}); a selector is immutable: "
                "the upgrade fails. Uninstall first or keep the release and chart names",
                CHECK_IMMUTABLE,
                key=True,
            )
        template = ("spec", "template")
        changed = subset_difference(get(obj, template), get(live, template))
        if not changed:
            ctx.notes.append(f"upgrade: Deployment {name} exists; its pods stay as they are")
            continue
        containers = (*template, "spec", "containers", 0, "args")
        live_args = [str(a) for a in get(live, containers) or []]
        args = [str(a) for a in get(obj, containers) or []]
        again = live_args[:1] != args[:1] or _revision(ctx, live_args) != _revision(ctx, args)
        ctx.notes.append(
            f"upgrade: Deployment {name} exists; the pod template changes (first at "
            f"{changed}): the pods restart"
            + ("; the model or its revision changes: it is downloaded again" if again else "")
        )
    for obj in ctx.release.of_kind("PersistentVolumeClaim"):
        name = str(get(obj, ("metadata", "name")))
        live = ctx.cluster.claim(ctx.namespace, name)
        if live is None:
            if installed:
                ctx.notes.append(
                    f"upgrade: the cache claim {name} is new: the model is downloaded again"
                )
            continue
        storage = ("spec", "resources", "requests", "storage")
        if quantity(get(obj, storage)) < quantity(get(live, storage)):
            yield Finding(
                obj,
                storage,
                f"the claim {name} exists with {get(live, storage)} and the release asks for "
                f"{get(obj, storage)}: a claim cannot shrink, the upgrade fails",
                CHECK_IMMUTABLE,
                key=True,
            )
        for field in ("storageClassName", "accessModes"):
            mine = get(obj, ("spec", field))
            theirs = get(live, ("spec", field))
            if mine is not None and mine != theirs:
                yield Finding(
                    obj,
                    ("spec", field),
                    f"the claim {name} exists with {field} {theirs!r}, the release renders "
                    f"{mine!r}: immutable once created, the upgrade fails",
                    CHECK_IMMUTABLE,
                    key=True,
                )
