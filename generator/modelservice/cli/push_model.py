"""``modelservice push-model``: the click command over :func:`modelservice.oci.push.push`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click


class _Bar:
    """One line on a terminal (stderr), redrawn: the stage, bytes done, rate. Silent elsewhere."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.stage = ""
        self.started = time.monotonic()
        self.drawn = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if stage != self.stage:
            self.stage, self.started = stage, now
        if now - self.drawn < 0.1 and done < total:
            return
        self.drawn = now
        rate = done / max(now - self.started, 1e-3) / 1e6
        share = f"{100 * done / total:5.1f}%" if total else ""
        sys.stderr.write(
            f"\r\x1b[K{stage:<8} {done / 1e6:,.1f} / {total / 1e6:,.1f} MB {share} {rate:,.0f} MB/s"
        )
        sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


@click.command("push-model")
@click.argument("source")
@click.argument("target")
@click.option(
    "--as",
    "kind",
    type=click.Choice(["artifact", "image"]),
    default="artifact",
    show_default=True,
    help="artifact: a ModelPack artifact (model.oci.mode: pull); image: an OCI image with the "
    "model under model/, which a container runtime mounts (model.oci.mode: imageVolume).",
)
@click.option("--plain-http", is_flag=True, help="The registry speaks HTTP, without TLS.")
@click.option(
    "--registry-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Docker config file with the registry's credentials (default: ~/.docker/config.json).",
)
@click.option(
    "--platform",
    default="linux/amd64",
    show_default=True,
    help="Platform an image (--as image) declares.",
)
def push_model_command(
    source: str,
    target: str,
    kind: str,
    plain_http: bool,
    registry_config: Path | None,
    platform: str,
) -> None:
    """Push a model into an OCI registry, and print the reference to pin (REGISTRY/REPO@DIGEST).

    SOURCE is a model folder, hf://ORG/NAME[@REVISION], modelscope://ORG/NAME[@REVISION] (the hub
    of HF_ENDPOINT / MODELSCOPE_ENDPOINT, the token of HF_TOKEN / MODELSCOPE_API_TOKEN), or a
    values file: its model, through its mirror and with its download patterns. TARGET is
    oci://REGISTRY/REPOSITORY:TAG. A second run sends only what the registry lacks, and resumes
    a file cut off in the middle.
    """
    from ..core.errors import UserError
    from ..oci.push import push, source_of
    from ..oci.registry import Reference

    bar = _Bar()
    reference = Reference.parse(target)
    if not target.startswith("oci://") or not reference.tag:
        raise UserError(
            f"{target!r}: push to oci://REGISTRY/REPOSITORY:TAG (a tag: the digest is what the "
            "registry gives back)"
        )
    found = source_of(source)
    pushed = push(
        found,
        reference,
        kind=kind,  # type: ignore[arg-type]
        plain_http=plain_http,
        registry_config=registry_config,
        platform=platform,
        progress=bar,
    )
    bar.clear()
    size = sum(layer.size for layer in pushed.layers)
    click.echo(
        f"pushed {len(pushed.layers)} files ({size / 1e6:,.1f} MB; {pushed.uploaded} sent, "
        f"{pushed.skipped} already there) as {pushed.reference}; pin it as "
        "model.oci.reference:",
        err=True,
    )
    click.echo(pushed.pinned)
