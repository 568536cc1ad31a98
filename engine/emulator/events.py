"""Core/v1 Events the controllers record, aggregated by object, reason and message like the kubelet's and
controllers' event recorders do (a repeat bumps ``count`` and ``lastTimestamp``)."""
from __future__ import annotations

import secrets

from .store import Store, new_uid, now_iso


def record(store: Store, obj: dict, type_: str, reason: str, message: str, component: str) -> None:
    """Record an Event about ``obj`` in its namespace (``default`` for cluster-scoped objects)."""
    meta = obj["metadata"]
    ns = meta.get("namespace") or "default"
    ident = (meta.get("uid"), reason, message)
    for ev in store.list("events", ns):
        inv = ev["involvedObject"]
        if (inv.get("uid"), ev.get("reason"), ev.get("message")) == ident:
            store.put("events", {**ev, "metadata": dict(ev["metadata"]), "count": ev.get("count", 1) + 1,
                                 "lastTimestamp": now_iso()})
            return
    t = now_iso()
    store.put("events", {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": ns, "uid": new_uid(),
                     "creationTimestamp": t},
        "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta["name"],
                           "namespace": meta.get("namespace", ""), "uid": meta.get("uid"),
                           "resourceVersion": meta.get("resourceVersion")},
        "reason": reason, "message": message, "type": type_, "count": 1,
        "firstTimestamp": t, "lastTimestamp": t,
        "source": {"component": component}, "reportingComponent": component, "reportingInstance": "",
    })
