"""Problems found in values files, and how they are printed.

A problem is one line: ``FILE:LINE:COL: /json/pointer: message [rule]``, the format of
yamllint's parsable output, so editors and CI annotations can jump to it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


def shown(value: object) -> str:
    """A value in a message as the user wrote it in YAML: ``null``, ``true``, ``'text'``,
    ``{"key": null}``; never Python's ``None`` or ``True``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def escape_pointer_token(token: str | int) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def to_pointer(path: tuple[str | int, ...] | list[str | int]) -> str:
    """The JSON pointer of a path of keys and indexes; the root is ``""`` shown as ``/``."""
    if not path:
        return "/"
    return "".join("/" + escape_pointer_token(p) for p in path)


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in one values file."""

    file: str
    line: int
    column: int
    pointer: str
    message: str
    rule: str
    severity: Severity = "error"

    def format_text(self) -> str:
        """The one-line text form."""
        prefix = "" if self.severity == "error" else "warning: "
        return (
            f"{self.file}:{self.line}:{self.column}: {self.pointer}: "
            f"{prefix}{self.message} [{self.rule}]"
        )

    def as_dict(self) -> dict[str, object]:
        """The JSON form: file, line, column, pointer, message, rule, severity."""
        return asdict(self)


def format_json(problems: list[Problem]) -> str:
    """A JSON list of problems, for machines."""
    return json.dumps([p.as_dict() for p in problems], indent=2)


def has_errors(problems: list[Problem], *, strict: bool = False) -> bool:
    """Whether the problems fail the check (warnings only fail under ``strict``)."""
    return any(p.severity == "error" or strict for p in problems)
