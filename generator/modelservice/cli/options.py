"""Options several commands share (apart, so command modules need not import the group)."""

from __future__ import annotations

from typing import Any

import click

CHART_OPTION_HELP = "Chart directory whose schema and templates apply (default: the bundled chart)."


def chart_option(help_text: str = CHART_OPTION_HELP) -> Any:
    """The ``--chart DIR`` option every command shares (into ``chart_path``)."""
    return click.option("--chart", "chart_path", type=click.Path(file_okay=False), help=help_text)


def _namespace(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from ..k8s.names import DNS1123_LABEL

    if len(value) > 63 or not DNS1123_LABEL.match(value):
        raise click.BadParameter(
            f"{value!r} is not a namespace name: a DNS-1123 label, at most 63 lowercase "
            "letters, digits and '-', starting and ending with a letter or digit "
            f"(e.g. {_label_like(value)!r})",
            ctx=ctx,
            param=param,
        )
    return value


def _label_like(value: str) -> str:
    """``value`` made a DNS-1123 label, for the example in the message."""
    import re

    label = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63].strip("-")
    return label or "default"


def namespace_option() -> Any:
    """The ``--namespace NS`` option: a DNS-1123 label, checked as usage (exit 2)."""
    return click.option(
        "--namespace",
        default="default",
        show_default=True,
        callback=_namespace,
        help="Release namespace (a DNS-1123 label).",
    )
