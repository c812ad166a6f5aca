"""The vLLM image against the accelerator family of the pod's GPUs.

vLLM builds one image per accelerator family; the CUDA image (``vllm/vllm-openai``) cannot drive
AMD GPUs, whose build is ``vllm/vllm-openai-rocm``. The chart refuses the pair too
(``modelservice.checkAcceleratorImage`` in chart/templates/_accelerators.tpl), for plain Helm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core.problem import Problem
from .rules import GPU_IMAGES
from .values.loader import value_at

if TYPE_CHECKING:
    from .validate import Context

#: vLLM's image per accelerator family, by the prefix of the GPU resource name.
FAMILY_IMAGES: dict[str, tuple[str, str]] = {
    "amd.com/": ("AMD", "vllm/vllm-openai-rocm"),
}


def accelerator_image(ctx: Context) -> list[Problem]:
    """vLLM's CUDA image on GPUs of another family."""
    gpus = int(value_at(ctx.merged, ("gpu", "count")) or 0)
    resource = str(value_at(ctx.merged, ("gpu", "resourceName")) or "")
    repository = str(value_at(ctx.merged, ("image", "repository")) or "")
    if gpus == 0 or value_at(ctx.merged, ("vgpu", "enabled")) or not GPU_IMAGES.search(repository):
        return []
    for prefix, (family, image) in FAMILY_IMAGES.items():
        if resource.startswith(prefix):
            return [
                ctx.problem(
                    ("gpu", "resourceName"),
                    f"{repository} is vLLM's CUDA build and cannot drive {family} GPUs "
                    f"(gpu.resourceName {resource}): set image.repository: {image}, vLLM's "
                    f"build for {family} GPUs",
                    "gpu-image-accelerator-mismatch",
                    key=False,
                )
            ]
    return []
