"""``engine.args`` checked against the flags of the vLLM release the image pins.

The list is read once, as vLLM's parser reads it (:mod:`modelservice.vllm.args`), with the
flags of the release ``image.tag`` pins; then the rules between flags that vLLM's argument
validation enforces at startup (``startup_rules`` of the data) are applied to the whole list.
Two kinds of flag are the chart's business, not vLLM's: a credential as a literal
(``--api-key``, ``--hf-token``: a Secret key instead), and a flag that takes the server away
from the wiring the probes, the Service and ``helm test`` rely on (``--host``, TLS, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core.problem import Problem
from ...core.rules import Rule, rule
from ...vllm.args import Given, read_args
from ...vllm.flags import FlagIndex
from ..context import check

if TYPE_CHECKING:
    from ..context import Context

_TLS = (
    "TLS on the server: the probes, the Service's clients and the helm test speak plain HTTP "
    "to engine.port and would fail; terminate TLS at the Ingress (ingress.tls) or the Gateway "
    "(httpRoute) instead"
)
#: Flags that move the server away from what the chart wires around it (probes on /health over
#: HTTP at engine.port on the pod's address, the Service, the helm test), and what to do.
CHART_WIRING: dict[str, str] = {
    "--host": (
        "the probes, the Service and the helm test reach the server on the pod's address; "
        "vLLM listens on every interface unless --host narrows it: leave --host out"
    ),
    "--uds": (
        "a Unix socket instead of TCP: the probes, the Service and the helm test call "
        "engine.port over TCP; leave --uds out"
    ),
    "--ssl-keyfile": _TLS,
    "--ssl-certfile": _TLS,
    "--ssl-ca-certs": _TLS,
    "--ssl-cert-reqs": _TLS,
    "--ssl-ciphers": _TLS,
    "--enable-ssl-refresh": _TLS,
    "--headless": (
        "starts no API server: the probes and the Service would find nothing listening on "
        "engine.port"
    ),
    "--grpc": ("serves gRPC instead of HTTP on the port the /health probes and the helm test call"),
}

#: Flags the chart renders in another form than the flag itself (the model is the positional
#: argument of `vllm serve`, which wins over --model): the typed key to set instead.
CHART_KEYS: dict[str, str] = {
    "--model": "model.name (model.path for a local model), which the chart renders as the "
    "model argument of vllm serve; that argument wins, and --model would be ignored",
}

#: The typed key that carries the secret of a credential flag.
SECRET_KEYS: dict[str, str] = {
    "--api-key": (
        "set auth.apiKey.secretName (a Secret you create) or auth.apiKey.create: true; the key "
        "reaches vLLM as VLLM_API_KEY through a secretKeyRef, and the helm test pod sends it"
    ),
    "--hf-token": (
        "set huggingface.token.secretName; the token reaches vLLM and the download as HF_TOKEN "
        "through a secretKeyRef"
    ),
}
_SECRET_DEFAULT = "put it in a Secret and pass it with env[].valueFrom.secretKeyRef"

_DATA = "the flag data of the release (schemas/vllm/VERSION.json, from vLLM's own parser)"

ENGINE_ARG_UNKNOWN = rule(
    "engine-arg-unknown",
    "error",
    "values",
    f"A flag vLLM does not have, by {_DATA}, with the closest one; or a dotted sub-key "
    "(`--compilation-config.mode`) that the flag's config class does not have.",
)
ENGINE_ARG_POSITIONAL = rule(
    "engine-arg-positional",
    "error",
    "values",
    "A stray value that belongs to no flag (a value goes right after its flag, or after `=`).",
)
ENGINE_ARG_SWITCH_VALUE = rule(
    "engine-arg-switch-value",
    "error",
    "values",
    "`=value` on a switch, which takes none: write the switch alone, or its negation to turn "
    "it off.",
)
ENGINE_ARG_MISSING_VALUE = rule(
    "engine-arg-missing-value",
    "error",
    "values",
    "A flag that takes a value, without one (`--flag=VALUE` or `--flag VALUE`).",
)
ENGINE_ARG_TYPE = rule(
    "engine-arg-type",
    "error",
    "values",
    "A value vLLM's converter for the flag refuses: `4096.5` for an integer (`-1`, `auto`, "
    "`4k` = 4000 and `4K` = 4096 pass where vLLM reads them), a non-JSON value for a JSON flag, "
    "a field a vLLM config class does not have.",
)
ENGINE_ARG_CHOICE = rule(
    "engine-arg-choice",
    "error",
    "values",
    "A value outside the flag's choices, with the closest one.",
)
ENGINE_ARG_UNKNOWN_NAME = rule(
    "engine-arg-unknown-name",
    "error",
    "values",
    "A name vLLM's registries do not have (`--quantization`, `--reasoning-parser`, "
    "`--tool-call-parser`), with the closest one: vLLM stops at startup.",
)
ENGINE_ARG_UNLISTED_VALUE = rule(
    "engine-arg-unlisted-value",
    "warning",
    "values",
    "A value outside the ones vLLM lists for a flag that also takes a plugin's name "
    "(`--kv-cache-dtype`, `--tokenizer-mode`, `--distributed-executor-backend`, ...): it "
    "starts only if a plugin registers it.",
)
ENGINE_ARG_PLUGIN_NAME = rule(
    "engine-arg-plugin-name",
    "warning",
    "values",
    "A parser name vLLM lacks while `--tool-parser-plugin` / `--reasoning-parser-plugin` loads "
    "a file that may register it.",
)
ENGINE_ARG_REQUIRES = rule(
    "engine-arg-requires",
    "error",
    "values",
    "A flag vLLM's argument validation refuses without another (`--enable-auto-tool-choice` "
    "without `--tool-call-parser`), quoting vLLM's own message.",
)
ENGINE_ARG_CONFLICT = rule(
    "engine-arg-conflict",
    "error",
    "values",
    "Two flags vLLM refuses together (`--enable-per-request-metrics` with "
    "`--disable-log-stats`), quoting vLLM's own message.",
)
ENGINE_ARG_RANGE = rule(
    "engine-arg-range",
    "error",
    "values",
    "A number below what vLLM's argument validation accepts (`--sse-keep-alive-interval=-1`).",
)
ENGINE_ARG_SECRET = rule(
    "engine-arg-secret",
    "error",
    "values",
    "A credential as a flag's value (`--api-key`, `--hf-token=...`), in the values file and in "
    "the pod spec for anyone who can read it: use auth.apiKey.secretName / "
    "huggingface.token.secretName.",
)
ENGINE_ARG_DUPLICATES_KEY = rule(
    "engine-arg-duplicates-key",
    "error",
    "values",
    "A flag the chart renders itself from a typed key (`--model`, `--port`, "
    "`--served-model-name`, `--tensor-parallel-size`, `--revision`, ...): the two would fight. "
    "Set the key the message names; the rendered command line is checked too.",
)
ENGINE_ARG_CHART_WIRING = rule(
    "engine-arg-chart-wiring",
    "error",
    "values",
    "A flag that takes the server away from what the probes, the Service and `helm test` call: "
    "`--host`, `--uds`, `--ssl-*`, `--enable-ssl-refresh`, `--headless`, `--grpc`.",
)
ENGINE_ARGS_UNKNOWN_RELEASE = rule(
    "engine-args-unknown-release",
    "warning",
    "values",
    "An image tag with no flag data: the pinned release's flags are used, and every finding "
    "about vLLM's flags becomes a warning that names that release (`render` is not blocked).",
)

_MISREAD: dict[str, Rule] = {
    "positional": ENGINE_ARG_POSITIONAL,
    "unknown": ENGINE_ARG_UNKNOWN,
    "switch-value": ENGINE_ARG_SWITCH_VALUE,
    "missing-value": ENGINE_ARG_MISSING_VALUE,
}
_REFUSED: dict[str, Rule] = {
    "type": ENGINE_ARG_TYPE,
    "choice": ENGINE_ARG_CHOICE,
    "unknown-name": ENGINE_ARG_UNKNOWN_NAME,
    "plugin": ENGINE_ARG_PLUGIN_NAME,
    "unlisted": ENGINE_ARG_UNLISTED_VALUE,
}
#: Rules about the chart, not about a vLLM release: errors whatever the image tag.
_CHART_OWN = (ENGINE_ARG_SECRET, ENGINE_ARG_CHART_WIRING, ENGINE_ARG_DUPLICATES_KEY)

Found = tuple[int, str, Rule]


def _startup_rules(given: list[Given], index: FlagIndex) -> list[Found]:
    """vLLM's argument validation (``startup_rules`` of the data) on the whole list."""
    last: dict[str, Given] = {g.name: g for g in given if g.subkey is None}
    found: list[Found] = []
    release = f"vLLM {index.version}"

    def active(item: Given | None) -> bool:
        return item is not None and item.active

    for spec in index.data.get("startup_rules") or []:
        kind = spec.get("kind")
        quoted = f'"{spec.get("message")}"'
        if kind == "requires":
            item = last.get(spec["flag"])
            if item is not None and item.active and not active(last.get(spec["requires"])):
                found.append(
                    (
                        item.flag_at,
                        f"{spec['flag']} needs {spec['requires']}; {release} refuses to start "
                        f"without it: {quoted}",
                        ENGINE_ARG_REQUIRES,
                    )
                )
        elif kind == "conflicts":
            items = [last.get(f) for f in spec["flags"]]
            if all(active(i) for i in items):
                later = max((i for i in items if i is not None), key=lambda i: i.flag_at)
                found.append(
                    (
                        later.flag_at,
                        f"{' and '.join(spec['flags'])} exclude each other; {release} refuses "
                        f"to start: {quoted}",
                        ENGINE_ARG_CONFLICT,
                    )
                )
        elif kind == "minimum":
            item = last.get(spec["flag"])
            value = item.converted if item is not None and item.refusal is None else None
            if item is not None and isinstance(value, int | float) and value < spec["minimum"]:
                found.append(
                    (
                        item.value_at,
                        f"{spec['flag']} is at least {spec['minimum']}; {release} refuses to "
                        f"start: {quoted}",
                        ENGINE_ARG_RANGE,
                    )
                )
    return found


def _chart_rules(given: list[Given], index: FlagIndex) -> list[Found]:
    """Credentials as literals, and flags that break the chart's wiring."""
    found: list[Found] = []
    secret = set(index.data.get("secret_flags") or [])
    for item in given:
        if item.name in secret and item.value:
            found.append(
                (
                    item.value_at,
                    f"{item.name} puts a credential in the values file (and in the pod spec, "
                    f"for anyone who can read it); {SECRET_KEYS.get(item.name, _SECRET_DEFAULT)}",
                    ENGINE_ARG_SECRET,
                )
            )
        elif item.name in CHART_KEYS:
            found.append(
                (
                    item.flag_at,
                    f"{item.name} is the chart's: set {CHART_KEYS[item.name]}",
                    ENGINE_ARG_DUPLICATES_KEY,
                )
            )
        elif item.name in CHART_WIRING and not item.negation:
            found.append(
                (
                    item.flag_at,
                    f"{item.name} breaks the chart's wiring: {CHART_WIRING[item.name]}",
                    ENGINE_ARG_CHART_WIRING,
                )
            )
    return found


def check_args(args: list[Any], index: FlagIndex) -> list[Found]:
    """Problems of an engine.args list as (item index, message, rule)."""
    read = read_args(args, index)
    found: list[Found] = [(m.at, m.message, _MISREAD[m.kind]) for m in read.misread]
    for item in read.given:
        if item.refusal is not None:
            found.append(
                (item.value_at, f"{item.name}: {item.refusal.message}", _REFUSED[item.refusal.kind])
            )
    found.sort(key=lambda f: f[0])
    found.extend(_chart_rules(read.given, index))
    found.extend(_startup_rules(read.given, index))
    return found


@check(
    "values",
    ENGINE_ARG_UNKNOWN,
    ENGINE_ARG_POSITIONAL,
    ENGINE_ARG_SWITCH_VALUE,
    ENGINE_ARG_MISSING_VALUE,
    ENGINE_ARG_TYPE,
    ENGINE_ARG_CHOICE,
    ENGINE_ARG_UNKNOWN_NAME,
    ENGINE_ARG_UNLISTED_VALUE,
    ENGINE_ARG_PLUGIN_NAME,
    ENGINE_ARG_REQUIRES,
    ENGINE_ARG_CONFLICT,
    ENGINE_ARG_RANGE,
    ENGINE_ARG_SECRET,
    ENGINE_ARG_DUPLICATES_KEY,
    ENGINE_ARG_CHART_WIRING,
    ENGINE_ARGS_UNKNOWN_RELEASE,
    phase="objects",
)
def engine_args(ctx: Context) -> list[Problem]:
    """Check ``engine.args`` against the flags of the release ``image.tag`` pins.

    With no flag data for the tag, the pinned release's flags are used and every finding is a
    warning that says so: the image may run a release whose flags differ.
    """
    engine = ctx.values.get("engine")
    args = engine.get("args") if isinstance(engine, dict) else None
    if not isinstance(args, list) or not args:
        return []
    problems: list[Problem] = []
    index, fallback = ctx.flags
    image = ctx.merged.get("image")
    tag = str((image if isinstance(image, dict) else {}).get("tag") or "")
    if fallback is not None:
        problems.append(
            ctx.problem(
                ("image", "tag"),
                f"no vLLM flag data for tag {tag!r}; engine.args are checked against {fallback}, "
                "the chart's pinned release, and what differs is a warning",
                ENGINE_ARGS_UNKNOWN_RELEASE,
                key=False,
            )
        )
    if index is None:
        return problems
    for item, message, found in check_args(args, index):
        path = ("engine", "args", item)
        if fallback is not None and found not in _CHART_OWN:
            problems.append(
                ctx.problem(
                    path,
                    f"{message} (by vLLM {fallback}'s flags; image tag {tag} may differ)",
                    found,
                    key=False,
                    severity="warning",
                )
            )
        else:
            problems.append(ctx.problem(path, message, found, key=False))
    return problems
