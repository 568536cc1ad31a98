"""A Temporal run as the follower shows and keeps it: the workflow's progress turned into the engine's typed
events (engine/events.py) and sent to the same sinks a local run has: the text, live or `--output json`
reporter, and a journal in the local runs directory that `playbook show`, `runs` and `report` read.

Each step's own events (its output lines, retries, its end with duration, rc, arguments and outputs; a
compensation's start and end) are recorded by the worker that ran it, masked there as a local run's are, and
come back with the step's result; the follower masks again with its own masker before any sink sees them.
The journal is a mirror: the server holds the run, so `resume` and `rollback` refuse it (meta `engine`).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..events import (RollbackBegun, RunEvent, RunFinished, RunStarted, RunStopped, StepSkipped, StepStarted,
                      from_record)

ENGINE = "temporal"
# The workflow's own events the engine's event set has no kind for: shown as notes (stderr with --output json).
NOTES = ("awaiting_approval", "approved", "rejected", "run_interrupted")


class Mirror:
    """Feeds a run's workflow events, in order, to `sink` as typed events; `result(key)` fetches a step's
    result (with the events its worker recorded) from the workflow; `note(event)` shows an approval note;
    `tolerated(key)` says whether a step's failure is tolerated (continue_on_error)."""

    def __init__(self, sink: Any, result: Callable[[str], Awaitable[dict | None]], mask: Callable[[Any], Any],
                 note: Callable[[dict], None], tolerated: Callable[[str], bool] = lambda key: False) -> None:
        self.sink = sink
        self.tolerated = tolerated  # the step has continue_on_error
        self.result = result
        self.mask = mask
        self.note = note

    def _emit(self, event: RunEvent) -> None:
        self.sink.emit(event)

    def _replay(self, records: list[dict] | None) -> None:
        for rec in records or []:
            event = from_record(self.mask(rec))
            if event is not None:
                self._emit(event)

    async def feed(self, ev: dict) -> None:
        kind, key, at = ev["event"], ev.get("key") or None, float(ev.get("ts") or time.time())
        if kind == "run_started":
            self._emit(RunStarted(time=at, playbook=ev["playbook"], steps=ev["steps"], max_parallel=ev["max_parallel"]))
        elif kind == "step_started":
            self._emit(StepStarted(key=key, time=at, uses=ev.get("uses")))
        elif kind in ("step_succeeded", "step_failed"):
            result = await self.result(key) or {}
            ended = ended_record(kind, key, at, {**ev, "continue_on_error": self.tolerated(key)}, result)
            self._replay([*(result.get("events") or []), ended])
        elif kind == "step_skipped":
            self._emit(StepSkipped(key=key, time=at, reason=self.mask(ev.get("reason", ""))))
        elif kind == "run_stopped":
            self._emit(RunStopped(key=key, time=at, reason=self.mask(ev.get("reason", ""))))
        elif kind == "rollback_begun":
            self._emit(RollbackBegun(time=at, steps=ev["steps"]))
        elif kind in ("rollback_succeeded", "rollback_failed"):
            result = await self.result(key) or {}
            records = result.get("rollback_events") or [
                {"event": kind, "step": key, "time": at, "message": ev.get("message", "")}]
            self._replay(records)
        elif kind == "run_finished":
            self._emit(RunFinished(time=at, exit_code=ev["exit_code"], reason=ev["reason"], failed=ev["failed"],
                                   rolled_back=ev["rolled_back"], rollback_failed=ev["rollback_failed"],
                                   no_rollback=False))
        elif kind in NOTES:
            self.note(ev)


def ended_record(kind: str, key: str, at: float, ev: dict, result: dict) -> dict:
    """The step's end as the local runner records it (duration, rc, attempts, message; arguments, argv and
    outputs for show and report; the stderr tail of a failure), from its result (masked by the caller)."""
    outcome = result.get("outcome") or {}
    started, ended = result.get("started"), result.get("ended")
    rec = {"event": kind, "step": key, "time": ended or at,
           "duration": ended - started if started is not None and ended is not None else None,
           "rc": outcome.get("rc"), "attempts": result.get("attempts") or ev.get("attempts") or 0,
           "message": outcome.get("message", ev.get("message", ""))}
    if result.get("args") is not None:
        rec["args"] = result["args"]
    for name in ("argv", "outputs"):
        if outcome.get(name):
            rec[name] = outcome[name]
    if kind == "step_failed":
        rec["stderr_tail"] = "\n".join((outcome.get("stderr") or "").strip().splitlines()[-5:])
        rec["continue_on_error"] = bool(ev.get("continue_on_error", False))
    return rec


def create_journal(prepared: Any, runs_dir: Path, run_id: str, *, max_parallel: int, no_rollback: bool,
                   address: str, namespace: str, task_queue: str) -> Any:
    """The local mirror of a Temporal run's journal (inputs masked, as a local run's); a JournalError when the
    runs directory cannot be written (the caller follows on without it)."""
    from ..journal import JournalSink, mask_inputs
    from ..wiring import Attempt, _meta
    # A local run's meta (playbook, fingerprints, secrets' names), marked as a Temporal run's copy.
    attempt = Attempt(max_parallel=max_parallel, no_rollback=no_rollback)
    meta = {**_meta(prepared, run_id, attempt, {}),  # noqa: SLF001 — one shape of meta.json for both engines
            "engine": ENGINE, "temporal": {"address": address, "namespace": namespace, "task_queue": task_queue}}
    text = Path(prepared.playbook.path).resolve().read_text(encoding="utf-8")
    inputs = prepared.inputs.mask_data(mask_inputs(prepared.inputs.values, prepared.inputs.secrets))
    return JournalSink.create(Path(runs_dir) / run_id, meta=meta, playbook_text=text, inputs=inputs)
