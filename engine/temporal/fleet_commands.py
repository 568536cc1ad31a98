"""`playbook fleet run/status/show/list --engine temporal`: the fleet checked and planned here as for a local
fleet (engine/fleet/commands.py), submitted as one `PlaybookFleet` workflow whose input carries each cluster's
run request; followed through its `progress` query (and each running cluster's), read back through `fleet`."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable

import click
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from ..api import RunOptions
from ..errors import EXIT_FAILED, PlaybookError, UsageError
from ..fleet.commands import (FleetRequest, _secret_names, _write_gate, check_gates, cluster_values, load_plan,
                              new_fleet_id, preflight, status_table)
from ..fleet.journal import FleetState
from ..fleet.plan import FleetPlan, Wave
from ..fleet.progress import JsonPresenter, TextPresenter, fleet_line, progress_block
from .client import POLL_EVERY, Connection
from .commands import EXIT_DETACHED, connection, finish
from .fleet_workflow import FLEET_WORKFLOW, cluster_id
from .host import RunRequest
from .views import ui_link

LIST_LIMIT = 50


def fleet_request(plan: FleetPlan, req: FleetRequest, fleet_id: str, gates_dir: Path) -> dict[str, Any]:
    """The parent workflow's input: the plan's waves and rules, and each cluster's (and gate's) run request."""
    fleet = plan.fleet
    kubeconfig = req.kubeconfig
    requests = {}
    for name in plan.clusters:
        cluster = fleet.by_name[name]
        options = RunOptions(context=cluster.context, kubeconfig=kubeconfig or cluster.kubeconfig,
                             assume_yes=req.yes)
        requests[name] = dataclasses.asdict(RunRequest(
            file=str(req.playbook.resolve()), cli_vars=cluster_values(fleet, name, req.cli_vars),
            cli_raw={k: v for k, v in req.cli_raw.items() if k not in cluster.inputs}, vars_files=[],
            options=dataclasses.asdict(options), max_parallel=req.max_parallel or 4))
    gates = {}
    for wave in plan.waves:
        if wave.gate:
            path = _write_gate(plan, wave, [], gates_dir / wave.name)
            gates[wave.name] = dataclasses.asdict(RunRequest(
                file=str(path.resolve()), cli_vars={}, cli_raw={}, vars_files=[],
                options=dataclasses.asdict(RunOptions(kubeconfig=kubeconfig, assume_yes=req.yes))))
    total = len(plan.clusters)
    return {"fleet_id": fleet_id, "fleet": fleet.name, "fleet_path": str(fleet.path),
            "playbook": str(req.playbook.resolve()),
            "waves": [dataclasses.asdict(w) for w in plan.waves], "after": dict(plan.after),
            "allowed": fleet.budget.allowed(total), "budget": fleet.budget.describe(total),
            "on_halt_running": req.on_halt_running or fleet.on_halt_running,
            "no_rollback": req.no_rollback or fleet.on_halt_rollback == "manual",
            "manual_rollback": fleet.on_halt_rollback == "manual" and not req.no_rollback,
            "yes": req.yes, "inputs": {k: v for k, v in req.cli_vars.items()
                                       if k not in _secret_names(req.playbook)},
            "requests": requests, "gates": gates}


def run_fleet_temporal(req: FleetRequest, fleets: Path, conn: Connection, task_queue: str, detach: bool) -> int:
    """`playbook fleet run --engine temporal`: check every cluster's inputs here, submit, follow unless detached."""
    plan = load_plan(req.fleet_file)
    prepared = preflight(plan, req.playbook, req.cli_vars, req.kubeconfig)
    if any(p.inputs.masker for p in prepared.values()) and not conn.key_file:
        raise UsageError("this fleet run has secret inputs: on Temporal they would be kept in clear in the "
                         "server's history", hint="give --temporal-key-file KEY (or PLAYBOOK_TEMPORAL_KEY_FILE), "
                                                  "the same file the workers use (docs/temporal.md)")
    check_gates(plan)
    fleet_id = "fleet-" + new_fleet_id()
    # Gate playbooks are written where the workers can read them (like the playbook itself, by absolute path).
    request = fleet_request(plan, req, fleet_id, (fleets / fleet_id / "gates").resolve())

    async def go() -> int:
        client = await conn.connect()
        await client.start_workflow(FLEET_WORKFLOW, request, id=fleet_id, task_queue=task_queue)
        req.say(f"fleet run {fleet_id} submitted to Temporal at {conn.address} (namespace {conn.namespace}, "
                f"task queue {task_queue}): {len(plan.clusters)} clusters in {len(plan.waves)} waves")
        link = ui_link(os.environ.get("TEMPORAL_UI"), conn.namespace, fleet_id)
        if link:
            req.say(f"web UI: {link}")
        if detach:
            click.echo(fleet_id)
            return 0
        return await follow_fleet(client, fleet_id, req)
    try:
        return asyncio.run(go())
    except KeyboardInterrupt:  # the fleet is the server's: Ctrl-C stops following it, not the fleet
        req.say(f"stopped following fleet run {fleet_id}; it goes on "
                f"(playbook fleet status {fleet_id} --engine temporal)")
        return EXIT_DETACHED


def _cluster_event(event: dict, cluster: str, wave: str) -> dict:
    """A cluster run's workflow event in the shape a local fleet's cluster events have (`step`, `cluster`)."""
    out = {k: v for k, v in event.items() if k not in ("key", "ts")}
    out.update({"time": event.get("ts"), "cluster": cluster, "wave": wave})
    if event.get("key"):
        out["step"] = event["key"]
    return out


async def follow_fleet(client: Client, fleet_id: str, req: FleetRequest) -> int:
    """Present the fleet's events, and each running cluster's run events, as they happen; the exit code."""
    if req.output == "json":
        present: Callable[[dict], None] = JsonPresenter(req.stream)
    else:
        text = TextPresenter(req.stream)

        def present(record: dict) -> None:
            line = None if "step" in record else _approval_line(record)  # a wave's or the rollback's question
            if line is not None:
                req.stream.write(line + "\n")
                req.stream.flush()
            text(record)
    handle = client.get_workflow_handle(fleet_id)
    result_task = asyncio.ensure_future(handle.result())
    seen = 0
    clusters: dict[str, dict] = {}  # cluster -> {"wave", "seen", "open"}

    async def drain_cluster(name: str) -> None:
        c = clusters[name]
        try:
            events = await client.get_workflow_handle(cluster_id(fleet_id, name)).query("progress", c["seen"])
        except Exception:  # noqa: BLE001 — not picked up by a worker yet; its events come on the next poll
            return
        c["seen"] += len(events)
        for event in events:
            present(_cluster_event(event, name, c["wave"]))

    while True:
        finished = result_task.done()
        try:
            events = await handle.query("progress", seen)
        except Exception:  # noqa: BLE001 — no worker has picked the fleet up yet; the result still comes
            events = []
        for event in events:
            name = event.get("cluster")
            if event["event"] == "cluster_started":
                clusters[name] = {"wave": event["wave"], "seen": 0, "open": True}
            if event["event"] == "cluster_finished" and name in clusters:
                await drain_cluster(name)  # its last steps before its end
                clusters[name]["open"] = False
            present(event)
            if event["event"] == "awaiting_approval":
                req.say(f"  answer with: playbook approve {fleet_id} {event['key']} --as NAME --reason TEXT "
                        "(or playbook reject ...)")
        seen += len(events)
        for name, c in clusters.items():
            if c["open"]:
                await drain_cluster(name)
        if finished:
            break
        await asyncio.wait({result_task}, timeout=POLL_EVERY)
    try:
        code = int(result_task.result()["exit_code"])
    except WorkflowFailureError as err:
        req.say(f"fleet run failed in Temporal: {err.cause or err}")
        return EXIT_FAILED
    if req.output == "text":
        state = _fold((await handle.query("fleet"))["events"])
        req.stream.write("\n" + status_table(None, state) + "\n")
        req.stream.write(f"fleet run {fleet_id} on Temporal: playbook fleet show {fleet_id} --engine temporal\n")
        req.stream.flush()
    return code


def _fold(events: list[dict]) -> FleetState:
    """The fleet's events folded as a local fleet journal's are."""
    state = FleetState()
    for record in events:
        state.apply(record)
    return state


def _plan_shape(request: dict) -> FleetPlan:
    """The fleet plan as the workflow ran it (its waves), for the progress block and the table's order."""
    return FleetPlan(fleet=None, waves=[Wave(**w) for w in request["waves"]], after=request["after"])  # type: ignore[arg-type]


def _when(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment)) if moment else "-"


async def _read(conn: Connection, fleet_id: str) -> tuple[Any, dict, FleetState, FleetPlan]:
    """The fleet workflow's description, its `fleet` query, its events folded and its plan's shape."""
    client = await conn.connect()
    handle = client.get_workflow_handle(fleet_id)
    try:
        info = await handle.describe()
    except RPCError as err:
        raise PlaybookError(f"fleet run {fleet_id}: {err}") from None
    if info.workflow_type != FLEET_WORKFLOW:
        raise UsageError(f"{fleet_id} is a {info.workflow_type} workflow, not a fleet run",
                         hint=f"playbook show {fleet_id} --engine temporal")
    try:
        data = await handle.query("fleet")
    except RPCError as err:  # a finished fleet is queried by replaying it on a worker
        raise PlaybookError(f"fleet run {fleet_id}: cannot read its state ({err})",
                            hint=f"start `playbook worker --task-queue {info.task_queue}`") from None
    return info, data, _fold(data["events"]), _plan_shape(data["request"])


def _head(conn: Connection, fleet_id: str, info: Any, data: dict, state: FleetState, ui: str | None) -> list[str]:
    request = data["request"]
    status = state.status(live=info.status == WorkflowExecutionStatus.RUNNING)
    if info.status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        status = f"{status} (workflow {info.status.name.lower()})"
    lines = [f"fleet run {fleet_id} on Temporal: {status}",
             f"server: {conn.address}, namespace {conn.namespace}, task queue {info.task_queue}",
             f"fleet: {request['fleet']} ({request['fleet_path']})", f"playbook: {request['playbook']}"]
    link = ui_link(ui, conn.namespace, fleet_id)
    if link:
        lines.append(f"web UI: {link}")
    if state.halted:
        lines.append(f"halted ({state.halted['reason']}): {state.halted['message']}")
    if data.get("awaiting"):
        lines.append(f"waiting for approval: {data['awaiting']['key']}: {data['awaiting']['prompt']} "
                     f"(playbook approve {fleet_id} {data['awaiting']['key']} --as NAME --reason TEXT)")
    return lines


async def fleet_status_text(conn: Connection, fleet_id: str, ui: str | None) -> str:
    """`playbook fleet status ID --engine temporal`: header, the clusters by wave, the table."""
    info, data, state, plan = await _read(conn, fleet_id)
    return "\n".join(_head(conn, fleet_id, info, data, state, ui) + [""] + progress_block(plan, state)
                     + ["", status_table(plan, state)])


async def fleet_show_text(conn: Connection, fleet_id: str, ui: str | None) -> str:
    """`playbook fleet show ID --engine temporal`: header, the timeline, approvals, the table, the child runs."""
    from ..durations import format_duration
    info, data, state, plan = await _read(conn, fleet_id)
    lines = _head(conn, fleet_id, info, data, state, ui)
    lines.append("inputs: " + (", ".join(f"{k}={v}" for k, v in data["request"].get("inputs", {}).items()) or "-"))
    lines += ["", "timeline:"]
    t0 = state.created or 0.0
    for rec in data["events"]:
        line = fleet_line(rec) or _approval_line(rec)
        if line:
            lines.append(f"  +{format_duration(max(0.0, rec.get('time', t0) - t0)):>8}  {line.strip()}")
    lines += ["", status_table(plan, state), "",
              f"cluster runs: playbook show {cluster_id(fleet_id, 'CLUSTER')} --engine temporal"]
    return "\n".join(lines)


def _approval_line(rec: dict) -> str | None:
    kind = rec.get("event")
    if kind == "awaiting_approval":
        return f"? {rec['key']} waits for approval: {rec.get('prompt', '')}"
    if kind in ("approved", "rejected"):
        return f"{rec['key']} {kind} by {rec.get('by')}" + (f": {rec['reason']}" if rec.get("reason") else "")
    return None


async def fleet_list_text(conn: Connection) -> str:
    """The newest fleet runs in the namespace, one line each."""
    client = await conn.connect()
    rows = []
    async for wf in client.list_workflows(f"WorkflowType = '{FLEET_WORKFLOW}'", limit=LIST_LIMIT):
        status = wf.status.name.lower() if wf.status is not None else "unknown"
        started = wf.start_time.timestamp() if wf.start_time else None
        rows.append(f"{wf.id:<36} {status:<12} {_when(started)}  queue {wf.task_queue}")
    if not rows:
        return f"no Temporal fleet runs in namespace {conn.namespace} at {conn.address}"
    return "\n".join([f"{'FLEET RUN':<36} {'STATUS':<12} STARTED", *rows])


def fleet_view(kind: str, fleet_id: str | None, ui: str | None, conn: dict) -> None:
    """status / show / list of Temporal fleet runs; prints and exits."""
    c = connection(**conn)

    def work() -> int:
        if fleet_id in (None, "last", "latest") and kind != "list":
            raise UsageError("a Temporal fleet run is named by its id",
                             hint="`playbook fleet list --engine temporal` lists them")
        if kind == "list":
            click.echo(asyncio.run(fleet_list_text(c)))
        else:
            text = fleet_status_text if kind == "status" else fleet_show_text
            click.echo(asyncio.run(text(c, fleet_id, ui or os.environ.get("TEMPORAL_UI"))))
        return 0
    finish(work)


def fleet_run(req: FleetRequest, fleets: Path, task_queue: str, detach: bool, conn: dict) -> None:
    """`playbook fleet run --engine temporal`; exits with the fleet's exit code."""
    finish(lambda: run_fleet_temporal(req, fleets, connection(**conn), task_queue, detach))

