"""The activities a worker offers: the plan's shape, a step's gate, a step, a step's undo. Each runs the
engine's own code (engine/temporal/host.py) in a thread and heartbeats while it works, so a worker that dies
mid-step is noticed within the workflow's heartbeat timeout and the step is given to another worker."""
from __future__ import annotations

import asyncio
import copy
import dataclasses
import threading
import time
from typing import Any, Callable

from temporalio import activity
from temporalio.client import Client

from .host import RunHost, RunRequest
from .output import Recording, bounded, spent

HEARTBEAT_EVERY = 2.0  # the SDK sends at most one per 80% of the workflow's heartbeat timeout (10 s)
LIVE_EVERY = 0.25  # how often a step's new output is handed to the SDK (the worker's throttle paces the sends)
ASK_POLL = 1.0  # how often a step waiting for approval looks for the answer
RPC_LIMIT = 60.0


class Activities:
    """One worker's activities; prepared plans are kept per run (a worker serves many runs)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._hosts: dict[str, RunHost] = {}

    async def _state(self) -> dict:
        """The run's step results as its workflow holds them now. Asked by a query, which the history does not
        keep: sending them as every activity's input made a 100-step run's history grow past the server's
        limit (each activity's input holds every earlier step's output)."""
        return await self._client.get_workflow_handle(activity.info().workflow_id).query("results")

    def _host(self, request: dict) -> RunHost:
        run = activity.info().workflow_id
        host = self._hosts.get(run)
        if host is None:
            host = self._hosts[run] = RunHost(RunRequest.from_data(request))
        return host

    def _asker(self, key: str, mask: Callable[[str], str]) -> Callable:
        """RunOptions.ask for step `key`: its question goes to the workflow (`ask` update; the follower shows
        it with how to answer) and its answer is the next decision for this step (`playbook approve/reject`).
        Called from the step's thread; the SDK's calls run on this activity's event loop."""
        loop = asyncio.get_running_loop()
        handle = self._client.get_workflow_handle(activity.info().workflow_id)

        def call(coro) -> Any:
            return asyncio.run_coroutine_threadsafe(coro, loop).result(RPC_LIMIT)

        def ask(prompt: str, timeout: float | None, cancel: threading.Event) -> tuple[bool, str] | None:
            seen = call(handle.execute_update("ask", {"key": key, "prompt": mask(prompt)}))
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                while not cancel.wait(ASK_POLL if deadline is None else
                                      max(0.0, min(ASK_POLL, deadline - time.monotonic()))):
                    for d in call(handle.query("decisions", seen)):
                        if d["step"] == key:
                            return bool(d["approve"]), f"by {d['by']}" + (f": {d['reason']}" if d["reason"] else "")
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                return None
            finally:
                try:  # nobody may answer a question that is over
                    call(handle.execute_update("ask", {"key": key, "prompt": None}))
                except Exception:  # noqa: BLE001 — the run is gone or cancelled: nothing to withdraw from
                    pass
        return ask

    def _attempt(self, request: dict, key: str, phase: str = "step") -> RunHost:
        """The run's host as one attempt of step `key` sees it: its processes are told the run, the step and
        the attempt (PLAYBOOK_RUN_ID, PLAYBOOK_STEP, PLAYBOOK_ATTEMPT), so a step whose earlier attempt was lost
        with its worker mid-step (PLAYBOOK_ATTEMPT > 1: Temporal gave the step to this worker after the other
        stopped heartbeating) can look for the effect that attempt left under the same run id, as a step
        rerun by `resume` does, before doing it again."""
        host = self._host(request)
        info = activity.info()
        options = host.prepared.options
        env = {**options.env, "PLAYBOOK_RUN_ID": info.workflow_id, "PLAYBOOK_STEP": key,
               "PLAYBOOK_ATTEMPT": str(info.attempt)}
        mine = copy.copy(host)  # steps of one run run at once on this worker: each gets its own environment
        mine.recording = recording = Recording(key, info.attempt, phase)
        runner_of = type(host).runner.__get__(mine)  # bound to this attempt's copy: its options, env and ask

        def runner(*args: Any, **kwargs: Any) -> Any:  # the attempt's runner reports to its own recording
            made = runner_of(*args, **kwargs)
            made.sink = recording
            return made
        mine.runner = runner  # type: ignore[method-assign]
        ask = self._asker(key, host.prepared.inputs.mask)
        mine.prepared = dataclasses.replace(host.prepared, options=dataclasses.replace(options, env=env, ask=ask))
        return mine

    async def _beating(self, work: Callable[[threading.Event], Any], recording: Recording | None = None) -> Any:
        """`work(cancel)` in a thread, heartbeating until it returns; a cancelled activity cancels the step.
        With a `recording`, every heartbeat carries its newest events, sent soon after they come."""
        cancel = threading.Event()
        task = asyncio.ensure_future(asyncio.to_thread(work, cancel))
        sent, beat = -1, 0.0
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=LIVE_EVERY if recording else HEARTBEAT_EVERY)
                if done:
                    return task.result()
                now = time.monotonic()
                if recording is None:
                    activity.heartbeat()
                elif recording.count != sent or now - beat >= HEARTBEAT_EVERY:
                    # A heartbeat's details replace the last ones on the server: every beat carries them.
                    sent, beat = recording.count, now
                    activity.heartbeat(recording.details())
        except asyncio.CancelledError:
            cancel.set()
            await asyncio.shield(task)
            raise

    @activity.defn(name="playbook.plan")
    async def plan(self, request: dict) -> dict:
        return await self._beating(lambda cancel: self._host(request).plan())

    @activity.defn(name="playbook.gate")
    async def gate(self, request: dict, key: str, frames: dict, answer: bool | None = None) -> dict:
        results = (await self._state())["results"]
        return await self._beating(lambda cancel: self._host(request).gate(key, results, frames, answer))

    @activity.defn(name="playbook.step")
    async def step(self, request: dict, key: str) -> dict:
        results = (await self._state())["results"]
        host = self._attempt(request, key)
        done = await self._beating(lambda cancel: host.execute(key, results, cancel), host.recording)
        return bounded(done, host.recording, spent(results))

    @activity.defn(name="playbook.undo")
    async def undo(self, request: dict, key: str) -> dict:
        state = await self._state()
        host = self._attempt(request, key, "undo")
        results = state["results"]
        undone = await self._beating(lambda cancel: host.undo(key, results, state["started"], cancel), host.recording)
        # The result replaces the step's (the workflow keeps the step's own events beside the compensation's):
        # what `show` and progress print of it is masked, as a step's is.
        result = undone["result"]
        result["shown"] = host.prepared.inputs.mask((result.get("outcome") or {}).get("message") or "")
        result["kept"] = (results.get(key) or {}).get("kept") or 0
        bounded(result, host.recording, spent(results), field="rollback_events", cut=False)
        return undone

    def all(self) -> list:
        return [self.plan, self.gate, self.step, self.undo]
