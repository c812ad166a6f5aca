"""Each rule that mirrors vLLM's engine config agrees with vLLM's own ``create_engine_config``.

Every values example and every valid and invalid case whose model's config.json is known (the
table of known models) is validated, and each rendered server command is run through vLLM's
parser and ``EngineArgs.create_engine_config()`` from the suite's CPU venv, with the case's
config.json and no weights, all cases in one process (``modelservice validate --vllm``'s own
program, :mod:`modelservice.vllm.engine_check`). Then, per case:

- vLLM accepts it: the toolkit reports none of the mirrored rules;
- vLLM refuses it with the refusal of a mirrored rule: the toolkit reports that rule;
- vLLM refuses it for a reason the toolkit does not mirror: the case and the reason are listed
  in ``LEFT_TO_THE_EXACT_MODE`` (a new divergence fails).

And every mirrored rule is seen refused by vLLM in at least one case, so no pattern is dead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kube_harness import cache_dir
from vllm_env import vllm_python

from conftest import CASES, CHART, EXAMPLES
from modelservice.vllm.exact import run_engine_check, server_case
from modelservice.vllm.flags import pinned_version

#: What vLLM's parser refuses, said by the engine-arg rules of the values stage (engine.args)
#: or by engine-arg-rendered-value (a typed key's rendered flag).
PARSER_RULES = {
    "engine-arg-rendered-value",
    "engine-arg-choice",
    "engine-arg-type",
    "engine-arg-unknown",
    "engine-arg-missing-value",
    "engine-arg-switch-value",
    "engine-arg-positional",
}
#: Each mirrored rule, and the refusal of vLLM's it mirrors (its error text).
MIRRORED: dict[str, str] = {
    "model-tensor-parallel-heads": r"must be divisible by tensor parallel size",
    "model-max-model-len": r"User-specified max_model_len",
    "model-quantization-checkpoint": r"Cannot find the config file for",
    "model-quantization-deprecated": r"is deprecated and will be removed",
    "model-decode-context-parallel": (
        r"Decode context parallelism for GQA|exceeds the maximum supported value|"
        r"query heads per KV head"
    ),
    "engine-arg-bound": (
        r"validation errors? for (CacheConfig|SchedulerConfig|ParallelConfig|ModelConfig|"
        r"LoRAConfig|LoadConfig)\b.*Input should be"
    ),
    "scheduler-batched-tokens": r"max_num_batched_tokens \(\d+\) (must be greater|is smaller)",
    "parallel-decode-context": r"must be divisible by dcp_size|When PCP is enabled, DCP",
    "parallel-nnodes-ray": r"nnodes > 1 can only be set",
    "speculative-config-field": r"SpeculativeConfig.*Unexpected keyword argument",
    "speculative-config-value": r"SpeculativeConfig.*Input should be",
}
#: Cases vLLM refuses for a reason no rule mirrors, with that reason: what only the exact
#: mode (`validate --vllm`) says.
LEFT_TO_THE_EXACT_MODE: dict[str, str] = {}
#: Refusals of the suite's CPU venv that a server image does not make, with why.
NOT_IN_THIS_VENV = {
    "Failed to import Ray": "the CPU venv has no Ray; vLLM's images have it",
    # sleep-mode-unsupported-platform judges the image: the CUDA and ROCm builds have it
    "Sleep mode is not supported on current platform": "the CPU venv's platform",
}
#: Examples and valid cases vLLM is not run on, with why.
NOT_RUN = {
    "values-examples/embedding-model": "BAAI/bge-m3, an encoder, is not in plan's table",
    "values-examples/bge-reranker": "BAAI/bge-reranker-v2-m3, an encoder, is not in the table",
}
#: Rules about the pod's GPUs, not vLLM's config: a CPU build cannot reproduce them (it counts
#: no GPUs), so they are held to the rendered objects in their own tests.
NOT_ON_A_CPU = {
    "gpu-mig-tensor-parallel",
    "tensor-parallel-mismatch",
    "multi-node-parallel-mismatch",
}

FILES = sorted(
    [
        *(CASES / "valid").glob("*.yaml"),
        *(CASES / "invalid").glob("*.yaml"),
        *(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml"),
    ]
)


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.fixture(scope="module")
def verdicts() -> dict[str, tuple[set[str], dict | None]]:
    """Per file: the rules the toolkit reports, and vLLM's answer (None: not run)."""
    from modelservice.validate import validate_file

    toolkit: dict[str, set[str]] = {}
    cases = []
    for path in FILES:
        result = validate_file(path, CHART)
        name = _name(path)
        toolkit[name] = {p.rule for p in result.problems}
        ctx = result.context
        if ctx is None or ctx.rendered is None or ctx.release.server is None:
            continue
        case = server_case(ctx, ctx.release.server, name)
        if case is not None:
            cases.append(case)
    import os

    env_before = dict(os.environ)
    os.environ.update(
        {
            "VLLM_TARGET_DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1",
            # vLLM inspects each architecture once in a subprocess (about 10 s) and caches it.
            "VLLM_CACHE_ROOT": str(cache_dir() / f"vllm-{pinned_version()}-cache"),
        }
    )
    try:
        answers = run_engine_check(str(vllm_python()), cases)
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return {name: (rules, answers.get(name)) for name, rules in toolkit.items()}


def _vllm_rules(answer: dict) -> set[str]:
    """The mirrored rules whose refusal vLLM's answer holds (pydantic reports every field)."""
    error = str(answer.get("error"))
    return {r for r, pattern in MIRRORED.items() if re.search(pattern, error)}


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_each_mirrored_rule_agrees_with_vllms_engine_config(verdicts, path: Path):
    name = _name(path)
    rules, answer = verdicts[name]
    if answer is None:
        return
    reported = rules & set(MIRRORED)
    if answer["ok"]:
        assert reported == set(), f"vLLM accepts {name}, the toolkit says {reported}"
        return
    error = str(answer["error"])
    if answer.get("kind") == "argparse":  # vLLM's parser: the engine-arg rules say it
        assert rules & PARSER_RULES, f"vLLM's parser refuses {name} ({error}); toolkit: {rules}"
        return
    found = _vllm_rules(answer)
    if not found:
        if any(text in error for text in NOT_IN_THIS_VENV) and not name.startswith("invalid/"):
            return
        if rules:  # refused by both, for a reason a rule of another kind said first
            return
        assert name in LEFT_TO_THE_EXACT_MODE, f"vLLM refuses {name}: {error}"
        assert LEFT_TO_THE_EXACT_MODE[name] in error
        return
    assert found <= reported, f"vLLM refuses {name} ({error}); toolkit: {rules}"


def test_every_mirrored_rule_is_seen_refused_by_vllm(verdicts):
    seen = set()
    for _, answer in verdicts.values():
        if answer is not None and not answer["ok"]:
            seen |= _vllm_rules(answer)
    assert set(MIRRORED) - seen == set()


def test_every_valid_case_and_example_runs_through_vllm(verdicts):
    ran = [n for n, (_, a) in verdicts.items() if a is not None]
    valid = [n for n in verdicts if not n.startswith("invalid/")]
    skipped = sorted(set(valid) - set(ran) - set(NOT_RUN))
    # a local model's config.json is the cluster's (given with --config), an OCI model's the
    # registry's (read with --online) when its name is in no table; the rest are known
    assert all("local" in n or "oci" in n for n in skipped), skipped


def test_validate_with_vllm_reports_the_engines_own_refusal_at_the_flags_line(tmp_path: Path):
    """The exact mode: a rule the toolkit leaves to it (SchedulerConfig's long-prefill
    threshold above the context), refused by vLLM itself, at the line of the flag it names."""
    import os

    from click.testing import CliRunner

    from modelservice.cli import cli

    values = tmp_path / "batched.yaml"
    values.write_text(
        "model:\n  name: Qwen/Qwen2.5-0.5B-Instruct\nengine:\n  args:\n"
        "    - --long-prefill-token-threshold=40000\n",
        encoding="utf-8",
    )
    assert CliRunner().invoke(cli, ["validate", "--strict", str(values)]).exit_code == 0
    env = {
        "MODELSERVICE_VLLM_PYTHON": str(vllm_python()),
        "VLLM_TARGET_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "VLLM_CACHE_ROOT": str(cache_dir() / f"vllm-{pinned_version()}-cache"),
        "PATH": os.environ.get("PATH", ""),
    }
    result = CliRunner(env=env).invoke(cli, ["validate", str(values)])
    assert result.exit_code == 1, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"{values}:5:7: /engine/args/0: vLLM's create_engine_config refuses")
    assert "long_prefill_token_threshold (40000) cannot be greater than the max_model_len" in line
    assert line.endswith("[vllm-engine-config]")
