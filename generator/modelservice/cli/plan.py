"""``modelservice plan``: the click command over :func:`modelservice.plan.planner.plan_file`."""

from __future__ import annotations

import click

from .options import chart_option


@click.command("plan")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--gpu", help="GPU model of the table (H100, A100-40GB, L40S, L4, MI300X, ...).")
@click.option("--gpu-memory", help="Memory of one GPU, e.g. 80GiB or 24GB (instead of --gpu).")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True),
    help="The model's config.json (or its folder), e.g. for a local model.",
)
@click.option("--offline", is_flag=True, help="Do not ask the hub: use the table of known models.")
@click.option(
    "--bandwidth",
    help="Bandwidth from the hub or registry to a node (1Gbit/s, 10Gbps, 200MB/s): estimate the "
    "cold start too (bytes to fetch at it, load from the cache, warm-up).",
)
@click.option(
    "--disk-speed",
    help="Read speed of the model cache for the cold start (default 1GB/s).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@chart_option()
def plan_command(
    file: str,
    gpu: str | None,
    gpu_memory: str | None,
    config: str | None,
    offline: bool,
    bandwidth: str | None,
    disk_speed: str | None,
    fmt: str,
    chart_path: str | None,
) -> None:
    """Estimate whether the model fits the GPUs with this context length, the way vLLM sizes
    its KV cache: weights per GPU, KV budget, tokens and sequences that fit, and a verdict.

    The GPU comes from --gpu/--gpu-memory, else from the values (vgpu.memoryMiB, or a
    nodeSelector on nvidia.com/gpu.product). With --bandwidth, also the cold start of a new
    replica, with its inputs, against coldStart.expectedSeconds. Exit 0 when it fits, 1 when it
    does not.
    """
    import json
    import sys

    from ..core.paths import resolve_chart
    from ..plan.planner import format_text, plan_file

    if gpu and gpu_memory:
        raise click.UsageError("give --gpu or --gpu-memory, not both")
    found = plan_file(
        file,
        resolve_chart(chart_path),
        gpu=gpu,
        gpu_memory=gpu_memory,
        config=config,
        offline=offline,
        bandwidth=bandwidth,
        disk_speed=disk_speed,
    )
    if fmt == "json":
        click.echo(json.dumps(found.as_dict(), indent=2))
    else:
        click.echo(format_text(found))
    if not found.result.fits:
        sys.exit(1)
