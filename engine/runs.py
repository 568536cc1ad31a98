"""Runs as the user handles them: start a journaled run, list and show runs, resume one, roll one back.

The CLI calls these functions; they wire the journal (first sink, so nothing starts unrecorded), the
reporter and the notifier around a `Runner`, hold the runs directory's lock, and decide what Ctrl-C does.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from .durations import format_duration
from .errors import EXIT_OK, JournalError, PlaybookError, UsageError
from .events import Event, Fanout
from .journal import (MASK, PLAYBOOK, JournalSink, JournalView, RunsLock, RunState, lock_holder, mask_inputs,
                      plan_fingerprints, read_journal)
from .api import Outcome, RunOptions
from .results import PENDING, SUCCEEDED, RunSummary, StepResult

NOTIFY_VAR = "notify_webhook"


@dataclass
class Presentation:
    """How a command shows a run: text for people (live when a terminal), or JSON lines for machines."""

    output: str = "text"
    quiet: bool = False
    stream: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    live: bool | None = None  # None: live progress when `stream` is a terminal

    def say(self, text: str) -> None:
        """A note for the person at the terminal (stderr, so JSON on stdout stays clean)."""
        self.err.write(text + "\n")
        self.err.flush()

    def reporter(self, prepared: Any) -> Any:
        from .reporter import reporter_for
        return reporter_for(self, prepared)


# -- Ctrl-C -------------------------------------------------------------------------------------------------


class Interrupts:
    """First Ctrl-C or SIGTERM: no new steps, running ones terminated, then rollback (unless --no-rollback).

    A second one asks on a terminal whether to abandon the rollback (a third abandons without asking);
    without a terminal, or for SIGTERM, the second one abandons: the rest stays in the journal for
    `playbook rollback`.
    """

    def __init__(self, runner: Any, present: Presentation, run_id: str,
                 ask: Callable[[str], bool] | None = None) -> None:
        self.runner = runner
        self.present = present
        self.run_id = run_id
        self.ask = ask
        self.presses = 0
        self.asking = False

    def handle(self, signum: int, frame: Any = None) -> None:
        self.presses += 1
        name = signal.Signals(signum).name
        if self.presses == 1:
            then = ("leaving the journal for `playbook rollback " + self.run_id + "`" if self.runner.no_rollback
                    else "then rolling back")
            self.present.say(f"\n{name}: no new steps; stopping the running ones, {then}")
            self.runner.interrupt()
            return
        if self.runner.no_rollback:
            return
        if self.asking or self.ask is None or signum != signal.SIGINT:
            self._abandon(name)
            return
        self.asking = True
        threading.Thread(target=self._ask, name="abandon-rollback?", daemon=True).start()

    def _ask(self) -> None:
        try:
            if self.ask(f"Abandon the rollback? What is left stays for `playbook rollback {self.run_id}`"):
                self._abandon("confirmed")
            else:
                self.present.say("rollback continues")
        finally:
            self.asking = False

    def _abandon(self, why: str) -> None:
        self.present.say(f"\n{why}: abandoning the rest of the rollback; finish it later with "
                         f"`playbook rollback {self.run_id}`")
        self.runner.abandon.set()

    def install(self) -> Callable[[], None]:
        """Install the handlers (main thread only); returns a function that restores the previous ones."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return restore


def _terminal_ask(prompt: str) -> bool:
    import click
    return click.confirm(prompt, default=False, err=True)


# -- driving one attempt ------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """Settings of one run, resume or rollback."""

    max_parallel: int = 4
    no_rollback: bool = False
    confirm: Callable[[str], "bool | None"] | None = None


def _drive(prepared: Any, journal: JournalSink, run_id: str, attempt: Attempt, present: Presentation, *,
           prior: dict[str, StepResult] | None = None, started: list[str] | None = None,
           undo_only: bool = False, opening: Event | None = None) -> int:
    """Run (or only roll back) with the journal as first sink; returns the exit code."""
    from .notify import notifier_for
    from .reporter import summary_table
    from .runner import Runner
    reporter = present.reporter(prepared)
    notifier = notifier_for(_notify_url(prepared), run_id, prepared.playbook.name, present.say)
    sink = Fanout(journal, reporter, notifier)
    confirm, ask = attempt.confirm, _terminal_ask if sys.stdin.isatty() else None
    if confirm is not None:  # a prompt is rendered from inputs: never show a secret in it
        confirm = (lambda prompt, _c=confirm: _c(prepared.inputs.mask(prompt)))
    paused = getattr(reporter, "paused", None)
    if paused is not None:  # a live block must not be redrawn over a question
        confirm = confirm and (lambda prompt, _c=confirm: paused(lambda: _c(prompt)))
        ask = ask and (lambda prompt, _a=ask: paused(lambda: _a(prompt)))
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
        close = getattr(reporter, "close", None)
        if close is not None:
            close()
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


def _meta(prepared: Any, run_id: str, attempt: Attempt, extra: dict[str, Any]) -> dict[str, Any]:
    path = Path(prepared.playbook.path).resolve()
    text = path.read_text(encoding="utf-8")
    return {"run_id": run_id, "created": time.time(), "cwd": os.getcwd(), "pid": os.getpid(),
            "playbook": {"name": prepared.playbook.name, "path": str(path), "sha256": _sha(text)},
            "options": {"max_parallel": attempt.max_parallel, "no_rollback": attempt.no_rollback, **extra},
            "secrets": sorted(prepared.inputs.secrets), "plan": plan_fingerprints(prepared)}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def start_run(prepared: Any, runs_dir: Path, run_id: str, attempt: Attempt, present: Presentation,
              extra_meta: dict[str, Any] | None = None) -> int:
    """`playbook run`: lock the runs directory, create the journal, run."""
    run_dir = Path(runs_dir) / run_id
    with RunsLock(runs_dir) as lock:
        lock.acquire(run_id, "run")
        meta = _meta(prepared, run_id, attempt, extra_meta or {})
        journal = JournalSink.create(run_dir, meta=meta,
                                     playbook_text=Path(prepared.playbook.path).read_text(encoding="utf-8"),
                                     inputs=prepared.inputs.mask_data(mask_inputs(prepared.inputs.values,
                                                                                  prepared.inputs.secrets)))
        return _drive(prepared, journal, run_id, attempt, present)


# -- finding, listing, showing ------------------------------------------------------------------------------


def find_run(runs_dir: Path, ref: str) -> Path:
    """A run directory by id, unique id prefix, or `last`."""
    runs_dir = Path(runs_dir)
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
        return float(json.loads((run_dir / "meta.json").read_text(encoding="utf-8")).get("created") or 0.0)
    except (OSError, ValueError, TypeError):
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
        except JournalError:
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
             "inputs: " + (format_inputs(view.inputs, set(meta.get("secrets") or [])) or "-"),
             f"started: {_clock(st.created)}   attempts: "
             + ", ".join(a.get("command") or "?" for a in st.attempts), "", "timeline:"]
    t0 = st.created or 0.0
    for rec in view.records:
        line = event_line(_event(rec))
        if line is None:
            continue
        stamp = f"+{format_duration(max(0.0, (rec.get('time') or t0) - t0))}"
        first, *rest = line.splitlines()
        lines.append(f"  {stamp:>9}  {first}")
        lines.extend(f"  {'':>9}  {r}" for r in rest)
    lines += ["", summary_table(_summary_of(st)), "", f"step output: {run_dir.resolve() / 'output'}/"]
    return "\n".join(lines)


def _clock(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _event(rec: dict[str, Any]) -> Event:
    data = {k: v for k, v in rec.items() if k not in ("event", "step", "time")}
    return Event(rec.get("event", "?"), rec.get("step"), data, rec.get("time") or 0.0)


def _summary_of(st: RunState) -> RunSummary:
    results = {k: StepResult(k, status=s.status, started=s.started, ended=s.ended, attempts=s.attempts,
                             rollback=s.rollback) for k, s in st.steps.items()}
    return RunSummary(exit_code=st.last_finish.get("exit_code") or 0, reason=st.status(), results=results)


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


def _results_from(view: JournalView, *, as_recorded: bool = False) -> dict[str, StepResult]:
    """`steps.<id>` as the journal knows them (output is masked), for templates and natural rollbacks.

    Steps that did not succeed come back pending (resume runs them again) unless `as_recorded`.
    """
    out: dict[str, StepResult] = {}
    for key, s in view.state.steps.items():
        if s.started is None:
            continue
        stdout = view.output(key, "stdout")
        parsed = None
        if stdout.strip()[:1] in ("{", "["):
            try:
                parsed = json.loads(stdout)
            except ValueError:
                parsed = None
        outcome = Outcome(ok=s.status in ("succeeded", "rolled_back"), message=s.message, rc=s.rc, stdout=stdout,
                          stderr=view.output(key, "stderr"), json=parsed, argv=s.argv, outputs=dict(s.outputs))
        status = s.status if as_recorded else (SUCCEEDED if s.status == "succeeded" else PENDING)
        out[key] = StepResult(key, status=status, outcome=outcome, args=s.args, started=s.started, ended=s.ended,
                              attempts=s.attempts if status != PENDING else 0,
                              rollback=s.rollback if as_recorded else None)
    return out


def plan_changes(old: dict[str, dict], new: dict[str, dict], state: RunState) -> tuple[list[str], list[str]]:
    """(breaking, notes): what changed in the plan since the run, judged against the steps that ran."""
    breaking: list[str] = []
    notes: list[str] = []
    succeeded = {k for k, s in state.steps.items() if s.status == "succeeded"}
    for key in state.start_order:
        if key not in new:
            breaking.append(f"step '{key}' ran but is no longer in the playbook (so it could not be rolled back)")
            continue
        if key in succeeded and old.get(key, {}).get("fp") != new[key]["fp"]:
            breaking.append(f"step '{key}' succeeded, but its `uses`/`with` changed since")
        elif key not in succeeded and old.get(key, {}).get("fp") != new[key]["fp"]:
            notes.append(f"step '{key}' changed (it did not succeed, so it runs again as now written)")
        if old.get(key, {}).get("rollback_fp") != new[key]["rollback_fp"]:
            notes.append(f"step '{key}': its rollback changed; the new one is used")
    for key in sorted(succeeded & set(new)):
        late = [n for n in new[key]["needs"]
                if n not in succeeded and (n not in state.steps or state.steps[n].status != "skipped")]
        if late:
            breaking.append(f"step '{key}' already ran, but now needs '{late[0]}', which has not")
    for key in sorted(set(new) - set(old)):
        notes.append(f"step '{key}' is new")
    for key in sorted(set(old) - set(new) - set(state.start_order)):
        notes.append(f"step '{key}' (never started) was removed")
    return breaking, notes


def _reopen(runs_dir: Path, ref: str, command: str, lock: RunsLock, cli_vars: dict, cli_raw: dict) -> Reopened:
    run_dir = find_run(runs_dir, ref)
    lock.acquire(run_dir.name, command)
    view = read_journal(run_dir)
    values, raw = _inputs_for(view, cli_vars, cli_raw)
    return Reopened(run_dir.name, run_dir, view, values, raw)


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
        path = Path(r.view.meta["playbook"]["path"])
        if not path.is_file():
            raise UsageError(f"the playbook {path} of run {r.run_id} is gone",
                             hint=f"put it back (the journal keeps the copy it ran: {r.run_dir / PLAYBOOK})")
        prepared = _prepare(path, r.values, r.raw, _options(r.view, options), r.run_dir)
        new_plan = plan_fingerprints(prepared)
        text = path.read_text(encoding="utf-8")
        changed = _sha(text) != r.view.meta["playbook"].get("sha256")
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
            journal.update_meta(playbook={**r.view.meta["playbook"], "sha256": _sha(text)}, plan=new_plan)
        saved = r.view.meta.get("options", {})
        attempt.max_parallel = attempt.max_parallel or saved.get("max_parallel", 4)
        opening = Event("attempt_started", None, {"command": "resume", "changes": notes,
                                                  "kept": sorted(k for k, s in st.steps.items()
                                                                 if s.status == "succeeded")})
        return _drive(prepared, journal, r.run_id, attempt, present, prior=_results_from(r.view),
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
        path = Path(r.view.meta["playbook"]["path"])
        if not (path.is_file() and _sha(path.read_text(encoding="utf-8")) == r.view.meta["playbook"].get("sha256")):
            present.say(f"note: {path} changed or is gone; rolling back with the copy the run used")
            path = r.run_dir / PLAYBOOK
        prepared = _prepare(path, r.values, r.raw, _options(r.view, options), r.run_dir)
        missing = [k for k in st.to_undo() if k not in prepared.plan.nodes]
        if missing:
            raise JournalError(f"step '{missing[0]}' of run {r.run_id} is not in the plan any more "
                               "(did a for_each list change?)", hint="roll it back by hand")
        prior = _results_from(r.view, as_recorded=True)
        todo = [k for k in st.to_undo() if _has_rollback(prepared, k, prior.get(k))]
        if not todo and not unfinished:
            present.say(f"run {r.run_id}: nothing left to roll back ({st.status()}): the steps not undone have "
                        "no rollback action")
            return EXIT_OK
        if todo and not yes:
            if not sys.stdin.isatty():
                raise UsageError(f"rolling back run {r.run_id} needs confirmation", hint="pass --yes")
            if not _terminal_ask(f"Roll back {len(todo)} started steps of run {r.run_id} ({st.status()})?"):
                present.say("not rolled back")
                return EXIT_OK
        journal = JournalSink.reopen(r.run_dir)
        opening = Event("attempt_started", None, {"command": "rollback", "steps": todo})
        return _drive(prepared, journal, r.run_id, Attempt(), present, prior=prior, started=todo, undo_only=True,
                      opening=opening)


def _has_rollback(prepared: Any, key: str, result: StepResult | None) -> bool:
    from .invoke import Invoker
    from .rollback import Rollback
    invoker = Invoker(prepared.renderer, prepared.options, run_dir=None, mask=prepared.inputs.mask)
    results = {key: result} if result is not None else {}
    return Rollback(prepared, invoker, results, emit=lambda e: None, scope_for=lambda n: prepared.scope()).has_undo(key)
