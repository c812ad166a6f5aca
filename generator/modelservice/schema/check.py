"""The JSON Schema layer: the chart's own values.schema.json, errors at the offending key.

Every error is collected with ``iter_errors``; for ``anyOf``/``oneOf`` the most relevant
sub-error is reported (``best_match``), so a user reads "must match pattern" rather than
"is not valid under any of the given schemas". Unknown keys are reported at the key itself
with the closest known key.
"""

from __future__ import annotations

import difflib
import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ..core.problem import Problem
from ..core.rules import Rule, rule
from ..core.tree import Path_, get
from ..values.loader import LoadedValues

# -- the rules of the chart's schema --------------------------------------------------------

_SCHEMA = (
    "the chart's JSON Schema (chart/values.schema.json, generated from "
    "schemas/values.schema.yaml), which plain `helm install` enforces too"
)
#: The JSON Schema keyword behind each ``schema-*`` rule, and what it refuses.
SCHEMA_KEYWORDS: dict[str, str] = {
    "type": "a value of the wrong type (text where a number belongs; an unquoted number or "
    "boolean where text belongs, with the advice to quote it)",
    "enum": "a value outside the key's choices, with the closest one",
    "const": "a value other than the one the key allows in this context",
    "pattern": "text of the wrong form: a Kubernetes quantity, name or label, an http(s) "
    "URL for a mirror, a duration; the key's description says what it takes",
    "minimum": "a number below the key's least value",
    "maximum": "a number above the key's greatest value",
    "exclusiveMinimum": "a number not above the key's bound",
    "exclusiveMaximum": "a number not below the key's bound",
    "minLength": "empty text where the key needs some",
    "maxLength": "text longer than the key allows (a Kubernetes name, a label value)",
    "minItems": "a list with fewer items than the key needs",
    "maxItems": "a list with more items than the key allows",
    "uniqueItems": "a list holding the same item twice",
    "minProperties": "a mapping with fewer keys than it needs",
    "not": "a value the key forbids (an image tag `latest`)",
}
SCHEMA_RULES: dict[str, Rule] = {
    keyword: rule(f"schema-{keyword}", "error", "values", f"{doc[0].upper()}{doc[1:]}: {_SCHEMA}.")
    for keyword, doc in SCHEMA_KEYWORDS.items()
}
SCHEMA_INVALID = rule(
    "schema-invalid",
    "error",
    "values",
    f"A value {_SCHEMA} refuses for a reason no other schema rule names (a keyword of a chart "
    "given with --chart).",
)
SCHEMA_UNKNOWN_KEY = rule(
    "schema-unknown-key",
    "error",
    "values",
    "A key the chart does not have (every object the chart owns refuses unknown keys), "
    "reported at the key itself with the closest known one: a typo would otherwise be ignored "
    "silently.",
)
SCHEMA_REQUIRED = rule(
    "schema-required",
    "error",
    "values",
    f"A key that must be set here is missing: {_SCHEMA}.",
)
NULL_REMOVES_DEFAULT = rule(
    "null-removes-default",
    "error",
    "values",
    "`null` for a key whose chart default the templates need: Helm deletes the default, and "
    "every key the defaults fill is `required` in the generated schema, so `helm install` "
    "refuses it too. Delete the line to keep the default, or give a value.",
)


@cache
def go_regex(pattern: str) -> Any:
    """A JSON Schema ``pattern`` compiled by RE2, the syntax and semantics of Go's regexp
    package, which Helm's schema validator (santhosh-tekuri/jsonschema) uses: ``$`` is the
    very end of the text, ``\\d`` ``\\s`` ``\\w`` are ASCII classes. Python's ``re`` differs
    on each (``^a$`` matches "a\\n" there). Raises ``UserError`` for a pattern Go cannot
    compile (Helm could not install such a chart either)."""
    import re2

    from ..core.errors import UserError
    from ..helm.engine import go_log_silenced

    try:
        with go_log_silenced():  # RE2 logs its parse errors to file descriptor 2 as well
            return re2.compile(pattern)
    except re2.error as exc:
        raise UserError(
            f"the chart's values.schema.json has a pattern Go's regexp refuses: {pattern!r} "
            f"({_text(exc)})"
        ) from None


def _text(exc: BaseException) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


@lru_cache(maxsize=1 << 16)
def _matches(pattern: str, text: str) -> bool:
    # Merged values repeat the chart's defaults in every file: each is matched once.
    return go_regex(pattern).search(text) is not None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if isinstance(instance, str) and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator_class() -> Any:
    from jsonschema import Draft7Validator, validators

    return validators.extend(Draft7Validator, {"pattern": _pattern})


def compile_schema(schema: dict[str, Any]) -> Any:
    """A draft-07 validator of ``schema`` that gives Helm's verdict (Go's regexp dialect for
    ``pattern``); collect its errors with ``iter_errors``. Local references are inlined once
    here rather than looked up for every value checked."""
    from .refs import inline

    return _validator_class()(inline(schema))


@cache
def _validator(schema_path: str, mtime: float) -> Any:
    return compile_schema(json.loads(Path(schema_path).read_text(encoding="utf-8")))


def chart_validator(chart: Path) -> Any:
    """The validator of the chart's values.schema.json, compiled once per process."""
    path = chart / "values.schema.json"
    return _validator(str(path.resolve()), path.stat().st_mtime)


def closest(word: str, candidates: list[str]) -> str | None:
    """The candidate a typo most likely meant, if any is close enough."""
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    lowered = {c.lower(): c for c in candidates}
    return lowered.get(word.lower())


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _leaf(error: Any) -> Any:
    """The most useful error inside anyOf/oneOf contexts.

    A branch that failed only on type says less than one of the right type that failed on
    its pattern or range, so type mismatches are considered last. The parent's description
    is carried down when the branch has none.
    """
    from jsonschema.exceptions import best_match

    while error.context:
        specific = [e for e in error.context if e.validator != "type" and not _empty_branch(e)]
        best = best_match(specific or error.context)
        if best is None or best is error:
            break
        if "description" not in best.schema and error.schema.get("description"):
            best.schema = {**best.schema, "description": error.schema["description"]}
        error = best
    return error


def _empty_branch(error: Any) -> bool:
    """An error of the "or empty" branch of an anyOf (``maxLength: 0``): the value was not
    meant to be empty, so the other branch says what is wrong with it."""
    return error.validator == "maxLength" and error.validator_value == 0


def _description(error: Any, form: str) -> str:
    """The schema's description of the failing keyword's node in ``form`` (``" ({})"``), or
    nothing when it has none."""
    description = error.schema.get("description")
    return form.format(description) if description else ""


def _message(error: Any) -> str:
    validator = error.validator
    value = error.instance
    if validator == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        hint = ""
        if "string" in names and isinstance(value, (bool, int, float)):
            hint = " (Helm reads this unquoted scalar as a number or a boolean: quote it)"
        return f"{_describe(value)} is not of type {' or '.join(names)}{hint}"
    if validator == "enum":
        options = ", ".join(json.dumps(o) for o in error.validator_value)
        hint = ""
        if isinstance(value, str):
            near = closest(value, [o for o in error.validator_value if isinstance(o, str)])
            if near:
                hint = f" (did you mean {json.dumps(near)}?)"
        return f"{_describe(value)} is not one of {options}{hint}"
    if validator == "pattern":
        what = _description(error, " ({})")
        return f"{_describe(value)} is not valid here{what}"
    if validator == "const":
        what = _description(error, ": {}")
        return f"{_describe(value)} must be {json.dumps(error.validator_value)} here{what}"
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[
            validator
        ]
        return f"{_describe(value)} must be {word} {error.validator_value}"
    if validator == "minItems":
        what = _description(error, " ({})")
        return f"needs at least {error.validator_value} item(s){what}"
    if validator == "maxItems":
        what = _description(error, " ({})")
        return f"holds {len(value)} items, at most {error.validator_value} allowed here{what}"
    if validator == "uniqueItems":
        return "holds the same item twice"
    if validator == "not":
        what = _description(error, ": {}")
        return f"{_describe(value)} is not allowed here{what}"
    if validator == "minProperties":
        what = _description(error, " ({})")
        return f"needs at least {error.validator_value} key(s){what}"
    if validator == "minLength":
        return "must not be empty"
    if validator == "maxLength":
        return f"is longer than {error.validator_value} characters"
    return error.message


def check(
    loaded: LoadedValues, values: Any, merged: dict[str, Any] | None, chart: Path
) -> list[Problem]:
    """Schema problems of a values file, positioned in ``loaded``.

    Helm checks the schema on ``merged``, the user's ``values`` coalesced over the chart's
    defaults (``null`` deleting a default): that verdict is the one ``helm install`` gives.
    The user's own keys are checked too, for what the merge would hide (a scalar where the
    chart has a table is dropped by Helm with only a log line); a ``null`` there is left to
    the merged check, which knows whether it deleted something the chart needs.
    """
    validator = chart_validator(chart)
    errors = [
        e
        for e in validator.iter_errors(values)
        if e.validator != "required" and e.instance is not None
    ]
    if merged is not None:
        errors += list(validator.iter_errors(merged))
    return positioned(loaded, values, errors)


class ProblemAt(Protocol):
    """Where problems are made: ``LoadedValues.problem`` or ``Context.problem``."""

    def __call__(self, path: Path_, message: str, rule: Rule, *, key: bool = True) -> Problem: ...


class Words:
    """How the errors of one kind of schema are said; the values schema's by default.

    :func:`positioned` walks the errors the same way for every schema (an unknown key at the
    key itself with the closest known one, a missing key at its parent, the most useful error
    inside ``anyOf``/``oneOf`` at its value); a subclass says them in its own words (the
    Kubernetes objects of :mod:`modelservice.checks.k8s.passthrough`).
    """

    rules: ClassVar[dict[str, Rule]] = SCHEMA_RULES
    fallback: Rule = SCHEMA_INVALID
    unknown_rule: Rule = SCHEMA_UNKNOWN_KEY

    def rule(self, validator: str) -> Rule:
        """The rule of a failing keyword."""
        return self.rules.get(validator, self.fallback)

    def unknown(self, error: Any, key: str, path: Path_, near: str | None) -> str:
        hint = f" (did you mean `{near}`?)" if near else ""
        where = "/".join(map(str, path)) or "the top level"
        return f"unknown key `{key}` at {where}{hint}"

    def required(
        self, error: Any, missing: str, path: Path_, values: Any
    ) -> tuple[Path_, str, Rule, bool] | None:
        """(path, message, rule, at the key) for a missing key, or None to say nothing."""
        parent = get(values, path) if path else values
        if isinstance(parent, dict) and missing in parent and parent[missing] is None:
            dotted = ".".join(map(str, (*path, missing)))
            return (
                (*path, missing),
                f"null removes the chart's default for {dotted}, which the chart "
                "needs; delete this line to keep the default, or give a value",
                NULL_REMOVES_DEFAULT,
                False,
            )
        return path, f"`{missing}` is required here", SCHEMA_REQUIRED, True

    def leaf(self, error: Any) -> Any:
        return _leaf(error)

    def message(self, error: Any) -> str:
        return _message(error)


VALUES = Words()


def positioned(
    problem_at: ProblemAt | LoadedValues,
    values: Any,
    errors: list[Any],
    *,
    base: Path_ = (),
    words: Words = VALUES,
) -> list[Problem]:
    """Schema errors as problems at the offending key or value of the file: the one
    translator of JSON Schema errors. ``base`` is where the validated value sits in the file
    (a Kubernetes object inside the values); ``values`` is that value."""
    at: ProblemAt = problem_at.problem if isinstance(problem_at, LoadedValues) else problem_at
    problems: list[Problem] = []
    errors = sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties") or {})
            for key in sorted(k for k in error.instance if k not in known):
                message = words.unknown(error, key, path, closest(key, known))
                problems.append(at((*base, *path, key), message, words.unknown_rule))
            continue
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            said = words.required(error, missing, path, values)
            if said is not None:
                where, message, rule, key = said
                problems.append(at((*base, *where), message, rule, key=key))
            continue
        leaf = words.leaf(error)
        problems.append(
            at(
                (*base, *leaf.absolute_path),
                words.message(leaf),
                words.rule(str(leaf.validator)),
                key=False,
            )
        )
    return problems
