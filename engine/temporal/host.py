"""What a worker does for one activity: rebuild the run's prepared plan and a Runner over the results the
workflow holds, then gate, run or undo one step through the runner's public API, which decides with the
shared engine/decisions.py (guards, confirmations, retries/until/timeouts, the rollback order), and send back
plain data the workflow keeps in its history.
"""
from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..api import Outcome, RunOptions
from ..decisions import FAIL, Gate, plan_shape
from ..errors import PlaybookError
from ..events import RunEvent, StepStatus
from ..inputs import read_vars_files
from ..prepare import Prepared, prepare
from ..results import StepResult
from ..runner import Runner


@dataclasses.dataclass
class RunRequest:
    """Everything a worker needs to rebuild a run: sent as the workflow's input (JSON)."""

    file: str  # absolute path: every worker must see the playbook (and its templates) at this path
    cli_vars: dict[str, Any]
    cli_raw: dict[str, str]
    vars_files: list[str]
    options: dict[str, Any]  # RunOptions fields
    max_parallel: int = 4
    no_rollback: bool = False
    run_dir: str | None = None  # where workers keep rendered files and plugin tracebacks

    @classmethod
    def from_data(cls, data: dict) -> "RunRequest":
        return cls(**data)


def result_data(result: StepResult) -> dict:
    """A step result as JSON-ready data."""
    data = dataclasses.asdict(result)
    data["status"] = StepStatus(result.status).value
    return data


_FIELDS = {f.name for f in dataclasses.fields(StepResult)}


def result_from(data: dict) -> StepResult:
    """A step result from its data (what the workflow adds for progress and the follower is left out)."""
    data = {k: v for k, v in data.items() if k in _FIELDS}
    outcome = data.pop("outcome", None)
    data["status"] = StepStatus(data["status"])
    result = StepResult(**data)
    result.outcome = Outcome(**outcome) if outcome is not None else None
    return result


class _Quiet:
    """The runner's events stay on the worker: the workflow's history is the run's record."""

    def emit(self, event: RunEvent) -> None:
        pass


class RunHost:
    """One run's prepared plan on this worker (built once per worker, reused by its activities)."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        options = RunOptions(**request.options)
        run_dir = Path(request.run_dir) if request.run_dir else Path(tempfile.mkdtemp(prefix="playbook-temporal-"))
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.run_dir = run_dir
        self.prepared: Prepared = prepare(request.file, cli_vars=request.cli_vars, cli_raw=request.cli_raw,
                                          file_vars=read_vars_files(tuple(request.vars_files)), options=options,
                                          out_dir=run_dir / "rendered")

    def plan(self) -> dict:
        """The plan's shape the workflow schedules by: each step's order, successors and continue_on_error."""
        return {"playbook": self.prepared.playbook.name, "nodes": plan_shape(self.prepared.plan)}

    def runner(self, results: dict[str, dict], started: list[str], cancel: threading.Event | None = None,
               answer: bool | None = None) -> Runner:
        """A Runner over the workflow's results; `answer` is a person's approval (True) or rejection (False)
        of the confirmation it asks, None when nobody has answered (--yes still answers yes)."""
        runner = Runner(self.prepared, sink=_Quiet(), run_dir=self.run_dir, max_parallel=self.request.max_parallel,
                        no_rollback=self.request.no_rollback,
                        confirm=None if answer is None else (lambda prompt: answer))
        for key, data in results.items():
            if key in runner.results:
                runner.results[key] = result_from(data)
        runner.started = [k for k in started if k in runner.results]
        if cancel is not None:
            runner.cancel = cancel
        return runner

    def gate(self, key: str, results: dict[str, dict], frames: dict[str, list[str]],
             answer: bool | None = None) -> dict:
        """('run' | 'skip' | 'stop' | 'fail', reason) for a ready step; group copies decide once (`frames`
        carries the decisions already made, by frame prefix). 'stop' means a confirmation awaits an answer."""
        runner = self.runner(results, [], answer=answer)
        node = self.prepared.plan.nodes[key]
        chain = [f.prefix for f in node.frame.chain() if f.group is not None]
        runner.frame_gates.update({p: Gate.from_data(frames[p]) for p in chain if p in frames})
        try:
            gate = runner.gate(node)
        except PlaybookError as err:
            gate = Gate(FAIL, str(err).replace("\n", "; "))
        decided = {p: runner.frame_gates[p].as_data() for p in chain if p in runner.frame_gates}
        return {"decision": gate.decision, "reason": runner.mask(gate.reason), "frames": decided}

    def execute(self, key: str, results: dict[str, dict], cancel: threading.Event) -> dict:
        """Run the step (its retries, `until` and timeout included) and return its result."""
        runner = self.runner(results, [], cancel)
        node = self.prepared.plan.nodes[key]
        runner.results[key].started = time.time()
        result = runner.run_step(node)
        data = result_data(result)
        # What progress prints, with secrets masked as a local run's events are; the result itself stays data.
        data["shown"] = runner.mask(result.outcome.message if result.outcome else "")
        return data

    def undo(self, key: str, results: dict[str, dict], started: list[str], cancel: threading.Event) -> dict:
        """The step's compensation through the runner's Rollback; {'rolled_back': bool, 'failed': bool, ...}."""
        runner = self.runner(results, started)
        rolled, failed = runner.rollback.run([key], cancel)
        result = runner.results[key]
        return {"rolled_back": bool(rolled), "failed": bool(failed), "message": runner.mask(result.rollback_message),
                "result": result_data(result)}
