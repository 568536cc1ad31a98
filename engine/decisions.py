"""The decisions of a run, shared by both engines: which steps are ready, whether a ready step runs, is skipped
or stops the run, how long a step may try and when it tries again, what a step's end means for the run, and
which started steps are undone in which order.

The local runner (engine/runner.py, engine/rollback.py) and the Temporal workflow and its activities
(engine/temporal/) call these and nothing else decides. Everything here is deterministic and does no I/O: the
Temporal workflow imports it (its sandbox allows only deterministic code), and the things that need the
playbook (a guard's template, a person's answer) come in as values or callables. The plan's expansion
(groups, for_each copies, `serial` chaining each copy after the one before) is engine/graph.py's; both
engines schedule the one plan it builds, by its `order` (position in the file).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, MutableMapping, Sequence

from .verdict import ROLLS_BACK
from .errors import EXIT_OK, EXIT_ROLLBACK_FAILED

if TYPE_CHECKING:  # the workflow's sandbox must not import the plan's libraries
    from .graph import Frame, Node, Plan
    from .render import Renderer, Scope

# -- which steps are ready ------------------------------------------------------------------------------


def plan_shape(plan: "Plan") -> dict[str, dict[str, Any]]:
    """The plan as plain data, what scheduling needs of it: each step's file order, successors, number of
    needs, continue_on_error and plugin. The Temporal workflow schedules from this (it cannot hold the plan)."""
    graph = plan.graph
    return {k: {"order": n.order, "successors": list(graph.successors(k)), "in_degree": graph.in_degree(k),
                "continue_on_error": n.continue_on_error, "uses": n.spec.uses}
            for k, n in plan.nodes.items()}


class Schedule:
    """The steps whose needs are all done, handed out in file order.

    A step becomes ready when every step it needs has been released: it succeeded, was skipped, was kept
    from an earlier attempt, or failed with continue_on_error. Ties go to the step earlier in the file, so a
    run with the same inputs starts its steps in the same order under either engine.
    """

    def __init__(self, shape: Mapping[str, Mapping[str, Any]]) -> None:
        """`shape` as `plan_shape` returns it."""
        self._shape = shape
        self._waiting = {k: int(s["in_degree"]) for k, s in shape.items()}
        self._ready = [(int(s["order"]), k) for k, s in shape.items() if s["in_degree"] == 0]
        heapq.heapify(self._ready)

    def has_ready(self) -> bool:
        """Whether a step is ready to start."""
        return bool(self._ready)

    def pop(self) -> str:
        """The ready step first in file order (taken off the ready list)."""
        return heapq.heappop(self._ready)[1]

    def release(self, key: str) -> None:
        """`key` is done as far as its dependents are concerned: those with no other open needs become ready."""
        for succ in self._shape[key]["successors"]:
            self._waiting[succ] -= 1
            if self._waiting[succ] == 0:
                heapq.heappush(self._ready, (int(self._shape[succ]["order"]), succ))


# -- whether a ready step runs ------------------------------------------------------------------------

RUN, SKIP, STOP, INTERRUPTED, FAIL = "run", "skip", "stop", "interrupted", "fail"
NEEDS_CONFIRMATION = "needs confirmation: "  # the reason of STOP: a confirmation nobody could answer


@dataclass(frozen=True)
class Gate:
    """What happens to a ready step: RUN; SKIP (its `when` is false, or a person said no); STOP (a
    confirmation nobody can answer here: the run stops, or on Temporal waits for `playbook approve`);
    INTERRUPTED (Ctrl-C or Ctrl-D at the prompt); FAIL (a guard could not be evaluated: the step fails)."""

    decision: str
    reason: str = ""

    def as_data(self) -> list[str]:
        return [self.decision, self.reason]

    @classmethod
    def from_data(cls, data: Sequence[str]) -> "Gate":
        return cls(str(data[0]), str(data[1]))


# Asked when a step needs confirmation: True yes, False no (skip), None cannot ask (stop the run). It may
# raise KeyboardInterrupt or EOFError (Ctrl-C, Ctrl-D at the prompt): the run is then interrupted.
Ask = Callable[[str], "bool | None"]


def decide_gate(when: Any, confirm: str | None, scope: "Scope", *, renderer: "Renderer", ask: Ask) -> Gate:
    """The gate of one step or one group copy: its `when`, then its `confirm` prompt (a prompt that renders
    empty asks nothing, so `confirm: "{{ 'Go?' if item.confirm else '' }}"` makes it optional).
    Raises PlaybookError when a template cannot be evaluated (the caller fails the step)."""
    if when is not None and not renderer.evaluate(when, scope):
        return Gate(SKIP, f"when: {when}")
    prompt = str(renderer.render(confirm, scope)).strip() if confirm else ""
    if not prompt:
        return Gate(RUN)
    try:
        answer = ask(prompt)
    except (KeyboardInterrupt, EOFError):
        return Gate(INTERRUPTED, f"interrupted at the prompt: {prompt}")
    if answer is None:
        return Gate(STOP, NEEDS_CONFIRMATION + prompt)
    return Gate(RUN) if answer else Gate(SKIP, f"declined: {prompt}")


def gate_through_frames(node: "Node", decided: MutableMapping[str, Gate], decide_frame: Callable[["Frame"], Gate],
                        decide_node: Callable[[], Gate]) -> Gate:
    """A step's gate: each enclosing group copy's gate first, outermost first, each decided once per copy
    (`decided`, by the copy's key prefix, remembers them across steps and, on Temporal, across activities);
    the first that does not say RUN is the step's. Then the step's own."""
    for frame in node.frame.chain():
        if frame.group is None:
            continue
        gate = decided.get(frame.prefix)
        if gate is None:
            gate = decided[frame.prefix] = decide_frame(frame)
        if gate.decision != RUN:
            return gate
    return decide_node()


# -- how long a step tries, and when it tries again --------------------------------------------------

UNTIL_DEFAULT_TIMEOUT = 300.0  # an `until` loop without a timeout gives up after this long


@dataclass(frozen=True)
class Tries:
    """A step's retry budget: `timeout` per attempt (the whole loop's when it has `until`), `retries` after the
    first failure with `delay * backoff**n` between them; with `until`, tries every `delay` until the
    expression holds, the timeout passes or the retries (when given) run out."""

    timeout: float | None
    retries: int
    delay: float
    backoff: float
    has_until: bool

    @classmethod
    def of(cls, spec: Any) -> "Tries":
        """The budget of a step spec (engine.model.StepSpec)."""
        return cls(timeout=spec.timeout, retries=spec.retries or 0, delay=spec.delay, backoff=spec.backoff,
                   has_until=spec.until is not None)

    def until_deadline(self, now: float) -> float | None:
        """When an `until` loop started at `now` gives up; None without `until`."""
        return now + (self.timeout or UNTIL_DEFAULT_TIMEOUT) if self.has_until else None

    def attempt_deadline(self, attempt_started: float, until_deadline: float | None) -> float | None:
        """When one attempt is cut short: its timeout, and never past the `until` loop's end."""
        deadline = attempt_started + self.timeout if self.timeout else None
        if until_deadline is not None:
            deadline = min(deadline or until_deadline, until_deadline)
        return deadline

    def next_wait(self, attempts: int, now: float, until_deadline: float | None) -> float | None:
        """After `attempts` failed tries: seconds to wait before the next, or None to give up."""
        if until_deadline is not None:
            if now + self.delay >= until_deadline or (self.retries and attempts > self.retries):
                return None
            return self.delay
        if attempts <= self.retries:
            return self.delay * (self.backoff ** (attempts - 1))
        return None


# -- what a step's end means for the run -------------------------------------------------------------


def after_step(ok: bool, continue_on_error: bool, stop: str | None, *, interrupted: bool = False
               ) -> tuple[bool, str | None]:
    """(whether the step's dependents may go on, why forward work stops) once a step has ended. A failure
    stops forward work unless the step (or a group around it) has continue_on_error; a failure while the run
    is being interrupted is the interruption's."""
    if ok or continue_on_error:
        return True, stop
    return False, stop or ("interrupted" if interrupted else "failed")


def rolls_back(stop: str | None, no_rollback: bool) -> bool:
    """Whether a run that stopped for `stop` undoes its started steps now."""
    return stop in ROLLS_BACK and not no_rollback


# -- what is undone, in which order ------------------------------------------------------------------


def record_start(started: list[str], key: str) -> None:
    """Put `key` at the end of the start order (a step started again in a later attempt moves there: its
    compensation runs once, in the place of its latest start)."""
    if key in started:
        started.remove(key)
    started.append(key)


def rollback_order(started: Iterable[str]) -> list[str]:
    """The order compensations run in: newest start first."""
    return list(reversed(list(started)))


def to_undo(started: Iterable[str], rollback_state: Mapping[str, str | None]) -> list[str]:
    """The started steps (in start order) whose compensation has not yet succeeded; `rollback_state` maps a
    step to 'succeeded', 'failed' or None (not tried)."""
    return [k for k in started if rollback_state.get(k) != "succeeded"]


def rollback_verdict(rollback_failed: bool) -> tuple[int, str]:
    """(exit code, reason) of a rollback run on its own (`playbook rollback`)."""
    return (EXIT_ROLLBACK_FAILED, "rollback_failed") if rollback_failed else (EXIT_OK, "rolled_back")
