"""How much disk a model's download takes: the one lookup ``validate`` uses to compare the
cache claim with the model.

Known only where it is known offline: for a model of ``plan``'s table, its parameters in the
checkpoint's own width (the config's dtype, or the bits its quantization_config states). A
model the table lacks gets no answer, never a guess. Keep this lookup behind
:func:`model_size`: the day the model's config is read from its source (the hub, a local
folder), the answer comes from there, and no caller changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSize:
    """The bytes a model's weights take on disk, and how that is known."""

    bytes: int
    source: str


def model_size(name: str) -> ModelSize | None:
    """The disk size of a hub model's weights, or None when it is not known offline."""
    from .sizing import DTYPE_BYTES, QUANT_BYTES, NotModelled, architecture
    from .tables import known_model

    known = known_model(name)
    if known is None:
        return None
    try:
        arch = architecture(known.config)
    except NotModelled:
        return None
    width = DTYPE_BYTES.get(arch.dtype, 2)
    linear = known.parameters - arch.embedding_parameters
    if arch.quant_bytes:
        per_weight = arch.quant_bytes
    elif arch.quantization:
        per_weight = QUANT_BYTES.get(arch.quantization, width)
    else:
        per_weight = width
    total = int(arch.embedding_parameters * width + max(linear, 0) * per_weight)
    stored = arch.quantization or arch.dtype
    count = f"{known.parameters / 1e9:.3g}B"
    return ModelSize(total, f"plan's table: {count} parameters, stored as {stored}")
