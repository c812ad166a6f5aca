"""The GPU memory ``plan`` and the model stage size a server for: a vGPU slice's memory, a
node selector pinning a GPU product of the table, or ``plan``'s options.

Apart from the tables, which it reads only when a GPU is named: a values file that names none
costs no table read.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..core.errors import UserError
from ..core.tree import get

PRODUCT_LABELS = ("nvidia.com/gpu.product", "amd.com/gpu.product-name")


class GpuMemory(NamedTuple):
    """The memory of one GPU, and how it was chosen (a record: a named tuple is built at
    import a few times faster than a dataclass, and every values file imports this)."""

    bytes: int
    name: str
    #: how the GPU was chosen, for the report
    how: str
    #: the values key that chose it, when the values file did
    values_path: tuple[str | int, ...] | None = None


def gpu_from_values(merged: dict[str, Any], node_selector: dict[str, Any]) -> GpuMemory | None:
    """The GPU memory the values imply: a vGPU slice's memory, or a node selector pinning a GPU
    product of the table. None when the values do not say."""
    if get(merged, ("vgpu", "enabled")) and get(merged, ("vgpu", "memoryMiB")):
        mib = int(get(merged, ("vgpu", "memoryMiB")))
        return GpuMemory(
            mib * 1024**2, f"{mib} MiB vGPU slice", "vgpu.memoryMiB", ("vgpu", "memoryMiB")
        )
    for label in PRODUCT_LABELS:
        product = node_selector.get(label)
        if not product:
            continue
        from . import tables

        gpu = tables.gpu_of_product(str(product))
        if gpu is not None:
            return GpuMemory(
                gpu.memory, gpu.name, f"nodeSelector {label}={product}", ("nodeSelector", label)
            )
    return None


def gpu_from_options(gpu: str | None, gpu_memory: str | None) -> GpuMemory | None:
    """The GPU memory ``plan --gpu-memory`` or ``plan --gpu`` gives, or None."""
    from . import tables

    if gpu_memory:
        size = tables.parse_size(gpu_memory)
        if not size:
            raise UserError(f"--gpu-memory {gpu_memory!r}: give a size such as 80GiB or 24GB")
        return GpuMemory(size, gpu_memory, "--gpu-memory")
    if gpu:
        found = tables.gpu_named(gpu)
        if found is None:
            names = ", ".join(g.name for g in tables.gpus())
            raise UserError(
                f"--gpu {gpu!r}: not a GPU of the table ({names}); or give --gpu-memory"
            )
        return GpuMemory(found.memory, found.name, "--gpu")
    return None
