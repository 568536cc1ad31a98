"""Argo Rollouts (``rollouts.argoproj.io``, served once its CRD is installed), as far as an upgrade of the mesh
touches them: a ReplicaSet per pod template (``<name>-<hash>``, pods labelled ``rollouts-pod-template-hash``),
a new template replacing the old ReplicaSet once its pods are Ready, and ``spec.restartAt``: pods created
before it are evicted one at a time (through the eviction API, so PodDisruptionBudgets hold), each only
while every pod is Ready, until ``status.restartedAt`` says the restart is done. Canary steps, analysis and
traffic routing are not modelled.
"""
from __future__ import annotations

import calendar
import time
from typing import Any

from .controllers import RS, template_hash
from .disruption import evict
from .errors import ApiError
from .injection import pod_is_ready
from .podsets import POD, PodSetController, copy_json, owned_by, owner_ref

ROLLOUT = "rollouts.argoproj.io"
HASH_LABEL = "rollouts-pod-template-hash"


def _epoch(ts: str) -> float:
    return calendar.timegm(time.strptime(ts.replace(".000Z", "Z"), "%Y-%m-%dT%H:%M:%SZ"))


class RolloutController(PodSetController):
    key, kind, component = ROLLOUT, "Rollout", "rollouts-controller"

    def relevant(self, kind: str, key: str, obj: dict, old: dict | None) -> bool:
        if key == POD:
            return HASH_LABEL in (obj["metadata"].get("labels") or {})
        return super().relevant(kind, key, obj, old)

    def sync_one(self, ro: dict) -> None:
        ns, name = ro["metadata"]["namespace"], ro["metadata"]["name"]
        spec = ro["spec"]
        want = int(spec.get("replicas", 1))
        h = template_hash(spec["template"])
        rss = [rs for rs in self.store.list(RS, ns) if owned_by(rs, ro["metadata"]["uid"])]
        new_rs = next((rs for rs in rss if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == h), None)
        if new_rs is None:
            new_rs = self._create_rs(ro, h, want)
            if new_rs is None:
                return
        elif int(new_rs["spec"].get("replicas", 0)) != want:
            new_rs = self._scale(new_rs, want)
        pods = self.pods_of(new_rs)
        ready = sum(1 for p in pods if pod_is_ready(p))
        old = [rs for rs in rss if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        if ready >= want:
            for rs in old:
                if int(rs["spec"].get("replicas", 0)):
                    self._scale(rs, 0)
        status = dict(ro.get("status") or {})
        restart_at = spec.get("restartAt")
        if restart_at and status.get("restartedAt") != restart_at and ready >= want and len(pods) == want:
            stale = sorted((p for p in pods if _epoch(p["metadata"]["creationTimestamp"]) < _epoch(restart_at)),
                           key=lambda p: p["metadata"]["name"])
            if not stale:
                status["restartedAt"] = restart_at
            else:
                try:  # one at a time; a budget that refuses (429) is asked again on the next change
                    evict(self.api, ns, stale[0]["metadata"]["name"])
                except ApiError:
                    pass
        all_pods = [p for rs in [new_rs] + old for p in self.pods_of(rs)]
        healthy = ready >= want and not any(int(rs["spec"].get("replicas", 0)) for rs in old)
        status.update({"observedGeneration": str(ro["metadata"].get("generation", 1)), "replicas": len(all_pods),
                       "updatedReplicas": len(pods), "readyReplicas": sum(1 for p in all_pods if pod_is_ready(p)),
                       "availableReplicas": sum(1 for p in all_pods if pod_is_ready(p)), "currentPodHash": h,
                       "stableRS": h if healthy else status.get("stableRS", h),
                       "phase": "Healthy" if healthy and status.get("restartedAt", restart_at) == restart_at
                       else "Progressing",
                       "selector": ",".join(f"{k}={v}" for k, v in
                                            ((spec.get("selector") or {}).get("matchLabels") or {}).items())})
        self.write_status(ro, status)

    def _create_rs(self, ro: dict, h: str, replicas: int) -> dict | None:
        ns, name = ro["metadata"]["namespace"], ro["metadata"]["name"]
        tmpl = copy_json(ro["spec"]["template"])
        tmpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy_json(ro["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        body: dict[str, Any] = {"metadata": {"name": f"{name}-{h}", "namespace": ns,
                                             "labels": dict(tmpl["metadata"]["labels"]),
                                             "ownerReferences": [owner_ref(ro)]},
                                "spec": {"replicas": replicas, "selector": selector, "template": tmpl}}
        try:
            return self.api.create(self.api.registry.by_key(RS), ns, body)
        except ApiError:
            return self.store.get(RS, ns, f"{name}-{h}")

    def _scale(self, rs: dict, replicas: int) -> dict:
        return self.api.replace(self.api.registry.by_key(RS), rs["metadata"]["namespace"], rs["metadata"]["name"],
                                {**rs, "spec": {**rs["spec"], "replicas": replicas}})
