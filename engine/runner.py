"""Running a prepared plan: scheduling ready steps up to --max-parallel, guards, confirmations, retries,
`until`, and on failure or interrupt the reverse-order rollback. Emits events; prints nothing itself.

The status of a step the runner acts on and reports is the one `RunState.fold` gives the events it emitted,
the fold the journal, `show` and `resume` use (see `Runner.emit`).
"""
from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from queue import Empty, SimpleQueue
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import JournalError, PlaybookError
from .events import (EventSink, RollbackBegun, RunEvent, RunFinished, RunStarted, RunStopped, StepFailed, StepKept,
                     StepOutput, StepRetry, StepSkipped, StepStarted, StepSucceeded)
from .graph import Frame, Node
from .api import Outcome, RunOptions
from .decisions import (FAIL, INTERRUPTED, SKIP, STOP, Gate, Schedule, Tries, after_step, decide_gate,
                        gate_through_frames, plan_shape, record_start, rollback_verdict, rolls_back)
from .invoke import Invoker, PluginFault
from .prepare import Prepared
from .render import Scope
from .results import FAILED, NOT_RUN, PENDING, RUNNING, SUCCEEDED, RunSummary, StepResult, StepsView
from .rollback import Rollback
from .runstate import RunState, StepState
from .verdict import run_verdict

# Asked when a step needs confirmation: True yes, False no (skip), None cannot ask (stop the run). It may
# raise KeyboardInterrupt or EOFError (Ctrl-C, Ctrl-D at the prompt): the run is then interrupted.
ConfirmFn = Callable[[str], "bool | None"]


class Runner:
    """Runs one prepared playbook once."""

    def __init__(self, prepared: Prepared, *, sink: EventSink, run_dir: Path, max_parallel: int = 4,
                 no_rollback: bool = False, confirm: ConfirmFn | None = None,
                 prior: Mapping[str, StepResult] | None = None, started: list[str] | None = None) -> None:
        """`prior` and `started` come from the journal of an earlier attempt (resume, rollback): steps that
        succeeded there are kept, not run again, and every step started there is rolled back on failure."""
        self.prepared = prepared
        self.options: RunOptions = prepared.options
        self.sink = sink
        self.run_dir = run_dir
        self.max_parallel = max(1, max_parallel)
        self.no_rollback = no_rollback
        self.confirm = confirm or (lambda prompt: True if self.options.assume_yes else None)
        self.cancel = threading.Event()  # stop forward work: Ctrl-C, SIGTERM
        self.abandon = threading.Event()  # stop rollback work too
        self.results: dict[str, StepResult] = {k: StepResult(k) for k in prepared.plan.nodes}
        self.kept: set[str] = set()
        for key, result in (prior or {}).items():
            if key in self.results:
                self.results[key] = result
                if result.status == SUCCEEDED:
                    self.kept.add(key)
        self.started: list[str] = [k for k in (started or []) if k in self.results]
        # The events this runner emitted and its sinks took, folded: each step's status in `results` is this
        # state's (a step first seen here starts from what `results` said of it: an earlier attempt's).
        self.state = RunState(run_id=Path(run_dir).name)
        self.prompting = False  # a confirmation prompt is waiting for the person (see `interrupt`)
        self.journal_error: JournalError | None = None
        # Group copies' gates, asked once per copy (by its key prefix); see decisions.gate_through_frames.
        self.frame_gates: dict[str, Gate] = {}
        self._emit_lock = threading.Lock()
        self.invoker = Invoker(prepared.renderer, self.options, run_dir=run_dir, file=prepared.playbook.file,
                               mask=self.mask, output=self.output_emitter)
        self.rollback = Rollback(prepared, self.invoker, self.results, emit=self.emit, scope_for=self.scope_for)
        # Arguments rendered when a step starts (for its description), used by its first attempt.
        self._first_args: dict[str, dict] = {}
        self._render_started: dict[str, float] = {}  # when the first attempt's rendering began

    # -- plumbing --------------------------------------------------------------------------------

    def mask(self, text: str) -> str:
        return self.prepared.inputs.mask(text)

    def mask_data(self, value: Any) -> Any:
        """`value` with secrets masked in every string inside it."""
        return self.prepared.inputs.mask_data(value)

    def emit(self, event: RunEvent) -> None:
        """Send the event to the sinks, then fold it into `state` (an event the journal could not record
        did not happen: it is not folded)."""
        with self._emit_lock:
            try:
                self.sink.emit(event)
            except JournalError as err:
                # An unrecorded step must not start: remember the first failure and stop all forward work.
                if self.journal_error is None:
                    self.journal_error = err
                self.cancel.set()
                self.abandon.set()
                return
            self._fold(event)

    def _fold(self, event: RunEvent) -> None:
        key = event.key
        result = self.results.get(key) if key is not None else None
        if result is not None and key not in self.state.steps:
            self.state.steps[key] = StepState(key, status=result.status)
        self.state.fold(event)
        if result is not None:
            result.status = self.state.steps[key].status

    def output_emitter(self, key: str) -> Callable[[str, str], None]:
        return lambda stream, line: self.emit(StepOutput(key=key, stream=stream, line=self.mask(line)))

    def scope_for(self, node: Node) -> Scope:
        return self.prepared.scope(steps=StepsView(node.frame, self.results), locals=node.locals)

    def _frame_scope(self, frame: Frame) -> Scope:
        return self.prepared.scope(steps=StepsView(frame, self.results), locals=frame.locals)

    def interrupt(self) -> None:
        """Stop starting steps and cancel running ones; the run then rolls back.

        Called from a signal handler: a confirmation prompt waiting for input in this (main) thread is ended
        with KeyboardInterrupt, which `_decide` turns into the interrupt it is.
        """
        self.cancel.set()
        if self.prompting and threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt

    # -- gates -----------------------------------------------------------------------------------

    def gate(self, node: Node) -> Gate:
        """The gate of a ready step (decisions.Gate): its group copies' gates, then its own `when` and
        `confirm`. Raises PlaybookError when a guard cannot be evaluated."""
        return gate_through_frames(
            node, self.frame_gates,
            lambda frame: self._decide(frame.group.when, frame.group.confirm, self._frame_scope(frame)),
            lambda: self._decide(node.spec.when, node.spec.confirm, self.scope_for(node)))

    def _decide(self, when: Any, confirm: str | None, scope: Scope) -> Gate:
        gate = decide_gate(when, confirm, scope, renderer=self.prepared.renderer, ask=self._ask)
        if gate.decision == INTERRUPTED:
            self.cancel.set()
        return gate

    def _ask(self, prompt: str) -> bool | None:
        try:
            self.prompting = True
            return self.confirm(prompt)
        finally:
            self.prompting = False

    # -- one step --------------------------------------------------------------------------------

    def _execute(self, node: Node) -> StepResult:
        spec = node.spec
        result = self.results[node.key]
        plugin = self.prepared.plugins.get(spec.uses or "")
        renderer = self.prepared.renderer
        scope = self.scope_for(node)
        tries = Tries.of(spec)
        until_deadline = tries.until_deadline(time.time())
        while True:
            result.attempts += 1
            # The step's timeout covers rendering its arguments: the first attempt's clock started when
            # `_describe` began rendering them for the step_started event.
            attempt_started = self._render_started.pop(node.key, None) or time.time()
            deadline = tries.attempt_deadline(attempt_started, until_deadline)
            try:
                args = self._first_args.pop(node.key, None)
                if args is None:
                    with renderer.budget(deadline):
                        args = self.invoker.render_args(plugin, spec.args, scope)
                result.args = args
            except PlaybookError as err:
                outcome = Outcome(ok=False, message=str(err).replace("\n", "; "))
            else:
                ctx = self.invoker.context(node.key, scope, timeout=spec.timeout, cancel=self.cancel,
                                           deadline=deadline)
                outcome = self.invoker.run(plugin, args, ctx)
            result.outcome = outcome
            if outcome.ok and spec.until is not None:
                result.status = SUCCEEDED  # so the expression can read steps.<self>
                try:
                    holds = bool(renderer.evaluate(spec.until, scope))
                except PlaybookError as err:
                    holds, outcome.message = False, str(err)
                if not holds:
                    outcome.ok = False
                    outcome.message = f"until not yet true: {spec.until}"
            if outcome.ok or self.cancel.is_set():
                break
            wait_for = tries.next_wait(result.attempts, time.time(), until_deadline)
            if wait_for is None:
                if until_deadline is not None and outcome.message.startswith("until not yet"):
                    outcome.message = f"until ({spec.until}) still false after {result.attempts} tries"
                break
            self.emit(StepRetry(key=node.key, attempt=result.attempts, message=self.mask(outcome.message),
                                delay=wait_for))
            if self.cancel.wait(wait_for):
                break
        result.status = SUCCEEDED if result.outcome.ok else FAILED
        result.ended = time.time()
        return result

    def _finish(self, key: str, result: StepResult) -> None:
        # The event says how the step ended; folding it sets the step's status.
        self.emit(ended_event(result, self.mask, self.mask_data, self.prepared.plan.nodes[key].continue_on_error))

    def _describe(self, node: Node) -> tuple[str, float | None]:
        """What the step will do, one line, and how long it will take when known (a soak), for its
        `step_started` event; renders the first attempt's arguments."""
        started = self._render_started[node.key] = time.time()
        try:
            plugin = self.prepared.plugins.get(node.spec.uses or "")
            with self.prepared.renderer.budget(started + node.spec.timeout if node.spec.timeout else None):
                args = self.invoker.render_args(plugin, node.spec.args, self.scope_for(node))
            self._first_args[node.key] = args
            expected = self.invoker.expected_duration(plugin, args, node.key)
            return self.mask(self.invoker.describe(plugin, args, node.key)), expected
        except PluginFault as err:
            return f"<cannot describe: {err}>", None
        except PlaybookError:
            return "", None  # the step's own attempt reports why its arguments do not render

    def _title(self, node: Node) -> str | None:
        """The step's `name`, rendered (names often carry `{{ item }}`)."""
        if node.spec.name is None:
            return None
        try:
            return self.mask(str(self.prepared.renderer.render(node.spec.name, self.scope_for(node))))
        except PlaybookError:
            return node.spec.name

    # -- the whole run ---------------------------------------------------------------------------

    def run(self) -> RunSummary:
        plan = self.prepared.plan
        schedule = Schedule(plan_shape(plan))
        release = schedule.release
        running: dict[Future, str] = {}
        stop: str | None = None
        failed: list[str] = []
        # Finished steps' futures, put by the worker that ran them: cheaper per step than
        # concurrent.futures.wait, which builds and tears down a waiter on every future each time.
        finished: SimpleQueue[Future] = SimpleQueue()
        self.emit(RunStarted(playbook=self.prepared.playbook.name, steps=len(plan.nodes),
                             max_parallel=self.max_parallel))

        with ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="step") as pool:
            while True:
                if self.cancel.is_set() and stop is None:
                    stop = "interrupted"
                while stop is None and schedule.has_ready() and len(running) < self.max_parallel:
                    key = schedule.pop()
                    node = plan.nodes[key]
                    result = self.results[key]
                    if key in self.kept:
                        self.emit(StepKept(key=key, reason="succeeded in an earlier attempt"))
                        release(key)
                        continue
                    try:
                        decision, reason = self.gate(node).as_data()
                    except PlaybookError as err:
                        decision, reason = FAIL, str(err).replace("\n", "; ")
                    if decision == SKIP:
                        result.reason = reason
                        self.emit(StepSkipped(key=key, reason=self.mask(reason)))
                        release(key)
                        continue
                    if decision == STOP:
                        stop = "stopped"
                        self.emit(RunStopped(key=key, reason=self.mask(reason)))
                        break
                    if decision == INTERRUPTED:
                        stop = "interrupted"
                        break
                    # Running already while its arguments render for step_started (they may read steps.<self>).
                    result.status, result.started = RUNNING, time.time()
                    record_start(self.started, key)  # started in an earlier attempt: its rollback still runs once
                    action, expected = self._describe(node)
                    started = {"uses": node.spec.uses, "name": self._title(node), "action": action}
                    if expected is not None:  # a soak: progress shows the time left and when it ends
                        started["expected"] = expected
                    self.emit(StepStarted(key=key, **started))
                    if self.journal_error is not None:
                        result.status, result.started = PENDING, None
                        self.started.remove(key)
                        stop = "journal"
                        break
                    if decision == FAIL:
                        result.outcome = Outcome(ok=False, message=reason)
                        result.ended = time.time()
                        self._finish(key, result)
                        failed.append(key)
                        go_on, stop = after_step(False, node.continue_on_error, stop)
                        if go_on:
                            release(key)
                        continue
                    future = pool.submit(self.run_step, node)
                    running[future] = key
                    future.add_done_callback(finished.put)
                if not running:
                    break
                try:
                    done = [finished.get(timeout=0.1)]
                except Empty:
                    continue
                while not finished.empty():
                    done.append(finished.get())
                for fut in done:
                    key = running.pop(fut)
                    result = fut.result()
                    self._finish(key, result)
                    if result.status != SUCCEEDED:
                        failed.append(key)
                    go_on, stop = after_step(result.status == SUCCEEDED, plan.nodes[key].continue_on_error, stop,
                                             interrupted=self.cancel.is_set())
                    if go_on:
                        release(key)
        for key, result in self.results.items():
            if result.status == PENDING:  # no event is about it: the summary's name for a step never reached
                result.status = NOT_RUN
        if self.journal_error is not None:  # whatever else stopped the run, it may not go on unrecorded
            stop = "journal"
        if stop == "journal":
            # Nothing more may happen unrecorded, rollback included: the journal as written is left for
            # `playbook resume` or `playbook rollback` once the disk is mended.
            raise self.journal_error
        return self._conclude(stop, failed)

    def run_step(self, node: Node) -> StepResult:
        """Run one step to its end (retries, `until` and timeout included) into `results[node.key]`; a plugin
        that raises fails the step with its traceback rather than the run."""
        try:
            return self._execute(node)
        except Exception:  # noqa: BLE001 — a plugin bug must not hang the run; keep its traceback visible
            result = self.results[node.key]
            result.outcome = Outcome(ok=False, message="internal error in plugin "
                                     f"'{node.spec.uses}':\n{traceback.format_exc()}")
            result.status, result.ended = FAILED, time.time()
            return result

    def roll_back_started(self) -> RunSummary:
        """Only undo: run the compensations of `started` (from an earlier attempt) in reverse start order."""
        self.emit(RollbackBegun(steps=len(self.started)))
        rolled, rb_failed = self.rollback.run(self.started, self.abandon)
        code, reason = rollback_verdict(bool(rb_failed))
        self.emit(RunFinished(exit_code=code, reason=reason, failed=[], rolled_back=rolled,
                              rollback_failed=rb_failed, no_rollback=False))
        if self.journal_error is not None:
            raise self.journal_error
        return RunSummary(exit_code=code, reason=reason, results=self.results, rollback_failed=rb_failed,
                          rolled_back=rolled)

    def _conclude(self, stop: str | None, failed: list[str]) -> RunSummary:
        rolled: list[str] = []
        rb_failed: list[str] = []
        if rolls_back(stop, self.no_rollback):
            self.emit(RollbackBegun(steps=len(self.started)))
            rolled, rb_failed = self.rollback.run(self.started, self.abandon)
        code, reason = run_verdict(stop, bool(rb_failed))
        summary = RunSummary(exit_code=code, reason=reason, results=self.results, failed=failed,
                             rollback_failed=rb_failed, rolled_back=rolled)
        self.emit(RunFinished(exit_code=code, reason=reason, failed=failed, rolled_back=rolled,
                              rollback_failed=rb_failed, no_rollback=self.no_rollback))
        if self.journal_error is not None:
            raise self.journal_error
        return summary


def ended_event(result: StepResult, mask: Callable[[str], str], mask_data: Callable[[Any], Any],
                continue_on_error: bool, at: float | None = None) -> StepSucceeded | StepFailed:
    """A step's end as the journal records it (duration, rc, attempts, message; the arguments, argv and outputs
    resume and rollback rebuild `steps.<id>` from; a failure's stderr tail), masked; `at` is when it ended."""
    o = result.outcome
    data: dict[str, Any] = {"duration": result.duration, "rc": o.rc if o else None, "attempts": result.attempts,
                            "message": mask(o.message if o else "")}
    if at is not None:
        data["time"] = at
    if result.args is not None:
        data["args"] = mask_data(result.args)
    if o is not None and o.argv:
        data["argv"] = [mask(a) for a in o.argv]
    if o is not None and o.outputs:
        data["outputs"] = mask_data(o.outputs)
    if not (o is not None and o.ok):
        data["stderr_tail"] = mask("\n".join((o.stderr or "").strip().splitlines()[-5:])) if o else ""
        data["continue_on_error"] = continue_on_error
    return (StepSucceeded if o is not None and o.ok else StepFailed)(key=result.key, **data)
