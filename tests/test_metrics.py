"""Metrics, alerts and dashboard: the ServiceMonitor, the PrometheusRule and the Grafana
dashboard ConfigMap, rendered by the real Helm engine. The custom kinds have no Kubernetes
schema, so their required fields are checked here; every PromQL expression is checked against
the metrics vLLM 0.33.0 really exposes (schemas/vllm/0.33.0-metrics.json, taken from vLLM's
own source)."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import helm_python
import pytest
import yaml
from click.testing import CliRunner
from promql import (
    GRAFANA_VARIABLE,
    IDENTIFIER,
    PROMQL_WORDS,
    SERIES,
    check_expression,
    dashboard_expressions,
    dashboard_of,
    run_promtool,
    strip_strings,
    syntax_problems,
    vllm_selectors,
)

from conftest import CHART, QWEN, ROOT, render_values
from modelservice.cli import cli
from modelservice.core.errors import EngineError
from modelservice.k8s import names as k8s

ALL_ON = {
    "model": {"name": QWEN},
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    },
}


def with_metrics(**metrics: Any) -> dict[str, Any]:
    """ALL_ON with some metrics sections replaced (merged one level deep)."""
    values = json.loads(json.dumps(ALL_ON))
    for section, settings in metrics.items():
        values["metrics"][section].update(settings)
    return values


def alert_rules(rendered) -> list[dict[str, Any]]:
    rule = rendered.one("PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def alerts_by_name(rendered) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in alert_rules(rendered)}


# -- the custom kinds' required fields ---------------------------------------------------------

DURATION = re.compile(
    r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
)


def metadata_problems(obj: dict[str, Any]) -> list[str]:
    problems = []
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    if not (len(name) <= 253 and k8s.DNS1123_SUBDOMAIN.match(name)):
        problems.append(f"metadata.name {name!r}")
    if not k8s.DNS1123_LABEL.match(metadata.get("namespace", "")):
        problems.append(f"metadata.namespace {metadata.get('namespace')!r}")
    for key, value in (metadata.get("labels") or {}).items():
        problems += filter(None, [k8s.label_key_problem(key), k8s.label_value_problem(value)])
    return problems


def servicemonitor_problems(obj: dict[str, Any]) -> list[str]:
    """What the Prometheus Operator's ServiceMonitor CRD (monitoring.coreos.com/v1) requires."""
    problems = metadata_problems(obj)
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not selector.get("matchLabels"):
        problems.append("spec.selector.matchLabels is required")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        problems.append("spec.endpoints must list at least one endpoint")
    for index, endpoint in enumerate(endpoints or []):
        if not endpoint.get("port"):
            problems.append(f"spec.endpoints[{index}].port is required")
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint and not DURATION.match(str(endpoint[key])):
                problems.append(f"spec.endpoints[{index}].{key} is not a duration")
        for key in ("relabelings", "metricRelabelings"):
            if not isinstance(endpoint.get(key, []), list):
                problems.append(f"spec.endpoints[{index}].{key} must be a list")
    return problems


def prometheusrule_problems(obj: dict[str, Any]) -> list[str]:
    """What the PrometheusRule CRD requires, and what Prometheus checks when it loads a rule."""
    problems = metadata_problems(obj)
    groups = (obj.get("spec") or {}).get("groups")
    if not isinstance(groups, list) or not groups:
        return [*problems, "spec.groups must list at least one group"]
    names = [g.get("name") for g in groups]
    if len(set(names)) != len(names) or not all(names):
        problems.append("every group needs a unique name")
    for group in groups:
        for index, rule in enumerate(group.get("rules") or []):
            where = f"{group.get('name')}.rules[{index}]"
            if not rule.get("alert") or not re.match(r"^[A-Za-z_]\w*$", rule["alert"]):
                problems.append(f"{where}.alert is required")
            if not isinstance(rule.get("expr"), str) or not rule["expr"]:
                problems.append(f"{where}.expr is required")
            if "for" in rule and not DURATION.match(str(rule["for"])):
                problems.append(f"{where}.for is not a duration")
            for key, value in (rule.get("labels") or {}).items():
                if not re.match(r"^[a-zA-Z_]\w*$", key) or not isinstance(value, str):
                    problems.append(f"{where}.labels.{key}")
            for key, value in (rule.get("annotations") or {}).items():
                if not isinstance(value, str):
                    problems.append(f"{where}.annotations.{key} must be a string")
    return problems


@pytest.mark.parametrize(
    "values",
    [
        ALL_ON,
        with_metrics(
            serviceMonitor={
                "namespace": "monitoring",
                "labels": {"release": "prometheus"},
                "relabelings": [{"action": "labeldrop", "regex": "container"}],
            },
            prometheusRule={"namespace": "monitoring", "labels": {"release": "prometheus"}},
            dashboard={"namespace": "grafana", "annotations": {"grafana_folder": "LLM"}},
        ),
    ],
    ids=["defaults", "namespaces-and-labels"],
)
def test_the_monitoring_objects_have_every_field_their_crds_require(objects, values):
    rendered = objects(values)
    assert servicemonitor_problems(rendered.one("ServiceMonitor")) == []
    assert prometheusrule_problems(rendered.one("PrometheusRule")) == []
    assert alert_rules(rendered), "the PrometheusRule holds no alert"


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ({"spec": {"endpoints": [{"port": "http"}]}}, "spec.selector.matchLabels is required"),
        ({"spec": {"selector": {"matchLabels": {"a": "b"}}}}, "spec.endpoints must list"),
        (
            {"spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"path": "/m"}]}},
            "spec.endpoints[0].port is required",
        ),
    ],
)
def test_the_servicemonitor_check_rejects_a_monitor_without_its_required_fields(obj, problem):
    obj = {"metadata": {"name": "x", "namespace": "ai"}, **obj}
    assert any(p.startswith(problem) for p in servicemonitor_problems(obj))


def test_the_prometheusrule_check_rejects_a_rule_without_alert_or_expr():
    obj = {
        "metadata": {"name": "x", "namespace": "ai", "labels": {"bad key!": "x"}},
        "spec": {"groups": [{"name": "g", "rules": [{"expr": "up == 0"}, {"alert": "A"}]}]},
    }
    problems = prometheusrule_problems(obj)
    assert "g.rules[0].alert is required" in problems
    assert "g.rules[1].expr is required" in problems
    assert any("bad key!" in p for p in problems)


# -- defaults ----------------------------------------------------------------------------------


def test_renders_no_monitoring_objects_by_default(objects):
    kinds = {o["kind"] for o in objects({"model": {"name": QWEN}}).all}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap"}


# -- ServiceMonitor ----------------------------------------------------------------------------


def test_the_servicemonitor_scrapes_metrics_on_the_http_port_of_the_charts_service(objects):
    rendered = objects(with_metrics(), release="qwen", namespace="ai")
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    assert monitor["metadata"]["namespace"] == "ai"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector == service["spec"]["selector"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ai"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint == {
        "port": "http",
        "path": "/metrics",
        "scheme": "http",
        "interval": "30s",
        "scrapeTimeout": "10s",
    }


def test_servicemonitor_interval_timeout_labels_and_relabelings_are_configurable(objects):
    relabelings = [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}]
    metric_relabelings = [{"action": "drop", "sourceLabels": ["__name__"], "regex": "vllm:hf3fs.*"}]
    values = with_metrics(
        serviceMonitor={
            "interval": "15s",
            "scrapeTimeout": "5s",
            "labels": {"release": "prometheus"},
            "relabelings": relabelings,
            "metricRelabelings": metric_relabelings,
        }
    )
    monitor = objects(values).one("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "5s")
    assert endpoint["relabelings"] == relabelings
    assert endpoint["metricRelabelings"] == metric_relabelings
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/instance"] == "test"


def test_a_servicemonitor_in_another_namespace_still_selects_the_release_namespace(objects):
    values = with_metrics(serviceMonitor={"namespace": "monitoring"})
    monitor = objects(values, namespace="ai").one("ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ai"]}


def test_the_scrape_carries_no_credentials_when_the_api_key_is_on(objects):
    # vLLM 0.33.0's AuthenticationMiddleware guards only paths under /v1, /v2, /inference and
    # /cohere (vllm/entrypoints/serve/middleware/authenticate.py), so /metrics stays open.
    values = with_metrics()
    values["auth"] = {"apiKey": {"secretName": "vllm-api-key"}}
    rendered = objects(values)
    assert "VLLM_API_KEY" in rendered.env()
    (endpoint,) = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert not {"authorization", "bearerTokenSecret", "basicAuth", "oauth2"} & endpoint.keys()
    assert not endpoint["path"].startswith(("/v1", "/v2", "/inference", "/cohere"))


# -- PrometheusRule ----------------------------------------------------------------------------

ALERTS = [
    "VLLMServerDown",
    "VLLMRequestsWaiting",
    "VLLMKVCacheNearlyFull",
    "VLLMTimeToFirstTokenHigh",
]


def test_the_prometheusrule_holds_the_four_alerts_with_their_severities(objects):
    alerts = alerts_by_name(objects(with_metrics()))
    assert list(alerts) == ALERTS
    assert {name: a["labels"]["severity"] for name, a in alerts.items()} == {
        "VLLMServerDown": "critical",
        "VLLMRequestsWaiting": "warning",
        "VLLMKVCacheNearlyFull": "warning",
        "VLLMTimeToFirstTokenHigh": "warning",
    }
    assert {name: a["for"] for name, a in alerts.items()} == {
        "VLLMServerDown": "5m",
        "VLLMRequestsWaiting": "10m",
        "VLLMKVCacheNearlyFull": "10m",
        "VLLMTimeToFirstTokenHigh": "10m",
    }


def test_every_alert_is_scoped_to_the_release_namespace_service_and_model(objects):
    rendered = objects(with_metrics(), release="qwen", namespace="ai")
    for rule in alert_rules(rendered):
        selectors = vllm_selectors(rule["expr"])
        if rule["alert"] == "VLLMServerDown":
            assert rule["expr"].count('up{namespace="ai", job="qwen-modelservice"}') == 2
            continue
        assert selectors, rule["alert"]
        for _, matchers in selectors:
            assert matchers == {
                "namespace": "ai",
                "service": "qwen-modelservice",
                "model_name": QWEN,
            }, rule["alert"]


def test_the_job_and_service_in_the_alerts_are_the_name_of_the_scraped_service(objects):
    rendered = objects(with_metrics(), release="qwen", namespace="ai")
    service = rendered.one("Service")["metadata"]["name"]
    alerts = alerts_by_name(rendered)
    assert f'job="{service}"' in alerts["VLLMServerDown"]["expr"]
    assert f'service="{service}"' in alerts["VLLMRequestsWaiting"]["expr"]


def test_the_served_model_name_is_the_model_name_label_of_the_alerts(objects):
    values = with_metrics()
    values["model"]["servedModelName"] = "qwen-small"
    for rule in alert_rules(objects(values))[1:]:
        assert {m["model_name"] for _, m in vllm_selectors(rule["expr"])} == {"qwen-small"}


def test_quotes_and_backslashes_of_a_served_model_name_are_escaped_in_promql(objects):
    values = with_metrics()
    values["model"]["servedModelName"] = "it's\"odd\\"
    expr = alerts_by_name(objects(values))["VLLMKVCacheNearlyFull"]["expr"]
    assert 'model_name="it\'s\\"odd\\\\"' in expr
    assert syntax_problems(expr) == []


@pytest.mark.parametrize(
    ("alert", "key", "settings", "expected"),
    [
        ("VLLMRequestsWaiting", "requestsWaiting", {"threshold": 25}, ") > 25"),
        ("VLLMKVCacheNearlyFull", "kvCacheUsage", {"threshold": 0.95}, ") > 0.95"),
        ("VLLMTimeToFirstTokenHigh", "timeToFirstToken", {"thresholdSeconds": 0.5}, ")) > 0.5"),
        ("VLLMTimeToFirstTokenHigh", "timeToFirstToken", {"quantile": 0.99}, "quantile(0.99, "),
    ],
)
def test_alert_thresholds_are_configurable(objects, alert, key, settings, expected):
    values = with_metrics(prometheusRule={"alerts": {key: settings}})
    assert expected in alerts_by_name(objects(values))[alert]["expr"]


def test_alert_for_durations_and_severities_are_configurable(objects):
    values = with_metrics(
        prometheusRule={"alerts": {"requestsWaiting": {"for": "30m", "severity": "info"}}}
    )
    alert = alerts_by_name(objects(values))["VLLMRequestsWaiting"]
    assert alert["for"] == "30m"
    assert alert["labels"]["severity"] == "info"


def test_additional_labels_reach_every_alert_and_a_severity_there_overrides(objects):
    values = with_metrics(prometheusRule={"additionalLabels": {"team": "ml", "severity": "page"}})
    for rule in alert_rules(objects(values)):
        assert rule["labels"] == {"team": "ml", "severity": "page"}


def test_prometheusrule_labels_and_namespace_are_configurable(objects):
    values = with_metrics(
        prometheusRule={"namespace": "monitoring", "labels": {"release": "prometheus"}}
    )
    rule = objects(values).one("PrometheusRule")
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"]["release"] == "prometheus"


@pytest.mark.parametrize(
    ("key", "alert"),
    [
        ("serverDown", "VLLMServerDown"),
        ("requestsWaiting", "VLLMRequestsWaiting"),
        ("kvCacheUsage", "VLLMKVCacheNearlyFull"),
        ("timeToFirstToken", "VLLMTimeToFirstTokenHigh"),
    ],
)
def test_a_disabled_alert_is_not_rendered(objects, key, alert):
    values = with_metrics(prometheusRule={"alerts": {key: {"enabled": False}}})
    assert list(alerts_by_name(objects(values))) == [a for a in ALERTS if a != alert]


def test_the_server_down_alert_expects_no_target_when_replicacount_is_zero(objects):
    values = with_metrics()
    values["replicaCount"] = 0
    expr = alerts_by_name(objects(values))["VLLMServerDown"]["expr"]
    assert "absent(" not in expr
    assert expr.endswith("== 0")


def test_alert_descriptions_keep_prometheus_templates_for_the_pod_and_value(objects):
    alerts = alerts_by_name(objects(with_metrics()))
    assert "{{ $labels.pod }}" in alerts["VLLMRequestsWaiting"]["annotations"]["description"]
    assert "{{ $value }}" in alerts["VLLMRequestsWaiting"]["annotations"]["description"]
    for alert in alerts.values():
        assert alert["annotations"]["summary"]


def test_a_prometheusrule_without_the_servicemonitor_is_rejected():
    values = {"model": {"name": QWEN}, "metrics": {"prometheusRule": {"enabled": True}}}
    with pytest.raises(EngineError, match="serviceMonitor"):
        render_values(values)


def test_validate_points_at_the_disabled_servicemonitor_of_an_enabled_prometheusrule(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text(
        f"model:\n  name: {QWEN}\nmetrics:\n  serviceMonitor:\n    enabled: false\n"
        "  prometheusRule:\n    enabled: true\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{path}:5:14: /metrics/serviceMonitor/enabled: false must ")
    assert "[schema-const]" in result.stderr


# -- dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_configmap_carries_the_grafana_sidecar_label_and_valid_json(objects):
    rendered = objects(with_metrics(), release="qwen", namespace="ai")
    configmap = rendered.one("ConfigMap")
    assert configmap["metadata"]["name"] == "qwen-modelservice-dashboard"
    assert configmap["metadata"]["namespace"] == "ai"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert list(configmap["data"]) == ["vllm-ai-qwen-modelservice.json"]
    dashboard = json.loads(configmap["data"]["vllm-ai-qwen-modelservice.json"])
    assert dashboard["title"] == "vLLM: ai/qwen-modelservice"


def test_dashboard_labels_annotations_and_namespace_are_configurable(objects):
    values = with_metrics(
        dashboard={
            "namespace": "grafana",
            "labels": {"grafana_dashboard": None, "dashboards": "llm"},
            "annotations": {"grafana_folder": "LLM"},
        }
    )
    metadata = objects(values).one("ConfigMap")["metadata"]
    assert metadata["namespace"] == "grafana"
    assert metadata["labels"]["dashboards"] == "llm"
    assert "grafana_dashboard" not in metadata["labels"]
    assert metadata["annotations"] == {"grafana_folder": "LLM"}


def test_each_release_gets_its_own_dashboard_uid_within_grafanas_limit(objects):
    uids = {
        dashboard_of(objects(with_metrics(), release=release, namespace=namespace))["uid"]
        for release, namespace in [("qwen", "ai"), ("llama", "ai"), ("qwen", "team-b")]
    }
    assert len(uids) == 3
    assert all(len(uid) <= 40 and re.match(r"^[a-zA-Z0-9_-]+$", uid) for uid in uids)


def test_the_dashboard_has_datasource_and_model_name_variables_preset_to_the_release(objects):
    dashboard = dashboard_of(objects(with_metrics(), release="qwen", namespace="ai"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["model_name"]["current"]["value"] == [QWEN]
    assert variables["namespace"]["current"]["value"] == "ai"
    assert variables["service"]["current"]["value"] == "qwen-modelservice"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert 'model_name=~"$model_name"' in target["expr"], panel["title"]


@pytest.mark.parametrize(
    ("title", "series"),
    [
        ("Tokens per second", {"vllm:prompt_tokens_total", "vllm:generation_tokens_total"}),
        ("Time to first token", {"vllm:time_to_first_token_seconds_bucket"}),
        ("Inter-token latency", {"vllm:inter_token_latency_seconds_bucket"}),
        ("End-to-end request latency", {"vllm:e2e_request_latency_seconds_bucket"}),
        (
            "Requests running and waiting",
            {"vllm:num_requests_running", "vllm:num_requests_waiting"},
        ),
        ("KV-cache usage", {"vllm:kv_cache_usage_perc"}),
        ("Preemptions per second", {"vllm:num_preemptions_total"}),
    ],
)
def test_the_dashboard_has_a_panel_for(objects, title, series):
    panels = {p["title"]: p for p in dashboard_of(objects(with_metrics()))["panels"]}
    used = {name for t in panels[title]["targets"] for name, _ in vllm_selectors(t["expr"])}
    assert used == series


@pytest.mark.parametrize(
    "title", ["Time to first token", "Inter-token latency", "End-to-end request latency"]
)
def test_latency_panels_show_p50_p95_and_p99(objects, title):
    panels = {p["title"]: p for p in dashboard_of(objects(with_metrics()))["panels"]}
    quantiles = [
        re.match(r"histogram_quantile\(([\d.]+),", t["expr"]).group(1)
        for t in panels[title]["targets"]
    ]
    assert quantiles == ["0.5", "0.95", "0.99"]


def test_dashboard_panels_do_not_overlap(objects):
    cells = set()
    for panel in dashboard_of(objects(with_metrics()))["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, panel["title"]
        cells |= area


# -- every metric and label exists in vLLM 0.33.0 ----------------------------------------------


def rendered_expressions(objects) -> list[str]:
    rendered = objects(with_metrics())
    return [r["expr"] for r in alert_rules(rendered)] + dashboard_expressions(
        dashboard_of(rendered)
    )


def test_every_promql_expression_uses_only_series_and_labels_vllm_0_33_0_exposes(objects):
    expressions = rendered_expressions(objects)
    assert len(expressions) >= 20
    assert {expr: check_expression(expr) for expr in expressions} == {
        expr: [] for expr in expressions
    }


def test_every_metric_name_in_the_expressions_is_a_vllm_series(objects):
    names = set()
    for expr in rendered_expressions(objects):
        text = GRAFANA_VARIABLE.sub("", strip_strings(expr))
        text = re.sub(r"\[[^\]]*\]|\{[^}]*\}|\b(by|without)\s*\([^)]*\)", " ", text)
        names |= set(IDENTIFIER.findall(text)) - PROMQL_WORDS
    assert names and all(name.startswith("vllm:") for name in names), names
    assert names <= SERIES.keys(), names - SERIES.keys()


def test_the_model_name_label_is_one_vllm_puts_on_every_metric_the_chart_queries(objects):
    used = {name for expr in rendered_expressions(objects) for name, _ in vllm_selectors(expr)}
    for name in used:
        assert "model_name" in (SERIES[name]["labels"] or []), name


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ('vllm:gpu_cache_usage_perc{model_name="m"}', "vllm:gpu_cache_usage_perc is not a series"),
        ("vllm:time_to_first_token_seconds", "vllm:time_to_first_token_seconds is not a series"),
        (
            'vllm:num_requests_waiting{modelname="m"}',
            "vllm:num_requests_waiting has no label modelname",
        ),
        ("sum by (model) (vllm:num_requests_waiting)", "grouping by model"),
        ("sum(rate(vllm:prompt_tokens_total[5m])", "unclosed '('"),
        ('sum({model_name="m"})', "a selector without a metric name"),
        ('vllm:num_requests_waiting{model_name="m}', "an unterminated string"),
    ],
)
def test_the_promql_check_catches_a_wrong_metric_label_or_bracket(expr, problem):
    assert any(p.startswith(problem) for p in check_expression(expr)), check_expression(expr)


def test_helm_lint_reports_no_messages_with_every_monitoring_object_on():
    report = helm_python.lint(str(CHART), with_metrics(), strict=True)
    assert report["errors"] == []
    assert report["messages"] == []


@pytest.mark.parametrize(
    ("interval", "timeout"), [("10s", "30s"), ("1m", "1m1s"), ("500ms", "1s"), ("1h", "1d")]
)
def test_a_scrape_timeout_longer_than_the_interval_fails_early(interval, timeout):
    values = with_metrics(serviceMonitor={"interval": interval, "scrapeTimeout": timeout})
    refusal = (
        r"modelservice: metrics\.serviceMonitor\.scrapeTimeout\|"
        r"metrics\.serviceMonitor\.interval: "
        rf"scrapeTimeout {timeout} is longer than interval {interval}: .* "
        r"\[scrape-timeout-above-interval\]"
    )
    with pytest.raises(EngineError, match=refusal):
        render_values(values)


@pytest.mark.parametrize(
    ("interval", "timeout"), [("30s", "30s"), ("1m", "59s"), ("1m30s", "90s"), ("1h", "59m59s")]
)
def test_a_scrape_timeout_up_to_the_interval_renders(objects, interval, timeout):
    values = with_metrics(serviceMonitor={"interval": interval, "scrapeTimeout": timeout})
    (endpoint,) = objects(values).one("ServiceMonitor")["spec"]["endpoints"]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == (interval, timeout)


# -- Prometheus' own parser and rule engine (promtool) -----------------------------------------


def test_promtool_parses_every_alert_and_dashboard_expression(objects, promtool, tmp_path):
    rendered = objects(with_metrics())
    groups = rendered.one("PrometheusRule")["spec"]["groups"]
    # Dashboard queries as recording rules, with Grafana's variables given values.
    grafana = {"$__rate_interval": "5m", "$namespace": "ai", "$service": "s", "$model_name": ".*"}
    recorded = []
    for index, expr in enumerate(dashboard_expressions(dashboard_of(rendered))):
        for variable, value in grafana.items():
            expr = expr.replace(variable, value)
        recorded.append({"record": f"dashboard:query{index}", "expr": expr})
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [*groups, {"name": "dash", "rules": recorded}]}))
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(recorded) + len(ALERTS)} rules found" in result.stdout


def test_the_alerts_fire_on_this_service_only_as_promtool_evaluates_them(
    objects, promtool, tmp_path
):
    values = with_metrics(
        prometheusRule={
            "additionalLabels": {"team": "ml-platform"},
            "alerts": {
                "requestsWaiting": {"threshold": 20},
                "timeToFirstToken": {"thresholdSeconds": 1.5},
            },
        }
    )
    rule = objects(values, release="qwen", namespace="ai").one("PrometheusRule")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    test_file = tmp_path / "alerts.test.yaml"
    shutil.copy(ROOT / "tests" / "promtool" / "alerts.test.yaml", test_file)
    result = run_promtool(promtool, "test", "rules", test_file)
    assert result.returncode == 0, result.stdout + result.stderr
