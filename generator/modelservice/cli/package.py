"""``modelservice package``: the click command over
:func:`modelservice.helm.package.package_chart`."""

from __future__ import annotations

from pathlib import Path

import click

from .options import chart_option


@click.command("package")
@click.option(
    "--destination",
    type=click.Path(file_okay=False),
    default="dist",
    show_default=True,
    help="Folder the archive NAME-VERSION.tgz is written into.",
)
@chart_option("Chart directory to package (default: the bundled chart; a baked chart works too).")
def package_command(destination: str, chart_path: str | None) -> None:
    """Package a chart with Helm's own packager (what `helm package` does), ready for `helm push`.

    Prints the archive's path.
    """
    from ..core.paths import resolve_chart
    from ..helm.package import package_chart

    click.echo(package_chart(resolve_chart(chart_path), Path(destination)))
