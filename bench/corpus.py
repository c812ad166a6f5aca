"""Realistic values files for the benchmarks.

Half of the files are the scenarios of values-examples/ cycled, each copy varied (its own
annotations, labels and node pool, so no two files are alike); the other half are generated
with the Kubernetes objects platform engineers really pass through the chart: node affinity
and pod anti-affinity, tolerations of tainted GPU pools, extra volumes and their mounts, and
environment variables from Secrets and the downward API. Every file is valid (the benchmark
checks that before timing anything), so both tools do their whole work on every file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "values-examples").glob("*.yaml") if p.name != "helmfile.yaml")

MODELS = [
    ("Qwen/Qwen2.5-0.5B-Instruct", 1),
    ("Qwen/Qwen2.5-7B-Instruct", 1),
    ("meta-llama/Meta-Llama-3-8B-Instruct", 1),
    ("mistralai/Mistral-7B-Instruct-v0.3", 1),
    ("Qwen/Qwen2.5-32B-Instruct", 2),
    ("meta-llama/Meta-Llama-3-70B-Instruct", 4),
]
POOLS = ["a100", "h100", "l40s", "a10g"]


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def varied_example(source: Path, index: int, rng: random.Random) -> str:
    """One scenario of values-examples/ with its own annotations, labels and node pool."""
    import io

    yaml = _yaml()
    data = yaml.load(source.read_text(encoding="utf-8"))
    data.setdefault("podAnnotations", {})["bench.example.com/copy"] = str(index)
    data.setdefault("podLabels", {})["team"] = rng.choice(["search", "chat", "ml-platform"])
    if "nodeSelector" not in data:
        data["nodeSelector"] = {"pool": f"gpu-{rng.choice(POOLS)}"}
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def generated(index: int, rng: random.Random) -> str:
    """A service with affinity, tolerations, volumes and env from Secrets."""
    model, gpus = rng.choice(MODELS)
    pool = rng.choice(POOLS)
    max_len = rng.choice([4096, 8192, 16384, 32768])
    lines = [
        f"# service {index}: {model} on the {pool} pool",
        "model:",
        f"  name: {model}",
        "huggingface:",
        "  endpoint: https://hf-mirror.com",
        "  token:",
        "    secretName: hf-token",
        "gpu:",
        f"  count: {gpus}",
        "engine:",
        "  args:",
        f"    - --max-model-len={max_len}",
        f"    - --gpu-memory-utilization={rng.choice(['0.85', '0.9', '0.92'])}",
        "    - --enable-prefix-caching",
        "resources:",
        "  requests:",
        f'    cpu: "{rng.choice([4, 8, 16])}"',
        f"    memory: {rng.choice([32, 64, 128])}Gi",
        "  limits:",
        f"    memory: {rng.choice([128, 192, 256])}Gi",
        "env:",
        "  - name: VLLM_LOGGING_LEVEL",
        f"    value: {rng.choice(['INFO', 'DEBUG', 'WARNING'])}",
        "  - name: S3_ACCESS_KEY_ID",
        "    valueFrom:",
        "      secretKeyRef:",
        "        name: model-store",
        "        key: access-key-id",
        "  - name: S3_SECRET_ACCESS_KEY",
        "    valueFrom:",
        "      secretKeyRef:",
        "        name: model-store",
        "        key: secret-access-key",
        "  - name: POD_IP",
        "    valueFrom:",
        "      fieldRef:",
        "        fieldPath: status.podIP",
        "envFrom:",
        "  - secretRef:",
        f"      name: team-{index % 9}-env",
        "  - configMapRef:",
        "      name: vllm-tuning",
        "      optional: true",
        "extraVolumes:",
        "  - name: adapters",
        "    persistentVolumeClaim:",
        f"      claimName: adapters-{index % 5}",
        "      readOnly: true",
        "  - name: chat-templates",
        "    configMap:",
        "      name: chat-templates",
        "extraVolumeMounts:",
        "  - name: adapters",
        "    mountPath: /adapters",
        "    readOnly: true",
        "  - name: chat-templates",
        "    mountPath: /etc/chat-templates",
        "affinity:",
        "  nodeAffinity:",
        "    requiredDuringSchedulingIgnoredDuringExecution:",
        "      nodeSelectorTerms:",
        "        - matchExpressions:",
        "            - key: nvidia.com/gpu.product",
        "              operator: In",
        "              values:",
        f"                - NVIDIA-{pool.upper()}",
        "    preferredDuringSchedulingIgnoredDuringExecution:",
        "      - weight: 50",
        "        preference:",
        "          matchExpressions:",
        "            - key: topology.kubernetes.io/zone",
        "              operator: In",
        f"              values: [zone-{index % 3}]",
        "  podAntiAffinity:",
        "    preferredDuringSchedulingIgnoredDuringExecution:",
        "      - weight: 100",
        "        podAffinityTerm:",
        "          topologyKey: kubernetes.io/hostname",
        "          labelSelector:",
        "            matchLabels:",
        f"              app.kubernetes.io/instance: service-{index:04d}",
        "tolerations:",
        "  - key: nvidia.com/gpu",
        "    operator: Exists",
        "    effect: NoSchedule",
        "  - key: dedicated",
        "    operator: Equal",
        f"    value: {pool}",
        "    effect: NoSchedule",
        "podAnnotations:",
        f"  bench.example.com/service: service-{index:04d}",
        "metrics:",
        "  serviceMonitor:",
        f"    enabled: {'true' if index % 2 else 'false'}",
    ]
    return "\n".join(lines) + "\n"


def write_corpus(folder: Path, count: int, seed: int = 13) -> list[Path]:
    """``count`` values files in ``folder``: varied examples and generated services, mixed."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count):
        if index % 2 == 0:
            source = EXAMPLES[(index // 2) % len(EXAMPLES)]
            text = varied_example(source, index, rng)
            name = f"{source.stem}-{index:04d}.yaml"
        else:
            text = generated(index, rng)
            name = f"service-{index:04d}.yaml"
        path = folder / name
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return files


def schema_for_check_jsonschema(folder: Path) -> Path:
    """The values schema as check-jsonschema reads it: the schema source, as JSON.

    chart/values.schema.json also marks every key the chart's defaults fill as required (so
    that a null cannot delete one); a user's file never holds those keys, so against it
    check-jsonschema would report dozens of errors per valid file. The source is the same
    schema without those lists: every benchmark file passes it.
    """
    import json

    from modelservice.schema.generate import load_schema_source

    path = folder / "values.schema.json"
    path.write_text(json.dumps(load_schema_source()), encoding="utf-8")
    return path
