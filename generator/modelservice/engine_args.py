"""Engine arguments checked against the flags of the vLLM release the image pins.

The flags come from ``schemas/vllm/<version>.json``, extracted from that release's own
argument parser by ``tools/extract_vllm_flags.py``. Tokens are read the way vLLM's
FlexibleArgumentParser reads them: ``--flag=value`` and ``--flag value``, underscores in flag
names as dashes, ``--no-``/``--disable-`` negations, short aliases, dotted sub-keys of JSON
config flags (``--compilation-config.mode=3``) and the ``-O3`` shorthand.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import TYPE_CHECKING, Any

from .diagnostics import Problem
from .vllm_flags import FlagIndex, flag_index

if TYPE_CHECKING:
    from .validate import Context

_HUMAN_INT = re.compile(r"^\d+(\.\d+)?[kKmMgGtT]?$")
_OPT_SHORTHAND = re.compile(r"^-O(\d|=?\w+)?$")


def _value_problem(spec: dict[str, Any], value: str) -> str | None:
    """Why vLLM would reject ``value`` for a flag, or None."""
    choices = spec.get("choices")
    if choices and value not in [str(c) for c in choices]:
        near = difflib.get_close_matches(value, [str(c) for c in choices], n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return f"{value!r} is not one of {', '.join(map(str, choices))}{hint}"
    kind = spec.get("type")
    if spec.get("nullable") and value.lower() in ("none", "null"):
        return None
    if kind == "int" and not re.fullmatch(r"[+-]?\d+", value):
        return f"{value!r} is not an integer"
    if kind == "float":
        try:
            float(value)
        except ValueError:
            return f"{value!r} is not a number"
    if kind in ("human_int", "human_int_or_auto"):
        if not (_HUMAN_INT.match(value) or (kind == "human_int_or_auto" and value == "auto")):
            allowed = "an integer such as 4096 or 4k" + (" or auto" if "auto" in kind else "")
            return f"{value!r} is not {allowed}"
    if kind == "json" and value[:1] in "{[":
        try:
            json.loads(value)
        except ValueError:
            return f"{value!r} is not valid JSON"
    return None


def check_args(args: list[Any], index: FlagIndex) -> list[tuple[int, str, str]]:
    """Problems of an engine.args list as (item index, message, rule)."""
    found: list[tuple[int, str, str]] = []
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
            i += 1
            continue
        if not has_value:
            nargs = spec.get("nargs")
            following = args[i + 1] if i + 1 < len(args) else None
            starts_flag = isinstance(following, str) and following.startswith("--")
            if nargs in ("?", "*"):
                i += 1 if following is None or starts_flag else 2
                continue
            if following is None or starts_flag or not isinstance(following, str):
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
        if not dotted:
            problem = _value_problem(spec, value)
            if problem:
                rule = "engine-arg-choice" if spec.get("choices") else "engine-arg-type"
                found.append((i, f"{name}: {problem}", rule))
        i += 1
    return found


def engine_args_check(ctx: Context) -> list[Problem]:
    """Check ``engine.args`` against the flags of the release ``image.tag`` pins."""
    engine = ctx.values.get("engine")
    args = engine.get("args") if isinstance(engine, dict) else None
    if not isinstance(args, list) or not args:
        return []
    problems: list[Problem] = []
    index, fallback = flag_index(ctx.merged, ctx.chart)
    if fallback is not None:
        tag = str((ctx.merged.get("image") or {}).get("tag") or "")
        problems.append(
            ctx.problem(
                ("image", "tag"),
                f"no vLLM flag data for tag {tag!r}; engine.args are checked against {fallback}, "
                "the chart's pinned release",
                "engine-args-unknown-release",
                severity="warning",
                key=False,
            )
        )
    if index is None:
        return problems
    for item, message, rule in check_args(args, index):
        problems.append(ctx.problem(("engine", "args", item), message, rule, key=False))
    return problems
