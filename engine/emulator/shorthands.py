"""Cluster-file shorthands for the workload kinds beside Deployments: in a ``namespaces:`` entry,
``statefulsets``, ``daemonsets``, ``jobs``, ``cronjobs``, ``pods`` (bare pods) and ``rollouts`` (Argo, its CRD
added with the first one). Each is a list of entries, or ``{count: N, name: "x-{i}", ...}``; any entry may
carry ``pdb: {minAvailable: 1}`` (or ``maxUnavailable``) for a PodDisruptionBudget selecting its pods, and
so may a ``deployments`` entry.

    statefulsets: [{name: db, replicas: 3, strategy: OnDelete}]        # or RollingUpdate, partition: 1
    daemonsets: [{name: agent, strategy: RollingUpdate, maxUnavailable: 1, nodeSelector: {disk: ssd}}]
    jobs: [{name: migrate, run_seconds: 30}]                           # runs 30 s once Ready, then Succeeded
    cronjobs: [{name: report, schedule: "0 3 * * *", start_now: true, run_seconds: 600}]
    pods: [{name: debug}]
    rollouts: [{name: shop, replicas: 3, pdb: {minAvailable: 2}}]
"""
from __future__ import annotations

from typing import Any, Callable

DEFAULT_IMAGE = "docker.io/kennethreitz/httpbin:latest"
RUN_SECONDS = "emulator.playbook.dev/run-seconds"

ARGO_ROLLOUTS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "rollouts.argoproj.io"},
    "spec": {"group": "argoproj.io", "scope": "Namespaced",
             "names": {"kind": "Rollout", "listKind": "RolloutList", "plural": "rollouts", "singular": "rollout",
                       "shortNames": ["ro"]},
             "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}},
                           "subresources": {"status": {}, "scale": {
                               "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                               "labelSelectorPath": ".status.selector"}}}]}}


def _template(entry: dict, name: str, *, annotations: dict | None = None, restart: str | None = None) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": entry.get("container", name),
                                            "image": entry.get("image", DEFAULT_IMAGE)}]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": {"app": name}, "annotations": {**(entry.get("annotations") or {}),
                                                                  **(annotations or {})}},
            "spec": spec}


def _meta(ns: str, name: str, **extra: Any) -> dict:
    return {"name": name, "namespace": ns, "labels": {"app": name}, **extra}


def statefulset(ns: str, e: dict) -> list[dict]:
    name = e["name"]
    strategy: dict[str, Any] = {"type": e.get("strategy", "RollingUpdate")}
    if strategy["type"] == "RollingUpdate":
        strategy["rollingUpdate"] = {"partition": int(e.get("partition", 0))}
    return [{"apiVersion": "v1", "kind": "Service", "metadata": _meta(ns, name),
             "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"name": "tcp", "port": 80}]}},
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(ns, name),
             "spec": {"replicas": int(e.get("replicas", 3)), "serviceName": name, "updateStrategy": strategy,
                      "podManagementPolicy": e.get("podManagementPolicy", "OrderedReady"),
                      "selector": {"matchLabels": {"app": name}}, "template": _template(e, name)}}]


def daemonset(ns: str, e: dict) -> list[dict]:
    name = e["name"]
    strategy: dict[str, Any] = {"type": e.get("strategy", "RollingUpdate")}
    if strategy["type"] == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxUnavailable": e.get("maxUnavailable", 1), "maxSurge": e.get("maxSurge", 0)}
    template = _template(e, name)
    if e.get("nodeSelector"):
        template["spec"]["nodeSelector"] = dict(e["nodeSelector"])
    return [{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta(ns, name),
             "spec": {"updateStrategy": strategy, "selector": {"matchLabels": {"app": name}},
                      "template": template}}]


def job(ns: str, e: dict) -> list[dict]:
    name = e["name"]
    return [{"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(ns, name),
             "spec": {"parallelism": int(e.get("parallelism", 1)), "completions": int(e.get("completions", 1)),
                      "template": _template(e, name, restart="Never",
                                            annotations={RUN_SECONDS: str(e.get("run_seconds", 10))})}}]


def cronjob(ns: str, e: dict) -> list[dict]:
    name = e["name"]
    ann = {"emulator.playbook.dev/start-now": "true"} if e.get("start_now") else {}
    return [{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(ns, name, annotations=ann),
             "spec": {"schedule": str(e.get("schedule", "0 3 * * *")), "concurrencyPolicy": "Forbid",
                      "jobTemplate": {"spec": {"template": _template(
                          e, name, restart="OnFailure", annotations={RUN_SECONDS: str(e.get("run_seconds", 10))})}}}}]


def pod(ns: str, e: dict) -> list[dict]:
    name = e["name"]
    t = _template(e, name)
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": {**_meta(ns, name), **t["metadata"],
                                                             "labels": {"app": name}}, "spec": t["spec"]}]


def rollout(ns: str, e: dict) -> list[dict]:
    name = e["name"]
    return [{"apiVersion": "v1", "kind": "Service", "metadata": _meta(ns, name),
             "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": _meta(ns, name),
             "spec": {"replicas": int(e.get("replicas", 3)), "selector": {"matchLabels": {"app": name}},
                      "strategy": {"canary": {"maxSurge": 1, "maxUnavailable": 0}},
                      "template": _template(e, name)}}]


KINDS: dict[str, Callable[[str, dict], list[dict]]] = {
    "statefulsets": statefulset, "daemonsets": daemonset, "jobs": job, "cronjobs": cronjob, "pods": pod,
    "rollouts": rollout}


def expand(namespace: str, entry: dict, where: str, error: Callable[[str], Exception]) -> list[dict]:
    """The manifests the workload shorthands of one ``namespaces:`` entry stand for, in one namespace."""
    out: list[dict] = []
    deployments = entry.get("deployments")
    for dep in deployments if isinstance(deployments, list) else []:  # their own shorthand lives in cluster.py
        if isinstance(dep, dict) and dep.get("pdb"):
            out.append(_pdb(namespace, dep))
    for key, make in KINDS.items():
        items = entry.get(key) or []
        if isinstance(items, dict):
            n = int(items.get("count", 1))
            items = [{**items, "name": str(items.get("name", key[:-1] + "-{i}")).format(i=i)} for i in range(1, n + 1)]
        for j, item in enumerate(items):
            if isinstance(item, str):
                item = {"name": item}
            if not isinstance(item, dict) or "name" not in item:
                raise error(f"{where}.{key}[{j}] needs a name")
            if key == "rollouts" and not any(o["kind"] == "CustomResourceDefinition" for o in out):
                out.append(ARGO_ROLLOUTS_CRD)
            out += make(namespace, item)
            if item.get("pdb"):
                out.append(_pdb(namespace, item))
    return out


def _pdb(namespace: str, item: dict) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": item["name"], "namespace": namespace},
            "spec": {**item["pdb"], "selector": {"matchLabels": {"app": item["name"]}}}}
