"""Defaulting and validation of incoming objects, so what clients read back is shaped like a real API
server's answer (defaults filled in) and what a real server rejects with 422 is rejected here too.
"""
from __future__ import annotations

import re
from typing import Any

from .errors import invalid
from .selectors import match_label_selector
from .resources import BUILTIN_GROUPS, ResourceType

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Kinds whose names must be DNS-1123 labels rather than subdomains.
_LABEL_NAMED = {"namespaces", "services"}
# Kinds that carry metadata.generation (bumped on spec changes).
GENERATION_KINDS = {"deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch",
                    "cronjobs.batch",
                    "poddisruptionbudgets.policy", "horizontalpodautoscalers.autoscaling",
                    "customresourcedefinitions.apiextensions.k8s.io",
                    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
                    "validatingwebhookconfigurations.admissionregistration.k8s.io"}


def has_generation(rt: ResourceType) -> bool:
    return rt.key in GENERATION_KINDS or rt.group not in BUILTIN_GROUPS


def default_pod_spec(spec: dict) -> None:
    """Fill a PodSpec's defaults the way the API server's defaulting does."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        image = str(c.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        c.setdefault("imagePullPolicy", "Always" if (":" not in tag or tag.endswith(":latest")) else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")


def apply_defaults(rt: ResourceType, obj: dict) -> None:
    """Fill in the fields a real API server defaults, in place."""
    spec = obj.get("spec")
    key = rt.key
    if key == "namespaces":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif key in ("deployments.apps", "replicasets.apps") and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if key == "deployments.apps":
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {})
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                ru = strategy.setdefault("rollingUpdate", {})
                ru.setdefault("maxSurge", "25%")
                ru.setdefault("maxUnavailable", "25%")
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {})
        default_pod_spec(template.setdefault("spec", {}))
    elif key in ("statefulsets.apps", "daemonsets.apps") and isinstance(spec, dict):
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if key == "statefulsets.apps":
            spec.setdefault("replicas", 1)
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
            if strategy["type"] == "RollingUpdate":
                strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
        elif strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", 1)
            ru.setdefault("maxSurge", 0)
        default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    elif key in ("jobs.batch", "cronjobs.batch") and isinstance(spec, dict):
        template = spec.get("template") if key == "jobs.batch" else \
            ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
        if isinstance(template, dict):
            default_pod_spec(template.setdefault("spec", {}))
    elif key == "pods" and isinstance(spec, dict):
        default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        spec.setdefault("tolerations", [
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "tolerationSeconds": 300}])
        obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    elif key == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif key == "secrets":
        obj.setdefault("type", "Opaque")
    elif key == "customresourcedefinitions.apiextensions.k8s.io" and isinstance(spec, dict):
        names = spec.get("names") or {}
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind', '')}List")
        spec.setdefault("scope", "Namespaced")
        spec.setdefault("conversion", {"strategy": "None"})


def _name_causes(rt: ResourceType, name: str) -> list[tuple[str, str, str]]:
    pattern = _DNS1123_LABEL if rt.key in _LABEL_NAMED else _DNS1123_SUBDOMAIN
    if not name:
        return [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]
    if len(name) > 253 or not pattern.match(name):
        if rt.key in _LABEL_NAMED:
            why = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                   "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                   "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
        else:
            why = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                   "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
        return [("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {why}')]
    return []


def _label_causes(labels: Any) -> list[tuple[str, str, str]]:
    causes = []
    for k, v in (labels or {}).items():
        name = k.rsplit("/", 1)[-1]
        if not _QUALIFIED_NAME.match(name) or len(name) > 63:
            causes.append(("metadata.labels", "FieldValueInvalid",
                           f'Invalid value: "{k}": name part must consist of alphanumeric characters, '
                           "'-', '_' or '.', and must start and end with an alphanumeric character"))
        if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE.match(v):
            causes.append(("metadata.labels", "FieldValueInvalid",
                           f'Invalid value: "{v}": a valid label must be an empty string or consist of '
                           "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                           "alphanumeric character"))
    return causes


def _containers_causes(path: str, spec: dict) -> list[tuple[str, str, str]]:
    containers = spec.get("containers")
    if not containers:
        return [(f"{path}.containers", "FieldValueRequired", "Required value")]
    causes = []
    for i, c in enumerate(containers):
        if not c.get("name"):
            causes.append((f"{path}.containers[{i}].name", "FieldValueRequired", "Required value"))
        if not c.get("image"):
            causes.append((f"{path}.containers[{i}].image", "FieldValueRequired", "Required value"))
    return causes


def validate(rt: ResourceType, obj: dict, old: dict | None = None) -> None:
    """Raise a 422 Invalid ApiError for what a real API server would refuse."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    causes = _name_causes(rt, name) + _label_causes(meta.get("labels"))
    spec = obj.get("spec") or {}
    if rt.key in ("deployments.apps", "replicasets.apps"):
        selector = spec.get("selector")
        tmpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
        elif not match_label_selector(selector, tmpl_labels):
            causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                           f"Invalid value: {tmpl_labels!r}: `selector` does not match template `labels`"))
        if old is not None and old.get("spec", {}).get("selector") != selector:
            causes.append(("spec.selector", "FieldValueInvalid",
                           f"Invalid value: {selector!r}: field is immutable"))
        if int(spec.get("replicas", 1) or 0) < 0:
            causes.append(("spec.replicas", "FieldValueInvalid",
                           f"Invalid value: {spec.get('replicas')}: must be greater than or equal to 0"))
        causes += _containers_causes("spec.template.spec", (spec.get("template") or {}).get("spec") or {})
    elif rt.key == "pods":
        causes += _containers_causes("spec", spec)
    elif rt.key == "services":
        for i, p in enumerate(spec.get("ports") or []):
            if not isinstance(p.get("port"), int):
                causes.append((f"spec.ports[{i}].port", "FieldValueRequired", "Required value"))
    elif rt.key == "configmaps":
        for k, v in (obj.get("data") or {}).items():
            if not isinstance(v, str):
                causes.append((f"data[{k}]", "FieldValueInvalid", "Invalid value: must be a string"))
    if causes:
        raise invalid(rt, name, causes)
