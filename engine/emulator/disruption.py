"""PodDisruptionBudgets: the disruption controller's status (how many selected pods are healthy and how many
may be disrupted now; ``kubectl get pdb`` shows ALLOWED DISRUPTIONS from it), and the API server's eviction
subresource, which refuses with 429 an eviction the budget does not allow. A plain DELETE of a pod is not
checked against budgets, as on a real API server: callers that must respect them evict.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .controllers import resolve_percent
from .errors import ApiError
from .injection import pod_is_ready
from .namespaced import NamespaceController
from .selectors import match_label_selector
from .store import now_iso

if TYPE_CHECKING:
    from .api import Api
    from .store import Store

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


def budgets_of(store: "Store", pod: dict) -> list[dict]:
    """The PodDisruptionBudgets whose selector matches the pod."""
    labels = pod["metadata"].get("labels") or {}
    return [b for b in store.list(PDB_KEY, pod["metadata"]["namespace"])
            if (b.get("spec") or {}).get("selector") is not None
            and match_label_selector(b["spec"]["selector"], labels)]


def evict(api: "Api", namespace: str, name: str, body: dict | None = None) -> dict:
    """POST pods/NAME/eviction: delete the pod if its budget allows one more disruption, else 429."""
    pod_rt = api.registry.by_key("pods")
    pod = api.get(pod_rt, namespace, name)
    grace = ((body or {}).get("deleteOptions") or {}).get("gracePeriodSeconds")
    done = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    terminal = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    if terminal or pod["metadata"].get("deletionTimestamp"):
        api.delete(pod_rt, namespace, name, grace=None if grace is None else float(grace))
        return done
    budgets = budgets_of(api.store, pod)
    if len(budgets) > 1:
        raise ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction "
                                             "subresource does not support.")
    if budgets:
        pdb = budgets[0]
        status = pdb_status(pdb, api.store.list("pods", namespace))
        unhealthy_ok = not pod_is_ready(pod) and (
            (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
            or (status["currentHealthy"] >= status["desiredHealthy"] > 0))
        if not unhealthy_ok:
            if status["disruptionsAllowed"] <= 0:
                raise ApiError(429, "TooManyRequests",
                               "Cannot evict pod as it would violate the pod's disruption budget.",
                               {"causes": [{"reason": "DisruptionBudget",
                                            "message": f"The disruption budget {pdb['metadata']['name']} needs "
                                                       f"{status['desiredHealthy']} healthy pods and has "
                                                       f"{status['currentHealthy']} currently"}]})
            disrupted = {**((pdb.get("status") or {}).get("disruptedPods") or {}), name: now_iso()}
            status = {**status, "disruptionsAllowed": status["disruptionsAllowed"] - 1,
                      "disruptedPods": disrupted}
            api.update_status(api.registry.by_key(PDB_KEY), {**pdb, "status": status})
    api.delete(pod_rt, namespace, name, grace=None if grace is None else float(grace))
    return done
