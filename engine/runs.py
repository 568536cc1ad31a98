"""`playbook resume` and `playbook rollback`: reopen a run's journal under the lock and drive another attempt.

The other commands' pieces have their own modules, re-exported here for the CLI: starting a run
(`wiring`), finding, listing and showing runs (`history`), how a run is shown (`presentation`) and what
Ctrl-C does (`interrupts`); rebuilding results from a journal is `replay`, comparing plans `plandiff`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api import RunOptions
from .errors import EXIT_OK, JournalError, PlaybookError, UsageError
from .events import AttemptStarted
from .history import RunRow, find_run, format_runs, list_runs, run_ids, show_run
from .interrupts import Interrupts, terminal_ask
from .journal import INPUTS, MASK, PLAYBOOK, JournalSink, JournalView, RunsLock, plan_fingerprints, read_journal
from .plandiff import plan_changes
from .presentation import Presentation
from .replay import results_from_journal
from .results import SUCCEEDED, StepResult
from .wiring import Attempt, drive, sha256_text, start_run

__all__ = ["Attempt", "Interrupts", "Presentation", "RunRow", "find_run", "format_runs", "list_runs", "resume_run",
           "rollback_run", "run_ids", "show_run", "start_run", "plan_changes"]


# -- resume and rollback ----------------------------------------------------------------------------------


@dataclass
class Reopened:
    """What resume and rollback share: the locked run, its journal read back, inputs for preparing."""

    run_id: str
    run_dir: Path
    view: JournalView
    values: dict[str, Any]
    raw: dict[str, str]


def _inputs_for(view: JournalView, cli_vars: dict[str, Any], cli_raw: dict[str, str]) -> tuple[dict, dict]:
    """The run's inputs, with secrets (masked in the journal) given again with --var."""
    if view.inputs is None:
        raise JournalError(f"run {view.run_id} has no {INPUTS}: its inputs are unknown, so nothing of it can be "
                           "resumed or rolled back safely", hint=f"restore {view.run_dir / INPUTS}")
    secret_names = set(view.meta.get("secrets") or [])
    others = sorted(set(cli_vars) - secret_names)
    if others:
        raise UsageError(f"--var {others[0]}: resume and rollback keep the inputs of run {view.run_id}",
                         hint="only secret inputs, which the journal masks, are given again; start a new run "
                              "to change inputs")
    values = dict(view.inputs)
    missing = [n for n in sorted(secret_names) if values.get(n) == MASK and n not in cli_vars]
    if missing:
        raise UsageError(f"input '{missing[0]}' is secret and the journal keeps it masked",
                         hint=f"pass it again: --var {missing[0]}=VALUE")
    for name in secret_names & set(cli_vars):
        values[name] = cli_vars[name]
    return values, {k: v for k, v in cli_raw.items() if k in secret_names}


def _prepare(path: Path, values: dict[str, Any], raw: dict[str, str], options: RunOptions, run_dir: Path) -> Any:
    from .prepare import prepare
    return prepare(path, cli_vars=values, cli_raw=raw, options=options, out_dir=run_dir / "rendered")


def _reopen(runs_dir: Path, ref: str, command: str, lock: RunsLock, cli_vars: dict, cli_raw: dict) -> Reopened:
    run_dir = find_run(runs_dir, ref)
    lock.acquire(run_dir.name, command)
    view = read_journal(run_dir)
    if view.meta.get("engine") == "temporal":  # the follower's copy: the server holds the run (temporal/mirror.py)
        raise UsageError(f"run {view.run_id} is held by a Temporal server; this journal is its follower's copy",
                         hint=f"`playbook {command} {view.run_id} --engine temporal`" if command == "rollback"
                         else f"see it with `playbook show {view.run_id} --engine temporal`")
    values, raw = _inputs_for(view, cli_vars, cli_raw)
    return Reopened(run_dir.name, run_dir, view, values, raw)


def _recorded_path(view: JournalView) -> Path:
    """The playbook file the run used, as meta.json records it."""
    path = view.meta.get("playbook", {}).get("path")
    if not path:
        raise JournalError(f"{view.run_dir / 'meta.json'}: the playbook's path is not recorded; the journal is damaged")
    return Path(path)


def _options(view: JournalView, options: RunOptions) -> RunOptions:
    saved = view.meta.get("options", {})
    if saved.get("emulate"):
        raise UsageError(f"run {view.run_id} ran against the embedded emulator, whose cluster ended with it",
                         hint="start a new run with --emulate")
    options.context = options.context or saved.get("context")
    options.kubeconfig = options.kubeconfig or saved.get("kubeconfig")
    return options


def resume_run(runs_dir: Path, ref: str, *, cli_vars: dict[str, Any], cli_raw: dict[str, str],
               options: RunOptions, attempt: Attempt, present: Presentation) -> int:
    """`playbook resume`: keep what succeeded, run the rest of the plan as the playbook now says."""
    with RunsLock(runs_dir) as lock:
        r = _reopen(runs_dir, ref, "resume", lock, cli_vars, cli_raw)
        st = r.view.state
        status = st.status()
        if status == "succeeded":
            raise UsageError(f"run {r.run_id} succeeded; there is nothing to resume",
                             hint=f"`playbook rollback {r.run_id}` undoes it")
        if st.rollback_begun:
            raise UsageError(f"run {r.run_id} is {status}: once a rollback began, the run can only be rolled back",
                             hint=f"finish it with `playbook rollback {r.run_id}`, then start a new run")
        path = _recorded_path(r.view)
        if not path.is_file():
            raise UsageError(f"the playbook {path} of run {r.run_id} is gone",
                             hint=f"put it back (the journal keeps the copy it ran: {r.run_dir / PLAYBOOK})")
        prepared = _prepare(path, r.values, r.raw, _options(r.view, options), r.run_dir)
        new_plan = plan_fingerprints(prepared)
        text = path.read_text(encoding="utf-8")
        changed = sha256_text(text) != r.view.meta["playbook"].get("sha256")
        breaking, notes = plan_changes(r.view.meta.get("plan", {}), new_plan, st) if changed else ([], [])
        if breaking:
            raise PlaybookError(f"cannot resume run {r.run_id}: {path} changed in a way that breaks the plan",
                                hint=f"restore the version that ran ({r.run_dir / PLAYBOOK}) or start a new run",
                                problems=[_problem(b, str(path)) for b in breaking])
        for note in notes:
            present.say(f"note: {note}")
        journal = JournalSink.reopen(r.run_dir)
        if changed:
            journal.archive_playbook(text)
            journal.update_meta(playbook={**r.view.meta["playbook"], "sha256": sha256_text(text)}, plan=new_plan)
        saved = r.view.meta.get("options", {})
        attempt.max_parallel = attempt.max_parallel or saved.get("max_parallel", 4)
        opening = AttemptStarted(command="resume", changes=notes,
                                 kept=sorted(k for k, s in st.steps.items() if s.status == SUCCEEDED))
        return drive(prepared, journal, r.run_id, attempt, present, prior=results_from_journal(r.view),
                      started=st.to_undo(), opening=opening)


def _problem(message: str, file: str) -> Any:
    from .errors import Problem
    return Problem(message, file=file)


def rollback_run(runs_dir: Path, ref: str, *, cli_vars: dict[str, Any], cli_raw: dict[str, str],
                 options: RunOptions, yes: bool, present: Presentation) -> int:
    """`playbook rollback`: the compensations not yet done, newest start first, each once."""
    with RunsLock(runs_dir) as lock:
        r = _reopen(runs_dir, ref, "rollback", lock, cli_vars, cli_raw)
        st = r.view.state
        # A run killed after its last compensation still needs its rollback recorded as finished.
        unfinished = st.status() == "killed"
        if not st.to_undo() and not unfinished:
            present.say(f"run {r.run_id}: nothing left to roll back ({st.status()})")
            return EXIT_OK
        # The copy in the journal is what ran; the file itself is used while unchanged (its templates resolve).
        path = _recorded_path(r.view)
        if not (path.is_file() and sha256_text(path.read_text(encoding="utf-8")) == r.view.meta["playbook"].get("sha256")):
            present.say(f"note: {path} changed or is gone; rolling back with the copy the run used")
            path = r.run_dir / PLAYBOOK
        prepared = _prepare(path, r.values, r.raw, _options(r.view, options), r.run_dir)
        missing = [k for k in st.to_undo() if k not in prepared.plan.nodes]
        if missing:
            raise JournalError(f"step '{missing[0]}' of run {r.run_id} is not in the plan any more "
                               "(did a for_each list change?)", hint="roll it back by hand")
        prior = results_from_journal(r.view, as_recorded=True)
        todo = [k for k in st.to_undo() if _has_rollback(prepared, k, prior.get(k))]
        if not todo and not unfinished:
            present.say(f"run {r.run_id}: nothing left to roll back ({st.status()}): the steps not undone have "
                        "no rollback action")
            return EXIT_OK
        if todo and not yes:
            if not sys.stdin.isatty():
                raise UsageError(f"rolling back run {r.run_id} needs confirmation", hint="pass --yes")
            if not terminal_ask(f"Roll back {len(todo)} started steps of run {r.run_id} ({st.status()})?"):
                present.say("not rolled back")
                return EXIT_OK
        journal = JournalSink.reopen(r.run_dir)
        opening = AttemptStarted(command="rollback", steps=todo)
        return drive(prepared, journal, r.run_id, Attempt(), present, prior=prior, started=todo, undo_only=True,
                      opening=opening)


def _has_rollback(prepared: Any, key: str, result: StepResult | None) -> bool:
    from .invoke import Invoker
    from .rollback import Rollback
    invoker = Invoker(prepared.renderer, prepared.options, run_dir=None, mask=prepared.inputs.mask)
    results = {key: result} if result is not None else {}
    return Rollback(prepared, invoker, results, emit=lambda e: None, scope_for=lambda n: prepared.scope()).has_undo(key)
