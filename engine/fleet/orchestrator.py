"""Driving a fleet change: waves in order, clusters in parallel inside a wave, the failure budget, soaks,
confirmations and gates between waves, and the halt that stops new clusters and rolls back what was done.

Every decision is written to the fleet journal before it takes effect, so `fleet resume` and `fleet
rollback` know after a crash what ran where; each cluster's run keeps its own journal (clusterrun.py).
"""
from __future__ import annotations

import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import EXIT_OK, EXIT_ROLLBACK_FAILED
from .clusterrun import ClusterCommand, ClusterProcess, outcome
from .journal import FleetJournal, FleetState
from .plan import FleetPlan, Wave
from .waves import ending, judge, pick, rollback_ending


@dataclass
class FleetSettings:
    """How this attempt runs: who answers confirmations, whether a halt rolls back, what a halt does."""

    yes: bool = False
    confirm: Callable[[str], "bool | None"] | None = None
    no_rollback: bool = False
    on_halt_running: str = "finish"
    gate_env: dict[str, str] = field(default_factory=dict)


class Orchestrator:
    """Runs (or resumes, or only rolls back) one fleet change; `emit` feeds the journal and the presenter."""

    def __init__(self, plan: FleetPlan, journal: FleetJournal, state: FleetState,
                 commands: dict[str, ClusterCommand], playbook: Path, settings: FleetSettings,
                 present: Callable[[dict], None], gates: "Callable[[Wave, FleetState], tuple[bool, str]] | None" = None,
                 notify: Callable[[dict], None] | None = None) -> None:
        self.plan = plan
        self.journal = journal
        self.state = state
        self.commands = commands
        self.playbook = playbook
        self.settings = settings
        self.present = present
        self.gates = gates
        self.notify = notify or (lambda record: None)
        # Whether the presenter shows the clusters' step output (JSON does; the text views show only gates').
        self._output = getattr(present, "shows_output", True)
        self._lock = threading.Lock()
        self._running: dict[str, ClusterProcess] = {}
        self._halt = threading.Event()
        self._abandon = threading.Event()
        self._sleep = threading.Event()
        self._asking = False  # a wave's confirmation is waiting for an answer on the terminal
        self.failures = 0
        self.interrupted = False

    # -- events --------------------------------------------------------------------------------------------
    def emit(self, kind: str, *, journal: bool = True, **data: Any) -> dict:
        with self._lock:
            record = (self.journal.emit(kind, **data) if journal
                      else {"event": kind, "time": round(time.time(), 3), **data})
            self.state.apply(record)
            self.present(record)
            self.notify(record)
            return record

    def _child_event(self, cluster: str, wave: str) -> Callable[[dict], None]:
        def forward(record: dict) -> None:
            if record.get("event") == "step_started":
                self.state.clusters[cluster].step = record.get("step")
            with self._lock:
                self.present({**record, "cluster": cluster, "wave": wave})
        return forward

    # -- interrupts ----------------------------------------------------------------------------------------
    def handle_signal(self, signum: int, frame: Any = None) -> None:
        """First Ctrl-C/SIGTERM halts the fleet (running clusters stopped); a second abandons the rollback."""
        if not self._halt.is_set():
            self.interrupted = True
            self.halt("interrupted", f"{signal.Signals(signum).name}", stop_running=True)
        else:
            self._abandon.set()
        self._sleep.set()
        if self._asking:  # the question would go on waiting for a line: end it (_confirmed takes this as no)
            raise KeyboardInterrupt

    def install(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.signal(s, self.handle_signal) for s in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return restore

    def halt(self, reason: str, message: str, *, stop_running: bool | None = None) -> None:
        if self._halt.is_set():
            return
        self._halt.set()
        stop = self.settings.on_halt_running == "stop" if stop_running is None else stop_running
        self.emit("fleet_halted", reason=reason, message=message, running=sorted(self._running),
                  running_action="stop" if stop else "finish")
        if stop:
            for proc in list(self._running.values()):
                proc.stop()

    # -- the run -------------------------------------------------------------------------------------------
    def run(self) -> int:
        """Waves in order (those already done are skipped); then, if halted, the rollback."""
        total = len(self.plan.clusters)
        allowed = self.plan.fleet.budget.allowed(total)
        stopped_at: str | None = None
        for i, wave in enumerate(self.plan.waves):
            if self._halt.is_set():
                break
            last = i == len(self.plan.waves) - 1
            if wave.name not in self.state.waves_done:
                if wave.confirm and not self._confirmed(wave):
                    stopped_at = wave.name
                    break
                self.emit("wave_started", wave=wave.name, clusters=list(wave.clusters), parallelism=wave.parallelism)
                self._run_wave(wave, allowed)
                if self._halt.is_set():
                    break
                self.emit("wave_finished", wave=wave.name)
            if wave.name in self.state.gates_passed:
                continue
            # No soak after the last wave; its gate still runs (a final check across the fleet).
            if not last and wave.soak > 0 and not self._soak(wave):
                break
            if wave.gate and self.gates is not None:
                self.emit("gate_started", wave=wave.name)
                ok, detail = self.gates(wave, self.state)
                self.emit("gate_finished", wave=wave.name, status="succeeded" if ok else "failed", message=detail)
                if not ok:
                    self.halt("gate_failed", f"the gate after wave {wave.name} failed: {detail}")
                    break
            else:
                self.emit("gate_finished", wave=wave.name, status="succeeded", message="no gate")
        return self._finish(stopped_at)

    def _confirmed(self, wave: Wave) -> bool:
        if self.settings.yes:
            return True
        self.emit("wave_confirm_asked", journal=False, wave=wave.name)
        answer: bool | str | None = None
        try:
            self._asking = True
            if self.settings.confirm:
                answer = self.settings.confirm(f"Start wave {wave.name} ({len(wave.clusters)} clusters)?")
        except KeyboardInterrupt:  # Ctrl-C or Ctrl-D (end of input) at the question: an interrupt like any other
            answer = "interrupted"
        finally:
            self._asking = False
        if answer == "interrupted" and not self._halt.is_set():  # end of input: no signal came to halt
            self.interrupted = True
            self.halt("interrupted", f"interrupted at the confirmation of wave {wave.name}", stop_running=True)
        self.emit("wave_confirm", wave=wave.name,
                  answer={True: "yes", False: "no", None: "no terminal"}.get(answer, "interrupted"))
        return answer is True

    def _soak(self, wave: Wave) -> bool:
        self.emit("soak_started", wave=wave.name, seconds=wave.soak)
        self._sleep.wait(wave.soak)
        return not self._halt.is_set()

    def _run_wave(self, wave: Wave, allowed: int) -> None:
        todo = [c for c in wave.clusters if self.state.clusters[c].status != "succeeded"]
        done: queue.Queue[tuple[str, int, ClusterProcess]] = queue.Queue()
        threads: dict[str, threading.Thread] = {}
        while todo or self._running:
            if not self._halt.is_set():
                statuses = {n: c.status for n, c in self.state.clusters.items()}
                picked = pick(todo, len(self._running), wave.parallelism, self.plan.after, statuses)
                for name, why in picked.blocked:
                    todo.remove(name)
                    self.emit("cluster_finished", cluster=name, wave=wave.name, status="blocked", message=why)
                for name in picked.start:
                    todo.remove(name)
                    threads[name] = self._start(name, wave, done)
            else:
                todo.clear()
            if not self._running:
                if todo:  # only remotes waiting for a primary that is not running: cannot happen, but never spin
                    for name in todo:
                        self.emit("cluster_finished", cluster=name, wave=wave.name, status="blocked",
                                  message="its primary never ran")
                    todo.clear()
                break
            name, rc, proc = done.get()
            threads.pop(name).join()
            del self._running[name]
            status, run_id, step = outcome(self.commands[name].runs_dir, rc)
            message = f"step {step}" if step and status != "succeeded" else ""
            if status in ("invalid", "killed") and proc.stderr_tail:
                message = proc.stderr_tail[-1]
            self.emit("cluster_finished", cluster=name, wave=wave.name, status=status, run_id=run_id,
                      exit_code=rc, message=message)
            self.failures, halt = judge(name, status, self.failures, allowed,
                                        self.plan.fleet.budget.describe(len(self.plan.clusters)))
            if halt is not None:
                self.halt(halt.reason, halt.message, stop_running=halt.stop_running)

    def _start(self, name: str, wave: Wave, done: "queue.Queue") -> threading.Thread:
        command = self.commands[name]
        c = self.state.clusters[name]
        # A cluster whose run was cut short (the fleet was killed) continues that run; any other starts afresh.
        resumable = c.run_id is not None and c.status in ("killed", "stopped")
        argv = command.resume_argv(c.run_id) if resumable else command.run_argv(self.playbook)
        proc = ClusterProcess(command, argv, self._child_event(name, wave.name), output=self._output)
        self._running[name] = proc
        self.emit("cluster_started", cluster=name, wave=wave.name, command="resume" if resumable else "run",
                  run_id=c.run_id if resumable else None)

        def body() -> None:
            rc = -1
            try:
                rc = proc.run()
            finally:
                done.put((name, rc, proc))
        thread = threading.Thread(target=body, name=f"fleet-{name}", daemon=True)
        thread.start()
        return thread

    # -- the end, and the rollback -------------------------------------------------------------------------
    def _finish(self, stopped_at: str | None) -> int:
        end = ending(self.state.halted if self._halt.is_set() else None, stopped_at, self.settings.no_rollback,
                     self.interrupted)
        return self.roll_back() if end.roll_back else self._end(end.status, end.exit_code, end.message)

    def roll_back(self) -> int:
        """Roll back every cluster the fleet changed, newest completion first, each from its own journal."""
        todo = self.state.to_roll_back()
        self.emit("fleet_rollback_begun", clusters=todo)
        failed = []
        for name in todo:
            if self._abandon.is_set():
                self.emit("fleet_rollback_abandoned", remaining=todo[todo.index(name):])
                return self._end("rollback_failed", EXIT_ROLLBACK_FAILED, "rollback abandoned")
            c = self.state.clusters[name]
            self.emit("cluster_rollback_started", cluster=name, wave=c.wave, run_id=c.run_id)
            proc = ClusterProcess(self.commands[name], self.commands[name].rollback_argv(c.run_id),
                                  self._child_event(name, c.wave), output=self._output)
            rc = proc.run() if c.run_id else 0
            status = "succeeded" if rc == EXIT_OK else "failed"
            if status == "failed":
                failed.append(name)
            self.emit("cluster_rollback_finished", cluster=name, wave=c.wave, status=status, exit_code=rc,
                      message=(proc.stderr_tail or [""])[-1] if status == "failed" else "")
        end = rollback_ending(failed, self.state.halted, self.interrupted)
        return self._end(end.status, end.exit_code, end.message)

    def _end(self, status: str, code: int, message: str = "") -> int:
        by = {s: sorted(n for n, c in self.state.clusters.items() if c.status == s)
              for s in {c.status for c in self.state.clusters.values()}}
        self.emit("fleet_finished", status=status, exit_code=code, message=message, clusters=by)
        return code

