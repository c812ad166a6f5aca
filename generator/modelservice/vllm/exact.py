"""The exact mode of ``validate``: vLLM's own engine-config assembly on each rendered server
command (``modelservice validate --vllm PYTHON``), in an interpreter where vLLM is installed.

Every file that validates is rendered; each server's command line, with the model's config.json
(the one reading, :mod:`modelservice.model`) in the place of the model and a draft model's in
the place of its folder, is run through vLLM's parser and ``create_engine_config()`` by
:mod:`modelservice.vllm.engine_check`, all files in one process (vLLM's import takes tens of
seconds, each further command a fraction of one). A refusal is reported at the line of the flag
vLLM's message names, else at model.name, under ``vllm-engine-config``.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import UserError
from ..core.problem import Problem, has_errors
from ..core.rules import rule

if TYPE_CHECKING:
    from ..checks.context import Context
    from ..release import Server

VLLM_ENGINE_CONFIG = rule(
    "vllm-engine-config",
    "error",
    "model",
    "vLLM's own `create_engine_config` refuses the rendered server command with the model's "
    "config.json (`validate --vllm PYTHON`, the exact mode): the message is vLLM's. Reported "
    "at the flag it names, else at model.name.",
)
#: The program run in vLLM's interpreter.
PROGRAM = Path(__file__).with_name("engine_check.py")
#: Stand-ins for what the kubelet substitutes in a command line ($(VAR) of the pod's env).
SUBSTITUTES = {"LWS_WORKER_INDEX": "0"}
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
TIMEOUT_SECONDS = 1800


def _substitute(text: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1), SUBSTITUTES.get(m.group(1), "127.0.0.1")), text)


def server_case(ctx: Context, server: Server, case_id: str) -> dict[str, Any] | None:
    """The request of one server command for :mod:`.engine_check`, or None when the model's
    config is not known."""
    from ..model import read_model

    reading = ctx.model
    if reading.config is None:
        return None
    env = {
        name: value
        for name in ("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "LWS_WORKER_INDEX")
        if (value := server.container.env_value(name)) is not None
    }
    argv = [_substitute(a, env) for a in server.container.args]
    paths: dict[str, Any] = {}
    draft = ctx.value(("speculative", "model"))
    spec = server.args.last("--speculative-config")
    if draft and spec is not None and isinstance(spec.converted, dict):
        folder = spec.converted.get("model")
        merged = {"model": {"name": draft, "source": ctx.value(("model", "source"))}}
        found = read_model(merged, str(draft), offline=not ctx.online)
        if isinstance(folder, str) and folder and found.config is not None:
            paths[folder] = found.config.raw
    # A tokenizer of another repository: vLLM resolves it offline from the hub's cache, so it
    # is given a folder too (its own config where known, else the model's: with
    # skip_tokenizer_init, vLLM reads no more of it).
    tokenizer = server.args.last("--tokenizer")
    name = tokenizer.converted if tokenizer is not None else None
    if isinstance(name, str) and name and not name.startswith("/") and name not in paths:
        merged = {"model": {"name": name, "source": ctx.value(("model", "source"))}}
        found = read_model(merged, name, offline=not ctx.online)
        paths[name] = (found.config or reading.config).raw
    return {"id": case_id, "argv": argv, "config": reading.config.raw, "paths": paths, "env": env}


def run_engine_check(python: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """vLLM's verdict on every case: ``{id: {"ok": ..., "error": ...}}``."""
    if not cases:
        return {}
    try:
        done = subprocess.run(
            [python, str(PROGRAM)],
            input=json.dumps({"cases": cases}),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"--vllm {python}: {exc}") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        raise UserError(f"--vllm {python}: vLLM's engine check failed: {' / '.join(tail)}")
    answers: dict[str, Any] = json.loads(lines[-1])["answers"]
    return answers


def _named_flag(server: Server, error: str) -> int | None:
    """The position of the flag vLLM's message names (as --flag or as its field name)."""
    text = error.lower()
    best: tuple[int, int] | None = None
    for given in server.args.given:
        field = given.name[2:].replace("-", "_")
        for needle in (given.name, field, field.replace("_", " ")):
            found = re.search(rf"(?<![\w-]){re.escape(needle)}(?![\w-])", text)
            if found and (best is None or found.start() < best[0]):
                best = (found.start(), given.flag_at)
    return best[1] if best is not None else None


def exact_problem(ctx: Context, server: Server, error: str) -> Problem:
    from ..checks.context import Finding

    at = _named_flag(server, error)
    message = f"vLLM's create_engine_config refuses this server: {error}"
    if at is None:
        path = ("model", "name") if ctx.sets(("model", "name")) else ("model",)
        return ctx.problem(path, message, VLLM_ENGINE_CONFIG, key=False)
    return ctx.report(Finding(server.obj, server.arg_path(at), message, VLLM_ENGINE_CONFIG))


def exact_problems(
    files: Sequence[str],
    found: list[list[Problem]],
    chart: Path,
    python: str,
    *,
    model_config: str | None = None,
    online: bool = False,
) -> list[list[Problem]]:
    """``found`` with vLLM's own verdict added for every file without errors."""
    from ..validate import validate_file

    contexts: dict[str, tuple[int, Context, Server]] = {}
    cases = []
    for number, (file, problems) in enumerate(zip(files, found, strict=True)):
        if has_errors(problems):
            continue
        result = validate_file(file, chart, model_config=model_config, online=online)
        ctx = result.context
        server = ctx.release.server if ctx is not None else None
        if ctx is None or server is None:
            continue
        case = server_case(ctx, server, str(number))
        if case is not None:
            contexts[str(number)] = (number, ctx, server)
            cases.append(case)
    answers = run_engine_check(python, cases)
    merged = [list(p) for p in found]
    for key, (number, ctx, server) in contexts.items():
        answer = answers.get(key) or {}
        if not answer.get("ok", True):
            merged[number].append(exact_problem(ctx, server, str(answer.get("error"))))
            merged[number].sort(key=lambda p: (p.line, p.column, p.pointer, p.rule))
    return merged
