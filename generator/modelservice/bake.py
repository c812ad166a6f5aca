"""``modelservice bake``: a platform team's defaults and constraints baked into a derived chart.

The derived chart is the base chart's templates unchanged, with

- ``Chart.yaml`` rendered from ``templates/Chart.yaml.j2`` (new name and version, the base
  chart's appVersion and kubeVersion, the base recorded in annotations);
- ``values.yaml``: the base values.yaml with the defaults file merged in by ruamel.yaml's
  round trip (maps merged key by key, lists and scalars replaced), so every comment and the
  key order survive;
- ``values.schema.json``: the base schema with ``default`` set to the new defaults and the
  constraints written as plain draft-07 keywords (``enum``, ``maximum``, ``minLength``,
  ``required``), so a plain ``helm install`` of the derived chart enforces them;
- ``README.md`` with the defaults, the constraints and the generated parameter table.

The defaults file is validated like a values file against the base chart, with one
difference: a defaults file may leave the model unset (each release names its own), so the
problems "the file is empty" and "model.name / model.path is required" are tolerated. Every
other problem, Kubernetes objects and engine arguments included, fails the bake. The baked
defaults must also satisfy the constraints, or every install of the chart would fail.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .errors import InvalidValues, UserError
from .loader import value_at
from .paths import resolve_chart

Key = tuple[str, ...]

#: Chart names as Helm wants them (lowercase letters, digits and dashes).
CHART_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Semantic Versioning 2.0.0 (Helm requires chart versions to be SemVer 2).
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-((0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?$"
)
BASE_CHART_ANNOTATION = "modelservice/base-chart"
BASE_VERSION_ANNOTATION = "modelservice/base-chart-version"
_BAKED_SUFFIX = re.compile(r" Baked from \S+ \S+ with platform defaults\.$")
_BAKED_HEADER = "# Baked by `modelservice bake`"

#: Files of the base chart that the bake writes itself rather than copying.
GENERATED = ("Chart.yaml", "values.yaml", "values.schema.json", "README.md")

_NAMES = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"}}

#: The constraints file: a small, closed vocabulary (an unknown key is an error).
CONSTRAINTS_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "allowedImageRepositories": {
            **_NAMES,
            "items": {"type": "string", "minLength": 1},
            "description": "Image repositories releases may use (image.repository).",
        },
        "maxGPUs": {
            "type": "integer",
            "minimum": 0,
            "description": "Most GPUs (or vGPU slices) per pod (gpu.count).",
        },
        "allowedStorageClasses": {
            **_NAMES,
            "description": "StorageClasses of the model cache (persistence.storageClassName).",
        },
        "allowedRuntimeClasses": {
            **_NAMES,
            "description": "RuntimeClasses of GPU pods (gpu.runtimeClassName).",
        },
        "requireMirror": {
            "type": "boolean",
            "description": "Hugging Face must be reached through a mirror (huggingface.endpoint).",
        },
        "requiredNodeSelector": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "string"},
            "description": "Node labels every pod must select, with their values.",
        },
        "requireNodeSelector": {
            **_NAMES,
            "items": {"type": "string", "minLength": 1},
            "description": "Node label keys every pod must select (any value).",
        },
    },
}


@dataclass(frozen=True)
class ConstraintRow:
    """One constraint as the baked README lists it."""

    key: str
    rule: str


# -- the defaults file ---------------------------------------------------------------------


def _tolerated(rule: str, pointer: str) -> bool:
    """Problems a defaults file may have: no model yet (each release names its own)."""
    if rule == "values-empty":
        return True
    return "required" in rule and pointer in ("/model", "/model/name", "/model/path")


def load_defaults(file: Path, chart: Path) -> dict[str, Any]:
    """The defaults file's values, validated against ``chart`` as a values file."""
    from .validate import validate_file

    result = validate_file(file, chart)
    problems = [p for p in result.problems if not _tolerated(p.rule, p.pointer)]
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise InvalidValues(problems)
    for warning in problems:
        click.echo(warning.format_text(), err=True)
    data = result.values
    return data if isinstance(data, dict) else {}


# -- the constraints file ------------------------------------------------------------------


def load_constraints(file: Path) -> tuple[Any, dict[str, Any]]:
    """The constraints file (loaded, for positions) and its data, checked against
    :data:`CONSTRAINTS_SCHEMA`; every problem on its own line."""
    from jsonschema import Draft7Validator

    from .diagnostics import Problem
    from .loader import load_file
    from .schema_check import check_with

    loaded = load_file(file)
    if loaded.problems:
        raise InvalidValues(loaded.problems)
    data = loaded.data
    if data is None:
        return loaded, {}
    if not isinstance(data, dict):
        raise InvalidValues(
            [Problem(str(file), 1, 1, "/", "is not a mapping of constraints", "constraints-type")]
        )
    problems = check_with(loaded, data, Draft7Validator(CONSTRAINTS_SCHEMA))
    if problems:
        raise InvalidValues([_as_constraint_problem(p) for p in problems])
    return loaded, data


def _as_constraint_problem(problem: Any) -> Any:
    from dataclasses import replace

    return replace(problem, rule=problem.rule.replace("schema-", "constraints-", 1))


# -- values.yaml: a round-trip merge -------------------------------------------------------


def to_round_trip(value: Any) -> Any:
    """Plain data as ruamel round-trip nodes (block style), strings safe for YAML 1.1."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = to_round_trip(item)
        return node
    if isinstance(value, list):
        return CommentedSeq(to_round_trip(item) for item in value)
    from .scaffold import yaml11_safe

    return yaml11_safe(value)


def _is_block(node: Any) -> bool:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    return isinstance(node, (CommentedMap, CommentedSeq)) and len(node) > 0


def _pop_trailing(parent: Any, key: Any) -> Any:
    """Remove and return the comment after the entry ``parent[key]`` (ruamel keeps the
    comment and blank lines that follow an entry on its deepest last node)."""
    from ruamel.yaml.comments import CommentedMap

    child = parent[key]
    if _is_block(child) and not child.fa.flow_style():
        last = list(child)[-1] if isinstance(child, CommentedMap) else len(child) - 1
        token = _pop_trailing(child, last)
        if token is not None:
            return token
    entry = parent.ca.items.get(key)
    slot = 2 if isinstance(parent, CommentedMap) else 0
    if entry and len(entry) > slot and entry[slot] is not None:
        token = entry[slot]
        entry[slot] = None
        return token
    return None


def _put_trailing(parent: Any, key: Any, token: Any) -> None:
    """Attach a comment after the entry ``parent[key]`` (at its deepest last node)."""
    from ruamel.yaml.comments import CommentedMap

    if token is None:
        return
    child = parent[key]
    if _is_block(child) and not child.fa.flow_style():
        last = list(child)[-1] if isinstance(child, CommentedMap) else len(child) - 1
        _put_trailing(child, last, token)
        return
    slot = 2 if isinstance(parent, CommentedMap) else 0
    entry = parent.ca.items.setdefault(key, [None, None, None, None])
    entry[slot] = token


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def deep_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of plain data: maps key by key, everything else replaced."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def merge_round_trip(tree: Any, defaults: Mapping[str, Any]) -> None:
    """Merge plain ``defaults`` into a round-trip mapping in place, keeping comments."""
    from ruamel.yaml.comments import CommentedMap

    for key, value in defaults.items():
        current = tree.get(key)
        if isinstance(value, Mapping) and isinstance(current, CommentedMap):
            if len(current) and not current.fa.flow_style():
                merge_round_trip(current, value)
                continue
            value = deep_merge(_plain(current), value)
        if key in tree:
            token = _pop_trailing(tree, key)
            tree[key] = to_round_trip(value)
        else:
            token = _pop_trailing(tree, list(tree)[-1]) if len(tree) else None
            tree[key] = to_round_trip(value)
        _put_trailing(tree, key, token)


def merged_values_text(base_text: str, defaults: Mapping[str, Any], header: str) -> str:
    """The base values.yaml text with ``defaults`` merged in, under a one-line header."""
    import io

    from .scaffold import yaml_rt

    yaml = yaml_rt()
    yaml.preserve_quotes = True
    tree = yaml.load(base_text)
    merge_round_trip(tree, defaults)
    out = io.StringIO()
    yaml.dump(tree, out)
    body = "".join(
        line
        for line in out.getvalue().splitlines(keepends=True)
        if not line.startswith(_BAKED_HEADER)
    )
    return f"{header}\n{body}"


# -- values.schema.json --------------------------------------------------------------------


def _inline(node: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    """A schema node with its top-level local ``$ref`` replaced by a copy of the target (so a
    change made here does not reach other users of the definition)."""
    node = dict(node)
    while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        own = {k: v for k, v in node.items() if k != "$ref"}
        node = {**copy.deepcopy(target), **own}
    return node


def schema_node(schema: dict[str, Any], key: Key) -> dict[str, Any] | None:
    """The (inlined, editable) schema node of a values key, or None if the schema lacks it."""
    node = schema
    for part in key:
        properties = node.get("properties")
        if not isinstance(properties, dict) or part not in properties:
            return None
        properties[part] = _inline(properties[part], schema)
        node = properties[part]
    return node


def set_defaults(schema: dict[str, Any], defaults: Mapping[str, Any], merged: Any) -> None:
    """Set ``default`` of every key the defaults file sets to its baked (merged) value."""

    def walk(node: Mapping[str, Any], key: Key) -> None:
        for name, value in node.items():
            child = (*key, name)
            target = schema_node(schema, child)
            if target is None:
                continue
            if isinstance(value, Mapping) and "properties" in target and value:
                walk(value, child)
            else:
                target["default"] = copy.deepcopy(value_at(merged, child))

    walk(defaults, ())


def _note(node: dict[str, Any], text: str) -> None:
    description = str(node.get("description", "")).rstrip()
    node["description"] = f"{description} Platform constraint: {text}".strip()


def _names(items: list[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def require(schema: dict[str, Any], key: Key) -> None:
    """Mark ``key`` and each of its parents required. Helm deletes a key set to ``null`` from
    the merged values before it checks the schema, so without this a user's ``null`` would
    remove a baked default and the constraint on it at once."""
    for depth in range(len(key)):
        parent = schema if depth == 0 else schema_node(schema, key[:depth])
        if parent is None:
            return
        required = list(parent.get("required", []))
        if key[depth] not in required:
            parent["required"] = [*required, key[depth]]


@dataclass(frozen=True)
class Widening:
    """A constraint that would allow what the base chart's schema forbids."""

    constraint: str
    message: str


def apply_constraints(
    schema: dict[str, Any],
    constraints: Mapping[str, Any],
    *,
    name: str = "the baked chart",
    base: str = "the base chart",
) -> tuple[dict[Key, str], list[ConstraintRow]]:
    """Tighten ``schema`` in place; returns which constraint guards which values key, and the
    README rows.

    A bake only narrows: where the base chart's schema already limits a key (an earlier bake,
    or the chart itself), the new limit must lie within it; every widening is collected and
    raised at the end (``_Widened``), each message naming both charts' limits. Every
    constrained key is also marked required (see :func:`require`).
    """
    origins: dict[Key, str] = {}
    rows: list[ConstraintRow] = []
    widenings: list[Widening] = []

    def node(key: Key, constraint: str) -> dict[str, Any]:
        found = schema_node(schema, key)
        if found is None:
            raise UserError(f"{constraint}: the base chart's schema has no {'.'.join(key)}")
        origins[key] = constraint
        require(schema, key)
        return schema_node(schema, key) or found

    def within(constraint: str, key: Key, target: dict[str, Any], allowed: list[Any]) -> bool:
        """Whether ``allowed`` lies within the base's enum of ``target`` (recorded if not)."""
        before = target.get("enum")
        if isinstance(before, list) and any(value not in before for value in allowed):
            widenings.append(
                Widening(
                    constraint,
                    f"{name} would allow {_names(allowed)} for {'.'.join(key)}, but its base "
                    f"chart {base} allows only {_names(before)} (a bake can only narrow: drop "
                    f"{_names([v for v in allowed if v not in before])})",
                )
            )
            return False
        return True

    def enum(constraint: str, key: Key) -> None:
        allowed = list(constraints[constraint])
        target = node(key, constraint)
        if not within(constraint, key, target, allowed):
            return
        target["enum"] = allowed
        _note(target, f"one of {_names(allowed)}.")
        rows.append(ConstraintRow(constraint, f"`{'.'.join(key)}` is one of {_names(allowed)}"))

    if "allowedImageRepositories" in constraints:
        enum("allowedImageRepositories", ("image", "repository"))
    if "maxGPUs" in constraints:
        limit = int(constraints["maxGPUs"])
        target = node(("gpu", "count"), "maxGPUs")
        before = target.get("maximum")
        if isinstance(before, int) and limit > before:
            widenings.append(
                Widening(
                    "maxGPUs",
                    f"{name} would allow gpu.count up to {limit}, but its base chart {base} "
                    f"allows at most {before} (a bake can only narrow)",
                )
            )
        else:
            target["maximum"] = limit
            _note(target, f"at most {limit}.")
            rows.append(ConstraintRow("maxGPUs", f"`gpu.count` <= {limit}"))
    if "allowedStorageClasses" in constraints:
        enum("allowedStorageClasses", ("persistence", "storageClassName"))
    if "allowedRuntimeClasses" in constraints:
        enum("allowedRuntimeClasses", ("gpu", "runtimeClassName"))
    if constraints.get("requireMirror"):
        target = node(("huggingface", "endpoint"), "requireMirror")
        target["minLength"] = max(1, int(target.get("minLength", 0)))
        _note(target, "required (a mirror).")
        rows.append(ConstraintRow("requireMirror", "`huggingface.endpoint` must not be empty"))
    selector: dict[str, Any] | None = None
    if "requiredNodeSelector" in constraints:
        selector = node(("nodeSelector",), "requiredNodeSelector")
        for label, value in constraints["requiredNodeSelector"].items():
            properties = selector.setdefault("properties", {})
            current = properties.get(label, {})
            if not within("requiredNodeSelector", ("nodeSelector", label), current, [value]):
                continue
            properties[label] = {**current, "type": "string", "enum": [value]}
            selector["required"] = sorted({*selector.get("required", []), label})
            rows.append(
                ConstraintRow("requiredNodeSelector", f"`nodeSelector.{label}` is `{value}`")
            )
    if "requireNodeSelector" in constraints:
        selector = node(("nodeSelector",), "requireNodeSelector")
        for label in constraints["requireNodeSelector"]:
            properties = selector.setdefault("properties", {})
            properties.setdefault(label, {"type": "string", "minLength": 1})
            selector["required"] = sorted({*selector.get("required", []), label})
            rows.append(ConstraintRow("requireNodeSelector", f"`nodeSelector.{label}` is set"))
    if selector is not None:
        _note(selector, f"must select {_names(selector['required'])}.")
    if widenings:
        raise _Widened(widenings)
    return origins, rows


class _Widened(Exception):
    """Raised by :func:`apply_constraints`; :func:`bake` reports each at its constraint."""

    def __init__(self, widenings: list[Widening]) -> None:
        super().__init__(widenings)
        self.widenings = widenings


def check_baked_defaults(
    schema: dict[str, Any],
    merged: Any,
    origins: Mapping[Key, str],
    constraints_file: Any,
) -> None:
    """The baked defaults satisfy the baked schema (else every install would fail)."""
    from jsonschema import Draft7Validator

    from .diagnostics import Problem
    from .schema_check import _leaf, _message

    problems: list[Problem] = []
    for error in Draft7Validator(schema).iter_errors(merged):
        path = tuple(str(p) for p in error.absolute_path)
        leaf = _leaf(error)
        constraint = next(
            (
                c
                for key, c in origins.items()
                if path[: len(key)] == key or key[: len(path)] == path
            ),
            None,
        )
        where = "/" + "/".join(path)
        message = (
            f"the baked default at {where} breaks this constraint: {_message(leaf)}; "
            f"set {'.'.join(path) or 'it'} in the defaults file"
        )
        if constraint is not None and constraints_file is not None:
            problems.append(
                constraints_file.problem((constraint,), message, "bake-default-conflict")
            )
        else:
            problems.append(Problem("values.yaml", 1, 1, where, message, "bake-default-conflict"))
    if problems:
        raise InvalidValues(problems)


# -- Chart.yaml and README.md --------------------------------------------------------------


def _jinja() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("modelservice", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def chart_yaml(base: Mapping[str, Any], name: str, version: str) -> str:
    """The derived chart's Chart.yaml text."""
    base_name, base_version = str(base["name"]), str(base["version"])
    description = _BAKED_SUFFIX.sub("", str(base.get("description", "")).strip())
    description = (
        f"{description} Baked from {base_name} {base_version} with platform defaults."
    ).strip()
    annotations = {str(k): str(v) for k, v in (base.get("annotations") or {}).items()}
    annotations[BASE_CHART_ANNOTATION] = base_name
    annotations[BASE_VERSION_ANNOTATION] = base_version
    return (
        _jinja()
        .get_template("Chart.yaml.j2")
        .render(
            base_name=base_name,
            base_version=base_version,
            name=name,
            version=version,
            description=description,
            type=base.get("type") or "application",
            app_version=base.get("appVersion", ""),
            kube_version=base.get("kubeVersion", ""),
            keywords=list(base.get("keywords") or []),
            home=base.get("home", ""),
            icon=base.get("icon", ""),
            sources=list(base.get("sources") or []),
            annotations=annotations,
        )
    )


def readme(
    *,
    name: str,
    chart_path: str,
    description: str,
    base: Mapping[str, Any],
    defaults_yaml: str,
    rows: list[ConstraintRow],
    schema: dict[str, Any],
    values: dict[str, Any],
) -> str:
    """The derived chart's README: defaults, constraints and the parameter table."""
    from .docs import parameters_table

    return (
        _jinja()
        .get_template("baked-README.md.j2")
        .render(
            name=name,
            chart_path=chart_path,
            description=description,
            base_name=base["name"],
            base_version=base["version"],
            defaults_yaml=defaults_yaml,
            constraints=rows,
            table=parameters_table(schema, values),
        )
    )


# -- the bake ------------------------------------------------------------------------------


def _check_output(output: Path, chart: Path, force: bool) -> None:
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()):
        if not force:
            raise UserError(f"{output}: not empty; give --force to replace it")
        resolved = output.resolve()
        if resolved == chart.resolve() or chart.resolve().is_relative_to(resolved):
            raise UserError(f"{output}: holds the base chart; bake into another directory")
        if Path.cwd().resolve().is_relative_to(resolved) or resolved == Path.home().resolve():
            raise UserError(f"{output}: refusing to replace this directory")


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (native code writes there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def bake(
    *,
    defaults_file: Path,
    name: str,
    version: str,
    output: Path,
    chart: Path,
    constraints_file: Path | None = None,
    force: bool = False,
) -> list[ConstraintRow]:
    """Write the derived chart into ``output``; returns the constraints it enforces."""
    import helm_python
    import yaml

    from . import engine
    from .generate import render_chart_schema
    from .loader import load_text

    if not CHART_NAME.match(name) or len(name) > 53:
        raise UserError(
            f"--name {name!r}: a chart name is lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 53 characters"
        )
    if not SEMVER.match(version):
        raise UserError(f"--version {version!r}: a chart version is SemVer 2, e.g. 1.0.0")
    chart = resolve_chart(chart)
    _check_output(output, chart, force)

    defaults = load_defaults(defaults_file, chart)
    loaded_constraints, constraints = (
        load_constraints(constraints_file) if constraints_file else (None, {})
    )
    base = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    base_values_text = (chart / "values.yaml").read_text(encoding="utf-8")
    base_values = yaml.safe_load(base_values_text) or {}

    header = (
        f"{_BAKED_HEADER} from {base['name']} {base['version']} "
        f"with the defaults of {defaults_file.name}."
    )
    values_text = merged_values_text(base_values_text, defaults, header)
    merged = load_text(values_text, "values.yaml").data
    if merged != deep_merge(base_values, defaults):  # the round trip must not change meaning
        raise UserError("internal: the merged values.yaml does not read back as merged")

    schema = json.loads((chart / "values.schema.json").read_text(encoding="utf-8"))
    set_defaults(schema, defaults, merged)
    try:
        origins, rows = apply_constraints(
            schema, constraints, name=name, base=f"{base['name']} {base['version']}"
        )
    except _Widened as exc:
        if loaded_constraints is None:  # constraints come only from a file; kept for safety
            raise UserError("; ".join(w.message for w in exc.widenings)) from None
        raise InvalidValues(
            [
                loaded_constraints.problem((w.constraint,), w.message, "bake-widens")
                for w in exc.widenings
            ]
        ) from None
    check_baked_defaults(schema, merged, origins, loaded_constraints)

    chart_text = chart_yaml(base, name, version)
    description = yaml.safe_load(chart_text)["description"]
    defaults_yaml = yaml.safe_dump(defaults, sort_keys=False) if defaults else ""

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        work = staging / name
        shutil.copytree(chart, work, ignore=shutil.ignore_patterns(*GENERATED, ".git"))
        (work / "Chart.yaml").write_text(chart_text, encoding="utf-8")
        (work / "values.yaml").write_text(values_text, encoding="utf-8")
        (work / "values.schema.json").write_text(render_chart_schema(schema), encoding="utf-8")
        (work / "README.md").write_text(
            readme(
                name=name,
                chart_path=output.as_posix() if output.is_absolute() else f"./{output.as_posix()}",
                description=description,
                base=base,
                defaults_yaml=defaults_yaml,
                rows=rows,
                schema=schema,
                values=merged,
            ),
            encoding="utf-8",
        )
        helm_python.disable_logging()
        with _quiet_stderr():  # Helm's Go logger warns about the unset model
            report = helm_python.lint(str(work), {}, strict=True, quiet=True)
        findings = [str(m) for m in report.get("errors", []) + report.get("messages", [])]
        if findings:
            raise UserError("helm lint of the baked chart: " + "; ".join(findings))
        if output.exists():
            shutil.rmtree(output)
        work.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    engine._loaded_chart.cache_clear()  # the directory may have held another chart
    return rows


@click.command("bake")
@click.option(
    "--defaults",
    "defaults_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Values file of the platform's defaults (validated like a values file).",
)
@click.option("--name", required=True, help="Name of the derived chart.")
@click.option("--version", required=True, help="Version of the derived chart (SemVer 2).")
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write the chart into (must be empty unless --force).",
)
@click.option(
    "--constraints",
    "constraints_file",
    type=click.Path(dir_okay=False),
    help="YAML file of rules the derived chart's schema enforces.",
)
@click.option("--force", is_flag=True, help="Replace a non-empty --output directory.")
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(file_okay=False),
    help="Base chart (default: the bundled chart; a baked chart works too).",
)
def bake_command(
    defaults_file: str,
    name: str,
    version: str,
    output: str,
    constraints_file: str | None,
    force: bool,
    chart_path: str | None,
) -> None:
    """Bake a platform team's defaults and constraints into a derived chart."""
    chart = resolve_chart(chart_path)
    rows = bake(
        defaults_file=Path(defaults_file),
        name=name,
        version=version,
        output=Path(output),
        chart=chart,
        constraints_file=Path(constraints_file) if constraints_file else None,
        force=force,
    )
    print(
        f"baked {name} {version} into {output} ({len(rows)} constraint rule(s))",
        file=sys.stderr,
    )
