"""Istio sidecar injection as the API server performs it: the pod-create admission step calls the
mutating webhooks whose namespace/object selectors match, in configuration-name order; the first Istio
injector that matches injects the proxy of its revision. A webhook whose istiod has no ready pod fails the
create (failurePolicy: Fail), as a real cluster does when the control plane is down.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import istio_objects as io
from .errors import ApiError
from .resources import ResourceType
from .selectors import match_label_selector

if TYPE_CHECKING:
    from .api import Api

MWC_KEY = "mutatingwebhookconfigurations.admissionregistration.k8s.io"
STATUS_ANNOTATION = "sidecar.istio.io/status"
# Istio never injects into these namespaces.
_IGNORED_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "local-path-storage"}


def pod_is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def proxy_revision(pod: dict) -> str | None:
    """The Istio revision of a pod's proxy: its injection status, or (gateways) its ``istio.io/rev`` label."""
    meta = pod.get("metadata") or {}
    status = (meta.get("annotations") or {}).get(STATUS_ANNOTATION)
    if status:
        try:
            return json.loads(status).get("revision") or "default"
        except ValueError:
            return None
    if any(c.get("name") == "istio-proxy" for c in (pod.get("spec") or {}).get("containers") or []):
        return (meta.get("labels") or {}).get(io.REV_LABEL, "default")
    return None


def proxy_image(api: "Api", revision: str) -> str:
    """The proxy image a revision injects: its injector ConfigMap's values, else its istiod's tag."""
    cm = api.store.get("configmaps", io.ISTIO_NAMESPACE, io.injector_configmap_name(revision))
    if cm is not None:
        try:
            values = json.loads((cm.get("data") or {}).get("values") or "{}")
            g = values.get("global") or {}
            return f"{g.get('hub', io.DEFAULT_HUB)}/{(g.get('proxy') or {}).get('image', 'proxyv2')}:{g['tag']}"
        except (ValueError, KeyError):
            pass
    istiod = api.store.get("deployments.apps", io.ISTIO_NAMESPACE, io.istiod_name(revision))
    if istiod is not None:
        image = istiod["spec"]["template"]["spec"]["containers"][0].get("image", "")
        return f"{io.DEFAULT_HUB}/proxyv2:{image.rsplit(':', 1)[-1]}"
    return f"{io.DEFAULT_HUB}/proxyv2:unknown"


def _service_ready(api: "Api", namespace: str, name: str) -> str | None:
    """None when the webhook's service has a ready endpoint, else why not (as the API server words it)."""
    svc = api.store.get("services", namespace, name)
    if svc is None:
        return f'service "{name}" not found'
    selector = (svc.get("spec") or {}).get("selector") or {}
    for pod in api.store.list("pods", namespace):
        if all((pod["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items()) and pod_is_ready(pod):
            return None
    return f'no endpoints available for service "{name}"'


def admit(api: "Api", rt: ResourceType, pod: dict) -> None:
    """Admission step for pod creates: run the matching injection webhook, if any."""
    if rt.key != "pods":
        return
    meta = pod["metadata"]
    namespace = meta.get("namespace", "default")
    annotations = meta.get("annotations") or {}
    if namespace in _IGNORED_NAMESPACES or STATUS_ANNOTATION in annotations or pod["spec"].get("hostNetwork"):
        return
    ns = api.store.get("namespaces", "", namespace)
    ns_labels = (ns or {}).get("metadata", {}).get("labels") or {}
    pod_labels = meta.get("labels") or {}
    for mwc in sorted(api.store.list(MWC_KEY), key=lambda o: o["metadata"]["name"]):
        for hook in mwc.get("webhooks") or []:
            if not _covers_pod_create(hook):
                continue
            if not (match_label_selector(hook.get("namespaceSelector"), ns_labels)
                    and match_label_selector(hook.get("objectSelector"), pod_labels)):
                continue
            service = (hook.get("clientConfig") or {}).get("service") or {}
            problem = _service_ready(api, service.get("namespace", io.ISTIO_NAMESPACE), service.get("name", ""))
            if problem:
                if hook.get("failurePolicy", "Fail") == "Ignore":
                    continue
                raise ApiError(500, "InternalError", f'Internal error occurred: failed calling webhook '
                               f'"{hook["name"]}": failed to call webhook: Post "https://{service.get("name")}.'
                               f'{service.get("namespace")}.svc:443{service.get("path", "/inject")}?timeout=10s": '
                               f"{problem}")
            if annotations.get("sidecar.istio.io/inject") == "false":
                return
            revision = (mwc["metadata"].get("labels") or {}).get(io.REV_LABEL, "default")
            inject(pod, revision, proxy_image(api, revision))
            return


def _covers_pod_create(hook: dict) -> bool:
    for rule in hook.get("rules") or []:
        if "CREATE" in rule.get("operations", []) or "*" in rule.get("operations", []):
            if "pods" in rule.get("resources", []) or "*" in rule.get("resources", []):
                return True
    return False


def inject(pod: dict, revision: str, image: str) -> None:
    """Add the istio-init and istio-proxy containers, labels and annotations Istio's injector adds."""
    meta, spec = pod["metadata"], pod["spec"]
    labels = meta.setdefault("labels", {})
    annotations = meta.setdefault("annotations", {})
    app_containers = [c["name"] for c in spec.get("containers") or []]
    version = image.rsplit(":", 1)[-1]
    labels.setdefault("security.istio.io/tlsMode", "istio")
    labels.setdefault("service.istio.io/canonical-name", labels.get("app") or meta.get("generateName", "").rstrip("-")
                      or meta.get("name", ""))
    labels.setdefault("service.istio.io/canonical-revision", labels.get("version", "latest"))
    labels[io.REV_LABEL] = revision
    if app_containers:
        annotations.setdefault("kubectl.kubernetes.io/default-container", app_containers[0])
        annotations.setdefault("kubectl.kubernetes.io/default-logs-container", app_containers[0])
    annotations.update({
        "istio.io/rev": revision,
        "prometheus.io/path": "/stats/prometheus", "prometheus.io/port": "15020", "prometheus.io/scrape": "true",
        STATUS_ANNOTATION: json.dumps({
            "initContainers": ["istio-init"], "containers": ["istio-proxy"],
            "volumes": ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
                        "istio-podinfo", "istio-token", "istiod-ca-cert"],
            "imagePullSecrets": None, "revision": revision}, separators=(",", ":")),
    })
    discovery = f"{io.istiod_name(revision)}.{io.ISTIO_NAMESPACE}.svc:15012"
    common = {"image": image, "imagePullPolicy": "IfNotPresent", "resources": {
        "limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    spec.setdefault("initContainers", []).append({
        "name": "istio-init", **common,
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
                 "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"]})
    spec["containers"].append({
        "name": "istio-proxy", **common,
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local", "--proxyLogLevel=warning",
                 "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
        "env": [{"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
                {"name": "CA_ADDR", "value": discovery},
                {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
                {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(app_containers)},
                {"name": "ISTIO_META_WORKLOAD_NAME", "value": labels.get("app", "")},
                {"name": "ISTIO_VERSION", "value": version}],
        "ports": [{"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}],
        "readinessProbe": {"failureThreshold": 30, "httpGet": {"path": "/healthz/ready", "port": 15021,
                                                               "scheme": "HTTP"},
                           "initialDelaySeconds": 1, "periodSeconds": 2, "successThreshold": 1,
                           "timeoutSeconds": 3},
        "volumeMounts": [{"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
                         {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"}]})
    volumes = spec.setdefault("volumes", [])
    volumes += [{"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
                {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert", "defaultMode": 420}}]
