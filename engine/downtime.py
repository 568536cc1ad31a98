"""The downtime verdict of a run on the emulator, kept in the run's journal as its last event.

The emulator's monitor watches every deployment for a moment with zero ready replicas; when the run ends its
verdict is appended to `events.jsonl` as a `downtime_verdict` event, so `playbook show` and `playbook report`
have it after the emulator (and its monitor) are gone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .events import Event
from .journal import JournalSink, RunsLock

VERDICT = "downtime_verdict"


def verdict_data(windows: dict[str, list[dict[str, Any]]], text: str) -> dict[str, Any]:
    """The event's fields: deployments watched, those with downtime and their windows, and the printed text."""
    down = {name: spans for name, spans in windows.items() if spans}
    return {"watched": len(windows), "with_downtime": sorted(down), "windows": down,
            "zero_downtime": not down, "text": text}


def record_verdict(runs_dir: Path, run_id: str, windows: dict[str, list[dict[str, Any]]], text: str) -> dict:
    """Append the verdict to the run's journal (under the runs directory's lock); returns the event's fields."""
    data = verdict_data(windows, text)
    with RunsLock(runs_dir) as lock:
        lock.acquire(run_id, "verdict")
        journal = JournalSink.reopen(Path(runs_dir) / run_id)
        try:
            journal.emit(Event(VERDICT, None, data))
        finally:
            journal.close()
    return data


def verdict_of(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last downtime verdict in a journal's records, or None (not a run on the emulator)."""
    for rec in reversed(records):
        if rec.get("event") == VERDICT:
            return rec
    return None
