"""The chart's values map: which values key produced each field of the rendered objects.

``chart/values-map.yaml``, kept next to the templates and shipped inside the chart package,
states facts about the templates (which values key feeds which rendered field). Checks judge
the rendered release, and this map leads each finding back to a line of the user's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..core.tree import Path_, get

#: The map's file in a chart.
FILE = "values-map.yaml"


@dataclass(frozen=True)
class Entry:
    kind: str
    pattern: tuple[str, ...]
    values: Path_
    items: bool = False
    owned: dict[str, Path_] = field(default_factory=dict)
    chart: Path_ | None = None
    inherits: Path_ | None = None
    #: the ``app.kubernetes.io/component`` of the objects the entry is for (the endpoint
    #: picker's Deployment is a Deployment too); None: any object of the kind
    component: str | None = None


#: The label that tells a component's objects from the model server's of the same kind.
COMPONENT = "app.kubernetes.io/component"


def component_of(obj: dict[str, Any]) -> str | None:
    found = get(obj, ("metadata", "labels", COMPONENT))
    return found if isinstance(found, str) else None


_STEP = re.compile(r"([^.\[]+)|\[([^\]]+)\]")


def _pattern(text: str) -> tuple[str, ...]:
    """``a.b[vllm].c`` as ("a", "b", "[vllm]", "c")."""
    return tuple(m.group(1) or f"[{m.group(2)}]" for m in _STEP.finditer(text))


def _dotted(text: str) -> Path_:
    return tuple(text.split(".")) if text else ()


class ValuesMap:
    """The chart's map from rendered fields back to values keys."""

    def __init__(
        self,
        entries: list[Entry],
        pod_templates: dict[str, list[Path_]] | None = None,
        objects: dict[tuple[str, str | None], Path_] | None = None,
    ) -> None:
        self.entries = entries
        #: kind -> paths of its pod templates, whose fields map as the Deployment's do
        #: (one pod template helper renders them all).
        self.pod_templates = pod_templates or {}
        #: (kind, component or None) -> the values key that makes the chart render an object
        #: of that kind (of that component)
        self.objects = objects or {}

    def _as_deployment(self, obj: dict[str, Any], path: Path_) -> tuple[dict[str, Any], Path_]:
        """A field of another kind's pod template, seen as the Deployment's same field."""
        for base in self.pod_templates.get(str(obj.get("kind")), []):
            if path[: len(base)] == base and isinstance(get(obj, base), dict):
                view = {"kind": "Deployment", "spec": {"template": get(obj, base)}}
                return view, ("spec", "template", *path[len(base) :])
        return obj, path

    @classmethod
    def of_chart(cls, chart: Path) -> ValuesMap:
        path = chart / FILE
        return _values_map(str(path), path.stat().st_mtime if path.is_file() else 0.0)

    def entry(self, obj: dict[str, Any], path: Path_) -> tuple[Entry, int] | None:
        """The longest entry matching ``path`` of ``obj``, and how many steps it covers; an
        entry for the object's component wins over the entries for any object of the kind."""
        component = component_of(obj)
        obj, path = self._as_deployment(obj, path)
        kind = obj.get("kind")
        best: tuple[Entry, int] | None = None
        for entry in self.entries:
            if entry.kind not in ("*", kind) or len(entry.pattern) > len(path):
                continue
            if entry.component is not None and entry.component != component:
                continue
            if not _matches(obj, entry.pattern, path):
                continue
            rank = (entry.component is not None, len(entry.pattern))
            if best is None or rank > (best[0].component is not None, best[1]):
                best = (entry, len(entry.pattern))
        return best

    def values_path(
        self, values: dict[str, Any], merged: dict[str, Any], obj: dict[str, Any], path: Path_
    ) -> Path_:
        """The values key that produced ``path`` of the rendered ``obj`` (for the object as a
        whole, the key that makes the chart render it)."""
        if not path:
            kind = str(obj.get("kind"))
            found = self.objects.get((kind, component_of(obj)))
            return found if found is not None else self.objects.get((kind, None), ())
        obj, path = self._as_deployment(obj, path)
        found = self.entry(obj, path)
        if found is None:
            return ()
        entry, length = found
        rest = path[length:]
        if entry.items and rest:
            rendered = get(obj, path[:length]) or []
            item = rendered[rest[0]] if isinstance(rest[0], int) else None
            user = get(values, entry.values)
            if isinstance(user, list) and item is not None:
                for index, mine in enumerate(user):
                    if mine == item or (isinstance(item, str) and str(mine) == item):
                        return (*entry.values, index, *rest[1:])
            name = _item_name(item)
            if name in entry.owned:
                return entry.owned[name]
            return entry.chart or entry.values
        if entry.inherits is not None and not get(merged, entry.values):
            return (*entry.inherits, *rest)
        candidate = (*entry.values, *rest)
        if entry.chart is not None and get(merged, candidate) in (None, ""):
            return entry.chart  # the field is the chart's own decision: the key it reads
        return candidate


@cache
def _values_map(path: str, mtime: float) -> ValuesMap:
    from ..core.data import read_yaml

    if not mtime:
        return ValuesMap([])
    data = read_yaml(path) or {}
    entries = [
        Entry(
            kind=str(item["kind"]),
            pattern=_pattern(item["rendered"]),
            values=_dotted(item["values"]),
            items=bool(item.get("items")),
            owned={str(k): _dotted(v) for k, v in (item.get("owned") or {}).items()},
            chart=_dotted(item["chart"]) if item.get("chart") else None,
            inherits=_dotted(item["inherits"]) if item.get("inherits") else None,
            component=str(item["component"]) if item.get("component") else None,
        )
        for item in data.get("fields", [])
    ]
    templates: dict[str, list[Path_]] = {}
    for item in data.get("podTemplates", []):
        templates.setdefault(str(item["kind"]), []).append(_dotted(item["rendered"]))
    objects = {
        (str(item["kind"]), str(item["component"]) if item.get("component") else None): _dotted(
            item["values"]
        )
        for item in data.get("objects", [])
    }
    return ValuesMap(entries, templates, objects)


def _matches(obj: Any, pattern: tuple[str, ...], path: Path_) -> bool:
    node = obj
    for step, part in zip(pattern, path, strict=False):
        if step.startswith("["):
            if not isinstance(part, int) or not isinstance(node, list) or part >= len(node):
                return False
            wanted = step[1:-1]
            if wanted != "*" and _item_name(node[part]) != wanted:
                return False
        elif step != part:
            return False
        node = get(node, (part,))
    return True


def _item_name(item: Any) -> str | None:
    if isinstance(item, dict):
        name = item.get("name")
        return str(name) if name is not None else None
    if isinstance(item, str):
        return item.partition("=")[0]
    return None
