"""The ``modelservice`` command line: a thin click layer over the package's functions.

User mistakes are :class:`~modelservice.core.errors.UserError`s, caught in exactly one place
(:func:`main`) and mapped to exit code 1; click maps usage errors to exit code 2. Every
command is defined in this package (``init``, ``bake``, ``plan``, ``check`` in modules of their
own) and registered below with ``cli.add_command``; library modules return data and never
print, the commands here do. Heavy modules are imported inside the commands so that
``modelservice --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..core.errors import InvalidValues, UserError
from .bake import bake_command
from .check import check_command
from .init import init_command
from .options import CHART_OPTION_HELP, chart_option, namespace_option
from .package import package_command
from .plan import plan_command
from .push_model import push_model_command
from .rules import rules_command

if TYPE_CHECKING:
    from ..helm.output_dir import WrittenRelease

__all__ = ["CHART_OPTION_HELP", "chart_option", "cli", "main"]


class _Group(click.Group):
    """The command group; maps user errors to one line each on stderr and exit code 1.

    Done here rather than in :func:`main` alone so that every way of invoking the commands
    (the console script, ``python -m``, click's test runner) reports them the same way.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidValues as exc:
            for problem in exc.problems:
                click.echo(problem.format_text(), err=True)
            ctx.exit(1)
        except UserError as exc:
            click.echo(f"modelservice: {exc.message}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelservice")
def cli() -> None:
    """Validate, render, scaffold and bake values files of the modelservice chart."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per problem on stderr; json: a list on stdout.",
)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option(
    "--config",
    "model_config",
    type=click.Path(exists=True),
    help="The model's config.json (or its folder), for a model only the cluster has.",
)
@click.option(
    "--online",
    is_flag=True,
    help="Read the model's config.json from the hub (the values' mirror, HF_TOKEN) when the "
    "table of known models lacks it.",
)
@click.option(
    "--vllm",
    "vllm_python",
    envvar="MODELSERVICE_VLLM_PYTHON",
    type=click.Path(exists=True, dir_okay=False),
    help="A python with vLLM installed: run vLLM's own engine-config assembly on each rendered "
    "server command (exact; seconds per file). Env: MODELSERVICE_VLLM_PYTHON.",
)
@chart_option()
def validate(
    files: tuple[str, ...],
    fmt: str,
    strict: bool,
    model_config: str | None,
    online: bool,
    vllm_python: str | None,
    chart_path: str | None,
) -> None:
    """Check values files the way a careful reviewer would.

    A folder argument means every *.yaml / *.yml file in it. Exit 0 when every file is valid,
    1 when any has an error (or, with --strict, a warning).
    """
    from ..core.paths import resolve_chart
    from ..core.problem import format_json, has_errors
    from ..validate import validate_paths
    from .progress import Progress

    chart = resolve_chart(chart_path)
    expanded = values_files(files)
    progress = Progress(len(expanded), "validate", stream=sys.stderr)
    found_by_file = validate_paths(
        expanded, chart, progress.advance, model_config=model_config, online=online
    )
    if vllm_python:
        from ..vllm.exact import exact_problems

        found_by_file = exact_problems(
            expanded,
            found_by_file,
            chart,
            vllm_python,
            model_config=model_config,
            online=online,
        )
    problems = [p for found in found_by_file for p in found]
    progress.finish(problems)
    if fmt == "json":
        click.echo(format_json(problems))
    else:
        for problem in problems:
            click.echo(problem.format_text(), err=True)
    progress.summary()
    if has_errors(problems, strict=strict):
        sys.exit(1)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--release", help="Release name (default: the file name, made a valid name).")
@namespace_option()
@click.option(
    "--engine",
    type=click.Choice(["embedded", "helm"]),
    default="embedded",
    show_default=True,
    help="embedded: Helm's Go SDK in-process; helm: a helm binary.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Write one folder per release, one file per manifest, instead of stdout.",
)
@chart_option()
def render(
    files: tuple[str, ...],
    release: str | None,
    namespace: str,
    engine: str,
    output_dir: str | None,
    chart_path: str | None,
) -> None:
    """Validate, then render values files with the real Helm engine (like `helm template`).

    A folder argument means every *.yaml / *.yml file in it.
    """
    from ..core.paths import resolve_chart
    from ..render import render_files
    from .progress import Progress

    chart = resolve_chart(chart_path)
    expanded = values_files(files)
    if release is not None and len(expanded) > 1:
        raise click.UsageError("--release names one release: give one values file")
    progress = Progress(len(expanded), "render", stream=sys.stderr)
    try:
        result = render_files(
            expanded,
            chart=chart,
            release=release,
            namespace=namespace,
            engine=engine,  # type: ignore[arg-type]
            output_dir=Path(output_dir) if output_dir else None,
            progress=progress.advance,
        )
    except InvalidValues as exc:
        # Reported here rather than by the group, so that the summary line comes last.
        progress.finish(exc.problems)
        for problem in exc.problems:
            click.echo(problem.format_text(), err=True)
        progress.summary()
        sys.exit(1)
    progress.finish(result.warnings)
    for warning in result.warnings:
        click.echo(warning.format_text(), err=True)
    if output_dir is None:
        sys.stdout.write("".join(r.text() for r in result.outputs))
    for written in result.written:
        _report_written(written)
    progress.summary()


def _report_written(written: WrittenRelease) -> None:
    """One line per release folder, and one per Secret left out of it."""
    from ..helm.output_dir import HOOKS

    folder = written.folder
    plain = len(written.files) - written.hooks
    line = f"{folder}: {plain} manifest{'s' * (plain != 1)}"
    if written.hooks:
        line += f", {written.hooks} hook{'s' * (written.hooks != 1)} in {folder / HOOKS}"
    click.echo(line, err=True)
    for secret in written.secrets:
        click.echo(
            f"{folder}: left out Secret {secret.name} (git would hold its value in plain text, "
            f"and a generated value changes on every render); create it once with: "
            f"{secret.command()}",
            err=True,
        )


@cli.command()
@click.option(
    "--check",
    "mode",
    flag_value="check",
    help="Exit 1 when a generated file differs from what would be generated.",
)
@click.option(
    "--write",
    "mode",
    flag_value="write",
    help="Rewrite the generated files (chart/values.schema.json, values.yaml comments, "
    "README.md, docs/rules.md).",
)
def docs(mode: str | None) -> None:
    """Print the parameter table (of chart/README.md) generated from the values schema.

    With --write (what `make generate` runs) rewrite the generated files; with --check fail
    when the committed ones drift.
    """
    from .. import generated
    from ..core.paths import chart_dir
    from ..schema import docs as docs_module
    from ..schema import generate

    if mode == "write":
        for path in generated.write_generated():
            click.echo(f"wrote {path}", err=True)
        return
    if mode == "check":
        drifted = generated.drifted()
        for path in drifted:
            click.echo(f"{path}: out of date; run `make generate`", err=True)
        if drifted:
            sys.exit(1)
        return
    schema = generate.load_schema_source()
    click.echo(
        docs_module.parameters_table(schema, docs_module.chart_defaults(chart_dir())), nl=False
    )


def values_files(files: tuple[str, ...]) -> list[str]:
    """The values files the arguments of ``validate`` and ``render`` name: a file stands for
    itself, a folder for its *.yaml and *.yml files (not its hidden files nor its subfolders),
    in name order; a folder without any is a mistake."""
    expanded: list[str] = []
    for item in files:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                str(p)
                for p in path.iterdir()
                if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
            )
            if not found:
                raise UserError(f"{item}: no *.yaml values files in this folder")
            expanded.extend(found)
        else:
            expanded.append(item)
    return expanded


cli.add_command(init_command)
cli.add_command(bake_command)
cli.add_command(plan_command)
cli.add_command(check_command)
cli.add_command(package_command)
cli.add_command(rules_command)
cli.add_command(push_model_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point. Click's standalone mode maps usage errors to exit 2 and the group maps user
    errors to exit 1; this is the last net, so that even a bug prints one line, not a
    traceback (set ``MODELSERVICE_DEBUG=1`` to see it)."""
    try:
        cli.main(args=argv, prog_name="modelservice", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # a bug, not a user mistake: say so in one line
        if os.environ.get("MODELSERVICE_DEBUG"):
            raise
        click.echo(
            f"modelservice: internal error: {type(exc).__name__}: {exc} "
            "(set MODELSERVICE_DEBUG=1 for the traceback, and please report it)",
            err=True,
        )
        sys.exit(1)
