"""The one reading of the model's config for a values file: where it comes from, in order.

1. ``--config PATH``: a folder (or its config.json) only the cluster has, copied here;
2. ``model.source: local``: the model folder, when this machine has it at the same path;
3. the hub, through the values' own mirror (``huggingface.endpoint`` / ``modelscope.endpoint``),
   at ``model.revision``, with the token of the environment (``HF_TOKEN``,
   ``MODELSCOPE_API_TOKEN``), unless offline;
4. ``model.source: oci``: the artifact's config.json layer, from the registry by the pinned
   reference, unless offline;
5. the bundled table of known models (``schemas/plan/models.yaml``, by ``model.name``: for an
   OCI model, the repository id it was pushed from), offline or when the hub or registry
   cannot be reached.

``plan`` and the model-stage rules of ``validate`` read the model here, and nowhere else. When
no source answers, the reading says why; the caller refuses (``plan``) or says which checks it
skipped (``validate``), and nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from ..core.tree import get
from . import sources
from .config import ModelConfig


@dataclass
class Reading:
    """The model's config, or why there is none."""

    config: ModelConfig | None
    #: where the config came from, or why none was read
    origin: str
    notes: list[str] = field(default_factory=list)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a path no file system holds (too long, a NUL byte)
        return False


@cache
def _hub(
    source: str,
    endpoint: str | None,
    repo: str,
    revision: str | None,
    token: str | None,
    timeout: float,
) -> sources.Config | str:
    """The hub's config.json, or the reason there is none (asked once per process)."""
    try:
        return sources.from_hub(source, endpoint, repo, revision, token, timeout)
    except sources.HubUnreachable as exc:
        return str(exc)
    except UserError as exc:  # the hub answered: no such repository, a token needed
        return sources.Config({}, str(exc))


def read_model(
    merged: dict[str, Any],
    model: str = "",
    *,
    config: str | None = None,
    offline: bool = False,
    timeout: float = sources.TIMEOUT_SECONDS,
) -> Reading:
    """The model's config for the values ``merged`` (``model``: the server's model argument)."""
    if config:
        found = sources.from_folder(Path(config))
        return Reading(ModelConfig(found.data, found.origin), found.origin)
    source = str(get(merged, ("model", "source")) or "huggingface")
    if source == "local":
        path = Path(str(get(merged, ("model", "path")) or model))
        if path.is_absolute() and _is_file(path / "config.json"):
            found = sources.from_folder(path)
            return Reading(ModelConfig(found.data, found.origin), found.origin)
        return Reading(
            None,
            f"model.path {str(path)!r} is a path inside the container, not on this machine: "
            "give the model folder (or its config.json) with --config",
        )
    if source == "oci":
        return _oci(merged, offline=offline, timeout=timeout)
    if source not in ("huggingface", "modelscope"):
        return Reading(None, f"model.source {source} has no config.json to read: give --config")
    repo = str(get(merged, ("model", "name")) or model)
    known = sources.from_table(repo)
    revision = str(get(merged, ("model", "revision")) or "") or None
    if offline:
        if known is None:
            return Reading(
                None,
                f"{repo} is not in the table of known models and the hub is not read offline: "
                "give its config.json with --config",
            )
        return Reading(ModelConfig(known.data, known.origin), known.origin)
    key = "modelscope" if source == "modelscope" else "huggingface"
    endpoint = str(get(merged, (key, "endpoint")) or "") or None
    answer = _hub(source, endpoint, repo, revision, sources.token_for(source), timeout)
    if isinstance(answer, sources.Config):
        if not answer.data:
            return Reading(None, answer.origin)
        return Reading(ModelConfig(answer.data, answer.origin), answer.origin)
    if known is None:
        return Reading(
            None,
            f"cannot read {repo}'s config.json ({answer}) and it is not in the table of known "
            "models: give its config.json with --config",
        )
    note = f"the hub is unreachable ({answer}): numbers from the table of known models"
    return Reading(ModelConfig(known.data, known.origin), known.origin, [note])


def _oci(merged: dict[str, Any], *, offline: bool, timeout: float) -> Reading:
    """An OCI model: its config.json layer from the registry (not offline), else the table of
    known models by ``model.name`` (the repository id it was pushed from)."""
    reference = str(get(merged, ("model", "oci", "reference")) or "")
    name = str(get(merged, ("model", "name")) or "")
    known = sources.from_table(name)
    notes: list[str] = []
    if not offline and reference:
        plain = bool(get(merged, ("model", "oci", "plainHTTP")))
        try:
            found = sources.from_registry(reference, plain, timeout)
            return Reading(ModelConfig(found.data, found.origin), found.origin)
        except (sources.HubUnreachable, UserError) as exc:
            why = exc.message if isinstance(exc, UserError) else str(exc)
            if known is None:
                return Reading(None, f"cannot read the model's config.json ({why})")
            notes.append(f"the registry did not give config.json ({why}): the table answers")
    if known is None:
        return Reading(
            None,
            f"model.source oci: {name or 'model.name'} is not in the table of known models, and "
            "the registry is read only with --online: give the model's config.json with --config",
        )
    origin = f"{known.origin}, for model.name {name}"
    return Reading(ModelConfig(known.data, origin), origin, notes)
