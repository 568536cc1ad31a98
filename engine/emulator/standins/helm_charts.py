"""The Istio Helm charts the stand-in knows (base, istiod, gateway), rendered to objects.

Object shapes come from engine.emulator.istio_objects, so a Helm-installed revision looks to the injector
and to istioctl exactly like an istioctl-installed one, plus Helm's ownership labels and annotations.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from engine.emulator import istio_objects as io

from .common import CommandError
from .iop import version_for

CHARTS = ("base", "istiod", "gateway")
NOTES = {
    "base": "Istio base successfully installed!\n\nTo learn more about the release, try:\n"
            "  $ helm status {name} -n {namespace}\n  $ helm get all {name} -n {namespace}\n",
    "istiod": '"{name}" successfully installed!\n\nTo learn more about the release, try:\n'
              "  $ helm status {name} -n {namespace}\n  $ helm get all {name} -n {namespace}\n",
    "gateway": '"{name}" successfully installed!\n\nTo learn more about the release, try:\n'
               "  $ helm status {name} -n {namespace}\n  $ helm get all {name} -n {namespace}\n",
}


@dataclass
class Rendered:
    """A rendered chart: its objects, and which of them are CRDs (created only when absent, never deleted)."""

    chart: str
    version: str
    objects: list[dict]
    crds: list[dict]
    notes: str


def chart_name(ref: str) -> str:
    """'istio/istiod', 'oci://.../istiod', './manifests/charts/istio-control/istio-discovery' -> chart name."""
    last = ref.rstrip("/").rsplit("/", 1)[-1]
    last = {"istio-discovery": "istiod", "istio-base": "base"}.get(last, last)
    if last not in CHARTS:
        raise CommandError(f'chart "{last}" not found in the emulator\'s Istio repository '
                           f"(known charts: {', '.join(CHARTS)})")
    return last


def _own(obj: dict, release: str, namespace: str) -> dict:
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    labels = meta.setdefault("labels", {})
    labels["app.kubernetes.io/managed-by"] = "Helm"
    if "install.operator.istio.io/owning-resource" in labels:
        labels["install.operator.istio.io/owning-resource"] = "unknown"  # what the charts render
    meta.setdefault("annotations", {}).update({"meta.helm.sh/release-name": release,
                                               "meta.helm.sh/release-namespace": namespace})
    if "namespace" in meta:
        meta["namespace"] = namespace
    return obj


def render(chart: str, release: str, namespace: str, values: dict, chart_version: str | None,
           injector_image: str | None = None) -> Rendered:
    """Objects of ``chart`` for ``values`` (Helm-style, as --set/-f give them)."""
    revision = str(values.get("revision") or "") or "default"
    version = chart_version or version_for(revision, (values.get("global") or {}).get("tag"))
    notes = NOTES[chart].format(name=release, namespace=namespace)
    if chart == "base":
        return Rendered(chart, version, _base(values, release, namespace), io.istio_crds(), notes)
    if chart == "istiod":
        return Rendered(chart, version, _istiod(revision, version, values, release, namespace), [], notes)
    return Rendered(chart, version, _gateway(release, namespace, revision, version, values, injector_image),
                    [], notes)


def _base(values: dict, release: str, namespace: str) -> list[dict]:
    objs = [o for o in io.base_objects() if o["kind"] == "ServiceAccount"]
    default_rev = values.get("defaultRevision", "default")
    if default_rev:
        validator = next(o for o in io.control_plane_objects("default", "0") if
                         o["metadata"]["name"] == "istiod-default-validator")
        validator = copy.deepcopy(validator)
        validator["metadata"]["labels"] = {"app": "istiod", "istio": "istiod", io.REV_LABEL: default_rev,
                                           "release": release}
        for hook in validator["webhooks"]:
            hook["clientConfig"]["service"]["name"] = io.istiod_name(default_rev)
        objs.append(validator)
    return [_own(o, release, namespace) for o in objs]


def _istiod(revision: str, version: str, values: dict, release: str, namespace: str) -> list[dict]:
    vals = copy.deepcopy(values)
    vals.pop("revision", None)
    vals.pop("revisionTags", None)
    try:
        objs = io.control_plane_objects(revision, version, values=vals, gateway=False)
    except (ValueError, TypeError, KeyError) as exc:
        raise CommandError(f"INSTALLATION FAILED: template: istiod/templates: {exc}") from None
    shared = {(o["kind"], o["metadata"]["name"]) for o in io.base_objects()}
    keep = [o for o in objs if (o["kind"], o["metadata"]["name"]) not in shared
            and o["kind"] != "IstioOperator" and o["metadata"]["name"] != "istiod-default-validator"]
    keep += [io.tag_webhook(str(tag), revision) for tag in values.get("revisionTags") or []]
    return [_own(o, release, namespace) for o in keep]


def _gateway(release: str, namespace: str, revision: str, version: str, values: dict,
             injector_image: str | None) -> list[dict]:
    labels_in = values.get("labels") or {}
    app = labels_in.get("app", release)
    istio = labels_in.get("istio", release[len("istio-"):] if release.startswith("istio-") else release)
    selector = {"app": app, "istio": istio}
    pod_labels = {**selector, "sidecar.istio.io/inject": "false", "service.istio.io/canonical-name": release}
    if values.get("revision"):
        pod_labels[io.REV_LABEL] = revision
    # The real chart's image 'auto' is filled in by the revision's injector; the emulator renders it directly.
    image = injector_image or f"{io.DEFAULT_HUB}/proxyv2:{version}"
    auto = values.get("autoscaling") or {}
    replicas = int(values.get("replicaCount", auto.get("minReplicas", 1)))
    meta_labels = {**selector, "app.kubernetes.io/name": release, "release": release}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": release, "namespace": namespace, "labels": dict(meta_labels)},
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": pod_labels, "annotations": {
                     "inject.istio.io/templates": "gateway", "sidecar.istio.io/status": json.dumps(
                         {"revision": revision, "templates": ["gateway"]})}},
                     "spec": {"serviceAccountName": release, "containers": [{
                         "name": "istio-proxy", "image": image,
                         "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
                         "resources": values.get("resources") or {}}]}}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": release, "namespace": namespace, "labels": dict(meta_labels)},
        "spec": {"type": (values.get("service") or {}).get("type", "LoadBalancer"), "selector": selector,
                 "ports": [{"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
                           {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80},
                           {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]},
    }
    objs = [{"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": release, "namespace": namespace, "labels": dict(meta_labels)}},
            deployment, service]
    if auto.get("enabled", True):
        objs.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                     "metadata": {"name": release, "namespace": namespace, "labels": dict(meta_labels)},
                     "spec": {"minReplicas": int(auto.get("minReplicas", 1)), "maxReplicas": int(auto.get("maxReplicas", 5)),
                              "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": release},
                              "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                                  "type": "Utilization", "averageUtilization": int(auto.get("targetCPUUtilizationPercentage", 80))}}}]}})
    return [_own(o, release, namespace) for o in objs]
