"""The chart's own refusals: a template that fails with a values key and a rule id.

The chart refuses values it cannot render (``modelservice.fail`` in templates/_helpers.tpl:
``modelservice: KEY: MESSAGE [RULE]``), and plain ``helm install`` says the same. The decision
is the template's alone: this module reads it from the render and reports it at the line of
the key, under the rule the template names (declared by the rule module of its prefix).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..bake import constraints as _constraints  # noqa: F401 (declares the constraint-* rules)
from ..core.problem import Problem
from ..core.rules import REGISTRY, rule
from ..core.tree import Path_

if TYPE_CHECKING:
    from .context import Context

HELM_RENDER = rule(
    "helm-render",
    "error",
    "release",
    "The chart's templates refused the values with an error that names no values key: Helm's "
    "own template error, or a chart given with --chart that fails in its own words. The "
    "message is Helm's.",
)

#: A template's refusal in the chart's protocol: keys (the first the file sets is reported),
#: the message, the rule.
_FAILURE = re.compile(
    r"modelservice: (?P<keys>[A-Za-z0-9_.|-]+): (?P<message>.*) \[(?P<rule>[A-Za-z0-9-]+)\]$",
    re.DOTALL,
)


def key_path(key: str) -> Path_:
    """``a.b.c`` as a values path."""
    return tuple(key.split("."))


def template_failure(ctx: Context, message: str) -> Problem:
    """The render's failure as a problem: at the key the template names, under its rule; else
    at the top of the file as ``helm-render``."""
    match = _FAILURE.search(message)
    found = REGISTRY.get(match.group("rule")) if match else None
    if match is None or found is None:
        return ctx.problem((), message, HELM_RENDER)
    keys = [key_path(k) for k in match.group("keys").split("|")]
    message = " ".join(match.group("message").split())
    return ctx.problem(ctx.at(*keys), message, found, key=False)


def names_a_rule(message: str) -> bool:
    """Whether a render failure is one of the chart's own refusals (a key and a rule)."""
    match = _FAILURE.search(message)
    return match is not None and REGISTRY.get(match.group("rule")) is not None
