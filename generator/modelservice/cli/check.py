"""``modelservice check``: the click command over :func:`modelservice.preflight.check_file`."""

from __future__ import annotations

import click

from .options import chart_option, namespace_option


@click.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--release", help="Release name (default: the file name, made a valid name).")
@namespace_option()
@click.option("--context", help="kubeconfig context (default: the current one).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: problems on stderr, the summary on stdout; json: a list on stdout.",
)
@chart_option()
def check_command(
    file: str,
    release: str | None,
    namespace: str,
    context: str | None,
    fmt: str,
    chart_path: str | None,
) -> None:
    """Preflight a values file against the cluster of the current kubeconfig (read-only):
    namespace, Secrets and their keys, the cache claim, storage, runtime and priority classes,
    the scheduler, CRDs of the custom kinds rendered, nodes with room for a pod, and what an
    upgrade of an existing release changes.

    Exit 0 when the release would install and schedule, 1 when it would not.
    """
    import sys

    from ..core.paths import resolve_chart
    from ..core.problem import format_json, has_errors
    from ..preflight import check_file

    found = check_file(
        file, resolve_chart(chart_path), release=release, namespace=namespace, context=context
    )
    for warning in found.warnings:
        click.echo(f"modelservice: warning: {warning}", err=True)
    if fmt == "json":
        click.echo(format_json(found.problems))
    else:
        for problem in found.problems:
            click.echo(problem.format_text(), err=True)
        click.echo(f"{file}: checked against {found.server}, namespace {namespace}")
        for note in found.notes:
            click.echo(f"  {note}")
    if has_errors(found.problems):
        sys.exit(1)
