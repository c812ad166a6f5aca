"""Cross-field rules: mistakes no single key's schema can see.

Each rule has an id (printed in brackets after the message), a case in
``tests/cases/invalid/`` and a line in the rules table of ``docs/rules.md``. Rules read the
user's values merged with the chart's defaults (``ctx.merged``), as Helm will render them, and
report at the key the user wrote, or at the nearest key of the file when the culprit is a chart
default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .core.problem import Problem
from .values.loader import has_path, value_at

if TYPE_CHECKING:
    from .validate import Context

HUB_SOURCES = ("huggingface", "modelscope")

#: Environment variables whose value is a credential: these come from a Secret.
SECRET_ENV = re.compile(
    r"^(HF_TOKEN|HUGGING_FACE_HUB_TOKEN|HUGGINGFACE_HUB_TOKEN|VLLM_API_KEY|MODELSCOPE_API_TOKEN"
    r"|OPENAI_API_KEY|.*_(TOKEN|API_KEY|APIKEY|SECRET|SECRET_KEY|PASSWORD|ACCESS_KEY))$",
    re.IGNORECASE,
)
#: A Hugging Face user access token.
HF_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")
#: A local path that is a Hugging Face cache repository folder, not a model folder.
HF_CACHE_REPO = re.compile(r"/models--[^/]+--[^/]+/?$")
#: The CUDA builds of vLLM's server image, which cannot start without a GPU.
GPU_IMAGES = re.compile(r"(^|/)vllm/vllm-openai$")

Path_ = tuple[str | int, ...]


# -- secrets (before the schema: a token pasted where a Secret name belongs) ---------------

_SECRET_HINT = (
    "put it in a Secret (kubectl create secret generic NAME --from-literal=KEY=...) and "
    "reference it"
)


def _walk(value: Any, path: Path_) -> Iterator[tuple[Path_, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def secret_literals(ctx: Context) -> list[Problem]:
    """A credential written into the values file, where anyone with the chart can read it."""
    problems: list[Problem] = []
    flagged: set[Path_] = set()
    env = ctx.values.get("env")
    if isinstance(env, list):
        for index, var in enumerate(env):
            if not isinstance(var, dict) or not isinstance(var.get("name"), str):
                continue
            if SECRET_ENV.match(var["name"]) and var.get("value") not in (None, ""):
                flagged.add(("env", index, "value"))
                problems.append(
                    ctx.problem(
                        ("env", index, "value"),
                        f"{var['name']} holds a credential as a literal value; {_SECRET_HINT} "
                        "with valueFrom.secretKeyRef" + _typed_key_hint(var["name"]),
                        "secret-literal",
                    )
                )
    for hub in ("huggingface", "modelscope"):
        token = value_at(ctx.values, (hub, "token"))
        if isinstance(token, str) and token:
            flagged.add((hub, "token"))
            problems.append(
                ctx.problem(
                    (hub, "token"),
                    f"{hub}.token takes a Secret reference, not the token itself; "
                    f"{_SECRET_HINT} as {hub}.token.secretName (and secretKey)",
                    "secret-literal",
                )
            )
    for path, value in _walk(ctx.values, ()):
        if isinstance(value, dict) and "secretName" in value:
            for key in ("value", "token", "apiKey", "key"):
                if isinstance(value.get(key), str) and value[key]:
                    flagged.add((*path, key))
                    problems.append(
                        ctx.problem(
                            (*path, key),
                            f"`{key}` beside secretName holds the secret itself; {_SECRET_HINT} "
                            "by secretName and secretKey only",
                            "secret-literal",
                        )
                    )
        # _walk yields a mapping before its items: a value flagged above is not said twice.
        elif isinstance(value, str) and path not in flagged and HF_TOKEN_SHAPE.search(value):
            problems.append(
                ctx.problem(
                    path,
                    f"looks like a Hugging Face access token (hf_...); {_SECRET_HINT} through "
                    "huggingface.token.secretName",
                    "secret-literal",
                    key=False,
                )
            )
    return problems


def _typed_key_hint(name: str) -> str:
    hints = {
        "HF_TOKEN": "huggingface.token.secretName",
        "HUGGING_FACE_HUB_TOKEN": "huggingface.token.secretName",
        "VLLM_API_KEY": "auth.apiKey.secretName",
        "MODELSCOPE_API_TOKEN": "modelscope.token.secretName",
    }
    key = hints.get(name.upper())
    return f", or set {key}" if key else ""


# -- the model ----------------------------------------------------------------------------


def model_source(ctx: Context) -> list[Problem]:
    """A hub source needs a repository id, a local source a path."""
    source = value_at(ctx.merged, ("model", "source"))
    name = value_at(ctx.merged, ("model", "name"))
    path = value_at(ctx.merged, ("model", "path"))
    problems: list[Problem] = []
    if source in HUB_SOURCES and not name:
        problems.append(
            ctx.problem(
                ("model", "name"),
                f"model.source {source} needs model.name, the repository id such as "
                "Qwen/Qwen2.5-0.5B-Instruct"
                + (" (model.path is only read with model.source: local)" if path else ""),
                "model-name-required",
            )
        )
    if source == "local":
        if not path:
            problems.append(
                ctx.problem(
                    ("model", "path"),
                    "model.source local needs model.path, the model directory inside the "
                    "container (mounted from persistence or extraVolumes)",
                    "model-path-required",
                )
            )
        elif HF_CACHE_REPO.search(str(path)):
            problems.append(
                ctx.problem(
                    ("model", "path"),
                    f"{path} is a Hugging Face cache repository folder, which holds blobs/ "
                    "and snapshots/, not the model files: point at its snapshots/<revision> "
                    "folder, or use model.source: huggingface with this cache (it is read "
                    "offline when the model is there)",
                    "local-path-hf-cache-layout",
                    severity="warning",
                    key=False,
                )
            )
    return problems


# -- GPUs ----------------------------------------------------------------------------------


def vgpu(ctx: Context) -> list[Problem]:
    """A vGPU slice needs a GPU count and a memory size."""
    if not value_at(ctx.merged, ("vgpu", "enabled")):
        return []
    problems: list[Problem] = []
    if int(value_at(ctx.merged, ("gpu", "count")) or 0) < 1:
        problems.append(
            ctx.problem(
                ("gpu", "count"),
                "vgpu.enabled slices gpu.count GPUs: set gpu.count to 1 or more (the number "
                "of vGPUs of the pod)",
                "vgpu-needs-gpu",
                key=False,
            )
        )
    if int(value_at(ctx.merged, ("vgpu", "memoryMiB")) or 0) <= 0:
        problems.append(
            ctx.problem(
                ("vgpu", "memoryMiB"),
                "vgpu.enabled needs vgpu.memoryMiB above 0: the GPU memory of each slice in "
                "MiB (without it the device plugin hands out a whole card's memory)",
                "vgpu-memory-required",
                key=False,
            )
        )
    return problems


def gpu_image(ctx: Context) -> list[Problem]:
    """gpu.count 0 is for CPU builds of vLLM only."""
    gpus = int(value_at(ctx.merged, ("gpu", "count")) or 0)
    if gpus != 0 or value_at(ctx.merged, ("vgpu", "enabled")):
        return []
    repository = str(value_at(ctx.merged, ("image", "repository")) or "")
    if not GPU_IMAGES.search(repository):
        return []
    return [
        ctx.problem(
            ("gpu", "count"),
            f"gpu.count 0 with {repository}, a CUDA build of vLLM that cannot start without a "
            "GPU: set gpu.count, or use a CPU build of vLLM as image.repository",
            "gpu-count-zero-gpu-image",
            key=False,
        )
    ]


# -- the model cache ----------------------------------------------------------------------


def cache(ctx: Context) -> list[Problem]:
    """The cache survives restarts, and one ReadWriteOnce volume serves one node."""
    problems: list[Problem] = []
    persistence = value_at(ctx.merged, ("persistence",)) or {}
    source = value_at(ctx.merged, ("model", "source"))
    if source in HUB_SOURCES and not persistence.get("enabled"):
        problems.append(
            ctx.problem(
                ("persistence", "enabled"),
                "without a cache volume every restart of the pod downloads the model again: "
                "set persistence.enabled (or persistence.existingClaim for a shared cache)",
                "no-model-cache",
                severity="warning",
                key=False,
            )
        )
    return problems


# -- the image ----------------------------------------------------------------------------


def image_tag(ctx: Context) -> list[Problem]:
    """A moving tag makes the engine flags (and the release) unknowable."""
    image = value_at(ctx.merged, ("image",)) or {}
    if image.get("digest") or str(image.get("tag")) != "latest":
        return []
    return [
        ctx.problem(
            ("image", "tag"),
            "`latest` moves with every vLLM release: pods started on different days run "
            "different engines, and engine.args are checked against no known release; pin a "
            "release tag such as v0.33.0",
            "image-tag-latest",
            severity="warning",
            key=False,
        )
    ]


# -- metrics ------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT_MS |= {"w": 7 * _UNIT_MS["d"], "y": 365 * _UNIT_MS["d"]}


def duration_ms(text: str) -> int:
    """A Prometheus duration (``1m30s``, ``0``) in milliseconds."""
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION.findall(text))


def scrape_timing(ctx: Context) -> list[Problem]:
    """Prometheus refuses a scrape whose timeout is longer than its interval."""
    monitor = value_at(ctx.merged, ("metrics", "serviceMonitor")) or {}
    if not monitor.get("enabled"):
        return []
    interval, timeout = str(monitor.get("interval") or ""), str(monitor.get("scrapeTimeout") or "")
    if not interval or not timeout or duration_ms(timeout) <= duration_ms(interval):
        return []
    user_timeout = has_path(ctx.values, ("metrics", "serviceMonitor", "scrapeTimeout"))
    key = "scrapeTimeout" if user_timeout else "interval"
    return [
        ctx.problem(
            ("metrics", "serviceMonitor", key),
            f"scrapeTimeout {timeout} is longer than interval {interval}: Prometheus refuses "
            "such a scrape; make the timeout at most the interval",
            "scrape-timeout-above-interval",
            key=False,
        )
    ]


#: The cross-field rules on the merged values, in order (see modelservice.validate).
RULES = (model_source, vgpu, gpu_image, cache, image_tag, scrape_timing)
