"""Undoing what a run did: the rollback actions of started steps, in reverse start order, past failures.

Like a teardown list: a step goes on the list when it starts, so a step that failed half-way is undone too
(rollback actions must therefore be idempotent). One failing rollback is reported and the rest still run.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .errors import PlaybookError
from .events import Event
from .plugins.base import Outcome, StepContext
from .results import ROLLED_BACK

if TYPE_CHECKING:
    from .runner import Runner


def roll_back(runner: "Runner", started: list[str], abandon: threading.Event) -> tuple[list[str], list[str]]:
    """Run rollbacks for `started` (in start order) backwards; returns (rolled back, failed) keys."""
    done: list[str] = []
    failed: list[str] = []
    prepared = runner.prepared
    for key in reversed(started):
        node = prepared.plan.nodes[key]
        result = runner.results[key]
        try:
            action = runner.rollback_for(node, result)
        except PlaybookError as err:
            action, error = None, str(err)
            runner.emit(Event("rollback_failed", key, {"message": error}))
            result.rollback, result.rollback_message = "failed", error
            failed.append(key)
            continue
        if action is None:
            continue
        if abandon.is_set():
            runner.emit(Event("rollback_abandoned", key, {}))
            result.rollback, result.rollback_message = "failed", "abandoned"
            failed.append(key)
            continue
        plugin = prepared.plugins.get(action.uses)
        scope = runner.scope_for(node)
        try:
            args = prepared.renderer.render(action.args, scope)
            description = plugin.describe(args, runner.options)
        except PlaybookError as err:
            runner.emit(Event("rollback_failed", key, {"message": f"cannot render rollback: {err}"}))
            result.rollback, result.rollback_message = "failed", str(err)
            failed.append(key)
            continue
        timeout = action.timeout or node.spec.timeout
        runner.emit(Event("rollback_started", key, {"uses": action.uses, "action": runner.mask(description)}))
        if abandon.is_set():  # e.g. the journal could not record the start: do not act unrecorded
            result.rollback, result.rollback_message = "failed", "abandoned"
            failed.append(key)
            continue
        ctx = StepContext(key=key, timeout=timeout, cancel=abandon, run_dir=runner.run_dir, options=runner.options,
                          emit=runner.output_emitter(key), evaluate=lambda e: prepared.renderer.evaluate(e, scope),
                          mask=runner.mask, deadline=time.time() + timeout if timeout else None)
        started_at = time.time()
        try:
            outcome = plugin.run(args, ctx)
        except PlaybookError as err:
            outcome = Outcome(ok=False, message=str(err))
        data = {"message": runner.mask(outcome.message), "rc": outcome.rc, "duration": time.time() - started_at}
        if outcome.ok:
            result.status, result.rollback = ROLLED_BACK, "succeeded"
            runner.emit(Event("rollback_succeeded", key, data))
            done.append(key)
        else:
            result.rollback, result.rollback_message = "failed", outcome.message
            runner.emit(Event("rollback_failed", key, data))
            failed.append(key)
    return done, failed
