"""Engine arguments checked against the flags of the vLLM release the image pins.

The flags come from ``schemas/vllm/<version>.json``, extracted from that release's own
argument parser by ``tools/extract_vllm_flags.py``. Tokens are read the way vLLM's
FlexibleArgumentParser reads them: ``--flag=value`` and ``--flag value``, underscores in flag
names as dashes, ``--no-``/``--disable-`` negations, short aliases, dotted sub-keys of JSON
config flags (``--compilation-config.mode=3``) and the ``-O3`` shorthand.

Values are read by the converter each flag has in vLLM (``modelservice.vllm.converters``, one
reading per converter kind named in the data), names of registered plugins (quantization
methods, reasoning and tool-call parsers) against vLLM's registries, and the rules between flags
that vLLM's argument validation enforces at startup (``startup_rules`` of the data) are applied
to the whole list. Two kinds of flag are the chart's business, not vLLM's: a credential as a
literal (``--api-key``, ``--hf-token``: a Secret key instead), and a flag that takes the server
away from the wiring the probes, the Service and ``helm test`` rely on (``--host``, TLS, ...).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .core.problem import Problem
from .vllm.converters import Refused, convert, convert_config, normalize
from .vllm.flags import FlagIndex, flag_index

if TYPE_CHECKING:
    from .validate import Context

_OPT_SHORTHAND = re.compile(r"^-O(\d|=?\w+)?$")

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
#: Rules whose findings are warnings: vLLM may still accept the value.
WARNINGS = ("engine-arg-unlisted-value", "engine-arg-plugin-name")
#: Rules about the chart, not about a vLLM release: errors whatever the image tag.
_CHART_OWN = ("engine-arg-secret", "engine-arg-chart-wiring", "engine-arg-duplicates-key")


@dataclass
class _Given:
    """One flag of the list: where it is, its canonical name, and the text of its value."""

    flag_at: int
    value_at: int
    name: str
    negation: bool
    value: str | None
    converted: Any = None
    refused: bool = False


def _close(value: str, names: list[str]) -> str:
    near = difflib.get_close_matches(value, names, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _value_problem(
    spec: dict[str, Any], value: str, index: FlagIndex, plugins: frozenset[str] = frozenset()
) -> tuple[str | None, str, Any]:
    """(why vLLM refuses ``value`` for a flag, the rule, None), or (None, "", its value)."""
    kind = str(spec.get("type") or "str")
    config = (index.data.get("config_classes") or {}).get(spec.get("config_class") or "")
    try:
        if config is not None:
            converted = convert_config(value, config, nullable=bool(spec.get("nullable")))
        elif kind == "custom":  # a converter of its own: what the extraction learnt of it
            steps = spec.get("normalizes")
            converted = normalize(value, steps) if steps is not None else None
        else:
            converted = convert(kind, value, nullable=bool(spec.get("nullable")))
    except Refused as refused:
        return str(refused), "engine-arg-type", None
    choices = spec.get("choices")
    if choices and converted is not None and converted not in choices:
        shown = [str(c) for c in choices]
        message = f"{value!r} is not one of {', '.join(shown)}{_close(value, shown)}"
        return message, "engine-arg-choice", None
    registry = (index.data.get("registries") or {}).get(spec.get("registry") or "")
    if registry and converted not in (None, "") and converted not in registry["names"]:
        what = str(spec.get("registry")).replace("_", " ").removesuffix("s")
        names = list(registry["names"])
        plugin = next((f for f in registry.get("plugin_flags") or [] if f in plugins), None)
        if plugin:
            return (
                f"{value!r} is not a {what} vLLM {index.version} has{_close(value, names)}; "
                f"it starts only if the file of {plugin} registers it",
                "engine-arg-plugin-name",
                converted,
            )
        return (
            f"{value!r} is not a {what} vLLM {index.version} knows{_close(value, names)}; "
            f"it stops at startup (known: {', '.join(names)})",
            "engine-arg-unknown-name",
            None,
        )
    known = spec.get("known_values")
    if known and isinstance(converted, str) and converted not in known:
        return (
            f"{value!r} is none of the values vLLM {index.version} lists for this flag "
            f"({', '.join(map(str, known))}){_close(value, [str(k) for k in known])}; it takes "
            "another only from a plugin that registers it",
            "engine-arg-unlisted-value",
            converted,
        )
    return None, "", converted


def _tokens(args: list[Any], index: FlagIndex) -> tuple[list[_Given], list[tuple[int, str, str]]]:
    """The flags of ``args`` as vLLM's parser reads them, and the problems of reading them."""
    found: list[tuple[int, str, str]] = []
    given: list[_Given] = []
    plugins = _plugin_flags_given(args, index)
    i = 0
    while i < len(args):
        token = args[i]
        if not isinstance(token, str):
            i += 1
            continue
        if _OPT_SHORTHAND.match(token):
            i += 1
            continue
        if not token.startswith("-") or token in ("-", "--"):
            found.append(
                (
                    i,
                    f"{token!r} is not a flag (a value belongs right after its flag)",
                    "engine-arg-positional",
                )
            )
            i += 1
            continue
        flag, has_value, value = token.partition("=")
        base = flag.split(".", 1)[0] if flag.startswith("--") else flag
        hit = index.lookup(base)
        if hit is None:
            near = index.suggest(base)
            hint = f" (did you mean {near}?)" if near else ""
            found.append((i, f"unknown vLLM flag {base}{hint}", "engine-arg-unknown"))
            i += 1
            continue
        name, negation = hit
        spec = index.flags[name]
        dotted = "." in flag and flag.startswith("--")
        if dotted and name not in index.dotted:
            found.append((i, f"{name} takes no dotted sub-keys", "engine-arg-unknown"))
        elif dotted:
            problem = _subkey_problem(flag, name, spec, index)
            if problem:
                found.append((i, problem, "engine-arg-unknown"))
        takes_value = bool(spec.get("takes_value")) and not negation
        if not takes_value:
            if has_value:
                found.append(
                    (
                        i,
                        f"{flag} is a switch and takes no value "
                        f"(write {flag}, or its negation to turn it off)",
                        "engine-arg-switch-value",
                    )
                )
            given.append(_Given(i, i, name, negation, None))
            i += 1
            continue
        start = i
        if not has_value:
            nargs = spec.get("nargs")
            following = args[i + 1] if i + 1 < len(args) else None
            starts_flag = isinstance(following, str) and following.startswith("--")
            if nargs in ("?", "*") and (following is None or starts_flag):
                given.append(_Given(i, i, name, negation, None))
                i += 1
                continue
            if following is not None and not isinstance(following, str):
                i += 2  # a number or a boolean: the schema asks to quote it
                continue
            if following is None or starts_flag:
                found.append(
                    (
                        i,
                        f"{name} needs a value ({name}=VALUE or {name} VALUE)",
                        "engine-arg-missing-value",
                    )
                )
                i += 1
                continue
            value, i = following, i + 1
            if nargs in ("+", "*"):
                while i + 1 < len(args) and not str(args[i + 1]).startswith("-"):
                    i += 1
        item = _Given(start, start if has_value else start + 1, name, negation, value)
        if not dotted:
            message, rule, converted = _value_problem(spec, value, index, plugins)
            if message:
                found.append((i, f"{name}: {message}", rule))
                item.refused = rule not in WARNINGS
            item.converted = converted
        given.append(item)
        i += 1
    return given, found


def _plugin_flags_given(args: list[Any], index: FlagIndex) -> frozenset[str]:
    """The plugin flags of the registries (``--tool-parser-plugin``, ...) that ``args`` give."""
    wanted = {
        f
        for r in (index.data.get("registries") or {}).values()
        for f in r.get("plugin_flags") or []
    }
    given = set()
    for token in args:
        if isinstance(token, str) and token.startswith("--"):
            hit = index.lookup(token.partition("=")[0])
            if hit and hit[0] in wanted:
                given.add(hit[0])
    return frozenset(given)


def _subkey_problem(flag: str, name: str, spec: dict[str, Any], index: FlagIndex) -> str | None:
    """A dotted sub-key that is no field of the flag's vLLM config class."""
    config = (index.data.get("config_classes") or {}).get(spec.get("config_class") or "")
    key = flag.split(".", 2)[1].removesuffix("+")
    if not config or config.get("extra") != "forbid" or key in config["fields"]:
        return None
    return f"{name} has no field {key!r}{_close(key, list(config['fields']))}"


def _active(item: _Given | None) -> bool:
    """Whether a flag is in effect: a switch given (not negated), a value that is not unset."""
    if item is None or item.negation:
        return False
    if item.value is None or item.refused:  # a refused value is given, and said already
        return True
    return item.converted not in (None, "", False)


def _startup_rules(given: list[_Given], index: FlagIndex) -> list[tuple[int, str, str]]:
    """vLLM's argument validation (``startup_rules`` of the data) on the whole list."""
    last: dict[str, _Given] = {g.name: g for g in given}
    found: list[tuple[int, str, str]] = []
    release = f"vLLM {index.version}"
    for rule in index.data.get("startup_rules") or []:
        kind = rule.get("kind")
        quoted = f'"{rule.get("message")}"'
        if kind == "requires":
            item = last.get(rule["flag"])
            if _active(item) and not _active(last.get(rule["requires"])):
                assert item is not None
                found.append(
                    (
                        item.flag_at,
                        f"{rule['flag']} needs {rule['requires']}; {release} refuses to start "
                        f"without it: {quoted}",
                        "engine-arg-requires",
                    )
                )
        elif kind == "conflicts":
            items = [last.get(f) for f in rule["flags"]]
            if all(_active(i) for i in items):
                later = max((i for i in items if i is not None), key=lambda i: i.flag_at)
                found.append(
                    (
                        later.flag_at,
                        f"{' and '.join(rule['flags'])} exclude each other; {release} refuses "
                        f"to start: {quoted}",
                        "engine-arg-conflict",
                    )
                )
        elif kind == "minimum":
            item = last.get(rule["flag"])
            value = item.converted if item is not None and not item.refused else None
            if isinstance(value, int | float) and value < rule["minimum"]:
                assert item is not None
                found.append(
                    (
                        item.value_at,
                        f"{rule['flag']} is at least {rule['minimum']}; {release} refuses to "
                        f"start: {quoted}",
                        "engine-arg-range",
                    )
                )
    return found


def _chart_rules(given: list[_Given], index: FlagIndex) -> list[tuple[int, str, str]]:
    """Credentials as literals, and flags that break the chart's wiring."""
    found: list[tuple[int, str, str]] = []
    secret = set(index.data.get("secret_flags") or [])
    for item in given:
        if item.name in secret and item.value:
            found.append(
                (
                    item.value_at,
                    f"{item.name} puts a credential in the values file (and in the pod spec, "
                    f"for anyone who can read it); {SECRET_KEYS.get(item.name, _SECRET_DEFAULT)}",
                    "engine-arg-secret",
                )
            )
        elif item.name in CHART_KEYS:
            found.append(
                (
                    item.flag_at,
                    f"{item.name} is the chart's: set {CHART_KEYS[item.name]}",
                    "engine-arg-duplicates-key",
                )
            )
        elif item.name in CHART_WIRING and not item.negation:
            found.append(
                (
                    item.flag_at,
                    f"{item.name} breaks the chart's wiring: {CHART_WIRING[item.name]}",
                    "engine-arg-chart-wiring",
                )
            )
    return found


def check_args(args: list[Any], index: FlagIndex) -> list[tuple[int, str, str]]:
    """Problems of an engine.args list as (item index, message, rule)."""
    given, found = _tokens(args, index)
    found.extend(_chart_rules(given, index))
    found.extend(_startup_rules(given, index))
    return found


def engine_args_check(ctx: Context) -> list[Problem]:
    """Check ``engine.args`` against the flags of the release ``image.tag`` pins.

    With no flag data for the tag, the pinned release's flags are used and every finding is a
    warning that says so: the image may run a release whose flags differ.
    """
    engine = ctx.values.get("engine")
    args = engine.get("args") if isinstance(engine, dict) else None
    if not isinstance(args, list) or not args:
        return []
    problems: list[Problem] = []
    index, fallback = flag_index(ctx.merged, ctx.chart)
    image = ctx.merged.get("image")
    tag = str((image if isinstance(image, dict) else {}).get("tag") or "")
    if fallback is not None:
        problems.append(
            ctx.problem(
                ("image", "tag"),
                f"no vLLM flag data for tag {tag!r}; engine.args are checked against {fallback}, "
                "the chart's pinned release, and what differs is a warning",
                "engine-args-unknown-release",
                severity="warning",
                key=False,
            )
        )
    if index is None:
        return problems
    for item, message, rule in check_args(args, index):
        if fallback is not None and rule not in _CHART_OWN:
            problems.append(
                ctx.problem(
                    ("engine", "args", item),
                    f"{message} (by vLLM {fallback}'s flags; image tag {tag} may differ)",
                    rule,
                    key=False,
                    severity="warning",
                )
            )
        else:
            severity = "warning" if rule in WARNINGS else "error"
            problems.append(
                ctx.problem(("engine", "args", item), message, rule, key=False, severity=severity)
            )
    return problems
