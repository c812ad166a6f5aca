"""Progress of ``validate`` and ``render`` over many files, for a person at a terminal.

On a terminal (stderr is a tty) a bar on stderr counts the files done (when there are several),
erased before any problem or manifest is printed, and a summary line ends the run: files,
problems, time. When stderr is not
a terminal (CI logs, pipes, editors reading ``FILE:LINE:COL`` lines) nothing of this is
written, so the output stays one line per problem.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from ..core.problem import Problem

#: Width of the bar in characters.
BAR = 30
#: Seconds between two redraws (the first and the last frame are always drawn).
REDRAW = 0.1
_ERASE = "\r\x1b[K"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


class Progress:
    """A progress bar and summary line for ``total`` files; silent unless ``stream`` is a tty."""

    def __init__(
        self, total: int, verb: str, *, stream: TextIO | None = None, enabled: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        #: One file needs no bar (its summary line still ends the run).
        self.bar = enabled and total > 1
        self.total = total
        self.verb = verb
        self.done = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._shown = False
        self.problems: list[Problem] = []
        self._draw(force=True)

    def advance(self, count: int = 1) -> None:
        """``count`` more files are done."""
        self.done = min(self.total, self.done + count)
        self._draw(force=self.done == self.total)

    def _draw(self, *, force: bool) -> None:
        if not self.bar:
            return
        now = time.monotonic()
        if not force and now - self._drawn_at < REDRAW:
            return
        self._drawn_at = now
        filled = BAR * self.done // self.total if self.total else BAR
        self.stream.write(
            f"\r{self.verb} [{'#' * filled}{'.' * (BAR - filled)}] "
            f"{self.done}/{self.total} files, {now - self.started:.1f} s"
        )
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the bar (before problems or results are printed)."""
        if self._shown:
            self.stream.write(_ERASE)
            self.stream.flush()
            self._shown = False

    def finish(self, problems: Sequence[Problem]) -> None:
        """All files are done with these problems: erase the bar, keep them for the summary."""
        self.done = self.total
        self.problems = list(problems)
        self.clear()

    def summary(self) -> None:
        """The last line of a run on a terminal: files, problems, time."""
        if not self.enabled:
            return
        self.clear()
        errors = sum(p.severity == "error" for p in self.problems)
        warnings = len(self.problems) - errors
        if self.problems:
            found = (
                f"{_plural(len(self.problems), 'problem')} "
                f"({_plural(errors, 'error')}, {_plural(warnings, 'warning')})"
            )
        else:
            found = "no problems"
        seconds = time.monotonic() - self.started
        self.stream.write(f"{self.verb}: {_plural(self.total, 'file')}, {found}, {seconds:.2f} s\n")
        self.stream.flush()
