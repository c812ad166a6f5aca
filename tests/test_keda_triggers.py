"""The KEDA trigger data (schemas/keda/, by tools/extract_keda_triggers.py from KEDA's own
source): the extractor's reading of KEDA's scaler builder and typed metadata tags, on small
sources written like KEDA's, and what the committed data says of the triggers the chart's
docs use."""

from __future__ import annotations

import importlib.util
import sys

from conftest import ROOT
from modelservice.checks.scale import keda_triggers, missing_metadata, promql_metrics


def _extractor():
    sys.path.insert(0, str(ROOT / "tools"))
    spec = importlib.util.spec_from_file_location(
        "extract_keda_triggers", ROOT / "tools" / "extract_keda_triggers.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDER = """
func buildScaler(ctx context.Context, triggerType string) (scalers.Scaler, error) {
	// TRIGGERS-START
	switch triggerType {
	case "cron":
		return scalers.NewCronScaler(config)
	case "redis", "redis-cluster":
		return scalers.NewRedisScaler(ctx, true, false, config)
	case "external-mock":
		return &externalMock{}, nil
	default:
		return nil, fmt.Errorf("no scaler found for type: %s", triggerType)
	}
	// TRIGGERS-END
}
"""
SCALER = """
type cronMetadata struct {
	Start    string `keda:"name=start,    order=triggerMetadata"`
	Timezone string `keda:"name=timezone, order=triggerMetadata"`
	Replicas int64  `keda:"name=desiredReplicas;replicas, order=triggerMetadata"`
	Optional string `keda:"name=other,    order=triggerMetadata, optional"`
	Default  bool   `keda:"name=flag,     order=triggerMetadata, default=true"`
	Password string `keda:"name=password, order=authParams;triggerMetadata"`
}
"""


def test_the_extractor_reads_every_case_of_the_scaler_builder():
    found = _extractor()._triggers(BUILDER)
    assert found == {
        "cron": "NewCronScaler",
        "redis": "NewRedisScaler",
        "redis-cluster": "NewRedisScaler",
        "external-mock": None,
    }


def test_required_metadata_is_a_trigger_metadata_field_neither_optional_nor_defaulted():
    assert _extractor()._required(SCALER) == [
        ["start"],
        ["timezone"],
        ["desiredReplicas", "replicas"],
    ]


def test_the_committed_data_knows_the_triggers_the_docs_name_and_what_they_require():
    triggers = keda_triggers()
    assert triggers is not None and {"prometheus", "cron", "cpu", "memory"} <= set(triggers)
    assert ["threshold"] in triggers["prometheus"]["requiredMetadata"]
    assert ["timezone"] in triggers["cron"]["requiredMetadata"]
    assert missing_metadata({"type": "prometheus", "metadata": {"query": "up"}}) == [
        "serverAddress",
        "threshold",
    ]


def test_the_metric_names_of_a_query_leave_out_functions_labels_and_durations():
    query = 'sum by (pod) (rate(nginx_requests_total{ingress="chat"}[2m])) + on(pod) vllm:x'
    assert promql_metrics(query) == {"nginx_requests_total", "vllm:x"}
