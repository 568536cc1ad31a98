"""Turning run events into text for people (the only place a run prints)."""
from __future__ import annotations

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
        d = e.data
        k = e.kind
        if k == "run_started":
            self._print(f"playbook {d['playbook']}: {d['steps']} steps, up to {d['max_parallel']} at once")
        elif k == "step_started":
            action = f"  {d['action']}" if d.get("action") else ""
            self._print(f"▶ {e.key} [{d.get('uses')}]{action}")
        elif k == "step_output" and self.show_output:
            self._print(f"  {e.key} │ {d['line']}")
        elif k == "step_retry":
            self._print(f"↻ {e.key} attempt {d['attempt']} failed ({d['message']}); again in "
                        f"{format_duration(d['delay'])}")
        elif k == "step_succeeded":
            self._print(f"✔ {e.key} ({format_duration(d['duration'] or 0)})")
        elif k == "step_failed":
            tolerated = " — continuing (continue_on_error)" if d.get("continue_on_error") else ""
            self._print(f"✘ {e.key} failed ({format_duration(d.get('duration') or 0)}): {d['message']}{tolerated}")
            if d.get("stderr_tail") and not self.show_output:
                for line in d["stderr_tail"].splitlines():
                    self._print(f"    {line}")
        elif k == "step_skipped":
            self._print(f"↷ {e.key} skipped ({d['reason']})")
        elif k == "run_stopped":
            self._print(f"■ stopped before {e.key}: {d['reason']} — re-run with --yes or from a terminal")
        elif k == "rollback_begun":
            self._print(f"↺ rolling back: undoing the {d['steps']} started steps in reverse order")
        elif k == "rollback_started":
            self._print(f"⟲ {e.key} rollback [{d['uses']}]  {d['action']}")
        elif k == "rollback_succeeded":
            self._print(f"✔ {e.key} rolled back")
        elif k == "rollback_failed":
            self._print(f"✘ {e.key} rollback FAILED: {d['message']}")
        elif k == "rollback_abandoned":
            self._print(f"✘ {e.key} rollback abandoned")
        elif k == "run_finished":
            self._print(conclusion(d))


def conclusion(d: dict) -> str:
    """The last line of a run: what happened and what the exit code means."""
    code, reason = d["exit_code"], d["reason"]
    failed = ", ".join(d.get("failed") or []) or "-"
    if reason == "succeeded":
        return "run succeeded (exit 0)"
    if reason == "stopped":
        return f"run stopped for confirmation; nothing was rolled back (exit {code})"
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
