"""What the init container downloads: everything the offline server reads, and the draft
model of speculative decoding through its typed keys."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..core.rules import rule
from ..vllm.args import read_args
from .context import check

if TYPE_CHECKING:
    from .context import Context

#: Files that vLLM's Mistral formats read (``--load-format/--config-format/--tokenizer-mode
#: mistral``), which a pattern of model.download.exclude could drop.
_MISTRAL_FILES = ("consolidated.safetensors", "params.json", "tekken.json")
_MISTRAL_FLAGS = ("--load-format", "--config-format", "--tokenizer-mode")

DOWNLOAD_EXCLUDES_LOADED_FILES = rule(
    "download-excludes-loaded-files",
    "error",
    "values",
    "model.download.exclude or include leaves out files the engine arguments make vLLM read "
    "(Mistral's consolidated*.safetensors, params.json and tekken.json with `--load-format "
    "mistral`): the init container succeeds, then the offline server fails to start.",
)
TOKENIZER_REVISION_WITHOUT_NAME = rule(
    "tokenizer-revision-without-name",
    "error",
    "release",
    "model.tokenizer.revision without model.tokenizer.name: the revision is that of the "
    "tokenizer's own repository, and without one the tokenizer is the model's, at "
    "model.revision; the chart would drop it without a word. Set model.revision, or name the "
    "tokenizer's repository. The chart refuses it too.",
)
SPECULATIVE_CONFIG_MODEL = rule(
    "speculative-config-model",
    "error",
    "values",
    "`model` or `revision` inside speculative.config would reach vLLM as is, and the init "
    "container would not download the draft model: set speculative.model / "
    "speculative.revision, which are downloaded with the model and given to vLLM as a folder "
    "of the cache.",
)


@check("values", DOWNLOAD_EXCLUDES_LOADED_FILES, phase="rules")
def download_patterns(ctx: Context) -> list[Problem]:
    """The download keeps the files the engine arguments make vLLM load."""
    index = ctx.flags[0]
    if index is None:
        return []
    args = read_args(list(ctx.value(("engine", "args")) or []), index)
    mistral = [f for f in _MISTRAL_FLAGS if args.value(f) == "mistral"]
    if not mistral:
        return []
    problems: list[Problem] = []
    download = ctx.value(("model", "download")) or {}
    for position, pattern in enumerate(download.get("exclude") or []):
        dropped = [f for f in _MISTRAL_FILES if fnmatch.fnmatch(f, str(pattern))]
        if dropped:
            problems.append(
                ctx.problem(
                    ("model", "download", "exclude", position),
                    f"{pattern!r} keeps {', '.join(dropped)} out of the download, but "
                    f"{mistral[0]} mistral makes the offline server read them: set "
                    "model.download.exclude without it (e.g. to the Hugging Face format files "
                    '["model-*.safetensors", "original/*"])',
                    DOWNLOAD_EXCLUDES_LOADED_FILES,
                    key=False,
                )
            )
    include = download.get("include") or []
    if include and not any(fnmatch.fnmatch(f, str(p)) for f in _MISTRAL_FILES for p in include):
        problems.append(
            ctx.problem(
                ("model", "download", "include"),
                f"no pattern of model.download.include takes {', '.join(_MISTRAL_FILES)}, "
                f"which {mistral[0]} mistral makes vLLM read offline: add them",
                DOWNLOAD_EXCLUDES_LOADED_FILES,
                key=False,
            )
        )
    return problems


@check("values", SPECULATIVE_CONFIG_MODEL, phase="rules")
def speculative_config(ctx: Context) -> list[Problem]:
    """The draft model and its revision are typed keys: the init container downloads them."""
    config = ctx.value(("speculative", "config")) or {}
    problems: list[Problem] = []
    for key in ("model", "revision"):
        if isinstance(config, dict) and key in config:
            problems.append(
                ctx.problem(
                    ("speculative", "config", key),
                    f"speculative.config.{key} would reach vLLM as is, and the init container "
                    f"would not download it: set speculative.{key} instead (the draft model is "
                    "downloaded with the model and given to vLLM as a folder of the cache)",
                    SPECULATIVE_CONFIG_MODEL,
                )
            )
    return problems
