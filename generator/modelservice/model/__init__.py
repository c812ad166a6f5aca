"""The model's config as vLLM reads it, one reading for ``plan`` and ``validate``.

:mod:`.reading` says where it comes from (``--config``, a local folder, the hub through the
values' mirror and token, the bundled table), :mod:`.sources` fetches it, :mod:`.defaults`
fills the keys config.json leaves out with transformers' class defaults (extracted by
tools/extract_hf_config_defaults.py), and :mod:`.config` reads the numbers vLLM reads.
"""

from __future__ import annotations

from .config import ModelConfig
from .reading import Reading, read_model

__all__ = ["ModelConfig", "Reading", "read_model"]
