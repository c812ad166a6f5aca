"""The server image: a pinned vLLM release."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..core.rules import rule
from .context import check

if TYPE_CHECKING:
    from .context import Context

IMAGE_TAG_LATEST = rule(
    "image-tag-latest",
    "warning",
    "values",
    "`image.tag: latest` moves with every vLLM release: pods started on different days run "
    "different engines, and engine.args are checked against no known release. Pin a release "
    "tag such as v0.33.0 (or a digest).",
)


@check("values", IMAGE_TAG_LATEST, phase="rules")
def image_tag(ctx: Context) -> list[Problem]:
    """A moving tag makes the engine flags (and the release) unknowable."""
    image = ctx.value(("image",)) or {}
    if image.get("digest") or str(image.get("tag")) != "latest":
        return []
    return [
        ctx.problem(
            ("image", "tag"),
            "`latest` moves with every vLLM release: pods started on different days run "
            "different engines, and engine.args are checked against no known release; pin a "
            "release tag such as v0.33.0",
            IMAGE_TAG_LATEST,
            key=False,
        )
    ]
