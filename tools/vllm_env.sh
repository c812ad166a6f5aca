#!/usr/bin/env bash
# Create (or refresh) a throwaway virtualenv in which vLLM's CLI parser can be imported on a
# CPU-only machine, so tools/extract_vllm_flags.py can read the engine flags from vLLM itself.
#
# Usage: tools/vllm_env.sh [VENV_DIR]          (default /tmp/vllm-env)
# Environment:
#   VLLM_VERSION   vLLM release to install (default 0.33.0; keep it equal to the chart's image tag)
#   TORCH_VERSION  torch release to install (default: the one the vllm wheel pins)
#   PYTHON         interpreter for the venv (default python3.11)
#
# Steps (idempotent: rerunning only installs what is missing):
#   1. venv outside the repository;
#   2. the vllm wheel with --no-deps;
#   3. torch at the version vllm pins: the CPU build from PyTorch's index, else PyPI's wheel;
#   4. vLLM's other requirements, read from the installed wheel's METADATA (Requires-Dist,
#      markers evaluated for this machine, extras left out), except the GPU-only ones listed in
#      SKIP below, with torch held at the installed CPU build by a constraints file.
# The venv is never committed; only the data files generated with it are.
set -euo pipefail

VENV_DIR="${1:-/tmp/vllm-env}"
VLLM_VERSION="${VLLM_VERSION:-0.33.0}"
PYTHON="${PYTHON:-python3.11}"

# Requirements of the vllm wheel that are NOT installed. Every entry is a GPU-only package (CUDA
# kernels, NVIDIA libraries or GPU video/audio codecs) or a torch companion pinned to a torch
# build other than the CPU one; none of them is on the import chain of
# vllm.entrypoints.common.cli_args.make_arg_parser. Compare with METADATA when VLLM_VERSION
# changes: an unknown GPU-only requirement that fails to install belongs here.
SKIP=(
  torch                    # installed separately as the CPU build (step 2)
  torchaudio               # pinned to a CUDA torch release; not imported by the parser
  torchvision              # idem
  torchcodec               # GPU/FFmpeg video decoding
  pynvvideocodec           # NVIDIA video codec
  flashinfer-python        # CUDA attention kernels
  apache-tvm-ffi           # flashinfer/tilelang runtime
  tilelang                 # GPU kernel DSL
  nvidia-cudnn-frontend    # cuDNN
  nvidia-cutlass-dsl       # CUTLASS (CUDA)
  nvtx                     # NVIDIA profiling markers
  fastsafetensors          # GPU-direct weight loading
  instanttensor            # GPU weight loading
  quack-kernels            # CUDA kernels
  tokenspeed-mla           # CUDA MLA kernels
  humming-kernels          # CUDA kernels
  xformers                 # CUDA kernels (older vLLM releases)
  cupy-cuda12x             # CUDA arrays (older vLLM releases)
  triton                   # GPU kernel compiler (comes with CUDA torch builds)
  numba                    # JIT for n-gram speculative decoding; not needed by the parser
)

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV_DIR"
fi
PY="$VENV_DIR/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --quiet)

"${PIP[@]}" --upgrade pip packaging numpy  # numpy: torch warns at import without it

# Step 2: vllm itself, without its dependencies.
if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('vllm') != '$VLLM_VERSION')" \
  2>/dev/null; then
  "${PIP[@]}" --no-deps "vllm==$VLLM_VERSION"
fi

# torch at the version the vllm wheel pins (its Requires-Dist), unless TORCH_VERSION says otherwise.
TORCH_VERSION="${TORCH_VERSION:-$("$PY" -c "
import importlib.metadata as m
from packaging.requirements import Requirement
for line in m.requires('vllm') or []:
    req = Requirement(line)
    if req.name == 'torch':
        print(next(iter(req.specifier)).version)
")}"
[ -n "$TORCH_VERSION" ] || { echo "vllm_env: the vllm wheel pins no torch version" >&2; exit 1; }

# Step 3: torch. Its CPU-only build is published on PyTorch's own index (TORCH_CPU_INDEX); where
# that index is unreachable, PyPI's Linux wheel is the one offered, which bundles CUDA libraries
# (several GB, never used here: no GPU, VLLM_TARGET_DEVICE=cpu). Both run everything the suite
# asks of vLLM (its parser, its config and model-resolution code) on the CPU.
TORCH_CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" \
  2>/dev/null; then
  "${PIP[@]}" --timeout 15 --retries 0 --index-url "$TORCH_CPU_INDEX" "torch==$TORCH_VERSION+cpu" \
    2>/dev/null || {
    echo "vllm_env: $TORCH_CPU_INDEX unreachable; installing PyPI's torch $TORCH_VERSION" >&2
    "${PIP[@]}" "torch==$TORCH_VERSION"
  }
fi
"$PY" - <<'EOF'
import torch

build = "CPU build" if torch.version.cuda is None else f"CUDA {torch.version.cuda} build, run on CPU"
print(f"torch {torch.__version__} ({build})")
EOF

# Step 4: vLLM's remaining requirements, minus SKIP.
CONSTRAINTS="$VENV_DIR/torch-constraints.txt"
# Without the local label (+cpu, +cu130), so the installed build satisfies it as itself.
"$PY" -c "import torch; print('torch==' + torch.__version__.split('+')[0])" >"$CONSTRAINTS"
REQS="$VENV_DIR/vllm-requirements.txt"
SKIP_LIST="${SKIP[*]}" "$PY" - "$REQS" <<'EOF'
import importlib.metadata
import os
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

skip = {canonicalize_name(name) for name in os.environ["SKIP_LIST"].split()}
kept = []
for line in importlib.metadata.requires("vllm") or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue  # an extra, or a requirement for another platform
    if canonicalize_name(req.name) in skip:
        print(f"skipped: {line}")
        continue
    kept.append(line.split(";")[0].strip())
with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.write("\n".join(kept) + "\n")
EOF
# pip then reports the skipped requirements (and torch's version) as conflicts: expected.
"${PIP[@]}" -c "$CONSTRAINTS" -r "$REQS"

# Smoke test: the parser builds on CPU.
VLLM_TARGET_DEVICE=cpu "$PY" -c "
from vllm.entrypoints.common.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser
make_arg_parser(FlexibleArgumentParser())
import vllm
print('vllm', vllm.__version__, 'parser OK in $VENV_DIR')
"
