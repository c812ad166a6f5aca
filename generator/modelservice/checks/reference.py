"""The rules reference, from the registry: what ``modelservice rules`` prints and what
``docs/rules.md`` holds (generated, and drift-checked by the suite)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable

from ..core.rules import STAGES, Registry, Rule, load_all

#: Where the generated reference lives in a source checkout.
RULES_DOC = "docs/rules.md"


def registry() -> Registry:
    """Every rule of the toolkit (the whole package imported)."""
    return load_all()


def ordered(rules: Iterable[Rule]) -> list[Rule]:
    """Rules by stage (in pipeline order), then module, then id."""
    order = {stage: index for index, stage in enumerate(STAGES)}
    return sorted(rules, key=lambda r: (order[r.stage], r.module, r.id))


def short_module(rule: Rule) -> str:
    return rule.module.removeprefix("modelservice.")


def text_list(rules: Iterable[Rule]) -> str:
    """One line a rule: id, severity, stage, the doc's first sentence."""
    items = ordered(rules)
    width = max((len(r.id) for r in items), default=0)
    return "".join(f"{r.id:<{width}}  {r.severity:<7}  {r.stage:<7}  {r.summary}\n" for r in items)


def text_explain(rule: Rule) -> str:
    """Everything about one rule, wrapped for a terminal."""
    body = textwrap.fill(rule.doc, width=88)
    return (
        f"{rule.id}\n"
        f"  severity: {rule.severity}\n"
        f"  stage:    {rule.stage} ({STAGES[rule.stage]})\n"
        f"  module:   {short_module(rule)}\n\n"
        f"{body}\n"
    )


def json_list(rules: Iterable[Rule]) -> str:
    return json.dumps([r.as_dict() for r in ordered(rules)], indent=2) + "\n"


_HEADER = """# Rules reference

<!-- Generated from the rule registry by `make generate` (`modelservice docs --write`); the
suite fails when this file drifts. Edit a rule's doc where the rule is declared. -->

Every problem `modelservice validate` (and `render`, which validates first), `plan` and `check`
report ends with its rule id in brackets:

```
FILE:LINE:COL: /json/pointer: message [rule]
```

`--format json` gives the same as `{file, line, column, pointer, message, rule, severity}`.
An error makes the exit code 1; a warning does too with `--strict`. `modelservice rules` lists
the rules below, and `modelservice rules RULE` explains one.

## How a file is checked

The checks run stage by stage (`generator/modelservice/validate.py`), each finding reported at
the line and column of the values file: what is judged on the rendered release is led back to
the values key that produced it by the chart's values map (`chart/values-map.yaml`). A stage
runs only when the ones before it found no error, but that every check of the values stage
that judges its own keys runs even when the schema refused another key. The stages:

"""


def markdown(rules: Iterable[Rule]) -> str:
    """The whole of docs/rules.md."""
    items = ordered(rules)
    text = _HEADER
    for index, (stage, what) in enumerate(STAGES.items(), start=1):
        text += f"{index}. **{stage}**: {what}.\n"
    for stage in STAGES:
        in_stage = [r for r in items if r.stage == stage]
        if not in_stage:
            continue
        text += f"\n## Stage {stage}\n\n| rule | severity | module | what it catches |\n"
        text += "|---|---|---|---|\n"
        for rule in in_stage:
            doc = rule.doc.replace("|", "\\|")
            text += f"| `{rule.id}` | {rule.severity} | `{short_module(rule)}` | {doc} |\n"
    return text
