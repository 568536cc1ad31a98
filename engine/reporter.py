"""Turning run events into text for people (the only place a run prints)."""
from __future__ import annotations

import json
import sys
from typing import IO

from .durations import format_duration
from .events import Event
from .results import RunSummary

_MARK = {"succeeded": "✔", "failed": "✘", "skipped": "↷", "rolled_back": "⟲", "not_run": "·", "running": "…",
         "pending": "·"}


class TextReporter:
    """Plain lines, one per event; step output streamed with the step's key as prefix."""

    def __init__(self, stream: IO[str] | None = None, *, show_output: bool = True) -> None:
        self.stream = stream or sys.stdout
        self.show_output = show_output

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def emit(self, e: Event) -> None:
        if e.kind == "step_output" and not self.show_output:
            return
        line = event_line(e, stderr_tail=not self.show_output)
        if line is not None:
            self._print(line)


class JsonLinesReporter:
    """One JSON object per event (the journal's shape) on stdout, for CI systems."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, e: Event) -> None:
        from .journal import event_record
        self.stream.write(json.dumps(event_record(e), default=str, ensure_ascii=False) + "\n")
        self.stream.flush()


def event_line(e: Event, *, stderr_tail: bool = True) -> str | None:
    """The text for one event (a few lines at most), or None for events people need not see."""
    d = e.data
    k = e.kind
    if k == "run_started":
        return f"playbook {d['playbook']}: {d['steps']} steps, up to {d['max_parallel']} at once"
    if k == "attempt_started":
        kept = f", keeping {_steps(len(d['kept']))} that succeeded" if d.get("kept") else ""
        undo = f", {_steps(len(d['steps']))} to undo" if d.get("steps") else ""
        return f"— {d.get('command')}{kept}{undo}"
    if k == "step_started":
        action = f"  {d['action']}" if d.get("action") else ""
        return f"▶ {e.key} [{d.get('uses')}]{action}"
    if k == "step_output":
        return f"  {e.key} │ {d['line']}"
    if k == "step_retry":
        return (f"↻ {e.key} attempt {d['attempt']} failed ({d['message']}); again in "
                f"{format_duration(d['delay'])}")
    if k == "step_succeeded":
        return f"✔ {e.key} ({format_duration(d['duration'] or 0)})"
    if k == "step_failed":
        tolerated = " — continuing (continue_on_error)" if d.get("continue_on_error") else ""
        lines = [f"✘ {e.key} failed ({format_duration(d.get('duration') or 0)}): {d['message']}{tolerated}"]
        if d.get("stderr_tail") and stderr_tail:
            lines += [f"    {line}" for line in d["stderr_tail"].splitlines()]
        return "\n".join(lines)
    if k == "step_skipped":
        return f"↷ {e.key} skipped ({d['reason']})"
    if k == "step_kept":
        return f"= {e.key} kept ({d.get('reason', 'succeeded earlier')})"
    if k == "run_stopped":
        return f"■ stopped before {e.key}: {d['reason']} — re-run with --yes or from a terminal"
    if k == "rollback_begun":
        return f"↺ rolling back: undoing {_steps(d['steps'])} in reverse start order"
    if k == "rollback_started":
        return f"⟲ {e.key} rollback [{d['uses']}]  {d['action']}"
    if k == "rollback_succeeded":
        return f"✔ {e.key} rolled back"
    if k == "rollback_failed":
        return f"✘ {e.key} rollback FAILED: {d['message']}"
    if k == "rollback_abandoned":
        return f"✘ {e.key} rollback abandoned"
    if k == "run_finished":
        return conclusion(d)
    return None


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


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


def summary_table(summary: RunSummary) -> str:
    """Step, status, duration and rollback of every step, in start order then the rest."""
    rows = [("STEP", "STATUS", "DURATION", "ROLLBACK")]
    ordered = sorted(summary.results.values(), key=lambda r: (r.started is None, r.started or 0))
    for r in ordered:
        rows.append((r.key, f"{_MARK.get(r.status, '?')} {r.status}",
                     format_duration(r.duration) if r.duration is not None else "-", r.rollback or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
