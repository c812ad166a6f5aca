"""``modelservice init``: write a short values file from options that mirror the values.

The file holds only what differs from the chart's defaults, each key under a one-line
comment taken from the values schema (the first sentence of its description; the
``# --`` comment of the chart's values.yaml when the schema has none). Its first line points
editors at the chart's values.schema.json. The result is validated (``--strict``) and
rendered before anything is written, so a file ``init`` writes always installs.
"""

from __future__ import annotations

import functools
import io
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.errors import UserError

Key = tuple[str, ...]

#: Which values key each option sets (also used to point a problem back at its option).
OPTION_KEYS: dict[str, Key] = {
    "--source": ("model", "source"),
    "--model": ("model", "name"),
    "--path": ("model", "path"),
    "--revision": ("model", "revision"),
    "--served-name": ("model", "servedModelName"),
    "--gpus": ("gpu", "count"),
    "--vgpu-memory": ("vgpu", "memoryMiB"),
    "--vgpu-cores": ("vgpu", "coresPercent"),
    "--vgpu-provider": ("vgpu", "provider"),
    "--tensor-parallel": ("engine", "tensorParallelSize"),
    "--engine-arg": ("engine", "args"),
    "--hf-token-secret": ("huggingface", "token", "secretName"),
    "--hf-mirror": ("huggingface", "endpoint"),
    "--env": ("env",),
    "--cpu": ("resources", "requests", "cpu"),
    "--memory": ("resources", "requests", "memory"),
    "--cache-size": ("persistence", "size"),
    "--existing-claim": ("persistence", "existingClaim"),
    "--node-selector": ("nodeSelector",),
    "--api-key-secret": ("auth", "apiKey", "secretName"),
    "--metrics": ("metrics", "serviceMonitor", "enabled"),
    "--volume-claim": ("extraVolumes",),
    "--host-path": ("extraVolumes",),
    "--mount-path": ("extraVolumeMounts",),
}
#: The name of the volume that ``--volume-claim`` / ``--host-path`` mount.
MODEL_VOLUME = "models"

ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@dataclass
class InitOptions:
    """The options of ``modelservice init`` (None: not given)."""

    source: str | None = None
    model: str | None = None
    path: str | None = None
    revision: str | None = None
    served_name: str | None = None
    gpus: int | None = None
    vgpu_memory: int | None = None
    vgpu_cores: int | None = None
    vgpu_provider: str | None = None
    tensor_parallel: int | None = None
    engine_args: list[str] = field(default_factory=list)
    hf_token_secret: str | None = None
    hf_mirror: str | None = None
    env: list[tuple[str, str]] = field(default_factory=list)
    cpu: str | None = None
    memory: str | None = None
    cache_size: str | None = None
    existing_claim: str | None = None
    node_selector: list[tuple[str, str]] = field(default_factory=list)
    api_key_secret: str | None = None
    metrics: bool = False
    volume_claim: str | None = None
    host_path: str | None = None
    mount_path: str | None = None


def stdin_is_interactive() -> bool:
    """Whether a person is at the keyboard (only then does ``init`` ask for the model)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def refuse_secret_env(name: str, value: str) -> None:
    """Secrets never go into a values file: refuse variables that look like one."""
    from .checks.secrets import is_secret_env, url_credentials

    if is_secret_env(name, value) or value.startswith("hf_") or url_credentials(value):
        raise UserError(
            f"--env {name}=...: looks like a secret, and values files hold no secrets; "
            "give the Hugging Face token with --hf-token-secret SECRET_NAME, and other "
            "secrets through envFrom (a Secret) or an env item with valueFrom.secretKeyRef"
        )


def _set(values: dict[str, Any], key: Key, value: Any) -> None:
    node = values
    for part in key[:-1]:
        node = node.setdefault(part, {})
    node[key[-1]] = value


def build_values(options: InitOptions, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The values the options ask for (before dropping what equals the chart's defaults)."""
    source = options.source or ("local" if options.path else "huggingface")
    if source == "local":
        if options.model:
            raise UserError("--model names a hub model; a local model is given with --path")
        if not options.path:
            raise UserError("--source local needs --path (the model directory in the container)")
    else:
        if options.path:
            raise UserError(f"--path is for --source local, not {source}; give --model")
        if not options.model:
            raise UserError("give --model or --path")
    if options.vgpu_memory is None and (options.vgpu_cores or options.vgpu_provider):
        raise UserError("--vgpu-cores and --vgpu-provider describe a slice: give --vgpu-memory")
    if options.metrics and "metrics" not in schema.get("properties", {}):
        raise UserError(
            "--metrics sets metrics.serviceMonitor.enabled, but this chart's values schema has "
            "no `metrics` key yet"
        )
    for name, value in options.env:
        refuse_secret_env(name, value)
    volumes, mounts = model_volume(options)

    values: dict[str, Any] = {}
    given: list[tuple[str, Any]] = [
        ("--source", source),
        ("--model", options.model),
        ("--path", options.path),
        ("--revision", options.revision),
        ("--served-name", options.served_name),
        ("--gpus", options.gpus),
        ("--vgpu-memory", options.vgpu_memory),
        ("--vgpu-cores", options.vgpu_cores),
        ("--vgpu-provider", options.vgpu_provider),
        ("--tensor-parallel", options.tensor_parallel),
        ("--engine-arg", list(options.engine_args) or None),
        ("--hf-token-secret", options.hf_token_secret),
        ("--hf-mirror", options.hf_mirror),
        ("--env", [{"name": n, "value": v} for n, v in options.env] or None),
        ("--cpu", options.cpu),
        ("--memory", options.memory),
        ("--cache-size", options.cache_size),
        ("--existing-claim", options.existing_claim),
        ("--node-selector", dict(options.node_selector) or None),
        ("--api-key-secret", options.api_key_secret),
        ("--metrics", True if options.metrics else None),
        ("--volume-claim", volumes),
        ("--mount-path", mounts),
    ]
    for option, value in given:
        if value is not None:
            _set(values, OPTION_KEYS[option], value)
    if options.vgpu_memory is not None:
        _set(values, ("vgpu", "enabled"), True)
    return values


def model_volume(options: InitOptions) -> tuple[list[Any] | None, list[Any] | None]:
    """``extraVolumes`` and ``extraVolumeMounts`` for the volume that holds a local model
    (``--volume-claim CLAIM`` or ``--host-path DIR``), mounted read-only at ``--mount-path``
    (default: the folder that holds ``--path``, e.g. /models for /models/llama)."""
    from pathlib import PurePosixPath

    if options.volume_claim and options.host_path:
        raise UserError("give --volume-claim or --host-path, not both: one volume holds the model")
    if not (options.volume_claim or options.host_path):
        if options.mount_path:
            raise UserError("--mount-path says where --volume-claim or --host-path is mounted")
        return None, None
    if not options.path:
        raise UserError(
            "--volume-claim and --host-path mount the volume of a local model: give --path"
        )
    model = PurePosixPath(options.path)
    default = model.parent if len(model.parts) > 2 else model
    mount = PurePosixPath(options.mount_path) if options.mount_path else default
    if not mount.is_absolute() or not model.is_relative_to(mount):
        raise UserError(
            f"--mount-path {mount}: --path {model} must be in the mounted folder; give the "
            f"folder that holds the model (e.g. {default})"
        )
    if options.volume_claim:
        source: dict[str, Any] = {
            "persistentVolumeClaim": {"claimName": options.volume_claim, "readOnly": True}
        }
    else:
        source = {"hostPath": {"path": options.host_path, "type": "Directory"}}
    volume = {"name": MODEL_VOLUME, **source}
    return [volume], [{"name": MODEL_VOLUME, "mountPath": str(mount), "readOnly": True}]


def without_defaults(values: Mapping[str, Any], defaults: Any) -> dict[str, Any]:
    """``values`` minus every entry equal to the chart's default (maps compared key by key,
    as Helm merges them; lists and scalars as a whole)."""
    kept: dict[str, Any] = {}
    order = list(defaults) if isinstance(defaults, Mapping) else []
    rank = {key: index for index, key in enumerate(order)}
    for key, value in sorted(values.items(), key=lambda kv: rank.get(kv[0], len(rank))):
        default = defaults.get(key) if isinstance(defaults, Mapping) else None
        if isinstance(value, Mapping) and isinstance(default, Mapping):
            inner = without_defaults(value, default)
            if inner:
                kept[key] = inner
        elif value != default or not isinstance(defaults, Mapping) or key not in defaults:
            kept[key] = value
    return kept


# -- comments ------------------------------------------------------------------------------


def first_sentence(text: str) -> str:
    """The first sentence of a description (dots inside code spans and after e.g. do not
    end it)."""
    text = " ".join(text.split())
    ticks = 0
    for index, char in enumerate(text):
        if char == "`":
            ticks += 1
        elif (
            char == "."
            and ticks % 2 == 0
            and (index + 1 == len(text) or text[index + 1] == " ")
            and not text[:index].lower().endswith(("e.g", "i.e", "etc"))
        ):
            return text[: index + 1]
    return text


def _resolve(node: Any, root: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(node, Mapping):
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return {**_resolve(target, root), **{k: v for k, v in node.items() if k != "$ref"}}
    return dict(node)


def schema_description(schema: Mapping[str, Any], key: Key) -> str | None:
    """The schema's description of a values key, if it has one."""
    node: dict[str, Any] = dict(schema)
    for part in key:
        node = _resolve(node.get("properties", {}).get(part), schema)
        if not node:
            return None
    description = node.get("description")
    return description if isinstance(description, str) and description else None


_VALUES_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):")


def values_comments(text: str) -> dict[Key, str]:
    """The ``# --`` comment of every key of a values.yaml written in the chart's style."""
    comments: dict[Key, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending:
            pending.append(stripped[1:].strip())
            continue
        match = _VALUES_KEY.match(line)
        if not match:
            if not stripped:
                pending = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        if pending:
            comments[tuple(k for _, k in stack)] = " ".join(pending)
        pending = []
    return comments


def comment_for(key: Key, schema: Mapping[str, Any], fallback: Mapping[Key, str]) -> str | None:
    """A short comment for a key: the first sentence of its description."""
    text = schema_description(schema, key) or fallback.get(key)
    return first_sentence(text) if text else None


# -- emitting ------------------------------------------------------------------------------


def yaml11_safe(value: Any) -> Any:
    """A string that a reader would take for something else is written double-quoted; other
    values as they are. Helm's own reader is asked (``y``, ``on``, ``1_0`` and ``010`` are not
    text to it), and so are a YAML 1.1 reader (PyYAML) and the YAML 1.2 one editors use
    (ruamel), so that the file means the same text to each."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if not isinstance(value, str) or not value:
        return value
    return value if _plain_reads_back(value) else DoubleQuotedScalarString(value)


@functools.cache
def _plain_reads_back(value: str) -> bool:
    """Whether ``value``, written as ruamel writes it unquoted (as a key and as a value),
    reads back as the same text to Helm, to PyYAML and to ruamel."""
    import yaml

    from .values.loader import HelmReadError, helm_reading

    out = io.StringIO()
    yaml_rt().dump({value: value}, out)
    text = out.getvalue()
    try:
        readings = [helm_reading(text), yaml.safe_load(text), dict(yaml_rt().load(text))]
    except (HelmReadError, yaml.YAMLError, ValueError, TypeError):
        return False
    return all(reading == {value: value} for reading in readings)


_WORD = re.compile(r"`[^`]*`\S*|\S+")


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, never breaking inside a code span."""
    lines: list[str] = []
    line = ""
    for word in _WORD.findall(text):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def yaml_rt() -> Any:
    """ruamel.yaml round trip, in the chart's indentation style."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    # Write null as `null`, as the chart's values.yaml does (ruamel writes nothing).
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def _commented(
    value: Any,
    key: Key,
    schema: Mapping[str, Any],
    fallback: Mapping[Key, str],
    *,
    comments: bool = True,
) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, Mapping):
        node = CommentedMap()
        for name, item in value.items():
            child = (*key, str(name))
            name = yaml11_safe(name)
            node[name] = _commented(item, child, schema, fallback, comments=comments)
            text = comment_for(child, schema, fallback) if comments else None
            if text:
                width = max(40, 98 - 2 * len(key))
                node.yaml_set_comment_before_after_key(
                    name, before="\n".join(wrap(text, width)), indent=2 * len(key)
                )
        return node
    if isinstance(value, list):
        return CommentedSeq(
            _commented(item, key, schema, fallback, comments=False) for item in value
        )
    return yaml11_safe(value)


def dump_values(
    values: Mapping[str, Any],
    schema: Mapping[str, Any],
    fallback: Mapping[Key, str],
    schema_ref: str,
) -> str:
    """The values file text: the schema line, then every key under its comment."""
    tree = _commented(values, (), schema, fallback)
    tree.yaml_set_start_comment(f"yaml-language-server: $schema={schema_ref}")
    out = io.StringIO()
    yaml_rt().dump(tree, out)
    return out.getvalue()


def schema_reference(chart: Path, output: Path | None) -> str:
    """Where the editor finds the schema: relative to the output file, else absolute."""
    schema = (chart / "values.schema.json").resolve()
    if output is None:
        return str(schema)
    return Path(os.path.relpath(schema, output.resolve().parent)).as_posix()


# -- the command ---------------------------------------------------------------------------


def _option_for(pointer: str) -> str:
    parts = tuple(p for p in pointer.split("/") if p)
    best = ""
    for option, key in OPTION_KEYS.items():
        if parts[: len(key)] == key and len(key) > len(OPTION_KEYS.get(best, ())):
            best = option
    return best or "values"


def scaffold(options: InitOptions, chart: Path, output: Path | None) -> str:
    """The values file the options describe, validated and rendered; raises
    :class:`UserError` with one line per problem when the options do not add up."""
    import json

    from .core.errors import EngineError
    from .core.problem import has_errors
    from .helm.engine import render
    from .schema.docs import chart_defaults
    from .validate import validate_loaded
    from .values.loader import load_text

    schema = json.loads((chart / "values.schema.json").read_text(encoding="utf-8"))
    defaults = chart_defaults(chart)
    values = without_defaults(build_values(options, schema), defaults)
    fallback = values_comments((chart / "values.yaml").read_text(encoding="utf-8"))
    text = dump_values(values, schema, fallback, schema_reference(chart, output))

    label = str(output) if output else "<stdout>"
    result = validate_loaded(load_text(text, label), chart)
    if has_errors(result.problems, strict=True):
        raise UserError(
            "\nmodelservice: ".join(
                f"{_option_for(p.pointer)}: {p.pointer}: {p.message} [{p.rule}]"
                for p in result.problems
            )
        )
    try:
        render(chart, result.values, release="init-check")
    except EngineError as exc:
        raise UserError(exc.message) from None
    return text
