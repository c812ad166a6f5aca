"""Hypothesis strategies drawn from a JSON Schema (the draft-07 subset the chart's schema uses),
and the chart's schema made ready to draw values files from (:func:`generation_schema`).

hypothesis-jsonschema would do this, but it reaches into Hypothesis internals that current
Hypothesis releases no longer have; the chart's schema needs only this much.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import strategies as st

from modelservice.schema import generate
from modelservice.schema.refs import resolve

_KEY = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy:
    """Values valid against ``schema`` (``root`` resolves ``#/definitions/...`` references)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        return from_schema(resolve(schema, root), root)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            parent = {k: v for k, v in schema.items() if k not in (combinator, "description")}
            return st.one_of(
                [from_schema({**parent, **branch}, root) for branch in schema[combinator]]
            )
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, root) for k in kind])
    if kind == "object" or "properties" in schema:
        return _object(schema, root)
    if kind == "array":
        items = from_schema(schema.get("items", {}), root)
        return st.lists(
            items,
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", 3),
            unique_by=(lambda x: repr(x)) if schema.get("uniqueItems") else None,
        )
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        low = schema.get("minimum", -10)
        return st.integers(min_value=low, max_value=schema.get("maximum", low + 100))
    if kind == "number":
        low = schema.get("minimum", -10)
        return st.floats(low, schema.get("maximum", low + 1e6), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return st.none() | st.booleans() | st.integers() | st.text(max_size=5)


def _string(schema: dict[str, Any]) -> st.SearchStrategy:
    low, high = schema.get("minLength", 0), schema.get("maxLength", 40)
    if "pattern" in schema:
        # ECMA's (and Go's) `$` is the very end of the text and `\d` is ASCII, as in Helm.
        pattern = re.compile(re.sub(r"(?<!\\)\$", r"\\Z", schema["pattern"]), re.ASCII)
        strategy = st.from_regex(pattern)
        return strategy.filter(lambda s: low <= len(s) <= high)
    return st.text(min_size=low, max_size=min(high, 40))


def _object(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    fixed = {k: from_schema(v, root) for k, v in properties.items() if k in required}
    optional = {k: from_schema(v, root) for k, v in properties.items() if k not in required}
    strategy = st.fixed_dictionaries(fixed, optional=optional)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and not properties:
        strategy = st.dictionaries(_KEY, from_schema(extra, root), max_size=3)
    return strategy


POOLS: dict[str, list[Any]] = {
    "env": [
        [],
        [{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}],
        [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
    ],
    "envFrom": [[], [{"configMapRef": {"name": "model-env"}}], [{"secretRef": {"name": "s"}}]],
    "extraVolumes": [
        [],
        [{"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}],
    ],
    "extraVolumeMounts": [[]],
    "affinity": [
        {},
        {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "gpu", "operator": "In", "values": ["a100", "h100"]}
                            ]
                        }
                    ]
                }
            }
        },
    ],
    "tolerations": [
        [],
        [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    ],
    "topologySpreadConstraints": [
        [],
        [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": "x"}},
            }
        ],
    ],
    "podSecurityContext": [{}, {"fsGroup": 1000}, {"seccompProfile": {"type": "RuntimeDefault"}}],
    "securityContext": [{}, {"readOnlyRootFilesystem": False, "runAsNonRoot": False}],
}
NETWORK_PEERS = [
    [],
    [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
    [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}],
]
ENGINE_ARGS = [
    [],
    ["--max-model-len=4096"],
    ["--dtype", "half", "--enable-prefix-caching"],
    ["--gpu-memory-utilization=0.85", "--max-num-seqs", "64"],
]


#: Extra KEDA triggers (pass-through objects, checked against KEDA's CRD elsewhere).
KEDA_TRIGGERS: list[Any] = [
    [],
    [{"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *", "end": "0 18 * * *",
                                   "desiredReplicas": "1"}}],
]  # fmt: skip


def generation_schema() -> dict[str, Any]:
    """The chart's schema, with pass-through objects and engine.args drawn from the pools."""
    # The schema source: the chart's generated schema also requires every key the chart's
    # defaults fill (so that a null cannot delete them), which a user never writes.
    schema = copy.deepcopy(generate.load_schema_source())
    properties = schema["properties"]
    properties.pop("global", None)
    for key, pool in POOLS.items():
        properties[key] = {"enum": pool}
    properties["engine"]["properties"]["args"] = {"enum": ENGINE_ARGS}
    properties["networkPolicy"]["properties"]["from"] = {"enum": NETWORK_PEERS}
    properties["resources"]["properties"].pop("claims", None)
    keda = properties["autoscaling"]["properties"]["keda"]["properties"]
    keda["extraTriggers"] = {"enum": KEDA_TRIGGERS}
    properties["autoscaling"]["properties"]["hpa"]["properties"]["selector"] = {
        "enum": [{}, {"matchLabels": {"app": "gateway"}}]
    }
    schema["required"] = ["model"]
    model = properties["model"]
    model["required"] = ["source", "name", "path"]
    model["properties"]["name"]["minLength"] = model["properties"]["path"]["minLength"] = 1
    # Label values an API server accepts; that random text is refused is tested elsewhere.
    label_map = {
        "type": "object",
        "additionalProperties": {"type": "string", "pattern": "^[a-z0-9]{0,8}$"},
    }
    for labels in (properties["podLabels"], properties["service"]["properties"]["labels"]):
        labels.clear()
        labels.update(label_map)
    properties["nodeSelector"] = properties["tests"]["properties"]["nodeSelector"] = label_map
    return schema
