"""Rendered ``vllm serve`` command lines under vLLM 0.33.0's own parser and argument validation.

Every example's and every valid case's rendered server arguments must pass what ``vllm serve``
runs before it loads a model: ``make_arg_parser(FlexibleArgumentParser())``,
``validate_parsed_serve_args``, ``AsyncEngineArgs.from_cli_args``, the API server's
``validate_api_server_args`` (registered reasoning and tool-call parsers) and the quantization
lookup. And every invalid case that the toolkit refuses for a reason vLLM's own code gives must
be refused by vLLM too. All command lines go to the cached vLLM venv in one subprocess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from case_files import VALID, expectations
from vllm_env import run_vllm, server_container, vllm_argv

from conftest import CASES, EXAMPLES, render_values
from modelservice.checks.engine_args.flags import check_args
from modelservice.values.loader import load_file
from modelservice.vllm.flags import flag_data, index_for

DATA = flag_data("0.33.0")

EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml")
#: Rules that say vLLM's own code refuses the arguments (not a reviewer's or the chart's rule).
VLLM_RULES = {
    "engine-arg-type",
    "engine-arg-choice",
    "engine-arg-unknown",
    "engine-arg-unknown-name",
    "engine-arg-requires",
    "engine-arg-conflict",
    "engine-arg-range",
    "engine-arg-missing-value",
    "engine-arg-switch-value",
    "engine-arg-positional",
}
REFUSED = sorted(
    p
    for p in (CASES / "invalid").glob("engine-arg*.yaml")
    if {e[4] for e in expectations(p)} <= VLLM_RULES
    and all(e[0] == "error" for e in expectations(p))
)

PROGRAM = r"""
import contextlib, io, json, os, sys
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.common.cli_args import (
    make_arg_parser, validate_api_server_args, validate_parsed_serve_args)
from vllm.model_executor.layers.quantization import get_quantization_config
from vllm.utils.argparse_utils import FlexibleArgumentParser

verdicts = {}
for name, argv in json.load(sys.stdin).items():
    # A parser of its own: vLLM mutates default config objects of the parser in place.
    parser = make_arg_parser(FlexibleArgumentParser())
    stage = "parse"
    try:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                args = parser.parse_args(argv)
        except SystemExit:
            raise ValueError(err.getvalue().strip().splitlines()[-1])
        if args.model_tag is not None:  # what `vllm serve` does with its positional
            args.model = args.model_tag
        stage = "validate_parsed_serve_args"
        validate_parsed_serve_args(args)
        stage = "AsyncEngineArgs.from_cli_args"
        engine_args = AsyncEngineArgs.from_cli_args(args)
        stage = "validate_api_server_args"
        args.structured_outputs_config = engine_args.create_structured_outputs_config()
        validate_api_server_args(args)
        stage = "get_quantization_config"
        if engine_args.quantization:
            get_quantization_config(engine_args.quantization)
        verdicts[name] = {"ok": True, "model": engine_args.model}
    except BaseException as error:
        verdicts[name] = {"ok": False, "stage": stage, "error": f"{type(error).__name__}: {error}"}
print(json.dumps(verdicts))
"""


def _serve_argv(values: dict[str, Any]) -> list[str]:
    """The arguments after ``vllm serve`` of the rendered server container."""
    for obj in render_values(values).objects():
        if obj.get("kind") == "LeaderWorkerSet":
            # The group leader's line as the kubelet starts it (test_multinode parses every
            # pod of a group; here the leader goes through vLLM's validation too).
            leader = obj["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
            env = {
                "LWS_LEADER_ADDRESS": "leader.ai",
                "LWS_GROUP_SIZE": "2",
                "LWS_WORKER_INDEX": "0",
            }
            argv = vllm_argv(server_container(leader), env)
            assert argv is not None and argv[0] == "serve", argv
            return argv[1:]
        if obj.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        spec = obj["spec"]["template"]["spec"]
        for container in spec.get("containers", []):
            if container.get("name") == "vllm":
                assert container["command"][:2] == ["vllm", "serve"]
                return [str(a) for a in container["command"][2:] + container.get("args", [])]
    raise AssertionError("no vllm container rendered")


def _registry_probes() -> dict[str, list[str]]:
    """For each registry: an unknown name, and the first and last names it lists, as
    command lines (a tool-call parser is looked up with --enable-auto-tool-choice)."""
    probes: dict[str, list[str]] = {}
    for registry, described in DATA["registries"].items():
        flag = described["flags"][0]
        names = described["names"]
        for name in ("no_such_name", names[0], names[-1]):
            argv = ["Qwen/Qwen2.5-0.5B-Instruct", flag, name]
            if registry == "tool_call_parsers":
                argv.append("--enable-auto-tool-choice")
            probes[f"registry/{registry}/{name}"] = argv
    return probes


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.fixture(scope="module")
def verdicts() -> dict[str, Any]:
    """vLLM's verdict on every command line, from one batched run of vLLM's code."""
    batch = {_name(p): _serve_argv(load_file(p).data) for p in EXAMPLE_FILES + VALID + REFUSED}
    batch.update(_registry_probes())
    result: dict[str, Any] = run_vllm(PROGRAM, batch, timeout=600)
    assert set(result) == set(batch)
    return result


@pytest.mark.parametrize("path", EXAMPLE_FILES + VALID, ids=_name)
def test_the_rendered_serve_arguments_pass_vllms_own_parser_and_validation(path, verdicts):
    verdict = verdicts[_name(path)]
    assert verdict["ok"], f"{verdict['stage']}: {verdict['error']}"
    model = load_file(path).data.get("model") or {}
    if model.get("source") == "oci":
        # the folder the puller fills, or the image volume's mount: named by the reference
        repository = model["oci"]["reference"].split("@")[0].rsplit(":", 1)[0].split("/")[-1]
        assert verdict["model"].startswith("/") and repository in verdict["model"], verdict
    else:
        assert verdict["model"] == (model.get("name") or model.get("path"))


@pytest.mark.parametrize("path", REFUSED, ids=_name)
def test_vllm_refuses_what_the_toolkit_refuses_on_its_behalf(path, verdicts):
    assert not verdicts[_name(path)]["ok"]


def test_the_refused_cases_cover_every_rule_read_from_vllm():
    covered = {e[4] for p in REFUSED for e in expectations(p)}
    assert {
        "engine-arg-type",
        "engine-arg-unknown-name",
        "engine-arg-requires",
        "engine-arg-conflict",
        "engine-arg-range",
    } <= covered


@pytest.mark.parametrize("probe", sorted(_registry_probes()))
def test_vllm_and_the_toolkit_agree_on_the_names_of_each_registry(probe, verdicts):
    argv = _registry_probes()[probe]
    index = index_for("0.33.0")
    toolkit_ok = check_args(argv[1:], index) == []
    assert verdicts[probe]["ok"] == toolkit_ok == (not probe.endswith("/no_such_name")), verdicts[
        probe
    ]
