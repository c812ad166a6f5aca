"""``modelservice bake``: the click command over :func:`modelservice.bake.bake`."""

from __future__ import annotations

from pathlib import Path

import click

from .options import chart_option


@click.command("bake")
@click.option(
    "--defaults",
    "defaults_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Values file of the platform's defaults (validated like a values file).",
)
@click.option("--name", required=True, help="Name of the derived chart.")
@click.option("--version", required=True, help="Version of the derived chart (SemVer 2).")
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write the chart into (must be empty unless --force).",
)
@click.option(
    "--constraints",
    "constraints_file",
    type=click.Path(dir_okay=False),
    help="YAML file of rules the derived chart's schema enforces.",
)
@click.option("--force", is_flag=True, help="Replace a non-empty --output directory.")
@chart_option("Base chart (default: the bundled chart; a baked chart works too).")
def bake_command(
    defaults_file: str,
    name: str,
    version: str,
    output: str,
    constraints_file: str | None,
    force: bool,
    chart_path: str | None,
) -> None:
    """Bake a platform team's defaults and constraints into a derived chart."""
    from ..bake import bake
    from ..core.paths import resolve_chart

    chart = resolve_chart(chart_path)
    baked = bake(
        defaults_file=Path(defaults_file),
        name=name,
        version=version,
        output=Path(output),
        chart=chart,
        constraints_file=Path(constraints_file) if constraints_file else None,
        force=force,
    )
    for warning in baked.warnings:
        click.echo(warning.format_text(), err=True)
    click.echo(
        f"baked {name} {version} into {output} ({len(baked.rows)} constraint rule(s))",
        err=True,
    )
