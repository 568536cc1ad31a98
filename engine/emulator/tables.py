"""Server-side printing: objects as ``meta.k8s.io/v1 Table`` rows, the columns ``kubectl get`` shows for each
kind (kubectl asks for Tables and prints whatever columns the server sends).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from .resources import ResourceType
from .selectors import field_value, selector_to_string


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    return f"{h // (24 * 365)}y{(h // 24) % 365}d"


def age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    then = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    return human_duration((dt.datetime.now(dt.timezone.utc) - then).total_seconds())


def _col(name: str, typ: str = "string", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": name, "priority": priority}


NAME = _col("Name", fmt="name")
AGE = _col("Age")


def _pod_cells(o: dict) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    reason = st.get("reason") or st.get("phase") or "Pending"
    for c in statuses:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    if o["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [o["metadata"]["name"], f"{ready}/{len(spec.get('containers') or [])}", reason, restarts,
            age(o["metadata"].get("creationTimestamp")), st.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", "<none>", "<none>"]


def _containers(o: dict) -> tuple[str, str]:
    cs = (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deploy_cells(o: dict) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age(o["metadata"].get("creationTimestamp")),
            names, images, selector_to_string(spec.get("selector"))]


def _rs_cells(o: dict) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [o["metadata"]["name"], spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
            age(o["metadata"].get("creationTimestamp")), names, images, selector_to_string(spec.get("selector"))]


def _svc_cells(o: dict) -> list:
    spec = o.get("spec") or {}
    ports = ",".join(f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/"
                     f"{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress)
    if not external:
        external = "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    sel = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), external, ports,
            age(o["metadata"].get("creationTimestamp")), sel]


def _node_cells(o: dict) -> list:
    st = o.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), {})
    labels = o["metadata"].get("labels") or {}
    roles = ",".join(sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))) \
        or "<none>"
    info = st.get("nodeInfo") or {}
    addrs = {a["type"]: a["address"] for a in st.get("addresses") or []}
    return [o["metadata"]["name"], "Ready" if ready.get("status") == "True" else "NotReady", roles,
            age(o["metadata"].get("creationTimestamp")), info.get("kubeletVersion", ""),
            addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"), info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _event_cells(o: dict) -> list:
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
    return [age(last) if last and "." not in last else "<unknown>", o.get("type", ""), o.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", o.get("message", "")]


def _hpa_cells(o: dict) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    target = "<unknown>"
    current = {m["resource"]["name"]: (m["resource"].get("current") or {}).get("averageUtilization")
               for m in st.get("currentMetrics") or [] if m.get("type") == "Resource"}
    for m in spec.get("metrics") or []:
        res = m.get("resource") or {}
        util = (res.get("target") or {}).get("averageUtilization")
        if util is not None:
            now = current.get(res.get("name"))
            target = f"{res.get('name')}: {'<unknown>' if now is None else f'{now}%'}/{util}%"
    return [o["metadata"]["name"], f"{ref.get('kind')}/{ref.get('name')}", target, spec.get("minReplicas", 1),
            spec.get("maxReplicas", 0), st.get("currentReplicas", 0), age(o["metadata"].get("creationTimestamp"))]


def _pdb_cells(o: dict) -> list:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [o["metadata"]["name"], str(spec.get("minAvailable", "N/A")), str(spec.get("maxUnavailable", "N/A")),
            st.get("disruptionsAllowed", 0), age(o["metadata"].get("creationTimestamp"))]


def _simple(*cols: tuple[str, Callable[[dict], Any]]) -> tuple[list[dict], Callable[[dict], list]]:
    defs = [NAME] + [_col(n) for n, _ in cols] + [AGE]

    def cells(o: dict) -> list:
        return [o["metadata"]["name"], *[f(o) for _, f in cols], age(o["metadata"].get("creationTimestamp"))]
    return defs, cells


_TABLES: dict[str, tuple[list[dict], Callable[[dict], list]]] = {
    "pods": ([NAME, _col("Ready"), _col("Status"), _col("Restarts", "integer"), AGE, _col("IP", priority=1),
              _col("Node", priority=1), _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)],
             _pod_cells),
    "deployments.apps": ([NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE,
                          _col("Containers", priority=1), _col("Images", priority=1),
                          _col("Selector", priority=1)], _deploy_cells),
    "replicasets.apps": ([NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                          AGE, _col("Containers", priority=1), _col("Images", priority=1),
                          _col("Selector", priority=1)], _rs_cells),
    "services": ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
                  _col("Selector", priority=1)], _svc_cells),
    "nodes": ([NAME, _col("Status"), _col("Roles"), AGE, _col("Version"), _col("Internal-IP", priority=1),
               _col("External-IP", priority=1), _col("OS-Image", priority=1), _col("Kernel-Version", priority=1),
               _col("Container-Runtime", priority=1)], _node_cells),
    "events": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")], _event_cells),
    "horizontalpodautoscalers.autoscaling": ([NAME, _col("Reference"), _col("Targets"), _col("MinPods", "integer"),
                                              _col("MaxPods", "integer"), _col("Replicas", "integer"), AGE],
                                             _hpa_cells),
    "poddisruptionbudgets.policy": ([NAME, _col("Min Available"), _col("Max Unavailable"),
                                     _col("Allowed Disruptions", "integer"), AGE], _pdb_cells),
    "statefulsets.apps": _simple(("Ready", lambda o: f"{(o.get('status') or {}).get('readyReplicas', 0)}/"
                                                   f"{(o.get('spec') or {}).get('replicas', 1)}")),
    "daemonsets.apps": _simple(*[(title, lambda o, k=k: (o.get("status") or {}).get(k, 0)) for title, k in (
        ("Desired", "desiredNumberScheduled"), ("Current", "currentNumberScheduled"), ("Ready", "numberReady"),
        ("Up-to-date", "updatedNumberScheduled"), ("Available", "numberAvailable"))]),
    "jobs.batch": _simple(
        ("Status", lambda o: "Complete" if any(c.get("type") == "Complete" and c.get("status") == "True" for c in
                                               (o.get("status") or {}).get("conditions") or []) else "Running"),
        ("Completions", lambda o: f"{(o.get('status') or {}).get('succeeded', 0)}/"
                                  f"{(o.get('spec') or {}).get('completions', 1)}")),
    "cronjobs.batch": _simple(("Schedule", lambda o: (o.get("spec") or {}).get("schedule", "")),
                              ("Suspend", lambda o: str(bool((o.get("spec") or {}).get("suspend"))))),
    "namespaces": _simple(("Status", lambda o: (o.get("status") or {}).get("phase", "Active"))),
    "configmaps": _simple(("Data", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}))),
    "secrets": _simple(("Type", lambda o: o.get("type", "Opaque")), ("Data", lambda o: len(o.get("data") or {}))),
    "serviceaccounts": _simple(("Secrets", lambda o: len(o.get("secrets") or []))),
    "mutatingwebhookconfigurations.admissionregistration.k8s.io": _simple(
        ("Webhooks", lambda o: len(o.get("webhooks") or []))),
    "validatingwebhookconfigurations.admissionregistration.k8s.io": _simple(
        ("Webhooks", lambda o: len(o.get("webhooks") or []))),
    "endpoints": _simple(("Endpoints", lambda o: ",".join(
        f"{a.get('ip')}:{p.get('port')}" for s in o.get("subsets") or [] for a in s.get("addresses") or []
        for p in s.get("ports") or []) or "<none>")),
    "endpointslices.discovery.k8s.io": _simple(
        ("AddressType", lambda o: o.get("addressType", "")),
        ("Ports", lambda o: ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"),
        ("Endpoints", lambda o: ",".join(a for e in o.get("endpoints") or [] for a in e.get("addresses", []))
         or "<unset>")),
    "customresourcedefinitions.apiextensions.k8s.io": (
        [NAME, _col("Created At", "date")], lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp")]),
}


def _crd_columns(crd: dict | None, version: str) -> tuple[list[dict], Callable[[dict], list]] | None:
    if crd is None:
        return None
    ver = next((v for v in crd["spec"].get("versions") or [] if v.get("name") == version), {})
    cols = ver.get("additionalPrinterColumns")
    if not cols:
        return None
    defs = [NAME] + [_col(c["name"], c.get("type", "string"), c.get("priority", 0)) for c in cols]

    def cells(o: dict) -> list:
        out: list[Any] = [o["metadata"]["name"]]
        for c in cols:
            value = field_value(o, c["jsonPath"].lstrip("."))
            if c.get("type") == "date" and isinstance(value, str):
                value = age(value)
            out.append("" if value is None else value if not isinstance(value, (list, dict)) else str(value))
        return out
    return defs, cells


def to_table(rt: ResourceType, objs: list[dict], resource_version: str, include: str = "Metadata",
             crd: dict | None = None) -> dict:
    """A Table of ``objs``; ``include`` is the ``includeObject`` parameter (None, Metadata or Object)."""
    defs, cells = _TABLES.get(rt.key) or _crd_columns(crd, rt.version) or _simple()
    rows = []
    for o in objs:
        row: dict[str, Any] = {"cells": cells(o)}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": defs, "rows": rows}
