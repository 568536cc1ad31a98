"""A dump shaped like ``kubectl get ... -A -o yaml`` of a real production cluster, for the loading tests and the
bench: several hundred objects with managedFields, status, uids, resourceVersions, ownerReferences and
generateName; ReplicaSets, pods (with readiness times), endpoints and events; StatefulSets and DaemonSets with
their pods; CRDs and custom resources of kinds the emulator does not model (cert-manager), custom resources
whose CRD is not in the dump at all (Prometheus operator ServiceMonitors), built-in kinds it does not model
(CronJob, NetworkPolicy, PriorityClass), Secrets, a PodDisruptionBudget that allows a disruption and a
second admission webhook.

Built from an emulated cluster's state (so Istio's objects are exactly what an install makes), then dressed as
a real API server returns objects. Deterministic for a given size.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from pathlib import Path

import yaml

from engine.emulator import Emulator

T0 = dt.datetime(2026, 11, 20, 9, 0, 0, tzinfo=dt.timezone.utc)


def _ts(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cluster_file(namespaces: int) -> dict:
    """The cluster the dump starts from: Istio 1.19.3 on `default` and `namespaces` injected namespaces."""
    return {"readiness_delay": 0.01, "nodes": 4,
            "istio": [{"revision": "default", "version": "1.19.3", "gateway": True}],
            "namespaces": [{"name": f"shop-{i}", "labels": {"istio-injection": "enabled", "team": f"team-{i % 3}"},
                            "deployments": [{"name": n, "replicas": 2 + (i + j) % 2, "maxSurge": 1,
                                             "maxUnavailable": 0} for j, n in
                                            enumerate(("frontend", "cart", "checkout", "catalog"))]}
                           for i in range(1, namespaces + 1)]}


def _managed_fields(obj: dict, rnd: random.Random) -> list[dict]:
    kind = obj["kind"]
    fields = {"f:metadata": {"f:labels": {f"f:{k}": {} for k in (obj["metadata"].get("labels") or {})}}}
    if "spec" in obj:
        fields["f:spec"] = {f"f:{k}": {} for k in obj["spec"]}
    entries = [{"apiVersion": obj["apiVersion"], "fieldsType": "FieldsV1", "fieldsV1": fields,
                "manager": rnd.choice(["kubectl-client-side-apply", "helm", "argocd-controller", "istio-operator"]),
                "operation": "Update", "time": _ts(rnd.randint(0, 3600))}]
    if "status" in obj and kind not in ("Namespace",):
        entries.append({"apiVersion": obj["apiVersion"], "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:status": {f"f:{k}": {} for k in obj["status"]}},
                        "manager": "kube-controller-manager" if kind != "Pod" else "kubelet",
                        "operation": "Update", "subresource": "status", "time": _ts(rnd.randint(3600, 7200))})
    return entries


def _dress(obj: dict, rnd: random.Random, rv: list[int]) -> dict:
    """An object as a real API server returns it."""
    meta = obj["metadata"]
    rv[0] += rnd.randint(1, 40)
    meta["resourceVersion"] = str(rv[0])
    meta.setdefault("uid", str(uuid.UUID(int=rnd.getrandbits(128))))
    meta["creationTimestamp"] = _ts(rnd.randint(0, 600))
    meta["managedFields"] = _managed_fields(obj, rnd)
    return obj


def _readiness(pod: dict, seconds: float) -> None:
    """The pod became Ready `seconds` after it was scheduled, as its conditions record."""
    status = pod.setdefault("status", {})
    start = 1000.0
    status["phase"] = "Running"
    status["startTime"] = _ts(start)
    status["conditions"] = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None,
         "lastTransitionTime": _ts(start + 2)},
        {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": _ts(start + 1)},
        {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": _ts(start + seconds)},
        {"type": "ContainersReady", "status": "True", "lastProbeTime": None,
         "lastTransitionTime": _ts(start + seconds)},
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": _ts(start)}]


def _owned_pods(owner: dict, count: int, labels: dict, image: str, ready_s: float, rnd: random.Random,
                ordinal: bool) -> list[dict]:
    meta = owner["metadata"]
    pods = []
    for i in range(count):
        digest = hashlib.sha1(f"{meta}{i}".encode()).hexdigest()[:5]
        name = f"{meta['name']}-{i}" if ordinal else f"{meta['name']}-{digest}"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": meta["namespace"], "labels": dict(labels),
                            **({} if ordinal else {"generateName": meta["name"] + "-"}),
                            "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                                 "name": meta["name"], "uid": meta["uid"], "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": {"containers": [{"name": "main", "image": image,
                                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}],
                        "nodeName": f"emulator-worker{'' if i % 3 == 0 else i % 3 + 1}"}}
        _readiness(pod, ready_s + rnd.uniform(-1, 1))
        pods.append(pod)
    return pods


def _extras(namespaces: list[str], rnd: random.Random) -> list[dict]:
    """Kinds the emulator does not model, and workloads beside the deployments."""
    out: list[dict] = []
    cert_crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "certificates.cert-manager.io", "labels": {"app": "cert-manager"}},
                "spec": {"group": "cert-manager.io", "scope": "Namespaced",
                         "names": {"plural": "certificates", "singular": "certificate", "kind": "Certificate",
                                   "listKind": "CertificateList", "shortNames": ["cert", "certs"]},
                         "versions": [{"name": "v1", "served": True, "storage": True,
                                       "schema": {"openAPIV3Schema": {"type": "object",
                                                                      "x-kubernetes-preserve-unknown-fields": True}},
                                       "additionalPrinterColumns": [
                                           {"name": "Ready", "type": "string",
                                            "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}]}]},
                "status": {"acceptedNames": {"kind": "Certificate", "plural": "certificates"},
                           "storedVersions": ["v1"], "conditions": []}}
    out.append(cert_crd)
    out.append({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": "business-critical"}, "value": 100000, "globalDefault": False})
    out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    out.append({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": "cert-manager-webhook", "labels": {"app": "webhook"}},
                "webhooks": [{"name": "webhook.cert-manager.io", "admissionReviewVersions": ["v1"],
                              "clientConfig": {"service": {"name": "cert-manager-webhook",
                                                           "namespace": "cert-manager", "path": "/validate"}},
                              "failurePolicy": "Fail", "sideEffects": "None", "matchPolicy": "Equivalent",
                              "namespaceSelector": {"matchExpressions": [
                                  {"key": "cert-manager.io/disable-validation", "operator": "NotIn",
                                   "values": ["true"]}]},
                              "rules": [{"apiGroups": ["cert-manager.io"], "apiVersions": ["v1"],
                                         "operations": ["CREATE", "UPDATE"], "resources": ["*/*"]}]}]})
    for ns in namespaces:
        out.append({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                    "metadata": {"name": f"{ns}-tls", "namespace": ns},
                    "spec": {"secretName": f"{ns}-tls", "dnsNames": [f"{ns}.example.com"],
                             "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        out.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                    "metadata": {"name": "frontend", "namespace": ns, "labels": {"release": "prometheus"}},
                    "spec": {"selector": {"matchLabels": {"app": "frontend"}},
                             "endpoints": [{"port": "http", "interval": "30s"}]}})
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": "default-deny", "namespace": ns},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
        out.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                    "metadata": {"name": f"{ns}-tls", "namespace": ns},
                    "data": {"tls.crt": "LS0tLS1CRUdJTi==", "tls.key": "LS0tLS1CRUdJTi=="}})
        out.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                    "metadata": {"name": "frontend", "namespace": ns},
                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "frontend"}}},
                    "status": {"disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2}})
        out.append({"apiVersion": "batch/v1", "kind": "CronJob",
                    "metadata": {"name": "report", "namespace": ns},
                    "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                        "restartPolicy": "OnFailure", "containers": [{"name": "r", "image": "busybox"}]}}}}}})
    # A StatefulSet in a namespace outside the mesh and a DaemonSet in kube-system, each with their pods.
    out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data", "labels": {"team": "data"}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "redis", "namespace": "data", "uid": str(uuid.UUID(int=rnd.getrandbits(128))),
                        "labels": {"app": "redis"}},
           "spec": {"replicas": 3, "serviceName": "redis", "selector": {"matchLabels": {"app": "redis"}},
                    "template": {"metadata": {"labels": {"app": "redis"}},
                                 "spec": {"containers": [{"name": "redis", "image": "redis:7"}]}}},
           "status": {"replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3}}
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet",
          "metadata": {"name": "node-exporter", "namespace": "kube-system",
                       "uid": str(uuid.UUID(int=rnd.getrandbits(128))), "labels": {"app": "node-exporter"}},
          "spec": {"selector": {"matchLabels": {"app": "node-exporter"}},
                   "template": {"metadata": {"labels": {"app": "node-exporter"}},
                                "spec": {"containers": [{"name": "node-exporter", "image": "prom/node-exporter"}]}}},
          "status": {"desiredNumberScheduled": 3, "numberReady": 3}}
    out += [sts, ds]
    out += _owned_pods(sts, 3, {"app": "redis"}, "redis:7", 25.0, rnd, ordinal=True)
    out += _owned_pods(ds, 3, {"app": "node-exporter"}, "prom/node-exporter", 5.0, rnd, ordinal=False)
    return out


def realistic_dump(namespaces: int = 12, seed: int = 13) -> dict:
    """A ``v1 List`` like ``kubectl get <everything> -A -o yaml`` of a production cluster."""
    rnd = random.Random(seed)
    with Emulator(cluster_file(namespaces)) as emu:
        state = emu.state()
    rv = [812_000]
    items = []
    ready_by_app = {"frontend": 12.0, "cart": 8.0, "checkout": 20.0, "catalog": 6.0, "istiod": 15.0,
                    "istio-ingressgateway": 10.0}
    for obj in state["items"]:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "playbook-emulator-faults":
            continue  # the emulator's own; a real cluster has none
        if obj["kind"] == "Pod":
            app = (obj["metadata"].get("labels") or {}).get("app", "")
            _readiness(obj, ready_by_app.get(app, 10.0) + rnd.uniform(-2, 2))
        if obj["kind"] == "Deployment":
            obj["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = \
                '{"apiVersion":"apps/v1","kind":"Deployment"}\n'
        items.append(obj)
    ns_names = [f"shop-{i}" for i in range(1, namespaces + 1)]
    items += _extras(ns_names, rnd)
    for obj in items:
        _dress(obj, rnd, rv)
    for i, ns in enumerate(ns_names):
        items.append({"apiVersion": "v1", "kind": "Event",
                      "metadata": {"name": f"frontend.{i:x}17a2", "namespace": ns},
                      "involvedObject": {"kind": "Deployment", "name": "frontend", "namespace": ns},
                      "reason": "ScalingReplicaSet", "message": "Scaled up replica set", "type": "Normal"})
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def write_realistic_dump(path: Path, namespaces: int = 12) -> Path:
    """Write :func:`realistic_dump` as YAML to ``path``."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(realistic_dump(namespaces), Dumper=dumper, sort_keys=False))
    return path
