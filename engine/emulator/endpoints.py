"""The endpoints controllers: each Service with a selector gets an Endpoints object (ready pods under
``addresses``, the rest under ``notReadyAddresses``) and an EndpointSlice ``<service>-emu`` (what
``kubectl describe svc`` reads), so moving traffic between gateway revisions shows where it goes."""
from __future__ import annotations

from .injection import pod_is_ready
from .namespaced import NamespaceController
from .store import new_uid, now_iso


class EndpointsController(NamespaceController):
    """Recomputes a namespace's Endpoints whenever its pods or services change."""

    def relevant(self, kind: str, key: str, obj: dict, old: dict | None) -> bool:
        return key in ("pods", "services")

    def sync(self, namespace: str) -> None:
        pods = [p for p in self.store.list("pods", namespace) if (p.get("status") or {}).get("podIP")]
        for svc in self.store.list("services", namespace):
            selector = (svc.get("spec") or {}).get("selector")
            if not selector:
                continue  # selector-less services manage their endpoints themselves
            ready, not_ready = [], []
            terminating = {p["status"]["podIP"] for p in pods if p["metadata"].get("deletionTimestamp")}
            for pod in pods:
                labels = pod["metadata"].get("labels") or {}
                if all(labels.get(k) == v for k, v in selector.items()):
                    addr = {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName", ""),
                            "targetRef": {"kind": "Pod", "name": pod["metadata"]["name"],
                                          "namespace": namespace, "uid": pod["metadata"]["uid"]}}
                    (ready if pod_is_ready(pod) else not_ready).append(addr)
            ports = [{k: v for k, v in (("name", p.get("name")), ("port", _target(p)),
                                        ("protocol", p.get("protocol", "TCP"))) if v is not None}
                     for p in svc["spec"].get("ports") or []]
            subset = {}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            if subset:
                subset["ports"] = ports
            name = svc["metadata"]["name"]
            labels = dict(svc["metadata"].get("labels") or {})
            self._put("endpoints", namespace, name, labels, {"subsets": [subset] if subset else []})
            slice_labels = {**labels, "kubernetes.io/service-name": name,
                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
            endpoints = [{"addresses": [a["ip"]],
                          "conditions": {"ready": ok, "serving": ok, "terminating": a["ip"] in terminating},
                          "nodeName": a["nodeName"], "targetRef": a["targetRef"]}
                         for ok, group in ((True, ready), (False, not_ready)) for a in group]
            self._put("endpointslices.discovery.k8s.io", namespace, f"{name}-emu", slice_labels,
                      {"addressType": "IPv4", "endpoints": endpoints, "ports": ports}, api="discovery.k8s.io/v1",
                      kind="EndpointSlice", owner=svc)
        for ep in self.store.list("endpoints", namespace):
            if self.store.get("services", namespace, ep["metadata"]["name"]) is None:
                self.store.remove("endpoints", namespace, ep["metadata"]["name"])
        for es in self.store.list("endpointslices.discovery.k8s.io", namespace):
            service = (es["metadata"].get("labels") or {}).get("kubernetes.io/service-name", "")
            if self.store.get("services", namespace, service) is None:
                self.store.remove("endpointslices.discovery.k8s.io", namespace, es["metadata"]["name"])

    def _put(self, key: str, namespace: str, name: str, labels: dict, body: dict, api: str = "v1",
             kind: str = "Endpoints", owner: dict | None = None) -> None:
        """Store the object if it differs from what is there (unchanged endpoints make no watch event)."""
        current = self.store.get(key, namespace, name)
        if current is not None and all(current.get(k) == v for k, v in body.items()) and \
                current["metadata"].get("labels") == labels:
            return
        meta = dict(current["metadata"]) if current is not None else {
            "name": name, "namespace": namespace, "uid": new_uid(), "creationTimestamp": now_iso()}
        meta["labels"] = labels
        if owner is not None:
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Service", "name": owner["metadata"]["name"],
                                        "uid": owner["metadata"]["uid"], "controller": True,
                                        "blockOwnerDeletion": True}]
        self.store.put(key, {"apiVersion": api, "kind": kind, "metadata": meta, **body})


def _target(port: dict) -> int | None:
    target = port.get("targetPort", port.get("port"))
    return target if isinstance(target, int) else port.get("port")
