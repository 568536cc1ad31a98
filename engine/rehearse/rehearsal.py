"""One rehearsal: copy the cluster into an emulator, check it, run the playbook on the copy (journaled like any
run, in the rehearsal's own directory), check the copy again, and gather everything into a :class:`Report`.

The live cluster is never contacted: the run's kubeconfig, KUBECONFIG and PATH (istioctl, helm) all point at
the emulator, ``--context``/``--kubeconfig`` are refused, and the snapshot is read from a file.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..emulator import Emulator
from ..emulator.cluster import ClusterFileError, load_with_dump
from ..emulator.faults import FaultError
from ..downtime import record_verdict
from ..errors import PlaybookError, UsageError
from ..journal import read_journal
from ..report.command import write_report
from .checks import (Intent, before_run, downtime, failed_steps, monitored_workload, old_proxies,
                     webhook_overlap)
from .findings import Finding, verdict
from .timing import Readiness, RolloutRecorder, estimate
from .view import ClusterView

NOT_LIVE = ("The live cluster was not contacted: the playbook ran against an emulated copy built from {source}, "
            "with KUBECONFIG, the run's kubeconfig and the istioctl/helm on PATH all pointing at the emulator.")


@dataclass
class RehearsalOptions:
    """How to rehearse."""

    vars: dict[str, Any] = field(default_factory=dict)
    raw_vars: dict[str, str] = field(default_factory=dict)
    file_vars: dict[str, Any] = field(default_factory=dict)
    readiness_delay: float = 0.1
    max_parallel: int = 4
    stream: IO[str] | None = None  # where the run's progress goes (None: nowhere)
    quiet: bool = True


@dataclass
class Report:
    """Everything a rehearsal found, in the form the report writers print."""

    playbook: str
    playbook_path: str
    source: str
    snapshot: dict
    inputs: dict
    verdict: str
    findings: list[Finding]
    steps: list[dict]
    run: dict
    downtime: dict[str, float]
    estimate: dict
    copy: dict
    plan: dict
    not_live: str
    started: float

    def as_dict(self) -> dict:
        return {"format": 1, "playbook": self.playbook, "playbook_path": self.playbook_path, "source": self.source,
                "snapshot": self.snapshot, "inputs": self.inputs, "verdict": self.verdict,
                "findings": [f.as_dict() for f in self.findings], "run": self.run, "steps": self.steps,
                "downtime_seconds": self.downtime, "estimate": self.estimate, "copy": self.copy,
                "plan": self.plan, "live_cluster_contacted": False, "note": self.not_live,
                "started": self.started}

    def comparable(self) -> dict:
        """What two rehearsals of the same change on the same cluster agree on (no times, ids or paths)."""
        return {"verdict": self.verdict,
                "findings": sorted((f.code, f.objects) for f in self.findings),
                "steps": sorted((s["key"], s["status"]) for s in self.steps), "exit_code": self.run["exit_code"],
                "downtime": sorted(k for k, v in self.downtime.items() if v)}


def rehearse(playbook: str | Path, source: str | Path | dict, out_dir: Path,
             options: RehearsalOptions | None = None) -> Report:
    """Rehearse ``playbook`` on a copy of ``source`` (a snapshot, a kubectl dump, or a cluster file)."""
    from ..api import RunOptions
    from ..prepare import prepare
    from ..runs import Attempt, Presentation, start_run
    options = options or RehearsalOptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        spec, dumped = load_with_dump(source)
        emulator = Emulator(spec, readiness_delay=options.readiness_delay).start()  # in a temporary directory
    except (ClusterFileError, FaultError) as exc:
        raise UsageError(f"--snapshot {source}: {exc}") from None
    recorder = RolloutRecorder()
    with emulator as emu:
        # The cluster as copied, pods with their real readiness times: the snapshot's objects when there is
        # one, else (a cluster file) the copy as it started.
        before = ClusterView(dumped.objects if dumped is not None else emu.state()["items"])
        emu.call(lambda rt: rt.api.store.subscribe(recorder))
        run_options = RunOptions(kubeconfig=str(emu.kubeconfig), env=emu.env(), interactive=False, assume_yes=True)
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-rehearsal"
        runs_dir = out_dir / "runs"
        prepared = prepare(playbook, cli_vars=options.vars, cli_raw=options.raw_vars, file_vars=options.file_vars,
                           options=run_options, out_dir=runs_dir / run_id / "rendered")
        intent = Intent.from_inputs(prepared.inputs.values)
        findings = before_run(before, intent)
        stream = options.stream or io.StringIO()
        present = Presentation(output="text", quiet=options.quiet, stream=stream, err=stream, live=False)
        started = time.time()
        code = start_run(prepared, runs_dir, run_id, Attempt(max_parallel=options.max_parallel,
                                                             confirm=lambda prompt: True),
                         present, extra_meta={"emulate": True, "rehearsal": True, "source": str(source)})
        ended = time.time()
        outages = emu.downtime_report()
        record_verdict(runs_dir, run_id, outages, emu.format_downtime_report())
        after = ClusterView(emu.state()["items"])
    view = read_journal(runs_dir / run_id)
    try:  # the run's own report (`playbook report`), beside its journal
        run_report = str(write_report(runs_dir / run_id))
    except (OSError, PlaybookError) as err:
        run_report = f"not written: {err}"
    steps = _steps(view, started, [n.key for n in prepared.plan.ordered()])
    run_dir = str((runs_dir / run_id).resolve())
    findings += failed_steps(steps, run_dir)
    findings += old_proxies(before, after, intent, recorder.restarted, succeeded=code == 0)
    findings += [f for f in webhook_overlap(after, seen_in="rehearsal")
                 if (f.code, f.objects) not in {(g.code, g.objects) for g in findings}]
    findings += downtime(outages)
    est = estimate(ended - started, recorder.rollouts, Readiness.from_view(before), ended)
    values = prepared.inputs.values
    return Report(
        playbook=prepared.playbook.name, playbook_path=str(Path(playbook).resolve()), source=str(source),
        snapshot=dict(spec.snapshot),
        inputs={k: ("***" if k in prepared.inputs.secrets else v) for k, v in values.items()},
        verdict=verdict(findings), findings=findings, steps=steps,
        run={"run_id": run_id, "run_dir": run_dir, "report": run_report, "exit_code": code,
             "status": view.state.status(),
             "failed_step": view.state.failed_step(), "seconds": round(ended - started, 2),
             "confirmations": "answered yes (rehearsal)", "readiness_delay": options.readiness_delay},
        downtime={str(monitored_workload(k)): round(sum((o["end"] or ended) - o["start"] for o in v), 3)
                  for k, v in outages.items()},
        estimate=est.as_dict(),
        copy={"objects": len(spec.objects) - len(spec.refused), "nodes": len(spec.nodes),
              "left_out": dict(spec.skipped), "refused": list(spec.refused)},
        plan=_plan(prepared), not_live=NOT_LIVE.format(source=source), started=started)


def _steps(view: Any, t0: float, plan_keys: list[str]) -> list[dict]:
    """Each leaf step as the journal has it, in the order they started (then those never run, in plan order)."""
    names: dict[str, str] = {}
    for rec in view.records:
        if rec.get("event") == "step_started" and rec.get("step"):
            names[rec["step"]] = rec.get("name") or ""
    out = []
    for key, s in view.state.steps.items():
        out.append({"key": key, "name": names.get(key, ""), "uses": s.uses, "status": s.status,
                    "start": round(s.started - t0, 3) if s.started else None,
                    "seconds": round(s.duration, 3) if s.duration is not None else None,
                    "message": s.message, "rolled_back": s.rollback == "succeeded"})
    for key in plan_keys:
        if key not in view.state.steps:
            out.append({"key": key, "name": "", "uses": None, "status": "not_run", "start": None, "seconds": None,
                        "message": "", "rolled_back": False})
    order = {k: i for i, k in enumerate(view.state.start_order)}
    planned = {k: i for i, k in enumerate(plan_keys)}
    return sorted(out, key=lambda s: (order.get(s["key"], len(order)), planned.get(s["key"], 0)))


def _plan(prepared: Any) -> dict:
    """The plan's graph: waves of keys and the edges between leaves (for the HTML page)."""
    return {"waves": [[n.key for n in wave] for wave in prepared.plan.waves()],
            "edges": [list(e) for e in prepared.plan.graph.edges()]}


def default_out_dir() -> Path:
    """Where a rehearsal writes when not told: ``.playbook/rehearsals/<time>``."""
    return Path(".playbook") / "rehearsals" / time.strftime("%Y%m%d-%H%M%S")
