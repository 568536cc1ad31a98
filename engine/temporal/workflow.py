"""The Temporal workflow of one playbook run: schedules the prepared plan as the local runner does (ready
steps in file order up to max_parallel, each gated by its guards, a failure stopping forward work unless
continue_on_error) and on failure undoes every started step in reverse start order, as compensations.

Deterministic by construction: the scheduling decisions are engine/decisions.py's, the ones the local runner
takes (ready steps, what a step's end means, the rollback order); every decision that needs the playbook
(guards, templates, a step's retries, `until` and timeout, a compensation) is made by an activity with the
same code on a worker and comes back as data recorded in the history. Activities read the step results so far through
the `results` query (not kept in the history, which would otherwise grow with the square of the steps).
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ..decisions import (FAIL, INTERRUPTED, NEEDS_CONFIRMATION, SKIP, STOP, Schedule, after_step,
                             record_start, rollback_order, rollback_verdict, rolls_back, to_undo)
    from ..verdict import run_verdict

WORKFLOW_NAME = "PlaybookRun"
# A step's own budget (its timeout, retries, until) is kept inside the activity; this only bounds a step
# whose worker keeps heartbeating forever. A soak of hours fits.
STEP_LIMIT = timedelta(days=7)
SHORT_LIMIT = timedelta(minutes=10)
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# A worker lost mid-activity (no heartbeat) hands the step to another worker; a step's failure is data, not an
# exception, so these retries happen only for lost workers and internal errors.
WORKER_LOSS = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1))
RECORDED = ("events", "rollback_events")  # what a result carries for the follower only (engine/temporal/output.py)


def _bare(result: dict) -> dict:
    """A step's result as activities read it: without the events kept for the follower."""
    return {f: v for f, v in result.items() if f not in RECORDED}


@workflow.defn(name=WORKFLOW_NAME)
class PlaybookRun:
    """One run of a playbook; queries: `progress` (events so far), `results` (every step's result), `request`
    (what the run was started with).

    Started with a RunRequest (as data) it runs the plan. Started with {"rollback_of": ...} (by `playbook
    rollback RUN --engine temporal`, as a new execution under the ended run's id) it only undoes: the
    compensations of the started steps not yet undone, newest start first, as `playbook rollback` does locally.
    """

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.results: dict[str, dict] = {}
        self.started: list[str] = []
        self.frames: dict[str, list[str]] = {}
        self.playbook = ""
        self.request: dict | None = None
        self.awaiting: dict | None = None  # the confirmation waiting for a person: {key, prompt}
        self.answer: dict | None = None
        self.decisions: list[dict] = []  # every approval and rejection: who, why, which step, when
        self.asked: dict[str, str] = {}  # steps whose own gate (approve, pause) waits for a person: key -> prompt

    @workflow.query(name="progress")
    def progress(self, since: int = 0) -> list[dict]:
        return self.events[since:]

    @workflow.query(name="results")
    def step_results(self) -> dict:
        # Without the events: a query's answer must fit one gRPC message (4 MB), and steps never read them.
        return {"playbook": self.playbook, "started": self.started,
                "results": {k: _bare(r) for k, r in self.results.items()},
                "decisions": self.decisions, "awaiting": self.awaiting, "asked": self.asked}

    @workflow.query(name="result")
    def step_result(self, key: str) -> dict | None:
        """One step's result, with the events its worker recorded (the follower's mirror reads them)."""
        return self.results.get(key)

    @workflow.query(name="decisions")
    def decisions_query(self, since: int = 0) -> list[dict]:
        return self.decisions[since:]

    @workflow.query(name="request")
    def request_query(self) -> dict | None:
        return self.request

    @workflow.query(name="awaiting")
    def awaiting_query(self) -> dict | None:
        return self.awaiting

    def _waiting(self) -> list[str]:
        confirm = [self.awaiting["key"]] if self.awaiting is not None and self.answer is None else []
        return confirm + sorted(self.asked)

    @workflow.update(name="decide")
    def decide(self, decision: dict) -> str:
        """A person's answer to the waiting confirmation: {approve: bool, by: NAME, reason: TEXT, step: KEY?}."""
        key = decision.get("step") or self._waiting()[0]
        record = {"step": key, "approve": bool(decision.get("approve")), "by": str(decision.get("by", "")),
                  "reason": str(decision.get("reason", "")), "at": workflow.now().timestamp()}
        self.decisions.append(record)
        if key in self.asked:  # the step's own gate reads the decision (see `ask`)
            del self.asked[key]
            self._event("approved" if record["approve"] else "rejected", key, by=record["by"],
                        reason=record["reason"])
        else:
            self.answer = record
        return f"{'approved' if record['approve'] else 'rejected'} {key}"

    @decide.validator
    def _check_decision(self, decision: dict) -> None:
        # A rejected update is not written to the history: an answer to nothing leaves no trace.
        waiting = self._waiting()
        if not waiting:
            raise ValueError("no step of this run is waiting for approval")
        step = decision.get("step")
        if step and step not in waiting:
            raise ValueError(f"step {step} is not waiting for approval; {', '.join(waiting)} "
                             f"{'is' if len(waiting) == 1 else 'are'}")
        if not step and len(waiting) > 1:
            raise ValueError(f"steps {', '.join(waiting)} wait for approval: name one")
        if not str(decision.get("by", "")).strip():
            raise ValueError("say who decides (--as NAME)")

    @workflow.update(name="ask")
    def ask(self, question: dict) -> int:
        """A running step's own gate (an `approve` or `pause` step: a worker has no terminal) waits for a
        person: {key, prompt}; {key, prompt: None} withdraws it (answered in time, timed out, cancelled).
        Returns how many decisions the run had, so the step knows which answer is its own."""
        key, prompt = question["key"], question.get("prompt")
        if prompt is None:
            self.asked.pop(key, None)
        elif key not in self.asked:
            self.asked[key] = prompt
            self._event("awaiting_approval", key, prompt=prompt)
        return len(self.decisions)

    async def _ask(self, key: str, prompt: str) -> bool:
        """Wait for a person's approval of `key`; True approved, False rejected."""
        self.awaiting = {"key": key, "prompt": prompt}
        self._event("awaiting_approval", key, prompt=prompt)
        await workflow.wait_condition(lambda: self.answer is not None)
        answer, self.answer, self.awaiting = self.answer, None, None
        self._event("approved" if answer["approve"] else "rejected", key, by=answer["by"], reason=answer["reason"])
        return answer["approve"]

    def _event(self, kind: str, key: str = "", **data) -> None:
        self.events.append({"event": kind, "key": key, "ts": workflow.now().timestamp(), **data})

    async def _activity(self, name: str, *args, limit: timedelta = SHORT_LIMIT):
        # A cancelled run waits for its running steps to stop before it undoes them.
        return await workflow.execute_activity(
            name, args=list(args), start_to_close_timeout=limit, heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=WORKER_LOSS, cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)

    @workflow.run
    async def run(self, request: dict) -> dict:
        if "rollback_of" in request:
            return await self._roll_back_ended(request["rollback_of"])
        self.request = request
        plan = await self._activity("playbook.plan", request)
        nodes: dict[str, dict] = plan["nodes"]
        self.playbook = plan["playbook"]
        max_parallel = max(1, int(request.get("max_parallel") or 4))
        schedule = Schedule(nodes)
        release = schedule.release
        running: dict[asyncio.Task, str] = {}
        stop: str | None = None
        failed: list[str] = []
        self._event("run_started", playbook=self.playbook, steps=len(nodes), max_parallel=max_parallel)

        def settle(key: str, result: dict) -> None:
            nonlocal stop
            self.results[key] = result
            message = result.get("shown", (result.get("outcome") or {}).get("message", ""))
            ok = result["status"] == "succeeded"
            if ok:
                self._event("step_succeeded", key, message=message, attempts=result.get("attempts"))
            else:
                self._event("step_failed", key, message=message, attempts=result.get("attempts"))
                failed.append(key)
            go_on, stop = after_step(ok, nodes[key]["continue_on_error"], stop)
            if go_on:
                release(key)

        try:
            while True:
                while stop is None and schedule.has_ready() and len(running) < max_parallel:
                    key = schedule.pop()
                    gate = await self._activity("playbook.gate", request, key, self.frames, None)
                    if gate["decision"] == STOP:  # a confirmation nobody answered: a person answers it here
                        approved = await self._ask(key, gate["reason"].removeprefix(NEEDS_CONFIRMATION))
                        gate = await self._activity("playbook.gate", request, key, self.frames, approved)
                    self.frames.update(gate["frames"])
                    decision, reason = gate["decision"], gate["reason"]
                    if decision == SKIP:
                        self.results[key] = {"key": key, "status": "skipped", "reason": reason, "outcome": None,
                                             "args": None, "started": None, "ended": None, "attempts": 0,
                                             "rollback": None, "rollback_message": ""}
                        self._event("step_skipped", key, reason=reason)
                        release(key)
                        continue
                    if decision in (STOP, INTERRUPTED):
                        stop = "stopped" if decision == STOP else "interrupted"
                        self._event("run_stopped", key, reason=reason)
                        break
                    record_start(self.started, key)
                    self._event("step_started", key, uses=nodes[key].get("uses"))
                    if decision == FAIL:
                        now = workflow.now().timestamp()
                        settle(key, {"key": key, "status": "failed", "reason": "", "args": None, "started": now,
                                     "ended": now, "attempts": 0, "rollback": None, "rollback_message": "",
                                     "outcome": {"ok": False, "message": reason}})
                        continue
                    task = asyncio.ensure_future(self._activity("playbook.step", request, key, limit=STEP_LIMIT))
                    running[task] = key
                if not running:
                    break
                done, _ = await workflow.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: nodes[running[t]]["order"]):  # a fixed order: replays alike
                    key = running.pop(task)
                    settle(key, task.result())
        except asyncio.CancelledError:
            # Cancelled (`temporal workflow cancel`): as Ctrl-C on a local run, running steps are cancelled and
            # every started step rolled back.
            stop = "interrupted"
            self._event("run_interrupted")
            for task in running:
                task.cancel()
            for task, key in sorted(running.items(), key=lambda item: nodes[item[1]]["order"]):
                try:
                    settle(key, await task)
                except (asyncio.CancelledError, ActivityError):
                    now = workflow.now().timestamp()
                    settle(key, {"key": key, "status": "failed", "reason": "", "args": None, "started": now,
                                 "ended": now, "attempts": 1, "rollback": None, "rollback_message": "",
                                 "outcome": {"ok": False, "message": "cancelled", "cancelled": True}})
        for key in nodes:
            if key not in self.results and key not in self.started:
                self.results[key] = {"key": key, "status": "not_run"}
        rolled: list[str] = []
        rb_failed: list[str] = []
        if rolls_back(stop, bool(request.get("no_rollback"))):
            rolled, rb_failed = await self._undo(request, self.started)
        code, reason = run_verdict(stop, bool(rb_failed))
        self._event("run_finished", exit_code=code, reason=reason, failed=failed, rolled_back=rolled,
                    rollback_failed=rb_failed)
        return {"exit_code": code, "reason": reason, "failed": failed, "rolled_back": rolled,
                "rollback_failed": rb_failed}

    async def _undo(self, request: dict, started: list[str]) -> tuple[list[str], list[str]]:
        """The compensations of `started` (in start order), newest first, each by a worker; (rolled back,
        failed) keys. A failing compensation is reported and the rest still run."""
        rolled: list[str] = []
        rb_failed: list[str] = []
        self._event("rollback_begun", steps=len(started))
        for key in rollback_order(started):
            undo = await self._activity("playbook.undo", request, key, limit=STEP_LIMIT)
            # The compensation's result keeps the step's own events beside its own.
            self.results[key] = {**undo["result"], "events": (self.results.get(key) or {}).get("events") or []}
            if undo["rolled_back"]:
                rolled.append(key)
                self._event("rollback_succeeded", key, message=undo["message"])
            elif undo["failed"]:
                rb_failed.append(key)
                self._event("rollback_failed", key, message=undo["message"])
        return rolled, rb_failed

    async def _roll_back_ended(self, ended: dict) -> dict:
        """Undo what an ended execution of this run left done: `ended` holds its request, playbook, start order
        and step results (read through its queries by the command that started this one)."""
        request = self.request = ended["request"]
        self.playbook = ended.get("playbook", "")
        self.started = list(ended["started"])
        self.results = dict(ended["results"])
        todo = to_undo(self.started, {k: r.get("rollback") for k, r in self.results.items()})
        rolled, rb_failed = await self._undo(request, todo)
        code, reason = rollback_verdict(bool(rb_failed))
        self._event("run_finished", exit_code=code, reason=reason, failed=[], rolled_back=rolled,
                    rollback_failed=rb_failed)
        return {"exit_code": code, "reason": reason, "failed": [], "rolled_back": rolled,
                "rollback_failed": rb_failed}
