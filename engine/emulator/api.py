"""The API semantics between the HTTP server (and controllers) and the store: create/get/list/replace/patch/
delete with defaulting, validation, generation, resourceVersion preconditions, admission (sidecar injection),
status subresources and garbage collection by ownerReferences.
"""
from __future__ import annotations

import copy
import random
import time
from typing import Any, Callable

from . import errors, limits, managed_fields, namespace_deletion, openapi, patching, typecheck, wire
from .defaults import apply_defaults, has_generation, validate
from .resources import BUILTIN_GROUPS, Registry, ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .store import Store, new_uid, now_iso

# A mutating admission step for creates: (api, type, new object) -> None, may raise ApiError.
Admission = Callable[["Api", ResourceType, dict], None]
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(n))


def _without(obj: dict, *keys: str) -> dict:
    return {k: v for k, v in obj.items() if k not in keys}


class Api:
    """One emulated cluster's API: every write path clients and controllers use."""

    def __init__(self, store: Store | None = None, registry: Registry | None = None) -> None:
        self.store = store or Store()
        self.registry = registry or Registry()
        self.admission: list[Admission] = []
        # Seconds a deleted pod stays Terminating (not Ready) before it is gone; 0 removes pods at once.
        self.termination_delay = 0.0
        self.terminating: dict[tuple[str, str], float] = {}  # pod -> monotonic time it is removed
        self.openapi = openapi.Published(self.registry)  # schemas: served, and typing server-side apply
        self.count = sum(len(self.store.list(key)) for key in self.store.keys())  # objects stored now
        self.store.subscribe(self._counted)

    def _counted(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        self.count += 1 if kind == "ADDED" else -1 if kind == "DELETED" else 0

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> dict:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt, name)
        return self._at_version(rt, obj)

    def find(self, rt: ResourceType, namespace: str, name: str) -> dict | None:
        return self.store.get(rt.key, namespace if rt.namespaced else "", name)

    def list(self, rt: ResourceType, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict]:
        labels_ok = parse_label_selector(label_selector)
        fields_ok = parse_field_selector(field_selector)
        items = self.store.list(rt.key, namespace if rt.namespaced else None)
        return [self._at_version(rt, o) for o in items
                if labels_ok(o["metadata"].get("labels") or {}) and fields_ok(o)]

    def _at_version(self, rt: ResourceType, obj: dict) -> dict:
        """Custom resources are stored once and read at whatever served version was asked for."""
        if obj.get("apiVersion") != rt.api_version:
            return {**obj, "apiVersion": rt.api_version}
        return obj

    # -- writes ------------------------------------------------------------------------------------------
    def create(self, rt: ResourceType, namespace: str, body: dict, *, dry_run: bool = False,
               manager: str | None = None, managed: list | None = None) -> dict:
        """POST. ``manager`` (a client's field manager) comes to own what it wrote; ``managed`` are the
        managers server-side apply computed; internal writers give neither (what the body says is kept)."""
        obj = copy.deepcopy(body)
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request was in an unknown format")
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        name = meta.get("name", "")
        if rt.namespaced:
            namespace = namespace or meta.get("namespace") or "default"
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
            ns = self.store.get("namespaces", "", namespace)
            if ns is None:
                raise errors.namespace_not_found(namespace)
            if ns["metadata"].get("deletionTimestamp"):
                raise errors.forbidden_terminating(rt, name, namespace)
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        limits.check_count(rt, name, self.count)
        limits.check_replicas(rt, obj)
        apply_defaults(rt, obj)
        validate(rt, obj)
        if self.store.get(rt.key, meta.get("namespace", ""), name) is not None:
            raise errors.already_exists(rt, name)
        meta["uid"] = new_uid()  # before admission: the Job defaults tie its selector to it
        for step in self.admission:
            step(self, rt, obj)
        for k in ("resourceVersion", "deletionTimestamp"):
            meta.pop(k, None)
        self._own(rt, meta, {}, obj, "", manager, managed)
        meta["creationTimestamp"] = now_iso()
        if has_generation(rt):
            meta["generation"] = 1
        if rt.key == CRD_KEY:
            self._establish(obj)
        if dry_run:
            return obj
        return self.store.put(rt.key, obj)

    def replace(self, rt: ResourceType, namespace: str, name: str, body: dict, *, subresource: str = "",
                dry_run: bool = False, manager: str | None = None) -> dict:
        """PUT: the body replaces the object; a stale ``resourceVersion`` in it is a 409 Conflict."""
        old = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if old is None:
            raise errors.not_found(rt, name)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was in an unknown format")
        given_rv = (body.get("metadata") or {}).get("resourceVersion")
        if given_rv and given_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, name)
        if (body.get("metadata") or {}).get("name", name) != name:
            raise errors.bad_request(f"the name of the object ({body['metadata']['name']}) does not match the "
                                     f"name on the URL ({name})")
        return self._write(rt, old, copy.deepcopy(body), subresource, dry_run, manager)

    def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str, body: bytes | Any, *,
              subresource: str = "", dry_run: bool = False, manager: str | None = None,
              force: bool = False, validation: str | None = None, warnings: list[str] | None = None) -> dict:
        """PATCH with any of the four patch types; server-side apply creates the object when missing."""
        old = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        ctype = wire.media_type(content_type)
        # Custom resources have no patch strategies: no strategic merge patch for them.
        accepted = [t for t in wire.PATCH_TYPES if rt.group in BUILTIN_GROUPS or t != patching.STRATEGIC_PATCH]
        doc = wire.decode(body, ctype, accepted) if isinstance(body, (bytes, bytearray, str)) else body
        if ctype == patching.APPLY_PATCH:
            return self._apply(rt, namespace, name, old, doc, subresource, dry_run, manager, force, validation,
                               warnings)
        if old is None:
            raise errors.not_found(rt, name)
        current = copy.deepcopy(old)
        if ctype == patching.JSON_PATCH:
            new = patching.apply_json_patch(current, doc)
        elif ctype == patching.MERGE_PATCH:
            new = patching.apply_merge_patch(current, doc)
        else:
            new = patching.apply_strategic_merge_patch(current, doc)
        if not isinstance(new, dict):
            raise errors.bad_request("the patch did not produce an object")
        (warnings if warnings is not None else []).extend(self.enforce_fields(rt, new, validation))
        patched_rv = (new.get("metadata") or {}).get("resourceVersion")
        if patched_rv and patched_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, name)
        return self._write(rt, old, new, subresource, dry_run, manager)

    def _apply(self, rt: ResourceType, namespace: str, name: str, old: dict | None, config: Any, subresource: str,
               dry_run: bool, manager: str | None, force: bool, validation: str | None,
               warnings: list[str] | None) -> dict:
        """Server-side apply with field ownership (see managed_fields)."""
        if not manager:
            raise errors.ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                                  "value: is required for apply patch", {"group": "meta.k8s.io",
                                  "kind": "PatchOptions", "causes": [{"reason": "FieldValueRequired",
                                  "message": "Required value: is required for apply patch",
                                  "field": "fieldManager"}]})
        if not isinstance(config, dict):
            raise errors.bad_request("the body of the request was in an unknown format")
        (warnings if warnings is not None else []).extend(self.enforce_fields(rt, config, validation))
        if config.get("apiVersion") != rt.api_version:
            raise errors.bad_request(f"the API version in the data ({config.get('apiVersion')}) does not match "
                                     f"the expected API version ({rt.api_version})")
        if config.get("kind") != rt.kind:
            raise errors.bad_request(f"the kind in the data ({config.get('kind')}) does not match the expected "
                                     f"kind ({rt.kind})")
        types, root = self._types(rt)
        live = old or {}
        managers = managed_fields.decode((live.get("metadata") or {}).get("managedFields"))
        new, managers = managed_fields.apply(live, config, managers, manager, rt.api_version, subresource, types,
                                             root, force=force, has_status="status" in rt.subresources)
        if old is None:
            return self.create(rt, namespace, new, dry_run=dry_run, managed=managers)
        patched_rv = (new.get("metadata") or {}).get("resourceVersion")
        if patched_rv and patched_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, name)
        return self._write(rt, old, new, subresource, dry_run, managed=managers)

    def enforce_fields(self, rt: ResourceType, obj: Any, validation: str | None) -> list[str]:
        """Type-check a client's object against its schema (a CRD's for a custom resource) and drop unknown
        fields per ``fieldValidation``; returns the warnings to send."""
        schema = None
        if rt.group not in BUILTIN_GROUPS:
            crd = self.find(self.registry.by_key(CRD_KEY), "", f"{rt.plural}.{rt.group}")
            version = next((v for v in ((crd or {}).get("spec") or {}).get("versions") or []
                            if v.get("name") == rt.version), {})
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if not isinstance(schema, dict):
                return []
        return typecheck.enforce(rt, obj, validation, schema)

    def _types(self, rt: ResourceType) -> tuple[managed_fields.Types, managed_fields.Type]:
        crds = self.list(self.registry.by_key(CRD_KEY)) if rt.group not in BUILTIN_GROUPS else []
        schemas = self.openapi.schemas(crds)
        types = managed_fields.Types(schemas.definitions)
        name = schemas.for_kind(rt.group, rt.version, rt.kind)
        return types, (types.of({"$ref": f"#/definitions/{name}"}) if name else managed_fields.Type("untyped"))

    def _own(self, rt: ResourceType, meta: dict, old: dict, new: dict, subresource: str, manager: str | None,
             managed: list | None) -> None:
        """Set the managedFields of ``new`` (whose metadata is ``meta``) for a write from ``old``."""
        if managed is not None:
            entries = managed_fields.encode(managed)
        elif manager:
            given = meta.get("managedFields")
            if given == []:  # an explicit empty list resets ownership
                managers = []
            else:
                managers = managed_fields.decode(given) or managed_fields.decode(
                    (old.get("metadata") or {}).get("managedFields"))
            types, root = self._types(rt)
            has_status = "status" in rt.subresources
            managers = managed_fields.update(
                managers, manager, rt.api_version, subresource,
                managed_fields.owned(old, types, root, subresource, has_status) if old else {},
                managed_fields.owned(new, types, root, subresource, has_status))
            entries = managed_fields.encode(managers)
        elif old:
            entries = (old.get("metadata") or {}).get("managedFields") or []
        else:
            entries = meta.get("managedFields") or []
        if entries:
            meta["managedFields"] = entries
        else:
            meta.pop("managedFields", None)

    def update_status(self, rt: ResourceType, obj: dict) -> dict:
        """Controllers' status write: replaces only ``status``, no precondition."""
        meta = obj["metadata"]
        old = self.store.get(rt.key, meta.get("namespace", ""), meta["name"])
        if old is None:
            raise errors.not_found(rt, meta["name"])
        if old.get("status") == obj.get("status"):
            return old
        return self.store.put(rt.key, {**old, "metadata": dict(old["metadata"]), "status": obj.get("status")})

    def _write(self, rt: ResourceType, old: dict, new: dict, subresource: str, dry_run: bool,
               manager: str | None = None, managed: list | None = None) -> dict:
        meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        for k in ("uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        if subresource == "status":
            new = {**old, "metadata": dict(old_meta), "status": new.get("status")}
        elif "status" in rt.subresources and rt.key != "namespaces":
            # The main resource ignores status changes; controllers own status through /status.
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        limits.check_replicas(rt, new)
        apply_defaults(rt, new)
        validate(rt, new, old)
        if has_generation(rt) and _without(new, "metadata", "status") != _without(old, "metadata", "status"):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if rt.key == CRD_KEY:
            self._establish(new)
        self._own(rt, new["metadata"], old, new, subresource, manager, managed)
        if dry_run:
            return new
        if {**new, "metadata": {**meta, "resourceVersion": old_meta.get("resourceVersion")}} == old:
            return old  # a no-op write is not stored: resourceVersion stays, watchers see nothing
        return self.store.put(rt.key, new)

    def _establish(self, crd: dict) -> None:
        rt = self.registry.add_crd(crd)
        if rt is None:
            raise errors.invalid(self.registry.by_key(CRD_KEY), crd["metadata"].get("name", ""),
                                 [("spec", "FieldValueRequired", "Required value: group, names and versions")])
        expected = f"{rt.plural}.{rt.group}"
        if crd["metadata"].get("name") != expected:
            raise errors.invalid(self.registry.by_key(CRD_KEY), crd["metadata"].get("name", ""), [
                ("metadata.name", "FieldValueInvalid", f'Invalid value: "{crd["metadata"].get("name")}": '
                 f"must be spec.names.plural+\".\"+spec.group")])
        t = crd["metadata"].get("creationTimestamp") or now_iso()
        crd["status"] = {
            "acceptedNames": dict(crd["spec"]["names"]),
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": t},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": t}],
            "storedVersions": [rt.version]}

    def delete(self, rt: ResourceType, namespace: str, name: str, *, propagation: str = "Background",
               preconditions: dict | None = None, dry_run: bool = False, grace: float | None = None) -> dict:
        """Delete, then its dependents (unless ``Orphan``); returns the last state.

        Pods go through ``Terminating`` for ``termination_delay`` seconds (or ``grace``) when that is above 0.
        """
        ns = namespace if rt.namespaced else ""
        old = self.store.get(rt.key, ns, name)
        if old is None:
            raise errors.not_found(rt, name)
        pre = preconditions or {}
        if (pre.get("uid") and pre["uid"] != old["metadata"]["uid"]) or (
                pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]):
            raise errors.conflict(rt, name)
        if dry_run:
            return old
        if rt.key == "namespaces":
            return namespace_deletion.mark_terminating(self, old)
        delay = self.termination_delay if grace is None else grace
        if rt.key == "pods" and delay > 0:
            return self._terminate(old, delay)
        gone = self.store.remove(rt.key, ns, name)
        if rt.key == CRD_KEY:
            crd_rt = self.registry.by_key(f"{old['spec']['names']['plural']}.{old['spec']['group']}")
            if crd_rt is not None:
                for obj in self.store.list(crd_rt.key):
                    self.store.remove(crd_rt.key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            self.registry.remove_crd(old)
        self._collect_dependents(old, orphan=(propagation == "Orphan"))
        return gone or old

    def _terminate(self, pod: dict, delay: float) -> dict:
        """Graceful pod deletion: marked for deletion and unready now, removed by :meth:`reap` later."""
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        if meta.get("deletionTimestamp"):
            return pod
        status = copy.deepcopy(pod.get("status") or {})
        for cond in status.get("conditions") or []:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond["status"] = "False"
        for c in status.get("containerStatuses") or []:
            c["ready"] = False
        self.terminating[key] = time.monotonic() + delay
        return self.store.put("pods", {**pod, "metadata": {**meta, "deletionTimestamp": now_iso(),
                                                            "deletionGracePeriodSeconds": max(1, round(delay))},
                                       "status": status})

    def reap(self) -> None:
        """Remove the terminating pods whose grace period is over; empty and remove terminating namespaces."""
        now = time.monotonic()
        for (ns, name), due in list(self.terminating.items()):
            if due <= now:
                del self.terminating[(ns, name)]
                self.store.remove("pods", ns, name)
        namespace_deletion.finish(self)

    def _collect_dependents(self, owner: dict, *, orphan: bool) -> None:
        uid = owner["metadata"]["uid"]
        ns = owner["metadata"].get("namespace")
        for key in ("replicasets.apps", "jobs.batch", "pods", "controllerrevisions.apps", "endpoints"):
            for obj in self.store.list(key, ns):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == uid for r in refs):
                    continue
                if obj["metadata"].get("deletionTimestamp"):
                    continue  # already deleted gracefully (a pod): the reaper removes it when its grace is over
                if orphan:
                    kept = [r for r in refs if r.get("uid") != uid]
                    self.store.put(key, {**obj, "metadata": {**obj["metadata"], "ownerReferences": kept}})
                else:
                    self.store.remove(key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                    self._collect_dependents(obj, orphan=False)
