"""The versioned chart archive (``modelservice package``, ``make package``), by Helm's packager.

Helm's Go SDK (through helm-python-sdk) does what ``helm package`` does: it loads the chart,
honours ``.helmignore`` and writes ``NAME-VERSION.tgz``. The archive is what ``helm push``
sends to an OCI registry (docs/install.md).
"""

from __future__ import annotations

from pathlib import Path


def package_chart(chart: Path, destination: Path) -> Path:
    """Package the chart directory ``chart`` into ``destination``; returns the archive."""
    from helm_python import package

    from .engine import go_log_silenced

    destination.mkdir(parents=True, exist_ok=True)
    with go_log_silenced():
        return Path(package(chart, destination=destination))
