"""A run's journal folded into what its report shows: steps with times and outcomes, the plan's edges and
layers, inputs (secrets masked), approvals, gates with the values they measured, rollbacks, downtime verdict."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..downtime import verdict_of
from ..journal import MASK, read_journal
from ..reporter import conclusion

GATE_PLUGINS = ("assert", "prometheus", "http")
APPROVAL_PLUGINS = ("approve", "pause")
_GROUP = re.compile(r"[^.\[\]]+(?:\[[^\]]*\])?")


@dataclass
class StepRow:
    """One leaf step of the plan, as the run left it."""

    key: str
    status: str = "not_run"
    uses: str | None = None
    name: str | None = None
    action: str = ""
    started: float | None = None
    ended: float | None = None
    skipped_at: float | None = None
    attempts: int = 0
    rc: int | None = None
    message: str = ""
    needs: list[str] = field(default_factory=list)
    layer: int = 0
    rollback: str | None = None  # None | running | succeeded | failed | abandoned
    rollback_started: float | None = None
    rollback_ended: float | None = None
    rollback_message: str = ""
    args: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        """The group copies around the step, outermost first: `migrate[test]`, `ns[test-namespace]`."""
        return split_key(self.key)[:-1]

    @property
    def leaf(self) -> str:
        return split_key(self.key)[-1]

    @property
    def duration(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


@dataclass
class Gate:
    """A check the run made (assert, prometheus, http) and what it measured."""

    key: str
    uses: str
    status: str
    check: str
    measured: str


@dataclass
class Approval:
    """A human decision: an approve/pause step, or a confirmation declined or left unanswered."""

    key: str
    prompt: str
    answer: str
    time: float | None


@dataclass
class RunReport:
    """Everything the report shows about one run."""

    run_id: str
    run_dir: Path
    playbook: str
    playbook_path: str
    status: str
    exit_code: int | None
    conclusion: str
    created: float | None
    ended: float | None
    attempts: list[str]
    inputs: dict[str, Any]
    secrets: list[str]
    options: dict[str, Any]
    steps: list[StepRow]
    gates: list[Gate]
    approvals: list[Approval]
    verdict: dict[str, Any] | None

    @property
    def rollbacks(self) -> list[StepRow]:
        """Steps whose compensation ran, in the order it started."""
        ran = [s for s in self.steps if s.rollback is not None]
        return sorted(ran, key=lambda s: s.rollback_started or 0.0)

    def step(self, key: str) -> StepRow:
        return next(s for s in self.steps if s.key == key)


def split_key(key: str) -> list[str]:
    """`migrate[test].ns[a.b].relabel` -> [`migrate[test]`, `ns[a.b]`, `relabel`] (dots inside [] kept)."""
    return _GROUP.findall(key) or [key]


def clock(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _layers(steps: dict[str, StepRow]) -> None:
    """Each step's layer: the longest chain of needs before it (the plan's waves)."""
    done: dict[str, int] = {}

    def layer(key: str, seen: tuple[str, ...] = ()) -> int:
        if key in done:
            return done[key]
        if key in seen:  # a journal cannot hold a cycle; be safe rather than recurse forever
            return 0
        needs = [n for n in steps[key].needs if n in steps]
        done[key] = 1 + max((layer(n, seen + (key,)) for n in needs), default=-1)
        return done[key]
    for key, step in steps.items():
        step.layer = layer(key)


def _gate(step: StepRow) -> Gate | None:
    if step.uses not in GATE_PLUGINS or step.status in ("not_run", "skipped", "running"):
        return None
    args = step.args if isinstance(step.args, dict) else {}
    out = step.outputs or {}
    if step.uses == "assert":
        that = args.get("that")
        check = " and ".join(map(str, that)) if isinstance(that, list) else str(that or step.action)
        measured = "true" if step.status in ("succeeded", "rolled_back") else (step.message or "false")
    elif step.uses == "prometheus":
        bounds = " ".join(f"{k} {args[k]}" for k in ("min", "max") if args.get(k) is not None)
        check = f"{args.get('query', step.action)}" + (f" ({bounds})" if bounds else "")
        series = out.get("series") or []
        measured = ", ".join(f"{_labels(s.get('labels'))}{s.get('value')}" for s in series[:6]) or step.message
    else:
        check = f"{args.get('method', 'GET')} {args.get('url', step.action)}"
        measured = f"status {out['status_code']}" if out.get("status_code") is not None else step.message
    return Gate(step.key, step.uses or "", step.status, check, measured)


def _labels(labels: Any) -> str:
    if not isinstance(labels, dict) or not labels:
        return ""
    return "{" + ",".join(f"{k}={v}" for k, v in labels.items()) + "} = "


def build_report(run_dir: Path) -> RunReport:
    """Read a run directory (journal, meta, inputs) into its report."""
    view = read_journal(Path(run_dir))
    st = view.state
    meta = view.meta
    plan = meta.get("plan") or {}
    steps: dict[str, StepRow] = {k: StepRow(k, needs=list(v.get("needs") or [])) for k, v in plan.items()}
    approvals: list[Approval] = []
    for rec in view.records:
        kind, key, t = rec.get("event"), rec.get("step"), rec.get("time")
        if key is None:
            continue
        step = steps.setdefault(key, StepRow(key))
        if kind == "step_started":
            step.name, step.skipped_at = rec.get("name"), None
        elif kind == "step_skipped":
            step.skipped_at = t
            reason = rec.get("reason", "")
            if reason.startswith("declined: "):
                approvals.append(Approval(key, reason.removeprefix("declined: "), "declined", t))
        elif kind == "run_stopped":
            approvals.append(Approval(key, str(rec.get("reason", "")).removeprefix("needs confirmation: "),
                                      "nobody to ask (no terminal, no --yes): run stopped", t))
        elif kind == "rollback_started":
            step.rollback_started = t
        elif kind in ("rollback_succeeded", "rollback_failed", "rollback_abandoned"):
            step.rollback_ended = t
            step.rollback_message = rec.get("message", "")
    for key, s in st.steps.items():
        step = steps.setdefault(key, StepRow(key))
        step.status, step.uses, step.action = s.status, s.uses, s.action
        step.started, step.ended, step.attempts, step.rc = s.started, s.ended, s.attempts, s.rc
        step.message, step.rollback, step.args, step.outputs = s.message, s.rollback, s.args, s.outputs
        if s.status == "skipped":
            step.started = step.ended = None
        if step.uses in APPROVAL_PLUGINS and s.status not in ("running", "skipped"):
            answer = "approved" if (s.outputs or {}).get("approved") else "not approved"
            approvals.append(Approval(key, s.message, answer, s.ended))
    _layers(steps)
    rows = list(steps.values())
    secrets = sorted(meta.get("secrets") or [])
    inputs = {k: (MASK if k in secrets else v) for k, v in view.inputs.items()}
    fin = st.last_finish
    return RunReport(
        run_id=view.run_id, run_dir=Path(run_dir), playbook=meta.get("playbook", {}).get("name", ""),
        playbook_path=meta.get("playbook", {}).get("path", ""), status=st.status(),
        exit_code=fin.get("exit_code"), conclusion=conclusion(fin) if fin else "the run did not finish",
        created=st.created, ended=st.updated, attempts=[a.get("command") or "?" for a in st.attempts],
        inputs=inputs, secrets=secrets, options=meta.get("options") or {}, steps=rows,
        gates=[g for g in (_gate(s) for s in rows) if g is not None],
        approvals=sorted(approvals, key=lambda a: a.time or 0.0), verdict=verdict_of(view.records))
