"""Metrics: the scrape Prometheus accepts (the chart's own refusal, read from the render)."""

from __future__ import annotations

from ..core.rules import rule

SCRAPE_TIMEOUT_ABOVE_INTERVAL = rule(
    "scrape-timeout-above-interval",
    "error",
    "release",
    "metrics.serviceMonitor.scrapeTimeout longer than its interval: Prometheus refuses such a "
    "scrape, so the service would have no metrics. The chart refuses it too; make the timeout "
    "at most the interval.",
)
