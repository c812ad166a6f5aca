#!/usr/bin/env python3
"""Read the facts the chart relies on about the endpoint picker from llm-d-router's own source.

The chart runs llm-d-router's endpoint picker (EPP) and writes its command line and its
configuration file; the suite checks both against what the picker's code accepts. This script
reads the Go source of the pinned module (``go mod download``, nothing is built or run) with
regular expressions and writes ``schemas/picker/<version>.json``:

- ``image``: the registry and name the project's Makefile publishes the picker under;
- ``flags``: every command-line flag of the picker (its options and logging options), with
  its Go default as written and whether it is deprecated;
- ``plugins``: every plugin type the picker registers (``registerInTreePlugins``), with its
  stability;
- ``engine_metrics``: the metrics the picker reads from a vLLM server by default
  (``defaultEngineConfigs``), by the JSON key of its configuration;
- ``metrics``: every metric the picker exports, with its type and labels;
- ``health_services``: the gRPC health services its probes may ask for;
- ``config``: the apiVersion and kind of its configuration file, and the JSON fields of each Go
  struct the file (and the parameters of the plugins the chart configures) decodes into,
  ``field -> type``, so that a key the picker's strict decoder would refuse is caught;
- ``kv_events``: the defaults of llm-d-kv-cache's KV-events pool (the module the picker
  requires), which the chart's configuration overrides.

    python3 tools/extract_picker.py           # write schemas/picker/<version>.json
    python3 tools/extract_picker.py --check   # exit 1 if the file differs

Needs ``go`` to download the modules (a version the proxy does not serve is read from its Git
tag with GOPROXY=direct, as tools/extract_crds.py says). Canonical JSON: a rerun on the same
version writes the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULE = "github.com/llm-d/llm-d-router"
VERSION = "v0.10.0"
KV_MODULE = "github.com/llm-d/llm-d-kv-cache"
GENERATOR = "tools/extract_picker.py"

#: The Go structs the configuration file and the chart's plugin parameters decode into:
#: (module, file, struct). Fields whose type is another listed struct nest.
STRUCTS = [
    (MODULE, "apix/config/v1alpha1/endpointpickerconfig_types.go", "EndpointPickerConfig"),
    (MODULE, "apix/config/v1alpha1/endpointpickerconfig_types.go", "PluginSpec"),
    (MODULE, "apix/config/v1alpha1/endpointpickerconfig_types.go", "SchedulingProfile"),
    (MODULE, "apix/config/v1alpha1/endpointpickerconfig_types.go", "SchedulingPlugin"),
    (MODULE, "apix/config/v1alpha1/endpointpickerconfig_types.go", "DataLayerConfig"),
    (MODULE, "apix/config/v1alpha1/endpointpickerconfig_types.go", "DataLayerSource"),
    (MODULE, "apix/config/v1alpha1/endpointpickerconfig_types.go", "DataLayerExtractor"),
    (
        MODULE,
        "pkg/epp/framework/plugins/datalayer/extractor/metrics/factories.go",
        "modelServerExtractorParams",
    ),
    (
        MODULE,
        "pkg/epp/framework/plugins/datalayer/extractor/metrics/factories.go",
        "engineConfigParams",
    ),
    (
        MODULE,
        "pkg/epp/framework/plugins/requestcontrol/dataproducer/tokenizer/tokenizer.go",
        "tokenizerPluginConfig",
    ),
    (
        MODULE,
        "pkg/epp/framework/plugins/requestcontrol/dataproducer/tokenizer/vllm_http.go",
        "vllmConfig",
    ),
    (
        MODULE,
        "pkg/epp/framework/plugins/requestcontrol/dataproducer/preciseprefixcache/producer.go",
        "PluginConfig",
    ),
    (MODULE, "pkg/epp/framework/plugins/scheduling/scorer/prefix/plugin.go", "Config"),
    (KV_MODULE, "pkg/kvevents/pool.go", "Config"),
    (KV_MODULE, "pkg/kvcache/kvblock/token_processor.go", "TokenProcessorConfig"),
]
#: The struct each plugin type the chart configures decodes its ``parameters`` into.
PLUGIN_PARAMETERS = {
    "core-metrics-extractor": "modelServerExtractorParams",
    "token-producer": "tokenizerPluginConfig",
    "precise-prefix-cache-producer": "PluginConfig",
    "prefix-cache-scorer": "Config",
}
#: Struct names that two packages share: the one meant for a field of a given struct.
FIELD_TYPES = {
    ("PluginConfig", "kvEventsConfig"): "kvevents.Config",
    ("PluginConfig", "tokenProcessorConfig"): "TokenProcessorConfig",
}


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


def go_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.go") if not p.name.endswith("_test.go"))


def block(text: str, start: int) -> str:
    """The text from ``start`` (an opening brace or parenthesis) to its match."""
    opening = text[start]
    closing = {"{": "}", "(": ")"}[opening]
    depth, index, quote = 0, start, ""
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in '`"':
            quote = char
        elif char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
        index += 1
    raise ValueError("unbalanced")


def string_constants(folder: Path) -> dict[str, str]:
    """``Name = "value"`` (typed or not) of every Go file of a package."""
    found: dict[str, str] = {}
    pattern = re.compile(r'^\s*(?:const\s+|var\s+)?(\w+)\s+(?:[\w.]+\s+)?=\s*"([^"]*)"', re.M)
    for path in go_files(folder):
        for name, value in pattern.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, value)
    return found


def imports(text: str, module: str) -> dict[str, str]:
    """alias -> package path (inside ``module``) of a Go file's imports."""
    found = {}
    for alias, path in re.findall(r'^\s*(\w+)?\s*"([^"]+)"$', text, re.M):
        if path.startswith(module + "/"):
            found[alias or path.rsplit("/", 1)[-1]] = path[len(module) + 1 :]
    return found


def flags(root: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for relative in ("pkg/epp/server/options.go", "pkg/common/observability/logging/options.go"):
        text = (root / relative).read_text(encoding="utf-8")
        fields: dict[str, str] = {}
        new = re.search(r"func New\w*Options\(\)[^{]*\{", text)
        if new:
            body = block(text, new.end() - 1)
            for field, value in re.findall(r"^\s*(\w+):\s*(.+?),\s*$", body, re.M):
                fields[field] = value
        for field, name in re.findall(r"fs\.\w+Var\w*\(&opts\.(\w+), \"([^\"]+)\"", text):
            found[name] = {"default": fields.get(field), "deprecated": False, "source": relative}
        for name in re.findall(r'fs\.MarkDeprecated\("([^"]+)"', text):
            found[name]["deprecated"] = True
    constants = {
        name: value
        for name, value in re.findall(
            r"^\s*(\w+)\s*=\s*([0-9]+)\b", (root / "pkg/epp/server/options.go").read_text(), re.M
        )
    }
    for spec in found.values():
        default = spec["default"]
        if isinstance(default, str) and default in constants:
            spec["default"] = constants[default]
    return dict(sorted(found.items()))


def plugins(root: Path) -> dict[str, str]:
    text = (root / "cmd/epp/runner/runner.go").read_text(encoding="utf-8")
    start = text.index("func (r *Runner) registerInTreePlugins()")
    body = block(text, text.index("{", start))
    packages = imports(text, MODULE)
    found = {}
    cache: dict[str, dict[str, str]] = {}
    for alias, name, stability in re.findall(
        r"fwkplugin\.Register\w*\((\w+)\.(\w+),\s*fwkplugin\.Stability(\w+)", body
    ):
        folder = root / packages[alias]
        constants = cache.setdefault(alias, string_constants(folder))
        for sub in (p for p in folder.iterdir() if p.is_dir()) if name not in constants else []:
            constants.update({k: v for k, v in string_constants(sub).items() if k not in constants})
        found[constants[name]] = stability.lower()
    return dict(sorted(found.items()))


def struct_fields(text: str, name: str) -> dict[str, str]:
    """``json name -> Go type`` of a struct's fields (inline members left out)."""
    match = re.search(rf"\b{name}\s+struct\s*\{{", text)
    if match is None:
        raise LookupError(name)
    fields = {}
    for go_type, tag in re.findall(
        r"^\s*\w+\s+([^\s`]+)\s+`json:\"([^\"]*)\"", block(text, match.end() - 1), re.M
    ):
        json_name = tag.split(",")[0]
        if json_name and json_name != "-":
            fields[json_name] = go_type
    return fields


def config(dirs: dict[str, Path]) -> dict[str, Any]:
    register = (dirs[MODULE] / "apix/config/v1alpha1/zz_generated.register.go").read_text()
    group = re.search(r'GroupName = "([^"]+)"', register).group(1)
    version = re.search(r'Version: "([^"]+)"', register).group(1)
    structs: dict[str, dict[str, str]] = {}
    for module, relative, name in STRUCTS:
        fields = struct_fields((dirs[module] / relative).read_text(encoding="utf-8"), name)
        key = "kvevents.Config" if module == KV_MODULE and name == "Config" else name
        structs[key] = fields
    for (struct, field), target in FIELD_TYPES.items():
        structs[struct][field] = target
    return {
        "apiVersion": f"{group}/{version}",
        "kind": "EndpointPickerConfig",
        "structs": structs,
        "plugin_parameters": PLUGIN_PARAMETERS,
    }


def engine_metrics(root: Path) -> dict[str, str]:
    text = (root / "pkg/epp/framework/plugins/datalayer/extractor/metrics/factories.go").read_text(
        encoding="utf-8"
    )
    tags = {
        field: tag.split(",")[0]
        for field, tag in re.findall(r"^\s*(\w+)\s+\S+\s+`json:\"([^\"]+)\"", text, re.M)
    }
    start = text.index("var defaultEngineConfigs")
    table = block(text, text.index("{", text.index("{", start) + 1) - 0)
    for entry in re.split(r"\n\t\},?", table):
        values = dict(re.findall(r"(\w+):\s*\"([^\"]*)\"", entry))
        if values.get("Name") == "vllm":
            return {tags[k]: v for k, v in sorted(values.items()) if k != "Name" and v}
    raise LookupError("no vllm engine config")


def metrics(root: Path) -> dict[str, dict[str, Any]]:
    folder = root / "pkg/epp/metrics"
    texts = "\n".join(p.read_text(encoding="utf-8") for p in go_files(folder))
    subsystems = dict(re.findall(r"^\s*(\w+)\s*=\s*\"([a-z_]+)\"", texts, re.M))
    variables = dict(re.findall(r"^\s*(\w+)\s*=\s*((?:\[\]string\{|append\().*)$", texts, re.M))
    found: dict[str, dict[str, Any]] = {}
    for match in re.finditer(r"prometheus\.New(Counter|Gauge|Histogram|Summary)(Vec)?\(", texts):
        body = block(texts, match.end() - 1)
        subsystem = re.search(r"Subsystem:\s*(\w+)", body)
        name = re.search(r'Name:\s*"([^"]+)"', body)
        if subsystem is None or name is None:
            continue
        full = f"{subsystems.get(subsystem.group(1), subsystem.group(1))}_{name.group(1)}"
        kind = match.group(1).lower()
        opts = body.index("{")
        labels = label_names(body[opts + len(block(body, opts)) + 2 :], variables)
        series = [full]
        if kind == "histogram":
            series = [f"{full}_bucket", f"{full}_sum", f"{full}_count"]
        elif kind == "summary":
            series = [f"{full}_sum", f"{full}_count"]
        found[full] = {
            "type": kind,
            "labels": labels,
            "series": series,
        }
    return dict(sorted(found.items()))


def _arguments(text: str) -> list[str]:
    """The top-level comma-separated arguments of a call's argument text."""
    found, depth, current = [], 0, ""
    for char in text:
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        if char == "," and depth == 0:
            found.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        found.append(current.strip())
    return found


def label_names(expression: str, variables: dict[str, str]) -> list[str] | None:
    """The label names a Go expression of the metrics package evaluates to: a literal
    ``[]string{...}``, a variable, or ``append`` of those (None when it is anything else)."""
    expression = expression.strip().strip(",").strip()
    if expression.startswith("[]string{"):
        return re.findall(r'"([^"]*)"', block(expression, expression.index("{")))
    if expression.startswith("append("):
        arguments = _arguments(block(expression, expression.index("(")))
        names = label_names(arguments[0], variables)
        for argument in arguments[1:]:
            if names is None:
                return None
            if argument.endswith("..."):
                more = label_names(argument[:-3], variables)
                if more is None:
                    return None
                names = [*names, *more]
            elif argument.startswith('"'):
                names = [*names, argument.strip('"')]
            else:
                return None
        return names
    if re.fullmatch(r"\w+", expression) and expression in variables:
        return label_names(variables[expression], variables)
    return None


def extract() -> dict[str, Any]:
    root = module_dir(MODULE, VERSION)
    gomod = (root / "go.mod").read_text(encoding="utf-8")
    kv_version = re.search(rf"^\s*{re.escape(KV_MODULE)} (v\S+)", gomod, re.M).group(1)
    dirs = {MODULE: root, KV_MODULE: module_dir(KV_MODULE, kv_version)}
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    registry = re.search(r"^IMAGE_REGISTRY \?= (\S+)", makefile, re.M).group(1)
    image = re.search(r"^EPP_IMAGE_NAME \?= (\S+)", makefile, re.M).group(1)
    health = (root / "cmd/epp/runner/health.go").read_text(encoding="utf-8")
    pool = (dirs[KV_MODULE] / "pkg/kvevents/pool.go").read_text(encoding="utf-8")
    return {
        "generator": GENERATOR,
        "module": MODULE,
        "version": VERSION,
        "image": f"{registry}/{image}",
        "flags": flags(root),
        "plugins": plugins(root),
        "engine_metrics": {"vllm": engine_metrics(root)},
        "metrics": metrics(root),
        "health_services": sorted(re.findall(r'CheckService\s*=\s*"([^"]+)"', health)),
        "config": config(dirs),
        "kv_events": {
            "module": KV_MODULE,
            "version": kv_version,
            "topicFilter": re.search(r'TopicFilter:\s*"([^"]+)"', pool).group(1),
            "socketPort": int(re.search(r"SocketPort:\s*(\d+)", pool).group(1)),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    data = extract()
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    out = ROOT / "schemas" / "picker" / f"{VERSION}.json"
    if args.check:
        same = out.is_file() and out.read_text(encoding="utf-8") == text
        if not same:
            print(f"{out.relative_to(ROOT)} differs from {MODULE}@{VERSION}", file=sys.stderr)
        return 0 if same else 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
