"""Nothing the toolkit writes lands outside the folder it was told to write into, and no input
is ever lost: `render --output-dir`, `bake --output`, `init -o` and `package --destination`
refuse a symbolic link in their way (never follow it), write by rename, never replace or delete
what they read, and say in one line when a folder takes no files (`/proc`, read-only)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CHART, EXAMPLES, ROOT
from modelservice.cli import cli

QWEN = "model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\n"
DEFAULTS = EXAMPLES / "platform" / "defaults.yaml"
VICTIM = "a file outside the output folder\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    # a user's mistake is an exit code and a line, never an exception escaping the command
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "internal error" not in lines[0] and "Traceback" not in err
    return lines[0]


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Path, Path]:
    """A values file and an output folder a first render wrote (release `chat`)."""
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    out = tmp_path / "out"
    code, _, err = run("render", str(values), "--output-dir", str(out))
    assert code == 0, err
    return values, out


def victim(tmp_path: Path) -> Path:
    outside = tmp_path / "elsewhere"
    outside.mkdir(exist_ok=True)
    file = outside / "precious.yaml"
    file.write_text(VICTIM)
    return file


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.is_symlink()}  # fmt: skip


# -- render --output-dir ---------------------------------------------------------------------


def test_a_manifest_file_linked_to_a_file_outside_is_refused_and_the_file_is_untouched(
    tmp_path, rendered
):
    values, out = rendered
    target = victim(tmp_path)
    link = out / "chat" / "service-chat-modelservice.yaml"
    link.unlink()
    link.symlink_to(target)
    values.write_text(QWEN + "service:\n  port: 9000\n")
    before = snapshot(out)
    code, _, err = run("render", str(values), "--output-dir", str(out))
    assert code == 1
    assert one_line(err) == (
        f"modelservice: {link}: a symbolic link (to {target}); render --output-dir never writes "
        "through a link, lest it overwrite what the link points to: remove the link, or write "
        "elsewhere"
    )
    assert target.read_text() == VICTIM
    assert snapshot(out) == before  # refused before the first write
    assert link.is_symlink()


def test_a_hooks_folder_linked_elsewhere_is_refused_and_nothing_there_is_written_or_removed(
    tmp_path, rendered
):
    values, out = rendered
    elsewhere = victim(tmp_path).parent
    hooks = out / "chat" / "hooks"
    for hook in hooks.iterdir():  # what an earlier render wrote, now in the linked folder
        shutil.move(hook, elsewhere / hook.name)
    hooks.rmdir()
    hooks.symlink_to(elsewhere)
    before = snapshot(elsewhere)
    values.write_text(QWEN + "tests:\n  enabled: false\n")  # the test pod would be removed
    code, _, err = run("render", str(values), "--output-dir", str(out))
    assert code == 1
    assert "hooks: a symbolic link" in one_line(err)
    assert snapshot(elsewhere) == before


def test_a_release_folder_linked_elsewhere_is_refused(tmp_path, rendered):
    values, out = rendered
    real = tmp_path / "real-chat"
    (out / "chat").rename(real)
    (out / "chat").symlink_to(real)
    before = snapshot(real)
    values.write_text(QWEN + "service:\n  port: 9000\n")
    code, _, err = run("render", str(values), "--output-dir", str(out))
    assert code == 1
    assert f"{out / 'chat'}: a symbolic link (to {real})" in one_line(err)
    assert snapshot(real) == before


def test_a_linked_manifest_list_is_refused(tmp_path, rendered):
    values, out = rendered
    manifest = out / "chat" / ".modelservice-manifest"
    target = victim(tmp_path)
    manifest.unlink()
    manifest.symlink_to(target)
    code, _, err = run("render", str(values), "--output-dir", str(out))
    assert code == 1
    assert ".modelservice-manifest: a symbolic link" in one_line(err)
    assert target.read_text() == VICTIM


def test_a_file_is_replaced_by_rename_so_a_hard_link_outside_keeps_the_old_content(
    tmp_path, rendered
):
    """A hard link cannot be seen as a link: only writing a new file and renaming it over the
    old one leaves the other name of the old file alone (and a reader never sees half a file)."""
    values, out = rendered
    service = out / "chat" / "service-chat-modelservice.yaml"
    outside = tmp_path / "hard-link.yaml"
    os.link(service, outside)
    old = outside.read_bytes()
    values.write_text(QWEN + "service:\n  port: 9000\n")
    code, _, err = run("render", str(values), "--output-dir", str(out))
    assert code == 0, err
    assert outside.read_bytes() == old
    assert b"port: 9000" in service.read_bytes()
    assert not [p for p in (out / "chat").rglob(".*.tmp")]  # no temporary file left


def test_one_refused_release_folder_means_no_release_folder_is_written(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(QWEN)
    second.write_text(QWEN)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b").symlink_to(victim(tmp_path).parent)
    code, _, err = run("render", str(first), str(second), "--output-dir", str(out))
    assert code == 1
    assert "b: a symbolic link" in err
    assert not (out / "a").exists()


def test_a_release_folder_that_is_the_chart_is_refused(tmp_path):
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    values = tmp_path / "x.yaml"
    values.write_text(QWEN)
    before = snapshot(chart)
    code, _, err = run(
        "render", str(values), "--chart", str(chart), "--output-dir", str(tmp_path),
        "--release", "chart",
    )  # fmt: skip
    assert code == 1
    assert "an input of this render" in one_line(err)
    assert snapshot(chart) == before


def test_an_output_folder_in_proc_is_one_line_not_an_internal_error(tmp_path):
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    code, _, err = run("render", str(values), "--output-dir", "/proc/modelservice-out")
    assert code == 1
    assert one_line(err) == (
        "modelservice: /proc/modelservice-out: cannot create this folder: /proc takes no new "
        "files or folders (give a folder you can write to)"
    )


def test_a_read_only_output_folder_is_one_line(tmp_path):
    """Read-only as a mount, which binds root too: a private mount namespace (unshare) binds
    the folder read-only over itself, and the render runs inside it."""
    values = tmp_path / "chat.yaml"
    values.write_text(QWEN)
    out = tmp_path / "ro"
    out.mkdir()
    script = (
        f'mount --bind -o ro "{out}" "{out}" && exec "{sys.executable}" -m modelservice '
        f'render "{values}" --output-dir "{out}"'
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "generator")}
    proc = subprocess.run(
        ["unshare", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert one_line(proc.stderr) == (
        f"modelservice: {out / 'chat'}: cannot create this folder: Read-only file system "
        "(give a folder you can write to)"
    )
    assert list(out.iterdir()) == []


# -- bake --output -----------------------------------------------------------------------------


def bake_into(output: Path, defaults: Path, *extra: str) -> tuple[int, str]:
    code, _, err = run(
        "bake", "--defaults", str(defaults), "--name", "p", "--version", "1.0.0",
        "--output", str(output), *extra,
    )  # fmt: skip
    return code, err


def test_bake_force_into_the_folder_of_its_defaults_keeps_the_defaults(tmp_path):
    folder = tmp_path / "platform"
    folder.mkdir()
    defaults = folder / "defaults.yaml"
    shutil.copy(DEFAULTS, defaults)
    code, err = bake_into(folder, defaults, "--force")
    assert code == 1
    assert one_line(err) == (
        f"modelservice: {folder}: holds {defaults}, an input of this bake, which replacing the "
        "directory would delete; bake into another directory"
    )
    assert defaults.read_bytes() == DEFAULTS.read_bytes()


def test_bake_force_into_a_parent_of_its_constraints_keeps_them(tmp_path):
    (tmp_path / "rules").mkdir()
    constraints = tmp_path / "rules" / "constraints.yaml"
    constraints.write_text("maxGPUs: 8\n")
    code, err = bake_into(tmp_path, DEFAULTS, "--constraints", str(constraints), "--force")
    assert code == 1
    assert f"holds {constraints}, an input of this bake" in one_line(err)
    assert constraints.read_text() == "maxGPUs: 8\n"


def test_bake_into_a_folder_inside_the_base_chart_is_refused(tmp_path):
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    code, err = bake_into(chart / "baked", DEFAULTS, "--chart", str(chart))
    assert code == 1
    assert f"inside the base chart {chart}" in one_line(err)
    assert not (chart / "baked").exists()


def test_bake_output_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    target = victim(tmp_path).parent
    link = tmp_path / "out"
    link.symlink_to(target)
    code, err = bake_into(link, DEFAULTS, "--force")
    assert code == 1
    assert f"{link}: a symbolic link (to {target})" in one_line(err)
    assert snapshot(target) == {"precious.yaml": VICTIM.encode()}


def test_bake_output_in_proc_is_one_line_not_an_internal_error(tmp_path):
    code, err = bake_into(Path("/proc/modelservice-baked"), DEFAULTS)
    assert code == 1
    assert one_line(err) == (
        "modelservice: /proc/modelservice-baked: cannot write: /proc takes no new files or "
        "folders (give a folder you can write to)"
    )


def test_bake_force_swaps_in_the_new_chart_and_leaves_nothing_beside_it(tmp_path):
    output = tmp_path / "baked"
    assert bake_into(output, DEFAULTS)[0] == 0
    code, err = bake_into(output, DEFAULTS, "--force")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baked"]
    assert (output / "Chart.yaml").is_file()


# -- init -o, package --destination ------------------------------------------------------------


def test_init_output_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    target = victim(tmp_path)
    link = tmp_path / "values.yaml"
    link.symlink_to(target)
    code, _, err = run("init", "--model", "org/m", "-o", str(link), "--force")
    assert code == 1
    assert f"{link}: a symbolic link (to {target})" in one_line(err)
    assert target.read_text() == VICTIM


def test_init_output_inside_the_chart_is_refused(tmp_path):
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    before = values.read_bytes()
    code, _, err = run("init", "--model", "org/m", "--chart", str(chart), "-o", str(values),
                       "--force")  # fmt: skip
    assert code == 1
    assert f"{values}: inside the chart {chart}" in one_line(err)
    assert values.read_bytes() == before


def test_init_output_in_proc_is_one_line(tmp_path):
    code, _, err = run("init", "--model", "org/m", "-o", "/proc/values.yaml")
    assert code == 1
    assert one_line(err) == (
        "modelservice: /proc/values.yaml: cannot write: /proc takes no new files or folders "
        "(give a folder you can write to)"
    )


def test_package_archive_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    import yaml

    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    target = victim(tmp_path)
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / f"modelservice-{version}.tgz").symlink_to(target)
    code, _, err = run("package", "--destination", str(dist))
    assert code == 1
    assert "a symbolic link" in one_line(err)
    assert target.read_text() == VICTIM
    assert sorted(p.name for p in dist.iterdir()) == [f"modelservice-{version}.tgz"]


def test_package_destination_in_proc_is_one_line():
    code, _, err = run("package", "--destination", "/proc/modelservice-dist")
    assert code == 1
    assert "/proc takes no new files or folders" in one_line(err)
