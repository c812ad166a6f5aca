"""The toolkit's one exception hierarchy.

Every error a user can cause is a :class:`UserError` (or a subclass); the CLI catches it in
exactly one place and maps it to exit code 1. Anything else escaping is a bug in the toolkit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .problem import Problem


class ModelServiceError(Exception):
    """Base of every error the toolkit raises on purpose."""


class UserError(ModelServiceError):
    """The input is wrong; the message says what to change. Exit code 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValues(UserError):
    """One or more values files have problems; each is reported on its own line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) found")
        self.problems = list(problems)


class EngineError(UserError):
    """The Helm engine refused to render (a template `fail`, a schema error, a missing helm)."""
