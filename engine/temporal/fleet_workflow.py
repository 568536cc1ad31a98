"""A fleet change on Temporal: one parent workflow walks the fleet plan's waves as the local orchestrator does
(engine/fleet/orchestrator.py), starting a child `PlaybookRun` workflow per cluster with that cluster's context,
kubeconfig and inputs. On a halt it rolls back the clusters it changed, newest completion first, each by a child
workflow that is a new execution of the cluster's run (its id) undoing that run's started steps, newest first,
as `playbook rollback RUN --engine temporal` does.

Every decision (who starts, when the failure budget halts, how the fleet ends, what to roll back and in which
order) is made by the same pure code as the local orchestrator's (engine/fleet/waves.py, FleetState); its
events have the fleet journal's shape, so `playbook fleet status/show` fold them the same way.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError
from temporalio.workflow import ChildWorkflowCancellationType

with workflow.unsafe.imports_passed_through():
    from ..fleet.journal import FleetState
    from ..fleet.waves import ending, judge, pick, rollback_ending
    from ..errors import EXIT_OK, EXIT_ROLLBACK_FAILED, EXIT_STOPPED
    from .workflow import WORKFLOW_NAME

FLEET_WORKFLOW = "PlaybookFleet"
RUN_STATE = "playbook.fleet.run_state"
ROLLBACK = "rollback"  # the confirmation a manual rollback (on_halt.rollback: manual) waits for
SHORT_LIMIT = timedelta(minutes=10)
WORKER_LOSS = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1))


def cluster_id(fleet_id: str, cluster: str) -> str:
    """The workflow id of a cluster's run in a fleet (`playbook show ID --engine temporal` reads it)."""
    return f"{fleet_id}.{cluster}"


def cluster_status(result: dict) -> str:
    """A cluster's fleet status from its run's result, in the local fleet's words (clusterrun.outcome):
    succeeded | failed (its run failed and undid itself) | rollback_failed | rolled_back (stopped by the fleet,
    its change undone) | stopped."""
    if result["exit_code"] == EXIT_OK:
        return "succeeded"
    if result["exit_code"] == EXIT_ROLLBACK_FAILED or result.get("rollback_failed"):
        return "rollback_failed"
    if result["exit_code"] == EXIT_STOPPED:
        return "stopped"
    return "rolled_back" if result.get("reason") == "interrupted" else "failed"


class _Asking:
    """A confirmation answered by a person through the `decide` update (`playbook approve/reject FLEET KEY`)."""

    def __init__(self) -> None:
        self.awaiting: dict | None = None
        self.answer: dict | None = None
        self.decisions: list[dict] = []

    def decide(self, decision: dict) -> str:
        key = self.awaiting["key"] if self.awaiting else ""
        record = {"step": key, "approve": bool(decision.get("approve")), "by": str(decision.get("by", "")),
                  "reason": str(decision.get("reason", "")), "at": workflow.now().timestamp()}
        self.decisions.append(record)
        self.answer = record
        return f"{'approved' if record['approve'] else 'rejected'} {key}"

    def check(self, decision: dict) -> None:
        if self.awaiting is None or self.answer is not None:
            raise ValueError("nothing of this fleet run is waiting for approval")
        step = decision.get("step")
        if step and step != self.awaiting["key"]:
            raise ValueError(f"{step} is not waiting for approval; {self.awaiting['key']} is")
        if not str(decision.get("by", "")).strip():
            raise ValueError("say who decides (--as NAME)")

    async def ask(self, key: str, prompt: str) -> dict:
        self.awaiting = {"key": key, "prompt": prompt}
        await workflow.wait_condition(lambda: self.answer is not None)
        answer, self.answer, self.awaiting = self.answer, None, None
        return answer


@workflow.defn(name=FLEET_WORKFLOW)
class PlaybookFleet:
    """One fleet change. Queries: `progress` (fleet events since N), `fleet` (the request's shape and every
    event so far), `awaiting`. Update `decide`: a person's answer to a wave's confirmation or a manual rollback."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.state = FleetState()
        self.asking = _Asking()
        self.request: dict = {}
        self.running: dict[str, workflow.ChildWorkflowHandle] = {}
        self.halted = False
        self.interrupted = False
        self.failures = 0

    @workflow.query(name="progress")
    def progress(self, since: int = 0) -> list[dict]:
        return self.events[since:]

    @workflow.query(name="fleet")
    def fleet(self) -> dict:
        shape = {k: v for k, v in self.request.items() if k not in ("requests", "gates")}
        return {"request": shape, "events": self.events, "awaiting": self.asking.awaiting,
                "decisions": self.asking.decisions}

    @workflow.query(name="awaiting")
    def awaiting_query(self) -> dict | None:
        return self.asking.awaiting

    @workflow.update(name="decide")
    def decide(self, decision: dict) -> str:
        """{approve: bool, by: NAME, reason: TEXT, step: WAVE or `rollback`?}."""
        return self.asking.decide(decision)

    @decide.validator
    def _check_decision(self, decision: dict) -> None:
        # A rejected update is not written to the history: an answer to nothing leaves no trace.
        self.asking.check(decision)

    def emit(self, kind: str, **data) -> dict:
        record = {"event": kind, "time": round(workflow.now().timestamp(), 3), **data}
        self.events.append(record)
        self.state.apply(record)
        return record

    def halt(self, reason: str, message: str, stop_running: bool | None = None) -> None:
        if self.halted:
            return
        self.halted = True
        stop = self.request["on_halt_running"] == "stop" if stop_running is None else stop_running
        self.emit("fleet_halted", reason=reason, message=message, running=sorted(self.running),
                  running_action="stop" if stop else "finish")
        if stop:
            for handle in self.running.values():
                handle.cancel()  # as Ctrl-C on the cluster's run: its running steps stop, its change is undone

    async def _asked(self, key: str, prompt: str) -> bool:
        self.emit("awaiting_approval", key=key, prompt=prompt)
        answer = await self.asking.ask(key, prompt)
        self.emit("approved" if answer["approve"] else "rejected", key=key, by=answer["by"],
                  reason=answer["reason"])
        return answer["approve"]

    # -- the waves ---------------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, request: dict) -> dict:
        self.request = request
        waves = request["waves"]
        self.emit("fleet_started", fleet_id=request["fleet_id"], fleet=request["fleet"], playbook=request["playbook"],
                  clusters=sum(len(w["clusters"]) for w in waves),
                  waves=[{"name": w["name"], "clusters": w["clusters"]} for w in waves])
        stopped_at = None
        try:
            stopped_at = await self._waves(waves)
        except asyncio.CancelledError:
            # The fleet workflow cancelled (`temporal workflow cancel`): as Ctrl-C on a local fleet, the running
            # clusters are stopped (each undoes its change) and the clusters already changed are rolled back.
            self.interrupted = True
            self.halt("interrupted", "the fleet workflow was cancelled", stop_running=True)
            await self._settle_running()
        end = ending(self.state.halted if self.halted else None, stopped_at, request["no_rollback"],
                     self.interrupted, manual_hint=f"roll back with `playbook approve {workflow.info().workflow_id} "
                                                   f"{ROLLBACK}`")
        if end.roll_back:
            return await self._roll_back()
        if end.status == "halted" and request.get("manual_rollback") and self.state.to_roll_back():
            # on_halt.rollback: manual: the fleet waits for a person to approve (or reject) its rollback.
            todo = self.state.to_roll_back()
            if await self._asked(ROLLBACK, f"Roll back {len(todo)} clusters ({', '.join(todo)})?"):
                return await self._roll_back()
        return self._end(end.status, end.exit_code, end.message)

    async def _waves(self, waves: list[dict]) -> str | None:
        allowed = self.request["allowed"]
        for i, wave in enumerate(waves):
            if self.halted:
                break
            last = i == len(waves) - 1
            if wave["confirm"] and not self.request["yes"]:
                if not await self._asked(wave["name"], f"Start wave {wave['name']} ({len(wave['clusters'])} "
                                                       "clusters)?"):
                    self.emit("wave_confirm", wave=wave["name"], answer="no")
                    return wave["name"]
                self.emit("wave_confirm", wave=wave["name"], answer="yes")
            self.emit("wave_started", wave=wave["name"], clusters=wave["clusters"], parallelism=wave["parallelism"])
            await self._run_wave(wave, allowed)
            if self.halted:
                break
            self.emit("wave_finished", wave=wave["name"])
            # No soak after the last wave; its gate still runs (a final check across the fleet).
            if not last and wave["soak"] > 0:
                self.emit("soak_started", wave=wave["name"], seconds=wave["soak"])
                await workflow.sleep(wave["soak"])
            gate = self.request["gates"].get(wave["name"])
            if gate is None:
                self.emit("gate_finished", wave=wave["name"], status="succeeded", message="no gate")
                continue
            self.emit("gate_started", wave=wave["name"])
            ok, detail = await self._gate(wave, gate)
            self.emit("gate_finished", wave=wave["name"], status="succeeded" if ok else "failed", message=detail)
            if not ok:
                self.halt("gate_failed", f"the gate after wave {wave['name']} failed: {detail}")
                break
        return None

    async def _gate(self, wave: dict, gate: dict) -> tuple[bool, str]:
        """The wave's gate steps as a child run of their own, told which clusters are upgraded."""
        gate = {**gate, "cli_vars": {**gate["cli_vars"], "upgraded": list(self.state.completed)}}
        try:
            result = await workflow.execute_child_workflow(
                WORKFLOW_NAME, gate, id=f"{workflow.info().workflow_id}.gate.{wave['name']}")
        except ChildWorkflowError as err:
            return False, str(err.cause or err)
        return result["exit_code"] == EXIT_OK, ("passed" if result["exit_code"] == EXIT_OK
                                                else f"exit {result['exit_code']}: {result['reason']}")

    async def _run_wave(self, wave: dict, allowed: int) -> None:
        todo = [c for c in wave["clusters"]]
        order = {c: n for n, c in enumerate(wave["clusters"])}
        while todo or self.running:
            if not self.halted:
                statuses = {n: c.status for n, c in self.state.clusters.items()}
                picked = pick(todo, len(self.running), wave["parallelism"], self.request["after"], statuses)
                for name, why in picked.blocked:
                    todo.remove(name)
                    self.emit("cluster_finished", cluster=name, wave=wave["name"], status="blocked", message=why)
                for name in picked.start:
                    todo.remove(name)
                    await self._start(name, wave)
            else:
                todo.clear()
            if not self.running:
                for name in todo:  # only remotes whose primary never ran: never spin
                    self.emit("cluster_finished", cluster=name, wave=wave["name"], status="blocked",
                              message="its primary never ran")
                break
            await workflow.wait(list(self.running.values()), return_when=asyncio.FIRST_COMPLETED)
            for name in sorted((n for n, h in self.running.items() if h.done()), key=order.__getitem__):
                self._finished(name, wave["name"], allowed)

    async def _start(self, name: str, wave: dict) -> None:
        run_id = cluster_id(workflow.info().workflow_id, name)
        self.running[name] = await workflow.start_child_workflow(
            WORKFLOW_NAME, self.request["requests"][name], id=run_id,
            cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED)
        self.emit("cluster_started", cluster=name, wave=wave["name"], command="run", run_id=run_id)

    def _finished(self, name: str, wave: str, allowed: int) -> None:
        handle = self.running.pop(name)
        try:
            result = handle.result()
            status, code, message = cluster_status(result), result["exit_code"], \
                ", ".join(f"step {k}" for k in result.get("failed", []))
        except (ChildWorkflowError, asyncio.CancelledError) as err:
            # The run itself failed in Temporal (its plan could not be prepared on a worker, or its workers were
            # lost): what it changed is unknown, so the fleet's rollback will undo what it started.
            status, code, message = "killed", None, str(getattr(err, "cause", None) or err)
        self.emit("cluster_finished", cluster=name, wave=wave, status=status, run_id=handle.id, exit_code=code,
                  message=message)
        self.failures, halt = judge(name, status, self.failures, allowed, self.request["budget"])
        if halt is not None:
            self.halt(halt.reason, halt.message, stop_running=halt.stop_running)

    async def _settle_running(self) -> None:
        """Wait for the stopped clusters' runs to end (each undoes its own change) and record how they ended."""
        while self.running:
            await workflow.wait(list(self.running.values()), return_when=asyncio.FIRST_COMPLETED)
            for name in sorted(n for n, h in self.running.items() if h.done()):
                self._finished(name, self.state.clusters[name].wave, self.request["allowed"])

    # -- the end, and the rollback -----------------------------------------------------------------------------
    async def _roll_back(self) -> dict:
        """Roll back every cluster the fleet changed, newest completion first, each with its compensations."""
        todo = self.state.to_roll_back()
        self.emit("fleet_rollback_begun", clusters=todo)
        failed = []
        for name in todo:
            c = self.state.clusters[name]
            self.emit("cluster_rollback_started", cluster=name, wave=c.wave, run_id=c.run_id)
            message = ""
            try:
                result = await self._undo_cluster(name, c.run_id)
                ok = not result["rollback_failed"]
                message = ", ".join(result["rollback_failed"])
            except (ActivityError, ChildWorkflowError) as err:
                ok, message = False, str(err.cause or err)
            if not ok:
                failed.append(name)
            self.emit("cluster_rollback_finished", cluster=name, wave=c.wave,
                      status="succeeded" if ok else "failed", exit_code=EXIT_OK if ok else EXIT_ROLLBACK_FAILED,
                      message=message)
        end = rollback_ending(failed, self.state.halted, self.interrupted)
        return self._end(end.status, end.exit_code, end.message)

    async def _undo_cluster(self, name: str, run_id: str) -> dict:
        """The cluster's compensations: a new execution of its run's workflow id given what the ended one
        started and its results (read through its queries), as `playbook rollback RUN --engine temporal` does."""
        state = await workflow.execute_activity(
            RUN_STATE, run_id, start_to_close_timeout=SHORT_LIMIT, retry_policy=WORKER_LOSS)
        ended = {"request": self.request["requests"][name], "playbook": state.get("playbook", ""),
                 "started": state["started"], "results": state["results"]}
        return await workflow.execute_child_workflow(WORKFLOW_NAME, {"rollback_of": ended}, id=run_id)

    def _end(self, status: str, code: int, message: str = "") -> dict:
        by: dict[str, list[str]] = {}
        for name, c in self.state.clusters.items():
            by.setdefault(c.status, []).append(name)
        self.emit("fleet_finished", status=status, exit_code=code, message=message,
                  clusters={s: sorted(names) for s, names in sorted(by.items())})
        return {"status": status, "exit_code": code, "message": message}
