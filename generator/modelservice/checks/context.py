"""What a check gets and gives: the :class:`Context` of one values file, and the
:class:`Finding` a check of the rendered release makes; :func:`check` registers a check.

This module lies below every rule module and above nothing of them: the driver
(:mod:`modelservice.validate`) imports the rule modules, never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.problem import Problem, Severity
from ..core.rules import REGISTRY, Check, Phase, Reads, Rule, Stage
from ..core.tree import Path_, get, has

if TYPE_CHECKING:
    from ..helm.engine import Rendered
    from ..helm.values_map import ValuesMap
    from ..model import Reading
    from ..release import Release
    from ..values.loader import LoadedValues
    from ..vllm.flags import FlagIndex


#: How long validate waits for a hub's config.json (plan waits longer: it is asked for one).
HUB_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Finding:
    """A finding at ``path`` of a rendered object, reported at the values key that produced
    that field (the chart's values map says which).

    ``also`` are other fields the finding is about, in order of preference: it is reported at
    the first of ``path`` and ``also`` that the user's file sets (a request above a limit is
    reported at the one the user wrote). ``key`` points at the key rather than its value.
    ``values`` names the values key outright where the release lacks the field the finding is
    about (a /dev/shm mount). ``severity`` overrides the rule's.
    """

    obj: dict[str, Any]
    path: Path_
    message: str
    rule: Rule
    severity: Severity | None = None
    also: tuple[Path_, ...] = ()
    key: bool = False
    values: Path_ | None = None


@dataclass
class Context:
    """What a check sees of one values file (and, in the cluster stage, of the cluster)."""

    loaded: LoadedValues
    #: the user's values as Helm reads the file
    values: dict[str, Any]
    #: the values Helm renders with: the chart's defaults merged with the user's by Helm (the
    #: user's own values where Helm cannot merge them)
    merged: dict[str, Any]
    chart: Path
    #: Helm's merge, or None when Helm cannot merge the values (the schema says why)
    merged_or_none: dict[str, Any] | None = None
    release_name: str = "release"
    namespace: str = "default"
    #: the release rendered by the real engine (the release, model and cluster stages)
    rendered: Rendered | None = None
    #: the live cluster (the cluster stage)
    cluster: Any = None
    #: lines for a command's summary (what check saw of the cluster)
    notes: list[str] = field(default_factory=list)
    #: the model's config.json given on the command line (``--config``)
    model_config: str | None = None
    #: whether the model's config may be read from the hub (``validate --online``)
    online: bool = False

    @cached_property
    def flags(self) -> tuple[FlagIndex | None, str | None]:
        """The flags of the vLLM release ``image.tag`` pins, and the chart's pinned version
        when no data was extracted for that tag (else None)."""
        from ..vllm.flags import flag_index

        return flag_index(self.merged, self.chart)

    @cached_property
    def release(self) -> Release:
        """The rendered release, read one way (an empty one before rendering)."""
        from ..release import Release

        objects = self.rendered.objects() if self.rendered is not None else []
        return Release(objects, self.flags[0])

    @cached_property
    def model(self) -> Reading:
        """The model's config, read once (:mod:`modelservice.model`): ``--config``, a local
        folder, the hub when online, else the bundled table."""
        from ..model import read_model

        server = self.release.server
        return read_model(
            self.merged,
            server.model if server is not None else "",
            config=self.model_config,
            offline=not self.online,
            timeout=HUB_TIMEOUT_SECONDS,
        )

    @cached_property
    def values_map(self) -> ValuesMap:
        from ..helm.values_map import ValuesMap

        return ValuesMap.of_chart(self.chart)

    def sets(self, path: Path_) -> bool:
        """Whether the user's file sets ``path``."""
        return has(self.values, path)

    def at(self, *paths: Path_) -> Path_:
        """The first of ``paths`` the user's file sets, else the first."""
        return next((p for p in paths if self.sets(p)), paths[0])

    def value(self, path: Path_) -> Any:
        """The merged value at ``path`` (what Helm renders with)."""
        return get(self.merged, path)

    def problem(
        self,
        path: Path_,
        message: str,
        rule: Rule,
        *,
        severity: Severity | None = None,
        key: bool = True,
    ) -> Problem:
        """A problem at ``path`` of the user's file (or its nearest ancestor there)."""
        return self.loaded.problem(path, message, rule, severity=severity, key=key)

    def values_path(self, obj: dict[str, Any], path: Path_) -> Path_:
        """The values key that produced ``path`` of the rendered ``obj``."""
        return self.values_map.values_path(self.values, self.merged, obj, path)

    def report(self, finding: Finding) -> Problem:
        """A finding as a problem at the values line that produced the rendered field."""
        candidates = [self.values_path(finding.obj, p) for p in (finding.path, *finding.also)]
        path = finding.values or next((c for c in candidates if self.sets(c)), candidates[0])
        kind = finding.obj.get("kind")
        name = get(finding.obj, ("metadata", "name"))
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in finding.path)
        rendered = f"{kind}/{name} {where.lstrip('.')}".rstrip()
        return self.problem(
            path,
            f"{finding.message} (rendered {rendered})",
            finding.rule,
            severity=finding.severity,
            key=finding.key,
        )


Outcome = Iterable[Problem | Finding]
F = TypeVar("F", bound=Callable[..., Any])


def check(
    stage: Stage, *rules: Rule, phase: Phase | None = None, reads: Reads | None = None
) -> Callable[[F], F]:
    """Register the decorated function as a check of ``stage`` that reports ``rules``.

    A file-stage check takes the :class:`~modelservice.values.loader.LoadedValues`; a check
    that ``reads="release"`` takes the :class:`~modelservice.release.Release` alone (a rule an
    API server enforces on objects); any other takes the :class:`Context`. Each returns
    problems, or findings on rendered objects.
    """

    def register(func: F) -> F:
        name = f"{func.__module__}.{func.__name__}"
        kind: Reads = reads or ("loaded" if stage == "file" else "context")
        REGISTRY.check(Check(name, stage, rules, func, phase, kind))
        return func

    return register
