"""The runs in a journal directory as people look them up: find one by id, prefix or `last`; list; show one."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .durations import format_duration
from .errors import JournalError, UsageError
from .journal import lock_holder, read_journal
from .events import from_record
from .replay import summary_of
from .terminal import neutralise


def runs_dir_of(option: str | None) -> Path:
    """The journal directory: --runs-dir, else $PLAYBOOK_RUNS_DIR, else .playbook/runs."""
    return Path(option or os.environ.get("PLAYBOOK_RUNS_DIR") or ".playbook/runs")


def find_run(runs_dir: Path, ref: str) -> Path:
    """A run directory by id, unique id prefix, or `last`."""
    runs_dir = Path(runs_dir)
    if not ref.strip():
        raise UsageError("an empty run reference names no run", hint="give a run id, a prefix of one, or `last`")
    ids = run_ids(runs_dir)
    if ref in ("last", "latest") and ids:
        return runs_dir / ids[-1]
    if ref in ids:
        return runs_dir / ref
    matches = [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return runs_dir / matches[0]
    if matches:
        raise UsageError(f"run id '{ref}' is ambiguous: {', '.join(matches[:5])}", hint="give more of the id")
    raise UsageError(f"no run '{ref}' in {runs_dir}", hint="`playbook runs` lists them (or pass --runs-dir)")


def run_ids(runs_dir: Path) -> list[str]:
    """Ids of the run directories, oldest first (ids only sort to the second, so by recorded start time)."""
    try:
        dirs = [p for p in Path(runs_dir).iterdir() if (p / "events.jsonl").is_file()]
    except OSError:
        return []
    return [p.name for p in sorted(dirs, key=lambda p: (_created(p), p.name))]


def _created(run_dir: Path) -> float:
    try:
        meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
        return float(meta.get("created") or 0.0) if isinstance(meta, dict) else 0.0
    except (OSError, ValueError, TypeError, RecursionError):
        return 0.0


@dataclass
class RunRow:
    run_id: str
    status: str
    started: float | None
    playbook: str
    failed_step: str | None
    current_step: str | None = None  # of a run still going


def list_runs(runs_dir: Path) -> list[RunRow]:
    """Every run in the directory with its status; a damaged journal is listed as such, not fatal."""
    holder = lock_holder(runs_dir) or {}
    rows = []
    for run_id in run_ids(runs_dir):
        try:
            view = read_journal(Path(runs_dir) / run_id)
        except (JournalError, OSError):  # one bad run directory never hides the others
            rows.append(RunRow(run_id, "damaged", None, "?", None))
            continue
        st = view.state
        status = st.status(live=holder.get("run_id") == run_id)
        at = st.failed_step()  # for a run still going: the step it is at, which has not failed
        rows.append(RunRow(run_id, status, st.created, view.meta.get("playbook", {}).get("name", "?"),
                           None if status == "running" else at, at if status == "running" else None))
    return rows


def format_runs(rows: list[RunRow], now: float | None = None) -> str:
    now = now or time.time()
    table = [("RUN", "STATUS", "AGE", "PLAYBOOK", "FAILED STEP")]
    for r in rows:
        age = format_duration(max(0.0, now - r.started)) if r.started else "-"
        status = f"{r.status} ({r.current_step})" if r.current_step else r.status
        table.append((r.run_id, status, age, r.playbook, r.failed_step or "-"))
    return _table(table)


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def show_run(run_dir: Path) -> str:
    """A run's header, its timeline (every event, time since the start) and its step table."""
    from .reporter import event_line, format_inputs, summary_table
    view = read_journal(run_dir)
    holder = lock_holder(run_dir.parent) or {}
    st = view.state
    meta = view.meta
    lines = [f"run {view.run_id}: {st.status(live=holder.get('run_id') == view.run_id)}",
             f"playbook: {meta.get('playbook', {}).get('name')} ({meta.get('playbook', {}).get('path')})",
             "inputs: " + ("(inputs.json is missing)" if view.inputs is None
                           else format_inputs(view.inputs, set(meta.get("secrets") or [])) or "-"),
             f"started: {_clock(st.created)}   attempts: "
             + ", ".join(a.get("command") or "?" for a in st.attempts), "", "timeline:"]
    t0 = st.created or 0.0
    for rec in view.records:
        event = from_record(rec)
        line = event_line(event) if event is not None else None
        if line is None:
            continue
        stamp = f"+{format_duration(max(0.0, (rec.get('time') or t0) - t0))}"
        first, *rest = line.splitlines()
        lines.append(f"  {stamp:>9}  {first}")
        lines.extend(f"  {'':>9}  {r}" for r in rest)
    lines += ["", summary_table(summary_of(st)), "", f"step output: {run_dir.resolve() / 'output'}/"]
    return neutralise("\n".join(lines))  # the journal keeps a step's bytes; a terminal must not obey them


def _clock(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"
