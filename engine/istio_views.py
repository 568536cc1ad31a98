"""What templates see of a cluster: pods, namespaces and Istio control-plane revisions as small views."""
from __future__ import annotations

import json
from typing import Any

from .kube import Kube

class Named(str):
    """A name that also carries attributes: `{{ rev in revisions() }}` and `{{ r.version }}` both work."""

    def __new__(cls, name: str, **attrs: Any) -> "Named":
        self = super().__new__(cls, name)
        self.__dict__.update(attrs)
        self.__dict__["name"] = str(name)
        return self

    def __getitem__(self, key: Any) -> Any:  # so Jinja's attribute filters find fields by item, too
        if isinstance(key, str) and key in self.__dict__:
            return self.__dict__[key]
        return str.__getitem__(self, key)


def _register_yaml() -> None:
    """Names dump as plain strings in YAML too (a `for_each` item ends up in rendered manifests and files)."""
    import yaml
    for dumper in (yaml.SafeDumper, yaml.Dumper):
        yaml.add_representer(Named, lambda d, v: d.represent_str(str(v)), Dumper=dumper)


_register_yaml()


def image_version(image: str | None) -> str | None:
    """The tag of an image reference (`docker.io/istio/proxyv2:1.20.0` -> `1.20.0`)."""
    if not image:
        return None
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return None
    return tail.split(":", 1)[1] if ":" in tail else "latest"


def pod_view(pod: dict) -> dict:
    """What templates see of a pod: name, namespace, phase, ready, and its Istio proxy's image/version/revision."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    proxy = next((c for c in spec.get("containers") or [] if c.get("name") == "istio-proxy"), None)
    revision = None
    if proxy is not None:
        revision = labels.get("istio.io/rev")
        try:
            revision = json.loads(annotations.get("sidecar.istio.io/status", "{}")).get("revision") or revision
        except (ValueError, AttributeError):
            pass
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    image = proxy.get("image") if proxy else None
    return {"name": meta.get("name"), "namespace": meta.get("namespace"), "phase": status.get("phase"),
            "ready": conditions.get("Ready") == "True", "terminating": bool(meta.get("deletionTimestamp")),
            "labels": labels, "node": spec.get("nodeName"),
            "containers": [c.get("name") for c in spec.get("containers") or []],
            "proxy_image": image, "proxy_version": image_version(image), "proxy_revision": revision}


def namespace_view(ns: dict) -> Named:
    meta = ns.get("metadata") or {}
    labels = meta.get("labels") or {}
    return Named(meta.get("name", ""), labels=labels, phase=(ns.get("status") or {}).get("phase"),
                 revision=labels.get("istio.io/rev"), injection=labels.get("istio-injection"))


def revision_views(kube: Kube, istio_namespace: str = "istio-system") -> list[Named]:
    """Control-plane revisions: each istiod Deployment, with version, readiness and the tags pointing at it."""
    deployments, _ = kube.list("deployment", istio_namespace, "app=istiod")
    hooks, _ = kube.list("mutatingwebhookconfiguration", None, "istio.io/tag")
    tags: dict[str, list[str]] = {}
    for hook in hooks:
        labels = (hook.get("metadata") or {}).get("labels") or {}
        tags.setdefault(labels.get("istio.io/rev", "default"), []).append(labels["istio.io/tag"])
    out = []
    for dep in deployments:
        meta = dep.get("metadata") or {}
        rev = (meta.get("labels") or {}).get("istio.io/rev") or "default"
        containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
        image = next((c.get("image") for c in containers if c.get("name") == "discovery"),
                     containers[0].get("image") if containers else None)
        status = dep.get("status") or {}
        out.append(Named(rev, deployment=meta.get("name"), version=image_version(image),
                         ready=int(status.get("readyReplicas") or 0) > 0,
                         replicas=int((dep.get("spec") or {}).get("replicas") or 0),
                         tags=sorted(tags.get(rev, []))))
    return sorted(out)
