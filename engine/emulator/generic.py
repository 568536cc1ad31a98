"""Kinds the emulator does not model, served generically: a custom resource whose CRD is not in a dump, or a
built-in kind with no behaviour here (``batch/v1`` CronJob, ``networking.k8s.io/v1`` NetworkPolicy, ...).

Such a kind gets a :class:`~engine.emulator.resources.ResourceType` the first time an object of it is loaded:
its plural is derived from the kind as the API server's conventions name it, its scope from whether the
object has a namespace. From then on the server stores and serves it like any other type (discovery, list,
get, watch, create, replace, patch, delete); nothing acts on it.
"""
from __future__ import annotations

from .resources import Registry, ResourceType

# Plurals the usual English rules get wrong (from the Kubernetes API).
_IRREGULAR = {"Endpoints": "endpoints", "PodSecurityPolicy": "podsecuritypolicies",
              "NetworkPolicy": "networkpolicies", "PriorityClass": "priorityclasses",
              "StorageClass": "storageclasses", "IngressClass": "ingressclasses", "RuntimeClass": "runtimeclasses",
              "CSIStorageCapacity": "csistoragecapacities"}
_SHORT_NAMES = {"CronJob": ("cj",), "NetworkPolicy": ("netpol",), "StorageClass": ("sc",),
                "PersistentVolume": ("pv",), "PriorityClass": ("pc",), "Job": (), "ReplicationController": ("rc",)}


def plural_of(kind: str) -> str:
    """The resource name the API server gives a kind: lower case, English plural."""
    if kind in _IRREGULAR:
        return _IRREGULAR[kind]
    word = kind.lower()
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def serve_kind(registry: Registry, obj: dict) -> ResourceType | None:
    """Serve the kind of ``obj`` if nothing serves it yet; returns its type (None: no apiVersion or kind)."""
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    if not api_version or not kind:
        return None
    known = registry.by_kind(api_version, kind)
    if known is not None:
        return known
    group, _, version = api_version.rpartition("/")
    namespaced = bool((obj.get("metadata") or {}).get("namespace"))
    rt = ResourceType(group, version, plural_of(kind), kind, namespaced, _SHORT_NAMES.get(kind, ()), (),
                      ("status",), (version,))
    existing = registry.by_key(rt.key)
    if existing is not None:  # the same resource at another version: serve that version too
        rt = ResourceType(existing.group, existing.version, existing.plural, existing.kind, existing.namespaced,
                          existing.short_names, existing.categories, existing.subresources,
                          tuple(dict.fromkeys(existing.versions + (version,))))
    registry.serve(rt)
    return registry.by_kind(api_version, kind)
