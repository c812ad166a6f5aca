"""``modelservice check``: will this release install, and its pods start, on this cluster?

The values file is validated and rendered first (as release ``--release`` in ``--namespace``);
the checks of the registry's cluster stage (:mod:`modelservice.checks.cluster`) then read the
cluster of the current kubeconfig, read-only (:mod:`.cluster`), and report like ``validate``:
one line per problem at the values key concerned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.problem import Problem


@dataclass
class CheckResult:
    problems: list[Problem]
    notes: list[str]
    server: str
    #: what the user must know of how the cluster was reached (said once, on stderr)
    warnings: list[str] = field(default_factory=list)


def check_file(
    file: str,
    chart: Path,
    *,
    release: str | None = None,
    namespace: str = "default",
    context: str | None = None,
) -> CheckResult:
    """Validate and render ``file``, then check it against the cluster."""
    from ..checks import load
    from ..core.errors import InvalidValues
    from ..validate import run, validate_file
    from .cluster import Cluster

    validated = validate_file(file, chart, release=release, namespace=namespace)
    ctx = validated.context
    if not validated.valid or ctx is None or ctx.rendered is None:
        errors = [p for p in validated.problems if p.severity == "error"]
        raise InvalidValues(errors or validated.problems)
    ctx.cluster = Cluster(context)
    problems: list[Problem] = []
    for found in load("cluster").in_stage("cluster"):
        problems.extend(run(found, ctx))
    unique = sorted(dict.fromkeys(problems), key=lambda p: (p.line, p.column, p.rule))
    said = []
    if not ctx.cluster.verifies_tls:
        said.append(
            f"TLS verification is off for {ctx.cluster.server} (insecure-skip-tls-verify in "
            "the kubeconfig): the API server's identity was not checked, and what it answered "
            "may come from anyone on the way"
        )
    return CheckResult(unique, ctx.notes, ctx.cluster.server, said)
