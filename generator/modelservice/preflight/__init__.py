"""``modelservice check``: will this release install, and its pods start, on this cluster?

The values file is validated and rendered first (as release ``--release`` in ``--namespace``);
the checks of :mod:`.checks` then read the cluster of the current kubeconfig, read-only, and
report like ``validate``: one line per problem at the values key concerned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.problem import Problem


@dataclass
class CheckResult:
    problems: list[Problem]
    notes: list[str]
    server: str


def check_file(
    file: str,
    chart: Path,
    *,
    release: str | None = None,
    namespace: str = "default",
    context: str | None = None,
) -> CheckResult:
    """Validate and render ``file``, then check it against the cluster."""
    from ..core.errors import InvalidValues
    from ..core.problem import has_errors
    from ..validate import validate_file
    from .checks import Release, run
    from .cluster import Cluster

    validated = validate_file(file, chart, release=release, namespace=namespace)
    if has_errors(validated.problems) or validated.rendered is None or validated.merged is None:
        errors = [p for p in validated.problems if p.severity == "error"]
        raise InvalidValues(errors or validated.problems)
    cluster = Cluster(context)
    subject = Release(
        loaded=validated.loaded,
        values=validated.loaded.data,
        merged=validated.merged,
        objects=validated.rendered.objects(),
        namespace=namespace,
        cluster=cluster,
    )
    problems = run(subject)
    unique = sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.column, p.rule))
    return CheckResult(unique, subject.notes, cluster.server)
