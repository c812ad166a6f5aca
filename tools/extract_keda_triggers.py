#!/usr/bin/env python3
"""Record the trigger types KEDA knows, and the trigger metadata each one requires, from KEDA's
own source at the version whose ScaledObject CRD ``schemas/crds/`` holds.

KEDA builds one scaler per trigger in ``pkg/scaling/scalers_builder.go`` (the ``switch`` between
its ``TRIGGERS-START`` and ``TRIGGERS-END`` marks: a type it does not list is refused with "no
scaler found for type"). Each scaler reads its metadata into a typed struct whose fields carry
``keda:"name=..., order=..."`` tags; a field read from the trigger's metadata only
(``order=triggerMetadata``), neither ``optional`` nor with a ``default``, is required: without it
KEDA refuses to build the scaler, and the ScaledObject never scales.

    python3 tools/extract_keda_triggers.py          # rewrite schemas/keda/<version>-triggers.json
    python3 tools/extract_keda_triggers.py --check  # exit 1 if the file differs

The source comes from KEDA's Go module (``go mod download``, as tools/extract_crds.py does);
nothing is built, and only data is taken from it. Needs ``go`` (any version).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_crds import SOURCES, module_dir

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "schemas" / "keda"
GENERATOR = "tools/extract_keda_triggers.py"

_CASE = re.compile(r'case\s+((?:"[^"]+"\s*,?\s*)+):\s*\n(.*?)(?=\n\s*case\s|\n\s*default:)', re.S)
_CONSTRUCTOR = re.compile(r"scalers\.(New\w+)\(")
_TAG = re.compile(r'`[^`]*keda:"([^"]*)"[^`]*`')


def _triggers(builder: str) -> dict[str, str | None]:
    """Trigger type -> the scaler constructor that builds it (None: built elsewhere)."""
    start, end = builder.index("TRIGGERS-START"), builder.index("TRIGGERS-END")
    body = builder[start:end]
    found: dict[str, str | None] = {}
    for match in _CASE.finditer(body):
        names = re.findall(r'"([^"]+)"', match.group(1))
        constructor = _CONSTRUCTOR.search(match.group(2))
        for name in names:
            found[name] = constructor.group(1) if constructor else None
    return found


def _tag_fields(tag: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in tag.split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    return fields


def _required(source: str) -> list[list[str]]:
    """The metadata a scaler's source requires: for each required field, its accepted names."""
    required: list[list[str]] = []
    for match in _TAG.finditer(source):
        fields = _tag_fields(match.group(1))
        if "name" not in fields or "optional" in fields or "default" in fields:
            continue
        if fields.get("order", "").split(";") != ["triggerMetadata"]:
            continue
        names = [n for n in fields["name"].split(";") if n]
        if names and names not in required:
            required.append(names)
    return required


def extract(root: Path, version: str) -> dict[str, object]:
    builder = (root / "pkg" / "scaling" / "scalers_builder.go").read_text(encoding="utf-8")
    sources = {p: p.read_text(encoding="utf-8") for p in (root / "pkg" / "scalers").glob("*.go")}
    triggers: dict[str, object] = {}
    for name, constructor in sorted(_triggers(builder).items()):
        where = next(
            (p for p, text in sources.items() if constructor and f"func {constructor}(" in text),
            None,
        )
        typed = where is not None and 'keda:"' in sources[where]
        triggers[name] = {
            "scaler": constructor,
            "source": f"pkg/scalers/{where.name}" if where else None,
            # null: the scaler parses its metadata without typed tags; not recorded
            "requiredMetadata": _required(sources[where]) if typed and where else None,
        }
    return {
        "generator": GENERATOR,
        "module": "github.com/kedacore/keda/v2",
        "version": version,
        "source": "pkg/scaling/scalers_builder.go (buildScaler) and pkg/scalers/*.go",
        "triggers": triggers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    keda = next(s for s in SOURCES if s.kind == "ScaledObject")
    data = extract(module_dir(keda.module, keda.version), keda.version)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    out = OUT / f"{keda.version}-triggers.json"
    if args.check:
        same = out.is_file() and out.read_text(encoding="utf-8") == text
        if not same:
            print(f"{out.relative_to(ROOT)} differs from KEDA {keda.version}", file=sys.stderr)
        return 0 if same else 1
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*-triggers.json"):
        if stale != out:
            stale.unlink()
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
