"""The one way the engine calls a plugin: forward steps, undos, author-written rollbacks and descriptions.

Arguments a playbook author wrote are rendered here, once per call, skipping the plugin's `raw_args`; what a
plugin built from what it saw (the outcome its undo receives) is data and is never rendered. The context is
built here. Any exception a hook raises is contained: a user error (`PlaybookError`) becomes a failed
outcome with its message, anything else a failed outcome naming the plugin and hook, its traceback kept in
the run directory, not printed.
"""
from __future__ import annotations

import os
import re
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from .api import Outcome, RunOptions, StepContext, StepPlugin
from .errors import PlaybookError
from .render import Renderer, Scope
from .schema import problems_for, validator_for

OutputFn = Callable[[str, str], None]


class PluginFault(PlaybookError):
    """A plugin hook raised something other than a user error: a bug in the plugin, contained."""


class Invoker:
    """Calls plugin hooks for one run."""

    def __init__(self, renderer: Renderer, options: RunOptions, *, run_dir: Path | None, file: str | None = None,
                 mask: Callable[[str], str] = lambda text: text,
                 output: Callable[[str], OutputFn] = lambda key: (lambda stream, line: None)) -> None:
        self.renderer = renderer
        self.options = options
        self.run_dir = Path(run_dir) if run_dir is not None else None  # None: a plan, which writes nothing
        self.file = file
        self.mask = mask
        self.output = output

    # -- arguments -----------------------------------------------------------------------------------

    def render_args(self, plugin: StepPlugin, args: dict, scope: Scope, *, check: bool = True) -> dict:
        """The author's `with`, rendered (except the plugin's raw keys) and checked against its schema."""
        raw = set(plugin.raw_args)
        rendered = {k: (v if k in raw else self.renderer.render(v, scope)) for k, v in args.items()}
        if check:
            bad = problems_for(rendered, validator_for(plugin.schema), file=self.file)
            if bad:
                raise PlaybookError(problems=bad)
        return rendered

    def context(self, key: str, scope: Scope, *, timeout: float | None, cancel: threading.Event,
                deadline: float | None = None) -> StepContext:
        """The context one call of a plugin gets."""
        if deadline is None and timeout:
            deadline = time.time() + timeout
        return StepContext(key=key, timeout=timeout, cancel=cancel, run_dir=self.run_dir or Path("."),
                           options=self.options,
                           emit=self.output(key), evaluate=lambda expr: self.renderer.evaluate(expr, scope),
                           mask=self.mask, deadline=deadline)

    # -- hooks -----------------------------------------------------------------------------------------

    def run(self, plugin: StepPlugin, args: dict, ctx: StepContext) -> Outcome:
        """`plugin.run`, contained."""
        return self._outcome(plugin, "run", ctx.key, lambda: plugin.run(args, ctx))

    def undo(self, plugin: StepPlugin, args: dict, done: Outcome, ctx: StepContext) -> Outcome:
        """`plugin.undo` with the forward step's arguments and outcome (data, not rendered), contained."""
        return self._outcome(plugin, "undo", ctx.key, lambda: plugin.undo(args, done, ctx))

    def describe(self, plugin: StepPlugin, args: dict, key: str = "") -> str:
        """`plugin.describe`; raises PlaybookError (a plugin bug as PluginFault)."""
        text = self._call(plugin, "describe", key, lambda: plugin.describe(args, self.options))
        if not isinstance(text, str):
            raise self._fault(plugin, "describe", key, TypeError(f"returned {type(text).__name__}, not str"))
        return text

    def expected_duration(self, plugin: StepPlugin, args: dict, key: str = "") -> float | None:
        """`plugin.expected_duration` (for progress displays); a plugin bug there only loses the estimate."""
        try:
            value = self._call(plugin, "expected_duration", key, lambda: plugin.expected_duration(args))
        except PlaybookError:
            return None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def describe_undo(self, plugin: StepPlugin, args: dict, done: Outcome | None, key: str = "") -> str | None:
        """`plugin.describe_undo`; None when there is nothing to undo. Raises PlaybookError like describe."""
        text = self._call(plugin, "describe_undo", key, lambda: plugin.describe_undo(args, done, self.options))
        if text is not None and not isinstance(text, str):
            raise self._fault(plugin, "describe_undo", key,
                              TypeError(f"returned {type(text).__name__}, not str or None"))
        return text

    # -- containment ---------------------------------------------------------------------------------

    def _call(self, plugin: StepPlugin, hook: str, key: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except PlaybookError:
            raise
        except Exception as err:  # noqa: BLE001 — a plugin's bug must not take the run (or its rollback) down
            raise self._fault(plugin, hook, key, err) from None

    def _outcome(self, plugin: StepPlugin, hook: str, key: str, fn: Callable[[], Any]) -> Outcome:
        try:
            outcome = self._call(plugin, hook, key, fn)
        except PlaybookError as err:
            return Outcome(ok=False, message=str(err).replace("\n", "; "))
        if not isinstance(outcome, Outcome):
            err = TypeError(f"returned {type(outcome).__name__}, not an Outcome")
            return Outcome(ok=False, message=str(self._fault(plugin, hook, key, err)))
        return outcome

    def _fault(self, plugin: StepPlugin, hook: str, key: str, err: BaseException) -> PluginFault:
        where = ""
        frames = traceback.extract_tb(err.__traceback__)
        if frames:
            where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}"
        saved = self._save_traceback(key, hook, err)
        more = f"; traceback in {saved}" if saved else ""
        name = plugin.name or type(plugin).__name__
        return PluginFault(self.mask(f"internal error in plugin '{name}' ({hook}): {type(err).__name__}: {err}"
                                     f"{where}{more}"))

    def _save_traceback(self, key: str, hook: str, err: BaseException) -> Path | None:
        """Keep the traceback for the plugin's author, beside the run's journal (best effort)."""
        if self.run_dir is None:
            return None
        try:
            folder = self.run_dir / "tracebacks"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # like the journal: its owner's only
            path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', key or 'plan')}.{hook}.txt"
            text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
                fh.write(self.mask(text))
            return path
        except OSError:
            return None
