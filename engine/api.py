"""The public plugin API: everything a step plugin or a template look-up may use, and nothing else.

A plugin package depends on `engine.api` alone. It subclasses `StepPlugin`, declares its hooks, and is
found through the `playbook.plugins` entry-point group; a package adds template look-ups through the
`playbook.lookups` group (see `Lookup`). Built-in plugins use exactly this module.

Stability: the names in `__all__` keep their meaning and signatures within a major version of
playbook-engine; a hook may gain optional keyword arguments. Anything imported from another `engine`
module is internal and may change in any release.
"""
from __future__ import annotations

import json
import os
import shlex
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

from .durations import PATTERN as DURATION_PATTERN
from .durations import format_duration, parse_duration
from .errors import PlaybookError, ValidationError
from .execute import Completed, run_process
from .jsonpath import jsonpath, jsonpath_text
from .kube import Kube, KubeError, NotFound, split_ref, target_for, watch_until
from .render import is_placeholder
from .schema import forms_message

__all__ = [
    # the step contract
    "StepPlugin", "StepContext", "Outcome", "RunOptions", "Completed",
    # template look-ups
    "Lookup", "LOOKUP_GROUP", "PLUGIN_GROUP",
    # errors a plugin may raise for a user's mistake (shown as one line, exit 2 before a run)
    "PlaybookError", "ValidationError",
    # helpers
    "to_arg", "shell_line", "run_process", "format_duration", "parse_duration", "DURATION_PATTERN",
    "is_placeholder", "forms_message",
    # the cluster seam (one client per step; close it when done)
    "Kube", "KubeError", "NotFound", "kube_client", "split_ref", "watch_until", "jsonpath", "jsonpath_text",
]

PLUGIN_GROUP = "playbook.plugins"
LOOKUP_GROUP = "playbook.lookups"

# A template look-up: a factory called once per run with the run's options, returning the function
# templates call (e.g. `pods(namespace)`). Registered under LOOKUP_GROUP: `name = "pkg.module:factory"`.
Lookup = Callable[["RunOptions"], Callable[..., Any]]

QUERY_TIMEOUT = 60.0


@dataclass
class Outcome:
    """The result of one run of a step (or of its undo): returned, never raised."""

    ok: bool
    message: str = ""
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    json: Any = None
    argv: list[str] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # kept in the journal; the undo hook gets them back
    timed_out: bool = False
    cancelled: bool = False

    @classmethod
    def from_process(cls, done: Completed, *, message: str = "") -> "Outcome":
        """An outcome from a finished child process (stdout parsed as JSON when it looks like JSON)."""
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
    # How a manual gate (`approve`, `pause` with a prompt) asks a person where there is no terminal: a Temporal
    # worker asks through the run's workflow (`playbook approve/reject`). ask(prompt, timeout, cancel) gives
    # (approved, who and why) or None when nobody answered in time or the step was cancelled.
    ask: Callable[[str, float | None, threading.Event], tuple[bool, str] | None] | None = field(
        default=None, repr=False, compare=False)


@dataclass
class StepContext:
    """What a plugin gets to do its work: time budget, cancel signal, output streaming, expressions."""

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
        """Seconds left of the step's budget (None: no limit)."""
        if self.deadline is None:
            return self.timeout
        return max(0.0, self.deadline - time.time())

    def child_env(self, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
        """The environment a child process gets: ours, the run's additions, then `extra`."""
        env = dict(os.environ)
        env.update(self.options.env)
        if extra:
            env.update({k: str(v) for k, v in extra.items()})
        return env

    def run(self, argv: Sequence[Any], *, stdin: str | None = None, env: Mapping[str, Any] | None = None,
            cwd: str | None = None) -> Completed:
        """Run a child process within this step's time budget, streaming its output to the log."""
        # With nothing to add the child inherits this environment as it is: no copy of os.environ per step.
        return run_process([to_arg(a) for a in argv], timeout=self.remaining(), cancel=self.cancel,
                           env=self.child_env(env) if env or self.options.env else None, cwd=cwd, stdin=stdin,
                           on_output=self.emit)

    def query(self, argv: Sequence[Any], *, stdin: str | None = None, env: Mapping[str, Any] | None = None,
              timeout: float = QUERY_TIMEOUT) -> Completed:
        """Run a read-only child process quietly (its output is returned, not streamed to the log), within
        the step's budget and at most `timeout` seconds. The output is kept whole (no cap): it is data, such
        as what exists before a change, which the change's undo is built from."""
        budget = self.remaining()
        return run_process([to_arg(a) for a in argv], timeout=min(budget, timeout) if budget else timeout,
                           cancel=self.cancel, env=self.child_env(env), stdin=stdin, output_head=None)


def to_arg(value: Any) -> str:
    """One argv element from a rendered value (booleans as YAML writes them, objects as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def shell_line(argv: Sequence[Any]) -> str:
    """How an argv reads when pasted into a shell."""
    return "$ " + shlex.join(to_arg(a) for a in argv)


def kube_client(options: RunOptions, kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """A lazily connected Kubernetes client for the cluster a step targets (its own kubeconfig/context
    first, then the run's); raises `KubeError` subclasses, never the client library's exceptions."""
    return Kube(target_for(options, kubeconfig, context))


class StepPlugin(ABC):
    """Base of every step plugin. Set `name`, `summary`, `schema` (JSON Schema of `with`); implement `run`.

    The engine renders `with` once per attempt (except the keys in `raw_args`), checks it against `schema`,
    and calls the hooks below; any exception a hook raises is contained as a failed outcome.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    schema: ClassVar[dict] = {"type": "object"}
    example: ClassVar[str] = ""
    # `with` keys passed through unrendered: expressions the plugin evaluates itself (`ctx.evaluate`).
    raw_args: ClassVar[tuple[str, ...]] = ()
    # Its output is what the step is for (echo): printed even when a run does not stream step output.
    shows_output: ClassVar[bool] = False

    @abstractmethod
    def run(self, args: dict, ctx: StepContext) -> Outcome:
        """Do the step with its rendered arguments; report failure in the Outcome, do not raise."""

    def describe(self, args: dict, options: RunOptions) -> str:
        """One line (or a few) saying what `run` would do with these arguments (plans, logs)."""
        return json.dumps(args, default=str)

    def expected_duration(self, args: dict) -> float | None:
        """Seconds the step will take when known in advance (a soak), for progress displays; else None."""
        return None

    def preflight(self, args: dict, options: RunOptions) -> list[str]:
        """Problems found before anything runs (e.g. a missing binary); arguments are unrendered."""
        return []

    def check(self, args: dict) -> list[str]:
        """Problems in the arguments themselves that the schema cannot see (unrendered; dry runs too)."""
        return []

    def describe_undo(self, args: dict, done: Outcome | None, options: RunOptions) -> str | None:
        """What `undo` would do after a run that returned `done`; None when there is nothing to undo.

        With `done` None (a plan, before anything ran) say what the undo will be in general, or None if
        this plugin never undoes. Used only when the step has no `rollback:` of its own.
        """
        return None

    def undo(self, args: dict, done: Outcome, ctx: StepContext) -> Outcome:
        """Undo a run that returned `done` (its `outputs` as recorded, from the journal when `playbook
        rollback` runs later). `args` and `done` are data: the engine never renders them."""
        return Outcome(ok=True, message="nothing to undo")
