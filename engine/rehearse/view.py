"""A read-only view of a cluster's objects (a snapshot, or an emulator's state) as the checks ask about it:
namespaces and their injection, Istio revisions and tags, workloads and the pods they own, PDBs, nodes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..emulator.injection import proxy_revision
from ..emulator.selectors import match_label_selector

ISTIO_NAMESPACE = "istio-system"
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
_UNITS = {"m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024.0, "Mi": 1024.0 ** 2, "Gi": 1024.0 ** 3,
          "Ti": 1024.0 ** 4}
_QUANTITY = re.compile(r"^([0-9.]+)([A-Za-z]*)$")


def quantity(value: object) -> float:
    """A Kubernetes quantity (``500m``, ``2Gi``, ``1.5``) as a number (cores, bytes); 0 when unreadable."""
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return 0.0
    try:
        return float(m.group(1)) * _UNITS.get(m.group(2), 1.0 if not m.group(2) else 0.0)
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Workload:
    """A workload (or a bare pod) by kind, namespace and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


class ClusterView:
    """Objects indexed by kind, with the questions the rehearsal's checks ask."""

    def __init__(self, objects: Iterable[dict]) -> None:
        self.by_kind: dict[str, list[dict]] = {}
        for obj in objects:
            self.by_kind.setdefault(str(obj.get("kind", "")), []).append(obj)
        self._rs_owner = {(m["namespace"], m["name"]): _controller(rs)
                          for rs in self.kind("ReplicaSet") for m in (rs["metadata"],)}

    def kind(self, kind: str) -> list[dict]:
        return self.by_kind.get(kind, [])

    def get(self, kind: str, name: str, namespace: str = "") -> dict | None:
        for obj in self.kind(kind):
            meta = obj["metadata"]
            if meta.get("name") == name and (meta.get("namespace") or "") == namespace:
                return obj
        return None

    # -- Istio ----------------------------------------------------------------------------------------------
    def injectors(self) -> list[dict]:
        """Sidecar-injection webhook configurations (revisions' and tags'), in the order the API server calls them."""
        return sorted((w for w in self.kind("MutatingWebhookConfiguration") if _is_injector(w)),
                      key=lambda w: w["metadata"]["name"])

    def tags(self) -> dict[str, str]:
        """Revision tag -> the revision it points at."""
        out = {}
        for w in self.injectors():
            labels = w["metadata"].get("labels") or {}
            if labels.get("istio.io/tag"):
                out[labels["istio.io/tag"]] = labels.get("istio.io/rev", "default")
        return out

    def revisions(self) -> list[str]:
        """Control-plane revisions: those with an istiod Deployment or an injector of their own."""
        revs = {(d["metadata"].get("labels") or {}).get("istio.io/rev", "default") for d in self.kind("Deployment")
                if (d["metadata"].get("labels") or {}).get("app") == "istiod"}
        revs |= {(w["metadata"].get("labels") or {}).get("istio.io/rev", "default") for w in self.injectors()
                 if not (w["metadata"].get("labels") or {}).get("istio.io/tag")}
        return sorted(revs)

    def matching_injectors(self, ns_labels: dict, pod_labels: dict | None = None) -> list[dict]:
        """Injector configurations with a pod-creating webhook whose selectors match the namespace and a pod."""
        out = []
        for cfg in self.injectors():
            for hook in cfg.get("webhooks") or []:
                if match_label_selector(hook.get("namespaceSelector"), ns_labels) and \
                        match_label_selector(hook.get("objectSelector"), pod_labels or {}):
                    out.append(cfg)
                    break
        return out

    def injected_revision(self, namespace: str) -> str | None:
        """The revision whose proxy a new pod of the namespace gets (the first matching injector decides)."""
        if namespace in SYSTEM_NAMESPACES:
            return None
        ns = self.get("Namespace", namespace)
        hooks = self.matching_injectors((ns or {}).get("metadata", {}).get("labels") or {})
        if not hooks:
            return None
        return (hooks[0]["metadata"].get("labels") or {}).get("istio.io/rev", "default")

    def namespaces(self) -> list[str]:
        return sorted(n["metadata"]["name"] for n in self.kind("Namespace"))

    # -- workloads ------------------------------------------------------------------------------------------
    def workloads(self, namespace: str | None = None) -> list[dict]:
        return [o for k in WORKLOAD_KINDS for o in self.kind(k)
                if namespace is None or o["metadata"].get("namespace") == namespace]

    def owner_of(self, pod: dict) -> Workload:
        """The workload a pod belongs to: through its ReplicaSet to the Deployment, else its controller."""
        meta = pod["metadata"]
        ns = meta.get("namespace", "")
        ref = _controller(pod)
        if ref is None:
            return Workload("Pod", ns, meta["name"])
        kind, name = ref
        if kind == "ReplicaSet":
            owner = self._rs_owner.get((ns, name))
            if owner is not None:
                return Workload(owner[0], ns, owner[1])
            # The ReplicaSet is not in the dump: its name is the Deployment's plus the template hash.
            return Workload("Deployment", ns, name.rsplit("-", 1)[0]) if "-" in name else Workload(kind, ns, name)
        if kind == "Job":
            job = self.get("Job", name, ns)
            cron = _controller(job) if job else None
            if cron is not None:
                return Workload(cron[0], ns, cron[1])
        return Workload(kind, ns, name)

    def pods(self, namespace: str | None = None, *, live_only: bool = True) -> list[dict]:
        out = []
        for p in self.kind("Pod"):
            if namespace is not None and p["metadata"].get("namespace") != namespace:
                continue
            if live_only and ((p.get("status") or {}).get("phase") in ("Succeeded", "Failed")
                              or p["metadata"].get("deletionTimestamp")):
                continue
            out.append(p)
        return out

    def pods_by_workload(self, namespace: str | None = None) -> dict[Workload, list[dict]]:
        out: dict[Workload, list[dict]] = {}
        for p in self.pods(namespace):
            out.setdefault(self.owner_of(p), []).append(p)
        return out

    def selected_pods(self, namespace: str, selector: dict | None) -> list[dict]:
        if not selector:
            return []
        return [p for p in self.pods(namespace) if match_label_selector(selector, p["metadata"].get("labels") or {})]


def pod_proxy_revision(pod: dict) -> str | None:
    """The revision of a pod's Istio proxy (None: no proxy)."""
    return proxy_revision(pod)


def pod_requests(pod: dict) -> tuple[float, float]:
    """(CPU cores, memory bytes) a pod requests: its containers, and its largest init container if larger."""
    spec = pod.get("spec") or {}

    def total(containers: list[dict]) -> tuple[float, float]:
        cpu = sum(quantity(((c.get("resources") or {}).get("requests") or {}).get("cpu", 0)) for c in containers)
        mem = sum(quantity(((c.get("resources") or {}).get("requests") or {}).get("memory", 0)) for c in containers)
        return cpu, mem
    cpu, mem = total(spec.get("containers") or [])
    for c in spec.get("initContainers") or []:
        icpu, imem = total([c])
        cpu, mem = max(cpu, icpu), max(mem, imem)
    return cpu, mem


def _controller(obj: dict) -> tuple[str, str] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def _is_injector(cfg: dict) -> bool:
    labels = cfg["metadata"].get("labels") or {}
    if labels.get("app") == "sidecar-injector":
        return True
    return any(str(h.get("name", "")).endswith("sidecar-injector.istio.io") for h in cfg.get("webhooks") or [])
