"""Run every benchmark in bench/ and print their markdown tables (`make bench`)."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def compile_bytecode() -> None:
    """Compile the toolkit's modules once, as installing its wheel does: in a source checkout
    run with PYTHONDONTWRITEBYTECODE (CI sets it) every run would compile every module again,
    which a user's install never does."""
    import compileall

    import modelservice

    compileall.compile_dir(Path(modelservice.__file__).parent, quiet=1)


def main() -> None:
    compile_bytecode()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}\n"
    )
    for path in sorted(HERE.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        print(f"### {path.stem.removeprefix('bench_')}\n")
        module.main()
        print()


if __name__ == "__main__":
    main()
