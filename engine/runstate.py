"""A run's state, folded from its events: the one fold the runner (live), the journal's writer (live) and its
readers (`runs`, `show`, `resume`, `rollback`, replayed) share.

`RunState.fold` takes one typed event; what each kind changes is one handler below, registered for its class,
so a kind added to `engine.events` and forgotten here is named by `events.unhandled` (a test keeps it empty).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any

from .decisions import to_undo
from .events import (AttemptStarted, DowntimeVerdict, RollbackAbandoned, RollbackBegun, RollbackFailed,
                     RollbackStarted, RollbackSucceeded, RunEvent, RunFinished, RunStarted, RunStopped, StepEnded,
                     StepKept, StepOutput, StepRetry, StepSkipped, StepStarted, StepStatus, StepSucceeded,
                     from_record, given, on, record)

FORMAT = 1  # of the summary (state.json) and of the journal's meta.json


@dataclass
class StepState:
    """What the events say about one step."""

    key: str
    status: str = StepStatus.PENDING
    uses: str | None = None
    action: str = ""
    started: float | None = None
    ended: float | None = None
    attempts: int = 0
    rc: int | None = None
    message: str = ""
    args: Any = None
    argv: list[str] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    rollback: str | None = None  # running | succeeded | failed | abandoned

    @property
    def duration(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


@dataclass
class RunState:
    """A run folded from its events; `fold` is used by the runner and the journal's writer (live) and by the
    journal's readers (replay) alike."""

    run_id: str = ""
    playbook: str = ""
    created: float | None = None
    updated: float | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    start_order: list[str] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = True
    last_finish: dict[str, Any] = field(default_factory=dict)
    rollback_begun: bool = False
    stopped_at: str | None = None

    def step(self, key: str) -> StepState:
        return self.steps.setdefault(key, StepState(key))

    def apply(self, rec: dict[str, Any]) -> None:
        """Fold one journal record (a kind this version does not know changes nothing but `updated`)."""
        event = from_record(rec)
        if event is None:
            self.updated = rec.get("time")
            self.created = self.created if self.created is not None else self.updated
            return
        self.fold(event, rec.get("time"))

    def fold(self, event: RunEvent, t: float | None = None) -> None:
        """The one fold from events to a run's state. `t` is the time as recorded (default: the event's, as the
        record rounds it)."""
        t = round(event.time, 3) if t is None else t
        self.updated = t
        if self.created is None:
            self.created = t
        _fold(event, self, t)

    def status(self, live: bool = False) -> str:
        """running | killed | succeeded | stopped | failed | interrupted | rolled_back | rollback_failed."""
        if not self.finished or not self.attempts:  # no attempts: died before its first event
            return "running" if live else "killed"
        fin = self.last_finish
        reason = fin.get("reason", "")
        if fin.get("rollback_failed") or reason == "rollback_failed":
            return "rollback_failed"
        if reason in ("failed", "interrupted") and not fin.get("no_rollback"):
            return "rolled_back"
        return reason or "unknown"

    def failed_step(self) -> str | None:
        """The step to look at: the first that failed in the last attempt, else one left running."""
        failed = (self.last_finish.get("failed") or []) if self.finished else []
        if failed:
            return failed[0]
        for key in reversed(self.start_order):
            if self.steps[key].status in ("running", "failed"):
                return key
        return self.stopped_at

    def to_undo(self) -> list[str]:
        """Started steps (in start order) whose compensation has not yet succeeded."""
        return to_undo(self.start_order, {k: s.rollback for k, s in self.steps.items()})

    def summary(self, live: bool = False) -> dict[str, Any]:
        return {**self.summary_head(live), "steps": {k: step_summary(s) for k, s in self.steps.items()},
                "start_order": self.start_order}

    def summary_head(self, live: bool = False) -> dict[str, Any]:
        """The summary's run-wide fields: all but `steps` and `start_order`, which follow them."""
        return {"format": FORMAT, "run_id": self.run_id, "playbook": self.playbook, "status": self.status(live),
                "created": self.created, "updated": self.updated, "failed_step": self.failed_step(),
                "attempts": self.attempts, "exit_code": self.last_finish.get("exit_code")}


def step_summary(s: StepState) -> dict[str, Any]:
    """One step's entry in the summary (state.json's `steps`)."""
    return {"status": s.status, "attempts": s.attempts, "rc": s.rc, "duration": s.duration, "rollback": s.rollback}


# -- what each kind changes -------------------------------------------------------------------------------


@singledispatch
def _fold(event: RunEvent, st: RunState, t: float) -> None:
    """A kind without a handler changes nothing but the times (the closed set is covered: see the tests)."""


@on(_fold, AttemptStarted)
def _attempt_started(event: AttemptStarted, st: RunState, t: float) -> None:
    st.attempts.append({"command": given(event.command), "time": t})
    st.finished = False


@on(_fold, RunStarted)
def _run_started(event: RunStarted, st: RunState, t: float) -> None:
    if st.finished:  # a plain `run`: no attempt_started precedes it
        st.attempts.append({"command": "run", "time": t})
    st.finished = False
    st.playbook = given(event.playbook, st.playbook)
    st.stopped_at = None


@on(_fold, StepStarted)
def _step_started(event: StepStarted, st: RunState, t: float) -> None:
    key = event.key
    s = st.step(key)
    s.status, s.started, s.ended = StepStatus.RUNNING, t, None
    s.uses, s.action = given(event.uses), given(event.action, "")
    s.attempts += 1
    if s.attempts > 1 and key in st.start_order:  # a step's first start skips the scan (quadratic in long runs)
        st.start_order.remove(key)
    st.start_order.append(key)


@on(_fold, StepRetry)
def _step_retry(event: StepRetry, st: RunState, t: float) -> None:
    st.step(event.key).attempts += 1


@on(_fold, StepEnded)
def _step_ended(event: StepEnded, st: RunState, t: float) -> None:
    s = st.step(event.key)
    s.status = StepStatus.SUCCEEDED if isinstance(event, StepSucceeded) else StepStatus.FAILED
    s.ended, s.rc, s.message = t, given(event.rc), given(event.message, "")
    s.args, s.argv, s.outputs = given(event.args), given(event.argv), given(event.outputs) or {}


@on(_fold, StepSkipped)
def _step_skipped(event: StepSkipped, st: RunState, t: float) -> None:
    s = st.step(event.key)
    s.status, s.message = StepStatus.SKIPPED, given(event.reason, "")


@on(_fold, RunStopped)
def _run_stopped(event: RunStopped, st: RunState, t: float) -> None:
    st.stopped_at = event.key


@on(_fold, RollbackBegun)
def _rollback_begun(event: RollbackBegun, st: RunState, t: float) -> None:
    st.rollback_begun = True


@on(_fold, RollbackStarted)
def _rollback_started(event: RollbackStarted, st: RunState, t: float) -> None:
    st.step(event.key).rollback = "running"


@on(_fold, RollbackSucceeded)
def _rollback_succeeded(event: RollbackSucceeded, st: RunState, t: float) -> None:
    s = st.step(event.key)
    s.rollback, s.status = "succeeded", StepStatus.ROLLED_BACK


@on(_fold, RollbackFailed)
def _rollback_failed(event: RollbackFailed, st: RunState, t: float) -> None:
    s = st.step(event.key)
    s.rollback, s.message = "failed", given(event.message, s.message)


@on(_fold, RollbackAbandoned)
def _rollback_abandoned(event: RollbackAbandoned, st: RunState, t: float) -> None:
    st.step(event.key).rollback = "abandoned"


@on(_fold, RunFinished)
def _run_finished(event: RunFinished, st: RunState, t: float) -> None:
    st.finished = True
    st.last_finish = {**record(event), "time": t}


# A step's output lines (kept in its own files), a kept step (its state is the earlier attempt's) and the
# emulator's downtime verdict change no step and no run-wide field.
@on(_fold, StepOutput, StepKept, DowntimeVerdict)
def _unchanged(event: RunEvent, st: RunState, t: float) -> None:
    pass
