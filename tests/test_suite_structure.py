"""The suite itself: test modules share helpers through conftest.py and helper modules beside
it (case_files, promql, cluster_seed, vllm_env, kube_harness, ...), never through one another,
and they use the package's public names only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MODULES = sorted(TESTS.glob("*.py"))


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) of every import, at any depth."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _package_aliases(tree: ast.AST) -> set[str]:
    """Local names bound to the package or one of its modules (``from modelservice.schema
    import generate``, ``import modelservice.validate as v``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "modelservice":
                    names.add(alias.asname or "modelservice")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modelservice"):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def imported_test_modules(tree: ast.AST) -> list[str]:
    """The test modules ``tree`` imports."""
    imported = {module.split(".")[0] for module, _ in _imports(tree)}
    return sorted(m for m in imported if m.startswith("test_"))


def private_names_used(tree: ast.AST) -> list[str]:
    """The package's private names ``tree`` imports or reads off a module of the package."""
    private = [
        f"{module}.{name}"
        for module, names in _imports(tree)
        if module.split(".")[0] == "modelservice"
        for name in (*module.split("."), *names)
        if _private(name)
    ]
    aliases = _package_aliases(tree)
    private += [
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in aliases
        and _private(node.attr)
    ]
    return private


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_test_module_imports_no_other_test_module(path: Path):
    assert imported_test_modules(ast.parse(path.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_the_suite_uses_only_the_packages_public_names(path: Path):
    assert private_names_used(ast.parse(path.read_text(encoding="utf-8"))) == []


def test_the_two_checks_above_find_what_they_look_for():
    source = (
        "from test_check import unique\n"
        "import test_metrics\n"
        "from modelservice.render import _Job, render_files\n"
        "from modelservice.schema import generate\n"
        "import modelservice.validate as v\n"
        "generate._values_yaml(v._stage, helper._private)\n"
    )
    tree = ast.parse(source)
    assert imported_test_modules(tree) == ["test_check", "test_metrics"]
    assert sorted(private_names_used(tree)) == [
        "generate._values_yaml",
        "modelservice.render._Job",
        "v._stage",
    ]
