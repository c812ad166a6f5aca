"""What the init container downloads: everything the offline server reads, and the draft
model of speculative decoding through its typed keys."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from ..core.paths import schemas_dir
from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import Path_
from .context import Finding, check

if TYPE_CHECKING:
    from ..release import Server
    from .context import Context

TOKENIZER_REVISION_WITHOUT_NAME = rule(
    "tokenizer-revision-without-name",
    "error",
    "release",
    "model.tokenizer.revision without model.tokenizer.name: the revision is that of the "
    "tokenizer's own repository, and without one the tokenizer is the model's, at "
    "model.revision; the chart would drop it without a word. Set model.revision, or name the "
    "tokenizer's repository. The chart refuses it too.",
)
DOWNLOAD_EXCLUDES_LOADED_FILES = rule(
    "download-excludes-loaded-files",
    "error",
    "release",
    "model.download.include or exclude leaves out every file of a kind the offline server "
    "must read: the model's config (`config.json`, Mistral's `params.json` with "
    "`--config-format mistral`), its tokenizer (every file a tokenizer is loaded from: "
    "`tokenizer.json`, `tokenizer.model`, `vocab.json`..., Mistral's `tekken.json` with "
    "`--tokenizer-mode mistral`), or the weights of the load format (`*.safetensors` or "
    "`*.bin` for `hf`, `consolidated*.safetensors` for `mistral`, ...). The names and patterns "
    "are vLLM's own (schemas/vllm/<version>-loading.json, read from its loaders by "
    "tools/extract_vllm_loading.py). The init container succeeds, then the server fails to "
    "start offline. Offline, without the repository's file list, only patterns that drop "
    "every candidate are refused.",
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


@cache
def loading_data(version: str) -> dict[str, Any] | None:
    """What vLLM ``version`` reads of a model repository (schemas/vllm/<version>-loading.json),
    or None when it was not extracted for that release."""
    import json

    path = schemas_dir() / "vllm" / f"{version}-loading.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


#: Stems that stand for the files a glob of vLLM's loaders matches (the single file, the
#: shards of a sharded checkpoint, transformers' older names, a versioned tokenizer).
_STEMS = ("model", "model-00001-of-00002", "pytorch_model", "pytorch_model-00001-of-00002", "3")


def sample_files(pattern: str) -> list[str]:
    """File names a glob of vLLM's stands for (``*.safetensors``: model.safetensors and the
    shards model-00001-of-00002.safetensors ...); a plain name stands for itself."""
    if "*" not in pattern:
        return [pattern]
    stems = _STEMS if pattern.startswith("*") else ("", *_STEMS)
    return [pattern.replace("*", stem, 1) for stem in stems]


def downloaded(name: str, include: list[str], exclude: list[str]) -> bool:
    """Whether ``hf download`` / ``modelscope download`` fetch a file of the repository with
    these patterns (fnmatch on the path; a pattern ending in / takes the folder)."""

    def matches(pattern: str) -> bool:
        pattern = pattern + "*" if pattern.endswith("/") else pattern
        return fnmatch.fnmatchcase(name, pattern)

    if include and not any(matches(p) for p in include):
        return False
    return not any(matches(p) for p in exclude)


def _needed(server: Server, data: dict[str, Any]) -> Iterator[tuple[str, str, list[str]]]:
    """(what, the flag that makes vLLM read it, the names or globs of its files) for each kind
    of file the offline server reads: the download must keep a file of each."""
    args = server.args
    config_format = args.value("--config-format") or "auto"
    configs = data["config"]
    if config_format in configs:
        yield "the model's config", f"--config-format {config_format}", [configs[config_format]]
    elif config_format == "auto":
        yield "the model's config", "vLLM", sorted(set(configs.values()))
    own_tokenizer = args.last("--tokenizer") is None and args.last("--skip-tokenizer-init") is None
    mode = args.value("--tokenizer-mode") or "auto"
    tokenizers = data["tokenizer"]
    if own_tokenizer and mode in tokenizers:
        yield "its tokenizer", f"--tokenizer-mode {mode}", list(tokenizers[mode])
    elif own_tokenizer and mode == "auto":
        yield "its tokenizer", "vLLM", [p for ps in tokenizers.values() for p in ps]
    load_format = args.value("--load-format") or "auto"
    weights = data["weights"]
    formats = ["mistral", "hf"] if load_format == "auto" else [load_format]
    patterns = [
        p
        for f in formats
        if isinstance(weights.get(f), dict)
        for p in [*weights[f]["patterns"], *weights[f]["fallback"]]
    ]
    if patterns:
        yield "its weights", f"--load-format {load_format}", list(dict.fromkeys(patterns))


@check("release", DOWNLOAD_EXCLUDES_LOADED_FILES)
def download_patterns(ctx: Context) -> Iterator[Finding]:
    """The download keeps a file of each kind the offline server reads: the patterns of each
    server pod's rendered ``download`` init container against what its server loads."""
    index = ctx.flags[0]
    data = loading_data(index.version) if index is not None else None
    if data is None:
        return
    for server in ctx.release.servers():
        pod = server.container.pod
        init = next((c for c in pod.containers() if c.init and c.name == "download"), None)
        if init is None or not server.offline:
            continue
        include, exclude = init.download_patterns
        includes = [p for _, p in include]
        excludes = [p for _, p in exclude]
        dropped: dict[int, list[str]] = {}
        for what, why, globs in _needed(server, data):
            names = [f for g in globs for f in sample_files(g)]
            if any(downloaded(n, includes, excludes) for n in names):
                continue
            shown = ", ".join(globs[:6]) + (", ..." if len(globs) > 6 else "")
            reader = "vLLM reads" if why == "vLLM" else f"{why} makes vLLM read"
            said = f"{what} ({shown}), which {reader} offline"
            taken = [n for n in names if downloaded(n, includes, [])]
            if not taken:
                dropped.setdefault(-1, []).append(said)
                continue
            for position, pattern in enumerate(excludes):
                if not any(downloaded(n, [], [pattern]) for n in taken):
                    dropped.setdefault(position, []).append(said)
                    break
        for position, said in dropped.items():
            if position < 0:
                head = "no pattern of model.download.include takes " + "; nor ".join(said)
                fix = "add a pattern for each, or leave include empty"
                at: Path_ = (*init.path, "args", include[0][0]) if include else init.path
                values: Path_ = ("model", "download", "include")
            else:
                head = f"{excludes[position]!r} leaves out of the download " + "; and ".join(said)
                fix = "drop the pattern or narrow it"
                at = (*init.path, "args", exclude[position][0])
                values = ("model", "download", "exclude", position)
            yield Finding(
                pod.obj,
                at,
                f"{head}: the init container succeeds and the server would not start; {fix}",
                DOWNLOAD_EXCLUDES_LOADED_FILES,
                values=values,
            )


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
