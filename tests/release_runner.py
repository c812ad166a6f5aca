"""Running tools/run-release from the tests (tests/test_run_release.py, the OCI scenario of
tests/test_oci_models.py): the command, its timeout, the fast probes the scenarios use."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RUN_RELEASE = ROOT / "tools" / "run-release"
#: Generous: a start on a busy 2-core CI machine; the runner's own timeout is longer still.
START_TIMEOUT = 900
#: The scenarios' own probes: polled every 2 s instead of the chart's 10 s, so that Ready comes
#: soon after the server answers (a values choice a user can make; the runner polls as rendered).
FAST_PROBES = {
    "startup": {"periodSeconds": 2, "failureThreshold": 450},
    "readiness": {"periodSeconds": 2},
}


def run(values: Path, *args: str, timeout: float = START_TIMEOUT) -> tuple[int, str]:
    """tools/run-release to its end: exit code and output."""
    done = subprocess.run(
        [str(RUN_RELEASE), str(values), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def write_values(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    return path
