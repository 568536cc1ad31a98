"""Jobs and CronJobs: the API server's Job defaulting (selector and labels by controller uid), the Job
controller (up to ``parallelism`` pods until ``completions`` succeeded, then the Complete condition), the
kubelet's part for batch pods (a Ready pod runs for ``emulator.playbook.dev/run-seconds`` from its template's
annotations, 10 s by default, then Succeeded), and the CronJob controller (a Job ``<name>-<minutes>`` each
time the five-field schedule fires; ``emulator.playbook.dev/start-now: "true"`` also starts one at creation).
"""
from __future__ import annotations

import asyncio
import calendar
import time
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .injection import pod_is_ready
from .podsets import PodSetController, alive, copy_json, owner_ref, owned_by
from .store import now_iso

if TYPE_CHECKING:
    from .api import Api
    from .resources import ResourceType

JOB, CRONJOB = "jobs.batch", "cronjobs.batch"
RUN_SECONDS = "emulator.playbook.dev/run-seconds"
START_NOW = "emulator.playbook.dev/start-now"
DEFAULT_RUN_SECONDS = 10.0
_TERMINAL = ("Succeeded", "Failed")


def admit_job(api: "Api", rt: "ResourceType", obj: dict) -> None:
    """Create-time defaults of a Job: the selector and pod labels that tie its pods to its uid."""
    if rt.key == CRONJOB:
        spec = obj.setdefault("spec", {})
        for k, v in (("concurrencyPolicy", "Allow"), ("suspend", False), ("successfulJobsHistoryLimit", 3),
                     ("failedJobsHistoryLimit", 1)):
            spec.setdefault(k, v)
        return
    if rt.key != JOB:
        return
    spec = obj.setdefault("spec", {})
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    if not spec.get("manualSelector"):
        labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                  "controller-uid": uid, "job-name": name}
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        meta = spec.setdefault("template", {}).setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("completions") is None and spec["parallelism"] == 1:
        spec["completions"] = 1
    for k, v in (("backoffLimit", 6), ("completionMode", "NonIndexed"), ("suspend", False),
                 ("podReplacementPolicy", "TerminatingOrFailed")):
        spec.setdefault(k, v)
    pod_spec = spec.setdefault("template", {}).setdefault("spec", {})
    if pod_spec.get("restartPolicy", "Always") not in ("Never", "OnFailure"):
        raise ApiError(422, "Invalid", f'Job.batch "{name}" is invalid: spec.template.spec.restartPolicy: '
                                       f'Required value: valid values: "OnFailure", "Never"')


def run_seconds(pod: dict) -> float:
    value = (pod["metadata"].get("annotations") or {}).get(RUN_SECONDS)
    try:
        return float(value) if value is not None else DEFAULT_RUN_SECONDS
    except ValueError:
        return DEFAULT_RUN_SECONDS


class JobController(PodSetController):
    key, kind, component = JOB, "Job", "job-controller"

    def __init__(self, api: "Api") -> None:
        super().__init__(api)
        self._finishing: set[str] = set()  # uids of pods whose end is scheduled

    def sync_one(self, job: dict) -> None:
        spec = job["spec"]
        status = dict(job.get("status") or {})
        pods = self.pods_of(job)
        for pod in pods:
            self._schedule_end(pod)
        active = [p for p in pods if p.get("status", {}).get("phase") not in _TERMINAL]
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        completions = spec.get("completions")
        done = completions is not None and succeeded >= int(completions) or (
            completions is None and succeeded > 0 and not active)
        if not done and not spec.get("suspend"):
            room = int(spec.get("parallelism", 1)) - len(active)
            if completions is not None:
                room = min(room, int(completions) - succeeded - len(active))
            for _ in range(max(0, room)):
                pod = self.create_pod(job, spec["template"], generate=f"{job['metadata']['name']}-")
                if pod is None:
                    break
                active.append(pod)
        t = now_iso()
        status.setdefault("startTime", t)
        status.update({"active": len(active), "ready": sum(1 for p in active if pod_is_ready(p)),
                       "succeeded": succeeded, "failed": failed, "uncountedTerminatedPods": {}})
        if done and not any(c.get("type") == "Complete" for c in status.get("conditions") or []):
            status["completionTime"] = t
            status["conditions"] = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": t,
                 "lastTransitionTime": t},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": t,
                 "lastTransitionTime": t}]
            self.event(job, "Completed", "Job completed")
        self.write_status(job, {k: v for k, v in status.items() if v or k in ("ready", "uncountedTerminatedPods")})

    def _schedule_end(self, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        if uid in self._finishing or not pod_is_ready(pod) or self._loop is None:
            return
        self._finishing.add(uid)
        self._loop.call_later(run_seconds(pod), self._finish, pod["metadata"]["namespace"],
                              pod["metadata"]["name"], uid)

    def _finish(self, ns: str, name: str, uid: str) -> None:
        """The kubelet's part: the pod's containers exited 0."""
        self._finishing.discard(uid)
        pod = self.store.get("pods", ns, name)
        if pod is None or pod["metadata"]["uid"] != uid or not alive(pod):
            return
        t = now_iso()
        status = copy_json(pod.get("status") or {})
        status["phase"] = "Succeeded"
        for cond in status.get("conditions") or []:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond.update(status="False", reason="PodCompleted", lastTransitionTime=t)
        for c in status.get("containerStatuses") or []:
            started = ((c.get("state") or {}).get("running") or {}).get("startedAt", t)
            c.update(ready=False, started=False, state={"terminated": {
                "exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": t}})
        self.store.put("pods", {**pod, "metadata": dict(pod["metadata"]), "status": status})


# -- CronJobs ---------------------------------------------------------------------------------------------

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}


def parse_schedule(text: str) -> list[set[int]]:
    """The five fields of a cron schedule as sets of allowed values (``*``, ``*/n``, ``a-b``, ``a,b``)."""
    fields = _MACROS.get(text.strip(), text).split()
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: {text}")
    out = []
    for field, (lo, hi) in zip(fields, _RANGES):
        allowed: set[int] = set()
        for part in field.split(","):
            base, _, step = part.partition("/")
            if base in ("*", "?"):
                start, end = lo, hi
            elif "-" in base:
                start, end = (int(x) for x in base.split("-", 1))
            else:
                start = end = int(base)
                if step:
                    end = hi
            allowed.update(range(start, end + 1, int(step) if step else 1))
        out.append({7 % 7 if v == 7 and (lo, hi) == (0, 6) else v for v in allowed})
    return out


def fires_at(fields: list[set[int]], t: float) -> bool:
    tm = time.gmtime(t)
    return (tm.tm_min in fields[0] and tm.tm_hour in fields[1] and tm.tm_mday in fields[2]
            and tm.tm_mon in fields[3] and (tm.tm_wday + 1) % 7 in fields[4])


def _epoch(ts: str) -> float:
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


class CronJobController:
    """Starts a CronJob's Jobs when its schedule fires (checked every ``tick`` seconds)."""

    def __init__(self, api: "Api", tick: float = 1.0) -> None:
        self.api, self.store, self.tick = api, api.store, tick
        self._task: asyncio.Task | None = None
        self.store.subscribe(self._on_change)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._task = loop.create_task(self._ticker())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            for cj in self.store.list(CRONJOB):
                try:
                    self.sync(cj)
                except (ApiError, ValueError):
                    continue  # a schedule that does not parse starts nothing, as in a real cluster

    def _on_change(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        if key == CRONJOB and kind == "ADDED" and \
                (obj["metadata"].get("annotations") or {}).get(START_NOW) == "true":
            self.start_job(obj, time.time())

    def sync(self, cj: dict) -> None:
        spec = cj["spec"]
        status = cj.get("status") or {}
        if spec.get("suspend"):
            return
        fields = parse_schedule(spec["schedule"])
        last = _epoch(status.get("lastScheduleTime") or cj["metadata"]["creationTimestamp"])
        now = time.time()
        minute = (int(last) // 60 + 1) * 60
        due = None
        while minute <= now and minute - last < 86400 * 2:
            if fires_at(fields, minute):
                due = minute
            minute += 60
        if due is not None:
            self.start_job(cj, due)

    def start_job(self, cj: dict, scheduled: float) -> None:
        ns, name = cj["metadata"]["namespace"], cj["metadata"]["name"]
        jobs = [j for j in self.store.list(JOB, ns) if owned_by(j, cj["metadata"]["uid"])]
        running = [j for j in jobs if not any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                                              for c in (j.get("status") or {}).get("conditions") or [])]
        if running and cj["spec"].get("concurrencyPolicy") == "Forbid":
            return
        rt = self.api.registry.by_key(JOB)
        if running and cj["spec"].get("concurrencyPolicy") == "Replace":
            for j in running:
                self.api.delete(rt, ns, j["metadata"]["name"])
        template = copy_json(cj["spec"].get("jobTemplate") or {})
        meta = template.get("metadata") or {}
        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(scheduled))
        body = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {**meta, "name": f"{name}-{int(scheduled) // 60}", "namespace": ns,
                             "annotations": {**(meta.get("annotations") or {}),
                                             "batch.kubernetes.io/cronjob-scheduled-timestamp": t},
                             "ownerReferences": [owner_ref(cj)]},
                "spec": template.get("spec") or {}}
        try:
            job = self.api.create(rt, ns, body)
        except ApiError:
            return  # this minute's Job exists already
        active = [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"], "namespace": ns,
                   "uid": job["metadata"]["uid"], "resourceVersion": job["metadata"]["resourceVersion"]}]
        cj = self.store.get(CRONJOB, ns, name) or cj
        status: dict[str, Any] = {**(cj.get("status") or {}), "lastScheduleTime": t, "active": active}
        self.api.update_status(self.api.registry.by_key(CRONJOB), {**cj, "status": status})
