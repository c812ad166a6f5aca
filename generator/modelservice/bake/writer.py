"""Writing the derived chart: Chart.yaml, values.yaml, values.schema.json and README.md beside
the base chart's templates, staged and checked with ``helm lint`` before it replaces
``--output``."""

from __future__ import annotations

import contextlib
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

from ..core import safe_write
from ..core.errors import InvalidValues, UserError
from ..core.paths import resolve_chart
from ..core.problem import Problem
from .constraints import (
    CONSTRAINTS_FILE,
    ConstraintRow,
    constraints_text,
    effective_constraints,
    load_constraints,
)
from .schema_patch import (
    BAKE_DEFAULT_CONFLICT,
    BAKE_WIDENS,
    Widened,
    apply_constraints,
    check_baked_defaults,
    set_defaults,
)
from .values_merge import BAKED_HEADER, deep_merge, load_defaults, merged_values_text

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

#: Files of the base chart that the bake writes itself rather than copying.
GENERATED = ("Chart.yaml", "values.yaml", "values.schema.json", "README.md")


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


#: Chart.yaml annotations that describe one release of the base chart only.
BASE_ONLY_ANNOTATIONS = ("artifacthub.io/changes", "artifacthub.io/images")


def chart_yaml(base: Mapping[str, Any], name: str, version: str) -> str:
    """The derived chart's Chart.yaml text."""
    base_name, base_version = str(base["name"]), str(base["version"])
    description = _BAKED_SUFFIX.sub("", str(base.get("description", "")).strip())
    description = (
        f"{description} Baked from {base_name} {base_version} with platform defaults."
    ).strip()
    # The base chart's Artifact Hub release notes and image list describe the base release;
    # the derived chart's defaults may pull other images, and it has its own history.
    annotations = {
        str(k): str(v)
        for k, v in (base.get("annotations") or {}).items()
        if str(k) not in BASE_ONLY_ANNOTATIONS
    }
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
    from ..schema.docs import parameters_table

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


def _check_output(output: Path, chart: Path, force: bool, inputs: list[Path]) -> None:
    """Refuse an ``--output`` whose replacement would lose something: a link (replaced, it
    would be followed), a folder holding the base chart, an input file, the working folder or
    the home folder, or a folder inside the base chart."""
    if output.is_symlink():
        raise safe_write.refuse_link(output, "bake")
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: exists and is not a directory")
    if safe_write.is_inside(chart, output):
        raise UserError(f"{output}: holds the base chart; bake into another directory")
    if safe_write.is_inside(output, chart):
        raise UserError(f"{output}: inside the base chart {chart}; bake into another directory")
    if output.is_dir() and any(output.iterdir()):
        if not force:
            raise UserError(f"{output}: not empty; give --force to replace it")
        for given in inputs:
            if safe_write.is_inside(given, output):
                raise UserError(
                    f"{output}: holds {given}, an input of this bake, which replacing the "
                    "directory would delete; bake into another directory"
                )
        if safe_write.is_inside(Path.cwd(), output) or output.resolve() == Path.home().resolve():
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


CONSTRAINTS_HEADER = (
    "# The platform's constraints, written by `modelservice bake`: the templates refuse a\n"
    "# release that breaks one (templates/_constraints.tpl), with plain `helm install` too.\n"
    "# Do not edit: bake again."
)


def _base_constraints(chart: Path) -> dict[str, Any]:
    """The constraints a baked base chart enforces already (none for the modelservice chart)."""
    import yaml

    path = chart / CONSTRAINTS_FILE
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _check_defaults_render(work: Path, merged: Any, constraints_file: Any) -> None:
    """The baked defaults pass the constraints the templates enforce (what the schema cannot
    say), or every install of the chart would fail: rendered with a model named."""
    from ..checks.template import _FAILURE
    from ..core.errors import EngineError
    from ..core.rules import REGISTRY
    from ..helm.engine import render

    values = {"model": {"name": "example/model"}} if not _has_model(merged) else {}
    try:
        render(work, values, release="baked", namespace="default")
    except EngineError as exc:
        match = _FAILURE.search(exc.message)
        found = REGISTRY.get(match.group("rule")) if match else None
        if match is None or found is None or not found.id.startswith("constraint-"):
            return  # the defaults were validated against the base chart already
        constraint = next(
            (
                w
                for w in match.group("message").split()
                if w[:1].islower() and w.isalpha() and w in _constraint_names()
            ),
            None,
        )
        message = (
            f"the baked defaults break a constraint the templates enforce: "
            f"{' '.join(match.group('message').split())}; set it in the defaults file"
        )
        if constraints_file is not None and constraint:
            raise InvalidValues(
                [constraints_file.problem((constraint,), message, BAKE_DEFAULT_CONFLICT)]
            ) from None
        raise UserError(message) from None
    finally:
        from ..helm import engine

        engine._loaded_chart.cache_clear()


def _has_model(values: Any) -> bool:
    model = values.get("model") if isinstance(values, dict) else None
    return isinstance(model, dict) and bool(model.get("name") or model.get("path"))


def _constraint_names() -> set[str]:
    from .constraints import CONSTRAINTS_SCHEMA

    return set(CONSTRAINTS_SCHEMA["properties"])


@dataclass(frozen=True)
class Baked:
    """What :func:`bake` did: the constraint rules the chart enforces, and the warnings of
    the defaults file (tolerated problems are left out)."""

    rows: list[ConstraintRow]
    warnings: list[Problem]


def bake(
    *,
    defaults_file: Path,
    name: str,
    version: str,
    output: Path,
    chart: Path,
    constraints_file: Path | None = None,
    force: bool = False,
) -> Baked:
    """Write the derived chart into ``output``; returns the constraints it enforces and the
    defaults file's warnings (printed by the CLI, not here)."""
    import helm_python
    import yaml

    from ..helm import engine
    from ..schema.generate import render_chart_schema
    from ..values.loader import load_text

    if not CHART_NAME.match(name) or len(name) > 53:
        raise UserError(
            f"--name {name!r}: a chart name is lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 53 characters"
        )
    if not SEMVER.match(version):
        raise UserError(f"--version {version!r}: a chart version is SemVer 2, e.g. 1.0.0")
    chart = resolve_chart(chart)
    inputs = [defaults_file, *([constraints_file] if constraints_file else [])]
    _check_output(output, chart, force, inputs)

    defaults, warnings = load_defaults(defaults_file, chart)
    loaded_constraints, constraints = (
        load_constraints(constraints_file) if constraints_file else (None, {})
    )
    base = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    base_values_text = (chart / "values.yaml").read_text(encoding="utf-8")
    base_values = yaml.safe_load(base_values_text) or {}

    header = (
        f"{BAKED_HEADER} from {base['name']} {base['version']} "
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
    except Widened as exc:
        if loaded_constraints is None:  # constraints come only from a file; kept for safety
            raise UserError("; ".join(w.message for w in exc.widenings)) from None
        raise InvalidValues(
            [
                loaded_constraints.problem((w.constraint,), w.message, BAKE_WIDENS)
                for w in exc.widenings
            ]
        ) from None
    check_baked_defaults(schema, merged, origins, loaded_constraints)
    enforced, widened = effective_constraints(_base_constraints(chart), constraints)
    if widened and loaded_constraints is not None:
        raise InvalidValues(
            [loaded_constraints.problem((k,), message, BAKE_WIDENS) for k, message in widened]
        )

    chart_text = chart_yaml(base, name, version)
    description = yaml.safe_load(chart_text)["description"]
    defaults_yaml = yaml.safe_dump(defaults, sort_keys=False) if defaults else ""

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    except OSError as exc:
        raise safe_write.os_error(output, exc) from None
    try:
        work = staging / name
        shutil.copytree(chart, work, ignore=shutil.ignore_patterns(*GENERATED, ".git"))
        (work / "Chart.yaml").write_text(chart_text, encoding="utf-8")
        if enforced:
            # What the schema cannot say, the templates enforce on the rendered release.
            (work / CONSTRAINTS_FILE).parent.mkdir(exist_ok=True)
            (work / CONSTRAINTS_FILE).write_text(
                constraints_text(enforced, CONSTRAINTS_HEADER), encoding="utf-8"
            )
        (work / "values.yaml").write_text(values_text, encoding="utf-8")
        # Baked defaults the templates act on are required too: a null cannot delete them.
        (work / "values.schema.json").write_text(
            render_chart_schema(schema, merged), encoding="utf-8"
        )
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
        _check_defaults_render(work, merged, loaded_constraints)
        # The old chart moves aside (same folder: a rename) until the new one is in place,
        # so a failure leaves one or the other, never neither.
        _check_output(output, chart, force, inputs)  # nothing changed it meanwhile
        if output.exists():
            output.rename(staging / "replaced")
        work.rename(output)
    except OSError as exc:
        raise safe_write.os_error(output, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    engine._loaded_chart.cache_clear()  # the directory may have held another chart
    return Baked(rows, warnings)
