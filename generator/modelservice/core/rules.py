"""The rule registry: every rule the toolkit reports, declared once.

A rule is an id (printed in brackets after each message), a severity, the stage of the
pipeline that reports it, and a paragraph of doc: what it catches, why it matters, the fix.
The module that reports a rule declares it with :func:`rule`, next to the code that finds it;
a problem is made from the :class:`Rule` object itself, so nothing can report an id the
registry does not list. ``modelservice rules`` and ``docs/rules.md`` are generated from here.

The checks that run in a stage are registered here too (by :func:`modelservice.checks.check`),
so the driver asks the registry what to run and never keeps a list of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .problem import Severity

Stage = Literal["file", "values", "release", "model", "cluster"]
#: The stages in the order the pipeline runs them, with what each one reads.
STAGES: dict[Stage, str] = {
    "file": "the file itself, read by Helm's own reader (ruamel.yaml for positions only)",
    "values": "the values Helm computes: the chart's schema, pass-through Kubernetes objects, "
    "engine arguments and rules between keys",
    "release": "the release the real Helm engine rendered, each finding led back to its values "
    "key by the chart's values map",
    "model": "the model's own config as vLLM reads it, against the rendered server",
    "cluster": "the live cluster of the current kubeconfig, read-only (`modelservice check`)",
}

#: A rule id: words joined by dashes, lowercase but for a JSON Schema keyword they are named
#: after (``schema-maxItems``).
RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9][a-zA-Z0-9]*)+$")


class RegistryError(Exception):
    """A rule declared twice, or badly: a bug of the toolkit, caught by its tests."""


@dataclass(frozen=True)
class Rule:
    """One rule: what ``modelservice rules ID`` explains."""

    id: str
    severity: Severity
    stage: Stage
    doc: str
    #: the module that declares (and reports) it
    module: str

    @property
    def summary(self) -> str:
        """The first sentence of the doc."""
        first = self.doc.split(". ", 1)[0].strip()
        return first if first.endswith(".") else first + "."

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "severity": self.severity,
            "stage": self.stage,
            "module": self.module,
            "doc": self.doc,
        }


#: The order of the checks of the values stage:
#: - ``early``: before the schema; an error here explains (and hides) the schema's errors at
#:   the same key (a token pasted where a Secret name belongs);
#: - ``schema``: the chart's schema on the values Helm computes;
#: - ``objects``: checks that judge their own keys alone (Kubernetes objects passed through,
#:   engine arguments): they run even when the schema refused another key;
#: - ``rules``: rules between keys, which need the values the schema accepted.
Phase = Literal["early", "schema", "objects", "rules"]
PHASES: tuple[Phase, ...] = ("early", "schema", "objects", "rules")
Reads = Literal["loaded", "context", "release"]


@dataclass(frozen=True)
class Check:
    """A function that reports findings of some rules in one stage."""

    name: str
    stage: Stage
    rules: tuple[Rule, ...]
    func: Callable[..., Any]
    #: the values stage's phase of the check (None in the other stages)
    phase: Phase | None = None
    #: what the check is given: the file as read (file stage), the whole context of the
    #: file, or the rendered release alone (rules an API server enforces on objects)
    reads: Reads = "context"


@dataclass
class Registry:
    """Every rule and check, in the order they were declared."""

    rules: dict[str, Rule] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def rule(self, id: str, severity: Severity, stage: Stage, doc: str, *, module: str) -> Rule:
        """Declare a rule; a second declaration of one id is refused."""
        if not RULE_ID.match(id):
            raise RegistryError(f"{id!r} is not a rule id (lowercase words joined by dashes)")
        if id in self.rules:
            raise RegistryError(f"rule {id} is declared twice: {self.rules[id].module}, {module}")
        if stage not in STAGES:
            raise RegistryError(f"rule {id}: unknown stage {stage!r}")
        text = " ".join(doc.split())
        if not text:
            raise RegistryError(f"rule {id} has no doc")
        found = Rule(id, severity, stage, text, module)
        self.rules[id] = found
        return found

    def check(self, found: Check) -> None:
        """Register a check; its rules must be declared, in its stage."""
        for item in found.rules:
            if self.rules.get(item.id) is not item:
                raise RegistryError(f"check {found.name} reports {item.id}, not declared")
        if any(c.name == found.name for c in self.checks):
            raise RegistryError(f"check {found.name} is registered twice")
        if (found.stage == "values") != (found.phase is not None):
            raise RegistryError(f"check {found.name}: a phase is for the values stage only")
        if (found.stage == "file") != (found.reads == "loaded"):
            raise RegistryError(f"check {found.name}: only file-stage checks read the file")
        self.checks.append(found)

    def get(self, id: str) -> Rule | None:
        return self.rules.get(id)

    def in_stage(self, stage: Stage, phase: Phase | None = None) -> Iterator[Check]:
        yield from (c for c in self.checks if c.stage == stage and c.phase == phase)


#: The one registry of the process.
REGISTRY = Registry()


def rule(id: str, severity: Severity, stage: Stage, doc: str) -> Rule:
    """Declare a rule of the calling module (see :meth:`Registry.rule`)."""
    import inspect

    frame = inspect.currentframe()
    caller = frame.f_back if frame is not None else None
    module = str(caller.f_globals.get("__name__", "?")) if caller is not None else "?"
    return REGISTRY.rule(id, severity, stage, doc, module=module)


def load_all() -> Registry:
    """The registry with every rule of the toolkit declared: imports every module that
    declares rules (the whole package but the CLI), found by walking it."""
    import importlib
    import pkgutil
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent
    for info in pkgutil.walk_packages([str(package)], "modelservice."):
        if info.name.startswith("modelservice.cli") or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    return REGISTRY
