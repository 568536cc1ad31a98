"""What a step plugin is: a `with` schema, a dry-run description, a run method returning an Outcome.

Built-in plugins are registered through the same entry-point group as third-party ones.
"""
from __future__ import annotations

import json
import os
import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

from ..execute import Completed, run_process
from ..model import Action


@dataclass
class Outcome:
    """The result of one run of a step (or rollback): never raised, always returned."""

    ok: bool
    message: str = ""
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    json: Any = None
    argv: list[str] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    cancelled: bool = False

    @classmethod
    def from_process(cls, done: Completed, *, message: str = "") -> "Outcome":
        parsed = None
        text = done.stdout.strip()
        if text[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        if not message and not done:
            if done.timed_out:
                message = "timed out"
            elif done.cancelled:
                message = "cancelled"
            else:
                last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
                message = f"exit code {done.rc}" + (f": {last[0]}" if last[0] else "")
        return cls(ok=bool(done), message=message, rc=done.rc, stdout=done.stdout, stderr=done.stderr,
                   json=parsed, argv=list(done.argv), timed_out=done.timed_out, cancelled=done.cancelled)


@dataclass
class RunOptions:
    """Run-wide settings plugins may read."""

    dry_run: bool = False
    server_dry_run: bool = False
    context: str | None = None
    kubeconfig: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to every child's environment (e.g. the emulator's)
    interactive: bool = False
    assume_yes: bool = False


@dataclass
class StepContext:
    """What a plugin gets to do its work: time budget, cancel signal, output streaming, rendering."""

    key: str
    timeout: float | None
    cancel: threading.Event
    run_dir: Path
    options: RunOptions
    emit: Callable[[str, str], None] = lambda stream, line: None
    evaluate: Callable[[Any], Any] = lambda expr: expr
    mask: Callable[[str], str] = lambda text: text
    deadline: float | None = None

    def remaining(self) -> float | None:
        import time
        if self.deadline is None:
            return self.timeout
        return max(0.0, self.deadline - time.time())

    def child_env(self, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.options.env)
        if extra:
            env.update({k: str(v) for k, v in extra.items()})
        return env

    def run(self, argv: Sequence[Any], *, stdin: str | None = None, env: Mapping[str, Any] | None = None,
            cwd: str | None = None) -> Completed:
        """Run a child process within this step's time budget, streaming its output."""
        return run_process([to_arg(a) for a in argv], timeout=self.remaining(), cancel=self.cancel,
                           env=self.child_env(env), cwd=cwd, stdin=stdin, on_output=self.emit)


def to_arg(value: Any) -> str:
    """One argv element from a rendered value (booleans as YAML writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def shell_line(argv: Sequence[Any]) -> str:
    """How an argv reads when pasted into a shell."""
    return "$ " + shlex.join(to_arg(a) for a in argv)


class StepPlugin:
    """Base of all step plugins. Subclasses set `name`, `summary`, `schema` and implement `run`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    schema: ClassVar[dict] = {"type": "object"}
    example: ClassVar[str] = ""
    # Its output is what the step is for (echo): printed even when a run does not stream step output.
    shows_output: ClassVar[bool] = False

    def describe(self, args: dict, options: RunOptions) -> str:
        """One line (or a few) saying what `run` would do with these rendered arguments."""
        return json.dumps(args, default=str)

    def expected_duration(self, args: dict) -> float | None:
        """Seconds the step will take when known in advance (a soak), for progress displays; else None."""
        return None

    def run(self, args: dict, ctx: StepContext) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def natural_rollback(self, args: dict, outcome: Outcome) -> Action | None:
        """An undo the plugin knows for itself, used when the step declares no `rollback`."""
        return None

    def preflight(self, args: dict, options: RunOptions) -> list[str]:
        """Problems found before anything runs (e.g. a missing binary); arguments are unrendered."""
        return []
