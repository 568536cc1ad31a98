"""Template look-ups for moving a data plane: which workloads still run another revision's proxy and how each
will move, which PodDisruptionBudgets would stop a move, and the arithmetic the upgrade playbooks need
(Kubernetes quantities, free capacity, batches of namespaces).

How each kind moves (the `move` of a workload):

- ``rollout-restart``: Deployments, StatefulSets with RollingUpdate and no partition, DaemonSets with
  RollingUpdate: ``kubectl rollout restart`` and a rollout wait.
- ``evict-in-order``: StatefulSets with OnDelete (or a partition, which a restart would not pass), DaemonSets
  with OnDelete, ReplicaSets without an owner: each pod is evicted in turn (highest ordinal first) and its
  replacement waited for, Ready on the new proxy, before the next.
- ``restart-at``: Argo Rollouts: ``spec.restartAt``, which the Argo controller honours pod by pod.
- ``job``: Jobs (their own or a CronJob's): never killed; wait for them to finish, or proceed and report.
- ``leave``: bare pods and pods of controllers we do not know: never killed; reported with what to do.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, Iterable

from .istio_views import pod_view
from .kube import Kube, KubeError, UnknownKind, lazy_kube

MOVES = ("rollout-restart", "evict-in-order", "restart-at", "job", "leave")
_UNITS = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
          "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_QUANTITY = re.compile(r"^\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


# -- arithmetic ---------------------------------------------------------------------------------------

def quantity(value: Any) -> float:
    """A Kubernetes quantity as a number: ``500m`` -> 0.5 (cores), ``2Gi`` -> 2147483648 (bytes)."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY.match(str(value))
    if m is None or (m.group(2) and m.group(2) not in _UNITS):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return float(m.group(1)) * (_UNITS[m.group(2)] if m.group(2) else 1.0)


def free_capacity(nodes: Iterable[dict], pods: Iterable[dict]) -> dict[str, float]:
    """CPU (cores) and memory (bytes) over all nodes: allocatable minus what pods that still run request."""
    cpu = mem = 0.0
    for n in nodes:
        alloc = (n.get("status") or {}).get("allocatable") or {}
        cpu += quantity(alloc.get("cpu", 0))
        mem += quantity(alloc.get("memory", 0))
    for p in pods:
        if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for c in (p.get("spec") or {}).get("containers") or []:
            requests = (c.get("resources") or {}).get("requests") or {}
            cpu -= quantity(requests.get("cpu", 0))
            mem -= quantity(requests.get("memory", 0))
    return {"free_cpu": cpu, "free_mem": mem}


def control_plane_need(pilot_replicas: int, pilot_cpu: Any, pilot_memory: Any, gateway_replicas: int,
                       gateway_cpu: Any = "100m", gateway_memory: Any = "128Mi") -> dict[str, float]:
    """What a second control plane requests: istiod replicas and the revisioned gateway's."""
    return {"need_cpu": pilot_replicas * quantity(pilot_cpu) + gateway_replicas * quantity(gateway_cpu),
            "need_mem": pilot_replicas * quantity(pilot_memory) + gateway_replicas * quantity(gateway_memory)}


def paced(namespaces: Iterable[Any], max_parallel: int, batch_size: int = 0) -> list[dict]:
    """A wave's namespaces as the groups that move together: at most ``max_parallel`` in a group, groups never
    spanning two batches of ``batch_size`` (0: one batch); ``pause`` marks the last group of a batch that
    another batch follows. Each group: ``{name: "1", namespaces: [...], pause: bool}``."""
    seq = list(namespaces)
    size = int(batch_size) if int(batch_size or 0) > 0 else max(1, len(seq))
    width = max(1, int(max_parallel))
    out: list[dict] = []
    for start in range(0, len(seq), size):
        batch = seq[start:start + size]
        groups = [batch[i:i + width] for i in range(0, len(batch), width)]
        for i, group in enumerate(groups):
            out.append({"name": str(len(out) + 1), "namespaces": group,
                        "pause": i == len(groups) - 1 and start + size < len(seq)})
    return out


def utc_now() -> str:
    """The time now, as Kubernetes writes timestamps (``2026-01-01T00:00:00Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- which workloads move, and how --------------------------------------------------------------------

def _ref(obj: dict) -> dict | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def _selector(obj: dict) -> str:
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _ordinal(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def classify(owner: dict | None, kind: str, owner_of_owner: str = "") -> tuple[str, str]:
    """(move, why) for a workload of ``kind`` (its object ``owner``, None for a bare pod)."""
    spec = (owner or {}).get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    if kind == "Deployment":
        return "rollout-restart", "a rolling restart replaces its pods (maxSurge/maxUnavailable hold)"
    if kind == "StatefulSet":
        if strategy.get("type", "RollingUpdate") == "OnDelete":
            return "evict-in-order", "updateStrategy OnDelete: a restart replaces nothing, so each pod is evicted " \
                                     "in turn, highest ordinal first"
        if int((strategy.get("rollingUpdate") or {}).get("partition") or 0) > 0:
            return "evict-in-order", "a partition keeps a restart from the lower ordinals, so each pod is " \
                                     "evicted in turn, highest ordinal first"
        return "rollout-restart", "a rolling restart replaces one pod at a time, highest ordinal first"
    if kind == "DaemonSet":
        if strategy.get("type", "RollingUpdate") == "OnDelete":
            return "evict-in-order", "updateStrategy OnDelete: each node's pod is evicted in turn"
        return "rollout-restart", "a rolling restart replaces one node's pod at a time (maxUnavailable)"
    if kind == "ReplicaSet":
        return "evict-in-order", "a ReplicaSet without an owner cannot be restarted: each pod is evicted in " \
                                 "turn and the ReplicaSet recreates it"
    if kind == "Rollout":
        return "restart-at", "spec.restartAt: the Argo Rollouts controller replaces its pods one at a time"
    if kind == "Job":
        by = f" (started by {owner_of_owner})" if owner_of_owner else ""
        return "job", f"a running Job{by} is never killed: wait for it to finish, or proceed and report it"
    if kind == "Pod":
        return "leave", "a bare pod has no controller to recreate it: never killed; recreate it yourself " \
                        "once the namespace is on the new revision"
    return "leave", f"owned by a {kind}, which this upgrade does not know how to restart: restart it yourself"


class WorkloadIndex:
    """One listing of pods and their controllers (in some namespaces, or all), grouped into workloads."""

    _KINDS = (("ReplicaSet", "replicaset"), ("Deployment", "deployment"), ("StatefulSet", "statefulset"),
              ("DaemonSet", "daemonset"), ("Job", "job"), ("Rollout", "rollouts"))

    def __init__(self, kube: Kube, namespaces: list[str] | None) -> None:
        self.pods: list[dict] = []
        self.objects: dict[tuple[str, str, str], dict] = {}
        for ns in namespaces if namespaces is not None else [None]:
            self.pods += kube.list("pod", ns)[0]
            for kind, resource in self._KINDS:
                if kind == "Rollout" and not _argo_installed(kube):
                    continue
                items = kube.list(resource, ns)[0]
                for obj in items:
                    meta = obj.get("metadata") or {}
                    self.objects[(kind, meta.get("namespace", ""), meta.get("name", ""))] = obj

    def workload_of(self, pod: dict) -> tuple[str, str, dict | None, str]:
        """(kind, name, object, owner of the object) of the workload a pod belongs to."""
        ns = pod["metadata"].get("namespace", "")
        ref = _ref(pod)
        if ref is None:
            return "Pod", pod["metadata"]["name"], None, ""
        obj = self.objects.get((ref.get("kind", ""), ns, ref.get("name", "")))
        if ref.get("kind") == "ReplicaSet" and obj is not None:
            up = _ref(obj)
            if up is not None and up.get("kind") in ("Deployment", "Rollout"):
                return up["kind"], up["name"], self.objects.get((up["kind"], ns, up["name"])), ""
            if up is not None:
                return up.get("kind", "?"), up.get("name", "?"), None, ""
        if ref.get("kind") == "Job" and obj is not None:
            up = _ref(obj)
            return "Job", ref["name"], obj, f"{up['kind']}/{up['name']}" if up else ""
        return ref.get("kind", "?"), ref.get("name", "?"), obj, ""


def _argo_installed(kube: Kube) -> bool:
    try:
        return kube.resource("rollouts").group_version.startswith("argoproj.io/")
    except UnknownKind:
        return False


def old_proxy_workloads(kube: Kube, rev: str, namespaces: Any = None, index: "WorkloadIndex | None" = None) -> list[dict]:
    """Every workload with a pod whose injected proxy is not ``rev``'s, by kind and owner, with how it moves.

    Pods that finished or are being deleted do not count. Each entry: namespace, kind, name, ref
    (``statefulset/kafka``), owner (``CronJob/nightly``, for a CronJob's Job), pods, revisions, replicas,
    selector, move, why, and for ``evict-in-order`` the evictions in order.
    """
    wanted = None if namespaces is None else [namespaces] if isinstance(namespaces, str) else list(namespaces)
    if index is None:
        index = WorkloadIndex(kube, wanted)
    groups: dict[tuple[str, str, str], dict] = {}
    for pod in index.pods:
        if wanted is not None and pod["metadata"].get("namespace") not in wanted:
            continue
        view = pod_view(pod)
        if view["phase"] in ("Succeeded", "Failed") or view["terminating"] or not view["proxy_image"]:
            continue
        kind, name, obj, owner = index.workload_of(pod)
        key = (view["namespace"], kind, name)
        entry = groups.get(key)
        if entry is None:
            move, why = classify(obj, kind, owner)
            spec = (obj or {}).get("spec") or {}
            entry = groups[key] = {
                "namespace": view["namespace"], "kind": kind, "name": name,
                "ref": f"{kind.lower()}/{name}",
                "owner": owner, "move": move, "why": why, "selector": _selector(obj or {}),
                "replicas": int(spec.get("replicas", 1)) if obj is not None and "replicas" in spec else None,
                "labels": view["labels"], "pods": [], "stale": [], "stale_pods": [], "revisions": []}
            entry["where"] = f"{entry['namespace']}/{entry['ref']}"
        entry["pods"].append(view["name"])
        if view["proxy_revision"] != rev:
            entry["stale"].append(view["name"])
            entry["stale_pods"].append({"namespace": view["namespace"], "name": view["name"]})
            if view["proxy_revision"] not in entry["revisions"]:
                entry["revisions"].append(view["proxy_revision"])
    out = []
    for entry in groups.values():
        if not entry["stale"]:
            continue
        if entry["move"] == "evict-in-order":
            entry["evictions"] = _evictions(entry, rev)
        out.append(entry)
    return sorted(out, key=lambda e: (e["namespace"], MOVES.index(e["move"]), e["kind"], e["name"]))


def _evictions(entry: dict, rev: str) -> list[dict]:
    """The pods of an evict-in-order workload in the order they go, each with what to wait for after it."""
    order = sorted(entry["stale"], key=lambda p: (-_ordinal(p), p)) if entry["kind"] == "StatefulSet" \
        else sorted(entry["stale"])
    total = len(entry["pods"])
    out = []
    for i, pod in enumerate(order):
        if entry["kind"] == "StatefulSet":  # the same name comes back: wait for it, on the new proxy
            back, want = f"statefulset.kubernetes.io/pod-name={pod},istio.io/rev={rev}", 1
        else:  # a new name: wait until one more pod of the workload runs the new proxy
            back, want = f"{entry['selector']},istio.io/rev={rev}", total - len(order) + i + 1
        out.append({"name": pod, "namespace": entry["namespace"], "pod": pod, "workload": entry["ref"],
                    "ready_selector": back, "ready_min": want, "all_selector": entry["selector"],
                    "all_min": total})
    return out


def restart_refs(kube: Kube, namespace: str) -> list[str]:
    """Every workload of a namespace that a rolling restart moves, whatever proxy its pods run now (what a
    rollback restarts after the namespace's labels are back)."""
    index = WorkloadIndex(kube, [namespace])
    out = []
    for (kind, _, name), obj in sorted(index.objects.items()):
        if kind in ("Deployment", "StatefulSet", "DaemonSet") and classify(obj, kind)[0] == "rollout-restart":
            out.append(f"{kind.lower()}/{name}")
    return out


def next_to_evict(kube: Kube, namespace: str, workload: str, rev: str) -> str:
    """The pod of ``workload`` (``statefulset/kafka``) to evict next to bring it to ``rev``: the highest ordinal
    (or first name) whose proxy is of another revision and that is not already going; "" when none is left."""
    kind, _, name = workload.partition("/")
    obj = kube.get(kind, name, namespace)
    selector = _selector(obj)
    pods = kube.list("pod", namespace, selector or None)[0] if selector else []
    stale = [p["metadata"]["name"] for p in pods if (v := pod_view(p))["proxy_image"]
             and v["proxy_revision"] != rev and not v["terminating"]
             and v["phase"] not in ("Succeeded", "Failed")]
    if kind.lower() == "statefulset":
        stale.sort(key=lambda n: (-_ordinal(n), n))
    else:
        stale.sort()
    return stale[0] if stale else ""


# -- disruption budgets -------------------------------------------------------------------------------

def budget_blockers(kube: Kube, rev: str, namespaces: Any = None, index: "WorkloadIndex | None" = None) -> list[dict]:
    """PodDisruptionBudgets covering a workload that will move whose move cannot proceed, and why.

    A budget blocks when it allows no disruption now, when it says ``maxUnavailable: 0``, or when
    ``minAvailable`` is as large as the workload (one replica with ``minAvailable: 1``). ``scalable`` says
    whether one more replica during the move would unblock it.
    """
    moving = [w for w in old_proxy_workloads(kube, rev, namespaces, index) if w["move"] not in ("job", "leave")]
    out = []
    by_ns: dict[str, list[dict]] = {}
    for w in moving:
        if w["namespace"] not in by_ns:
            by_ns[w["namespace"]] = kube.list("poddisruptionbudget", w["namespace"])[0]
        covering = [p for p in by_ns[w["namespace"]] if selects((p.get("spec") or {}).get("selector"), w["labels"])]
        if len(covering) > 1 and w["move"] in ("evict-in-order", "restart-at"):
            names = ", ".join(p["metadata"]["name"] for p in covering)
            out.append({"name": w["name"], "namespace": w["namespace"], "pdb": names, "workload": w["ref"],
                        "selector": w["selector"], "kind": w["kind"], "replicas": w["replicas"], "scalable": False,
                        "reason": f"the pods of {w['ref']} are covered by {len(covering)} PodDisruptionBudgets "
                                  f"({names}): the eviction API refuses to evict them"})
        for pdb in covering:
            spec = pdb.get("spec") or {}
            reason = _blocks(pdb, w)
            if reason:
                out.append({"name": w["name"], "namespace": w["namespace"], "pdb": pdb["metadata"]["name"],
                            "workload": w["ref"], "selector": w["selector"],
                            "kind": w["kind"], "replicas": w["replicas"], "reason": reason,
                            "scalable": w["kind"] in ("Deployment", "StatefulSet", "Rollout", "ReplicaSet")
                            and "maxUnavailable" not in spec})
    return out


def selects(selector: dict | None, labels: dict) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects these labels; None selects nothing."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) or \
                (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _blocks(pdb: dict, workload: dict) -> str:
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    name = pdb["metadata"]["name"]
    if "maxUnavailable" in spec and str(spec["maxUnavailable"]) in ("0", "0%"):
        return f"PodDisruptionBudget {name} has maxUnavailable: 0, so no pod of {workload['ref']} may ever be " \
               f"disrupted"
    replicas = workload["replicas"] if workload["replicas"] is not None else len(workload["pods"])
    if "minAvailable" in spec:
        raw = str(spec["minAvailable"])
        need = -(-int(raw[:-1]) * replicas // 100) if raw.endswith("%") else int(raw)
        if need >= replicas:
            return f"PodDisruptionBudget {name} needs minAvailable {raw} of {replicas} replica" \
                   f"{'s' if replicas != 1 else ''} of {workload['ref']}: a restart would break it"
    if int(status.get("disruptionsAllowed", 1) or 0) <= 0 and status:
        return f"PodDisruptionBudget {name} allows no disruption now (healthy {status.get('currentHealthy', 0)}" \
               f", needs {status.get('desiredHealthy', 0)})"
    return ""


# -- the template helpers -----------------------------------------------------------------------------

def template_helpers(options: Any) -> dict[str, Callable[..., Any]]:
    """The look-ups of this module for one run; the cluster ones connect on first use."""
    kube = lazy_kube(options)
    holder: dict[str, WorkloadIndex] = {}
    lock = threading.Lock()

    def plan_index() -> WorkloadIndex:
        # One listing of the whole cluster for the run's plan: a plan expands these look-ups once per
        # namespace, which would otherwise list every namespace's workloads many times over.
        k = kube()
        with lock:
            if "index" not in holder:
                holder["index"] = WorkloadIndex(k, None)
            return holder["index"]

    def workloads_to_move(rev: str, namespaces: Any = None) -> list[dict]:
        """Workloads with a proxy of another revision than ``rev`` (all namespaces when None), with their move."""
        return old_proxy_workloads(kube(), rev, namespaces)

    def planned_moves(rev: str, namespaces: Any = None) -> list[dict]:
        """``workloads_to_move`` as the cluster was when the run first asked (what a plan's for_each lists)."""
        return old_proxy_workloads(kube(), rev, namespaces, plan_index())

    def disruption_blockers(rev: str, namespaces: Any = None) -> list[dict]:
        """PodDisruptionBudgets that would stop the move of a workload to ``rev`` (workloads as planned)."""
        return budget_blockers(kube(), rev, namespaces, plan_index())

    def rollout_restarted(namespace: str, name: str) -> bool:
        """Whether an Argo Rollout finished the restart its spec.restartAt asked for."""
        try:
            ro = kube().get("rollouts", name, namespace)
        except KubeError:
            return False
        want = (ro.get("spec") or {}).get("restartAt")
        return bool(want) and (ro.get("status") or {}).get("restartedAt") == want

    def rollout_restart_refs(namespace: str) -> list[str]:
        """kind/name of every workload in the namespace that a rolling restart moves."""
        return restart_refs(kube(), namespace)

    def cluster_free_capacity() -> dict[str, float]:
        """``free_capacity`` of every node and pod, read through the API: a large cluster's
        ``kubectl get pods -A -o json`` is more than a step keeps of its output (1,400 pods: 2 MB)."""
        k = kube()
        return free_capacity(k.list("node")[0], k.list("pod")[0])

    def pod_to_evict(namespace: str, workload: str, rev: str) -> str:
        """The next pod of an evict-in-order workload to move to ``rev`` ("" when none is left)."""
        return next_to_evict(kube(), namespace, workload, rev)

    return {"workloads_to_move": workloads_to_move, "planned_moves": planned_moves,
            "disruption_blockers": disruption_blockers,
            "rollout_restarted": rollout_restarted, "rollout_restart_refs": rollout_restart_refs,
            "pod_to_evict": pod_to_evict, "quantity": quantity, "free_capacity": free_capacity,
            "cluster_free_capacity": cluster_free_capacity,
            "control_plane_need": control_plane_need, "paced": paced, "utc_now": utc_now}


HELPER_NAMES = frozenset({"workloads_to_move", "planned_moves", "disruption_blockers", "rollout_restarted", "rollout_restart_refs",
                          "pod_to_evict", "quantity", "free_capacity", "cluster_free_capacity", "control_plane_need",
                          "paced", "utc_now"})
