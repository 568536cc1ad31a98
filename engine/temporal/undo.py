"""`playbook rollback RUN --engine temporal`: undo the started steps of a Temporal run that has ended
(succeeded, failed, stopped, cancelled or terminated), newest start first, as compensations run by workers.

The run's workflow has closed, so the rollback is a new execution of the same workflow id (the run id stays
the run's, as a local rollback appends to the run's journal): it is given what the ended execution's queries
tell (its request, start order and step results), undoes the started steps whose compensation has not yet
succeeded (engine/decisions.py's to_undo and rollback_order, as locally), and ends with the local rollback's
exit codes: 0 rolled back (or nothing left), 3 a compensation failed.
"""
from __future__ import annotations

from typing import Callable

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from ..decisions import to_undo
from ..errors import EXIT_OK, PlaybookError, UsageError
from .client import Connection, follow
from .workflow import WORKFLOW_NAME


async def _ended_state(client: Client, run_id: str) -> tuple[dict, dict, str, str]:
    """(request, state, status, task queue) of the run's latest execution, which must have ended."""
    handle = client.get_workflow_handle(run_id)
    try:
        info = await handle.describe()
    except RPCError as err:
        raise PlaybookError(f"run {run_id}: {err}") from None
    if info.status == WorkflowExecutionStatus.RUNNING:
        raise UsageError(f"run {run_id} is still running on Temporal",
                         hint=f"wait for it to end, or cancel it (temporal workflow cancel --workflow-id {run_id}): "
                              "a cancelled run rolls back its started steps itself")
    handle = client.get_workflow_handle(run_id, run_id=info.run_id)
    try:  # a closed workflow is queried by replaying its history on a worker
        state = await handle.query("results")
        request = await handle.query("request")
    except RPCError as err:
        raise PlaybookError(f"run {run_id}: cannot read its steps ({err})",
                            hint=f"start `playbook worker --task-queue {info.task_queue}`") from None
    return request, state, info.status.name.lower() if info.status else "ended", info.task_queue


async def rollback(conn: Connection, run_id: str, *, yes: bool, interactive: bool, ask: Callable[[str], bool],
                   echo: Callable[[str], None]) -> int:
    """Roll back the ended run `run_id` (asking first unless `yes`); its exit code."""
    client = await conn.connect()
    request, state, status, queue = await _ended_state(client, run_id)
    if request is None:
        raise PlaybookError(f"run {run_id}: its workflow does not say what it ran (not a playbook run?)")
    if request.get("options", {}).get("env"):
        raise UsageError(f"run {run_id} ran against the embedded emulator, whose cluster ended with it",
                         hint="start a new run with --emulate")
    todo = to_undo(state["started"], {k: r.get("rollback") for k, r in state["results"].items()})
    if not todo:
        echo(f"run {run_id}: nothing left to roll back ({status})")
        return EXIT_OK
    if not yes:
        if not interactive:
            raise UsageError(f"rolling back run {run_id} needs confirmation", hint="pass --yes")
        if not ask(f"Roll back {len(todo)} started steps of run {run_id} ({status})?"):
            echo("not rolled back")
            return EXIT_OK
    ended = {"request": request, "playbook": state.get("playbook", ""), "started": state["started"],
             "results": state["results"]}
    try:
        await client.start_workflow(WORKFLOW_NAME, {"rollback_of": ended}, id=run_id, task_queue=queue)
    except WorkflowAlreadyStartedError:  # another rollback of it started since we looked
        raise UsageError(f"run {run_id} is being rolled back already",
                         hint=f"follow it with playbook show {run_id} --engine temporal") from None
    echo(f"run {run_id}: rolling back on Temporal at {conn.address} (task queue {queue})")
    return await follow(client, run_id, echo)
