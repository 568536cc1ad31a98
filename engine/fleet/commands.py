"""The fleet commands as the user drives them: plan, run, resume, rollback, status, show, list.

They read the fleet file into a plan, check every cluster's inputs against the playbook before anything
runs, hold the fleets directory's lock, create or reopen the fleet journal and hand over to `Orchestrator`.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from ..durations import format_duration
from ..errors import EXIT_OK, PlaybookError, Problem, UsageError
from ..journal import MASK, RunsLock, lock_holder
from .clusterrun import ClusterCommand, ClusterProcess
from .journal import FLEET_FILE, FleetJournal, FleetState, FleetView, read_fleet
from .model import Fleet, load_fleet
from .orchestrator import FleetSettings, Orchestrator
from .plan import FleetPlan, Wave, build_fleet_plan
from .progress import FleetNotifier, JsonPresenter, LivePresenter, TextPresenter, progress_block


def fleets_dir(option: str | None) -> Path:
    return Path(option or os.environ.get("PLAYBOOK_FLEETS_DIR") or ".playbook/fleets")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class FleetRequest:
    """What the command line asked for: the files, the inputs and how to run."""

    fleet_file: Path
    playbook: Path
    cli_vars: dict[str, Any] = field(default_factory=dict)
    cli_raw: dict[str, str] = field(default_factory=dict)
    kubeconfig: str | None = None
    yes: bool = False
    max_parallel: int | None = None
    no_rollback: bool = False
    on_halt_running: str | None = None
    output: str = "text"
    stream: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    confirm: Callable[[str], "bool | None"] | None = None

    def say(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()


# -- inputs and pre-flight ----------------------------------------------------------------------------------


def _secret_names(playbook: Path) -> set[str]:
    from ..model import load_playbook
    return {name for name, spec in load_playbook(playbook).inputs.items() if spec.secret}


def cluster_values(fleet: Fleet, name: str, cli_vars: dict[str, Any]) -> dict[str, Any]:
    """A cluster's inputs: the fleet's, then --var, then the cluster's own (most specific wins)."""
    return {**fleet.inputs, **cli_vars, **fleet.by_name[name].inputs}


def commands_for(plan: FleetPlan, journal_dir: Path, cli_vars: dict[str, Any], cli_raw: dict[str, str],
                 secret: set[str], kubeconfig: str | None, yes: bool, max_parallel: int | None) -> dict[str, ClusterCommand]:
    """Each cluster's command: its context and kubeconfig, non-secret inputs in a file, secrets as --var."""
    out = {}
    for name in plan.clusters:
        cluster = plan.fleet.by_name[name]
        values = cluster_values(plan.fleet, name, cli_vars)
        from_cli = {k for k in secret if k in cli_raw and k not in cluster.inputs}
        out[name] = ClusterCommand(
            name=name, context=cluster.context, kubeconfig=kubeconfig or cluster.kubeconfig,
            runs_dir=journal_dir / "clusters" / name, inputs={k: v for k, v in values.items() if k not in from_cli},
            secret_args=[f"{k}={cli_raw[k]}" for k in sorted(from_cli)], yes=yes, max_parallel=max_parallel)
    return out


def preflight(plan: FleetPlan, playbook: Path, cli_vars: dict[str, Any], kubeconfig: str | None) -> dict[str, Any]:
    """Prepare (dry run) the playbook for every cluster, so a bad input stops the fleet before it starts.

    Clusters with the same inputs share one preparation. Returns {cluster: Prepared}.
    """
    from ..api import RunOptions
    from ..prepare import prepare
    cache: dict[str, Any] = {}
    out = {}
    for name in plan.clusters:
        cluster = plan.fleet.by_name[name]
        values = cluster_values(plan.fleet, name, cli_vars)
        key = json.dumps(values, sort_keys=True, default=str)
        if key not in cache:
            options = RunOptions(dry_run=True, context=cluster.context, kubeconfig=kubeconfig or cluster.kubeconfig)
            try:
                cache[key] = prepare(playbook, cli_vars=values, options=options)
            except PlaybookError as err:
                raise type(err)(problems=[Problem(f"cluster {name}: {p.message}", p.file, p.line, p.step, p.hint)
                                          for p in err.problems]) from None
        out[name] = cache[key]
    return out


# -- plan ---------------------------------------------------------------------------------------------------


def plan_text(plan: FleetPlan, prepared: dict[str, Any], full: bool = False) -> str:
    """The waves, what runs between them, and each cluster's plan summary (or whole plan with `full`)."""
    from ..planview import dry_run_text
    fleet = plan.fleet
    total = len(plan.clusters)
    lines = [f"Fleet plan for {fleet.name} ({fleet.path}) — dry run, nothing is executed",
             f"{total} clusters in {len(plan.waves)} waves; halts when more than {fleet.budget.describe(total)}; "
             f"on halt running clusters {fleet.on_halt_running}, rollback {fleet.on_halt_rollback}"]
    for w in plan.waves:
        lines += ["", f"Wave {w.index + 1}: {w.name}{' (canary)' if w.canary else ''} — {len(w.clusters)} "
                      f"cluster{'s' if len(w.clusters) != 1 else ''}, up to {min(w.parallelism, len(w.clusters))} at once"
                      + (", asks before starting" if w.confirm else "")]
        for name in w.clusters:
            c = fleet.by_name[name]
            p = prepared[name]
            waves = p.plan.waves()
            labels = ",".join(f"{k}={v}" for k, v in c.labels.items())
            wait = f"; after {plan.after[name]}" if name in plan.after else ""
            lines.append(f"  ▶ {name} (context {c.context}{'; ' + labels if labels else ''}{wait}): "
                         f"{sum(len(x) for x in waves)} steps in {len(waves)} waves")
            own = ", ".join(f"{k}={MASK if k in p.inputs.secrets else json.dumps(v)}" for k, v in c.inputs.items())
            if own:
                lines.append(f"      own inputs: {own}")
            if full:
                lines += ["      " + line for line in dry_run_text(p, 4).splitlines()]
            else:
                tops = list(dict.fromkeys(n.key.split(".")[0].split("[")[0] for n in p.plan.ordered()))
                lines.append(f"      steps: {', '.join(tops)}")
        between = []
        if w.soak and w.index < len(plan.waves) - 1:
            between.append(f"soak {format_duration(w.soak)}")
        if w.gate:
            between.append("gate: " + ", ".join(str(s.get("name") or s.get("id")) for s in w.gate))
        if between:
            lines.append("  then " + "; ".join(between))
    return "\n".join(lines)


def plan_mermaid(plan: FleetPlan) -> str:
    """The fleet plan as a Mermaid flowchart: a subgraph per wave, soak and gate between, remotes after primaries."""
    out = ["flowchart TD"]
    ids = {name: f"c{i}" for i, name in enumerate(plan.clusters)}
    for w in plan.waves:
        out.append(f'  subgraph w{w.index}["wave {w.name}{" (canary)" if w.canary else ""}: '
                   f'{min(w.parallelism, len(w.clusters))} at once"]')
        for name in w.clusters:
            role = plan.fleet.by_name[name].role
            out.append(f'    {ids[name]}["{name}{" · " + role if role else ""}"]')
        out.append("  end")
    for w in plan.waves:
        last = w.index == len(plan.waves) - 1
        parts = ([f"soak {format_duration(w.soak)}"] if w.soak and not last else []) + \
                ([f"gate: {len(w.gate)} step{'s' if len(w.gate) != 1 else ''}"] if w.gate else [])
        nxt = "" if last else f" --> w{w.index + 1}"
        if parts:
            out.append(f'  g{w.index}{{{{"{" · ".join(parts)}"}}}}')
            out.append(f"  w{w.index} --> g{w.index}{nxt}")
        elif not last:
            out.append(f"  w{w.index}{nxt}")
    for remote, primary in plan.after.items():
        out.append(f"  {ids[primary]} -. new revision ready .-> {ids[remote]}")
    return "\n".join(out)


def load_plan(fleet_file: Path) -> FleetPlan:
    return build_fleet_plan(load_fleet(fleet_file))


# -- gates --------------------------------------------------------------------------------------------------


def gate_document(plan: FleetPlan, wave: Wave, upgraded: list[str]) -> dict[str, Any]:
    """A wave's gate as a playbook: its steps, with inputs fleet, wave, wave_clusters, upgraded and contexts."""
    contexts = {n: plan.fleet.by_name[n].context for n in plan.clusters}
    return {"version": 1, "name": f"{plan.fleet.name}-gate-{wave.name}",
            "description": f"The gate after wave {wave.name} of fleet {plan.fleet.name}.",
            "inputs": {"fleet": {"type": "string", "default": plan.fleet.name},
                       "wave": {"type": "string", "default": wave.name},
                       "wave_clusters": {"type": "array", "default": list(wave.clusters)},
                       "upgraded": {"type": "array", "default": upgraded},
                       "contexts": {"type": "object", "default": contexts}},
            "steps": wave.gate}


def _write_gate(plan: FleetPlan, wave: Wave, upgraded: list[str], gdir: Path) -> Path:
    import yaml
    gdir.mkdir(parents=True, exist_ok=True)
    path = gdir / "gate.yaml"
    path.write_text(yaml.safe_dump(gate_document(plan, wave, upgraded), sort_keys=False), encoding="utf-8")
    return path


def check_gates(plan: FleetPlan) -> None:
    """Validate every wave's gate as the playbook it becomes, before anything runs."""
    import tempfile
    from ..api import RunOptions
    from ..prepare import prepare
    with tempfile.TemporaryDirectory(prefix="playbook-fleet-gates-") as tmp:
        for w in plan.waves:
            if not w.gate:
                continue
            path = _write_gate(plan, w, [], Path(tmp) / w.name)
            try:
                prepare(path, options=RunOptions(dry_run=True), out_dir=Path(tmp) / w.name / "rendered")
            except PlaybookError as err:
                raise type(err)(problems=[Problem(f"wave {w.name} gate: {p.message}", str(plan.fleet.path),
                                                  None, p.step, p.hint) for p in err.problems]) from None


def gate_runner(plan: FleetPlan, journal: FleetJournal, kubeconfig: str | None, yes: bool,
                present: Callable[[dict], None]) -> Callable[[Wave, FleetState], tuple[bool, str]]:
    """Run a wave's gate steps as a playbook of their own (journaled under gates/WAVE); True when it passed."""

    def run_gate(wave: Wave, state: FleetState) -> tuple[bool, str]:
        gdir = journal.gate_dir(wave.name)
        path = _write_gate(plan, wave, list(state.completed), gdir)
        command = ClusterCommand(name=f"gate:{wave.name}", context=None, kubeconfig=kubeconfig, runs_dir=gdir,
                                 inputs={}, yes=yes)
        # A gate's approval asks on the fleet's terminal, if it has one (--yes answers it instead).
        proc = ClusterProcess(command, command.run_argv(path),
                              lambda r: present({**r, "gate": wave.name, "wave": wave.name}),
                              terminal=not yes and sys.stdin.isatty())
        rc = proc.run()
        return rc == EXIT_OK, ("passed" if rc == EXIT_OK else
                               f"exit {rc}" + (f": {proc.stderr_tail[-1]}" if proc.stderr_tail else ""))
    return run_gate


# -- run, resume, rollback ----------------------------------------------------------------------------------


def _presenter(req: FleetRequest, plan: FleetPlan, state: FleetState) -> Any:
    if req.output == "json":
        return JsonPresenter(req.stream)
    try:
        tty = req.stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return LivePresenter(req.stream, plan, state) if tty else TextPresenter(req.stream)


def _drive(req: FleetRequest, plan: FleetPlan, journal: FleetJournal, state: FleetState, fleet_id: str,
           meta: dict[str, Any], opening: dict[str, Any], rollback_only: bool = False) -> int:
    presenter = _presenter(req, plan, state)
    notify = (FleetNotifier(plan.fleet.notify_webhook, fleet_id, plan.fleet.name, req.say)
              if plan.fleet.notify_webhook else None)
    opts = meta["options"]
    commands = commands_for(plan, journal.dir, req.cli_vars, req.cli_raw, set(meta["secrets"]), opts["kubeconfig"],
                            req.yes, opts.get("max_parallel"))
    settings = FleetSettings(yes=req.yes, confirm=req.confirm, no_rollback=opts["no_rollback"],
                             on_halt_running=opts["on_halt_running"])
    orch = Orchestrator(plan, journal, state, commands, Path(meta["playbook"]["path"]), settings, presenter,
                        gates=gate_runner(plan, journal, opts["kubeconfig"], req.yes, presenter), notify=notify)
    restore = orch.install()
    try:
        orch.emit(**opening)
        code = orch.roll_back() if rollback_only else orch.run()
    finally:
        restore()
        presenter.close()
        journal.close()
    if req.output == "text":
        req.stream.write("\n" + status_table(plan, state) + "\n")
        req.stream.write(f"fleet run {fleet_id}: {journal.dir}{_hint(state, fleet_id)}\n")
        req.stream.flush()
    return code


def _hint(state: FleetState, fleet_id: str) -> str:
    status = state.status()
    if status in ("halted", "stopped", "interrupted"):
        return (f"\n  continue: playbook fleet resume {fleet_id}\n  undo:     playbook fleet rollback {fleet_id}")
    if status == "rollback_failed":
        return f"\n  after mending: playbook fleet rollback {fleet_id}"
    return ""


def new_fleet_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def run_fleet(req: FleetRequest, fleets: Path) -> int:
    """`playbook fleet run`: plan, check every cluster's inputs, journal, run the waves."""
    plan = load_plan(req.fleet_file)
    secret = _secret_names(req.playbook)
    preflight(plan, req.playbook, req.cli_vars, req.kubeconfig)
    check_gates(plan)
    fleet_id = new_fleet_id()
    with RunsLock(fleets) as lock:
        lock.acquire(fleet_id, "fleet run")
        meta = {"fleet_id": fleet_id, "created": time.time(), "cwd": os.getcwd(), "pid": os.getpid(),
                "fleet": {"name": plan.fleet.name, "path": str(plan.fleet.path), "sha256": _sha(plan.fleet.path)},
                "playbook": {"path": str(req.playbook.resolve()), "sha256": _sha(req.playbook)},
                "inputs": {k: (MASK if k in secret else v) for k, v in req.cli_vars.items()},
                "secrets": sorted(secret),
                "options": {"kubeconfig": req.kubeconfig, "max_parallel": req.max_parallel,
                            "no_rollback": req.no_rollback or plan.fleet.on_halt_rollback == "manual",
                            "on_halt_running": req.on_halt_running or plan.fleet.on_halt_running},
                "waves": [{"name": w.name, "clusters": list(w.clusters)} for w in plan.waves]}
        journal = FleetJournal.create(fleets / fleet_id, meta, plan.fleet.path.read_text(encoding="utf-8"))
        state = FleetState()
        return _drive(req, plan, journal, state, fleet_id, meta,
                      {"kind": "fleet_started", "fleet": plan.fleet.name, "playbook": str(req.playbook),
                       "clusters": len(plan.clusters), "waves": meta["waves"]})


def find_fleet(fleets: Path, ref: str) -> Path:
    """A fleet directory by id, unique id prefix, or `last`."""
    from ..runs import run_ids
    ids = run_ids(fleets)
    if ref in ("last", "latest") and ids:
        return fleets / ids[-1]
    matches = [i for i in ids if i == ref] or [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return fleets / matches[0]
    if matches:
        raise UsageError(f"fleet run '{ref}' is ambiguous: {', '.join(matches[:5])}", hint="give more of the id")
    raise UsageError(f"no fleet run '{ref}' in {fleets}", hint="`playbook fleet list` lists them (or --fleets-dir)")


def _reopen(fleets: Path, ref: str, command: str, lock: RunsLock, req: FleetRequest) -> tuple[FleetView, FleetPlan]:
    fdir = find_fleet(fleets, ref)
    lock.acquire(fdir.name, f"fleet {command}")
    view = read_fleet(fdir)
    path = Path(view.meta["fleet"]["path"])
    if not path.is_file() or _sha(path) != view.meta["fleet"]["sha256"]:
        raise UsageError(f"the fleet file {path} changed or is gone since fleet run {view.fleet_id}",
                         hint=f"put back the version that ran (copy: {fdir / FLEET_FILE})")
    plan = load_plan(path)
    others = sorted(set(req.cli_vars) - set(view.meta.get("secrets") or []))
    if others:
        raise UsageError(f"--var {others[0]}: fleet {command} keeps the inputs of fleet run {view.fleet_id}",
                         hint="only secret inputs (masked in the journal) are given again")
    saved = {k: v for k, v in view.meta.get("inputs", {}).items() if v != MASK or k not in req.cli_vars}
    missing = [k for k, v in saved.items() if v == MASK]
    if missing:
        raise UsageError(f"input {missing[0]} is secret and not in the journal", hint=f"give it: --var {missing[0]}=...")
    req.cli_vars = {**saved, **req.cli_vars}
    req.playbook = Path(view.meta["playbook"]["path"])
    return view, plan


def resume_fleet(req: FleetRequest, fleets: Path, ref: str) -> int:
    """`playbook fleet resume`: keep the clusters that succeeded, continue the ones cut short, run the rest."""
    with RunsLock(fleets) as lock:
        view, plan = _reopen(fleets, ref, "resume", lock, req)
        st = view.state
        if st.status() == "succeeded":
            raise UsageError(f"fleet run {view.fleet_id} succeeded; there is nothing to resume",
                             hint=f"`playbook fleet rollback {view.fleet_id}` undoes it")
        if st.rollback_begun:
            raise UsageError(f"fleet run {view.fleet_id} is {st.status()}: once its rollback began it can only be "
                             "rolled back", hint=f"`playbook fleet rollback {view.fleet_id}`")
        if req.on_halt_running:
            view.meta["options"]["on_halt_running"] = req.on_halt_running
        kept = sorted(n for n, c in st.clusters.items() if c.status == "succeeded")
        journal = FleetJournal(view.dir)
        return _drive(req, plan, journal, st, view.fleet_id, view.meta,
                      {"kind": "attempt_started", "command": "resume", "kept": kept})


def rollback_fleet(req: FleetRequest, fleets: Path, ref: str) -> int:
    """`playbook fleet rollback`: every cluster the fleet changed, newest completion first, from its journal."""
    with RunsLock(fleets) as lock:
        view, plan = _reopen(fleets, ref, "rollback", lock, req)
        todo = view.state.to_roll_back()
        if not todo:
            req.say(f"fleet run {view.fleet_id}: nothing left to roll back ({view.state.status()})")
            return EXIT_OK
        if not req.yes:
            if not sys.stdin.isatty():
                raise UsageError(f"rolling back fleet run {view.fleet_id} needs confirmation", hint="pass --yes")
            import click
            if not click.confirm(f"Roll back {len(todo)} clusters ({', '.join(todo)})?", default=False, err=True):
                req.say("not rolled back")
                return EXIT_OK
        journal = FleetJournal(view.dir)
        return _drive(req, plan, journal, view.state, view.fleet_id, view.meta,
                      {"kind": "attempt_started", "command": "rollback", "clusters": todo}, rollback_only=True)


# -- looking at fleets --------------------------------------------------------------------------------------


def status_table(plan: FleetPlan | None, state: FleetState, now: float | None = None) -> str:
    """WAVE CLUSTER STATUS TIME STEP RUN, one row per cluster in plan order."""
    now = now or time.time()
    rows = [("WAVE", "CLUSTER", "STATUS", "TIME", "STEP", "RUN")]
    names = plan.clusters if plan else list(state.clusters)
    for name in names:
        c = state.clusters[name]
        took = format_duration(((c.ended or now) - c.started)) if c.started else "-"
        status = c.status + (f" (fleet rollback {c.fleet_rollback})" if c.fleet_rollback not in (None, "succeeded")
                             else "")
        step = c.step if c.status not in ("succeeded", "pending") and c.step else (c.message or "-")
        rows.append((c.wave, name, status, took, step or "-", c.run_id or "-"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def status_text(fleets: Path, ref: str) -> str:
    """A fleet's status now: header, the clusters by wave with their current step, and the table."""
    fdir = find_fleet(fleets, ref)
    view = read_fleet(fdir)
    holder = lock_holder(fleets) or {}
    st = view.state
    live = holder.get("run_id") == view.fleet_id
    head = [f"fleet run {view.fleet_id}: {st.status(live=live)}",
            f"fleet: {view.meta['fleet']['name']} ({view.meta['fleet']['path']})",
            f"playbook: {view.meta['playbook']['path']}"]
    if st.halted:
        head.append(f"halted ({st.halted['reason']}): {st.halted['message']}")
    plan = _plan_of(view)
    return "\n".join(head + [""] + progress_block(plan, st) + ["", status_table(plan, st)]) if plan else \
        "\n".join(head + ["", status_table(None, st)])


def _plan_of(view: FleetView) -> FleetPlan | None:
    try:
        plan = load_plan(Path(view.meta["fleet"]["path"]))
    except PlaybookError:
        return None
    if [list(w.clusters) for w in plan.waves] != [w["clusters"] for w in view.meta["waves"]]:
        return None
    return plan


def show_text(fleets: Path, ref: str) -> str:
    """A fleet's header, timeline of its events (time since the start) and the cluster table."""
    from .progress import fleet_line
    fdir = find_fleet(fleets, ref)
    view = read_fleet(fdir)
    st = view.state
    lines = [f"fleet run {view.fleet_id}: {st.status(live=(lock_holder(fleets) or {}).get('run_id') == view.fleet_id)}",
             f"fleet: {view.meta['fleet']['name']} ({view.meta['fleet']['path']})",
             f"playbook: {view.meta['playbook']['path']}",
             "inputs: " + (", ".join(f"{k}={v}" for k, v in view.meta.get("inputs", {}).items()) or "-"),
             "attempts: " + ", ".join(a.get("command") or "?" for a in st.attempts), "", "timeline:"]
    t0 = st.created or 0.0
    for rec in view.records:
        line = fleet_line(rec)
        if line:
            lines.append(f"  +{format_duration(max(0.0, rec.get('time', t0) - t0)):>8}  {line.strip()}")
    lines += ["", status_table(_plan_of(view), st), "",
              f"cluster journals: {fdir.resolve() / 'clusters'}/NAME (playbook show --runs-dir ... RUN)"]
    return "\n".join(lines)


def list_text(fleets: Path) -> str:
    from ..runs import run_ids
    ids = run_ids(fleets)
    if not ids:
        return f"no fleet runs in {fleets}"
    holder = lock_holder(fleets) or {}
    rows = [("FLEET RUN", "STATUS", "FLEET", "CLUSTERS", "SUCCEEDED")]
    for fid in ids:
        try:
            view = read_fleet(fleets / fid)
        except PlaybookError:
            rows.append((fid, "damaged", "?", "?", "?"))
            continue
        st = view.state
        rows.append((fid, st.status(live=holder.get("run_id") == fid), view.meta["fleet"]["name"],
                     str(len(st.clusters)), str(sum(c.status == "succeeded" for c in st.clusters.values()))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)
