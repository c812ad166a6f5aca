"""Extract vLLM's engine/server CLI flags from vLLM's own argparse parser into a JSON data file.

Run it with the python of the throwaway environment made by ``tools/vllm_env.sh``::

    VLLM_TARGET_DEVICE=cpu /tmp/vllm-env/bin/python tools/extract_vllm_flags.py

It writes ``schemas/vllm/<vllm version>.json``. Only data is taken from vLLM, never code.

The module imports only the standard library at top level: ``parser_to_data`` works on any
``argparse.ArgumentParser`` (the tests feed it a small hand-made parser), and vLLM is imported
inside ``build_vllm_parser`` only.

Type names (``type`` of a flag), derived from the argparse ``type`` callable:

==================== ==========================================================================
name                 meaning
==================== ==========================================================================
``bool``             takes no value (store_true/false/const, count, BooleanOptionalAction)
``str``              no type callable, or ``str``
``str_or_none``      vLLM's ``parse_reasoning_parser``: any text, ``none`` (any case) is unset
``int``, ``float``   ``int`` / ``float``
``human_int``        vLLM's ``human_readable_int``: ``4096``, ``1k`` (10**3), ``1K`` (2**10),
                     ``25.6k``; suffixes k/m/g/t decimal, K/M/G/T binary
``human_int_or_auto`` ``human_readable_int_or_auto``: as ``human_int``, plus ``-1``/``auto``
``json``             a JSON text (``json.loads``), or a JSON object validated against a vLLM
                     config class (``parse_dataclass``; the class is in ``config_class``)
``json_or_str``      vLLM's ``union_dict_and_str``: a JSON object when the text looks like
                     ``{...}``, any other text is kept as a string
``custom``           an anonymous (lambda) conversion; read ``help`` for the accepted text
other                any other named callable is recorded under its ``__name__``
==================== ==========================================================================

Wrappers are looked through: a closure with a free variable ``return_type`` (vLLM's
``parse_type`` and ``optional_type``) is named after the callable it wraps, and ``optional_type``
also sets ``nullable`` (the text ``""`` or ``None`` gives no value).

Beyond the parser (``main`` only, with vLLM imported), the file records what vLLM does with a
value once argparse has it: ``converters`` (vLLM's verdict on ``CONVERTER_SAMPLES`` for every
converter kind), ``config_classes`` (fields of the config classes JSON flags are validated
against), ``registries`` (names the registry-backed flags accept), ``startup_rules`` (what
``validate_parsed_serve_args`` enforces, found by running it) and ``secret_flags``.

Defaults are recorded in a JSON form (enums as their value, sets sorted, tuples as lists) or as
null when they are not plain data (objects such as vLLM config dataclasses), are
``argparse.SUPPRESS``, or depend on the machine (see ``machine_dependent_flags``).
"""

from __future__ import annotations

import argparse
import enum
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

GENERATOR = "tools/extract_vllm_flags.py"
SOURCE = "vllm.entrypoints.common.cli_args.make_arg_parser(FlexibleArgumentParser())"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Names of type callables that are mapped to a stable type name (see the module docstring).
KNOWN_TYPES: dict[str, str] = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "loads": "json",
    "parse_dataclass": "json",
    "union_dict_and_str": "json_or_str",
    "human_readable_int": "human_int",
    "human_readable_int_or_auto": "human_int_or_auto",
    "parse_reasoning_parser": "str_or_none",
    "<lambda>": "custom",
}
# Type names whose values are JSON objects; FlexibleArgumentParser lets such a flag be given
# key by key as dotted sub-keys.
JSON_TYPES = frozenset({"json", "json_or_str"})
# Actions that take no value on the command line.
FLAG_ACTIONS = (
    argparse._StoreTrueAction,
    argparse._StoreFalseAction,
    argparse._StoreConstAction,
    argparse._CountAction,
    argparse.BooleanOptionalAction,
    argparse._HelpAction,
    argparse._VersionAction,
)
HELP_SENTENCE_MAX = 240
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(\[])")
_LIST_ITEM = re.compile(r"\s*([-*+]|\d+\.)\s")
_DEPRECATED = re.compile(r"\b(is|are) deprecated\b|^deprecated\b", re.IGNORECASE)


def _closure_vars(func: Callable[..., Any]) -> dict[str, Any]:
    """Return the free variables of a closure by name (empty for anything else)."""
    code = getattr(func, "__code__", None)
    cells = getattr(func, "__closure__", None) or ()
    if code is None:
        return {}
    out: dict[str, Any] = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # empty cell
            continue
    return out


def describe_type(type_func: Callable[..., Any] | None) -> dict[str, Any]:
    """Name an argparse ``type`` callable: ``{"type": ..., "nullable": ..., "config_class": ...}``.

    Wrappers holding a ``return_type`` closure variable are unwrapped; a wrapper defined in a
    function named ``optional_type`` makes the value nullable.
    """
    nullable = False
    func = type_func
    for _ in range(10):  # wrappers nest at most a few levels
        if func is None:
            break
        inner = _closure_vars(func).get("return_type")
        if not callable(inner):
            break
        if getattr(func, "__qualname__", "").startswith("optional_type."):
            nullable = True
        func = inner
    if func is None:
        return {"type": "str", "nullable": nullable, "config_class": None}
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "loads" and getattr(func, "__module__", None) != "json":
        name = "loads_" + str(getattr(func, "__module__", "")).replace(".", "_")
    config_class = None
    if name == "parse_dataclass":
        defaults = getattr(func, "__defaults__", None) or ()
        config_class = next((d.__name__ for d in defaults if isinstance(d, type)), None)
    return {"type": KNOWN_TYPES.get(name, name), "nullable": nullable, "config_class": config_class}


def to_json_value(value: Any) -> tuple[bool, Any]:
    """Convert a default or choice to plain JSON data; ``(False, None)`` if it is not plain data.

    Enums become their value, tuples lists, sets and frozensets sorted lists; floats that JSON
    cannot hold (nan, inf) and any other object are not representable.
    """
    if value is None or isinstance(value, bool | str):
        return True, value
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    if isinstance(value, int):
        return True, int(value)
    if isinstance(value, float):
        return (True, value) if math.isfinite(value) else (False, None)
    if isinstance(value, list | tuple):
        items = [to_json_value(v) for v in value]
        if all(ok for ok, _ in items):
            return True, [v for _, v in items]
        return False, None
    if isinstance(value, set | frozenset):
        ok, items = to_json_value(list(value))
        if not ok:
            return False, None
        try:
            return True, sorted(items)
        except TypeError:
            return True, sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, val in value.items():
            ok, conv = to_json_value(val)
            if not ok or not isinstance(key, str | int | float | bool | enum.Enum):
                return False, None
            out[str(key.value if isinstance(key, enum.Enum) else key)] = conv
        return True, out
    return False, None


def first_sentence(text: str | None) -> str | None:
    """Return the first sentence of a help text on one line, at most HELP_SENTENCE_MAX chars."""
    if not text or text == argparse.SUPPRESS:
        return None
    paragraph = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    lines: list[str] = []
    for line in paragraph.splitlines():
        if lines and _LIST_ITEM.match(line):
            break  # a list follows the lead-in
        lines.append(line)
    flat = " ".join(" ".join(lines).replace("%%", "%").split())
    if not flat:
        return None
    sentence = _SENTENCE_END.split(flat, maxsplit=1)[0]
    if len(sentence) > HELP_SENTENCE_MAX:
        sentence = sentence[: HELP_SENTENCE_MAX - 3].rstrip() + "..."
    return sentence


def _option_strings(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    """All option strings that reach ``action``: its own first, then hidden registered ones."""
    strings = list(action.option_strings)
    hidden = sorted(
        s for s, a in parser._option_string_actions.items() if a is action and s not in strings
    )
    return strings + hidden


def _negative_strings(action: argparse.Action, strings: Iterable[str]) -> set[str]:
    """Option strings of a boolean action that set it to False."""
    if not isinstance(action, argparse.BooleanOptionalAction):
        return set()
    declared = set(getattr(action, "negative_option_strings", ()) or ())
    return {s for s in strings if s.startswith("--no-") or s in declared}


def _is_deprecated(
    parser: argparse.ArgumentParser, action: argparse.Action, help_text: str
) -> bool:
    """True when argparse (3.13 ``deprecated=``), vLLM's parser or the help text marks it."""
    if getattr(action, "deprecated", False):
        return True
    if action in (getattr(parser, "_deprecated", None) or ()):
        return True
    return bool(_DEPRECATED.search(" ".join(help_text.split())))


def action_to_entry(
    parser: argparse.ArgumentParser, action: argparse.Action
) -> tuple[str, dict[str, Any]] | None:
    """Describe one optional argument as ``(canonical long flag, entry)``; None if positional."""
    strings = _option_strings(parser, action)
    if not strings:
        return None
    negative = _negative_strings(action, strings)
    positive = [s for s in strings if s not in negative]
    longs = [s for s in positive if s.startswith("--")]
    canonical = longs[0] if longs else positive[0] if positive else strings[0]
    visible_neg = [s for s in action.option_strings if s in negative]
    hidden_neg = [s for s in strings if s in negative and s not in visible_neg]
    negs = visible_neg + hidden_neg
    negation = negs[0] if negs else None

    takes_value = not isinstance(action, FLAG_ACTIONS) and action.nargs != 0
    if takes_value:
        described = describe_type(action.type)
    else:
        described = {"type": "bool", "nullable": False, "config_class": None}

    choices = None
    if action.choices is not None:
        ok, conv = to_json_value(list(action.choices))
        choices = conv if ok else sorted(str(c) for c in action.choices)

    if action.default is argparse.SUPPRESS:
        default = None
    else:
        _, default = to_json_value(action.default)

    help_text = action.help if isinstance(action.help, str) else ""
    nargs = action.nargs if action.nargs is None or isinstance(action.nargs, int | str) else None
    entry: dict[str, Any] = {
        "takes_value": takes_value,
        "type": described["type"],
        "nullable": described["nullable"],
        "choices": choices,
        "default": default,
        "nargs": nargs,
        "negation": negation,
        "negation_aliases": negs[1:],
        "aliases": [s for s in positive if s != canonical],
        "help": first_sentence(help_text),
        "deprecated": _is_deprecated(parser, action, help_text),
    }
    if described["config_class"]:
        entry["config_class"] = described["config_class"]
    if isinstance(action.metavar, list | tuple) and action.choices is None:
        # vLLM's `Literal[...] | str` flags: the values it lists, while it takes other text
        # (a plugin's name, a class path) without argparse refusing it.
        ok, known = to_json_value(list(action.metavar))
        entry["known_values"] = known if ok else sorted(str(v) for v in action.metavar)
    return canonical, entry


def parser_to_data(parser: argparse.ArgumentParser, version: str) -> dict[str, Any]:
    """Describe every optional argument of ``parser`` as plain JSON data.

    Works on any argparse parser. The result has ``vllm_version``, ``source``, ``generator``,
    ``flags`` (keyed by canonical long flag), ``positionals``, ``dotted_subkey_flags`` (the
    flags of a JSON type whose default is not a list: JSON objects) and ``counts``; ``main``
    adds vLLM's input conventions.
    """
    flags: dict[str, dict[str, Any]] = {}
    positionals: list[dict[str, Any]] = []
    for action in parser._actions:
        described = action_to_entry(parser, action)
        if described is None:
            if action.dest is not argparse.SUPPRESS:
                positionals.append({"dest": action.dest, "nargs": action.nargs})
            continue
        key, entry = described
        if key in flags:
            raise ValueError(f"two arguments claim the flag {key}")
        flags[key] = entry

    visible = [s for a in parser._actions for s in a.option_strings]
    registered = list(parser._option_string_actions)
    return {
        "vllm_version": version,
        "source": SOURCE,
        "generator": GENERATOR,
        "flags": dict(sorted(flags.items())),
        "positionals": positionals,
        "dotted_subkey_flags": sorted(
            k
            for k, v in flags.items()
            if v["type"] in JSON_TYPES and not isinstance(v["default"], list)
        ),
        "counts": {
            "flags": len(flags),
            "long_option_strings": len([s for s in visible if s.startswith("--")]),
            "long_option_strings_with_hidden": len([s for s in registered if s.startswith("--")]),
        },
    }


def dump(data: dict[str, Any]) -> str:
    """Serialise canonically: sorted keys, indent 2, ASCII only, one trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


# --- vLLM side: everything below imports vLLM and runs only under tools/vllm_env.sh's venv ---


def build_vllm_parser() -> tuple[argparse.ArgumentParser, str]:
    """Import vLLM and build its ``vllm serve`` / API server parser; return it and the version.

    vLLM fills in the help text of config-derived flags only when ``--help`` is on the command
    line (``NEEDS_HELP`` in vllm/engine/arg_utils.py), so argv says so while vLLM is imported.
    """
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    saved_argv = sys.argv
    sys.argv = [saved_argv[0], "--help"]
    try:
        import vllm
        from vllm.entrypoints.common.cli_args import make_arg_parser
        from vllm.utils.argparse_utils import FlexibleArgumentParser

        parser = make_arg_parser(FlexibleArgumentParser())
    finally:
        sys.argv = saved_argv
    return parser, str(vllm.__version__)


def _defaults_snapshot(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Canonical JSON of each flag's recorded default, for comparing two machines."""
    data = parser_to_data(parser, "")
    return {k: json.dumps(v["default"], sort_keys=True) for k, v in data["flags"].items()}


def _fake_machine() -> None:
    """Make this process look like another machine before vLLM is imported (probe mode)."""
    fake_cpus = 97
    os.cpu_count = lambda: fake_cpus  # type: ignore[assignment]
    if hasattr(os, "sched_getaffinity"):
        os.sched_getaffinity = lambda pid: set(range(fake_cpus))  # type: ignore[assignment]
    try:
        import psutil

        psutil.cpu_count = lambda logical=True: fake_cpus  # type: ignore[assignment]
    except ImportError:
        pass


def machine_dependent_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Flags whose default differs on a different-looking machine, or names a local path.

    A child process builds the parser again with other CPU counts, another HOME, TMPDIR,
    USER and working directory; flags whose defaults differ from this process's are returned,
    together with flags whose default string contains this machine's home, working directory,
    temp directory or Python prefix.
    """
    here = _defaults_snapshot(parser)
    with tempfile.TemporaryDirectory(prefix="vllm-flags-probe-") as tmp:
        env = dict(os.environ, HOME=tmp, TMPDIR=tmp, USER="probe", XDG_CACHE_HOME=tmp)
        result = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--probe-defaults"],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
    there: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    differing = {k for k in here if here[k] != there.get(k)}
    local = [str(Path.home()), os.getcwd(), tempfile.gettempdir(), sys.prefix]
    local = [p for p in local if p and p != "/"]
    for key, text in here.items():
        if any(p in text for p in local):
            differing.add(key)
    return sorted(differing)


def _parses(parser: argparse.ArgumentParser, argv: list[str], dest: str, expected: Any) -> bool:
    """True when ``parser.parse_args(argv)`` sets ``dest`` to ``expected`` (and does not exit)."""
    try:
        namespace = parser.parse_args(argv)
    except (SystemExit, Exception):  # any failure means "not supported"
        return False
    value = getattr(namespace, dest, None)
    if isinstance(expected, dict):
        ok, plain = to_json_value(value)
        if not ok and hasattr(value, "__dict__"):
            ok, plain = to_json_value(
                {k: getattr(value, k, None) for k in expected}  # a config object
            )
        return (
            ok and isinstance(plain, dict) and all(plain.get(k) == v for k, v in expected.items())
        )
    return value == expected


def _config_file_works(parser: argparse.ArgumentParser) -> bool:
    """True when ``--config FILE.yaml`` with ``max-model-len: 4096`` sets max_model_len."""
    with tempfile.TemporaryDirectory(prefix="vllm-flags-config-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text("max-model-len: 4096\n", encoding="utf-8")
        return _parses(parser, ["--config", str(path)], "max_model_len", 4096)


def vllm_conventions(parser: argparse.ArgumentParser, dotted: list[str]) -> dict[str, Any]:
    """How FlexibleArgumentParser normalises input, as read in vllm/utils/argparse_utils.py.

    Each convention carries ``verified``: whether this parser really accepts the example
    (null: not exercised).
    """
    conventions: dict[str, Any] = {
        "underscores": {
            "description": (
                "In a long option, underscores between the leading -- and the first '.' become "
                "dashes, also in --key=value (only the key): --max_model_len=4096 is "
                "--max-model-len=4096."
            ),
            "example": ["--max_model_len=4096"],
            "verified": _parses(parser, ["--max_model_len=4096"], "max_model_len", 4096),
        },
        "equals_value": {
            "description": "--flag=value is the same as --flag value (plain argparse).",
            "example": ["--max-model-len=4096"],
            "verified": _parses(parser, ["--max-model-len=4096"], "max_model_len", 4096),
        },
        "dotted_subkeys": {
            "description": (
                "A JSON-typed flag can be given key by key: --compilation-config.mode 3 or "
                "--compilation-config.pass_config.x=true; every --flag.key[.key...] value is "
                "parsed as JSON, else as a human-readable int (80g), else kept as a string, "
                "merged into one nested object and passed as --flag '<json>'. A key ending in "
                "'+' appends comma-separated values to a list (--flag.key+ a,b)."
            ),
            "example": ["--compilation-config.mode", "3"],
            "flags": dotted,
            "verified": _parses(
                parser, ["--compilation-config.mode", "3"], "compilation_config", {"mode": 3}
            ),
        },
        "optimization_level_shorthand": {
            "description": (
                "-O<level>, -O=<level> and '-O <0-3>' are rewritten to --optimization-level "
                "<level> (e.g. -O3, -O0)."
            ),
            "example": ["-O3"],
            "verified": _parses(parser, ["-O3"], "optimization_level", "3"),
        },
        "config_file": {
            "description": (
                "--config FILE.yaml inserts the file's keys as arguments (true -> --key, "
                "false -> --no-key when it exists, list -> --key v1 v2, mapping -> JSON); "
                "arguments given on the command line win over the file."
            ),
            "flag": "--config",
            "verified": _config_file_works(parser),
        },
        "abbreviations": {
            "description": (
                "argparse accepts an unambiguous prefix of a long option (allow_abbrev); "
                "rely on full names."
            ),
            "allow_abbrev": bool(parser.allow_abbrev),
            "example": ["--max-model-le=4096"],
            "verified": _parses(parser, ["--max-model-le=4096"], "max_model_len", 4096),
        },
        "enable_disable_pairs": {
            "description": (
                "A boolean --enable-x flag is paired with --disable-x (and the reverse) as its "
                "negation; --no-enable-x / --no-disable-x are still accepted but hidden "
                "(negation_aliases). Other booleans negate with --no-x."
            ),
            "verified": _parses(
                parser, ["--disable-prefix-caching"], "enable_prefix_caching", False
            ),
        },
        "help_search": {
            "description": "--help=<group title|keyword|all> prints help for a subset.",
            "verified": None,  # printing help exits; not exercised
        },
    }
    return conventions


# --- What vLLM does with a value once argparse has it: converters, registries, config classes
# --- and the rules vLLM's argument validation enforces before it loads anything.

# Texts fed to each converter; the data file records vLLM's verdict on every one, so the toolkit's
# own reading of a value is tested against vLLM's (tests/test_engine_args.py).
CONVERTER_SAMPLES: tuple[str, ...] = (
    "4096",
    " 4096 ",
    "+5",
    "-1",
    "0",
    "4096.5",
    "1e3",
    "1_000",
    "0x10",
    "4k",
    "4K",
    "25.6k",
    "1.5K",
    "2m",
    "2M",
    "1g",
    "1G",
    "1t",
    "1T",
    "4kb",
    "auto",
    "AUTO",
    "none",
    "None",
    "NONE",
    "",
    "abc",
    "nan",
    "inf",
    "true",
    "null",
    "5",
    "[1, 2]",
    "{}",
    '{"a": 1}',
    ' {"a": 1} ',
    "{'a': 1}",
    '{"a": 1,}',
    "a=1",
    "image=4",
    '{"image": 4}',
    '{"a": 2k}',
    '"text"',
)
# Texts fed to the converter of each vLLM config class (a JSON object validated by pydantic).
CONFIG_SAMPLES: tuple[str, ...] = ("{}", "[]", "5", "mode=3", "{'a': 1}", '{"a": 1,}')
# A flag whose value is a credential: its canonical name ends so (not ``-keyfile``).
SECRET_FLAG = re.compile(r"-(api-key|key|token|secret|password|passwd)$")
# Values tried on numeric flags to find a lower bound vLLM's validation enforces.
BOUND_PROBES: tuple[str, ...] = ("-1", "0", "1")


def _plain(value: Any) -> dict[str, Any]:
    """A converter's result as a sample verdict: ``{"value": ...}`` or ``{"object": type}``."""
    ok, plain = to_json_value(value)
    if ok:
        return {"value": plain}
    return {"object": type(value).__name__}


def converter_verdicts(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """vLLM's verdict on every sample text, for each converter kind (``type`` of a flag).

    The converter of a kind is the ``type`` callable of the first flag (by name) of that kind,
    and of the first nullable one (``optional_type``) under ``<kind>:nullable``; JSON flags
    validated against a config class are left out (see ``config_classes``).
    """
    data = parser_to_data(parser, "")
    actions = {s: a for a in parser._actions for s in a.option_strings}
    out: dict[str, Any] = {}
    for name, entry in data["flags"].items():
        kind = entry["type"]
        key = f"{kind}:nullable" if entry["nullable"] else kind
        if key in out or kind in ("bool", "custom") or entry.get("config_class"):
            continue
        action = actions[name]
        if action.type is None or entry["choices"]:
            continue
        samples = []
        for text in CONVERTER_SAMPLES:
            try:
                verdict: dict[str, Any] = {"text": text, "ok": True, **_plain(action.type(text))}
            except (ValueError, TypeError, argparse.ArgumentTypeError):
                verdict = {"text": text, "ok": False}
            samples.append(verdict)
        out[key] = {"flag": name, "kind": kind, "nullable": entry["nullable"], "samples": samples}
    return dict(sorted(out.items()))


# What an anonymous converter may do to a text, each with a probe: (name, text, expected result).
NORMALIZATIONS: tuple[tuple[str, str, str], ...] = (
    ("lower", "AbC", "abc"),
    ("dash_to_underscore", "a-b", "a_b"),
    ("strip", " a ", "a"),
)


def custom_normalizations(parser: argparse.ArgumentParser) -> dict[str, list[str] | None]:
    """For each flag with an anonymous converter (``custom``): the normalizations it applies,
    found by probing it (``NORMALIZATIONS``), or None when it is more than a text-to-text
    normalization (it changes a plain lowercase word, or returns something else)."""
    data = parser_to_data(parser, "")
    actions = {s: a for a in parser._actions for s in a.option_strings}
    out: dict[str, list[str] | None] = {}
    for name, entry in data["flags"].items():
        if entry["type"] != "custom":
            continue
        convert = actions[name].type
        try:
            plain = convert("abc") == "abc"
            found = [n for n, text, expected in NORMALIZATIONS if convert(text) == expected]
        except Exception:  # any failure: not a plain normalization
            plain, found = False, []
        out[name] = found if plain else None
    return out


def config_classes(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The fields of every config class a JSON flag is validated against, and vLLM's verdict
    on a few malformed texts (``CONFIG_SAMPLES``) and on an unknown field."""
    import dataclasses

    out: dict[str, Any] = {}
    for action in parser._actions:
        described = describe_type(action.type) if action.option_strings else None
        if not described or not described["config_class"] or not action.option_strings:
            continue
        func = action.type
        while callable(_closure_vars(func).get("return_type")):
            func = _closure_vars(func)["return_type"]
        cls = next(d for d in func.__defaults__ if isinstance(d, type))
        if cls.__name__ in out:
            continue
        fields = sorted(f.name for f in dataclasses.fields(cls))
        config = getattr(cls, "__pydantic_config__", {}) or {}
        samples = []
        for text in (*CONFIG_SAMPLES, '{"no_such_field_x": 1}'):
            try:
                action.type(text)
                samples.append({"text": text, "ok": True})
            except (ValueError, TypeError, argparse.ArgumentTypeError):
                samples.append({"text": text, "ok": False})
        out[cls.__name__] = {
            "fields": fields,
            "extra": config.get("extra"),
            "flag": action.option_strings[0],
            "samples": samples,
        }
    return dict(sorted(out.items()))


def vllm_registries() -> dict[str, Any]:
    """The names vLLM's registries accept for flags whose value names a registered plugin.

    Argparse takes any text for these flags; vLLM looks the name up at startup and stops on an
    unknown one (``validate_api_server_args``, ``ModelConfig._verify_quantization``).
    ``plugin_flags``: a flag that loads a file registering more names first
    (``init_parser_plugin``), so a name the registry lacks may be the plugin's.
    """
    from vllm.model_executor.layers import quantization
    from vllm.reasoning import ReasoningParserManager
    from vllm.tool_parsers import ToolParserManager

    return {
        "quantization_methods": {
            "flags": ["--quantization"],
            "names": sorted(quantization.QUANTIZATION_METHODS),
            "deprecated": sorted(quantization.DEPRECATED_QUANTIZATION_METHODS),
            "source": "vllm.model_executor.layers.quantization.QUANTIZATION_METHODS",
        },
        "reasoning_parsers": {
            "flags": ["--reasoning-parser"],
            "names": sorted(ReasoningParserManager.list_registered()),
            "plugin_flags": ["--reasoning-parser-plugin"],
            "source": "vllm.reasoning.ReasoningParserManager.list_registered()",
        },
        "tool_call_parsers": {
            "flags": ["--tool-call-parser"],
            "names": sorted(ToolParserManager.list_registered()),
            "plugin_flags": ["--tool-parser-plugin"],
            "source": "vllm.tool_parsers.ToolParserManager.list_registered()",
        },
    }


def _validation_error(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """vLLM's verdict on a command line: None when it parses and passes
    ``validate_parsed_serve_args``, else the error's text ("" when argparse refused it)."""
    import contextlib
    import io

    from vllm.entrypoints.common.cli_args import validate_parsed_serve_args

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            namespace = parser.parse_args(argv)
    except SystemExit:
        return ""
    return _validate_namespace(validate_parsed_serve_args, namespace)


def _validate_namespace(validate: Callable[..., Any], namespace: argparse.Namespace) -> str | None:
    try:
        validate(namespace)
    except Exception as error:  # vLLM raises TypeError, ValueError, KeyError
        return str(error).strip("'\"") or type(error).__name__
    return None


def _probe_value(name: str, entry: dict[str, Any], registries: dict[str, Any]) -> list[str]:
    """A command-line fragment that gives ``name`` an ordinary value."""
    if not entry["takes_value"]:
        return [name]
    for registry in registries.values():
        if name in registry["flags"]:
            return [name, registry["names"][0]]
    if entry["choices"]:
        return [name, str(entry["choices"][0])]
    return [name, "1"]


def startup_rules(parser: argparse.ArgumentParser, registries: dict[str, Any]) -> list[Any]:
    """Rules between flags that ``validate_parsed_serve_args`` enforces, found by running it.

    - ``requires``: a switch refused alone and accepted once a flag its error names is given;
    - ``conflicts``: two switches each accepted alone and refused together;
    - ``minimum``: the least of -1, 0, 1 a numeric flag accepts when -1 is refused.
    Each rule carries vLLM's own error text.
    """
    import copy

    from vllm.entrypoints.common.cli_args import validate_parsed_serve_args

    data = parser_to_data(parser, "")
    flags = data["flags"]
    rules: list[dict[str, Any]] = []
    base = parser.parse_args([])
    switches: dict[str, dict[str, Any]] = {}
    for name, entry in flags.items():
        if entry["takes_value"] or name in ("--help", "--version"):
            continue
        error = _validation_error(parser, [name])
        if error is None:
            namespace = parser.parse_args([name])
            switches[name] = {
                k: v for k, v in vars(namespace).items() if getattr(base, k, None) != v
            }
            continue
        for named in dict.fromkeys(re.findall(r"--[a-z0-9][a-z0-9-]*", error)):
            if named == name or named not in flags:
                continue
            if _validation_error(parser, [name, *_probe_value(named, flags[named], registries)]):
                continue
            rules.append({"kind": "requires", "flag": name, "requires": named, "message": error})
    names = sorted(switches)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            namespace = copy.copy(base)
            for key, value in {**switches[first], **switches[second]}.items():
                setattr(namespace, key, value)
            error = _validate_namespace(validate_parsed_serve_args, namespace)
            if error is not None:
                rules.append({"kind": "conflicts", "flags": [first, second], "message": error})
    numeric = ("int", "float", "human_int", "human_int_or_auto")
    for name, entry in flags.items():
        if entry["type"] not in numeric or not entry["takes_value"] or entry["choices"]:
            continue
        verdicts = {text: _validation_error(parser, [name, text]) for text in BOUND_PROBES}
        if verdicts["-1"] and verdicts["-1"] != "":
            accepted = [t for t in BOUND_PROBES if verdicts[t] is None]
            if accepted:
                rules.append(
                    {
                        "kind": "minimum",
                        "flag": name,
                        "minimum": int(accepted[0]),
                        "message": verdicts["-1"],
                    }
                )
    return rules


def secret_flags(flags: dict[str, Any]) -> list[str]:
    """Flags whose value is a credential (``SECRET_FLAG`` on the canonical name)."""
    return sorted(n for n, e in flags.items() if e["takes_value"] and SECRET_FLAG.search(n))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: write the flags data file of the installed vLLM."""
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument(
        "--output",
        type=Path,
        help="output file (default: schemas/vllm/<vllm.__version__>.json in this repository)",
    )
    cli.add_argument("--probe-defaults", action="store_true", help=argparse.SUPPRESS)
    args = cli.parse_args(argv)

    if args.probe_defaults:
        _fake_machine()
        parser, _ = build_vllm_parser()
        print(json.dumps(_defaults_snapshot(parser), sort_keys=True))
        return 0

    parser, version = build_vllm_parser()
    data = parser_to_data(parser, version)
    machine_dependent = machine_dependent_flags(parser)
    for key in machine_dependent:
        data["flags"][key]["default"] = None
    data["machine_dependent_flags"] = machine_dependent
    data["conventions"] = vllm_conventions(parser, data["dotted_subkey_flags"])
    data["target_device"] = os.environ.get("VLLM_TARGET_DEVICE", "")
    data["converters"] = converter_verdicts(parser)
    for flag, normalizes in custom_normalizations(parser).items():
        data["flags"][flag]["normalizes"] = normalizes
    data["config_classes"] = config_classes(parser)
    data["registries"] = vllm_registries()
    for registry, described in data["registries"].items():
        for flag in described["flags"] + described.get("plugin_flags", []):
            if flag not in data["flags"]:
                raise ValueError(f"vLLM has no flag {flag} any more: update vllm_registries")
        for flag in described["flags"]:
            data["flags"][flag]["registry"] = registry
    data["startup_rules"] = startup_rules(parser, data["registries"])
    data["secret_flags"] = secret_flags(data["flags"])

    output = args.output or REPO_ROOT / "schemas" / "vllm" / f"{version}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(dump(data), encoding="utf-8")
    print(f"wrote {output}: {data['counts']['flags']} flags", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
