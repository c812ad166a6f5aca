"""The versioned chart archive (``modelservice package``, ``make package``), by Helm's packager.

Helm's Go SDK (through helm-python-sdk) does what ``helm package`` does: it loads the chart,
honours ``.helmignore`` and writes ``NAME-VERSION.tgz``. The archive is what ``helm push``
sends to an OCI registry (docs/install.md).
"""

from __future__ import annotations

from pathlib import Path


def package_chart(chart: Path, destination: Path) -> Path:
    """Package the chart directory ``chart`` into ``destination``; returns the archive.

    Helm writes the archive into a fresh folder inside ``destination``, and it is renamed into
    place from there: an archive of the same name that is a link is refused, never followed
    (:mod:`.safe_write`), and a folder that takes no files is a user error."""
    import os
    import shutil
    import tempfile

    from helm_python import package

    from ..core import safe_write
    from ..core.errors import UserError
    from .engine import go_log_silenced

    what = "package"
    if safe_write.is_inside(destination, chart):
        raise UserError(f"{destination}: inside the chart {chart}; package into another folder")
    with safe_write.folder(destination, what, create=True) as fd:
        try:
            staging = Path(tempfile.mkdtemp(prefix=".package-", dir=destination))
        except OSError as exc:
            raise safe_write.os_error(destination, exc) from None
        try:
            with go_log_silenced():
                built = Path(package(chart, destination=staging))
            target = destination / built.name
            safe_write.check_entry(fd, built.name, target, what, folder=False)
            os.replace(built, built.name, dst_dir_fd=fd)
        except OSError as exc:
            raise safe_write.os_error(destination, exc) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
