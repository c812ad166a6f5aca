"""Long work shows progress: on a terminal, `validate` and `render` over many files draw a bar on
stderr and end with a summary line (files, problems, time); off a terminal they write neither,
and stderr stays one line per problem. The terminal is a real pseudo-terminal."""

from __future__ import annotations

import io
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES
from modelservice.cli.progress import Progress
from modelservice.core.parallel import map_chunks

CLI = [sys.executable, "-m", "modelservice.cli"]
QWEN = EXAMPLES / "qwen2.5-0.5b-instruct-hf-mirror.yaml"
TYPO = "model:\n  nmae: Qwen/Qwen2.5-0.5B-Instruct\n"
TYPO_LINE = "/model/nmae: unknown key `nmae` at model (did you mean `name`?) [schema-unknown-key]"
BAR = re.compile(r"\r(validate|render) \[[#.]{30}\] (\d+)/(\d+) files, \d+\.\d s")
SUMMARY = re.compile(r"^(validate|render): (\d+) files?, (.*), \d+\.\d\d s$")


def on_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe): exit code, the terminal's
    text (newlines as the terminal sends them, \\r\\n made \\n) and stdout."""
    master, slave = pty.openpty()
    with subprocess.Popen(
        [*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL
    ) as process:
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        stdout = process.stdout.read().decode()
        code = process.wait()
    os.close(master)
    return code, b"".join(chunks).decode().replace("\r\n", "\n"), stdout


def off_terminal(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True)


def values_files(folder: Path, count: int, typo_at: int | None = None) -> list[str]:
    names = []
    for index in range(count):
        path = folder / f"m{index:03d}.yaml"
        if index == typo_at:
            path.write_text(TYPO, encoding="utf-8")
        else:
            shutil.copyfile(QWEN, path)
        names.append(path.name)
    return names


def frames(text: str) -> list[tuple[str, int, int]]:
    return [(m[1], int(m[2]), int(m[3])) for m in BAR.finditer(text)]


def test_validate_over_many_files_on_a_terminal_shows_a_bar_then_the_problems_and_a_summary(
    tmp_path,
):
    # 70 files: more than parallel.MIN_ITEMS_FOR_POOL, so workers report their chunks.
    names = values_files(tmp_path, 70, typo_at=5)
    code, text, stdout = on_terminal(["validate", *names], tmp_path)
    assert code == 1
    assert stdout == ""
    shown = frames(text)
    assert shown[0] == ("validate", 0, 70)
    assert shown[-1] == ("validate", 70, 70)
    assert [done for _, done, _ in shown] == sorted(done for _, done, _ in shown)
    # The bar is erased before the problems, which keep their one-line form; the summary ends.
    after_bar = text[text.rindex("\r\x1b[K") + len("\r\x1b[K") :]
    lines = after_bar.splitlines()
    assert lines[0] == f"m005.yaml:2:3: {TYPO_LINE}"
    summary = SUMMARY.match(lines[-1])
    assert summary is not None, lines[-1]
    assert summary.groups()[:3] == ("validate", "70", "1 problem (1 error, 0 warnings)")
    assert len(lines) == 2


def test_validate_off_a_terminal_writes_only_the_problem_lines(tmp_path):
    names = values_files(tmp_path, 70, typo_at=5)
    done = off_terminal(["validate", *names], tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"m005.yaml:2:3: {TYPO_LINE}\n"


def test_one_valid_file_on_a_terminal_gets_a_summary_but_no_bar(tmp_path):
    (name,) = values_files(tmp_path, 1)
    code, text, _ = on_terminal(["validate", name], tmp_path)
    assert code == 0
    assert frames(text) == []
    assert SUMMARY.match(text.strip()).groups()[:3] == ("validate", "1", "no problems")


def test_render_into_folders_on_a_terminal_shows_a_bar_then_the_folders_and_a_summary(tmp_path):
    names = values_files(tmp_path, 3)
    code, text, stdout = on_terminal(["render", "--output-dir", "out", *names], tmp_path)
    assert code == 0, text
    assert stdout == ""
    assert frames(text)[0] == ("render", 0, 3)
    assert frames(text)[-1] == ("render", 3, 3)
    lines = text[text.rindex("\r\x1b[K") + 4 :].splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["out/m000", "out/m001", "out/m002"]
    assert SUMMARY.match(lines[-1]).groups()[:3] == ("render", "3", "no problems")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m000", "m001", "m002"]


def test_render_with_an_invalid_file_on_a_terminal_reports_it_then_the_summary(tmp_path):
    names = values_files(tmp_path, 3, typo_at=1)
    code, text, stdout = on_terminal(["render", *names], tmp_path)
    assert code == 1
    assert stdout == ""  # nothing is rendered from invalid input
    lines = text[text.rindex("\r\x1b[K") + 4 :].splitlines()
    assert lines[0] == f"m001.yaml:2:3: {TYPO_LINE}"
    assert SUMMARY.match(lines[1]).groups()[:3] == (
        "render",
        "3",
        "1 problem (1 error, 0 warnings)",
    )
    assert len(lines) == 2


def test_render_to_stdout_off_a_terminal_writes_only_manifests_and_nothing_on_stderr(tmp_path):
    names = values_files(tmp_path, 3)
    done = off_terminal(["render", *names], tmp_path)
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout.count("kind: Deployment") == 3


def test_the_bar_counts_to_the_total_and_the_summary_counts_errors_and_warnings():
    from modelservice.core.problem import Problem

    stream = io.StringIO()
    progress = Progress(5, "validate", stream=stream, enabled=True)
    for _ in range(5):
        progress.advance()
    progress.finish(
        [
            Problem("a.yaml", 1, 1, "/x", "bad", "schema-type"),
            Problem("a.yaml", 2, 1, "/y", "odd", "image-tag-latest", severity="warning"),
        ]
    )
    progress.summary()
    text = stream.getvalue()
    assert frames(text)[0] == ("validate", 0, 5)
    assert frames(text)[-1] == ("validate", 5, 5)
    assert re.search(r"\r\x1b\[Kvalidate: 5 files, 2 problems \(1 error, 1 warning\), ", text)


def test_a_stream_that_is_not_a_terminal_gets_nothing():
    stream = io.StringIO()
    progress = Progress(100, "render", stream=stream)
    progress.advance(100)
    progress.finish([])
    progress.summary()
    assert stream.getvalue() == ""


@pytest.mark.parametrize("count", [1, 17, 200])
def test_work_in_chunks_with_progress_keeps_the_order_and_reports_every_item(count):
    told: list[int] = []
    assert map_chunks(_double, list(range(count)), told.append) == [2 * i for i in range(count)]
    assert sum(told) == count


def _double(items):
    return [2 * i for i in items]
