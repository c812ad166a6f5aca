"""vLLM's sleep mode (``sleepMode.enabled``): ``--enable-sleep-mode`` and the development mode
whose endpoints put the server to sleep (``/sleep``, ``/wake_up``, ``/is_sleeping``), beside
others that act on the engine (``/collective_rpc``, ``/reset_prefix_cache``, ...). vLLM's API key
does not guard them (it guards only the prefixes ``schemas/vllm/<version>-loaders.json`` lists):
the network is their only fence. Platforms and endpoints are vLLM's own, recorded by running its
code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..core.problem import Problem
from ..core.rules import rule
from ..core.tree import get
from ..vllm.loaders import loader_data
from .context import Finding, check
from .gpu import image_family

if TYPE_CHECKING:
    from .context import Context

#: The development endpoints a message names first.
FIRST = ["/sleep", "/wake_up", "/is_sleeping", "/collective_rpc"]
#: vLLM's platform of each accelerator family of chart/files/accelerators.yaml.
PLATFORM_OF_FAMILY = {"nvidia": "cuda", "amd": "rocm"}

SLEEP_MODE_WITHOUT_API_KEY = rule(
    "sleep-mode-without-api-key",
    "warning",
    "values",
    "sleepMode.enabled with no API key (auth.apiKey): every client that reaches the port uses "
    "the API, and the development endpoints sleep mode needs are open to it too. vLLM's key "
    "guards the API only (/v1 and its other API prefixes), never /sleep or /collective_rpc, so "
    "set auth.apiKey for the API and keep networkPolicy.enabled, which admits only the "
    "namespaces of sleepMode.fromNamespaces beside networkPolicy.from.",
)
SLEEP_MODE_UNFENCED = rule(
    "sleep-mode-unfenced",
    "warning",
    "values",
    "sleepMode.enabled without networkPolicy.enabled: any pod of the cluster can reach the "
    "development endpoints (/sleep, /wake_up, /collective_rpc, ...), which no API key guards. "
    "Enable the NetworkPolicy and name the controllers' namespaces in sleepMode.fromNamespaces.",
)
SLEEP_MODE_UNSUPPORTED_PLATFORM = rule(
    "sleep-mode-unsupported-platform",
    "error",
    "release",
    "sleepMode.enabled on a platform whose vLLM has no sleep mode (a CPU image: gpu.count 0): "
    "vLLM stops with `Sleep mode is not supported on current platform`. The platforms are those "
    "vLLM's own is_sleep_mode_available answers yes for.",
)
SLEEP_MODE_DEV_ENDPOINT_ROUTED = rule(
    "sleep-mode-dev-endpoint-routed",
    "warning",
    "release",
    "With sleepMode.enabled, an Ingress path of ingress.hosts that reaches vLLM's development "
    "endpoints (`/` reaches them all): anyone the Ingress serves can put the server to sleep. "
    "Route /v1 only (the chart's default path with sleep mode).",
)


@check("values", SLEEP_MODE_WITHOUT_API_KEY, SLEEP_MODE_UNFENCED, phase="rules")
def fences(ctx: Context) -> list[Problem]:
    if not ctx.value(("sleepMode", "enabled")):
        return []
    problems: list[Problem] = []
    index = ctx.flags[0]
    data = loader_data(index.version) if index is not None else None
    guarded = ", ".join(data.guarded_prefixes) if data else "/v1"
    key = ctx.value(("auth", "apiKey", "secretName")) or ctx.value(("auth", "apiKey", "create"))
    if not key:
        problems.append(
            ctx.problem(
                ("sleepMode", "enabled"),
                "sleep mode with no API key: every client that reaches the port uses the API "
                "and the development endpoints (/sleep, /wake_up, /collective_rpc, ...); set "
                f"auth.apiKey for the API (vLLM's key guards {guarded} only, never the "
                "development endpoints) and keep networkPolicy.enabled to fence those",
                SLEEP_MODE_WITHOUT_API_KEY,
                key=False,
            )
        )
    if not ctx.value(("networkPolicy", "enabled")):
        problems.append(
            ctx.problem(
                ("sleepMode", "enabled"),
                "sleep mode without networkPolicy.enabled: any pod of the cluster can call "
                "/sleep, /wake_up or /collective_rpc, which no API key guards; set "
                "networkPolicy.enabled: true and name the namespaces of the controllers that "
                "drive sleep in sleepMode.fromNamespaces",
                SLEEP_MODE_UNFENCED,
                key=False,
            )
        )
    return problems


@check("release", SLEEP_MODE_UNSUPPORTED_PLATFORM, SLEEP_MODE_DEV_ENDPOINT_ROUTED)
def platform_and_routes(ctx: Context) -> Iterator[Finding]:
    server = ctx.release.server
    index = ctx.flags[0]
    data = loader_data(index.version) if index is not None else None
    if server is None or data is None or not server.args.active("--enable-sleep-mode"):
        return
    gpus = int(ctx.value(("gpu", "count")) or 0)
    family = image_family(ctx.chart, server.container.image)
    platform = "cpu" if gpus == 0 else PLATFORM_OF_FAMILY.get(family or "")
    if platform is not None and platform not in data.sleep_platforms:
        flag = server.args.last("--enable-sleep-mode")
        assert flag is not None
        yield Finding(
            server.obj,
            server.arg_path(flag.flag_at),
            f"vLLM {data.version} has no sleep mode on {platform} (only on "
            f"{', '.join(data.sleep_platforms)}): with gpu.count {gpus} the server stops with "
            "`Sleep mode is not supported on current platform`; drop sleepMode.enabled",
            SLEEP_MODE_UNSUPPORTED_PLATFORM,
        )
    for ingress in ctx.release.of_kind("Ingress"):
        for r, host in enumerate(get(ingress, ("spec", "rules")) or []):
            for p, item in enumerate(get(host, ("http", "paths")) or []):
                path, kind = str(item.get("path") or "/"), str(item.get("pathType") or "Prefix")
                reached = sorted(
                    (e for e in data.dev_endpoints if _reaches(path, kind, e)),
                    key=lambda e: (e not in FIRST, FIRST.index(e) if e in FIRST else 0, e),
                )
                if reached:
                    shown = ", ".join(reached[:4]) + (", ..." if len(reached) > 4 else "")
                    mine = ("ingress", "hosts", r, "paths", p, "path")
                    yield Finding(
                        ingress,
                        ("spec", "rules", r, "http", "paths", p, "path"),
                        f"the Ingress path {path} ({kind}) reaches vLLM's development endpoints "
                        f"{shown}, which no API key guards: anyone the Ingress serves can put "
                        "the server to sleep; route /v1 only",
                        SLEEP_MODE_DEV_ENDPOINT_ROUTED,
                        values=mine if ctx.sets(mine) else ("ingress", "hosts"),
                    )


def _reaches(path: str, kind: str, endpoint: str) -> bool:
    """Whether an Ingress path matches an endpoint (Prefix matches whole path elements)."""
    if kind == "Exact":
        return path == endpoint
    root = path.rstrip("/")
    return root == "" or endpoint == root or endpoint.startswith(root + "/")
