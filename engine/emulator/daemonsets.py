"""The DaemonSet controller: one pod per node that matches its nodeSelector and whose taints the pod tolerates (pinned to its node by a node affinity
on ``metadata.name``, as the controller does), and updates as kube-controller-manager does them: RollingUpdate with maxSurge 0
deletes up to maxUnavailable old pods at a time and replaces them; with maxSurge > 0 it starts the new pod
beside the old one and deletes the old one once the new one is Ready; OnDelete replaces only pods someone
deleted. Status is what ``kubectl rollout status ds`` reads.
"""
from __future__ import annotations

from typing import Any

from .controllers import resolve_percent
from .injection import pod_is_ready
from .podsets import REVISION_HASH, PodSetController, alive

DS = "daemonsets.apps"


def tolerates(pod_spec: dict, node: dict) -> bool:
    """Whether the pod tolerates every NoSchedule/NoExecute taint of the node."""
    tolerations = pod_spec.get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any((t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")))
                   or (t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""))
                   for t in tolerations if not t.get("effect") or t.get("effect") == taint.get("effect")):
            return False
    return True


def node_affinity(node: str) -> dict:
    """What the DaemonSet controller pins each pod with (the scheduler then binds it to that node)."""
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}


class DaemonSetController(PodSetController):
    key, kind, component = DS, "DaemonSet", "daemonset-controller"

    def relevant(self, kind: str, key: str, obj: dict, old: dict | None) -> bool:
        return key == "nodes" or super().relevant(kind, key, obj, old)

    def _on_change(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        if key == "nodes":  # a node change concerns every namespace with a DaemonSet
            for ds in self.store.list(DS):
                super()._on_change(kind, key, ds, None)
            return
        super()._on_change(kind, key, obj, old)

    def sync_one(self, ds: dict) -> None:
        spec = ds["spec"]
        rev, _ = self.revision(ds)
        template = spec["template"]
        selector = (template.get("spec") or {}).get("nodeSelector") or {}
        nodes = [n for n in self.store.list("nodes") if tolerates(template.get("spec") or {}, n)
                 and all((n["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
        names = {n["metadata"]["name"] for n in nodes}
        pods = self.pods_of(ds, terminating=True)
        on: dict[str, list[dict]] = {}
        for pod in pods:
            on.setdefault(pod["spec"].get("nodeName", ""), []).append(pod)
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        ru = strategy.get("rollingUpdate") or {}
        surge = resolve_percent(ru.get("maxSurge", 0), len(nodes), True) if rolling else 0
        max_unavailable = resolve_percent(ru.get("maxUnavailable", 1), len(nodes), True) if rolling else 0
        if rolling and surge == 0 and max_unavailable == 0:
            max_unavailable = 1

        def is_new(p: dict) -> bool:
            return (p["metadata"].get("labels") or {}).get(REVISION_HASH) == rev

        # Pods on nodes that no longer run the set go away.
        for node, node_pods in on.items():
            if node not in names:
                for pod in node_pods:
                    if alive(pod):
                        self.delete_pod(ds, pod)
        unavailable = sum(1 for n in names if not any(alive(p) and pod_is_ready(p) for p in on.get(n, [])))
        for node in sorted(names):
            node_pods = on.get(node, [])
            live = [p for p in node_pods if alive(p)]
            if not live:
                if not node_pods:  # wait for a terminating pod to go before its replacement starts
                    self._create(ds, node, rev)
                continue
            old = [p for p in live if not is_new(p)]
            new = [p for p in live if is_new(p)]
            if not rolling or not old:
                continue
            if surge > 0:
                if not new:
                    self._create(ds, node, rev)
                elif all(pod_is_ready(p) for p in new):
                    for pod in old:
                        self.delete_pod(ds, pod)
            elif not new and (unavailable < max_unavailable or not any(pod_is_ready(p) for p in old)):
                for pod in old:
                    self.delete_pod(ds, pod)
                if any(pod_is_ready(p) for p in old):
                    unavailable += 1
        self._status(ds, rev, names)

    def _create(self, ds: dict, node: str, rev: str) -> None:
        generation = str(ds["metadata"].get("generation", 1))
        self.create_pod(ds, ds["spec"]["template"], generate=f"{ds['metadata']['name']}-",
                        labels={REVISION_HASH: rev, "pod-template-generation": generation},
                        spec={"affinity": {**(ds["spec"]["template"].get("spec") or {}).get("affinity", {}),
                                           "nodeAffinity": node_affinity(node)}})

    def _status(self, ds: dict, rev: str, nodes: set[str]) -> None:
        pods = [p for p in self.pods_of(ds) if p["spec"].get("nodeName") in nodes]
        scheduled = {p["spec"]["nodeName"] for p in pods}
        updated = {p["spec"]["nodeName"] for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_HASH) == rev}
        ready = {p["spec"]["nodeName"] for p in pods if pod_is_ready(p)}
        status: dict[str, Any] = {
            "currentNumberScheduled": len(scheduled), "desiredNumberScheduled": len(nodes),
            "numberMisscheduled": 0, "numberReady": len(ready),
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": len(updated), "numberAvailable": len(ready)}
        if len(nodes) - len(ready) > 0:
            status["numberUnavailable"] = len(nodes) - len(ready)
        self.write_status(ds, status)
