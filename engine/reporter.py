"""Turning run events into text for people (the only place a run prints).

By default a run prints one line per step as it ends, the output of steps that show it (`echo`), and a short
tail of a failed step's output; `-v` streams every step's output. The run directory keeps all of it.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from abc import ABC, abstractmethod
from functools import singledispatch
from typing import IO, Any, Callable

from .durations import format_duration
from .events import (AttemptStarted, DowntimeVerdict, RollbackAbandoned, RollbackFailed, RollbackStarted,
                     RollbackSucceeded, RollbackBegun, RunEvent, RunFinished, RunStarted, RunStopped, StepEnded,
                     StepFailed, StepKept, StepOutput, StepRetry, StepSkipped, StepStarted, StepSucceeded, given, on,
                     record)
from .results import RunSummary
from .terminal import neutralise

_MARK = {"succeeded": "✔", "failed": "✘", "skipped": "↷", "rolled_back": "⟲", "not_run": "·", "running": "…",
         "pending": "·"}
HEARTBEAT = 30.0  # seconds between "still running" lines when the output is not a terminal
# One line per step by default (its end); -v adds the start of each step (see `event_line`). A compensation's
# start is always shown: it says what is being undone, and how.
# What the reporters track as running: from one of these events about a step to one of the others.
BEGINS_WORK = (StepStarted, RollbackStarted)
ENDS_WORK = (StepEnded, RollbackSucceeded, RollbackFailed, RollbackAbandoned)


class Reporter(ABC):
    """What every reporter is: an event sink that shows a run, paused around a question, closed at the end."""

    @abstractmethod
    def emit(self, e: RunEvent) -> None:
        """Show one event (called from the runner's threads, one event at a time)."""

    def paused(self, ask: Callable[[], Any]) -> Any:
        """Run `ask` (a question to the person) without drawing over it; returns what it returns."""
        return ask()

    def close(self) -> None:
        """The run is over: stop any background drawing."""


class Running:
    """What the reporters know about a step that is running: since when, its name, how long it should take."""

    def __init__(self, since: float, name: str | None = None, expected: float | None = None) -> None:
        self.since = since
        self.name = name
        self.expected = expected

    @classmethod
    def of(cls, e: StepStarted | RollbackStarted) -> "Running":
        if isinstance(e, StepStarted):
            return cls(e.time, given(e.name), given(e.expected))
        return cls(e.time)

    def progress(self, key: str, now: float) -> str:
        """`key (name): 8m20s left, ends 04:35:10` for a step of known length, else `key: 1m20s so far`."""
        label = f"{key} ({self.name})" if self.name and self.name != key else key
        elapsed = max(0.0, now - self.since)
        if self.expected:
            left = max(0.0, self.since + self.expected - now)
            ends = time.strftime("%H:%M:%S", time.localtime(self.since + self.expected))
            return f"{label}: {format_duration(left)} left of {format_duration(self.expected)}, ends {ends}"
        return f"{label}: running for {format_duration(elapsed)}"


class TextReporter(Reporter):
    """Plain lines, one per finished step; with `show_output` (-v) step output streamed with the step's key.

    When the stream is not a terminal, a heartbeat line every `heartbeat` seconds names the steps still
    running (how long a soak has left and when it ends), so a CI log shows the run is alive.
    """

    def __init__(self, stream: IO[str] | None = None, *, show_output: bool = False, shown: frozenset[str] = frozenset(),
                 heartbeat: float | None = HEARTBEAT, clock: Callable[[], float] = time.time) -> None:
        """`shown`: keys of steps whose output is printed even without -v (their plugin is for showing)."""
        self.stream = stream or sys.stdout
        self.show_output = show_output
        self.shown = shown
        self.heartbeat = heartbeat
        self.clock = clock
        self.running: dict[str, Running] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def _print(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def emit(self, e: RunEvent) -> None:
        if isinstance(e, BEGINS_WORK):
            self.running[e.key] = Running.of(e)
        elif isinstance(e, ENDS_WORK):
            self.running.pop(e.key, None)
        if isinstance(e, StepOutput) and not (self.show_output or e.key in self.shown):
            return
        line = event_line(e, stderr_tail=not self.show_output, verbose=self.show_output)
        if line is not None:
            self._print(neutralise(line))
        if isinstance(e, (RunStarted, AttemptStarted)) and self.heartbeat and self._ticker is None:
            self._ticker = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
            self._ticker.start()
        elif isinstance(e, RunFinished):
            self._stop.set()

    def heartbeat_lines(self, now: float) -> list[str]:
        """One line per step running for longer than a heartbeat."""
        return [f"… {r.progress(key, now)}" for key, r in list(self.running.items())
                if now - r.since >= (self.heartbeat or 0)]

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            for line in self.heartbeat_lines(self.clock()):
                self._print(line)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1.0)


class JsonLinesReporter(Reporter):
    """One JSON object per event (the journal's shape) on stdout, for CI systems."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, e: RunEvent) -> None:
        self.stream.write(json.dumps(record(e), default=str, ensure_ascii=False) + "\n")
        self.stream.flush()


def event_line(e: RunEvent, *, stderr_tail: bool = True, verbose: bool = True) -> str | None:
    """The text for one event (a few lines at most), or None for events people need not see
    (without `verbose`, the start of a step: its end says all)."""
    if isinstance(e, StepStarted) and not verbose:
        return None
    return _line(e, stderr_tail)


@singledispatch
def _line(e: RunEvent, stderr_tail: bool) -> str | None:
    """A kind without a line of its own is not shown (the closed set is covered: see the tests)."""
    return None


@on(_line, RunStarted)
def _run_started(e: RunStarted, stderr_tail: bool) -> str:
    return f"playbook {e.playbook}: {_steps(e.steps)}, up to {e.max_parallel} at once"


@on(_line, AttemptStarted)
def _attempt_started(e: AttemptStarted, stderr_tail: bool) -> str:
    kept, undo = given(e.kept), given(e.steps)
    kept_text = f", keeping {_steps(len(kept))} that succeeded" if kept else ""
    undo_text = f", {_steps(len(undo))} to undo" if undo else ""
    return f"— {given(e.command)}{kept_text}{undo_text}"


@on(_line, StepStarted)
def _step_started(e: StepStarted, stderr_tail: bool) -> str:
    action = f"  {e.action}" if given(e.action) else ""
    return f"▶ {e.key} [{given(e.uses)}]{action}"


@on(_line, StepOutput)
def _step_output(e: StepOutput, stderr_tail: bool) -> str:
    return f"  {e.key} │ {e.line}"


@on(_line, StepRetry)
def _step_retry(e: StepRetry, stderr_tail: bool) -> str:
    return f"↻ {e.key} attempt {e.attempt} failed ({e.message}); again in {format_duration(e.delay)}"


@on(_line, StepSucceeded)
def _step_succeeded(e: StepSucceeded, stderr_tail: bool) -> str:
    return f"✔ {e.key} ({format_duration(given(e.duration) or 0)})"


@on(_line, StepFailed)
def _step_failed(e: StepFailed, stderr_tail: bool) -> str:
    tolerated = " — continuing (continue_on_error)" if given(e.continue_on_error) else ""
    lines = [f"✘ {e.key} failed ({format_duration(given(e.duration) or 0)}): {e.message}{tolerated}"]
    if given(e.stderr_tail) and stderr_tail:
        lines += [f"    {line}" for line in e.stderr_tail.splitlines()]
    return "\n".join(lines)


@on(_line, StepSkipped)
def _step_skipped(e: StepSkipped, stderr_tail: bool) -> str:
    return f"↷ {e.key} skipped ({e.reason})"


@on(_line, StepKept)
def _step_kept(e: StepKept, stderr_tail: bool) -> str:
    return f"= {e.key} kept ({given(e.reason, 'succeeded earlier')})"


@on(_line, RunStopped)
def _run_stopped(e: RunStopped, stderr_tail: bool) -> str:
    return f"■ stopped before {e.key}: {e.reason} (no terminal to ask on)"


@on(_line, RollbackBegun)
def _rollback_begun(e: RollbackBegun, stderr_tail: bool) -> str:
    return f"↺ rolling back: undoing {_steps(e.steps)} in reverse start order"


@on(_line, RollbackStarted)
def _rollback_started(e: RollbackStarted, stderr_tail: bool) -> str:
    return f"⟲ {e.key} rollback [{e.uses}]  {e.action}"


@on(_line, RollbackSucceeded)
def _rollback_succeeded(e: RollbackSucceeded, stderr_tail: bool) -> str:
    return f"✔ {e.key} rolled back"


@on(_line, RollbackFailed)
def _rollback_failed(e: RollbackFailed, stderr_tail: bool) -> str:
    return f"✘ {e.key} rollback FAILED: {e.message}"


@on(_line, RollbackAbandoned)
def _rollback_abandoned(e: RollbackAbandoned, stderr_tail: bool) -> str:
    return f"✘ {e.key} rollback abandoned"


@on(_line, RunFinished)
def _run_finished(e: RunFinished, stderr_tail: bool) -> str:
    return conclusion(e.data)


@on(_line, DowntimeVerdict)
def _downtime_verdict(e: DowntimeVerdict, stderr_tail: bool) -> str | None:
    return given(e.text) or None


def format_inputs(values: dict[str, Any], secrets: set[str] | frozenset[str]) -> str:
    """`rev="1-20-0", waves=[...], token=***`: values as JSON, secrets masked (dry-run and `show` alike)."""
    return ", ".join(f"{k}={'***' if k in secrets else json.dumps(v, default=str, ensure_ascii=False)}"
                     for k, v in values.items())


def _order(status: str) -> int:
    return list(_MARK).index(status) if status in _MARK else len(_MARK)


def plural(n: int, word: str) -> str:
    """`1 wave`, `2 waves`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _steps(n: int) -> str:
    return plural(n, "step")


def conclusion(d: dict) -> str:
    """The last line of a run: what happened and what the exit code means."""
    code, reason = d["exit_code"], d["reason"]
    failed = ", ".join(d.get("failed") or []) or "-"
    if reason == "succeeded":
        return "run succeeded (exit 0)"
    if reason == "stopped":
        return f"run stopped for confirmation; nothing was rolled back (exit {code})"
    if reason in ("rolled_back", "rollback_failed"):  # `playbook rollback` of an earlier run
        if d.get("rollback_failed"):
            return (f"rollback FAILED for {', '.join(d['rollback_failed'])} — manual attention needed, or "
                    f"`playbook rollback` again after mending (exit {code})")
        return f"rollback completed: {_steps(len(d.get('rolled_back') or []))} undone (exit {code})"
    if d.get("rollback_failed"):
        return (f"run {reason} at {failed}; rollback FAILED for {', '.join(d['rollback_failed'])} — "
                f"manual attention needed (exit {code})")
    if d.get("no_rollback"):
        return f"run {reason} at {failed}; rollback skipped (--no-rollback) (exit {code})"
    return f"run {reason} at {failed}; rollback completed (exit {code})"


def summary_table(summary: RunSummary, *, brief: bool = False) -> str:
    """Step, status, duration and rollback of every step, in start order then the rest.

    `brief`: one line of counts, then only the steps to look at (failed, or rolled back); the others have
    had their line already."""
    ordered = sorted(summary.results.values(), key=lambda r: (r.started is None, r.started or 0))
    if brief:
        counts: dict[str, int] = {}
        for r in ordered:
            counts[r.status] = counts.get(r.status, 0) + 1
        head = f"{_steps(len(ordered))}: " + ", ".join(
            f"{counts[status]} {status.replace('_', ' ')}" for status in sorted(counts, key=_order))
        ordered = [r for r in ordered if r.status in ("failed", "rolled_back") or r.rollback]
        if not ordered:
            return head
    rows = [("STEP", "STATUS", "DURATION", "ROLLBACK")]
    for r in ordered:
        rows.append((r.key, f"{_MARK.get(r.status, '?')} {r.status}",
                     format_duration(r.duration) if r.duration is not None else "-", r.rollback or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
    return f"{head}\n{table}" if brief else table
