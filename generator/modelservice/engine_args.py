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
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .diagnostics import Problem
from .paths import schemas_dir

if TYPE_CHECKING:
    from .validate import Context

_HUMAN_INT = re.compile(r"^\d+(\.\d+)?[kKmMgGtT]?$")
_OPT_SHORTHAND = re.compile(r"^-O(\d|=?\w+)?$")


@cache
def _load(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def flag_data(version: str) -> dict[str, Any] | None:
    """The flag data of a vLLM version, or None when none was extracted for it."""
    path = schemas_dir() / "vllm" / f"{version}.json"
    return _load(str(path)) if path.is_file() else None


class _Index:
    """Every spelling of every flag, mapped to its canonical long flag."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.flags: dict[str, dict[str, Any]] = data["flags"]
        self.dotted = set(data.get("dotted_subkey_flags", []))
        self.spelling: dict[str, tuple[str, bool]] = {}
        for name, spec in self.flags.items():
            self.spelling[name] = (name, False)
            for alias in spec.get("aliases") or []:
                self.spelling[alias] = (name, False)
            for negation in [spec.get("negation"), *(spec.get("negation_aliases") or [])]:
                if negation:
                    self.spelling[negation] = (name, True)

    def lookup(self, flag: str) -> tuple[str, bool] | None:
        """(canonical flag, is a negation) for a spelling, underscores read as dashes."""
        if flag.startswith("--"):
            flag = "--" + flag[2:].replace("_", "-")
        return self.spelling.get(flag)

    def suggest(self, flag: str) -> str | None:
        longs = [s for s in self.spelling if s.startswith("--")]
        near = difflib.get_close_matches(flag.replace("_", "-"), longs, n=1, cutoff=0.75)
        return near[0] if near else None


@cache
def _index(path: str) -> _Index:
    return _Index(_load(path))


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


def check_args(args: list[Any], index: _Index) -> list[tuple[int, str, str]]:
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


def flag_index(merged: dict[str, Any], chart: Path) -> tuple[_Index | None, str | None]:
    """The flags of the vLLM release ``image.tag`` pins, and, when no data was extracted for
    that tag, the chart's pinned version used instead (else None). No index without data."""
    tag = str((merged.get("image") or {}).get("tag") or "").removeprefix("v")
    fallback = None
    data = flag_data(tag)
    if data is None:
        fallback = _pinned_version(chart)
        data = flag_data(fallback)
    if data is None:
        return None, fallback
    return _index(str(schemas_dir() / "vllm" / f"{data['vllm_version']}.json")), fallback


def _pinned_version(chart: Path) -> str:
    """The vLLM version the chart's appVersion pins."""
    text = (chart / "Chart.yaml").read_text(encoding="utf-8")
    match = re.search(r"^appVersion:\s*[\"']?v?([^\"'\s]+)", text, flags=re.M)
    return match.group(1) if match else ""


def flag_values(
    args: list[Any], merged: dict[str, Any], chart: Path
) -> dict[str, tuple[int, str | None]]:
    """The value each flag of ``args`` is given, by canonical long flag: (item index, value).

    Read with the flags of the pinned release; the last occurrence wins, as in argparse.
    Switches map to None; unknown flags are left out (they are reported elsewhere).
    """
    index, _ = flag_index(merged, chart)
    if index is None:
        return {}
    found: dict[str, tuple[int, str | None]] = {}
    for i, token in enumerate(args):
        if not isinstance(token, str) or not token.startswith("-"):
            continue
        flag, has_value, value = token.partition("=")
        hit = index.lookup(flag)
        if hit is None:
            continue
        name, negation = hit
        if has_value:
            found[name] = (i, value)
        elif index.flags[name].get("takes_value") and not negation:
            following = args[i + 1] if i + 1 < len(args) else None
            if isinstance(following, str) and not following.startswith("-"):
                found[name] = (i, following)
        else:
            found[name] = (i, None)
    return found
