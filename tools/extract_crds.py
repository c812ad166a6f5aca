#!/usr/bin/env python3
"""Copy the released CRDs of every custom kind the chart renders into ``schemas/crds/``.

The CRDs are the projects' own files, taken from their Go modules at pinned versions with
``go mod download -json`` (the module proxy serves the module's whole tree, CRD YAML included).
Nothing is typed by hand or edited: each file is copied byte for byte, and
``schemas/crds/README.md`` names the module, version and path of each.

    python3 tools/extract_crds.py          # rewrite schemas/crds/
    python3 tools/extract_crds.py --check  # exit 1 if schemas/crds/ differs from the modules

Needs ``go`` (any version: nothing is built). Bump a version in SOURCES, rerun, commit.
A module version a proxy does not serve is read from its Git tag by the go command itself:
``GOPROXY=direct`` (the module cache then holds the tag's tree, the same bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "schemas" / "crds"


@dataclass(frozen=True)
class Source:
    kind: str
    module: str
    version: str
    path: str  # inside the module


SOURCES = [
    # The proxy serves v0.85.0 as the newest version of the root module (which holds the CRDs;
    # the newer pkg/apis/monitoring submodule holds Go types only).
    Source(
        "ServiceMonitor",
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
    ),
    Source(
        "PrometheusRule",
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
    ),
    # Standard channel. v1.7.0's go.mod needs Go 1.27; v1.6.3 is the newest this Go downloads.
    Source(
        "HTTPRoute",
        "sigs.k8s.io/gateway-api",
        "v1.6.3",
        "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
    ),
    Source(
        "LeaderWorkerSet",
        "sigs.k8s.io/lws",
        "v0.8.0",
        "config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml",
    ),
    Source(
        "ScaledObject",
        "github.com/kedacore/keda/v2",
        "v2.21.0",
        "config/crd/bases/keda.sh_scaledobjects.yaml",
    ),
    # The Gateway API Inference Extension: the InferencePool (inference.networking.k8s.io/v1).
    Source(
        "InferencePool",
        "sigs.k8s.io/gateway-api-inference-extension",
        "v1.6.0",
        "config/crd/bases/inference.networking.k8s.io_inferencepools.yaml",
    ),
    # InferenceObjective in its current group, llm-d.ai/v1alpha2, released with the endpoint
    # picker the chart pins (routing.endpointPicker.image.tag).
    Source(
        "InferenceObjective",
        "github.com/llm-d/llm-d-router",
        "v0.10.0",
        "config/crd/bases/llm-d.ai_inferenceobjectives.yaml",
    ),
    # The older group, inference.networking.x-k8s.io/v1alpha2 (routing.objectivesApiGroup):
    # GIE v1.5.0 is the last release that ships its CRD (v1.6.0 dropped it).
    Source(
        "InferenceObjective (older group)",
        "sigs.k8s.io/gateway-api-inference-extension",
        "v1.5.0",
        "config/crd/bases/inference.networking.x-k8s.io_inferenceobjectives.yaml",
    ),
    # What `modelservice check` reads before a routed install: the Gateway the HTTPRoute
    # attaches to and its GatewayClass (standard channel, as the HTTPRoute above).
    Source(
        "Gateway",
        "sigs.k8s.io/gateway-api",
        "v1.6.3",
        "config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
    ),
    Source(
        "GatewayClass",
        "sigs.k8s.io/gateway-api",
        "v1.6.3",
        "config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml",
    ),
    # KEDA's HTTP add-on (autoscaling.keda.http). The proxy serves this version but not the
    # module's version list.
    Source(
        "HTTPScaledObject",
        "github.com/kedacore/http-add-on",
        "v0.12.0",
        "config/crd/bases/http.keda.sh_httpscaledobjects.yaml",
    ),
]


def module_dir(module: str, version: str) -> Path:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    info = json.loads(done.stdout or "{}")
    if done.returncode or "Error" in info or "Dir" not in info:
        sys.exit(f"go mod download {module}@{version}: {info.get('Error') or done.stderr}")
    return Path(info["Dir"])


def readme() -> str:
    rows = "\n".join(
        f"| {s.kind} | `{Path(s.path).name}` | `{s.module}` | {s.version} | `{s.path}` |"
        for s in SOURCES
    )
    return f"""# CRDs of the custom kinds the chart renders (and those `modelservice check` reads)

Copied byte for byte by `tools/extract_crds.py` from each project's Go module, as
`go mod download` serves it. Do not edit: bump the version in the script and rerun it.
The test suite installs these into its kube-apiserver (tests/kube_harness.py) so that
every rendered custom object gets the server's strict validation too.

| kind | file | Go module | version | path in the module |
|---|---|---|---|---|
{rows}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    wanted: dict[str, bytes] = {"README.md": readme().encode()}
    for source in SOURCES:
        data = (module_dir(source.module, source.version) / source.path).read_bytes()
        wanted[Path(source.path).name] = data
    if args.check:
        present = {p.name for p in OUT.iterdir()} if OUT.is_dir() else set()
        stale = sorted(
            name
            for name in present | set(wanted)
            if name not in wanted
            or name not in present
            or (OUT / name).read_bytes() != wanted[name]
        )
        for name in stale:
            print(f"schemas/crds/{name} differs from its source", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for path in OUT.iterdir():
        if path.name not in wanted:
            path.unlink()
    for name, data in wanted.items():
        (OUT / name).write_bytes(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
