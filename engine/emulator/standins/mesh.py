"""Read-side view of the emulated mesh: control-plane revisions, proxies and revision tags.

Everything is derived from the API objects (the conventions in CONVENTIONS.md), never from emulator
internals, so the stand-ins see exactly what a real istioctl would query.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from engine.emulator.istio_objects import ISTIO_NAMESPACE, REV_LABEL, TAG_LABEL, istiod_name

from .kubeclient import KubeClient

PROXY_CONTAINER = "istio-proxy"


@dataclass(frozen=True)
class Revision:
    """One istiod Deployment."""

    name: str
    version: str
    deployment: str
    replicas: int
    ready_pods: tuple[str, ...]

    @property
    def ready(self) -> bool:
        """True when at least the wanted number of istiod pods are Ready (and at least one)."""
        return len(self.ready_pods) >= max(self.replicas, 1)


@dataclass(frozen=True)
class Proxy:
    """One pod with an istio-proxy container."""

    pod: str
    namespace: str
    revision: str
    version: str
    labels: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        """pod.namespace, as istioctl prints proxies."""
        return f"{self.pod}.{self.namespace}"


def image_tag(image: str) -> str:
    """The tag of an image reference ('docker.io/istio/pilot:1.20.0' -> '1.20.0')."""
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def pod_ready(pod: dict) -> bool:
    """A pod that is not terminating and whose Ready condition is True."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _selector(match_labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def deployment_ready_pods(client: KubeClient, deployment: dict) -> list[str]:
    """Names of the Ready pods a Deployment's selector matches."""
    ns = deployment["metadata"].get("namespace")
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    pods = client.list("v1", "Pod", ns, _selector(labels)) if labels else []
    return sorted(p["metadata"]["name"] for p in pods if pod_ready(p))


def deployment_ready(client: KubeClient, deployment: dict) -> bool:
    """Ready the way a rollout wait sees it: as many Ready pods (or readyReplicas) as spec.replicas."""
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    status_ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    if status_ready >= wanted and wanted > 0:
        return True
    return len(deployment_ready_pods(client, deployment)) >= max(wanted, 1)


def revisions(client: KubeClient) -> list[Revision]:
    """Every istiod Deployment in istio-system, as revisions, sorted by name."""
    out = []
    for dep in client.list("apps/v1", "Deployment", ISTIO_NAMESPACE, "app=istiod"):
        labels = dep["metadata"].get("labels") or {}
        rev = labels.get(REV_LABEL) or "default"
        containers = dep["spec"]["template"]["spec"].get("containers") or []
        image = next((c.get("image", "") for c in containers if c.get("name") == "discovery"),
                     containers[0].get("image", "") if containers else "")
        out.append(Revision(rev, image_tag(image), dep["metadata"]["name"],
                            int(dep["spec"].get("replicas", 1)), tuple(deployment_ready_pods(client, dep))))
    return sorted(out, key=lambda r: r.name)


def find_revision(client: KubeClient, name: str) -> Revision | None:
    """The revision called ``name``, or None."""
    dep = client.get_or_none("apps/v1", "Deployment", istiod_name(name), ISTIO_NAMESPACE)
    if dep is None:
        return None
    return next((r for r in revisions(client) if r.deployment == dep["metadata"]["name"]), None)


def proxy_of(pod: dict) -> Proxy | None:
    """The proxy a pod runs, or None when it has no istio-proxy container."""
    spec = pod.get("spec") or {}
    container = next((c for c in spec.get("containers") or [] if c.get("name") == PROXY_CONTAINER), None)
    if container is None:
        return None
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    revision = labels.get(REV_LABEL) or ""
    status = (meta.get("annotations") or {}).get("sidecar.istio.io/status")
    if status:
        try:
            revision = json.loads(status).get("revision") or revision
        except ValueError:
            pass
    return Proxy(meta["name"], meta.get("namespace", ""), revision or "default", image_tag(container.get("image", "")),
                 tuple(sorted(labels.items())))


def proxies(client: KubeClient, namespace: str | None = None) -> list[Proxy]:
    """Every Running (not terminating) pod with a proxy, sorted by pod.namespace.

    A Pending pod's proxy has not started, so it has not connected to any istiod yet.
    """
    out = []
    for pod in client.list("v1", "Pod", namespace):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        proxy = proxy_of(pod)
        if proxy is not None:
            out.append(proxy)
    return sorted(out, key=lambda p: p.name)


def tags(client: KubeClient) -> dict[str, str]:
    """Revision tags: tag name -> the revision its webhook points at."""
    out = {}
    for hook in client.list("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"):
        labels = hook["metadata"].get("labels") or {}
        if TAG_LABEL in labels:
            out[labels[TAG_LABEL]] = labels.get(REV_LABEL, "")
    return out


def resolve_revision(name: str, tag_map: dict[str, str]) -> str:
    """A namespace label value (tag or revision) -> the revision it selects."""
    return tag_map.get(name, name)
