"""Property: any values file that `modelservice validate` accepts renders, through the real Helm
engine, into manifests an API server with strict field validation accepts.

Values are generated from the chart's own JSON Schema (tests/schema_strategy.py). The Kubernetes
objects passed through values (env, affinity, volumes, ...) and engine.args are drawn from
pools of real ones instead of from their loose `type: object` shapes, which random data would
almost never fill correctly; everything else is as random as the schema allows. Whatever this
finds is a bug in the schema, the rules or the chart.
"""

from __future__ import annotations

import json
from typing import Any

import helm_python
from hypothesis import HealthCheck, assume, example, given, settings

from conftest import CHART, assert_valid_kubernetes, render_values
from modelservice.helm.engine import go_log_silenced, load_chart
from modelservice.schema.check import chart_validator
from modelservice.validate import validate_loaded
from modelservice.values.loader import load_text
from schema_strategy import from_schema, generation_schema


@settings(
    # 200 draws (the same on every run: the ci profile derandomizes), about 150 s; the
    # examples below hold what earlier draws found.
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(values=from_schema(generation_schema()))
# Found by a random draw: it validated and rendered, then the manifest reader (a YAML 1.1
# reader) crashed on Helm's plain `a: =`, which Kubernetes reads as the string "=".
@example(values={"model": {"name": "org/model"}, "service": {"annotations": {"a": "="}}})
# Found by the real API server: "00%" is zero too, and a rolling update must move a pod.
@example(
    values={
        "model": {"name": "org/model"},
        "persistence": {"accessModes": ["ReadWriteMany"]},
        "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "00%"}},
    }
)
# Found by the real API server: ReadWriteOncePod admits no other access mode.
@example(
    values={
        "model": {"name": "org/model"},
        "persistence": {"accessModes": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteOncePod"]},
    }
)
# Found by the real API server: a budget of more than all pods.
@example(values={"model": {"name": "org/model"}, "podDisruptionBudget": {"maxUnavailable": "200%"}})
# Found by the real API server: a node selector's values are label values.
@example(values={"model": {"name": "org/model"}, "tests": {"nodeSelector": {"a": ":"}}})
# Found by the real API server: a claim of no storage.
@example(values={"model": {"name": "org/model"}, "persistence": {"size": "0"}})
# Found by the real API server: no more than all pods can be unavailable.
@example(
    values={
        "model": {"name": "org/model"},
        "persistence": {"accessModes": ["ReadWriteMany"]},
        "strategy": {"rollingUpdate": {"maxUnavailable": "110%"}},
    }
)
@example(
    values={
        "model": {"name": "org/model"},
        "podAnnotations": {"at": "12:30", "on": "2001-12-14", "merge": "<<", "yes": "y"},
    }
)
def test_values_that_validate_render_into_manifests_a_strict_api_server_accepts(
    apiserver, values: dict[str, Any]
):
    loaded = load_text(json.dumps(values), "generated.yaml")
    result = validate_loaded(loaded, CHART, release="prop")
    # The one schema validator's verdict is Helm's own (Helm merges and checks, as its render
    # does): validate renders without Helm's second check only because of this.
    helm_chart = load_chart(CHART)
    with go_log_silenced():
        merged = helm_chart.merge_values(values)
    python_verdict = next(iter(chart_validator(CHART).iter_errors(merged)), None) is None
    try:
        with go_log_silenced():
            helm_chart.validate_schema(values)
        helm_verdict = True
    except helm_python.HelmError:
        helm_verdict = False
    assert python_verdict == helm_verdict
    assume(not any(p.severity == "error" for p in result.problems))
    rendered = render_values(values, release="prop")
    assert rendered.text() == result.rendered.text() or "api-key" in rendered.text()
    assert_valid_kubernetes(rendered)
    # The authority: a real kube-apiserver, strict field validation, server-side dry run.
    objects = rendered.objects()
    answers = apiserver.dry_run(objects)
    refused = [(o["kind"], a) for o, a in zip(objects, answers, strict=True) if a is not None]
    assert refused == [], refused


def test_strings_a_yaml_1_1_reader_would_misread_come_back_as_the_strings_kubernetes_reads():
    """The `=` draw above, asserted on its own: it validates, and the rendered Service carries
    the annotation as the text Kubernetes reads (not a crash, not a number, not a date)."""
    annotations = {"a": "=", "at": "12:30", "on": "2001-12-14", "merge": "<<"}
    values = {"model": {"name": "org/model"}, "service": {"annotations": annotations}}
    result = validate_loaded(load_text(json.dumps(values), "annotations.yaml"), CHART)
    assert [p for p in result.problems if p.severity == "error"] == []
    rendered = render_values(values, release="prop")
    assert_valid_kubernetes(rendered)
    service = next(o for o in rendered.objects() if o["kind"] == "Service")
    assert service["metadata"]["annotations"] == annotations
