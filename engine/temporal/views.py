"""`playbook runs` and `playbook show` for runs held by Temporal: from the server's list of workflows and the
run's own queries (a query on a finished run needs a worker on its task queue; without one, the server's
record of the run is shown)."""
from __future__ import annotations

import datetime as dt

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from ..errors import PlaybookError
from .client import Connection
from .workflow import WORKFLOW_NAME

LIST_LIMIT = 50


def ui_link(ui: str | None, namespace: str, run_id: str) -> str | None:
    """The run's page in the Temporal Web UI, when its address is known."""
    return f"{ui.rstrip('/')}/namespaces/{namespace}/workflows/{run_id}" if ui else None


def _status(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower() if status is not None else "unknown"


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


async def runs_text(conn: Connection) -> str:
    """The newest playbook runs in the namespace, one line each."""
    client = await conn.connect()
    rows = []
    async for wf in client.list_workflows(f"WorkflowType = '{WORKFLOW_NAME}'", limit=LIST_LIMIT):
        rows.append(f"{wf.id:<28} {_status(wf.status):<12} {_when(wf.start_time)}  queue {wf.task_queue}")
    if not rows:
        return f"no Temporal runs in namespace {conn.namespace} at {conn.address}"
    return "\n".join([f"{'RUN':<28} {'STATUS':<12} STARTED", *rows])


async def show_text(conn: Connection, run_id: str, ui: str | None) -> str:
    """One run: where it is held, its state, each step's status, and every approval with who and why."""
    client: Client = await conn.connect()
    handle = client.get_workflow_handle(run_id)
    try:
        info = await handle.describe()
    except RPCError as err:
        raise PlaybookError(f"run {run_id}: {err}") from None
    lines = [f"run {run_id} on Temporal ({conn.address}, namespace {conn.namespace}, queue {info.task_queue})",
             f"status: {_status(info.status)}; started {_when(info.start_time)}; closed {_when(info.close_time)}"]
    link = ui_link(ui, conn.namespace, run_id)
    if link:
        lines.append(f"web UI: {link}")
    if info.status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result()
        lines.append(f"result: {result['reason']} (exit {result['exit_code']})")
    try:
        state = await handle.query("results")
    except RPCError as err:  # a finished run is queried by replaying it on a worker
        lines.append(f"steps: not available ({err}); start `playbook worker --task-queue {info.task_queue}`")
        return "\n".join(lines)
    lines.append(f"playbook: {state['playbook']}")
    for key, result in state["results"].items():
        outcome = result.get("outcome") or {}
        message = result.get("shown", outcome.get("message")) or result.get("reason") or ""  # "shown" is masked
        rollback = f"; rollback {result['rollback']}" if result.get("rollback") else ""
        lines.append(f"  {result['status']:<12} {key}" + (f": {message}" if message else "") + rollback)
    if state.get("awaiting"):
        lines.append(f"waiting for approval: {state['awaiting']['key']}: {state['awaiting']['prompt']}")
    for key, prompt in state.get("asked", {}).items():  # approve/pause steps waiting on a worker
        lines.append(f"waiting for approval: {key}: {prompt}")
    for d in state.get("decisions", []):
        verdict = "approved" if d["approve"] else "rejected"
        lines.append(f"{verdict} {d['step']} by {d['by']} at {_when(dt.datetime.fromtimestamp(d['at'], dt.timezone.utc))}"
                     + (f": {d['reason']}" if d["reason"] else ""))
    return "\n".join(lines)
