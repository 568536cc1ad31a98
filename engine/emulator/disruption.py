"""The disruption controller's status of PodDisruptionBudgets: how many selected pods are healthy and how
many may be disrupted now (``kubectl get pdb`` shows ALLOWED DISRUPTIONS from it). Nothing is enforced."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .controllers import resolve_percent
from .injection import pod_is_ready
from .selectors import match_label_selector

if TYPE_CHECKING:
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


class DisruptionController:
    """Keeps PDB status current as pods and budgets change."""

    def __init__(self, store: "Store") -> None:
        self.store = store
        self._dirty: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        store.subscribe(self._on_change)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def _on_change(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        if key not in ("pods", PDB_KEY) or (key == PDB_KEY and kind == "MODIFIED"
                                             and old is not None and old.get("spec") == obj.get("spec")):
            return  # our own status writes change nothing we read
        self._dirty.add(obj["metadata"].get("namespace", ""))
        if self._loop is not None and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        while self._dirty:
            ns = self._dirty.pop()
            pdbs = self.store.list(PDB_KEY, ns)
            if not pdbs:
                continue
            pods = self.store.list("pods", ns)
            for pdb in pdbs:
                status = pdb_status(pdb, pods)
                old = {k: v for k, v in (pdb.get("status") or {}).items() if k != "conditions"}
                if old == {k: v for k, v in status.items() if k != "conditions"}:
                    continue
                self.store.put(PDB_KEY, {**pdb, "metadata": dict(pdb["metadata"]), "status": status})
