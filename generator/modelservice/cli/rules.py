"""``modelservice rules``: every rule the toolkit reports, or one explained."""

from __future__ import annotations

import difflib

import click


@click.command("rules")
@click.argument("rule_id", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per rule (or the rule explained); json: a list of rules on stdout.",
)
def rules_command(rule_id: str | None, fmt: str) -> None:
    """List every rule (id, severity, stage and what it catches), or explain RULE_ID."""
    from ..checks import reference

    registry = reference.registry()
    if rule_id is None:
        found = list(registry.rules.values())
        click.echo(
            reference.json_list(found) if fmt == "json" else reference.text_list(found), nl=False
        )
        return
    rule = registry.get(rule_id)
    if rule is None:
        near = difflib.get_close_matches(rule_id, list(registry.rules), n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise click.BadParameter(
            f"no rule {rule_id!r}{hint}; `modelservice rules` lists them",
            param_hint="RULE_ID",
        )
    click.echo(
        reference.json_list([rule]) if fmt == "json" else reference.text_explain(rule), nl=False
    )
