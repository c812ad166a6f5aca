"""Routing against the live cluster: the Gateway a pool's route attaches to and whether its
controller implements the Inference Extension (before install), the pool's conditions (after
install), the pool a release joins, and the API group of its objectives."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from ...core.paths import schemas_dir
from ...core.rules import rule
from ...core.tree import get
from ...vllm.args import read_args
from ..context import Finding, check
from . import namespace_exists

if TYPE_CHECKING:
    from ..context import Context

CHECK_GATEWAY = rule(
    "check-gateway",
    "error",
    "cluster",
    "The Gateway that the release's HTTPRoute attaches to (httpRoute.parentRefs), or its "
    "GatewayClass, does not exist: the route is never programmed and no request reaches the "
    "service. Create the Gateway first, or name one that exists.",
)
CHECK_GATEWAY_INFERENCE = rule(
    "check-gateway-inference",
    "warning",
    "cluster",
    "The route's backend is an InferencePool and its Gateway's class is run by a controller "
    "not known to implement the Gateway API Inference Extension (by the GatewayClass's "
    "spec.controllerName; the known ones are listed in docs/routing.md with what each needs): "
    "the pool would get no traffic. Use a Gateway of a conforming implementation.",
)
CHECK_POOL_STATUS = rule(
    "check-pool-status",
    "error",
    "cluster",
    "The installed InferencePool is not Accepted, or its references not resolved "
    "(ResolvedRefs), by a Gateway that routes to it (status.parents): the gateway sends it no "
    "request. The message gives the condition's reason and message. A pool no Gateway has "
    "taken up yet is a warning.",
)
CHECK_POOL_JOIN = rule(
    "check-pool-join",
    "error",
    "cluster",
    "The pool a release joins (routing.inferencePool.join) does not exist in the namespace, "
    "does not select the pool label this release puts on its pods, does not target the "
    "release's port, or its pods serve another model name; or, with kvEvents, the release "
    "would publish to a picker the pool does not use, or with another block size. The pool "
    "would never route to this release, or route it requests it cannot serve.",
)
CHECK_OBJECTIVE_GROUP = rule(
    "check-objective-group",
    "error",
    "cluster",
    "InferenceObjectives in the older group (routing.objectivesApiGroup "
    "inference.networking.x-k8s.io) on a cluster that serves the llm-d.ai InferenceObjective "
    "too: the endpoint picker reads the llm-d.ai group then and ignores these. Use llm-d.ai.",
)

POOL_LABEL = "modelservice/inference-pool"
GATEWAY_GROUP = "gateway.networking.k8s.io"


@cache
def known_gateways() -> list[dict[str, Any]]:
    """The implementations of the extension (schemas/gateways.yaml)."""
    import yaml

    data = yaml.safe_load((schemas_dir() / "gateways.yaml").read_text(encoding="utf-8"))
    return list(data["gateways"])


def gateway_of(controller: str) -> dict[str, Any] | None:
    return next((g for g in known_gateways() if controller in g["controllers"]), None)


def _routes_to_pool(route: dict[str, Any]) -> bool:
    return any(
        ref.get("kind") == "InferencePool"
        for r in get(route, ("spec", "rules")) or []
        for ref in r.get("backendRefs") or []
    )


@check("cluster", CHECK_GATEWAY, CHECK_GATEWAY_INFERENCE)
def gateways(ctx: Context) -> Iterator[Finding]:
    """The route's Gateways and their classes exist; with a pool backend, their controller
    implements the extension."""
    for route in ctx.release.of_kind("HTTPRoute"):
        pool = _routes_to_pool(route)
        for index, ref in enumerate(get(route, ("spec", "parentRefs")) or []):
            if ref.get("group", GATEWAY_GROUP) != GATEWAY_GROUP or ref.get("kind", "Gateway") != (
                "Gateway"
            ):
                continue
            namespace = ref.get("namespace") or ctx.namespace
            name = str(ref.get("name"))
            path = ("spec", "parentRefs", index, "name")
            gateway = ctx.cluster.gateway(namespace, name)
            if gateway is None:
                yield Finding(
                    route,
                    path,
                    f"the Gateway {namespace}/{name} does not exist: the route would attach to "
                    "nothing; create it, or name an existing Gateway in httpRoute.parentRefs",
                    CHECK_GATEWAY,
                )
                continue
            class_name = str(get(gateway, ("spec", "gatewayClassName")))
            found = ctx.cluster.gateway_class(class_name)
            if found is None:
                yield Finding(
                    route,
                    path,
                    f"the Gateway {namespace}/{name} names the GatewayClass {class_name}, which "
                    "does not exist: no controller programs it",
                    CHECK_GATEWAY,
                )
                continue
            controller = str(get(found, ("spec", "controllerName")))
            known = gateway_of(controller)
            if pool and known is None:
                names = ", ".join(g["name"] for g in known_gateways())
                yield Finding(
                    route,
                    path,
                    f"the Gateway {namespace}/{name} is of class {class_name}, run by "
                    f"{controller}, which is not one known to route to an InferencePool "
                    f"({names}; docs/routing.md): the pool may get no traffic",
                    CHECK_GATEWAY_INFERENCE,
                )
            elif pool and known is not None:
                ctx.notes.append(
                    f"routing: Gateway {namespace}/{name} is {known['name']} ({controller}); "
                    f"it needs {known['needs']}"
                )


@check("cluster", CHECK_POOL_STATUS)
def pool_status(ctx: Context) -> Iterator[Finding]:
    """After install: the pool Accepted and its references resolved by every parent."""
    if not namespace_exists(ctx):
        return
    for pool in ctx.release.of_kind("InferencePool"):
        name = str(get(pool, ("metadata", "name")))
        live = ctx.cluster.inference_pool(ctx.namespace, name)
        if live is None:
            continue  # not installed yet
        parents = get(live, ("status", "parents")) or []
        if not parents:
            yield Finding(
                pool,
                (),
                f"the InferencePool {name} is installed and no Gateway has taken it up yet "
                "(status.parents is empty): is the route attached to a Gateway of an "
                "implementation that routes to pools?",
                CHECK_POOL_STATUS,
                severity="warning",
                values=("routing", "inferencePool", "enabled"),
            )
        for parent in parents:
            gateway = get(parent, ("parentRef", "name"))
            conditions = {c.get("type"): c for c in parent.get("conditions") or []}
            for kind in ("Accepted", "ResolvedRefs"):
                condition = conditions.get(kind)
                if condition is not None and condition.get("status") == "True":
                    continue
                why = (
                    f"{condition.get('status')}, {condition.get('reason')}: "
                    f"{condition.get('message') or 'no message'}"
                    if condition
                    else "not reported"
                )
                yield Finding(
                    pool,
                    (),
                    f"the InferencePool {name} is not {kind} by the Gateway {gateway} ({why}): "
                    "the gateway sends it no request",
                    CHECK_POOL_STATUS,
                    values=("routing", "inferencePool", "enabled"),
                )


def _served_name(pod: dict[str, Any], ctx: Context) -> str | None:
    index = ctx.flags[0]
    for container in get(pod, ("spec", "containers")) or []:
        if (container.get("command") or [])[-2:] == ["vllm", "serve"] and index is not None:
            args = read_args([str(a) for a in container.get("args") or []], index, positionals=1)
            return args.value("--served-model-name") or (
                args.positionals[0][1] if args.positionals else None
            )
    return None


@check("cluster", CHECK_POOL_JOIN)
def joined_pool(ctx: Context) -> Iterator[Finding]:
    """The pool a release joins exists, selects its pods, targets its port, serves its model
    name, and (with kvEvents) is the pool whose picker its servers publish to."""
    join = get(ctx.merged, ("routing", "inferencePool", "join"))
    server = ctx.release.server
    if not join or server is None or not namespace_exists(ctx):
        return
    where = ("routing", "inferencePool", "join")
    live = ctx.cluster.inference_pool(ctx.namespace, join)
    if live is None:
        yield Finding(
            server.obj,
            (),
            f"the InferencePool {join} does not exist in namespace {ctx.namespace!r}: install "
            "the release that creates it first (routing.inferencePool.enabled, name: "
            f"{join}), in this namespace",
            CHECK_POOL_JOIN,
            values=where,
        )
        return
    selector = get(live, ("spec", "selector", "matchLabels")) or {}
    if selector != {POOL_LABEL: join}:
        yield Finding(
            server.obj,
            (),
            f"the InferencePool {join} selects {selector}, not the label this release puts on "
            f"its pods ({POOL_LABEL}: {join}): it would never route to them; join a pool "
            "created by this chart",
            CHECK_POOL_JOIN,
            values=where,
        )
    ports = [p.get("number") for p in get(live, ("spec", "targetPorts")) or []]
    port = get(ctx.merged, ("engine", "port"))
    if port not in ports:
        yield Finding(
            server.obj,
            (),
            f"the InferencePool {join} targets port(s) {', '.join(map(str, ports))} and this "
            f"release serves on engine.port {port}: its pods would refuse the pool's requests; "
            f"set engine.port to {ports[0] if ports else port}",
            CHECK_POOL_JOIN,
            values=("engine", "port"),
        )
    served = _served_name({"spec": server.container.pod.spec}, ctx)
    others = {}
    for pod in ctx.cluster.pods(ctx.namespace, f"{POOL_LABEL}={join}"):
        if get(pod, ("metadata", "labels", "app.kubernetes.io/instance")) == ctx.release_name:
            continue
        name = _served_name(pod, ctx)
        if name is not None:
            others[name] = get(pod, ("metadata", "name"))
    wrong = sorted(n for n in others if n != served)
    if wrong:
        yield Finding(
            server.obj,
            (),
            f"the pods of pool {join} serve {', '.join(repr(n) for n in wrong)} (pod "
            f"{others[wrong[0]]}) and this release would serve {served!r}: clients send one "
            f"model name; set model.servedModelName to {wrong[0]!r}",
            CHECK_POOL_JOIN,
            values=("model", "servedModelName"),
        )
    yield from _joined_picker(ctx, live, join)


def _joined_picker(ctx: Context, live: dict[str, Any], join: str) -> Iterator[Finding]:
    """With kvEvents: the servers publish to the pool's own picker, with its block size."""
    server = ctx.release.server
    given = server.args.last("--kv-events-config") if server is not None else None
    if server is None or given is None:
        return
    try:
        endpoint = str(json.loads(given.value or "{}").get("endpoint") or "")
    except ValueError:
        return
    host = re.sub(r"^tcp://", "", endpoint).split(".", 1)[0]
    picker = str(get(live, ("spec", "endpointPickerRef", "name")) or "")
    if host != picker:
        yield Finding(
            server.obj,
            server.arg_path(given.value_at),
            f"the servers would publish their KV events to {host}, and pool {join}'s endpoint "
            f"picker is {picker}: the picker would never hear of this release's cache; join "
            "a pool created by this chart (its picker is <pool>-epp)",
            CHECK_POOL_JOIN,
            values=("routing", "kvEvents", "enabled"),
        )
        return
    import yaml

    config_map = ctx.cluster.config_map(ctx.namespace, picker)
    text = get(config_map or {}, ("data", "config.yaml"))
    config = yaml.safe_load(text) if isinstance(text, str) else None
    sizes = [
        get(p, ("parameters", "tokenProcessorConfig", "blockSizeTokens"))
        for p in (config or {}).get("plugins") or []
        if isinstance(p, dict) and p.get("type") == "precise-prefix-cache-producer"
    ]
    size = server.args.number("--block-size")
    if sizes and sizes[0] != size:
        yield Finding(
            server.obj,
            server.arg_path(given.value_at),
            f"pool {join}'s picker hashes prompts in blocks of {sizes[0]} and this release's "
            f"servers use --block-size {size}: it would find no prefix in their events; set "
            f"routing.kvEvents.blockSize to {sizes[0]}",
            CHECK_POOL_JOIN,
            values=("routing", "kvEvents", "blockSize"),
        )
    elif not sizes:
        yield Finding(
            server.obj,
            server.arg_path(given.value_at),
            f"pool {join}'s picker reads no KV events (its configuration has no "
            "precise-prefix-cache-producer): this release's events would go unread; enable "
            "routing.kvEvents on the release that creates the pool, or here turn it off",
            CHECK_POOL_JOIN,
            values=("routing", "kvEvents", "enabled"),
        )


@check("cluster", CHECK_OBJECTIVE_GROUP)
def objective_group(ctx: Context) -> Iterator[Finding]:
    """Objectives of the older group are ignored where the llm-d.ai group is served."""
    older = [
        o
        for o in ctx.release.of_kind("InferenceObjective")
        if str(o.get("apiVersion", "")).startswith("inference.networking.x-k8s.io/")
    ]
    if not older:
        return
    current = any(
        get(crd, ("spec", "group")) == "llm-d.ai"
        and get(crd, ("spec", "names", "kind")) == "InferenceObjective"
        for crd in ctx.cluster.crds()
    )
    if current:
        yield Finding(
            older[0],
            (),
            "the cluster serves InferenceObjective in llm-d.ai too, and the endpoint picker "
            "then reads that group only: these objectives (inference.networking.x-k8s.io) would "
            "be ignored; set routing.objectivesApiGroup: llm-d.ai",
            CHECK_OBJECTIVE_GROUP,
            values=("routing", "objectivesApiGroup"),
        )
