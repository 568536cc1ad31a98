"""Undoing what a run did: the compensations of started steps, in reverse start order, past failures.

Like a teardown list: a step goes on the list when it starts, so a step that failed half-way is undone too
(rollback actions must therefore be idempotent). A step is undone by the `rollback:` its author wrote (a
template, rendered once, here) or else by its plugin's `undo` hook given what the forward step returned
(data, never rendered). One failing or raising compensation is reported and the rest still run.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from .api import Outcome, StepContext
from .decisions import rollback_order
from .errors import PlaybookError
from .events import RollbackAbandoned, RollbackFailed, RollbackStarted, RollbackSucceeded, RunEvent
from .graph import Node
from .invoke import Invoker
from .prepare import Prepared
from .render import Scope
from .results import ROLLED_BACK, StepResult


@dataclass
class Compensation:
    """How one started step is undone: the plugin, what it will do (for the log) and the call itself."""

    uses: str
    description: str
    timeout: float | None
    call: Callable[[StepContext], Outcome]


class Rollback:
    """The compensations of one run's steps, and running them."""

    def __init__(self, prepared: Prepared, invoker: Invoker, results: Mapping[str, StepResult], *,
                 emit: Callable[[RunEvent], None], scope_for: Callable[[Node], Scope]) -> None:
        self.prepared = prepared
        self.invoker = invoker
        self.results = results
        self.emit = emit
        self.scope_for = scope_for

    def has_undo(self, key: str) -> bool:
        """Whether the step has a compensation (its own `rollback:`, or an undo its plugin knows)."""
        node = self.prepared.plan.nodes[key]
        if node.spec.rollback is not None:
            return True
        try:
            return self._natural(node, self.results.get(key)) is not None
        except PlaybookError:
            return True  # let the rollback itself report what is wrong

    def compensation(self, node: Node) -> Compensation | None:
        """The step's compensation, ready to call; None when it has none. Raises PlaybookError."""
        spec = node.spec
        if spec.rollback is not None:
            action = spec.rollback
            plugin = self.prepared.plugins.get(action.uses)
            try:
                args = self.invoker.render_args(plugin, action.args, self.scope_for(node), check=False)
            except PlaybookError as err:
                raise PlaybookError(f"cannot render rollback: {err}") from None
            description = self.invoker.describe(plugin, args, node.key)
            return Compensation(action.uses, description, action.timeout or spec.timeout,
                                lambda ctx: self.invoker.run(plugin, args, ctx))
        return self._natural(node, self.results.get(node.key))

    def _natural(self, node: Node, result: StepResult | None) -> Compensation | None:
        spec = node.spec
        if not spec.uses or result is None or result.args is None or result.outcome is None:
            return None
        plugin = self.prepared.plugins.get(spec.uses)
        args, done = result.args, result.outcome
        description = self.invoker.describe_undo(plugin, args, done, node.key)
        if description is None:
            return None
        return Compensation(spec.uses, description, spec.timeout,
                            lambda ctx: self.invoker.undo(plugin, args, done, ctx))

    def run(self, started: list[str], abandon: threading.Event) -> tuple[list[str], list[str]]:
        """Undo `started` (in start order) newest first (decisions.rollback_order); returns (rolled back, failed)
        keys."""
        done: list[str] = []
        failed: list[str] = []
        mask = self.invoker.mask
        for key in rollback_order(started):
            node = self.prepared.plan.nodes[key]
            result = self.results[key]
            try:
                comp = self.compensation(node)
            except PlaybookError as err:
                message = mask(str(err))
                self.emit(RollbackFailed(key=key, message=message))
                result.rollback, result.rollback_message = "failed", message
                failed.append(key)
                continue
            if comp is None:
                continue
            if abandon.is_set():
                self.emit(RollbackAbandoned(key=key))
                result.rollback, result.rollback_message = "failed", "abandoned"
                failed.append(key)
                continue
            self.emit(RollbackStarted(key=key, uses=comp.uses, action=mask(comp.description)))
            if abandon.is_set():  # e.g. the journal could not record the start: do not act unrecorded
                result.rollback, result.rollback_message = "failed", "abandoned"
                failed.append(key)
                continue
            ctx = self.invoker.context(key, self.scope_for(node), timeout=comp.timeout, cancel=abandon)
            started_at = time.time()
            outcome = comp.call(ctx)
            data = {"message": mask(outcome.message), "rc": outcome.rc, "duration": time.time() - started_at}
            if outcome.ok:
                result.status, result.rollback = ROLLED_BACK, "succeeded"
                self.emit(RollbackSucceeded(key=key, **data))
                done.append(key)
            else:
                result.rollback, result.rollback_message = "failed", outcome.message
                self.emit(RollbackFailed(key=key, **data))
                failed.append(key)
        return done, failed
