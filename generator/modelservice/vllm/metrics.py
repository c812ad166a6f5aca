"""The metrics a vLLM release exports, from ``schemas/vllm/<version>-metrics.json`` (extracted
from that release's own code by ``tools/extract_vllm_metrics.py``)."""

from __future__ import annotations

import json
import re
from functools import cache

from ..core.paths import schemas_dir

#: A vLLM metric name in PromQL (vLLM prefixes every metric it exports with `vllm:`).
VLLM_METRIC = re.compile(r"(?<![\w:])vllm:[a-zA-Z0-9_:]+")


@cache
def vllm_series(version: str) -> frozenset[str] | None:
    """Every series name the vLLM release exports (``_total``, ``_bucket`` ... included), or
    None when no data was extracted for it."""
    path = schemas_dir() / "vllm" / f"{version}-metrics.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return frozenset(s for metric in data["metrics"].values() for s in metric["series"])
