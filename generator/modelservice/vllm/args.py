"""The one reading of engine arguments, as vLLM's argument parser reads them.

``engine.args`` of a values file and the rendered server's command line are both read here:
``--flag=value`` and ``--flag value``, underscores in flag names as dashes, short aliases
(``-tp 2``), ``--no-``/``--disable-`` negations, switches, flags taking several values
(``nargs``), dotted sub-keys of JSON config flags (``--compilation-config.mode=3``), the ``-O3``
shorthand, and repeated flags (the last one wins, as in argparse). Each value is read by the
converter its flag has in vLLM (:mod:`.converters`) and against vLLM's choices and registries,
from the flag data of the release (:mod:`.flags`).

Nothing here reports: :class:`Args` says what vLLM would make of the list, and what it could
not read (:class:`Misread`); the checks say it to the user.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .converters import Refused, convert, convert_config, normalize
from .flags import FlagIndex

_OPT_SHORTHAND = re.compile(r"^-O(\d|=?\w+)?$")

#: Why a value is not what vLLM takes: a converter's refusal, a value outside the flag's
#: choices, a name no registry of vLLM holds (``plugin``: unless a plugin file given by
#: another flag registers it), a value outside those the flag lists while taking a plugin's
#: name too (``unlisted``).
RefusalKind = Literal["type", "choice", "unknown-name", "plugin", "unlisted"]
#: What the parser cannot read: a value where a flag belongs, an unknown flag (or sub-key),
#: a value on a switch, a flag without its value.
MisreadKind = Literal["positional", "unknown", "switch-value", "missing-value"]


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    message: str

    @property
    def refuses(self) -> bool:
        """Whether vLLM stops on it (the others start if a plugin provides the name)."""
        return self.kind not in ("plugin", "unlisted")


@dataclass(frozen=True)
class Misread:
    at: int
    kind: MisreadKind
    message: str


@dataclass
class Given:
    """One flag of the list: where it is, its canonical name and what its value reads as."""

    #: index of the flag's token
    flag_at: int
    #: index of its value's token (the flag's own for ``--flag=value`` and switches)
    value_at: int
    #: canonical long flag (``--tensor-parallel-size`` for ``-tp``)
    name: str
    negation: bool = False
    #: the text of the value (the first of several); None for a switch
    value: str | None = None
    values: list[str] = field(default_factory=list)
    #: the dotted sub-key of a JSON config flag (``mode`` of ``--compilation-config.mode``)
    subkey: str | None = None
    converted: Any = None
    refusal: Refusal | None = None

    @property
    def active(self) -> bool:
        """Whether the flag is in effect: a switch given (not negated), or a value that is not
        unset (a refused value counts as given: it is said already)."""
        if self.negation:
            return False
        if self.value is None or (self.refusal is not None and self.refusal.refuses):
            return True
        return self.converted not in (None, "", False)


@dataclass
class Args:
    """An argument list as vLLM reads it."""

    tokens: list[Any]
    given: list[Given]
    misread: list[Misread]
    #: the positional arguments (``vllm serve MODEL``): (index, text)
    positionals: list[tuple[int, str]]
    index: FlagIndex

    def last(self, name: str) -> Given | None:
        """The occurrence of ``name`` that wins (the last, as in argparse); sub-keys apart."""
        for item in reversed(self.given):
            if item.name == name and item.subkey is None:
                return item
        return None

    def all(self, name: str) -> list[Given]:
        return [g for g in self.given if g.name == name]

    def value(self, name: str) -> str | None:
        item = self.last(name)
        return item.value if item is not None and not item.negation else None

    def number(self, name: str, default: int | float | None = None) -> Any:
        """The converted value of a numeric flag, else the flag's default, else ``default``."""
        item = self.last(name)
        if item is not None and (item.refusal is None or not item.refusal.refuses):
            if isinstance(item.converted, int | float) and not isinstance(item.converted, bool):
                return item.converted
        spec = self.index.flags.get(name) or {}
        found = spec.get("default")
        if isinstance(found, int | float) and not isinstance(found, bool):
            return found
        return default

    def active(self, name: str) -> bool:
        item = self.last(name)
        return item is not None and item.active

    def __contains__(self, name: str) -> bool:
        return any(g.name == name for g in self.given)


def _close(value: str, names: list[str]) -> str:
    near = difflib.get_close_matches(value, names, n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def read_value(
    spec: dict[str, Any], value: str, index: FlagIndex, plugins: frozenset[str] = frozenset()
) -> tuple[Any, Refusal | None]:
    """What vLLM makes of ``value`` for a flag: (converted, None), or (converted or None, why
    vLLM refuses it or may refuse it)."""
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
        return None, Refusal("type", str(refused))
    choices = spec.get("choices")
    if choices and converted is not None and converted not in choices:
        shown = [str(c) for c in choices]
        message = f"{value!r} is not one of {', '.join(shown)}{_close(value, shown)}"
        return None, Refusal("choice", message)
    registry = (index.data.get("registries") or {}).get(spec.get("registry") or "")
    if registry and converted not in (None, "") and converted not in registry["names"]:
        what = str(spec.get("registry")).replace("_", " ").removesuffix("s")
        names = list(registry["names"])
        plugin = next((f for f in registry.get("plugin_flags") or [] if f in plugins), None)
        if plugin:
            return converted, Refusal(
                "plugin",
                f"{value!r} is not a {what} vLLM {index.version} has{_close(value, names)}; "
                f"it starts only if the file of {plugin} registers it",
            )
        return None, Refusal(
            "unknown-name",
            f"{value!r} is not a {what} vLLM {index.version} knows{_close(value, names)}; "
            f"it stops at startup (known: {', '.join(names)})",
        )
    known = spec.get("known_values")
    if known and isinstance(converted, str) and converted not in known:
        return converted, Refusal(
            "unlisted",
            f"{value!r} is none of the values vLLM {index.version} lists for this flag "
            f"({', '.join(map(str, known))}){_close(value, [str(k) for k in known])}; it takes "
            "another only from a plugin that registers it",
        )
    return converted, None


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
    if name not in index.dotted:
        return f"{name} takes no dotted sub-keys"
    config = (index.data.get("config_classes") or {}).get(spec.get("config_class") or "")
    key = flag.split(".", 2)[1].removesuffix("+")
    if not config or config.get("extra") != "forbid" or key in config["fields"]:
        return None
    return f"{name} has no field {key!r}{_close(key, list(config['fields']))}"


def read_args(args: list[Any], index: FlagIndex, *, positionals: int = 0) -> Args:
    """``args`` as vLLM's parser reads them; the first ``positionals`` values that are not
    flags are positional arguments (``vllm serve MODEL``: 1), any other is misread.

    Items that are not strings (a number or a boolean in a values list) are skipped: the
    chart's schema asks to quote them.
    """
    misread: list[Misread] = []
    given: list[Given] = []
    found_positionals: list[tuple[int, str]] = []
    plugins = _plugin_flags_given(args, index)
    i = 0
    while i < len(args):
        token = args[i]
        if not isinstance(token, str) or _OPT_SHORTHAND.match(token):
            i += 1
            continue
        if not token.startswith("-") or token in ("-", "--"):
            if len(found_positionals) < positionals and not given:
                found_positionals.append((i, token))
            else:
                misread.append(
                    Misread(
                        i,
                        "positional",
                        f"{token!r} is not a flag (a value belongs right after its flag)",
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
            misread.append(Misread(i, "unknown", f"unknown vLLM flag {base}{hint}"))
            i += 1
            continue
        name, negation = hit
        spec = index.flags[name]
        subkey = flag.split(".", 2)[1] if "." in flag and flag.startswith("--") else None
        if subkey is not None:
            problem = _subkey_problem(flag, name, spec, index)
            if problem:
                misread.append(Misread(i, "unknown", problem))
        takes_value = bool(spec.get("takes_value")) and not negation
        if not takes_value:
            if has_value:
                misread.append(
                    Misread(
                        i,
                        "switch-value",
                        f"{flag} is a switch and takes no value "
                        f"(write {flag}, or its negation to turn it off)",
                    )
                )
            given.append(Given(i, i, name, negation, subkey=subkey))
            i += 1
            continue
        start = i
        values: list[str] = []
        if has_value:
            values = [value]
        else:
            nargs = spec.get("nargs")
            following = args[i + 1] if i + 1 < len(args) else None
            starts_flag = isinstance(following, str) and following.startswith("--")
            if nargs in ("?", "*") and (following is None or starts_flag):
                given.append(Given(i, i, name, negation, subkey=subkey))
                i += 1
                continue
            if following is not None and not isinstance(following, str):
                i += 2  # a number or a boolean: the schema asks to quote it
                continue
            if following is None or starts_flag:
                misread.append(
                    Misread(
                        i,
                        "missing-value",
                        f"{name} needs a value ({name}=VALUE or {name} VALUE)",
                    )
                )
                i += 1
                continue
            values, i = [following], i + 1
            if nargs in ("+", "*"):
                while i + 1 < len(args) and not str(args[i + 1]).startswith("-"):
                    i += 1
                    values.append(str(args[i]))
        item = Given(
            start,
            start if has_value else start + 1,
            name,
            negation,
            values[0],
            values,
            subkey=subkey,
        )
        if subkey is None:
            item.converted, item.refusal = read_value(spec, values[0], index, plugins)
        given.append(item)
        i += 1
    return Args(list(args), given, misread, found_positionals, index)
