"""Checkov's Kubernetes checks over every values example, against a committed list of accepted
findings (tests/checkov-accepted.yaml): a new finding, or an accepted one that went away,
fails the suite. Checkov runs once over a folder holding every example (one file a manifest).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from conftest import CHART, EXAMPLES, ROOT
from modelservice.helm.engine import release_name_for, render
from modelservice.render import write_release
from modelservice.validate import validate_file

ACCEPTED_FILE = ROOT / "tests" / "checkov-accepted.yaml"
#: The kind a LeaderWorkerSet's worker pod template is reported as: the Deployment's pod with
#: a worker's command line, no API port and no probes. What is accepted for the Deployment is
#: accepted for it too.
WORKER = "LeaderWorkerSet worker"
#: The kind the endpoint picker's Deployment (routing.inferencePool) is reported as: it runs
#: the picker, and the vLLM render server beside it with routing.kvEvents. What is accepted for
#: the Deployment is accepted for it too; what is accepted for it alone names this kind.
PICKER = "Deployment endpoint-picker"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "helmfile.yaml")


def load_accepted() -> dict[str, set[str]]:
    """Accepted check id -> the resource kinds it is accepted for."""
    entries = yaml.safe_load(ACCEPTED_FILE.read_text(encoding="utf-8"))
    accepted: dict[str, set[str]] = {}
    for entry in entries:
        assert set(entry) == {"id", "kinds", "reason"}, entry
        assert entry["reason"].strip() and "\n" not in entry["reason"], entry
        assert entry["id"] not in accepted, f"{entry['id']} is listed twice"
        accepted[entry["id"]] = set(entry["kinds"])
    return accepted


@pytest.fixture(scope="module")
def findings(tmp_path_factory) -> dict[tuple[str, str, str], str]:
    """Every check result: (example, kind, check id) -> PASSED or FAILED (FAILED wins)."""
    folder = tmp_path_factory.mktemp("checkov")
    for path in EXAMPLE_FILES:
        result = validate_file(path, CHART)
        assert result.problems == [], path
        # A named namespace: the chart always renders the release namespace explicitly.
        rendered = render(CHART, result.values, release=release_name_for(str(path)), namespace="ai")
        write_release(rendered, folder)
        # Checkov has no checks of a LeaderWorkerSet: its pod templates (the chart's one pod
        # template, for the leader and the workers) go to Checkov as Deployments.
        for obj in rendered.objects():
            if obj["kind"] == "LeaderWorkerSet":
                for role, template in obj["spec"]["leaderWorkerTemplate"].items():
                    if not role.endswith("Template") or role == "volumeClaimTemplates":
                        continue
                    name = f"{obj['metadata']['name']}-{role.removesuffix('Template')}"
                    labels = template["metadata"]["labels"]
                    as_deployment = {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": name, "namespace": obj["metadata"]["namespace"]},
                        "spec": {"selector": {"matchLabels": labels}, "template": template},
                    }
                    out = folder / rendered.release / f"leaderworkerset-{role}.yaml"
                    out.write_text(yaml.safe_dump(as_deployment), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "checkov.main",
        "--directory",
        str(folder),
        "--framework",
        "kubernetes",
        "--output",
        "json",
        "--compact",
        "--skip-download",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert proc.stdout.strip(), proc.stderr
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    kinds = {
        "/" + str(f.relative_to(folder)): _kind(f)
        for f in [*folder.glob("*/*.yaml"), *folder.glob("*/hooks/*.yaml")]
    }
    outcome: dict[tuple[str, str, str], str] = {}
    for report in reports:
        for status, key in (("PASSED", "passed_checks"), ("FAILED", "failed_checks")):
            for check in report["results"][key]:
                example = Path(check["file_path"]).parts[1]
                # The kind of the manifest checked: Checkov names a Deployment's pod
                # template "Pod" in its graph checks.
                kind = kinds[check["file_path"]]
                where = (example, kind, check["check_id"])
                if outcome.get(where) != "FAILED":
                    outcome[where] = status
    return outcome


def _kind(path: Path) -> str:
    """The kind a manifest's findings are reported under."""
    if path.name == "leaderworkerset-workerTemplate.yaml":
        return WORKER
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    labels = manifest.get("metadata", {}).get("labels") or {}
    if manifest["kind"] == "Deployment" and labels.get("app.kubernetes.io/component") == (
        "endpoint-picker"
    ):
        return PICKER
    return str(manifest["kind"])


def test_checkov_saw_every_example_and_the_objects_it_should_check(findings):
    seen = defaultdict(set)
    for example, kind, _ in findings:
        seen[example].add(kind)
    assert set(seen) == {release_name_for(str(p)) for p in EXAMPLE_FILES}
    for kinds in seen.values():
        assert {"Deployment", "Pod"} <= kinds


def test_every_failed_checkov_check_is_an_accepted_finding(findings):
    accepted = load_accepted()
    unexpected = sorted(
        f"{example}: {kind} {check}"
        for (example, kind, check), status in findings.items()
        if status == "FAILED"
        and kind not in accepted.get(check, set())
        and not (kind in (WORKER, PICKER) and "Deployment" in accepted.get(check, set()))
    )
    assert unexpected == []


def test_every_accepted_finding_still_occurs(findings):
    failing = {(kind, check) for (_, kind, check), s in findings.items() if s == "FAILED"}
    stale = sorted(
        f"{check} for {kind}"
        for check, kinds in load_accepted().items()
        for kind in kinds
        if (kind, check) not in failing
    )
    assert stale == []


@pytest.mark.parametrize(
    ("example", "kind", "check"),
    [
        # The non-root example clears the root-container finding accepted for the defaults.
        ("non-root", "Deployment", "CKV_K8S_23"),
        # With networkPolicy on, the server pods have a NetworkPolicy.
        ("ingress-auth", "Deployment", "CKV2_K8S_6"),
        # The helm test pod: read-only root, non-root high UID, limits, no token, no escalation.
        ("qwen2-5-0-5b-instruct-hf-mirror", "Pod", "CKV_K8S_22"),
        ("qwen2-5-0-5b-instruct-hf-mirror", "Pod", "CKV_K8S_23"),
        ("qwen2-5-0-5b-instruct-hf-mirror", "Pod", "CKV_K8S_40"),
        ("qwen2-5-0-5b-instruct-hf-mirror", "Pod", "CKV_K8S_11"),
        ("qwen2-5-0-5b-instruct-hf-mirror", "Pod", "CKV_K8S_13"),
        ("qwen2-5-0-5b-instruct-hf-mirror", "Pod", "CKV_K8S_20"),
        ("qwen2-5-0-5b-instruct-hf-mirror", "Pod", "CKV_K8S_38"),
        ("qwen2-5-0-5b-instruct-hf-mirror", "Deployment", "CKV_K8S_38"),
        ("qwen2-5-0-5b-instruct-hf-mirror", "Deployment", "CKV_K8S_31"),
    ],
)
def test_checks_the_chart_fixed_pass(findings, example, kind, check):
    assert findings.get((example, kind, check)) == "PASSED"
