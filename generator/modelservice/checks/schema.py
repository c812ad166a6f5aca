"""The chart's JSON Schema on the values Helm computes (the rules are declared with the one
schema validator, :mod:`modelservice.schema.check`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..schema import check as schema
from .context import check

if TYPE_CHECKING:
    from .context import Context


@check(
    "values",
    *schema.SCHEMA_RULES.values(),
    schema.SCHEMA_INVALID,
    schema.SCHEMA_UNKNOWN_KEY,
    schema.SCHEMA_REQUIRED,
    schema.NULL_REMOVES_DEFAULT,
    phase="schema",
)
def chart_schema(ctx: Context) -> list[Problem]:
    """Every error of the chart's schema, on the merged values and on the user's own keys."""
    return schema.check(ctx.loaded, ctx.values, ctx.merged_or_none, ctx.chart)
