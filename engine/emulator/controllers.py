"""The controllers that make the store behave like a cluster: Deployment -> ReplicaSet (rolling updates with
maxSurge/maxUnavailable, progress deadlines, status and conditions as kube-controller-manager writes them),
ReplicaSet -> Pods, and the kubelet's part (pods scheduled at once, Ready after a delay unless a fault says
never).

Work is event-driven: store changes mark owners dirty and one pass on the event loop reconciles them;
a periodic tick retries failed pod creates and checks progress deadlines.
"""
from __future__ import annotations

import asyncio
import calendar
import hashlib
import json
import math
import time
import traceback
from typing import TYPE_CHECKING, Any

from . import events
from . import istio_objects as io
from .errors import ApiError
from .injection import pod_is_ready
from .store import now_iso

if TYPE_CHECKING:
    from .api import Api
    from .faults import Faults

DEPLOY, RS, POD = "deployments.apps", "replicasets.apps", "pods"
HASH_LABEL = "pod-template-hash"
REVISION_ANN = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict) -> str:
    """A stable pod-template-hash in Kubernetes' alphabet (what names ReplicaSets ``app-5d8f7c9b6``)."""
    t = json.loads(json.dumps(template))
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    n = int(hashlib.sha256(json.dumps(t, sort_keys=True).encode()).hexdigest()[:16], 16)
    out = ""
    for _ in range(10):
        n, r = divmod(n, len(_SAFE))
        out += _SAFE[r]
    return out.rstrip("b")[:10] or "b"


def resolve_percent(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percent field of a rolling update, as ``intstr.GetScaledValueFromIntOrPercent``."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = float(value[:-1]) * total / 100.0
        return int(math.ceil(scaled) if round_up else math.floor(scaled))
    return int(value)


def _owned_by(obj: dict, uid: str) -> bool:
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def _owner_ref(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _strip_hash(template: dict) -> dict:
    t = json.loads(json.dumps(template))
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


class Controllers:
    """Deployment, ReplicaSet and pod-lifecycle reconciliation for one emulated cluster."""

    def __init__(self, api: "Api", faults: "Faults", *, readiness_delay: float = 0.3, tick: float = 0.2) -> None:
        self.api, self.store, self.faults = api, api.store, faults
        self.readiness_delay = readiness_delay
        self.tick = tick
        self.ready_at_once = False  # while loading the starting cluster: pods are Ready when created
        self._dirty_deploy: set[tuple[str, str]] = set()
        self._dirty_rs: set[tuple[str, str]] = set()
        self._pending_pods: dict[tuple[str, str], float] = {}  # pod -> monotonic time it may become Ready
        self._progress: dict[str, float] = {}  # deployment uid -> monotonic time of last progress
        self._ready_at: dict[str, float] = {}  # pod uid -> wall time it became Ready
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._node_index = 0
        self._quiet_at: str | None = None  # the store's resourceVersion when a periodic scan last found nothing to do
        self.store.subscribe(self._on_change)

    # -- wiring ------------------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._task = loop.create_task(self._ticker())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def _on_change(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        if key == DEPLOY:
            self._dirty_deploy.add((ns, meta["name"]))
        elif key in (RS, POD):
            if key == RS:
                self._dirty_rs.add((ns, meta["name"]))
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "ReplicaSet":
                    self._dirty_rs.add((ns, ref["name"]))
                elif ref.get("kind") == "Deployment":
                    self._dirty_deploy.add((ns, ref["name"]))
            if key == POD and kind == "ADDED":
                self._pod_created(obj)
            if key == POD and kind == "DELETED":
                self._pending_pods.pop((ns, meta["name"]), None)
                self._ready_at.pop(meta.get("uid", ""), None)
        else:
            return
        self._schedule()

    def _schedule(self) -> None:
        if self._loop is not None and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.reconcile)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                self.periodic()
            except Exception:  # a controller bug must not stop the cluster; the next tick retries
                traceback.print_exc()

    def periodic(self) -> None:
        """Ready pods whose delay passed, retry short ReplicaSets, re-check deadlines."""
        now = time.monotonic()
        self.api.reap()
        for (ns, name), due in list(self._pending_pods.items()):
            if due <= now:
                self._make_ready(ns, name)
        version = self.store.resource_version
        if version == self._quiet_at:
            return  # nothing changed since a scan found every ReplicaSet and Deployment settled: it would again
        # One pass over the pods, not one listing of a namespace per ReplicaSet: this runs five times a second
        # and a large cluster has thousands of ReplicaSets.
        live: dict[str, int] = {}
        for pod in self.store.each(POD):
            if not pod["metadata"].get("deletionTimestamp"):
                for ref in pod["metadata"].get("ownerReferences") or []:
                    live[ref.get("uid")] = live.get(ref.get("uid"), 0) + 1
        found = False
        for rs in self.store.each(RS):
            st = rs.get("status") or {}
            if live.get(rs["metadata"]["uid"], 0) != rs["spec"].get("replicas", 0) or \
                    st.get("readyReplicas", 0) != st.get("availableReplicas", 0):  # minReadySeconds running
                self._dirty_rs.add((rs["metadata"]["namespace"], rs["metadata"]["name"]))
                found = True
        for d in self.store.each(DEPLOY):
            if not _settled(d):  # only rollouts in flight have deadlines to check
                self._dirty_deploy.add((d["metadata"]["namespace"], d["metadata"]["name"]))
                found = True
        self.reconcile()
        # What the scan reads is the store's state alone, so until the store changes it would find nothing again.
        self._quiet_at = version if not found and self.store.resource_version == version else None

    def reconcile(self) -> None:
        """Drain the dirty sets (bounded, so a flapping object cannot wedge the loop)."""
        self._scheduled = False
        for _ in range(100):
            if not (self._dirty_deploy or self._dirty_rs):
                return
            while self._dirty_deploy:
                self.sync_deployment(*self._dirty_deploy.pop())
            while self._dirty_rs:
                self.sync_replicaset(*self._dirty_rs.pop())

    def settle(self) -> None:
        """Run to a fixed point with every pending pod made Ready now (used to load a starting cluster)."""
        self.reconcile()
        for _ in range(50):
            pending = list(self._pending_pods)
            for ns, name in pending:
                self._make_ready(ns, name)
            self.reconcile()
            if not self._pending_pods or set(self._pending_pods) == set(pending):
                break

    # -- pods (scheduler + kubelet) ----------------------------------------------------------------------
    def schedule_pod(self, api: "Api", rt: Any, pod: dict) -> None:
        """Admission-time scheduling: a node, IPs and the Pending status a freshly bound pod shows."""
        if rt.key != POD or pod["spec"].get("nodeName"):
            return
        nodes = [n["metadata"]["name"] for n in self.store.list("nodes")
                 if "node-role.kubernetes.io/control-plane" not in (n["metadata"].get("labels") or {})] or \
                [n["metadata"]["name"] for n in self.store.list("nodes")]
        pinned = _pinned_node(pod)
        if pinned is not None:  # a DaemonSet's pod names its node by affinity
            nodes = [pinned]
        if not nodes:
            return
        self._node_index += 1
        node = nodes[self._node_index % len(nodes)]
        pod["spec"]["nodeName"] = node
        n = self._node_index
        host_ip = f"172.18.0.{2 + (self._node_index % len(nodes))}"
        t = now_iso()
        pod_ip = f"10.244.{(n // 250) % 250}.{n % 250 + 2}"
        unready = f"containers with unready status: [{' '.join(c['name'] for c in pod['spec']['containers'])}]"
        pod["status"] = {
            "phase": "Pending", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "qosClass": "Burstable" if any(c.get("resources") for c in pod["spec"]["containers"]) else "BestEffort",
            "startTime": t,
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": None,
                 "lastTransitionTime": t},
                {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": t},
                {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": t,
                 "reason": "ContainersNotReady",
                 "message": unready},
                {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": t,
                 "reason": "ContainersNotReady",
                 "message": unready},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": t}],
            "containerStatuses": [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False, "restartCount": 0,
                 "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
                for c in pod["spec"]["containers"]],
        }
        if pod["spec"].get("initContainers"):
            pod["status"]["initContainerStatuses"] = [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
                 "started": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                            "startedAt": t, "finishedAt": t}}, "lastState": {}}
                for c in pod["spec"]["initContainers"]]

    def _pod_created(self, pod: dict) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        delay = 0.0 if self.ready_at_once else self._delay_for(pod)
        self._pending_pods[key] = time.monotonic() + delay
        if self._loop is not None and not self.ready_at_once:
            # A timer of its own, so readiness takes the delay and not the delay rounded up to a tick.
            self._loop.call_later(max(delay, 0.0), self._make_ready, *key)
        if pod["spec"].get("nodeName"):
            events.record(self.store, pod, "Normal", "Scheduled",
                          f"Successfully assigned {meta['namespace']}/{meta['name']} to {pod['spec']['nodeName']}",
                          "default-scheduler")

    def _delay_for(self, pod: dict) -> float:
        ann = (pod["metadata"].get("annotations") or {}).get("emulator.playbook.dev/readiness-delay")
        try:
            return float(ann) if ann is not None else self.readiness_delay
        except ValueError:
            return self.readiness_delay

    def _blocked(self, pod: dict) -> str | None:
        """Why a fault keeps this pod from becoming Ready, or None."""
        labels = pod["metadata"].get("labels") or {}
        if labels.get("app") == "istiod" and self.faults.istiod_never_ready(labels.get(io.REV_LABEL, "default")):
            return "istiod never ready (fault)"
        owner = self._workload_of_pod(pod)
        if owner and self.faults.rollout_stuck(pod["metadata"]["namespace"], owner[1], owner[0]):
            return "stuck rollout (fault)"
        return None

    def _workload_of_pod(self, pod: dict) -> tuple[str, str] | None:
        """(kind in lower case, name) of the workload behind a pod: a ReplicaSet's owner, or its own owner."""
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "ReplicaSet":
                rs = self.store.get(RS, pod["metadata"]["namespace"], ref["name"])
                if rs is not None:
                    for r in rs["metadata"].get("ownerReferences") or []:
                        if r.get("kind") in ("Deployment", "Rollout"):
                            return r["kind"].lower(), r["name"]
            elif ref.get("kind") in ("StatefulSet", "DaemonSet"):
                return ref["kind"].lower(), ref["name"]
        return None

    def _make_ready(self, ns: str, name: str) -> None:
        pod = self.store.get(POD, ns, name)
        if pod is None:
            self._pending_pods.pop((ns, name), None)
            return
        if (ns, name) not in self._pending_pods:
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._pending_pods.pop((ns, name), None)
            return  # a terminating pod never becomes Ready
        # The starting cluster is healthy: faults act on what happens after it is loaded.
        blocked = None if self.ready_at_once else self._blocked(pod)
        t = now_iso()
        status = json.loads(json.dumps(pod.get("status") or {}))
        ready = blocked is None
        status["phase"] = "Running"
        names = [c["name"] for c in pod["spec"]["containers"]]
        for c in status.get("containerStatuses") or []:
            c.update({"ready": ready, "started": True, "state": {"running": {"startedAt": t}},
                      "imageID": f"{c['image'].split(':')[0]}@sha256:{hashlib.sha256(c['image'].encode()).hexdigest()}",
                      "containerID": f"containerd://{hashlib.sha256((name + c['name']).encode()).hexdigest()}"})
        for cond in status.get("conditions") or []:
            if cond["type"] == "PodReadyToStartContainers":
                cond.update(status="True", lastTransitionTime=t)
            if cond["type"] in ("Ready", "ContainersReady") and ready:
                cond.update(status="True", lastTransitionTime=t)
                cond.pop("reason", None)
                cond.pop("message", None)
        new = {**pod, "metadata": dict(pod["metadata"]), "status": status}
        self._pending_pods.pop((ns, name), None)
        if ready:
            self._ready_at[pod["metadata"]["uid"]] = time.time()
        self.store.put(POD, new)
        for c in names:
            events.record(self.store, new, "Normal", "Started", f"Started container {c}", "kubelet")
        if blocked:
            # Keep probing, as the kubelet does: if the fault goes away the pod becomes Ready.
            self._pending_pods[(ns, name)] = time.monotonic() + max(self.readiness_delay, self.tick)
            events.record(self.store, new, "Warning", "Unhealthy",
                          "Readiness probe failed: HTTP probe failed with statuscode: 503", "kubelet")

    # -- replicasets -------------------------------------------------------------------------------------
    def _is_available(self, pod: dict, min_ready_seconds: int = 0) -> bool:
        """Ready for at least ``minReadySeconds`` (timed from when this controller made it Ready)."""
        if not pod_is_ready(pod):
            return False
        if not min_ready_seconds:
            return True
        since = self._ready_at.get(pod["metadata"]["uid"])
        if since is None:  # Ready before we watched it (the starting cluster): the condition's timestamp
            cond = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
            since = _ts(cond["lastTransitionTime"])
        return since + float(min_ready_seconds) <= time.time()

    def _pods_of(self, rs: dict, *, terminating: bool = False) -> list[dict]:
        """A ReplicaSet's pods; terminating ones count only when asked (as the controller's active pods)."""
        uid = rs["metadata"]["uid"]
        return [p for p in self.store.list(POD, rs["metadata"]["namespace"]) if _owned_by(p, uid)
                and (terminating or not p["metadata"].get("deletionTimestamp"))]

    def sync_replicaset(self, ns: str, name: str) -> None:
        rs = self.store.get(RS, ns, name)
        if rs is None:
            return
        pods = self._pods_of(rs)
        want = int(rs["spec"].get("replicas", 0))
        pod_rt = self.api.registry.by_key(POD)
        if len(pods) < want:
            template = rs["spec"]["template"]
            for _ in range(want - len(pods)):
                body = {"metadata": {**json.loads(json.dumps(template.get("metadata") or {})),
                                     "generateName": f"{name}-", "namespace": ns,
                                     "ownerReferences": [_owner_ref(rs)]},
                        "spec": json.loads(json.dumps(template.get("spec") or {}))}
                try:
                    created = self.api.create(pod_rt, ns, body)
                except ApiError as exc:
                    events.record(self.store, rs, "Warning", "FailedCreate", f"Error creating: {exc.message}",
                                  "replicaset-controller")
                    break
                pods.append(created)
                events.record(self.store, rs, "Normal", "SuccessfulCreate",
                              f"Created pod: {created['metadata']['name']}", "replicaset-controller")
        elif len(pods) > want:
            # Not-ready pods go first, then the newest (the ReplicaSet controller's ranking, simplified).
            victims = sorted(pods, key=lambda p: (pod_is_ready(p), -_ts(p["metadata"]["creationTimestamp"]),
                                                  p["metadata"]["name"]))
            for pod in victims[: len(pods) - want]:
                self.api.delete(pod_rt, ns, pod["metadata"]["name"])
                pods.remove(pod)
                events.record(self.store, rs, "Normal", "SuccessfulDelete",
                              f"Deleted pod: {pod['metadata']['name']}", "replicaset-controller")
        ready = sum(1 for p in pods if pod_is_ready(p))
        available = sum(1 for p in pods if self._is_available(p, rs["spec"].get("minReadySeconds", 0)))
        status: dict[str, Any] = {"replicas": len(pods)}
        if pods:
            status["fullyLabeledReplicas"] = len(pods)
        if ready:
            status["readyReplicas"] = ready
        if available:
            status["availableReplicas"] = available
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        self.api.update_status(self.api.registry.by_key(RS), {**rs, "status": status})

    # -- deployments -------------------------------------------------------------------------------------
    def sync_deployment(self, ns: str, name: str) -> None:
        d = self.store.get(DEPLOY, ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        rs_rt = self.api.registry.by_key(RS)
        uid = d["metadata"]["uid"]
        spec = d["spec"]
        rss = [rs for rs in self.store.list(RS, ns) if _owned_by(rs, uid)]
        template = _strip_hash(spec["template"])
        new_rs = next((rs for rs in rss if _strip_hash(rs["spec"]["template"]) == template), None)
        old_rss = sorted([rs for rs in rss if rs is not new_rs], key=lambda r: r["metadata"]["creationTimestamp"])
        max_rev = max([int(rs["metadata"].get("annotations", {}).get(REVISION_ANN, 0)) for rs in rss] or [0])
        desired = int(spec.get("replicas", 1))
        created_new = False
        if spec.get("paused"):
            self._write_status(d, new_rs, rss, created_new=False)
            return
        if new_rs is None:
            h = template_hash(template)
            tmpl = json.loads(json.dumps(spec["template"]))
            tmpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
            selector = json.loads(json.dumps(spec["selector"]))
            selector.setdefault("matchLabels", {})[HASH_LABEL] = h
            surge = self._surge_unavailable(d)[0]
            has_old = any(rs["spec"].get("replicas", 0) for rs in old_rss)
            start = 0 if has_old or spec["strategy"]["type"] == "Recreate" else desired
            if has_old and spec["strategy"]["type"] == "RollingUpdate":
                total = sum(rs["spec"].get("replicas", 0) for rs in old_rss)
                start = max(0, min(desired, desired + surge - total))
            body = {"metadata": {"name": f"{name}-{h}", "namespace": ns,
                                 "labels": dict(tmpl["metadata"]["labels"]),
                                 "annotations": {"deployment.kubernetes.io/desired-replicas": str(desired),
                                                 "deployment.kubernetes.io/max-replicas": str(desired + surge),
                                                 REVISION_ANN: str(max_rev + 1)},
                                 "ownerReferences": [_owner_ref(d)]},
                    "spec": {"replicas": start, "minReadySeconds": spec.get("minReadySeconds", 0),
                             "selector": selector, "template": tmpl}}
            try:
                new_rs = self.api.create(rs_rt, ns, body)
            except ApiError:
                new_rs = self.store.get(RS, ns, f"{name}-{h}")
                if new_rs is None:
                    return
            else:
                created_new = True
                self._progress[uid] = time.monotonic()
                if start:
                    events.record(self.store, d, "Normal", "ScalingReplicaSet",
                                  f"Scaled up replica set {new_rs['metadata']['name']} from 0 to {start}",
                                  "deployment-controller")
            self.sync_replicaset(ns, new_rs["metadata"]["name"])
        elif int(new_rs["metadata"].get("annotations", {}).get(REVISION_ANN, 0)) < max_rev:
            # Rolling back to an older template makes its ReplicaSet the newest revision again.
            ann = {**new_rs["metadata"].get("annotations", {}), REVISION_ANN: str(max_rev + 1)}
            new_rs = self.store.put(RS, {**new_rs, "metadata": {**new_rs["metadata"], "annotations": ann}})
            self._progress[uid] = time.monotonic()
        if spec["strategy"]["type"] == "Recreate":
            self._recreate(d, new_rs, old_rss, desired)
        else:
            self._rolling(d, new_rs, old_rss, desired)
        rss = [rs for rs in self.store.list(RS, ns) if _owned_by(rs, uid)]
        new_rs = self.store.get(RS, ns, new_rs["metadata"]["name"])
        self._cleanup_history(d, new_rs, rss)
        self._write_status(d, new_rs, rss, created_new)

    def _surge_unavailable(self, d: dict) -> tuple[int, int]:
        desired = int(d["spec"].get("replicas", 1))
        ru = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        surge = resolve_percent(ru.get("maxSurge", "25%"), desired, True)
        unavailable = resolve_percent(ru.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _scale(self, d: dict, rs: dict, replicas: int) -> dict:
        rs = self.store.get(RS, rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs
        before = int(rs["spec"].get("replicas", 0))
        if before == replicas:
            return rs
        rs_rt = self.api.registry.by_key(RS)
        new = self.api.replace(rs_rt, rs["metadata"]["namespace"], rs["metadata"]["name"],
                               {**rs, "spec": {**rs["spec"], "replicas": replicas}})
        verb = "up" if replicas > before else "down"
        events.record(self.store, d, "Normal", "ScalingReplicaSet",
                      f"Scaled {verb} replica set {rs['metadata']['name']} from {before} to {replicas}",
                      "deployment-controller")
        self._progress[d["metadata"]["uid"]] = time.monotonic()
        # Sync the ReplicaSet now so its pods and status are current before the next decision.
        self.sync_replicaset(rs["metadata"]["namespace"], rs["metadata"]["name"])
        return self.store.get(RS, rs["metadata"]["namespace"], rs["metadata"]["name"]) or new

    def _available(self, rs: dict) -> int:
        return sum(1 for p in self._pods_of(rs) if self._is_available(p, rs["spec"].get("minReadySeconds", 0)))

    def _rolling(self, d: dict, new_rs: dict, old_rss: list[dict], desired: int) -> None:
        surge, max_unavailable = self._surge_unavailable(d)
        all_rss = [new_rs] + old_rss
        new_replicas = int(new_rs["spec"].get("replicas", 0))
        # Scale the new ReplicaSet up as far as maxSurge allows.
        if new_replicas > desired:
            new_rs = self._scale(d, new_rs, desired)
        elif new_replicas < desired:
            current = sum(int(rs["spec"].get("replicas", 0)) for rs in all_rss)
            room = desired + surge - current
            if room > 0:
                new_rs = self._scale(d, new_rs, new_replicas + min(room, desired - new_replicas))
        # Scale old ReplicaSets down as far as maxUnavailable allows.
        old_rss = [self.store.get(RS, rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs for rs in old_rss]
        if not any(int(rs["spec"].get("replicas", 0)) for rs in old_rss):
            return
        all_pods = sum(int(rs["spec"].get("replicas", 0)) for rs in [new_rs] + old_rss)
        min_available = desired - max_unavailable
        new_unavailable = int(new_rs["spec"].get("replicas", 0)) - self._available(new_rs)
        budget = all_pods - min_available - new_unavailable
        if budget <= 0:
            return
        # First the old pods that are not available anyway, then healthy ones down to minAvailable.
        for rs in old_rss:
            if budget <= 0:
                break
            replicas = int(rs["spec"].get("replicas", 0))
            unhealthy = replicas - self._available(rs)
            n = min(unhealthy, budget)
            if n > 0:
                self._scale(d, rs, replicas - n)
                budget -= n
        old_rss = [self.store.get(RS, rs["metadata"]["namespace"], rs["metadata"]["name"]) or rs for rs in old_rss]
        available = sum(self._available(rs) for rs in [new_rs] + old_rss)
        budget = available - min_available
        for rs in old_rss:
            if budget <= 0:
                break
            replicas = int(rs["spec"].get("replicas", 0))
            n = min(replicas, budget)
            if n > 0:
                self._scale(d, rs, replicas - n)
                budget -= n

    def _recreate(self, d: dict, new_rs: dict, old_rss: list[dict], desired: int) -> None:
        for rs in old_rss:
            if int(rs["spec"].get("replicas", 0)):
                self._scale(d, rs, 0)
        if any(self._pods_of(rs, terminating=True) for rs in old_rss):
            return  # Recreate waits until every old pod is gone
        self._scale(d, new_rs, desired)

    def _cleanup_history(self, d: dict, new_rs: dict | None, rss: list[dict]) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        old = sorted([rs for rs in rss if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]],
                     key=lambda r: int(r["metadata"].get("annotations", {}).get(REVISION_ANN, 0)))
        idle = [rs for rs in old if not rs["spec"].get("replicas") and not self._pods_of(rs)]
        for rs in idle[: max(0, len(idle) - limit)]:
            self.api.delete(self.api.registry.by_key(RS), rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _write_status(self, d: dict, new_rs: dict | None, rss: list[dict], created_new: bool) -> None:
        d = self.store.get(DEPLOY, d["metadata"]["namespace"], d["metadata"]["name"]) or d
        desired = int(d["spec"].get("replicas", 1))
        pods_per_rs = {rs["metadata"]["uid"]: self._pods_of(rs) for rs in rss}
        replicas = sum(len(p) for p in pods_per_rs.values())
        ready = sum(1 for ps in pods_per_rs.values() for p in ps if pod_is_ready(p))
        min_ready = d["spec"].get("minReadySeconds", 0)
        available = sum(1 for ps in pods_per_rs.values() for p in ps if self._is_available(p, min_ready))
        updated = len(pods_per_rs.get(new_rs["metadata"]["uid"], [])) if new_rs else 0
        spec_total = sum(int(rs["spec"].get("replicas", 0)) for rs in rss)
        status: dict[str, Any] = {"observedGeneration": d["metadata"].get("generation", 1)}
        for k, v in (("replicas", replicas), ("updatedReplicas", updated), ("readyReplicas", ready),
                     ("availableReplicas", available), ("unavailableReplicas", max(0, spec_total - available))):
            if v:
                status[k] = v
        old_status = d.get("status") or {}
        conds = {c["type"]: c for c in old_status.get("conditions") or []}
        t = now_iso()
        _, max_unavailable = self._surge_unavailable(d)
        if d["spec"].get("strategy", {}).get("type") == "Recreate":
            max_unavailable = desired
        if available >= desired - max_unavailable:
            avail = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            avail = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        conds["Available"] = _condition(conds.get("Available"), "Available", *avail, t, touch=False)
        uid = d["metadata"]["uid"]
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        complete = (new_rs is not None and updated == desired and replicas == desired and available >= desired)
        prev = conds.get("Progressing")
        counts = {k: old_status.get(k, 0)
                  for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")}
        changed = counts != {k: status.get(k, 0) for k in counts}
        if created_new:
            prog = ("True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
            self._progress[uid] = time.monotonic()
        elif complete:
            prog = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
        else:
            last = self._progress.setdefault(uid, time.monotonic())
            if changed:
                self._progress[uid] = last = time.monotonic()
            deadline = d["spec"].get("progressDeadlineSeconds")
            if deadline is not None and time.monotonic() - last > float(deadline):
                prog = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.')
            elif prev and prev.get("reason") == "ProgressDeadlineExceeded" and not changed:
                prog = (prev["status"], prev["reason"], prev["message"])
            else:
                prog = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        touch = created_new or changed or (prev or {}).get("reason") != prog[1]
        conds["Progressing"] = _condition(prev, "Progressing", *prog, t, touch=touch)
        status["conditions"] = [conds["Available"], conds["Progressing"]]
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        ann = dict(d["metadata"].get("annotations") or {})
        if new_rs is not None:
            rev = new_rs["metadata"].get("annotations", {}).get(REVISION_ANN)
            if rev and ann.get(REVISION_ANN) != rev:
                ann[REVISION_ANN] = rev
                d = self.store.put(DEPLOY, {**d, "metadata": {**d["metadata"], "annotations": ann}})
        self.api.update_status(self.api.registry.by_key(DEPLOY), {**d, "status": status})


def _pinned_node(pod: dict) -> str | None:
    """The node a required node affinity on ``metadata.name`` pins the pod to, if any."""
    required = ((((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution")) or {})
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and field.get("values"):
                return str(field["values"][0])
    return None


def _settled(d: dict) -> bool:
    """Whether a Deployment's last status shows a finished rollout of its current generation."""
    st = d.get("status") or {}
    want = int(d["spec"].get("replicas", 1))
    progressing = next((c for c in st.get("conditions") or [] if c["type"] == "Progressing"), {})
    return (st.get("observedGeneration") == d["metadata"].get("generation") and st.get("replicas", 0) == want
            and st.get("updatedReplicas", 0) == want and st.get("availableReplicas", 0) == want
            and progressing.get("reason") in ("NewReplicaSetAvailable", None) and not d["spec"].get("paused"))


def _ts(value: str) -> float:
    return calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))


def _condition(prev: dict | None, type_: str, status: str, reason: str, message: str, t: str,
               touch: bool = True) -> dict:
    """A Deployment condition: lastTransitionTime moves only when status flips, lastUpdateTime on progress."""
    same = bool(prev) and (prev.get("status"), prev.get("reason"), prev.get("message")) == (status, reason, message)
    if same and not touch:
        return prev
    transition = prev["lastTransitionTime"] if prev and prev.get("status") == status else t
    update = t
    return {"type": type_, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition,
            "reason": reason, "message": message}
