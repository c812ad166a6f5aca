"""Options several commands share (apart, so command modules need not import the group)."""

from __future__ import annotations

from typing import Any

import click

CHART_OPTION_HELP = "Chart directory whose schema and templates apply (default: the bundled chart)."


def chart_option(help_text: str = CHART_OPTION_HELP) -> Any:
    """The ``--chart DIR`` option every command shares (into ``chart_path``)."""
    return click.option("--chart", "chart_path", type=click.Path(file_okay=False), help=help_text)
