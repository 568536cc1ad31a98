"""The one hierarchy of user errors, each mapped to an exit code and a short located message.

Anything raised that is not a `PlaybookError` is a bug and keeps its traceback.
"""
from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1  # a step failed and the rollback completed
EXIT_INVALID = 2  # the playbook, a variable or the command line is invalid; nothing ran
EXIT_ROLLBACK_FAILED = 3  # a rollback action failed too: manual attention needed
EXIT_STOPPED = 4  # stopped before a step that needs confirmation (no terminal, no --yes); nothing rolled back
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Problem:
    """One located problem: what is wrong, where, and how to mend it."""

    message: str
    file: str | None = None
    line: int | None = None
    step: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        step = f"step '{self.step}': " if self.step else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{step}{self.message}{hint}"


class PlaybookError(Exception):
    """A user's mistake or a refused operation; printed as one line per problem, no traceback."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str | None = None, *, file: str | None = None, line: int | None = None,
                 step: str | None = None, hint: str | None = None,
                 problems: list[Problem] | None = None) -> None:
        self.problems = list(problems or [])
        if message is not None:
            self.problems.insert(0, Problem(message, file, line, step, hint))
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class LoadError(PlaybookError):
    """The file cannot be read or is not acceptable YAML."""


class ValidationError(PlaybookError):
    """The playbook does not match the format (schema, plugin arguments, templates)."""


class InputError(PlaybookError):
    """Missing or ill-typed inputs."""


class GraphError(PlaybookError):
    """Unknown needs, duplicate ids or a cycle."""


class TemplateError(PlaybookError):
    """A template that cannot be parsed or rendered."""


class UsageError(PlaybookError):
    """The command line is wrong."""


class JournalError(PlaybookError):
    """The run journal cannot be opened, locked or read; nothing was run."""


class JournalWriteError(JournalError):
    """The journal stopped taking writes mid-run: the run stopped unrecorded work and rolled nothing back.

    Exit 3 ("manual attention needed"): 1 would claim a rollback that did not happen.
    """

    exit_code = EXIT_ROLLBACK_FAILED
