"""Wiring one attempt (run, resume or rollback): the journal first among the sinks (nothing starts unrecorded),
then the reporter and the notifier, around a `Runner`, with the Ctrl-C handlers installed; and starting a run.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import PlaybookError, UsageError
from .events import Fanout, RunEvent
from .interrupts import Interrupts, terminal_ask
from .journal import JournalSink, RunsLock, mask_inputs, plan_fingerprints
from .presentation import Presentation
from .results import RunSummary, StepResult

NOTIFY_VAR = "notify_webhook"


@dataclass
class Attempt:
    """Settings of one run, resume or rollback."""

    max_parallel: int = 4
    no_rollback: bool = False
    confirm: Callable[[str], "bool | None"] | None = None


def drive(prepared: Any, journal: JournalSink, run_id: str, attempt: Attempt, present: Presentation, *,
           prior: dict[str, StepResult] | None = None, started: list[str] | None = None,
           undo_only: bool = False, opening: RunEvent | None = None) -> int:
    """Run (or only roll back) with the journal as first sink; returns the exit code."""
    from .notify import notifier_for
    from .reporter import summary_table
    from .runner import Runner
    reporter = present.reporter(prepared)
    notifier = notifier_for(_notify_url(prepared), run_id, prepared.playbook.name, present.say)
    sink = Fanout(journal, reporter, notifier)
    confirm, ask = attempt.confirm, terminal_ask if sys.stdin.isatty() else None
    if confirm is not None:  # a prompt is rendered from inputs: never show a secret in it
        confirm = (lambda prompt, _c=confirm: _c(prepared.inputs.mask(prompt)))
    # A live block must not be redrawn over a question.
    confirm = confirm and (lambda prompt, _c=confirm: reporter.paused(lambda: _c(prompt)))
    ask = ask and (lambda prompt, _a=ask: reporter.paused(lambda: _a(prompt)))
    runner = Runner(prepared, sink=sink, run_dir=journal.run_dir, max_parallel=attempt.max_parallel,
                    no_rollback=attempt.no_rollback, confirm=confirm, prior=prior, started=started)
    interrupts = Interrupts(runner, present, run_id, ask=ask)
    restore = interrupts.install()
    try:
        if opening is not None:
            runner.emit(opening)
            if runner.journal_error is not None:
                raise runner.journal_error
        summary = runner.roll_back_started() if undo_only else runner.run()
    finally:
        restore()
        journal.close()
        reporter.close()
    if present.output == "text":
        present.stream.write("\n" + summary_table(summary, brief=present.quiet) + "\n")
        present.stream.write(f"run {run_id}: {journal.run_dir}{_next_hint(summary, run_id, attempt.no_rollback)}\n")
        present.stream.flush()
    return summary.exit_code


def _notify_url(prepared: Any) -> Any:
    """The webhook URL: an input (or --var) named notify_webhook, else a var of that name, rendered."""
    if prepared.inputs.values.get(NOTIFY_VAR) not in (None, ""):
        return prepared.inputs.values[NOTIFY_VAR]
    if NOTIFY_VAR in prepared.playbook.vars:
        try:
            return prepared.scope()[NOTIFY_VAR]
        except PlaybookError as err:
            raise UsageError(f"var {NOTIFY_VAR}: {err}") from None
    return None


def _next_hint(summary: RunSummary, run_id: str, no_rollback: bool) -> str:
    """What the person can do next with this run, if anything."""
    if summary.rollback_failed:
        return f"\n  after mending: playbook rollback {run_id}"
    if summary.reason == "stopped":  # at a confirmation nobody could answer: resuming asks it again
        return (f"\n  continue: playbook resume {run_id} --yes   (or without --yes, from a terminal)"
                f"\n  undo:     playbook rollback {run_id}")
    if summary.reason in ("failed", "interrupted") and no_rollback:
        return f"\n  continue: playbook resume {run_id}\n  undo:     playbook rollback {run_id}"
    return ""


def run_meta(prepared: Any, run_id: str, attempt: Attempt, options: dict[str, Any] | None = None,
             **more: Any) -> dict[str, Any]:
    """A run's meta.json: its playbook and fingerprints, options (with `options` added), the names of its
    secrets; `more` adds top-level fields (a Temporal run's mirror says where the run is held)."""
    path = Path(prepared.playbook.path).resolve()
    text = path.read_text(encoding="utf-8")
    return {"run_id": run_id, "created": time.time(), "cwd": os.getcwd(), "pid": os.getpid(),
            "playbook": {"name": prepared.playbook.name, "path": str(path), "sha256": sha256_text(text)},
            "options": {"max_parallel": attempt.max_parallel, "no_rollback": attempt.no_rollback, **(options or {})},
            "secrets": sorted(prepared.inputs.secrets), "plan": plan_fingerprints(prepared), **more}


def create_journal(prepared: Any, run_dir: Path, meta: dict[str, Any]) -> JournalSink:
    """A new run's journal: its meta, the playbook's text and the inputs (secrets masked)."""
    return JournalSink.create(Path(run_dir), meta=meta,
                              playbook_text=Path(prepared.playbook.path).resolve().read_text(encoding="utf-8"),
                              inputs=prepared.inputs.mask_data(mask_inputs(prepared.inputs.values,
                                                                           prepared.inputs.secrets)))


def sha256_text(text: str) -> str:
    """The playbook text's fingerprint kept in meta.json (resume and rollback compare it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def start_run(prepared: Any, runs_dir: Path, run_id: str, attempt: Attempt, present: Presentation,
              extra_meta: dict[str, Any] | None = None) -> int:
    """`playbook run`: lock the runs directory, create the journal, run."""
    run_dir = Path(runs_dir) / run_id
    with RunsLock(runs_dir) as lock:
        lock.acquire(run_id, "run")
        journal = create_journal(prepared, run_dir, run_meta(prepared, run_id, attempt, extra_meta))
        return drive(prepared, journal, run_id, attempt, present)
