"""A Temporal run as the follower shows and keeps it: the workflow's progress turned into the engine's typed
events (engine/events.py) and sent to the same sinks a local run has: the text, live or `--output json`
reporter, and a journal in the local runs directory that `playbook show`, `runs` and `report` read.

Each step's own events (its output lines, retries; a compensation's start and end) are recorded by the worker
that runs it, masked there as a local run's are, and numbered (engine/temporal/output.py). While it runs, its
newest events come with its heartbeats (`live`); when it ends, its result brings their tail, and the follower
shows those it has not shown yet, then the step's end, built from the result as the local runner builds it.
The follower masks again with its own masker before any sink sees them.
The journal is a mirror: the server holds the run, so `resume` and `rollback` refuse it (meta `engine`).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from ..events import (RollbackBegun, RunEvent, RunFinished, RunStarted, RunStopped, StepOutput, StepSkipped,
                      StepStarted, from_record)
from ..runner import ended_event
from .host import result_from

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
        self._running: set[str] = set()  # steps started and not ended: their heartbeats' events are shown
        self._rolling = False  # compensations run: theirs are shown too, until each ends
        self._undone: set[str] = set()
        self._shown: dict[tuple[str, str], tuple[int, int]] = {}  # (phase, key): (attempt, last event shown)

    def _emit(self, event: RunEvent) -> None:
        self.sink.emit(event)

    def _replay(self, records: Iterable[dict]) -> None:
        for rec in records:
            event = from_record(self.mask(rec))
            if event is not None:
                self._emit(event)

    def watching(self) -> bool:
        """Whether a step or compensation runs whose heartbeats may bring events to show."""
        return bool(self._running) or self._rolling

    def live(self, details: dict) -> None:
        """Show what a running step's (or compensation's) heartbeat carries that was not shown yet."""
        phase, key = details.get("phase"), details.get("key")
        if (phase == "step" and key in self._running) or (phase == "undo" and self._rolling
                                                          and key not in self._undone):
            self._show(phase, key, details, "not received while following")

    def _show(self, phase: str, key: str, recorded: dict | None, lost: str) -> None:
        """The numbered events of `recorded` ({attempt, events}) not shown yet, after a line saying how many
        between were lost (`lost` says where). An attempt lost with its worker is followed by one that starts
        its step over: its events are shown from its first."""
        recorded = recorded or {}
        attempt = recorded.get("attempt")
        was, last = self._shown.get((phase, key), (attempt, -1))
        if was != attempt:
            last = -1
        fresh = [(n, rec) for n, rec in recorded.get("events") or [] if n > last]
        if not fresh:
            return
        if fresh[0][0] > last + 1:
            self._emit(StepOutput(key=key, stream="stdout",
                                  line=f"[... {fresh[0][0] - last - 1} lines of output {lost} ...]"))
        self._replay(rec for _, rec in fresh)
        self._shown[(phase, key)] = (attempt, fresh[-1][0])

    async def feed(self, ev: dict) -> None:
        kind, key, at = ev["event"], ev.get("key") or None, float(ev.get("ts") or time.time())
        if kind == "run_started":
            self._emit(RunStarted(time=at, playbook=ev["playbook"], steps=ev["steps"], max_parallel=ev["max_parallel"]))
        elif kind == "step_started":
            self._emit(StepStarted(key=key, time=at, uses=ev.get("uses")))
            self._running.add(key)
        elif kind in ("step_succeeded", "step_failed"):
            self._running.discard(key)
            result = await self.result(key) or {}
            self._show("step", key, result.get("events"), "not kept in the run's history")
            ended = result_from({"key": key, "status": "failed", **result})
            self._emit(ended_event(ended, self.mask, self.mask, self.tolerated(key), at=result.get("ended") or at))
        elif kind == "step_skipped":
            self._emit(StepSkipped(key=key, time=at, reason=self.mask(ev.get("reason", ""))))
        elif kind == "run_stopped":
            self._emit(RunStopped(key=key, time=at, reason=self.mask(ev.get("reason", ""))))
        elif kind == "rollback_begun":
            self._emit(RollbackBegun(time=at, steps=ev["steps"]))
            self._rolling = True
        elif kind in ("rollback_succeeded", "rollback_failed"):
            self._undone.add(key)
            result = await self.result(key) or {}
            if (result.get("rollback_events") or {}).get("events"):
                self._show("undo", key, result["rollback_events"], "not kept in the run's history")
            else:
                self._replay([{"event": kind, "step": key, "time": at, "message": ev.get("message", "")}])
        elif kind == "run_finished":
            self._rolling = False
            self._emit(RunFinished(time=at, exit_code=ev["exit_code"], reason=ev["reason"], failed=ev["failed"],
                                   rolled_back=ev["rolled_back"], rollback_failed=ev["rollback_failed"],
                                   no_rollback=False))
        elif kind in NOTES:
            self.note(ev)


def create_journal(prepared: Any, runs_dir: Path, run_id: str, *, max_parallel: int, no_rollback: bool,
                   address: str, namespace: str, task_queue: str) -> Any:
    """The local mirror of a Temporal run's journal (a local run's meta and inputs, masked alike, marked as a
    Temporal run's copy); a JournalError when the runs directory cannot be written (the caller follows on
    without it)."""
    from .. import wiring
    attempt = wiring.Attempt(max_parallel=max_parallel, no_rollback=no_rollback)
    meta = wiring.run_meta(prepared, run_id, attempt, engine=ENGINE,
                           temporal={"address": address, "namespace": namespace, "task_queue": task_queue})
    return wiring.create_journal(prepared, Path(runs_dir) / run_id, meta)
