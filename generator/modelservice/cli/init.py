"""``modelservice init``: the click command over :func:`modelservice.scaffold.scaffold`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import chart_option


# Options mirror the values keys; see OPTION_KEYS.
def _pairs(
    ctx: click.Context, param: click.Parameter, items: tuple[str, ...]
) -> list[tuple[str, str]]:
    from ..scaffold import ENV_NAME

    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", ctx=ctx, param=param)
        if param.name == "env" and not ENV_NAME.match(name):
            raise click.BadParameter(f"{name!r} is not a valid variable name", ctx, param)
        pairs.append((name, value))
    return pairs


@click.command("init")
@click.option(
    "--source",
    type=click.Choice(["huggingface", "modelscope", "local"]),
    help="Where the model comes from (default: huggingface, or local with --path).",
)
@click.option("--model", help="Hub repository id, e.g. Qwen/Qwen2.5-0.5B-Instruct.")
@click.option("--path", "model_path", help="Model directory inside the container (local).")
@click.option("--revision", help="Branch, tag or commit of a hub model.")
@click.option("--served-name", help="The name clients send as `model`.")
@click.option("--gpus", type=click.IntRange(min=0), help="Whole GPUs (or vGPU slices) per pod.")
@click.option(
    "--vgpu-memory",
    type=click.IntRange(min=1),
    metavar="MIB",
    help="GPU memory of a vGPU slice in MiB (turns vgpu.enabled on).",
)
@click.option(
    "--vgpu-cores",
    type=click.IntRange(1, 100),
    metavar="PERCENT",
    help="Share of each GPU's cores of a vGPU slice.",
)
@click.option("--vgpu-provider", type=click.Choice(["hami", "volcano"]), help="vGPU plugin.")
@click.option("--tensor-parallel", type=click.IntRange(min=1), help="Tensor parallel size.")
@click.option(
    "--engine-arg",
    "engine_args",
    multiple=True,
    metavar="ARG",
    help="An extra vLLM engine argument, e.g. --engine-arg=--dtype=half (repeatable).",
)
@click.option(
    "--hf-token-secret",
    metavar="SECRET",
    help="Secret holding the Hugging Face token (key `token`).",
)
@click.option("--hf-mirror", metavar="URL", help="Hugging Face mirror URL (HF_ENDPOINT).")
@click.option(
    "--env",
    multiple=True,
    callback=_pairs,
    metavar="NAME=VALUE",
    help="An extra environment variable, never a secret (repeatable).",
)
@click.option("--cpu", help="CPU request, e.g. 4 or 500m.")
@click.option("--memory", help="Memory request, e.g. 32Gi.")
@click.option("--cache-size", help="Size of the model cache claim, e.g. 100Gi.")
@click.option("--existing-claim", metavar="CLAIM", help="Mount this claim as the model cache.")
@click.option(
    "--node-selector",
    multiple=True,
    callback=_pairs,
    metavar="KEY=VALUE",
    help="A node label the pod must match (repeatable).",
)
@click.option(
    "--api-key-secret",
    metavar="SECRET",
    help="Secret holding the API key (key `api-key`); /v1 then needs a Bearer key.",
)
@click.option("--metrics", is_flag=True, help="Render a Prometheus Operator ServiceMonitor.")
@click.option(
    "--volume-claim",
    metavar="CLAIM",
    help="An existing claim holding the local model (--path), mounted read-only.",
)
@click.option(
    "--host-path",
    metavar="DIR",
    help="A folder of the node holding the local model (--path), mounted read-only.",
)
@click.option(
    "--mount-path",
    metavar="PATH",
    help="Where --volume-claim or --host-path is mounted (default: the folder above --path).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the values file here (default: stdout).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing --output file.")
@chart_option("Chart whose defaults and schema apply (default: the bundled chart).")
def init_command(
    model: str | None,
    model_path: str | None,
    engine_args: tuple[str, ...],
    output: str | None,
    force: bool,
    chart_path: str | None,
    **rest: Any,
) -> None:
    """Write a short values file from options that mirror the values.

    Only what differs from the chart's defaults is written, each key under a comment. Asks
    for the model when run at a terminal without --model or --path.
    """
    from .. import scaffold
    from ..core import safe_write
    from ..core.errors import UserError
    from ..core.paths import resolve_chart

    chart = resolve_chart(chart_path)
    target = Path(output) if output and output != "-" else None
    if target is not None and (target.exists() or target.is_symlink()) and not force:
        raise UserError(f"{target}: exists; give --force to overwrite it")
    if target is not None and safe_write.is_inside(target, chart):
        raise UserError(f"{target}: inside the chart {chart}; write the values file elsewhere")
    if not model and not model_path:
        if not scaffold.stdin_is_interactive():
            if rest.get("source") == "local":
                raise UserError(
                    "--source local needs --path (the model directory in the container)"
                )
            raise UserError("give --model or --path")
        answer = click.prompt(
            "Model (a hub repository id such as Qwen/Qwen2.5-0.5B-Instruct, "
            "or the absolute path of a local model)"
        ).strip()
        if answer.startswith("/"):
            model_path = answer
        else:
            model = answer
    options = scaffold.InitOptions(
        model=model, path=model_path, engine_args=list(engine_args), **rest
    )
    text = scaffold.scaffold(options, chart, target)
    if target is None:
        click.echo(text, nl=False)
    else:
        safe_write.write_file(target, text.encode("utf-8"), "init")
        click.echo(f"wrote {target}", err=True)
