"""Loading values files: the values are Helm's reading of the file, positions are ruamel's.

What a values file means is what Helm's own reader (sigs.k8s.io/yaml over go-yaml, reached
through helm-python-sdk) makes of it: ``12:30`` is the text "12:30", ``010`` and ``08`` are 8,
``y`` is true. That reader is neither YAML 1.1 nor YAML 1.2, so it is not emulated here: the
file's text goes to Helm and the data comes back. ruamel.yaml's round-trip tree (YAML 1.2)
supplies line and column only; libyaml (or ruamel) checks the structure first (one mapping
document, no duplicate keys, bounded aliases and depth), which Helm's reader does not refuse.

Nothing here raises on bad input: every problem becomes a :class:`Problem` with a position.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.problem import Problem, Severity, to_pointer
from ..core.rules import Rule, rule

#: Values files beyond this size are refused before parsing (a values file is a few KiB).
MAX_FILE_BYTES = 1024 * 1024
#: Nodes the plain data may hold once aliases are expanded (bounds "billion laughs").
MAX_NODES = 200_000
#: Nesting depth beyond which a document is refused (values are a few levels deep).
MAX_DEPTH = 200

Path_ = tuple[str | int, ...]


# -- the rules of reading a file -----------------------------------------------------------

FILE_UNREADABLE = rule(
    "file-unreadable",
    "error",
    "file",
    "The file cannot be read: it does not exist, it is a directory or another file that is "
    "not a regular file, or its permissions refuse it.",
)
FILE_TOO_BIG = rule(
    "file-too-big",
    "error",
    "file",
    "The file is larger than 1 MiB. A values file is a few KiB; anything this large is not "
    "one (or would make Helm and every reviewer slow), so it is refused before it is parsed.",
)
FILE_ENCODING = rule(
    "file-encoding",
    "error",
    "file",
    "The file is not UTF-8 text, or holds NUL bytes (a binary file). Helm reads values files "
    "as UTF-8; save the file as UTF-8.",
)
YAML_SYNTAX = rule(
    "yaml-syntax",
    "error",
    "file",
    "The file is not YAML: the message gives the parser's reason at the line and column where "
    "it stopped (a bad indentation, an unclosed quote or bracket, a tab).",
)
YAML_DUPLICATE_KEY = rule(
    "yaml-duplicate-key",
    "error",
    "file",
    "A key is written twice in one mapping. Helm keeps one of them silently, so one of the "
    "two settings is lost; the message names the line of the first. Keep one.",
)
YAML_MULTIPLE_DOCUMENTS = rule(
    "yaml-multiple-documents",
    "error",
    "file",
    "The file holds more than one YAML document (`---`). Helm reads only the first; a values "
    "file is one mapping. Split it into several files.",
)
YAML_TOO_DEEP = rule(
    "yaml-too-deep",
    "error",
    "file",
    "The document is nested more than 200 levels deep. No values file needs that; such a file "
    "is refused before it can exhaust a reader.",
)
YAML_TOO_BIG = rule(
    "yaml-too-big",
    "error",
    "file",
    'Aliases expand the document beyond 200,000 nodes (a "billion laughs"). Write the '
    "values out instead of nesting aliases.",
)
YAML_HELM_READER = rule(
    "yaml-helm-reader",
    "error",
    "file",
    "Helm's own reader refuses a file that is YAML: `.inf` and `.nan` (Helm turns values into "
    "JSON, which has no such numbers), or a key Helm cannot turn into text. `helm install -f` "
    "would fail the same way.",
)

YAML_ODD_SPACE = rule(
    "yaml-odd-space",
    "error",
    "file",
    "An indent or a space after `:` made of a character YAML does not count as a space (a "
    "no-break space, pasted from a web page or a chat): what follows is read as text rather "
    "than the key or value it looks like. The message names the character and its lines, and "
    "gives a sed command that replaces it with plain spaces.",
)


@dataclass
class LoadedValues:
    """A parsed values file: plain data plus the round-trip tree for positions.

    Files parsed on the fast path keep their text instead of a tree; the positioned tree is
    built from it the first time a problem needs a line number.
    """

    file: str
    data: Any
    _tree: Any = None
    problems: list[Problem] = field(default_factory=list)
    text: str | None = None
    #: The decoded text of the file, for checks that read scalars as written.
    source: str | None = None

    @property
    def tree(self) -> Any:
        """The ruamel round-trip tree (built on demand for fast-path files)."""
        if self._tree is None and self.text is not None:
            try:
                with _quiet_yaml():
                    self._tree = _yaml().load(self.text)
            except Exception:  # the fast path accepted it; positions are best effort
                self._tree = None
            self.text = None
        return self._tree

    @tree.setter
    def tree(self, value: Any) -> None:
        self._tree = value

    def position(self, path: Path_, *, key: bool = True) -> tuple[int, int]:
        """1-based line and column of ``path`` in the file.

        With ``key`` the position of the mapping key is given (where a reviewer looks for a
        wrong key); otherwise that of its value. A path that does not exist in the file (a
        default from the chart) resolves to its nearest ancestor that does.
        """
        return locate(self.tree, path, key=key)

    def problem(
        self,
        path: Path_,
        message: str,
        rule: Rule,
        *,
        severity: Severity | None = None,
        key: bool = True,
    ) -> Problem:
        """A problem of ``rule`` at ``path`` of this file (its severity unless ``severity``
        says otherwise)."""
        line, column = self.position(path, key=key)
        return Problem(
            file=self.file,
            line=line,
            column=column,
            pointer=to_pointer(path),
            message=message,
            rule=rule.id,
            severity=severity or rule.severity,
        )


def locate(tree: Any, path: Path_, *, key: bool = True) -> tuple[int, int]:
    """1-based (line, column) of ``path`` in a ruamel round-trip tree.

    When ``path`` goes further than the file does (a key the user did not write), the
    position is that of the deepest key the file has on the way (``model:`` for a missing
    ``model.name``), where the missing key belongs.
    """
    line, column = 1, 1
    anchor: tuple[int, int] | None = None
    node = tree
    for index, part in enumerate(path):
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        last = index == len(path) - 1
        try:
            if isinstance(node, Mapping) and part not in node and isinstance(part, str):
                # a key Helm reads otherwise than YAML 1.2 does (`n:` is "false" to Helm)
                part = next((k for k in node if helm_key(str(k)) == part), part)
            if isinstance(node, Mapping) and part in node:
                key_pos = lc.key(part)
                pos = key_pos if (key and last) else lc.value(part)
                node = node[part]
            elif (
                isinstance(node, Sequence)
                and not isinstance(node, str)
                and isinstance(part, int)
                and 0 <= part < len(node)
            ):
                key_pos = pos = lc.item(part)
                node = node[part]
            else:
                return anchor or (line, column)
        except (KeyError, IndexError, TypeError, AttributeError):
            break
        if pos is None or pos[0] is None:
            break
        line, column = pos[0] + 1, pos[1] + 1
        if key_pos is not None and key_pos[0] is not None:
            anchor = (key_pos[0] + 1, key_pos[1] + 1)
    return line, column


class _TooBig(Exception):
    pass


class _TooDeep(Exception):
    pass


def to_plain(node: Any, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """Plain JSON-like data from a ruamel tree, expanding aliases within a node budget.

    Raises ``_TooBig`` past ``max_nodes`` and ``_TooDeep`` past ``max_depth``.
    """
    budget = [max_nodes]

    def walk(value: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooBig
        if depth > max_depth:
            raise _TooDeep
        if isinstance(value, Mapping):
            return {_key(k): walk(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, depth + 1) for v in value]
        return _scalar(value)

    return walk(node, 0)


def _key(key: Any) -> str:
    """Mapping keys as Helm sees them: strings (YAML 1.1 `yes:` becomes "true")."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
            return number
        return number if math.isfinite(number) else str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("latin-1")
    return str(value)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


@contextlib.contextmanager
def _quiet_yaml() -> Iterator[None]:
    """Silence ruamel's advice while parsing (``5e-324`` without a dot is a YAML 1.1 float):
    the values are read as Helm reads them, yaml_checks says what deserves a word, and a
    library warning must never reach the user (or a test) as a traceback."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _mark_problem(file: str, exc: Exception, rule: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = (mark.line + 1) if mark is not None else 1
    column = (mark.column + 1) if mark is not None else 1
    detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"{context}: {detail}" if context and "duplicate" not in rule else str(detail)
    message = " ".join(str(message).split())
    return Problem(file, line, column, "/", f"YAML syntax: {message}", rule)


def load_text(text: str, file: str) -> LoadedValues:
    """Parse values from text; problems are recorded, never raised.

    The structure is checked first (and positions kept); the data of a mapping document is
    then Helm's own reading of the text.
    """
    odd = odd_space_problems(text, file)
    if odd:  # everything else would be said about keys that are not what they look like
        return LoadedValues(file=file, data=None, problems=odd, source=text)
    result = _load_structure(text, file)
    if result.problems or not isinstance(result.data, dict):
        return result
    try:
        result.data = helm_reading(text)
    except HelmReadError as exc:
        result.data = None
        result.problems.append(Problem(file, exc.line, 1, "/", exc.message, YAML_HELM_READER.id))
    return result


class HelmReadError(Exception):
    """Helm's reader refused a text that YAML itself accepts (``.inf``, a key Helm cannot
    turn into JSON)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


_HELM_LINE = re.compile(r"\bline (\d+)\b")
#: Scalars YAML reads as numbers that JSON (and so Helm's reader) cannot hold.
_NON_JSON = re.compile(r"(?m)[:\-\[,]\s*[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)\s*(?:#.*)?$")


def helm_reading(text: str) -> dict[str, Any]:
    """The values Helm reads from a values file's text (``helm install -f``), as JSON data."""
    import helm_python

    try:
        data: dict[str, Any] = helm_python.values_from_yaml(text)
    except helm_python.HelmError as exc:
        detail = " ".join(str(exc).split())
        match = _HELM_LINE.search(detail) or _NON_JSON.search(text)
        line = 1
        if match and match.re is _HELM_LINE:
            line = int(match.group(1))
        elif match:  # Helm names no line when the JSON conversion fails: find the culprit
            line = text.count("\n", 0, match.start()) + 1
        raise HelmReadError(f"Helm cannot read this file: {detail}", line) from None
    return data


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.+-][-\w.+ ]*")


@functools.cache
def helm_key(text: str) -> str:
    """What Helm makes of a plain mapping key written as ``text`` (``n:`` is "false")."""
    if not _PLAIN_KEY.fullmatch(text) or text != text.strip():
        return text
    try:
        data = helm_reading(f"{text}: 0")
    except HelmReadError:
        return text
    return next(iter(data), text)


def _load_structure(text: str, file: str) -> LoadedValues:
    """Check the structure of a values file and keep its positions (data: YAML's reading)."""
    fast = _fast_load(text, file)
    if fast is not None:
        fast.source = text
        return fast
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import YAMLError

    result = LoadedValues(file=file, data=None, source=text)
    try:
        with _quiet_yaml():
            docs = list(_yaml().load_all(text))
    except DuplicateKeyError as exc:
        result.problems.append(_duplicate_problem(file, exc, text))
        return result
    except YAMLError as exc:
        result.problems.append(_mark_problem(file, exc, YAML_SYNTAX.id))
        return result
    except RecursionError:
        result.problems.append(
            Problem(
                file,
                1,
                1,
                "/",
                "the document is nested too deeply to be a values file",
                YAML_TOO_DEEP.id,
            )
        )
        return result
    except (ValueError, TypeError, OverflowError) as exc:
        result.problems.append(Problem(file, 1, 1, "/", f"YAML: {exc}", YAML_SYNTAX.id))
        return result
    docs = [d for d in docs if d is not None] if len(docs) > 1 else docs
    if len(docs) > 1:
        result.problems.append(
            Problem(
                file,
                1,
                1,
                "/",
                f"holds {len(docs)} YAML documents; a values file is one mapping "
                "(Helm reads only the first)",
                YAML_MULTIPLE_DOCUMENTS.id,
            )
        )
        return result
    tree = docs[0] if docs else None
    result.tree = tree
    try:
        result.data = to_plain(tree)
    except _TooBig:
        result.problems.append(
            Problem(
                file,
                1,
                1,
                "/",
                f"the document expands to more than {MAX_NODES} nodes through aliases; "
                "write the values out instead of nesting aliases",
                YAML_TOO_BIG.id,
            )
        )
        result.data = None
    except (_TooDeep, RecursionError):
        result.problems.append(
            Problem(
                file,
                1,
                1,
                "/",
                f"the document is nested more than {MAX_DEPTH} levels deep",
                YAML_TOO_DEEP.id,
            )
        )
        result.data = None
    return result


def _fast_load(text: str, file: str) -> LoadedValues | None:
    """Parse a plain values file with libyaml (PyYAML's C loader, YAML 1.1 like Helm), or
    return None to take the positioned ruamel path.

    Plain means: one non-empty mapping document, no anchors or aliases, no tags, no
    duplicate keys, and bounded depth and size. Everything else, every error included, is
    left to the slow path, which reports it with its position.
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None or len(text) > 256 * 1024:
        return None
    try:
        nodes = list(yaml.compose_all(text, Loader=loader_class))
    except Exception:
        return None
    if len(nodes) != 1 or not isinstance(nodes[0], yaml.MappingNode):
        return None
    root = nodes[0]
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen or depth > MAX_DEPTH or len(seen) > MAX_NODES:
            return None  # an alias (a shared node), too deep or too big
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            if node.tag != "tag:yaml.org,2002:map":
                return None
            keys = set()
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.value in keys or key.value == "<<":
                    return None
                keys.add(key.value)
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                return None
            stack.extend((item, depth + 1) for item in node.value)
        elif node.tag.startswith("tag:yaml.org,2002:") is False or node.tag in (
            "tag:yaml.org,2002:binary",
            "tag:yaml.org,2002:set",
            "tag:yaml.org,2002:omap",
            "tag:yaml.org,2002:pairs",
        ):
            return None
    try:
        data = loader_class(text).construct_document(root)
        plain = to_plain(data)
    except Exception:
        return None
    return LoadedValues(file=file, data=plain, text=text)


def _duplicate_problem(file: str, exc: Exception, text: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    line = (mark.line + 1) if mark is not None else 1
    column = (mark.column + 1) if mark is not None else 1
    problem = str(getattr(exc, "problem", "") or "")
    # ruamel says: found duplicate key "name" with value "..." (original value: "...")
    key = problem.split('"')[1] if problem.count('"') >= 2 else "?"
    found = _first_definition(text, line - 1, column - 1) if mark is not None else None
    first, path = found if found else (None, ())
    if first is None:  # ruamel's context mark is where the mapping starts, a fallback only
        context = getattr(exc, "context_mark", None)
        first = context.line + 1 if context is not None else None
    where = f" (first defined on line {first})" if first is not None else ""
    return Problem(
        file,
        line,
        column,
        to_pointer(path),
        f"duplicate key `{key}`{where}: Helm would silently keep only one of them",
        YAML_DUPLICATE_KEY.id,
    )


def _first_definition(text: str, line: int, column: int) -> tuple[int, Path_] | None:
    """(1-based line of the first of a duplicated key, path of the key) for the duplicate
    whose key starts at 0-based (line, column), read off ruamel's node graph."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    try:
        with _quiet_yaml():
            roots = list(_yaml().compose_all(text))
    except Exception:
        return None
    stack: list[tuple[Any, Path_]] = [(root, ()) for root in roots if root is not None]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((item, (*path, index)) for index, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                start = key.start_mark
                if start.line == line and start.column == column and isinstance(key, ScalarNode):
                    same = next(
                        k
                        for k, _ in node.value
                        if isinstance(k, ScalarNode) and (k.tag, k.value) == (key.tag, key.value)
                    )
                    return same.start_mark.line + 1, (*path, str(key.value))
                if isinstance(key, ScalarNode):
                    stack.append((value, (*path, str(key.value))))
    return None


#: Characters an editor or a web page shows as a space that YAML does not count as one:
#: no-break spaces, the typographic spaces, zero-width ones and the byte-order mark.
_ODD_SPACES = frozenset(
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u202f\u205f\u2060\u3000\ufeff"
)
_LEADING = re.compile("^[ \t" + "".join(sorted(_ODD_SPACES)) + "]*")


def _odd_space_name(char: str) -> str:
    import unicodedata

    return f"U+{ord(char):04X} {unicodedata.name(char, 'SPACE')}"


def _text_spans(text: str) -> tuple[set[int], list[tuple[int, int, int]]] | None:
    """Where any character is text, not layout: 0-based lines of block scalar content (``|``,
    ``>``) and multi-line quoted scalars, and (line, start, end) columns of one-line quoted
    scalars. None when the text does not scan as YAML."""
    import yaml

    lines: set[int] = set()
    spans: list[tuple[int, int, int]] = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for token in yaml.scan(text, Loader=loader):
            if not isinstance(token, yaml.ScalarToken) or token.plain:
                continue
            start, end = token.start_mark, token.end_mark
            if start.line == end.line:
                spans.append((start.line, start.column, end.column))
            else:
                first = start.line + 1 if token.style in ("|", ">") else start.line
                lines.update(range(first, end.line + (1 if end.column > 0 else 0)))
    except yaml.YAMLError:
        return None
    return lines, spans


def odd_space_problems(text: str, file: str) -> list[Problem]:
    """Indentation or a separator made of a character that looks like a space but is none to
    YAML (a no-break space pasted from a web page or a word processor): YAML reads it as text,
    so ``\u00a0\u00a0name: x`` under ``model:`` is a top-level key "\u00a0\u00a0name" and
    every later message would be about that. One problem names the character, where it is
    and the fix."""
    if not any(char in _ODD_SPACES for char in text):
        return []
    block, quoted = _text_spans(text) or (set(), [])
    found: list[tuple[int, int, str, int]] = []  # line, column, character, how many
    for number, line in enumerate(text.splitlines()):
        if number in block:
            continue
        lead = _LEADING.match(line)
        indent = lead.group(0) if lead else ""
        odd = [i for i, c in enumerate(indent) if c in _ODD_SPACES]
        if odd:
            found.append((number, odd[0], indent[odd[0]], len(odd)))
            continue
        # `key:` + a look-alike: the first colon of the line, after a plain key
        separator = re.match(
            "[ \\t]*(?:- +)*[^\\s#'\"][^:#]*:([" + "".join(sorted(_ODD_SPACES)) + "])", line
        )
        if separator and not any(n == number and a <= separator.start(1) < b for n, a, b in quoted):
            found.append((number, separator.start(1), separator.group(1), 1))
    if not found:
        return []
    number, column, char, count = found[0]
    plural = "s" if count > 1 else ""
    indents = column < len(line_indent(text, number))
    where = ("indent" if plural else "indents") + " this line" if indents else "follows `:`"
    utf8 = "".join(f"\\x{b:02x}" for b in char.encode("utf-8"))
    others = [n + 1 for n, *_ in found[1:]]
    also = ""
    if others:
        shown_lines = ", ".join(map(str, others[:8])) + (", ..." if len(others) > 8 else "")
        also = f"; so {'does line' if len(others) == 1 else 'do lines'} {shown_lines}"
    return [
        Problem(
            file,
            number + 1,
            column + 1,
            "/",
            f"{count} {_odd_space_name(char)} character{plural} {where}, which YAML does not "
            f"count as a space, so what follows is read as text rather than the key or value it "
            f"looks like{also}; replace {'them' if count > 1 or others else 'it'} with plain "
            f"spaces (sed -i 's/{utf8}/ /g' {file})",
            YAML_ODD_SPACE.id,
        )
    ]


def line_indent(text: str, number: int) -> str:
    """The leading blanks (spaces, tabs and look-alikes) of 0-based line ``number``."""
    lines = text.splitlines()
    match = _LEADING.match(lines[number]) if number < len(lines) else None
    return match.group(0) if match else ""


def regular_file_problem(path: Path, what: str = "values file") -> str | None:
    """Why ``path`` cannot be read as a file (a folder, a FIFO, a device, a socket), or None.
    Asked before opening it: opening a FIFO waits for a writer, reading a device never ends."""
    import stat

    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"is a directory, not a {what}"
    kind = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return f"is {kind}, not a regular file (reading it might never end); give a {what}"


def load_file(path: str | os.PathLike[str]) -> LoadedValues:
    """Read and parse a values file; unreadable input becomes a problem, never an exception."""
    file = os.fspath(path)
    p = Path(file)
    empty = LoadedValues(file=file, data=None)
    try:
        why = regular_file_problem(p)
        if why:
            empty.problems.append(Problem(file, 1, 1, "/", why, FILE_UNREADABLE.id))
            return empty
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            empty.problems.append(
                Problem(
                    file,
                    1,
                    1,
                    "/",
                    f"is {size / 1048576:.1f} MiB; values files above "
                    f"{MAX_FILE_BYTES // 1048576} MiB are refused",
                    FILE_TOO_BIG.id,
                )
            )
            return empty
        raw = p.read_bytes()
    except FileNotFoundError:
        empty.problems.append(Problem(file, 1, 1, "/", "no such file", FILE_UNREADABLE.id))
        return empty
    except OSError as exc:
        empty.problems.append(
            Problem(file, 1, 1, "/", f"cannot be read: {exc.strerror or exc}", FILE_UNREADABLE.id)
        )
        return empty
    return load_bytes(raw, file)


def load_bytes(raw: bytes, file: str) -> LoadedValues:
    """Decode (UTF-8, as Helm does) and parse values given as bytes."""
    if len(raw) > MAX_FILE_BYTES:
        result = LoadedValues(file=file, data=None)
        result.problems.append(
            Problem(
                file, 1, 1, "/", f"is larger than {MAX_FILE_BYTES // 1048576} MiB", FILE_TOO_BIG.id
            )
        )
        return result
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        result = LoadedValues(file=file, data=None)
        result.problems.append(
            Problem(
                file,
                line,
                column,
                "/",
                f"is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                FILE_ENCODING.id,
            )
        )
        return result
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        result = LoadedValues(file=file, data=None)
        result.problems.append(
            Problem(
                file, line, 1, "/", "holds NUL bytes: a binary file, not YAML", FILE_ENCODING.id
            )
        )
        return result
    return load_text(text, file)
