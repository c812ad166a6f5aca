"""The CLI as a wheel: built from the checkout, installed into a fresh venv outside it (offline,
from the wheelhouse `make tools` keeps in ~/.cache/modelservice), and working there: the
chart and schemas travel inside the package, `render` and `bake` need nothing else."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from kube_harness import cache_dir

from conftest import EXAMPLES, ROOT
from modelservice import __version__

QWEN = EXAMPLES / "qwen2.5-0.5b-instruct-hf-mirror.yaml"


def wheelhouse() -> Path:
    path = cache_dir() / "wheelhouse"
    if not (path / ".complete").is_file():
        raise FileNotFoundError(f"{path} is missing: run `make tools` (tools/test-binaries.sh)")
    return path


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*map(str, args)], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `modelservice` script of a fresh venv (outside the checkout) holding only the wheel
    and its dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    assert not work.resolve().is_relative_to(ROOT)
    built = run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
        "--find-links", wheelhouse(), "--wheel-dir", work / "dist", ROOT,
        cwd=work,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("modelservice-*.whl")
    assert wheel.name == f"modelservice-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    for member in (
        "modelservice/_data/chart/Chart.yaml",
        "modelservice/_data/chart/values-map.yaml",
        "modelservice/_data/chart/templates/deployment.yaml",
        "modelservice/_data/schemas/values.schema.yaml",
        "modelservice/templates/chart-README.md.j2",
        "modelservice/py.typed",
    ):
        assert member in names, member
    venv = work / "venv"
    made = run(sys.executable, "-m", "venv", venv, cwd=work)
    assert made.returncode == 0, made.stderr
    pip = run(
        venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index",
        "--find-links", wheelhouse(), wheel,
        cwd=work,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    return venv / "bin" / "modelservice"


def test_the_installed_cli_reports_the_charts_version(installed):
    done = run(installed, "--version", cwd=installed.parent)
    assert done.stdout == f"modelservice, version {__version__}\n"


def test_the_installed_cli_renders_outside_the_checkout_what_the_checkout_renders(
    installed, tmp_path
):
    values = tmp_path / "qwen.yaml"
    values.write_text(QWEN.read_text(encoding="utf-8"), encoding="utf-8")
    outside = run(installed, "render", "qwen.yaml", cwd=tmp_path)
    assert outside.returncode == 0, outside.stderr
    inside = run(ROOT / ".venv" / "bin" / "modelservice", "render", values, cwd=ROOT)
    assert inside.returncode == 0, inside.stderr
    assert "kind: Deployment" in outside.stdout
    assert outside.stdout == inside.stdout


def test_the_installed_cli_bakes_a_chart_that_validates_and_renders(installed, tmp_path):
    baked = run(
        installed, "bake",
        "--defaults", EXAMPLES / "platform" / "defaults.yaml",
        "--constraints", EXAMPLES / "platform" / "constraints.yaml",
        "--name", "platform-modelservice", "--version", "1.0.0", "--output", "platform-chart",
        cwd=tmp_path,
    )  # fmt: skip
    assert baked.returncode == 0, baked.stderr
    assert (tmp_path / "platform-chart" / "values.schema.json").is_file()
    big = tmp_path / "big.yaml"
    big.write_text("model:\n  name: a/b\ngpu:\n  count: 16\n", encoding="utf-8")
    refused = run(installed, "validate", "--chart", "platform-chart", "big.yaml", cwd=tmp_path)
    assert refused.returncode == 1
    assert "big.yaml:4:10: /gpu/count: 16 must be <= 8 [schema-maximum]" in refused.stderr
    rendered = run(installed, "render", "--chart", "platform-chart", QWEN, cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert "registry.example.com/mirror/vllm/vllm-openai" in rendered.stdout
