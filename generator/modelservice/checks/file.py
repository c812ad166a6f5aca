"""The file stage: the document is a mapping of values, and every scalar means to a reader
what it means to Helm.

Reading the file (syntax, encoding, size, duplicate keys) is the loader's
(:mod:`modelservice.values.loader`, which declares those rules); here the document it read is
judged: an empty file or one that is not a mapping, and scalars that Helm reads otherwise
than a YAML 1.2 reader (an editor, a linter, yq) does.

The values are Helm's reading of the file (:mod:`modelservice.values.loader`): ``y``, ``on`` and
``no`` are booleans there, ``010`` is 8, ``1_000`` is 1000, a key ``n:`` is "false". A reviewer
reading the file in an editor sees strings and other numbers. This check compares Helm's
reading with the YAML 1.2 one, scalar by scalar, and warns at each one that differs, saying
what Helm makes of it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from ..core.problem import Problem, to_pointer
from ..core.rules import rule
from ..values.loader import LoadedValues, helm_key, to_plain
from .context import check

#: Cheap filter: a file without any of these cannot hold a scalar the two readers disagree on.
#: A number with a leading zero counts only at the start of a scalar (after a space, ``[``,
#: ``{``, ``,`` or ``:``, with an optional sign), not inside a name such as ``service-0042``:
#: the positioned tree the full comparison needs costs more than the rest of the file's
#: checks.
_CANDIDATE = re.compile(
    r"(?im)(:|-)\s+(y|n|yes|no|on|off)\s*(#|,|]|}|$)|^\s*(y|n|yes|no|on|off)\s*:"
    r"|(?<![^\s\[{,:])[-+]?0(\d|[box])|\d_\d|\d:\d"
)

Path_ = tuple[str | int, ...]


VALUES_EMPTY = rule(
    "values-empty",
    "error",
    "file",
    "The file is empty: the chart's defaults alone serve no model. Set model.name (or "
    "model.source: local and model.path).",
)
VALUES_NOT_MAPPING = rule(
    "values-not-mapping",
    "error",
    "file",
    "The document is a list or a single value, not a mapping of values keys.",
)
YAML_READER_DIFFERS = rule(
    "yaml-reader-differs",
    "warning",
    "file",
    "A scalar Helm's own reader (the values are what it reads) makes a boolean or another "
    "number of, while a YAML 1.2 reader (an editor, a linter, yq) sees text or another number: "
    "`yes`/`no`/`on`/`off`, `y`/`n`, `010`, `1_000`, a key `n:`. Quote it if you mean the "
    "text, or write the value Helm reads.",
)


@check("file", VALUES_EMPTY, VALUES_NOT_MAPPING)
def document(loaded: LoadedValues) -> list[Problem]:
    """The document is a mapping of values."""
    data = loaded.data
    if data is None:
        return [
            loaded.problem(
                (),
                "is empty: the chart's defaults alone serve no model; set model.name "
                "(or model.source: local and model.path)",
                VALUES_EMPTY,
            )
        ]
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single {type(data).__name__} value"
        return [loaded.problem((), f"is {kind}, not a mapping of values", VALUES_NOT_MAPPING)]
    return []


@check("file", YAML_READER_DIFFERS)
def reader_differences(loaded: LoadedValues) -> list[Problem]:
    """A warning at every scalar (or key) Helm reads otherwise than YAML 1.2 does."""
    text = loaded.source
    if not text or not _CANDIDATE.search(text) or not isinstance(loaded.data, dict):
        return []
    tree = loaded.tree
    if not isinstance(tree, Mapping):
        return []
    lines = text.splitlines()
    plain = _plain_scalars(text)
    problems: list[Problem] = []

    def warn(path: Path_, position: tuple[int, int], helm: Any, item: Any) -> None:
        line, column = position[0] + 1, position[1] + 1
        written = plain.get(position) or _written(lines, line, column)
        message = _message(written, helm, item)
        if message is None:
            return
        problems.append(
            Problem(
                file=loaded.file,
                line=line,
                column=column,
                pointer=to_pointer(path),
                message=message,
                rule=YAML_READER_DIFFERS.id,
                severity=YAML_READER_DIFFERS.severity,
            )
        )

    def walk(node: Any, helm: Any, path: Path_) -> None:
        if isinstance(node, Mapping) and isinstance(helm, dict):
            for key, item in node.items():
                name = str(key)
                helm_name = name if name in helm else helm_key(name)
                if helm_name != name and isinstance(key, str):
                    warn((*path, helm_name), node.lc.key(key), helm_name, name)
                if helm_name in helm:
                    if isinstance(item, (Mapping, list)):
                        walk(item, helm[helm_name], (*path, helm_name))
                    else:
                        warn((*path, helm_name), node.lc.value(key), helm[helm_name], item)
        elif isinstance(node, list) and isinstance(helm, list):
            for index, (item, helm_item) in enumerate(zip(node, helm, strict=False)):
                if isinstance(item, (Mapping, list)):
                    walk(item, helm_item, (*path, index))
                else:
                    warn((*path, index), node.lc.item(index), helm_item, item)

    walk(tree, loaded.data, ())
    return problems


_READERS = "a YAML 1.2 reader (editors, linters, yq)"


def _message(written: str, helm: Any, item: Any) -> str | None:
    """The warning for a scalar written as ``written`` that Helm reads as ``helm`` and ruamel
    (YAML 1.2, with its timestamps) as ``item``; None when every reader agrees."""
    if isinstance(item, (datetime.date, datetime.datetime)):
        if not isinstance(helm, str) or helm == _plain(item):
            return None  # a date alone reads back as written
        # Helm keeps the text; readers that resolve timestamps (YAML 1.1, ruamel) make a
        # date of it and write it back in their own form (`Z` becomes `+00:00`).
        return (
            f'`{written}` is the text "{helm}" to Helm, but a timestamp to readers that '
            "resolve YAML timestamps (PyYAML, ruamel.yaml, YAML 1.1 tools), which write it "
            f'back in another form; quote it ("{written}") to keep the text Helm reads for '
            "every reader"
        )
    yaml12 = _plain(item)
    if _digit_separators(written, item):
        # YAML 1.1 (so Helm's reader, go-yaml) drops `_` between digits; the YAML 1.2 core
        # schema has no separators, so a strict 1.2 reader keeps the text.
        return (
            f'`{written}` is {_describe(helm)} to Helm, but the text "{written}" to a strict '
            "YAML 1.2 reader (its core schema has no `_` digit separators); write "
            f'{_literal(helm)} to keep the number Helm reads, or quote it ("{written}") if you '
            "mean the text"
        )
    if not _differ(helm, yaml12):
        return None
    return (
        f"`{written}` is {_describe(helm)} to Helm, but {_describe(yaml12)} to {_READERS}; "
        f'quote it ("{written}") if you mean the text, or write {_literal(helm)}, the value '
        "Helm reads"
    )


def _digit_separators(written: str, item: Any) -> bool:
    """Whether a plain number was written with ``_`` between its digits (``8_000``)."""
    number = isinstance(item, (int, float)) and not isinstance(item, bool)
    return number and re.search(r"[0-9a-fA-F]_+[0-9a-fA-F]", written) is not None


def _literal(value: Any) -> str:
    """How to write ``value`` so that every reader reads it alike."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if value is None:
        return "null"
    return f'"{value}"'


def _plain(value: Any) -> Any:
    try:
        return to_plain(value)
    except Exception:  # bounded elsewhere; a scalar cannot fail here
        return value


def _differ(helm: Any, yaml12: Any) -> bool:
    if isinstance(helm, bool) or isinstance(yaml12, bool):
        return type(helm) is not type(yaml12) or helm != yaml12
    numbers = (int, float)
    if isinstance(helm, numbers) and isinstance(yaml12, numbers):
        return float(helm) != float(yaml12)
    return helm != yaml12


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    if value is None:
        return "null"
    return f'the text "{value}"'


def _plain_scalars(text: str) -> dict[tuple[int, int], str]:
    """Every plain scalar of the text as written, by its 0-based (line, column): what the
    warnings quote (``2024-01-01T10:00:00Z`` whole, ``2001-12-14 21:59:43.10 -5`` with its
    spaces)."""
    import yaml

    found: dict[tuple[int, int], str] = {}
    lines = text.splitlines()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for token in yaml.scan(text, Loader=loader):
            if isinstance(token, yaml.ScalarToken) and token.plain:
                start, end = token.start_mark, token.end_mark
                if start.line == end.line and start.line < len(lines):
                    found[(start.line, start.column)] = lines[start.line][start.column : end.column]
    except yaml.YAMLError:  # positions come from ruamel, which read the file
        pass
    return found


def _written(lines: list[str], line: int, column: int) -> str:
    """The plain scalar as written at (line, column)."""
    rest = lines[line - 1][column - 1 :] if 0 < line <= len(lines) else ""
    # a plain scalar ends at `: `, ` #`, a flow indicator or the end of the line
    match = re.match(r"(?:[^\s,\[\]{}#:]|:(?=[^\s,\[\]{}]))+", rest)
    return match.group(0) if match else rest.strip()
