"""No input, however malformed, makes `modelservice validate` print a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelservice.cli import cli


def validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_INPUTS = {
    "invalid-utf8": b"model:\n  name: \xff\xfe\n",
    "nul-bytes": b"model: \x00\x00\n",
    "flow-nesting-10000": b"[" * 10_000,
    "block-nesting-10000": "".join(f"{' ' * i}k{i}:\n" for i in range(10_000)).encode(),
    "alias-bomb": b"a: &a [x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 9)}]\n".encode()
        for i in range(1, 9)
    ),
    "huge-20mb": b"# padding\n" * 2_000_000,
    "only-a-comment": b"# nothing here\n",
    "a-scalar": b"42\n",
    "a-list": b"- model\n",
    "two-documents": b"model: {name: a/b}\n---\nmodel: {name: c/d}\n",
    "tabs": b"model:\n\tname: a/b\n",
    "duplicate-keys": b"model:\n  name: a/b\n  name: c/d\n",
    "unclosed-quote": b'model:\n  name: "a/b\n',
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_malformed_input_is_one_problem_line_and_exit_1(tmp_path: Path, name: str):
    code, output = validate(write(tmp_path, f"{name}.yaml", BAD_INPUTS[name]))
    assert code == 1
    assert "Traceback" not in output
    first = output.splitlines()[0]
    assert first.startswith(str(tmp_path / f"{name}.yaml") + ":")
    assert first.endswith("]")


def test_a_missing_file_and_a_directory_are_problems_not_tracebacks(tmp_path: Path):
    from modelservice.values.loader import load_file

    code, output = validate(tmp_path / "missing.yaml")
    assert (code, "no such file" in output) == (1, True)
    # validate reads a folder as its values files (tests/test_cli_render.py); one without any
    # is refused in a line, and the loader refuses a directory given as a file
    code, output = validate(tmp_path)
    assert (code, "no *.yaml values files in this folder" in output) == (1, True)
    assert "Traceback" not in output
    (problem,) = load_file(tmp_path).problems
    assert (problem.rule, problem.message) == (
        "file-unreadable",
        "is a directory, not a values file",
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_produce_a_traceback(tmp_path: Path, data: bytes):
    code, output = validate(write(tmp_path, "random.yaml", data))
    assert code in (0, 1)
    assert "Traceback" not in output


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["yes", "no", "on", "off", "010", "0x1F", "1:20", "~", "2024-01-01"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "model",
                    "name",
                    "gpu",
                    "count",
                    "engine",
                    "args",
                    "env",
                    "x",
                    "vgpu",
                    "persistence",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=yaml_values)
def test_generated_yaml_documents_never_produce_a_traceback(tmp_path: Path, document):
    from ruamel.yaml import YAML

    path = tmp_path / "doc.yaml"
    with path.open("w", encoding="utf-8") as handle:
        YAML(typ="safe", pure=True).dump(document, handle)
    code, output = validate(path)
    assert code in (0, 1)
    assert "Traceback" not in output


def test_helms_go_logger_never_reaches_stderr_beside_the_problem_lines(tmp_path: Path):
    """Helm's coalescing logs wrong-typed values straight to file descriptor 2; a real
    process shows whether anything but the problem line got through."""
    import shutil
    import subprocess
    import sys

    exe = shutil.which("modelservice", path=str(Path(sys.executable).parent))
    assert exe, "the modelservice console script is installed beside the interpreter"
    path = write(tmp_path, "typed.yaml", b"model:\n  name: a/b\n  download: true\n")
    result = subprocess.run([exe, "validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:3:13: /model/download: true is not of type object [schema-type]"
    ]
