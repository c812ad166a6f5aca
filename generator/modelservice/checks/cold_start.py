"""Scale from zero without dropped requests: every timeout a held request meets on its way must
outlast the cold start of the replica it waits for.

With KEDA's HTTP add-on scaling from zero (``autoscaling.keda.http``, ``minReplicas: 0``), the
first request after an idle spell waits in the add-on's interceptor while a replica starts. The
cold start is ``coldStart.expectedSeconds``, or the estimate ``plan --bandwidth`` makes when the
values give ``coldStart.bandwidth`` and the model is in ``plan``'s table (the larger of the two):
the interceptor's wait (``timeouts.conditionWait``), the HTTPRoute's request timeouts and the
Ingress controller's upstream read timeout are read off the rendered objects and compared."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..core.rules import rule
from ..core.tree import get
from .context import Finding, check

if TYPE_CHECKING:
    from ..plan.coldstart import ColdStart
    from .context import Context

#: ingress-nginx's upstream read timeout when the Ingress sets none (proxy-read-timeout).
NGINX_READ_TIMEOUT = 60
NGINX_ANNOTATION = "nginx.ingress.kubernetes.io/proxy-read-timeout"
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(h|ms|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

COLD_START_TIMEOUT_SHORT = rule(
    "cold-start-timeout-short",
    "warning",
    "model",
    "A release that scales from zero through KEDA's HTTP add-on holds each request while a "
    "replica starts; a timeout on the request's path shorter than that cold start (the "
    "interceptor's wait, coldStart.expectedSeconds; the HTTPRoute's request timeouts; the "
    "Ingress controller's upstream read timeout, 60 s by default for ingress-nginx) drops the "
    "request first: the client gets a 504 for a service that is coming up. The cold start is "
    "coldStart.expectedSeconds, or `plan --bandwidth`'s estimate with coldStart.bandwidth for a "
    "model of plan's table, whichever is larger; the message shows its inputs.",
)


def seconds(text: str) -> float | None:
    """Seconds of a Go or Gateway API duration (``600s``, ``1h30m``, ``1.5s``)."""
    if not text or _DURATION.sub("", text) != "":
        return None
    return sum(float(n) * _UNIT[u] for n, u in _DURATION.findall(text))


def estimate_of(ctx: Context) -> ColdStart | None:
    """``plan --bandwidth``'s estimate, offline: a model of the table at coldStart.bandwidth."""
    from ..plan.coldstart import estimate, from_table_entry
    from ..plan.tables import known_model

    bandwidth = str(ctx.value(("coldStart", "bandwidth")) or "")
    known = known_model(str(ctx.value(("model", "name")) or ""))
    if not bandwidth or known is None or ctx.value(("model", "source")) == "local":
        return None
    model = from_table_entry(known.config, known.parameters, known.name)
    return estimate(model, bandwidth)


def held(ctx: Context) -> dict[str, Any] | None:
    """The HTTPScaledObject when it scales from zero (requests are then held)."""
    for scaler in ctx.release.of_kind("HTTPScaledObject"):
        if get(scaler, ("spec", "replicas", "min")) == 0:
            return scaler
    return None


@check("model", COLD_START_TIMEOUT_SHORT)
def timeouts(ctx: Context) -> Iterator[Finding]:
    scaler = held(ctx)
    if scaler is None:
        return
    expected = int(ctx.value(("coldStart", "expectedSeconds")) or 0)
    found = estimate_of(ctx)
    if found is not None and found.total_seconds > expected:
        cold = float(math.ceil(found.total_seconds))
        why = f"the estimated cold start, {cold:.0f} s ({found.inputs()})"
    else:
        cold = float(expected)
        why = f"the cold start coldStart.expectedSeconds states, {expected} s"
        if found is not None:
            why += f" (the estimate is {found.total_seconds:.0f} s: {found.inputs()})"
    wait = seconds(str(get(scaler, ("spec", "timeouts", "conditionWait")) or ""))
    if wait is not None and wait < cold:
        yield Finding(
            scaler,
            ("spec", "timeouts", "conditionWait"),
            f"the interceptor holds a request {wait:.0f} s for a replica, shorter than {why}: "
            f"the request fails before the replica serves; set coldStart.expectedSeconds to "
            f"{int(cold)} or more",
            COLD_START_TIMEOUT_SHORT,
        )
    for route in ctx.release.of_kind("HTTPRoute"):
        for r, item in enumerate(get(route, ("spec", "rules")) or []):
            for name in ("request", "backendRequest"):
                limit = seconds(str(get(item, ("timeouts", name)) or ""))
                if limit is not None and limit < cold:
                    yield Finding(
                        route,
                        ("spec", "rules", r, "timeouts", name),
                        f"the HTTPRoute's {name} timeout, {limit:.0f} s, is shorter than {why}: "
                        f"the gateway answers 504 while the replica starts; set "
                        f"httpRoute.timeouts.{name} to {int(cold)}s or more",
                        COLD_START_TIMEOUT_SHORT,
                        values=("httpRoute", "timeouts", name),
                    )
    for ingress in ctx.release.of_kind("Ingress"):
        annotations = get(ingress, ("metadata", "annotations")) or {}
        text = annotations.get(NGINX_ANNOTATION)
        nginx = get(ingress, ("spec", "ingressClassName")) == "nginx"
        if text is None and not nginx:
            continue
        limit = float(text) if isinstance(text, str) and text.isdigit() else None
        if text is None:
            limit = NGINX_READ_TIMEOUT
        if limit is None or limit >= cold:
            continue
        said = (
            f"ingress-nginx waits {limit:.0f} s for the upstream ({NGINX_ANNOTATION})"
            if text is not None
            else f"ingress-nginx waits {NGINX_READ_TIMEOUT} s for the upstream by default"
        )
        yield Finding(
            ingress,
            ("metadata", "annotations") if text is not None else ("spec", "ingressClassName"),
            f"{said}, shorter than {why}: it answers 504 while the replica starts; set the "
            f'annotation {NGINX_ANNOTATION}: "{int(cold)}" in ingress.annotations',
            COLD_START_TIMEOUT_SHORT,
            values=("ingress", "annotations", NGINX_ANNOTATION)
            if text is not None
            else ("ingress", "className"),
        )
