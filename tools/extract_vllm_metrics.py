"""Extract the Prometheus metrics vLLM defines from its source files into a JSON data file.

Pure standard library: it reads the source (the ``vllm`` package directory of an installed
vLLM, or the ``.whl`` file itself) with ``ast`` and never imports vLLM::

    python3 tools/extract_vllm_metrics.py /tmp/vllm-env/lib/python3.11/site-packages/vllm
    python3 tools/extract_vllm_metrics.py vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl

It writes ``schemas/vllm/<version>-metrics.json`` (the version is read from the wheel's
dist-info or ``vllm/_version.py``; ``--version`` overrides it).

What counts as a definition:

* a call of a prometheus_client ``Counter``, ``Gauge``, ``Histogram``, ``Summary`` or ``Info``
  (as imported in that file, under any alias, or as ``prometheus_client.X``), or of an
  attribute/name such as ``self._counter_cls`` (``_counter_cls``, ``_gauge_cls``,
  ``_histogram_cls``, ``_summary_cls``: vLLM swaps in Ray wrappers through these); the name is
  the ``name=`` keyword or the first positional argument, the documentation ``documentation=``
  or the second, the labels ``labelnames=`` or the third;
* a metadata table entry ``{NAME: SomethingCounterMetadata(...)}`` or
  ``table[NAME] = SomethingHistogramMetadata(...)``: a call whose callee's name contains
  Counter, Gauge, Histogram or Summary, keyed by a string (vLLM's KV-offload metrics).

Names are resolved from string constants, implicit and ``+`` concatenation, f-strings, module
and class constants (also across files, e.g. ``TieringOffloadingMetrics.READ_BYTES``), one-line
helper functions returning an f-string of their parameter, and ``for``/comprehension loops over
a literal list of tuples. Calls whose name cannot be resolved are listed under ``unresolved``.

Exposed series follow prometheus_client: a counter drops a trailing ``_total`` from its given
name and exposes ``<name>_total``; histograms expose ``_bucket``, ``_sum``, ``_count``; summaries
``_sum``, ``_count``; info ``<name>_info``; counters, histograms and summaries also expose
``<name>_created`` except in multiprocess mode or with PROMETHEUS_DISABLE_CREATED_SERIES.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

GENERATOR = "tools/extract_vllm_metrics.py"
REPO_ROOT = Path(__file__).resolve().parent.parent

PROMETHEUS_KINDS = {
    "Counter": "counter",
    "Gauge": "gauge",
    "Histogram": "histogram",
    "Summary": "summary",
    "Info": "info",
}
_CLS_ATTR = re.compile(r"^_?(counter|gauge|histogram|summary)_cls$")
_METADATA_CALLEE = re.compile(r"(Counter|Gauge|Histogram|Summary)")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Only files mentioning one of these are parsed (a file defining a metric, or a constant
# holding a metric name, always does); this keeps a run over all of vLLM fast.
_RELEVANT = re.compile(r"prometheus|_cls\b|Counter|Gauge|Histogram|Summary|[\"']vllm:")
MAX_VARIANTS = 64  # bound on the values one expression may resolve to
Env = dict[str, ast.expr]


def exposed_series(name: str, kind: str, unit: str | None = None) -> dict[str, Any]:
    """Return the family name and the sample names prometheus_client exposes for a metric."""
    family = name
    if kind == "counter" and family.endswith("_total"):
        family = family[: -len("_total")]
    if unit and not family.endswith("_" + unit):
        family += "_" + unit
    created: list[str] = []
    if kind == "counter":
        series = [family + "_total"]
        created = [family + "_created"]
    elif kind == "histogram":
        series = [family + "_bucket", family + "_count", family + "_sum"]
        created = [family + "_created"]
    elif kind == "summary":
        series = [family + "_count", family + "_sum"]
        created = [family + "_created"]
    elif kind == "info":
        series = [family + "_info"]
    else:
        series = [family]
    return {"family": family, "series": series, "created_series": created}


class _Module:
    """One parsed source file with its parent links, imports and constants."""

    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.prom_names: dict[str, str] = {}  # local name -> metric kind
        self.prom_modules: set[str] = set()  # local names bound to prometheus_client
        self.consts: dict[str, ast.expr] = {}  # module-level NAME and Class.NAME
        self.functions: dict[str, ast.FunctionDef] = {}
        for node in tree.body:
            self._scan_top(node)

    def _scan_top(self, node: ast.stmt) -> None:
        if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client":
            for alias in node.names:
                if alias.name in PROMETHEUS_KINDS:
                    self.prom_names[alias.asname or alias.name] = PROMETHEUS_KINDS[alias.name]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "prometheus_client":
                    self.prom_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            self._scan_assign(node, "")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.Assign | ast.AnnAssign):
                    self._scan_assign(item, node.name + ".")
        elif isinstance(node, ast.FunctionDef):
            self.functions[node.name] = node

    def _scan_assign(self, node: ast.Assign | ast.AnnAssign, prefix: str) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None:
            return
        for target in targets:
            if isinstance(target, ast.Name):
                self.consts[prefix + target.id] = node.value


class _Resolver:
    """Resolves expressions to strings (or lists of strings) across all parsed modules."""

    def __init__(self, modules: list[_Module]) -> None:
        self.modules = modules
        self.global_consts: dict[str, list[ast.expr]] = {}
        self.global_functions: dict[str, list[ast.FunctionDef]] = {}
        for module in modules:
            for key, value in module.consts.items():
                self.global_consts.setdefault(key, []).append(value)
            for key, func in module.functions.items():
                self.global_functions.setdefault(key, []).append(func)

    def _const(self, module: _Module, key: str) -> ast.expr | None:
        if key in module.consts:
            return module.consts[key]
        found = self.global_consts.get(key, [])
        return found[0] if len(found) == 1 else None

    def _local_assign(self, module: _Module, node: ast.AST, name: str) -> ast.expr | None:
        """The last plain ``name = <expr>`` before ``node`` in its enclosing function."""
        func = self.enclosing_function(module, node)
        if func is None:
            return None
        best: ast.expr | None = None
        line = getattr(node, "lineno", 0)
        for stmt in ast.walk(func):
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and stmt.targets[0].id == name
                and stmt.lineno < line
            ):
                best = stmt.value
        return best

    def enclosing_function(self, module: _Module, node: ast.AST) -> ast.AST | None:
        current: ast.AST | None = node
        while current is not None:
            current = module.parents.get(current)
            if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef):
                return current
        return None

    def strings(self, module: _Module, node: ast.AST, env: Env, depth: int = 0) -> list[str]:
        """All string values ``node`` can take; empty when unknown."""
        if depth > 12:
            return []
        d = depth + 1
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            parts: list[list[str]] = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    if value.format_spec is not None or value.conversion not in (-1, 115):
                        return []
                    parts.append(self.strings(module, value.value, env, d))
                else:
                    parts.append(self.strings(module, value, env, d))
                if not parts[-1]:
                    return []
            return self._product(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self.strings(module, node.left, env, d)
            right = self.strings(module, node.right, env, d)
            return self._product([left, right]) if left and right else []
        if isinstance(node, ast.IfExp):
            return self.strings(module, node.body, env, d) + self.strings(
                module, node.orelse, env, d
            )
        if isinstance(node, ast.Name):
            if node.id in env:
                return self.strings(module, env[node.id], {}, d)
            local = self._local_assign(module, node, node.id)
            target = local if local is not None else self._const(module, node.id)
            return self.strings(module, target, {}, d) if target is not None else []
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted is None:
                return []
            key = ".".join(dotted.split(".")[-2:])
            target = self._const(module, key)
            return self.strings(module, target, {}, d) if target is not None else []
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
            return self._call_helper(module, node, env, d)
        return []

    def _call_helper(self, module: _Module, node: ast.Call, env: Env, depth: int) -> list[str]:
        """Inline a one-parameter helper whose body is ``return <string expression>``."""
        assert isinstance(node.func, ast.Name)
        func = module.functions.get(node.func.id)
        if func is None:
            found = self.global_functions.get(node.func.id, [])
            func = found[0] if len(found) == 1 else None
        if func is None or len(func.args.args) != 1:
            return []
        body = [s for s in func.body if not _is_docstring(s)]
        if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
            return []
        param = func.args.args[0].arg
        values = self.strings(module, node.args[0], env, depth)
        out: list[str] = []
        for value in values:
            out += self.strings(module, body[0].value, {param: ast.Constant(value)}, depth)
        return out

    def string_list(self, module: _Module, node: ast.AST | None, env: Env) -> list[str] | None:
        """Resolve a list/tuple of strings (label names); None when not statically known."""
        if node is None:
            return []
        if isinstance(node, ast.List | ast.Tuple):
            out: list[str] = []
            for elt in node.elts:
                values = self.strings(module, elt, env)
                if len(values) != 1:
                    return None
                out.append(values[0])
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self.string_list(module, node.left, env)
            right = self.string_list(module, node.right, env)
            return None if left is None or right is None else left + right
        if isinstance(node, ast.Name):
            if node.id in env:
                return self.string_list(module, env[node.id], {})
            local = self._local_assign(module, node, node.id)
            if local is not None:
                return self.string_list(module, local, {})
        return None

    def loop_envs(self, module: _Module, node: ast.AST) -> list[Env]:
        """Bindings of names assigned by enclosing loops over literal lists of tuples."""
        envs: list[Env] = [{}]
        current: ast.AST | None = node
        while current is not None:
            parent = module.parents.get(current)
            loops: list[tuple[ast.expr, ast.expr]] = []
            if isinstance(parent, ast.For) and current is not parent.iter:
                loops.append((parent.target, parent.iter))
            elif isinstance(parent, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                loops += [(g.target, g.iter) for g in parent.generators]
            for target, iterable in loops:
                items = self._literal_items(module, iterable)
                bound: list[Env] = []
                for item in items:
                    binding = _bind(target, item)
                    if binding is not None:
                        bound.append(binding)
                if bound:
                    envs = [{**a, **b} for a, b in itertools.product(envs, bound)][:MAX_VARIANTS]
            if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
                break
            current = parent
        return envs

    def _literal_items(self, module: _Module, iterable: ast.expr) -> list[ast.expr]:
        if isinstance(iterable, ast.List | ast.Tuple):
            return list(iterable.elts)
        if isinstance(iterable, ast.Name):
            func = self.enclosing_function(module, iterable)
            scope: ast.AST = func if func is not None else module.tree
            items: list[ast.expr] = []
            for stmt in ast.walk(scope):
                if (
                    isinstance(stmt, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == iterable.id for t in stmt.targets)
                    and isinstance(stmt.value, ast.List | ast.Tuple)
                ):
                    items += stmt.value.elts
            return items
        return []

    @staticmethod
    def _product(parts: list[list[str]]) -> list[str]:
        out = ["".join(p) for p in itertools.islice(itertools.product(*parts), MAX_VARIANTS)]
        return list(dict.fromkeys(out))


def _bind(target: ast.expr, item: ast.expr) -> Env | None:
    """Bind a loop target (name or tuple of names) to one literal item."""
    if isinstance(target, ast.Name):
        return {target.id: item}
    if isinstance(target, ast.Tuple) and isinstance(item, ast.Tuple | ast.List):
        if len(target.elts) != len(item.elts):
            return None
        env: Env = {}
        for sub_target, sub_item in zip(target.elts, item.elts, strict=True):
            sub = _bind(sub_target, sub_item)
            if sub is None:
                return None
            env.update(sub)
        return env
    return None


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _callee_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _constructor_kind(module: _Module, call: ast.Call) -> str | None:
    """The metric kind a call constructs, or None when it is no metric constructor."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in module.prom_names:
        return module.prom_names[func.id]
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in module.prom_modules
        and func.attr in PROMETHEUS_KINDS
    ):
        return PROMETHEUS_KINDS[func.attr]
    name = _callee_name(func)
    match = _CLS_ATTR.match(name or "")
    return match.group(1) if match else None


def _argument(call: ast.Call, keyword: str, position: int) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args):
        return call.args[position]
    return None


def _hidden(module: _Module, node: ast.AST) -> bool:
    """True when the definition sits under an ``if`` that tests ``show_hidden_metrics``."""
    current: ast.AST | None = node
    while current is not None:
        parent = module.parents.get(current)
        if isinstance(parent, ast.If) and current in parent.body:
            if "show_hidden_metrics" in ast.unparse(parent.test):
                return True
        current = parent
    return False


def _definitions(
    module: _Module,
) -> Iterator[tuple[str, ast.AST, ast.expr | None, ast.Call, bool]]:
    """Yield ``(kind, site, name expression, call, is_metadata)`` for each definition."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            kind = _constructor_kind(module, node)
            if kind is not None:
                yield kind, node, _argument(node, "name", 0), node, False
        pairs: list[tuple[ast.expr | None, ast.expr]] = []
        if isinstance(node, ast.Dict):
            pairs = list(zip(node.keys, node.values, strict=True))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Subscript):
                pairs = [(target.slice, node.value)]
        for key, value in pairs:
            if key is None or not isinstance(value, ast.Call):
                continue
            callee = _callee_name(value.func) or ""
            match = _METADATA_CALLEE.search(callee)
            if match and _constructor_kind(module, value) is None:
                yield match.group(1).lower(), value, key, value, True


def metrics_from_source(files: dict[str, str]) -> dict[str, Any]:
    """Find the Prometheus metrics defined in ``files`` (path -> Python source).

    Returns ``{"metrics": {name: entry}, "unresolved": [...]}``; an entry has ``type``,
    ``documentation``, ``labels`` (null when not static), ``unit``, ``family``, ``series``,
    ``created_series``, ``hidden`` and ``sources`` (``path:line``).
    """
    modules: list[_Module] = []
    for path in sorted(files):
        if not _RELEVANT.search(files[path]):
            continue  # cannot define a metric nor a metric-name constant
        try:
            modules.append(_Module(path, ast.parse(files[path], filename=path)))
        except (SyntaxError, ValueError):
            continue
    resolver = _Resolver(modules)
    metrics: dict[str, dict[str, Any]] = {}
    unresolved: list[dict[str, Any]] = []
    for module in modules:
        for kind, site, name_expr, call, is_metadata in _definitions(module):
            where = f"{module.path}:{getattr(site, 'lineno', 0)}"
            found = False
            for env in resolver.loop_envs(module, site):
                names = resolver.strings(module, name_expr, env) if name_expr else []
                for name in names:
                    if not _METRIC_NAME.match(name):
                        continue
                    found = True
                    definition = _Definition(kind, name, call, site, env, where, is_metadata)
                    _record(metrics, resolver, module, definition)
            if not found:
                expr = ast.unparse(name_expr) if name_expr is not None else None
                unresolved.append({"source": where, "type": kind, "name_expression": expr})
    for entry in metrics.values():
        entry["sources"] = sorted(set(entry["sources"]), key=_source_key)
        seen = entry.pop("types_seen")
        if len(seen) > 1:
            entry["conflicting_types"] = sorted(seen)
    return {
        "metrics": dict(sorted(metrics.items())),
        "unresolved": sorted(unresolved, key=lambda u: _source_key(u["source"])),
    }


def _source_key(source: str) -> tuple[str, int]:
    path, _, line = source.rpartition(":")
    return path, int(line) if line.isdigit() else 0


class _Definition(NamedTuple):
    """One resolved metric definition site."""

    kind: str
    name: str
    call: ast.Call
    site: ast.AST
    env: Env
    where: str
    is_metadata: bool


def _record(
    metrics: dict[str, dict[str, Any]],
    resolver: _Resolver,
    module: _Module,
    definition: _Definition,
) -> None:
    """Add one resolved definition to ``metrics`` (the first definition's details win).

    Metadata tables leave labels out when the code that registers them adds its own, so a
    metadata entry without ``labelnames`` has unknown (null) labels, not an empty list.
    """
    kind, name, call, site, env, where, is_metadata = definition
    doc_expr = _argument(call, "documentation", 1)
    docs = resolver.strings(module, doc_expr, env) if doc_expr is not None else []
    documentation = docs[0] if len(docs) == 1 else None
    labels_expr = _argument(call, "labelnames", 2)
    if labels_expr is None and is_metadata:
        labels = None
    else:
        labels = resolver.string_list(module, labels_expr, env)
    unit_expr = _argument(call, "unit", 99)
    units = resolver.strings(module, unit_expr, env) if unit_expr is not None else []
    unit = units[0] if len(units) == 1 else None
    hidden = _hidden(module, site)
    if name in metrics:
        entry = metrics[name]
        entry["sources"].append(where)
        if kind not in entry["types_seen"]:
            entry["types_seen"].append(kind)
        entry["hidden"] = entry["hidden"] and hidden
        for key, value in (("documentation", documentation), ("labels", labels)):
            if entry[key] is None:
                entry[key] = value
        return
    entry: dict[str, Any] = {
        "type": kind,
        "types_seen": [kind],
        "documentation": documentation,
        "labels": labels,
        "unit": unit,
        "hidden": hidden,
        "sources": [where],
    }
    entry.update(exposed_series(name, kind, unit))
    metrics[name] = entry


def read_sources(path: Path) -> tuple[dict[str, str], str | None]:
    """Read every ``vllm/**/*.py`` from a wheel or a package directory; also the version."""
    files: dict[str, str] = {}
    version: str | None = None
    if path.is_file() and path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            for info in wheel.infolist():
                name = info.filename
                if name.startswith("vllm/") and name.endswith(".py"):
                    files[name] = wheel.read(info).decode("utf-8", errors="replace")
                elif re.fullmatch(r"vllm-[^/]+\.dist-info/METADATA", name):
                    meta = wheel.read(info).decode("utf-8", errors="replace")
                    match = re.search(r"^Version: (\S+)", meta, re.MULTILINE)
                    version = match.group(1) if match else None
        return files, version
    root = path.resolve()
    if not (root / "__init__.py").is_file():
        raise SystemExit(f"{path}: not a .whl file nor a package directory")
    for file in sorted(root.rglob("*.py")):
        rel = "vllm/" + file.relative_to(root).as_posix()
        files[rel] = file.read_text(encoding="utf-8", errors="replace")
    for dist in sorted(root.parent.glob("vllm-*.dist-info/METADATA")):
        match = re.search(r"^Version: (\S+)", dist.read_text(encoding="utf-8"), re.MULTILINE)
        version = match.group(1) if match else None
    if version is None and "vllm/_version.py" in files:
        match = re.search(r"version\s*=\s*['\"]([^'\"]+)['\"]", files["vllm/_version.py"])
        version = match.group(1) if match else None
    return files, version


def dump(data: dict[str, Any]) -> str:
    """Serialise canonically: sorted keys, indent 2, ASCII only, one trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("source", type=Path, help="a vllm .whl file or an installed vllm/ directory")
    cli.add_argument("--version", help="vLLM version (default: read from the source)")
    cli.add_argument(
        "--output",
        type=Path,
        help="output file (default: schemas/vllm/<version>-metrics.json in this repository)",
    )
    args = cli.parse_args(argv)
    files, found_version = read_sources(args.source)
    version = args.version or found_version
    if not version:
        cli.error("cannot tell the vLLM version from the source; pass --version")
    result = metrics_from_source(files)
    data = {
        "vllm_version": version,
        "generator": GENERATOR,
        "source": "prometheus_client metric definitions found by ast in vllm/**/*.py",
        "metrics": result["metrics"],
        "unresolved": result["unresolved"],
        "counts": {
            "metrics": len(result["metrics"]),
            "vllm_prefixed": sum(1 for n in result["metrics"] if n.startswith("vllm:")),
            "unresolved": len(result["unresolved"]),
        },
    }
    output = args.output or REPO_ROOT / "schemas" / "vllm" / f"{version}-metrics.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(dump(data), encoding="utf-8")
    print(f"wrote {output}: {len(result['metrics'])} metrics", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
