"""HorizontalPodAutoscaler status, so ``kubectl get hpa`` shows replicas and a CPU reading: the target's
replica count is reported as current and desired (the emulator never scales on load)."""
from __future__ import annotations

from .namespaced import NamespaceController
from .store import now_iso

HPA_KEY = "horizontalpodautoscalers.autoscaling"
_TARGETS = {"Deployment": "deployments.apps", "ReplicaSet": "replicasets.apps", "StatefulSet": "statefulsets.apps"}
CPU_UTILIZATION = 3  # percent of requests: a quiet mesh


def hpa_status(hpa: dict, target: dict | None, previous: dict | None) -> dict:
    """``status`` of one HPA given its scale target (None when the target does not exist)."""
    replicas = int(((target or {}).get("status") or {}).get("replicas", 0))
    able = target is not None
    metrics = [{"type": "Resource", "resource": {"name": m["resource"]["name"], "current": {
        "averageUtilization": CPU_UTILIZATION, "averageValue": "3m"}}}
        for m in (hpa.get("spec") or {}).get("metrics") or [] if m.get("type") == "Resource" and able]
    conditions = [
        {"type": "AbleToScale", "status": "True" if able else "False",
         "reason": "ReadyForNewScale" if able else "FailedGetScale",
         "message": "recommended size matches current size" if able else "the HPA controller was unable to get "
                    "the target's current scale"},
        {"type": "ScalingActive", "status": "True" if able else "False",
         "reason": "ValidMetricFound" if able else "FailedGetScale",
         "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization "
                    "(percentage of request)" if able else "the HPA controller was unable to get the target's "
                    "current scale"}]
    for cond in conditions:
        old = next((c for c in (previous or {}).get("conditions") or [] if c["type"] == cond["type"]), None)
        cond["lastTransitionTime"] = old["lastTransitionTime"] if old and old["status"] == cond["status"] \
            else now_iso()
    status = {"currentReplicas": replicas, "desiredReplicas": replicas, "conditions": conditions}
    if metrics:
        status["currentMetrics"] = metrics
    return status


class AutoscalingController(NamespaceController):
    """Refreshes HPA status when HPAs or their targets change."""

    def relevant(self, kind: str, key: str, obj: dict, old: dict | None) -> bool:
        if key == HPA_KEY and kind == "MODIFIED" and old is not None and old.get("spec") == obj.get("spec"):
            return False  # our own status write
        return key == HPA_KEY or key in _TARGETS.values()

    def sync(self, ns: str) -> None:
        for hpa in self.store.list(HPA_KEY, ns):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            target = self.store.get(_TARGETS.get(ref.get("kind", ""), ""), ns, ref.get("name", ""))
            status = hpa_status(hpa, target, hpa.get("status"))
            if status == hpa.get("status"):
                continue
            self.store.put(HPA_KEY, {**hpa, "metadata": dict(hpa["metadata"]), "status": status})
