"""vLLM's own verdict on server command lines: run in an interpreter where vLLM is installed.

This file is a program, not a module of the toolkit: ``modelservice validate --vllm PYTHON``
(and the test suite) run it as ``PYTHON engine_check.py`` with a JSON request on stdin and read
one JSON line from stdout. It imports only the standard library at the top, so any Python with
vLLM can run it; vLLM is imported once for every case of the request.

For each case it writes the model's config.json (and a draft model's) into a folder, puts the
folder in the place of the model on the command line, parses the command line with vLLM's own
parser and runs ``EngineArgs.create_engine_config()``: the model, cache, parallel, scheduler,
speculative and LoRA configs and their assembly, with no weights and no tokenizer
(``skip_tokenizer_init``: the folder holds config.json only; the reasoning parser, which vLLM
builds with the tokenizer, is left to the parser's check of its name). On a CPU build without
Triton, vLLM's choice of model runner is made as on a GPU host, where Triton is installed. The
answer of a case is ``{"ok": true}`` or ``{"ok": false, "error": TEXT, "kind": EXCEPTION}``.

Request: ``{"cases": [{"id": ..., "argv": [...], "config": {...}, "paths": {TEXT: CONFIG},
"env": {...}}]}``: ``argv`` are the server's arguments with the model first; ``paths`` maps a
path of the command line (a draft model's folder) to that model's config.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Environment variables a case may set for vLLM (the server container's literal values).
CASE_ENV = ("VLLM_ALLOW_LONG_MAX_MODEL_LEN",)


def _folder(root: Path, name: str, config: dict[str, Any]) -> str:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return str(folder)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # pydantic's ValidationError: the title line, then the field and its message
    kept = [line for line in lines if not line.startswith("For further information")]
    return " | ".join(kept[:16]) or type(error).__name__


def run_case(parser: Any, engine_args: Any, case: dict[str, Any], root: Path) -> dict[str, Any]:
    index = str(case.get("id"))
    model = _folder(root, f"{index}-model", case["config"])
    argv = [str(a) for a in case["argv"]]
    for number, (path, config) in enumerate((case.get("paths") or {}).items()):
        local = _folder(root, f"{index}-path{number}", config)
        argv = [a.replace(path, local) for a in argv]
    argv = [model, *argv[1:]]
    saved = {name: os.environ.get(name) for name in CASE_ENV}
    for name in CASE_ENV:
        os.environ.pop(name, None)
        if name in (case.get("env") or {}):
            os.environ[name] = str(case["env"][name])
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            namespace = parser.parse_args(argv)
        namespace.model = model
        namespace.skip_tokenizer_init = True  # the folder holds config.json only
        # vLLM builds the reasoning parser with the tokenizer: without one, its name is all
        # there is to check, and the parser's own argument check has done that.
        namespace.reasoning_parser = None
        engine_args.from_cli_args(namespace).create_engine_config()
    except SystemExit:
        text = [line for line in errors.getvalue().splitlines() if "error:" in line]
        return {"ok": False, "error": text[-1] if text else "argparse", "kind": "argparse"}
    except Exception as error:  # vLLM raises ValueError, pydantic's ValidationError, ...
        return {"ok": False, "error": _first_line(error), "kind": type(error).__name__}
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
    return {"ok": True}


def _as_on_a_gpu_host() -> None:
    """vLLM picks its model runner by whether Triton is installed (Model Runner V2 where it
    is, as on every GPU host); a CPU build without Triton would judge by V1's limits instead
    (refusing prefill context parallel, which V2 runs)."""
    import vllm.config.vllm as assembly

    if not getattr(assembly, "HAS_TRITON", True):
        assembly.HAS_TRITON = True


def main() -> int:
    request = json.load(sys.stdin)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with contextlib.redirect_stdout(sys.stderr):  # vLLM's logs stay off the answer
        from vllm.engine.arg_utils import EngineArgs
        from vllm.entrypoints.common.cli_args import make_arg_parser
        from vllm.utils.argparse_utils import FlexibleArgumentParser

        _as_on_a_gpu_host()
        parser = make_arg_parser(FlexibleArgumentParser())
        answers = {}
        with tempfile.TemporaryDirectory(prefix="modelservice-engine-") as tmp:
            for case in request["cases"]:
                answers[str(case.get("id"))] = run_case(parser, EngineArgs, case, Path(tmp))
    import vllm

    print(json.dumps({"vllm_version": vllm.__version__, "answers": answers}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
