"""One cluster's part of a fleet change: the `playbook run/resume/rollback` command line it runs as, in its own
process, with its own runs directory inside the fleet journal.

Each cluster's run is an ordinary journaled run: `playbook resume|rollback --runs-dir <fleet>/clusters/NAME`
works on it as on any other. The child dies with the fleet process (PR_SET_PDEATHSIG on Linux), so a killed
fleet never leaves clusters changing unobserved; their journals then say "killed" and resume continues them.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .journal import cluster_journal_status

_PR_SET_PDEATHSIG = 1
# A child must answer within this after being told to stop (SIGINT: it stops steps and rolls its part back).
KILL_GRACE = 600.0
# How a step_output event's JSON line begins (the engine writes the event's kind first).
_OUTPUT = '{"event": "step_output"'


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


@dataclass
class ClusterCommand:
    """How to reach one cluster and what to give its run."""

    name: str
    context: str | None
    kubeconfig: str | None
    runs_dir: Path
    inputs: dict[str, Any]  # everything but secrets: written to the run's vars file
    secret_args: list[str] = field(default_factory=list)  # KEY=VALUE of secret inputs, on the command line only
    yes: bool = False
    max_parallel: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    def vars_file(self) -> Path:
        path = self.runs_dir / "fleet-inputs.yaml"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.inputs, sort_keys=True), encoding="utf-8")
        return path

    def _target(self) -> list[str]:
        argv = ["--context", self.context] if self.context else []
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        return argv

    def _secrets(self) -> list[str]:
        return [a for pair in self.secret_args for a in ("--var", pair)]

    def run_argv(self, playbook: Path) -> list[str]:
        argv = ["run", str(playbook), *self._target(), "--vars-file", str(self.vars_file()), *self._secrets()]
        if self.max_parallel:
            argv += ["--max-parallel", str(self.max_parallel)]
        return argv + ["--runs-dir", str(self.runs_dir), *(["--yes"] if self.yes else [])]

    def resume_argv(self, run_id: str) -> list[str]:
        argv = ["resume", run_id, *self._target(), *self._secrets()]
        if self.max_parallel:
            argv += ["--max-parallel", str(self.max_parallel)]
        return argv + ["--runs-dir", str(self.runs_dir), *(["--yes"] if self.yes else [])]

    def rollback_argv(self, run_id: str) -> list[str]:
        return ["rollback", run_id, *self._target(), *self._secrets(), "--runs-dir", str(self.runs_dir), "--yes"]


class ClusterProcess:
    """A `playbook ... --output json` child for one cluster; each event it prints goes to `on_event`."""

    def __init__(self, command: ClusterCommand, argv: list[str], on_event: Callable[[dict], None],
                 terminal: bool = False, output: bool = True) -> None:
        self.command = command
        self.terminal = terminal  # share this process's terminal (a gate's approval asks on it)
        self.output = output  # hand on the run's step_output events (a canary upgrade prints thousands of lines)
        self.argv = [sys.executable, "-m", "engine.cli", *argv, "--output", "json", "--quiet"]
        self.on_event = on_event
        self.proc: subprocess.Popen | None = None
        self.stderr_tail: list[str] = []
        self._stopped = threading.Event()

    def run(self) -> int:
        """Run to the end (in the calling thread, which must outlive the child: the death signal follows it)."""
        env = {**os.environ, **self.command.env, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.argv, stdin=None if self.terminal else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_die_with_parent)
        if self._stopped.is_set():
            self.proc.send_signal(signal.SIGINT)
        err = threading.Thread(target=self._read_err, daemon=True)
        err.start()
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not self.output and line.startswith(_OUTPUT):
                continue  # not decoded only to be dropped
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                self.on_event(record)
        rc = self.proc.wait()
        err.join(timeout=5)
        return rc

    def _read_err(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail = (self.stderr_tail + [line.rstrip()])[-20:]

    def stop(self) -> None:
        """Like Ctrl-C on the cluster's run: no new steps, running ones stopped, its part rolled back."""
        self._stopped.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)


def outcome(runs_dir: Path, rc: int) -> tuple[str, str | None, str | None]:
    """(fleet status, run id, failed step) of a cluster whose child ended with `rc`, read from its journal.

    succeeded | failed (its run failed and rolled its change back) | rollback_failed | rolled_back (stopped
    by the fleet, its change rolled back) | stopped (at a confirmation, nothing undone) | killed | invalid.
    """
    run_id, status, finish = cluster_journal_status(runs_dir)
    if run_id is None:
        return ("invalid" if rc == 2 else "killed"), None, None
    step = (finish.get("failed") or [None])[0] or finish.get("current_step")
    reason = finish.get("reason")
    if status == "succeeded":
        return "succeeded", run_id, None
    if status == "rollback_failed":
        return "rollback_failed", run_id, step
    if reason == "failed":
        return ("failed" if status == "rolled_back" else "stopped"), run_id, step
    if reason == "interrupted":
        return ("rolled_back" if status == "rolled_back" else "stopped"), run_id, step
    if status in ("stopped", "killed", "running"):
        return ("stopped" if status == "stopped" else "killed"), run_id, step
    return status or "killed", run_id, step
