"""Lines and words a user can act on: the real line of a duplicate's first definition, `null`
and `true` as the user wrote them (never Python's `None`, `True`), a no-break-space indent
named with its fix, `null` accepted where Helm and the API server accept it, the timestamp
warning that keeps the `Z`, special files refused at once, a namespace checked as usage."""

from __future__ import annotations

import copy
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from conftest import CASES, CHART, EXAMPLES, ROOT, Objects, render_values
from modelservice.cli import cli
from modelservice.validate import validate_loaded
from modelservice.values.loader import load_file, load_text

QWEN = "model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\n"


def validate(path: Path, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["validate", *extra, str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr.splitlines()


def test_a_duplicate_top_level_key_names_the_line_of_its_first_definition():
    path = CASES / "invalid" / "yaml-duplicate-top-level-key-below-a-comment.yaml"
    code, lines = validate(path)
    assert code == 1
    assert lines == [
        f"{path}:7:1: /model: duplicate key `model` (first defined on line 5): Helm would "
        "silently keep only one of them [yaml-duplicate-key]"
    ]


def test_a_duplicate_nested_key_names_its_first_line_and_its_pointer(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text(QWEN + "env:\n  - name: A\n    value: x\n    value: y\n")
    code, lines = validate(path)
    assert code == 1
    assert lines == [
        f"{path}:6:5: /env/0/value: duplicate key `value` (first defined on line 5): Helm "
        "would silently keep only one of them [yaml-duplicate-key]"
    ]


# -- null and true as written -------------------------------------------------------------------

PYTHON_WORDS = re.compile(r"\b(None|True|False)\b")


def test_messages_say_null_and_true_as_the_user_wrote_them(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text(
        QWEN + "resources:\n  limits:\n    cpu: null\n    memory: true\n"
        "tolerations:\n  - key: gpu\n    operator: Exists\n    effect: true\n"
        "nodeSelector:\n  disk: null\n"
    )
    code, lines = validate(path)
    assert code == 1
    assert lines and not [ln for ln in lines if PYTHON_WORDS.search(ln.split(": ", 2)[-1])]
    assert any("null is not of type" in ln for ln in lines), lines
    assert any("true is not of type" in ln for ln in lines), lines


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _leaves(item, (*path, index))
    return found


#: Examples whose keys reach every family of message: pass-through Kubernetes objects
#: (tolerations, affinity, volumes), KEDA triggers, engine arguments with another image.
SWAPPED_EXAMPLES = [
    EXAMPLES / "a100-node-pool.yaml",
    EXAMPLES / "local-model-existing-claim.yaml",
    EXAMPLES / "qwen2.5-7b-autoscaled.yaml",
    CASES / "valid" / "gpu-amd-with-the-rocm-image.yaml",
]


@pytest.mark.parametrize("example", SWAPPED_EXAMPLES, ids=lambda p: p.stem)
def test_any_key_set_to_null_true_a_map_or_a_list_gets_messages_never_a_crash_or_python_words(
    example: Path,
):
    """Each key of the example in turn holds null, true, {x: null} or [null]: validate reports
    (it found `'bool' object has no attribute 'get'` for `image: true` beside engine.args,
    `unhashable type` for a volume name that is a map, and `None is not one of ...`)."""
    data = load_file(example).data
    for path in _leaves(data):
        for swapped in (None, True, {"x": None}, [None]):
            changed = copy.deepcopy(data)
            node = changed
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = swapped
            result = validate_loaded(load_text(yaml.safe_dump(changed), "v.yaml"), CHART)
            for problem in result.problems:
                assert not PYTHON_WORDS.search(problem.message), (path, swapped, problem)


# -- a no-break-space indent ---------------------------------------------------------------------


def test_a_no_break_space_indent_is_one_problem_naming_the_character_and_the_fix(tmp_path):
    path = tmp_path / "pasted.yaml"
    path.write_text(
        "model:\n\u00a0\u00a0name: Qwen/Qwen2.5-0.5B-Instruct\n\u00a0\u00a0revision: main\n"
    )
    code, lines = validate(path)
    assert code == 1
    assert lines == [
        f"{path}:2:1: /: 2 U+00A0 NO-BREAK SPACE characters indent this line, which YAML does "
        "not count as a space, so what follows is read as text rather than the key or value it "
        "looks like; so does line 3; replace them with plain spaces "
        f"(sed -i 's/\\xc2\\xa0/ /g' {path}) [yaml-odd-space]"
    ]


def test_the_printed_sed_command_fixes_the_file(tmp_path):
    path = tmp_path / "pasted.yaml"
    path.write_text("model:\n\u00a0\u00a0name:\u00a0Qwen/Qwen2.5-0.5B-Instruct\n")
    _, lines = validate(path)
    command = re.search(r"\((sed -i .*)\) \[yaml-odd-space\]$", lines[0]).group(1)
    subprocess.run(["sh", "-c", command], check=True)
    assert validate(path, "--strict") == (0, [])


def test_no_break_spaces_inside_text_are_text(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text(
        QWEN + "podAnnotations:\n  note: |\n    \u00a0indented prose\n"
        '  quoted: "a:\u00a0b"\n  plain: a:\u00a0b  # and in a comment: x:\u00a0y\n'
    )
    assert validate(path, "--strict") == (0, [])


# -- null where Helm and the API server take it --------------------------------------------------


def test_a_cpu_request_set_to_null_is_deleted_by_helms_merge_and_the_api_server_accepts_it(
    apiserver,
):
    path = CASES / "valid" / "cpu-request-deleted-with-null.yaml"
    assert validate(path, "--strict") == (0, [])
    rendered = render_values(load_file(path).data)
    server = Objects(rendered).server
    assert "cpu" not in server["resources"]["requests"]
    assert server["resources"]["requests"]["memory"] == "16Gi"
    apiserver.ensure_namespace("null-cpu")
    objects = rendered.objects()
    assert apiserver.dry_run(objects, namespace="null-cpu") == [None] * len(objects)


def test_a_toleration_with_an_empty_or_null_operator_and_effect_passes_as_on_the_api_server(
    tmp_path, apiserver
):
    """The API server decodes null as the empty string: an empty operator means Equal, an
    empty effect every effect. Both used to be refused (`None is not one of ...`)."""
    path = tmp_path / "v.yaml"
    path.write_text(
        QWEN + "tolerations:\n"
        '  - {key: a, operator: "", effect: ""}\n'
        "  - {key: b, operator: null, effect: null}\n"
        "  - {key: c, operator: Exists, effect: null}\n"
    )
    assert validate(path, "--strict") == (0, [])
    objects = render_values(load_file(path).data).objects()
    apiserver.ensure_namespace("null-toleration")
    assert apiserver.dry_run(objects, namespace="null-toleration") == [None] * len(objects)


# -- the timestamp warning -----------------------------------------------------------------------


def test_the_timestamp_warning_quotes_the_value_as_written_z_included():
    path = CASES / "invalid" / "yaml-timestamp-is-text-to-helm-and-a-date-to-others.yaml"
    code, lines = validate(path)
    assert code == 0
    (line,) = lines
    assert '`2024-01-01T10:00:00Z` is the text "2024-01-01T10:00:00Z" to Helm' in line
    assert 'quote it ("2024-01-01T10:00:00Z") to keep the text Helm reads' in line


def test_quoting_as_the_warning_says_keeps_the_value_helm_reads_and_ends_the_warning(tmp_path):
    from modelservice.values.loader import helm_reading

    source = CASES / "invalid" / "yaml-timestamp-is-text-to-helm-and-a-date-to-others.yaml"
    text = source.read_text()
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(text.replace("2024-01-01T10:00:00Z", '"2024-01-01T10:00:00Z"'))
    assert helm_reading(fixed.read_text()) == helm_reading(text)
    assert validate(fixed, "--strict") == (0, [])


def test_helms_reader_makes_a_number_of_digit_separators():
    """What the warning about `8_000` says of Helm, asked of Helm's own reader."""
    from modelservice.values.loader import helm_reading

    assert helm_reading("a: 8_000\nb: 1_0.5\nc: '8_000'\n") == {"a": 8000, "b": 10.5, "c": "8_000"}


# -- special files -------------------------------------------------------------------------------


def _special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    sock = tmp_path / "sock.yaml"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    server.close()
    return {
        "a FIFO (named pipe)": fifo,
        "a socket": sock,
        "a character device": Path("/dev/zero"),
    }


def test_a_fifo_a_socket_or_a_device_is_refused_at_once_never_read(tmp_path):
    """In a child process with a deadline: reading a FIFO without a writer, or /dev/zero,
    would never end."""
    files = _special_files(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "modelservice", "validate", *map(str, files.values())],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "generator")},
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[: len(files)] == [
        f"{path}:1:1: /: is {kind}, not a regular file (reading it might never end); give a "
        "values file [file-unreadable]"
        for kind, path in files.items()
    ]


def test_a_fifo_given_as_the_plan_config_is_refused_at_once(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    values = tmp_path / "v.yaml"
    values.write_text(QWEN)
    proc = subprocess.run(
        [sys.executable, "-m", "modelservice", "plan", str(values), "--config", str(fifo),
         "--gpu-memory", "80GiB"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "generator")},
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"modelservice: {fifo}: is a FIFO (named pipe), not a regular file (reading it might "
        "never end); give a config.json file"
    )


# -- the namespace -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["render", "check"])
def test_a_namespace_that_is_no_dns_label_is_a_usage_error(tmp_path, command):
    values = tmp_path / "v.yaml"
    values.write_text(QWEN)
    result = CliRunner().invoke(cli, [command, str(values), "--namespace", "Bad_NS"])
    assert result.exit_code == 2
    assert (
        "Invalid value for '--namespace': 'Bad_NS' is not a namespace name: a DNS-1123 label, "
        "at most 63 lowercase letters, digits and '-', starting and ending with a letter or "
        "digit (e.g. 'bad-ns')"
    ) in result.stderr
    assert result.stdout == ""
