"""Routing through the Gateway API Inference Extension (``routing.*``): a pool that can reach its
pods, a picker whose metrics the vLLM release exports, KV events the picker can read, and the
keys that only mean something together.

What the chart decides (the pool's selector and ports, the picker's configuration, the
servers' ``--kv-events-config``) is read from the render; the values stage judges keys against
each other, as one file can.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import Path_, get
from ..release import is_picker
from ..vllm.metrics import vllm_series
from .context import Finding, check

if TYPE_CHECKING:
    from .context import Context

POOL: Path_ = ("routing", "inferencePool")
PICKER: Path_ = ("routing", "endpointPicker")
KV_EVENTS: Path_ = ("routing", "kvEvents")

ROUTING_POOL_JOIN_AND_ENABLED = rule(
    "routing-pool-join-and-enabled",
    "error",
    "release",
    "routing.inferencePool.enabled and routing.inferencePool.join together: a release either "
    "creates a pool with its own endpoint picker, or adds its pods to another release's pool. "
    "The chart refuses it; drop one of the two.",
)
ROUTING_POOL_WITH_HTTP_SCALING = rule(
    "routing-pool-with-http-scaling",
    "error",
    "release",
    "An InferencePool (routing.inferencePool.enabled or .join) with KEDA's HTTP add-on "
    "(autoscaling.keda.http.enabled): the HTTPRoute sends requests to the pool, whose endpoint "
    "picker chooses a pod, so the add-on's interceptor never sees a request, never holds one "
    "during a cold start and never scales the release up from zero. Scale the pool's pods with "
    "the ScaledObject on vLLM's metrics, or serve without the pool. The chart refuses it.",
)
ROUTING_WITHOUT_POOL = rule(
    "routing-without-pool",
    "error",
    "values",
    "Settings of the endpoint picker (routing.endpointPicker), InferenceObjectives or KV "
    "events without a pool: with neither routing.inferencePool.enabled nor .join nothing is "
    "rendered from them. Set routing.inferencePool.enabled: true (or join: NAME). A release "
    "that joins a pool uses that pool's picker, configured by the release that creates it.",
)
ROUTING_JOIN_SERVED_NAME = rule(
    "routing-join-served-name",
    "error",
    "values",
    "A release that joins a pool without model.servedModelName: the pool routes one model "
    "name to every pod it selects, and this release would serve its own default name (its "
    "model's repository id, which differs on another GPU type or quantization). Set "
    "model.servedModelName to the name the pool's other releases serve; check compares it "
    "with the live pods.",
)
ROUTING_JOIN_PORT = rule(
    "routing-join-port",
    "error",
    "values",
    "A release joins a pool whose ports (routing.inferencePool.targetPorts, as the joined pool "
    "declares them) do not include engine.port: the pool would send this release's pods "
    "requests on a port where nothing listens. Serve on the pool's port (engine.port).",
)
ROUTING_POOL_PORT_NOT_SERVED = rule(
    "routing-pool-port-not-served",
    "error",
    "release",
    "A port of the rendered InferencePool (routing.inferencePool.targetPorts) that the "
    "server container does not serve: the gateway would send requests there and get refused "
    "connections. The pool's ports are the server's: engine.port.",
)
ROUTING_UNKNOWN_METRIC = rule(
    "routing-unknown-metric",
    "error",
    "release",
    "A metric the endpoint picker's configuration reads from each server "
    "(routing.endpointPicker.metrics) that the vLLM release of the image does not export "
    "(with the closest one): the picker would see every pod as idle and empty, and its "
    "scorers would rank them at random.",
)
ROUTING_NO_SCORER = rule(
    "routing-no-scorer",
    "error",
    "values",
    "Every weight of routing.endpointPicker.scorers is 0: the picker would rank no pod above "
    "another and pick at random, which the Service does without a picker. Give a scorer a "
    "weight above 0 (the defaults: queue 2, kvCacheUsage 2, prefixCache 3).",
)
ROUTING_LORA_AFFINITY_WITHOUT_LORA = rule(
    "routing-lora-affinity-without-lora",
    "warning",
    "values",
    "routing.endpointPicker.scorers.loraAffinity above 0 on a release that serves no LoRA "
    "adapter (no lora.adapters, no lora.runtimeUpdates): the scorer ranks every pod alike. "
    "Serve adapters, or set its weight to 0.",
)
ROUTING_KV_EVENTS_REPLICAS = rule(
    "routing-kv-events-replicas",
    "error",
    "values",
    "routing.kvEvents with more than one picker replica: every server publishes its KV events "
    "to the picker's Service, which hands each server's connection to one replica, while only "
    "the elected leader routes; the leader would miss the events of the servers connected to "
    "the others and route by a partial index. Run one replica (the picker restarts in seconds "
    "and failureMode decides what the gateway does meanwhile), or turn kvEvents off.",
)
ROUTING_KV_EVENTS_WITHOUT_PREFIX_SCORER = rule(
    "routing-kv-events-without-prefix-scorer",
    "error",
    "values",
    "routing.kvEvents with the prefix-cache scorer off (scorers.prefixCache 0): the events feed "
    "the index only that scorer reads, so the servers would publish for nothing. Give "
    "prefixCache a weight, or turn kvEvents off.",
)
ROUTING_KV_EVENTS_TOPIC = rule(
    "routing-kv-events-topic",
    "error",
    "release",
    "routing.kvEvents with a served model name holding `@`: the topic of the events is "
    "`kv@<pod IP>:<port>@<served name>` and the picker splits it at every `@`, so it would "
    "file the events under a wrong model. Choose a served name without `@`.",
)
ROUTING_KV_EVENTS_BLOCK_SIZE = rule(
    "routing-kv-events-block-size",
    "error",
    "release",
    "The server's `--block-size` differs from the block size the picker hashes prompts with "
    "(routing.kvEvents.blockSize): the picker would look up blocks that no event names, and "
    "find no prefix. Set the size with routing.kvEvents.blockSize only.",
)
ROUTING_TOKENIZER_SOURCE = rule(
    "routing-tokenizer-source",
    "error",
    "release",
    "routing.kvEvents on a release whose model tokenizer the picker could only fetch from the "
    "public Hugging Face hub: the picker reads it from the release's cache (ReadWriteMany), "
    "the values' mirror (huggingface.endpoint) or ModelScope, offline. The chart refuses it; "
    "set a mirror or share the cache.",
)
ROUTING_OBJECTIVE_DUPLICATE = rule(
    "routing-objective-duplicate",
    "error",
    "values",
    "Two routing.objectives items with one name: the chart would render two InferenceObjectives "
    "of one name, which Helm refuses to install. Give each its own name.",
)
ROUTING_POOL_WITHOUT_ROUTE = rule(
    "routing-pool-without-route",
    "warning",
    "values",
    "A pool without the release's HTTPRoute (httpRoute.enabled false): no request reaches the "
    "pool unless a route of your own names it as its backend (group "
    "inference.networking.k8s.io, kind InferencePool). Enable httpRoute, or write that route.",
)


# --- the values stage ----------------------------------------------------------------------------


def _pool_mode(ctx: Context) -> str | None:
    if ctx.value((*POOL, "enabled")):
        return "enabled"
    if ctx.value((*POOL, "join")):
        return "join"
    return None


def _set_under(ctx: Context, base: Path_) -> list[Path_]:
    """The leaf keys the user's file sets under ``base``."""
    found: list[Path_] = []

    def walk(node: Any, path: Path_) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, (*path, key))
        else:
            found.append(path)

    walk(get(ctx.values, base), base)
    return [p for p in found if ctx.sets(p)]


@check(
    "values",
    ROUTING_WITHOUT_POOL,
    ROUTING_JOIN_SERVED_NAME,
    ROUTING_JOIN_PORT,
    ROUTING_POOL_WITHOUT_ROUTE,
    ROUTING_OBJECTIVE_DUPLICATE,
    phase="rules",
)
def pool_keys(ctx: Context) -> Iterator[Problem]:
    """Keys that need a pool; what a joining release must share with its pool."""
    mode = _pool_mode(ctx)
    if mode != "enabled":
        for path in _set_under(ctx, PICKER)[:1]:
            why = (
                "the joined pool's picker is configured by the release that creates the pool"
                if mode == "join"
                else "this release creates no pool"
            )
            yield ctx.problem(
                path,
                f"routing.endpointPicker configures the endpoint picker of a pool, and {why}: "
                "set routing.inferencePool.enabled: true, or drop routing.endpointPicker",
                ROUTING_WITHOUT_POOL,
            )
    if mode is None:
        for path, what in (
            (("routing", "objectives"), "InferenceObjectives name a pool"),
            ((*KV_EVENTS, "enabled"), "KV events go to a pool's endpoint picker"),
        ):
            if ctx.value(path) and ctx.sets(path):
                yield ctx.problem(
                    path,
                    f"{what}, and this release neither creates one nor joins one: set "
                    "routing.inferencePool.enabled: true, or routing.inferencePool.join: NAME",
                    ROUTING_WITHOUT_POOL,
                )
    if mode == "join":
        join = ctx.value((*POOL, "join"))
        if not ctx.value(("model", "servedModelName")):
            yield ctx.problem(
                (*POOL, "join"),
                f"joining pool {join} needs model.servedModelName: the pool routes one model "
                "name to all its pods, and this release would serve its own default "
                f"({ctx.value(('model', 'name')) or ctx.value(('model', 'path'))}); set "
                "model.servedModelName to the name the pool's other releases serve",
                ROUTING_JOIN_SERVED_NAME,
            )
        ports = ctx.value((*POOL, "targetPorts")) or []
        port = ctx.value(("engine", "port"))
        if ports and port not in ports:
            yield ctx.problem(
                ctx.at(("engine", "port"), (*POOL, "targetPorts")),
                f"the pool {join} sends requests to port(s) {', '.join(map(str, ports))} and "
                f"this release serves on engine.port {port}: its pods would refuse every "
                f"request of the pool; set engine.port to {ports[0]}",
                ROUTING_JOIN_PORT,
            )
    if mode == "enabled" and not ctx.value(("httpRoute", "enabled")):
        yield ctx.problem(
            (*POOL, "enabled"),
            "the pool has no route: with httpRoute.enabled false no request reaches it unless "
            "a route of your own has it as backend (group inference.networking.k8s.io, kind "
            "InferencePool); set httpRoute.enabled: true with its parentRefs",
            ROUTING_POOL_WITHOUT_ROUTE,
        )
    seen: dict[str, int] = {}
    for index, item in enumerate(ctx.value(("routing", "objectives")) or []):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            yield ctx.problem(
                ("routing", "objectives", index, "name"),
                f"objective {name!r} is already routing.objectives[{seen[name]}]: two "
                "InferenceObjectives of one name cannot be installed; rename one",
                ROUTING_OBJECTIVE_DUPLICATE,
                key=False,
            )
        else:
            seen[name] = index


@check(
    "values",
    ROUTING_NO_SCORER,
    ROUTING_LORA_AFFINITY_WITHOUT_LORA,
    ROUTING_KV_EVENTS_REPLICAS,
    ROUTING_KV_EVENTS_WITHOUT_PREFIX_SCORER,
    phase="rules",
)
def picker_keys(ctx: Context) -> Iterator[Problem]:
    """The scorers of the picker a release creates, and what KV events need of it."""
    if _pool_mode(ctx) != "enabled":
        return
    scorers = ctx.value((*PICKER, "scorers")) or {}
    weights = {k: v for k, v in scorers.items() if isinstance(v, int | float)}
    if weights and not any(v > 0 for v in weights.values()):
        yield ctx.problem(
            ctx.at(*[(*PICKER, "scorers", k) for k in weights], (*PICKER, "scorers")),
            "every scorer's weight is 0: the picker would pick pods at random; give one a "
            "weight above 0 (defaults: queue 2, kvCacheUsage 2, prefixCache 3)",
            ROUTING_NO_SCORER,
        )
    lora = ctx.value(("lora", "adapters")) or ctx.value(("lora", "runtimeUpdates"))
    if weights.get("loraAffinity", 0) > 0 and not lora:
        yield ctx.problem(
            (*PICKER, "scorers", "loraAffinity"),
            f"loraAffinity {weights['loraAffinity']} scores the LoRA adapters each pod has "
            "loaded, and this release serves none (lora.adapters is empty, "
            "lora.runtimeUpdates false): set its weight to 0, or serve adapters",
            ROUTING_LORA_AFFINITY_WITHOUT_LORA,
        )
    if not ctx.value((*KV_EVENTS, "enabled")):
        return
    replicas = ctx.value((*PICKER, "replicas"))
    if isinstance(replicas, int) and replicas > 1:
        yield ctx.problem(
            ctx.at((*PICKER, "replicas"), (*KV_EVENTS, "enabled")),
            f"with kvEvents, {replicas} picker replicas would split the servers' events: "
            "each server publishes to the picker's Service, which connects it to one replica, "
            "and only the elected leader routes, on the events it got; set "
            "routing.endpointPicker.replicas: 1",
            ROUTING_KV_EVENTS_REPLICAS,
        )
    if weights.get("prefixCache", 0) <= 0:
        yield ctx.problem(
            ctx.at((*PICKER, "scorers", "prefixCache"), (*KV_EVENTS, "enabled")),
            "kvEvents feed the prefix-cache scorer's index, and scorers.prefixCache is 0: "
            "the servers would publish events no scorer reads; give prefixCache a weight "
            "(e.g. 3) or turn kvEvents off",
            ROUTING_KV_EVENTS_WITHOUT_PREFIX_SCORER,
        )


# --- the rendered release ------------------------------------------------------------------------


def picker_config(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The picker's ConfigMap and its configuration, as the chart rendered them."""
    import yaml

    for obj in ctx.release.of_kind("ConfigMap"):
        if not is_picker(obj):
            continue
        text = get(obj, ("data", "config.yaml"))
        if isinstance(text, str):
            config = yaml.safe_load(text)
            if isinstance(config, dict):
                return obj, config
    return None


def _plugin(config: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for plugin in config.get("plugins") or []:
        if isinstance(plugin, dict) and plugin.get("type") == kind:
            return plugin
    return None


#: A metric spec as the picker parses it: the name, then optional {label=value,...}.
_SPEC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*")


@check("release", ROUTING_UNKNOWN_METRIC)
def picker_metrics(ctx: Context) -> Iterator[Finding]:
    """Every metric the picker's configuration reads is one the image's vLLM exports."""
    found = picker_config(ctx)
    index = ctx.flags[0]
    series = vllm_series(index.version) if index is not None else None
    if found is None or series is None or index is None:
        return
    obj, config = found
    extractor = _plugin(config, "core-metrics-extractor") or {}
    engines = get(extractor, ("parameters", "engineConfigs")) or []
    names: set[str] = set()
    for engine in engines:
        if isinstance(engine, dict) and engine.get("name") == "vllm":
            for key, spec in engine.items():
                if key.endswith("Spec") and isinstance(spec, str) and spec:
                    match = _SPEC_NAME.match(spec)
                    if match:
                        names.add(match.group(0))
    user = get(ctx.merged, (*PICKER, "metrics")) or {}
    for name in sorted(names - series):
        near = difflib.get_close_matches(name, sorted(series), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else ""
        keys = [k for k, v in user.items() if isinstance(v, str) and v.split("{")[0] == name]
        yield Finding(
            obj,
            ("data", "config.yaml"),
            f"{name} is not a metric vLLM {index.version} exports{hint}: the picker would read "
            "nothing from the pods and rank them at random",
            ROUTING_UNKNOWN_METRIC,
            values=(*PICKER, "metrics", keys[0]) if keys else (*PICKER, "metrics"),
        )


@check("release", ROUTING_POOL_PORT_NOT_SERVED)
def pool_ports(ctx: Context) -> Iterator[Finding]:
    """Every port of the rendered pool is a container port of the server."""
    server = ctx.release.server
    if server is None:
        return
    served = {
        p.get("containerPort")
        for p in server.container.spec.get("ports") or []
        if isinstance(p, dict)
    }
    for pool in ctx.release.of_kind("InferencePool"):
        for index, port in enumerate(get(pool, ("spec", "targetPorts")) or []):
            number = port.get("number") if isinstance(port, dict) else None
            if number in served:
                continue
            yield Finding(
                pool,
                ("spec", "targetPorts", index),
                f"the pool would send requests to port {number}, where the server does not "
                f"listen (it serves engine.port {ctx.value(('engine', 'port'))}): drop the port "
                "or serve there",
                ROUTING_POOL_PORT_NOT_SERVED,
            )


@check("release", ROUTING_KV_EVENTS_TOPIC, ROUTING_KV_EVENTS_BLOCK_SIZE)
def kv_events(ctx: Context) -> Iterator[Finding]:
    """The servers' KV events as the picker reads them: the topic, the block size."""
    import json

    server = ctx.release.server
    if server is None or server.args.last("--kv-events-config") is None:
        return
    given = server.args.last("--kv-events-config")
    try:
        events = json.loads(given.value or "")
    except ValueError:
        return  # vLLM's own check of the value says why
    topic = str(events.get("topic") or "") if isinstance(events, dict) else ""
    parts = topic.split("@")
    if topic.startswith("kv@") and len(parts) > 3:
        name = "@".join(parts[2:])
        yield Finding(
            server.obj,
            server.arg_path(given.value_at),
            f"the served model name {name!r} holds '@', and the picker splits the topic "
            f"{topic!r} at every '@': it would file the events under {parts[2]!r}; choose a "
            "served name without '@'",
            ROUTING_KV_EVENTS_TOPIC,
            values=("model", "servedModelName"),
        )
    found = picker_config(ctx)
    producer = _plugin(found[1], "precise-prefix-cache-producer") if found else None
    picker_size = get(producer or {}, ("parameters", "tokenProcessorConfig", "blockSizeTokens"))
    size = server.args.number("--block-size")
    block = server.args.last("--block-size")
    if isinstance(picker_size, int) and block is not None and size != picker_size:
        yield Finding(
            server.obj,
            server.arg_path(block.value_at),
            f"the server's --block-size is {size} and the picker hashes prompts in blocks of "
            f"{picker_size} (routing.kvEvents.blockSize): it would find no prefix in the "
            "events; set the size with routing.kvEvents.blockSize only",
            ROUTING_KV_EVENTS_BLOCK_SIZE,
        )
