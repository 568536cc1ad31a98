"""Discovery documents (``/api``, ``/apis``, group versions, ``/version``) and the minimal OpenAPI v3 that
tells kubectl the server validates fields itself, so ``kubectl apply`` works without ``--validate=false``.
"""
from __future__ import annotations

import hashlib
import json

from .resources import VERBS, Registry, ResourceType

KUBE_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit":
                "70d3cc986aa8221cd1dfb1121852688902d3bf53", "gitTreeState": "clean",
                "buildDate": "2024-12-11T17:59:15Z", "goVersion": "go1.23.3", "compiler": "gc",
                "platform": "linux/amd64"}
_SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
                      "log": ["get"], "eviction": ["create"], "exec": ["create", "get"]}


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_entry(group: str, versions: list[str]) -> dict:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(g, vs) for g, vs in registry.groups() if g]}


def api_group(registry: Registry, group: str) -> dict | None:
    for g, vs in registry.groups():
        if g == group and g:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(g, vs)}
    return None


def _resource_entry(rt: ResourceType) -> dict:
    entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
             "verbs": VERBS,
             "storageVersionHash": hashlib.sha256(rt.key.encode()).hexdigest()[:12]}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def resource_list(registry: Registry, group: str, version: str) -> dict | None:
    types = [rt for rt in registry.in_group_version(group, version) if rt is not None]
    if not types:
        return None
    resources = []
    for rt in sorted(types, key=lambda t: t.plural):
        resources.append(_resource_entry(rt))
        for sub in rt.subresources:
            resources.append({"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                              "kind": "Scale" if sub == "scale" else rt.kind,
                              "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
                              **({"group": "autoscaling", "version": "v1"} if sub == "scale" else {})})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root(registry: Registry) -> dict:
    """``/openapi/v3``: one entry per group version, as the aggregated OpenAPI v3 discovery lists them."""
    paths = {}
    for group, versions in registry.groups():
        for v in versions:
            path = _gv_path(group, v)
            digest = hashlib.sha512(json.dumps(openapi_v3_group(registry, group, v), sort_keys=True).encode())
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.hexdigest()[:32].upper()}"}
    return {"paths": paths}


def openapi_v3_group(registry: Registry, group: str, version: str) -> dict | None:
    """A group version's OpenAPI v3: PATCH operations that declare ``fieldValidation`` (so kubectl validates
    server-side), without schemas (so kubectl computes strategic patches from its compiled-in types)."""
    types = [rt for rt in registry.in_group_version(group, version) if rt is not None]
    if not types:
        return None
    paths = {}
    for rt in types:
        base = f"/{_gv_path(group, version)}" + ("/namespaces/{namespace}" if rt.namespaced else "")
        gvk = {"group": group, "version": version, "kind": rt.kind}
        op = {"operationId": f"patch{rt.kind}", "x-kubernetes-action": "patch",
              "x-kubernetes-group-version-kind": gvk,
              "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"},
                              "uniqueItems": True},
                             {"name": "dryRun", "in": "query", "schema": {"type": "string"}, "uniqueItems": True},
                             {"name": "fieldManager", "in": "query", "schema": {"type": "string"},
                              "uniqueItems": True}],
              "responses": {"200": {"description": "OK"}}}
        paths[f"{base}/{rt.plural}/{{name}}"] = {"patch": op}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}
