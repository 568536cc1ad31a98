"""What a run's journal says, rebuilt as the engine's own values: step results and the summary.

The journal folds its records into a `RunState` (`runstate.RunState.fold`); this turns that state into what the
runner and the reporter take (resume, rollback, `show`)."""
from __future__ import annotations

import json

from .api import Outcome
from .journal import JournalView
from .results import PENDING, ROLLED_BACK, SUCCEEDED, RunSummary, StepResult
from .runstate import RunState


def summary_of(st: RunState) -> RunSummary:
    """The run's summary (for its step table) as the journal knows it."""
    results = {k: StepResult(k, status=s.status, started=s.started, ended=s.ended, attempts=s.attempts,
                             rollback=s.rollback) for k, s in st.steps.items()}
    return RunSummary(exit_code=st.last_finish.get("exit_code") or 0, reason=st.status(), results=results)


def results_from_journal(view: JournalView, *, as_recorded: bool = False) -> dict[str, StepResult]:
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
        outcome = Outcome(ok=s.status in (SUCCEEDED, ROLLED_BACK), message=s.message, rc=s.rc, stdout=stdout,
                          stderr=view.output(key, "stderr"), json=parsed, argv=s.argv, outputs=dict(s.outputs))
        status = s.status if as_recorded else (SUCCEEDED if s.status == SUCCEEDED else PENDING)
        out[key] = StepResult(key, status=status, outcome=outcome, args=s.args, started=s.started, ended=s.ended,
                              attempts=s.attempts if status != PENDING else 0,
                              rollback=s.rollback if as_recorded else None)
    return out
