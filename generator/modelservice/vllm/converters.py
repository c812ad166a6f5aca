"""Engine-argument values read the way vLLM's converters read them.

Each kind of converter is named in the flag data (``type`` of a flag in
``schemas/vllm/<version>.json``, written by ``tools/extract_vllm_flags.py``); this module reads a
text the way that kind does, and the data file's ``converters`` section records vLLM's own
verdict on a list of sample texts for every kind, which the suite compares with ``convert``.
``config_classes`` lists the fields of the vLLM config classes that JSON flags are validated
against.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A number followed by a decimal (k, m, g, t) or binary (K, M, G, T) multiplier.
_HUMAN = re.compile(r"(\d+(?:\.\d+)?)([kKmMgGtT])")
_HUMAN_IN_JSON = re.compile(r"\b\d+(?:\.\d+)?[kKmMgGtT]\b")
_JSON_STRING = re.compile(r'("(?:[^"\\]|\\.)*")')
_JSON_OBJECT_TEXT = re.compile(r"(?s)^\s*{.*}\s*$")
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class Refused(ValueError):
    """vLLM's converter refuses the text; the message says what the flag takes."""


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Refused(f"{text!r} is not an integer") from None


def human_int(text: str) -> int:
    """An integer, or a number with a multiplier: 4k = 4000, 4K = 4096, 25.6k = 25600."""
    text = text.strip()
    match = _HUMAN.fullmatch(text)
    if match:
        number, suffix = match.groups()
        if suffix in _DECIMAL:
            return int(float(number) * _DECIMAL[suffix])
        if "." in number:
            raise Refused(
                f"{text!r}: a binary multiplier ({suffix}) takes a whole number "
                f"(did you mean {number}{suffix.lower()}?)"
            )
        return int(number) * _BINARY[suffix]
    try:
        return int(text)
    except ValueError:
        raise Refused(f"{text!r} is not an integer such as 4096, 4k (4000) or 4K (4096)") from None


def human_int_or_auto(text: str) -> int:
    """As ``human_int``, plus ``-1`` or ``auto`` (any case) for vLLM's automatic choice."""
    stripped = text.strip()
    if stripped == "-1" or stripped.lower() == "auto":
        return -1
    try:
        return human_int(stripped)
    except Refused:
        raise Refused(
            f"{text!r} is not an integer such as 4096, 4k (4000) or 4K (4096), nor -1 or auto"
        ) from None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise Refused(
            f"{text!r} is not JSON; give a JSON text such as '{{\"key\": 1}}' (the value is "
            "parsed with json.loads)"
        ) from None


def expand_human_numbers(text: str) -> str:
    """Bare ``4k``/``4K`` tokens of a JSON text (outside its strings) written as integers."""
    parts = _JSON_STRING.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = _HUMAN_IN_JSON.sub(lambda m: str(human_int(m.group())), parts[i])
    return "".join(parts)


#: Text-to-text normalizations an anonymous converter may apply (``normalizes`` of a flag).
NORMALIZE = {
    "lower": str.lower,
    "dash_to_underscore": lambda t: t.replace("-", "_"),
    "strip": str.strip,
}


def normalize(text: str, steps: list[str]) -> str:
    """``text`` after the normalizations the extraction found a flag's converter applies."""
    for step in steps:
        text = NORMALIZE[step](text)
    return text


def convert(kind: str, text: str, *, nullable: bool = False) -> Any:
    """The value vLLM's converter of ``kind`` makes of ``text``; ``Refused`` when it refuses.

    ``nullable`` (vLLM's ``optional_type``): ``""`` and ``"None"`` give no value. A kind this
    module does not know (a flag-specific callable) takes the text as it is.
    """
    if nullable and text in ("", "None"):
        return None
    if kind == "int":
        return _int(text)
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise Refused(f"{text!r} is not a number") from None
    if kind == "human_int":
        return human_int(text)
    if kind == "human_int_or_auto":
        return human_int_or_auto(text)
    if kind == "json":
        return _json(text)
    if kind == "json_or_str":
        return _json(text) if _JSON_OBJECT_TEXT.match(text) else text
    if kind == "str_or_none":
        return "" if text.lower() == "none" else text
    return text


def convert_config(text: str, config: dict[str, Any], nullable: bool = False) -> Any:
    """A JSON object for a vLLM config class (``config``: its ``fields`` and ``extra``)."""
    if nullable and text in ("", "None"):
        return None
    value = _json(expand_human_numbers(text))
    if not isinstance(value, dict):
        raise Refused(f"{text!r} is not a JSON object such as '{{\"key\": 1}}'")
    if config.get("extra") == "forbid":
        fields = config.get("fields") or []
        unknown = [k for k in value if k not in fields]
        if unknown:
            raise Refused(f"unknown field {unknown[0]!r} (fields: {', '.join(fields)})")
    return value
