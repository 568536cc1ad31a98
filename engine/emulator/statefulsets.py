"""The StatefulSet controller: pods ``<name>-<ordinal>`` made in order (OrderedReady: each waits for the one
before it to be Ready; Parallel: all at once), removed highest ordinal first, and updates as
kube-controller-manager does them: RollingUpdate replaces one pod at a time from the highest ordinal down to
``partition``, only while every pod is Ready; OnDelete replaces nothing, and a pod deleted by someone else
comes back from the newest template. Status carries currentRevision/updateRevision, which
``kubectl rollout status`` reads.
"""
from __future__ import annotations

from typing import Any

from .injection import pod_is_ready
from .podsets import REVISION_HASH, PodSetController, alive

STS = "statefulsets.apps"


def ordinal(pod: dict, name: str) -> int | None:
    """The ordinal of pod ``<name>-<n>``, or None for a pod not named like one of the set's."""
    tail = pod["metadata"]["name"][len(name) + 1:]
    return int(tail) if pod["metadata"]["name"].startswith(name + "-") and tail.isdigit() else None


def partition_of(sts: dict) -> int:
    strategy = sts["spec"].get("updateStrategy") or {}
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


class StatefulSetController(PodSetController):
    key, kind, component = STS, "StatefulSet", "statefulset-controller"

    def sync_one(self, sts: dict) -> None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        spec = sts["spec"]
        want = int(spec.get("replicas", 1))
        update_rev, _ = self.revision(sts)
        current_rev = (sts.get("status") or {}).get("currentRevision") or update_rev
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        partition = partition_of(sts) if strategy == "RollingUpdate" else 0
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        by_ordinal: dict[int, dict] = {}
        for pod in self.pods_of(sts, terminating=True):
            n = ordinal(pod, name)
            if n is not None:
                by_ordinal[n] = pod
        # Create the missing pods below `want`; OrderedReady stops at the first one not (yet) Ready.
        for n in range(want):
            pod = by_ordinal.get(n)
            if pod is None:
                rev = current_rev if strategy == "RollingUpdate" and n < partition else update_rev
                created = self._create(sts, n, rev, update_rev)
                if created is None or ordered:
                    break
                by_ordinal[n] = created
                continue
            if ordered and (not alive(pod) or not pod_is_ready(pod)):
                break
        # Scale down: highest ordinal first; OrderedReady one at a time.
        extra = sorted((n for n in by_ordinal if n >= want), reverse=True)
        for n in extra:
            pod = by_ordinal[n]
            if alive(pod):
                self.delete_pod(sts, pod)
            if ordered:
                break
        # RollingUpdate: one pod at a time, highest ordinal first, only while every pod is Ready.
        pods = [by_ordinal[n] for n in sorted(by_ordinal) if n < want]
        settled = len(pods) == want and all(alive(p) and pod_is_ready(p) for p in pods)
        if strategy == "RollingUpdate" and settled and not extra:
            for n in range(want - 1, partition - 1, -1):
                pod = by_ordinal[n]
                if (pod["metadata"].get("labels") or {}).get(REVISION_HASH) != update_rev:
                    self.delete_pod(sts, pod)
                    break
        self._status(sts, update_rev, current_rev, strategy)

    def _create(self, sts: dict, n: int, rev: str, update_rev: str) -> dict | None:
        name = sts["metadata"]["name"]
        template = sts["spec"]["template"] if rev == update_rev else (
            self.revision_template(sts, rev) or sts["spec"]["template"])
        pod_name = f"{name}-{n}"
        spec: dict[str, Any] = {"hostname": pod_name}
        if sts["spec"].get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        return self.create_pod(sts, template, name=pod_name, spec=spec,
                               labels={REVISION_HASH: rev, "statefulset.kubernetes.io/pod-name": pod_name,
                                       "apps.kubernetes.io/pod-index": str(n)})

    def _status(self, sts: dict, update_rev: str, current_rev: str, strategy: str) -> None:
        pods = [p for p in self.pods_of(sts) if ordinal(p, sts["metadata"]["name"]) is not None]
        revs = [(p["metadata"].get("labels") or {}).get(REVISION_HASH) for p in pods]
        ready = sum(1 for p in pods if pod_is_ready(p))
        updated = revs.count(update_rev)
        current = revs.count(current_rev)
        if strategy == "RollingUpdate" and updated == len(pods) and ready == len(pods):
            current_rev, current = update_rev, updated  # the rolling update is complete
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
            "readyReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
            "availableReplicas": ready, "currentRevision": current_rev, "updateRevision": update_rev,
            "collisionCount": 0}
        self.write_status(sts, {k: v for k, v in status.items() if v or k in ("replicas", "collisionCount",
                                                                              "observedGeneration",
                                                                              "availableReplicas")})
