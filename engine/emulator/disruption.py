"""The disruption controller's status of PodDisruptionBudgets: how many selected pods are healthy and how
many may be disrupted now (``kubectl get pdb`` shows ALLOWED DISRUPTIONS from it). Nothing is enforced."""
from __future__ import annotations

from .controllers import resolve_percent
from .injection import pod_is_ready
from .namespaced import NamespaceController
from .selectors import match_label_selector

PDB_KEY = "poddisruptionbudgets.policy"


def pdb_status(pdb: dict, pods: list[dict]) -> dict:
    """``status`` of one PDB over the pods of its namespace."""
    spec = pdb.get("spec") or {}
    selected = [p for p in pods if not p["metadata"].get("deletionTimestamp")
                and match_label_selector(spec.get("selector") or {"matchLabels": {"__none__": "x"}},
                                         p["metadata"].get("labels") or {})]
    expected = len(selected)
    healthy = sum(1 for p in selected if pod_is_ready(p))
    if "minAvailable" in spec:
        desired = resolve_percent(spec["minAvailable"], expected, True)
    elif "maxUnavailable" in spec:
        desired = max(0, expected - resolve_percent(spec["maxUnavailable"], expected, True))
    else:
        desired = expected
    allowed = max(0, healthy - desired)
    return {"currentHealthy": healthy, "desiredHealthy": desired, "disruptionsAllowed": allowed,
            "expectedPods": expected, "observedGeneration": pdb["metadata"].get("generation", 1),
            "conditions": [{"type": "DisruptionAllowed", "status": "True" if allowed else "False",
                            "reason": "SufficientPods" if allowed else "InsufficientPods", "message": "",
                            "observedGeneration": pdb["metadata"].get("generation", 1),
                            "lastTransitionTime": pdb["metadata"].get("creationTimestamp")}]}


class DisruptionController(NamespaceController):
    """Keeps PDB status current as pods and budgets change."""

    def relevant(self, kind: str, key: str, obj: dict, old: dict | None) -> bool:
        # Our own status writes change nothing we read.
        return key == "pods" or (key == PDB_KEY and not (kind == "MODIFIED" and old is not None
                                                         and old.get("spec") == obj.get("spec")))

    def sync(self, ns: str) -> None:
        pdbs = self.store.list(PDB_KEY, ns)
        if not pdbs:
            return
        pods = self.store.list("pods", ns)
        for pdb in pdbs:
            status = pdb_status(pdb, pods)
            old = {k: v for k, v in (pdb.get("status") or {}).items() if k != "conditions"}
            if old == {k: v for k, v in status.items() if k != "conditions"}:
                continue
            self.store.put(PDB_KEY, {**pdb, "metadata": dict(pdb["metadata"]), "status": status})
