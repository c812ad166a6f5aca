"""The data-driven cases of tests/cases and their headers, read one way for every test.

A file of tests/cases/invalid declares, in header lines at its top, every problem it yields,
in the order validate prints them: ``# expect: LINE:COL POINTER RULE`` for an error,
``# expect-warning: ...`` for a warning, each optionally followed by lines ``#   says: TEXT``
that the problem's message must hold (the fix it gives, the numbers it compares, the rendered
object it names). A file of tests/cases/valid validates with no problem at all.
"""

from __future__ import annotations

import re
from pathlib import Path

CASES = Path(__file__).resolve().parent / "cases"
INVALID = sorted((CASES / "invalid").glob("*.yaml"))
VALID = sorted((CASES / "valid").glob("*.yaml"))
HEADER = re.compile(r"^# expect(-warning)?: (\d+):(\d+) (\S+) (\S+)$")
#: A line under an expectation: text its message must hold (the fix it gives, the numbers it
#: compares), so that wrong advice or a flipped comparison fails the case.
SAYS = re.compile(r"^#\s+says: (.+)$")
#: (severity, line, column, pointer, rule)
Expected = tuple[str, int, int, str, str]


def header(path: Path) -> list[tuple[Expected, list[str]]]:
    """Every expectation of a case's header with the texts its message must hold."""
    found: list[tuple[Expected, list[str]]] = []
    for raw in path.read_bytes().split(b"\n"):
        line = raw.decode("utf-8", errors="replace")
        match = HEADER.match(line)
        said = SAYS.match(line)
        if said and found:
            found[-1][1].append(said.group(1))
            continue
        if not match:
            break
        severity = "warning" if match.group(1) else "error"
        expected = (
            severity,
            int(match.group(2)),
            int(match.group(3)),
            match.group(4),
            match.group(5),
        )
        found.append((expected, []))
    assert found, f"{path.name} lacks a '# expect: LINE:COL POINTER RULE' header"
    return found


def expectations(path: Path) -> list[Expected]:
    """Every (severity, line, column, pointer, rule) a case declares, in order."""
    return [expected for expected, _ in header(path)]


def sayings(path: Path) -> list[list[str]]:
    """For each expectation of a case, the texts its message must hold."""
    return [says for _, says in header(path)]
