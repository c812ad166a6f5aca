"""PromQL as the tests read it, against the metrics vLLM 0.33.0 really exposes
(schemas/vllm/0.33.0-metrics.json, taken from vLLM's own source), and Prometheus' own promtool
(Debian's ``prometheus`` package; the ``promtool`` fixture of conftest.py installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VLLM_METRICS: dict[str, Any] = json.loads(
    (ROOT / "schemas" / "vllm" / "0.33.0-metrics.json").read_text(encoding="utf-8")
)["metrics"]
#: Every series name vLLM exposes, to the metric that defines it (`_bucket` -> histogram).
SERIES = {series: metric for metric in VLLM_METRICS.values() for series in metric["series"]}
#: Labels the Prometheus Operator puts on every series it scrapes through a ServiceMonitor.
TARGET_LABELS = {"namespace", "service", "job", "pod", "instance", "container", "endpoint"}
#: The chart's PromQL strings may carry Grafana variables; these are not metric names.
GRAFANA_VARIABLE = re.compile(r"\$(\{\w+\}|\w+)")

# -- PromQL, read the way Prometheus reads it ---------------------------------------------------

IDENTIFIER = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")
SELECTOR = re.compile(r"(vllm:[a-zA-Z0-9_:]+)\s*(\{((?:[^}\"]|\"(?:[^\"\\]|\\.)*\")*)\})?")
MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "by",
    "without",
    "or",
    "and",
    "unless",
    "absent",
    "histogram_quantile",
    "label_values",
    "up",
}


def strip_strings(expr: str) -> str:
    """The expression with the content of every string literal removed."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def vllm_selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """Every `vllm:...` series in an expression, with its label matchers (name -> value)."""
    found = []
    for match in SELECTOR.finditer(expr):
        matchers: dict[str, str] = {}
        body = match.group(3) or ""
        position = 0
        while position < len(body):
            matcher = MATCHER.match(body, position)
            assert matcher, f"cannot read the label matchers {body!r} of {expr!r}"
            matchers[matcher.group(1)] = matcher.group(3)
            position = matcher.end()
        found.append((match.group(1), matchers))
    return found


def syntax_problems(expr: str) -> list[str]:
    """What a PromQL parser would reject at a glance: an unterminated string, unbalanced
    brackets, a selector without a metric name."""
    if re.sub(r'"(?:[^"\\]|\\.)*"', "", expr).count('"'):
        return ["an unterminated string"]
    problems = []
    text = strip_strings(expr)
    stack = []
    for char in text:
        if char in "([{":
            stack.append(char)
        elif char in ")]}":
            if not stack or "([{"[")]}".index(char)] != stack.pop():
                problems.append(f"unbalanced {char!r}")
                break
    if stack:
        problems.append(f"unclosed {stack[-1]!r}")
    if re.search(r"(^|[\s(,])\{", text):
        problems.append("a selector without a metric name")
    return problems


def check_expression(expr: str) -> list[str]:
    """Every problem of one PromQL expression against vLLM 0.33.0's metrics."""
    problems = syntax_problems(expr)
    selectors = vllm_selectors(expr)
    known_labels = set(TARGET_LABELS)
    for name, matchers in selectors:
        metric = SERIES.get(name)
        if metric is None:
            problems.append(f"{name} is not a series vLLM 0.33.0 exposes")
            continue
        labels = set(metric["labels"] or []) | TARGET_LABELS
        if name.endswith("_bucket"):
            labels.add("le")
        known_labels |= labels
        problems += [f"{name} has no label {label}" for label in matchers if label not in labels]
    for group in GROUPING.findall(strip_strings(expr)):
        for label in (part.strip() for part in group.split(",") if part.strip()):
            if label not in known_labels:
                problems.append(f"grouping by {label}, a label none of its series has")
    return problems


def installed_promtool() -> str | None:
    """Prometheus' promtool, installed from Debian's ``prometheus`` package when missing (the
    suite installs what it needs rather than skipping); None when it cannot be."""
    found = shutil.which("promtool")
    if found is None and shutil.which("apt-get"):
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        found = shutil.which("promtool")
    return found


def run_promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=120)


# -- the chart's Grafana dashboard -------------------------------------------------------------


def dashboard_of(rendered) -> dict[str, Any]:
    configmap = rendered.one("ConfigMap")
    (text,) = configmap["data"].values()
    return json.loads(text)


def dashboard_expressions(dashboard: dict[str, Any]) -> list[str]:
    """The PromQL of every panel target and every query variable of a dashboard."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            exprs.append(re.sub(r"^label_values\((.*),\s*(\w+)\)$", r"\1", query))
    return exprs
