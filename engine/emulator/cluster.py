"""The cluster file: what an emulated cluster starts with. Shorthands for Istio control planes and for
namespaces with deployments expand into ordinary manifests; ``objects:`` adds any manifests verbatim. A dump of
a real cluster (``kubectl get ... -A -o yaml``: a ``v1 List``, a stream of documents, a directory of them, or a
``playbook snapshot``) is accepted in place of a cluster file: see dump.py for what it keeps.

    readiness_delay: 0.3          # seconds until a new pod is Ready
    termination_delay: 0          # seconds a deleted pod stays Terminating (0: gone at once)
    nodes: 3                      # or a list of node names
    istio:                        # control planes, installed as istioctl would
      - {revision: default, version: 1.19.3, profile: default, gateway: true, values: {}}
    tags: {prod-stable: default}  # revision tags (tag: revision)
    namespaces:
      - name: test-namespace
        labels: {istio-injection: enabled}
        deployments: [{name: web, replicas: 2, maxUnavailable: 0, maxSurge: 1}]
      - name: "team-{i}"           # count expands {i} = 1..count
        count: 20
        labels: {istio.io/rev: default}
        deployments: {count: 5, name: "svc-{i}", replicas: 2}
        statefulsets: [{name: db, strategy: OnDelete}]   # and daemonsets, jobs, cronjobs, pods, rollouts:
                                                         # see shorthands.py
    objects: []                   # any manifests
    faults: {}                    # see faults.py
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import dump, istio_objects, shorthands

DEMO = Path(__file__).parent / "clusters" / "demo.yaml"
DEFAULT_IMAGE = "docker.io/kennethreitz/httpbin:latest"
_KNOWN = {"readiness_delay", "termination_delay", "nodes", "istio", "tags", "namespaces", "objects", "faults",
          "name", "description"}
class ClusterFileError(ValueError):
    """A cluster file that cannot be loaded; the message names the file and the key."""


@dataclass
class ClusterSpec:
    """A starting cluster: its objects in creation order, nodes (names, or a dump's Node manifests), faults and
    readiness delay."""

    objects: list[dict] = field(default_factory=list)
    nodes: list[str | dict] = field(default_factory=lambda: ["emulator-control-plane", "emulator-worker",
                                                      "emulator-worker2"])
    faults: dict = field(default_factory=dict)
    readiness_delay: float | None = None
    termination_delay: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)  # a dump's objects left out of the copy, by reason
    snapshot: dict = field(default_factory=dict)  # a snapshot's own metadata (context, time taken)
    lenient: bool = False  # a dump: an object the API refuses is left out (and listed), not fatal
    refused: list[str] = field(default_factory=list)  # filled while loading: what was refused and why


def load_cluster(source: str | Path | dict | None) -> ClusterSpec:
    """Read a cluster file (a path, an already-parsed dict, or None for the shipped demo)."""
    return load_with_dump(source)[0]


def load_with_dump(source: str | Path | dict | None) -> tuple[ClusterSpec, "dump.Dump | None"]:
    """The starting cluster, and the dump it was copied from as read (None for a cluster file)."""
    where = "cluster"
    if source is None:
        source = DEMO
    if isinstance(source, (str, Path)):
        where = str(source)
        if Path(source).is_dir():
            return _from_dump(lambda: dump.read_dump(source), where)
        try:
            docs = dump.parse_documents(Path(source).read_text(encoding="utf-8"), where)
        except OSError as exc:
            raise ClusterFileError(f"{where}: cannot read: {exc.strerror}") from None
        except dump.DumpError as exc:
            raise ClusterFileError(str(exc)) from None
        if len(docs) == 1 and isinstance(docs[0], dict):
            data = docs[0]
        else:  # a multi-document manifest stream
            return _from_dump(lambda: dump.objects_of(docs, where), where)
    else:
        data = copy.deepcopy(source)
    if not isinstance(data, dict):
        raise ClusterFileError(f"{where}: expected a mapping at the top level")
    if dump.looks_like_dump(data):
        return _from_dump(lambda: dump.objects_of([data], where), where)
    return _from_file(data, where), None


def _from_file(data: dict, where: str) -> ClusterSpec:
    unknown = set(data) - _KNOWN
    if unknown:
        raise ClusterFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(sorted(_KNOWN))}")
    spec = ClusterSpec(faults=data.get("faults") or {})
    if data.get("readiness_delay") is not None:
        spec.readiness_delay = float(data["readiness_delay"])
    spec.termination_delay = float(data.get("termination_delay") or 0)
    nodes = data.get("nodes")
    if isinstance(nodes, int):
        spec.nodes = ["emulator-control-plane"] + [f"emulator-worker{'' if i == 1 else i}" for i in range(1, nodes)]
    elif isinstance(nodes, list):
        spec.nodes = [str(n) for n in nodes]
    for i, cp in enumerate(data.get("istio") or []):
        if not isinstance(cp, dict) or "version" not in cp:
            raise ClusterFileError(f"{where}: istio[{i}] needs at least a version")
        spec.objects += istio_objects.control_plane_objects(
            str(cp.get("revision", "default")), str(cp["version"]), profile=cp.get("profile", "default"),
            values=cp.get("values"), gateway=cp.get("gateway", True))
    for tag, revision in (data.get("tags") or {}).items():
        spec.objects.append(istio_objects.tag_webhook(str(tag), str(revision)))
    for i, ns in enumerate(data.get("namespaces") or []):
        spec.objects += _namespaces(ns, f"{where}: namespaces[{i}]")
    if data.get("objects"):
        try:
            nodes, manifests, spec.skipped = dump.objects_of(data["objects"], f"{where}: objects").importable()
        except dump.DumpError as exc:
            raise ClusterFileError(str(exc)) from None
        spec.objects += manifests
        if nodes:
            spec.nodes = [*nodes]
    return spec


def _from_dump(read: Callable[[], "dump.Dump"], where: str) -> tuple[ClusterSpec, "dump.Dump"]:
    """A starting cluster copied from a dump: its nodes and the objects the copy creates (see dump.py)."""
    try:
        objects = read()
    except dump.DumpError as exc:
        raise ClusterFileError(str(exc)) from None
    nodes, manifests, skipped = objects.importable()
    spec = ClusterSpec(objects=manifests, skipped=skipped, snapshot=objects.meta, lenient=True)
    if nodes:
        spec.nodes = nodes
    return spec, objects


def _namespaces(entry: Any, where: str) -> list[dict]:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise ClusterFileError(f"{where} needs a name")
    count = entry.get("count")
    names = [entry["name"].format(i=i) for i in range(1, int(count) + 1)] if count else [entry["name"]]
    out = []
    for name in names:
        out.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "labels": dict(entry.get("labels") or {})}})
        deps = entry.get("deployments") or []
        if isinstance(deps, dict):
            n = int(deps.get("count", 1))
            deps = [{**deps, "name": deps.get("name", "app-{i}").format(i=i)} for i in range(1, n + 1)]
        for j, dep in enumerate(deps):
            if isinstance(dep, str):
                dep = {"name": dep}
            if not isinstance(dep, dict) or "name" not in dep:
                raise ClusterFileError(f"{where}.deployments[{j}] needs a name")
            out += deployment_objects(name, dep)
        out += shorthands.expand(name, entry, where, ClusterFileError)
    return out


def deployment_objects(namespace: str, dep: dict) -> list[dict]:
    """A Deployment (and, unless ``service: false``, its Service) from the shorthand."""
    name = dep["name"]
    labels = {"app": name, "version": str(dep.get("version", "v1"))}
    strategy: dict[str, Any] = {"type": dep.get("strategy", "RollingUpdate")}
    if strategy["type"] == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": dep.get("maxSurge", "25%"),
                                     "maxUnavailable": dep.get("maxUnavailable", "25%")}
    spec: dict[str, Any] = {
        "replicas": int(dep.get("replicas", 2)), "selector": {"matchLabels": {"app": name}},
        "strategy": strategy,
        "template": {"metadata": {"labels": labels, "annotations": dict(dep.get("annotations") or {})},
                     "spec": {"containers": [{"name": dep.get("container", name),
                                              "image": dep.get("image", DEFAULT_IMAGE),
                                              "ports": [{"containerPort": int(dep.get("port", 8080))}]}]}},
    }
    for key in ("progressDeadlineSeconds", "minReadySeconds"):
        if key in dep:
            spec[key] = int(dep[key])
    objs = [{"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)}, "spec": spec}]
    if dep.get("service", True):
        objs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
                     "spec": {"selector": {"app": name}, "ports": [
                         {"name": "http", "port": 80, "targetPort": int(dep.get("port", 8080))}]}})
    return objs


def base_objects(nodes: list[str | dict]) -> list[dict]:
    """What every cluster has before anything is installed: system namespaces, nodes, the API service."""
    objs: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                        for n in ("default", "kube-system", "kube-public", "kube-node-lease")]
    for i, name in enumerate(nodes):
        if isinstance(name, dict):  # a real node from a dump, as it was
            objs.append(name)
            continue
        role = {"node-role.kubernetes.io/control-plane": ""} if "control-plane" in name else {}
        objs.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **role},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"podCIDR": f"10.244.{i}.0/24", "podCIDRs": [f"10.244.{i}.0/24"],
                     "providerID": f"kind://docker/emulator/{name}",
                     **({"taints": [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]}
                        if role else {})},
            "status": {
                "addresses": [{"type": "InternalIP", "address": f"172.18.0.{2 + i}"},
                              {"type": "Hostname", "address": name}],
                "allocatable": {"cpu": "8", "ephemeral-storage": "100Gi", "memory": "32Gi", "pods": "110"},
                "capacity": {"cpu": "8", "ephemeral-storage": "100Gi", "memory": "32Gi", "pods": "110"},
                "conditions": [
                    {"type": t, "status": "False", "reason": r, "message": m,
                     "lastHeartbeatTime": None, "lastTransitionTime": None}
                    for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory",
                                     "kubelet has sufficient memory available"),
                                    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                                    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))
                ] + [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                      "message": "kubelet is posting ready status", "lastHeartbeatTime": None,
                      "lastTransitionTime": None}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.18",
                             "kernelVersion": "6.1.0-emulator", "kubeProxyVersion": "", "kubeletVersion": "v1.32.0",
                             "machineID": "", "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)",
                             "systemUUID": ""}},
        })
    objs.append({"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "kubernetes", "namespace": "default",
                              "labels": {"component": "apiserver", "provider": "kubernetes"}},
                 "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                          "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})
    return objs
