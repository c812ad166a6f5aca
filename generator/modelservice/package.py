"""``make package``: the versioned chart archive, built by Helm's own packager.

Helm's Go SDK (through helm-python-sdk) does what ``helm package`` does: it loads the chart,
honours ``.helmignore`` and writes ``NAME-VERSION.tgz``. The archive is what ``helm push``
sends to an OCI registry (docs/install.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .paths import chart_dir


def package_chart(chart: Path, destination: Path) -> Path:
    """Package the chart directory ``chart`` into ``destination``; returns the archive."""
    from helm_python import package

    from .engine import go_log_silenced

    destination.mkdir(parents=True, exist_ok=True)
    with go_log_silenced():
        return Path(package(chart, destination=destination))


def main(argv: list[str] | None = None) -> None:
    """``python -m modelservice.package [--chart DIR] [--destination DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m modelservice.package", description=__doc__)
    parser.add_argument("--chart", type=Path, default=chart_dir(), help="chart directory")
    parser.add_argument("--destination", type=Path, default=Path("dist"), help="output folder")
    args = parser.parse_args(argv)
    if not (args.chart / "Chart.yaml").is_file():
        parser.error(f"{args.chart}: not a chart directory (no Chart.yaml)")
    print(package_chart(args.chart, args.destination))


if __name__ == "__main__":
    main()
