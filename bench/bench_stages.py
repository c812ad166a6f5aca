"""Where `validate`'s time goes: CPU milliseconds per file of each stage, in one process.

The stages are timed with the process's CPU clock (Helm's Go threads included) on the
benchmark's realistic files (bench/corpus.py), after one warm-up file, so that the table shows
the floor each stage sets: Helm's render and its YAML reader are Go code the toolkit calls, not
Python it could make faster. Run with `make bench`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import ROOT, write_corpus

FILES = 200


class Timer:
    """CPU time spent in each labelled function, exclusive: time spent in a timed function
    that another timed function called counts for the inner one only."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.stack: list[float] = []  # time taken by timed calls inside each open call

    def wrap(self, function: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            self.stack.append(0.0)
            try:
                found = function(*args, **kwargs)
                # a check that yields its findings does its work while it is iterated
                return list(found) if isinstance(found, Generator) else found
            finally:
                inner = self.stack.pop()
                took = time.process_time() - start
                self.spent[label] += took - inner
                if self.stack:
                    self.stack[-1] += took

        return wrapper

    def patch(self, owner: Any, name: str, label: str) -> None:
        setattr(owner, name, self.wrap(getattr(owner, name), label))


#: What each stage (and phase) of the registry reads, as the table says it.
STAGES = {
    ("file", None): "file stage: YAML reader differences",
    ("values", "early"): "values stage, before the schema: secret literals",
    ("values", "schema"): "values stage: the chart's schema (the user's and the merged values)",
    ("values", "objects"): "values stage: Kubernetes objects passed through, engine arguments",
    ("values", "rules"): "values stage: rules between keys",
    ("release", None): "release stage: the checks of the rendered release",
    ("model", None): "model stage: plan's table",
}


def main() -> None:
    import dataclasses

    from modelservice import validate
    from modelservice.checks import load
    from modelservice.checks.context import Context
    from modelservice.helm import engine

    timer = Timer()
    timer.patch(validate, "load_file", "read the file (Helm's reader, positions, structure)")
    timer.patch(validate, "merge", "merge with the chart's defaults (Helm)")
    timer.patch(engine, "render", "render (Helm's template engine, no second schema check)")
    timer.patch(engine.Rendered, "objects", "read the rendered manifests (Kubernetes' YAML reader)")
    timer.patch(Context, "report", "lead each finding back to its values line (values map)")
    registry = load("values")  # the checks validate runs (not check's cluster stage)
    registry.checks[:] = [
        dataclasses.replace(c, func=timer.wrap(c.func, STAGES[(c.stage, c.phase)]))
        if (c.stage, c.phase) in STAGES
        else c
        for c in registry.checks
    ]
    chart = ROOT / "chart"
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        files = write_corpus(Path(tmp), FILES)
        validate.validate_file(files[0], chart)
        timer.spent.clear()
        start = time.process_time()
        for file in files:
            result = validate.validate_file(file, chart)
            assert not result.problems, result.problems
        total = time.process_time() - start
    labels = list(timer.spent)
    print(f"| stage of `validate` (one process, {FILES} files) | CPU ms per file |")
    print("|---|---:|")
    for label in labels:
        print(f"| {label} | {timer.spent[label] / FILES * 1000:.2f} |")
    rest = total - sum(timer.spent.values())
    print(f"| the driver, between the stages | {rest / FILES * 1000:.2f} |")
    print(f"| **all of validate** | **{total / FILES * 1000:.2f}** |")


if __name__ == "__main__":
    main()
