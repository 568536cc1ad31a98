"""How long the change will take on the real cluster: readiness times read from the snapshot's pods, the
rollouts the rehearsal saw, and the rehearsal's own wall time.

The emulator makes pods Ready after a short fixed delay; a real pod takes what its image pull, start-up and
readiness probe take, which the snapshot records (``PodScheduled`` to ``Ready``). Each rollout the rehearsal
saw (a Deployment, StatefulSet or DaemonSet from its first unfinished status to its finished one) is
re-timed as
``batches x readiness``; rollouts that overlapped in the rehearsal overlap in the estimate too. The estimate
is the rehearsal's wall time with those spans replaced by their re-timed length; everything else (waits,
soaks, tool runs) counts as it ran.
"""
from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .checks import rollout_batches
from .view import ClusterView, Workload

DEFAULT_READY_S = 10.0
# A Ready transition this long after scheduling is a later flap (a restart, a failed probe), not start-up.
_MAX_PLAUSIBLE_S = 1800.0


def _time(ts: Any) -> float | None:
    if not ts:
        return None
    try:
        return dt.datetime.strptime(str(ts), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        return None


def pod_ready_seconds(pod: dict) -> float | None:
    """Seconds from being scheduled (or started) to Ready, as the pod's conditions record; None if unknown."""
    status = pod.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conds.get("Ready") or {}
    if ready.get("status") != "True":
        return None
    end = _time(ready.get("lastTransitionTime"))
    start = _time((conds.get("PodScheduled") or {}).get("lastTransitionTime")) or _time(status.get("startTime"))
    if end is None or start is None or not 0 <= end - start <= _MAX_PLAUSIBLE_S:
        return None
    return end - start


@dataclass
class Readiness:
    """Median readiness per workload (and per ``app`` label), with the cluster's median as the fallback."""

    by_workload: dict[Workload, float] = field(default_factory=dict)
    by_app: dict[tuple[str, str], float] = field(default_factory=dict)
    cluster: float | None = None

    @classmethod
    def from_view(cls, view: ClusterView) -> "Readiness":
        per: dict[Workload, list[float]] = {}
        apps: dict[tuple[str, str], list[float]] = {}
        for pod in view.pods():
            s = pod_ready_seconds(pod)
            if s is None:
                continue
            w = view.owner_of(pod)
            per.setdefault(w, []).append(s)
            app = (pod["metadata"].get("labels") or {}).get("app")
            if app:
                apps.setdefault((w.namespace, app), []).append(s)
        every = [s for v in per.values() for s in v]
        return cls({w: statistics.median(v) for w, v in per.items()},
                   {k: statistics.median(v) for k, v in apps.items()},
                   statistics.median(every) if every else None)

    def of(self, workload: Workload, app: str | None = None) -> tuple[float, str]:
        """(seconds, where the figure comes from)."""
        if workload in self.by_workload:
            return self.by_workload[workload], "its pods in the snapshot"
        if app and (workload.namespace, app) in self.by_app:
            return self.by_app[(workload.namespace, app)], f"pods labelled app={app} in the snapshot"
        if self.cluster is not None:
            return self.cluster, "the cluster's median in the snapshot"
        return DEFAULT_READY_S, "no readiness in the snapshot: a default"


@dataclass
class Rollout:
    """One rollout the rehearsal saw: a Deployment, StatefulSet or DaemonSet from unfinished to finished."""

    workload: Workload
    start: float
    end: float | None
    batches: int
    app: str | None
    created: bool  # a new Deployment (its first rollout: one batch)


_TEMPLATED = {"deployments.apps", "statefulsets.apps", "daemonsets.apps"}


class RolloutRecorder:
    """Subscribed to the emulator's store: each rollout's start and end (wall clock), and every workload whose
    pod template changed (restarted) or bare pod deleted during the run."""

    def __init__(self) -> None:
        self.rollouts: list[Rollout] = []
        self.restarted: set[Workload] = set()
        self._open: dict[Workload, Rollout] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        meta = obj["metadata"]
        if key == "pods" and kind == "DELETED" and not meta.get("ownerReferences"):
            self.restarted.add(Workload("Pod", meta.get("namespace", ""), meta["name"]))
        if key not in _TEMPLATED or kind == "DELETED":
            return
        w = Workload(str(obj.get("kind")), meta.get("namespace", ""), meta["name"])
        if kind == "MODIFIED" and old is not None and \
                (old.get("spec") or {}).get("template") != (obj.get("spec") or {}).get("template"):
            self.restarted.add(w)
        spec = obj.get("spec") or {}
        done = rollout_done(key, obj)
        now = time.time()
        with self._lock:
            current = self._open.get(w)
            if not done and current is None:
                app = ((spec.get("template") or {}).get("metadata", {}).get("labels") or {}).get("app")
                nodes = int((obj.get("status") or {}).get("desiredNumberScheduled") or 1)
                batches = 1 if kind == "ADDED" and key == "deployments.apps" else rollout_batches(spec, key, nodes)
                r = Rollout(w, now, None, batches, app, kind == "ADDED")
                self._open[w] = r
                self.rollouts.append(r)
            elif done and current is not None:
                current.end = now
                del self._open[w]


def rollout_done(key: str, obj: dict) -> bool:
    """Whether a Deployment, StatefulSet or DaemonSet has finished rolling out, as its status says."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 1)):
        return False
    if key == "daemonsets.apps":
        want = int(status.get("desiredNumberScheduled", 0))
        return int(status.get("updatedNumberScheduled", 0)) == want and int(status.get("numberReady", 0)) == want
    replicas = int(spec.get("replicas", 1))
    done = (int(status.get("updatedReplicas", 0)) == replicas and int(status.get("readyReplicas", 0)) == replicas
            and int(status.get("replicas", 0)) == replicas)
    if key == "statefulsets.apps" and status.get("updateRevision"):
        done = done and status.get("currentRevision") == status["updateRevision"]
    return done


@dataclass
class Estimate:
    """The duration estimate and how it was made."""

    rehearsal_s: float
    estimate_s: float
    rollouts: list[dict]

    def as_dict(self) -> dict:
        return {"rehearsal_seconds": round(self.rehearsal_s, 2), "estimate_seconds": round(self.estimate_s, 1),
                "rollouts": self.rollouts}


def estimate(wall_s: float, rollouts: list[Rollout], readiness: Readiness, run_end: float) -> Estimate:
    """Re-time the rehearsal's rollouts with real readiness; overlapping rollouts stay overlapped."""
    rows = []
    spans: list[tuple[float, float, float]] = []  # (start, end, estimated length)
    for r in sorted(rollouts, key=lambda r: r.start):
        end = r.end if r.end is not None else run_end
        ready, source = readiness.of(r.workload, r.app)
        est = r.batches * ready
        rows.append({"workload": str(r.workload), "batches": r.batches, "ready_seconds": round(ready, 1),
                     "readiness_from": source, "rehearsal_seconds": round(end - r.start, 2),
                     "estimate_seconds": round(est, 1), "finished": r.end is not None})
        spans.append((r.start, end, est))
    total = wall_s
    group: list[tuple[float, float, float]] = []
    for span in spans + [(float("inf"), float("inf"), 0.0)]:
        if group and span[0] > max(e for _, e, _ in group):
            total += max(x for _, _, x in group) - (max(e for _, e, _ in group) - min(s for s, _, _ in group))
            group = []
        group.append(span)
    return Estimate(wall_s, max(total, 0.0), rows)
