"""Kubernetes quantities (``"500m"``, ``"16Gi"``, ``4``), parsed as the API server parses
them, and shown as people read them: the one quantity parser of the toolkit."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ..core.problem import shown

_QUANTITY = re.compile(
    r"^(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity (``"500m"``, ``"16Gi"``, ``4``) as a number, as the API server
    parses it. Raises ``ValueError`` for anything Kubernetes would reject."""
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a quantity")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if not match or value != value.strip():
        raise ValueError(
            f"{shown(value)} is not a Kubernetes quantity (a number with an optional suffix "
            "such as m, k, M, G, Ki, Mi, Gi)"
        )
    try:
        number = Decimal(match.group("num"))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from None
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        number *= _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= _DECIMAL[suffix]
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > 60:  # far beyond any resource; Decimal would overflow
            raise ValueError(f"{value!r} is out of range for a Kubernetes quantity")
        number *= Decimal(10) ** exponent
    return -number if match.group("sign") == "-" else number


def format_bytes(number: Decimal | int | float) -> str:
    """A number of bytes in binary units, as ``kubectl describe`` readers think of memory
    (``80Gi``, ``1.5Ti``, ``512Mi``)."""
    value = Decimal(number)
    for unit, size in (
        ("Ei", 2**60),
        ("Pi", 2**50),
        ("Ti", 2**40),
        ("Gi", 2**30),
        ("Mi", 2**20),
        ("Ki", 2**10),
    ):
        if abs(value) >= size:
            scaled = value / size
            text = f"{scaled:.1f}".removesuffix(".0")
            return f"{text}{unit}"
    return f"{value:f}".rstrip("0").rstrip(".") or "0"
