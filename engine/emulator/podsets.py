"""What the StatefulSet, DaemonSet, Job and Argo Rollout controllers share: owner references, revisions of a
pod template (ControllerRevisions named ``<owner>-<hash>``, as kube-controller-manager writes them), pods
made from a template, and a per-namespace reconcile loop that ignores the controller's own status writes.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import events
from .controllers import template_hash
from .errors import ApiError
from .namespaced import NamespaceController

if TYPE_CHECKING:
    import asyncio

    from .api import Api

POD, CR = "pods", "controllerrevisions.apps"
REVISION_HASH = "controller-revision-hash"


def owner_ref(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: dict, uid: str) -> bool:
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def controller_of(obj: dict) -> dict | None:
    """The ownerReference marked controller (or the first one)."""
    refs = obj["metadata"].get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def alive(pod: dict) -> bool:
    return not pod["metadata"].get("deletionTimestamp")


def copy_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


class PodSetController(NamespaceController):
    """Reconciles every object of one kind in a namespace when it, or a pod it controls, changes."""

    key = ""        # storage key of the kind this controller owns
    kind = ""       # its Kind, as pods' ownerReferences name it
    component = ""  # the event source (``statefulset-controller``)

    def __init__(self, api: "Api") -> None:
        super().__init__(api.store)
        self.api = api

    def start(self, loop: "asyncio.AbstractEventLoop") -> None:
        """Serve from now on, first looking again at every object (timers the loading could not start)."""
        super().start(loop)
        for obj in self.store.list(self.key):
            self._on_change("ADDED", self.key, obj, None)

    def pending(self) -> bool:
        return bool(self._dirty)

    def relevant(self, kind: str, key: str, obj: dict, old: dict | None) -> bool:
        if key == POD:
            ref = controller_of(obj)
            return ref is not None and ref.get("kind") == self.kind
        if key != self.key:
            return False
        # Our own status writes change nothing we read.
        return not (kind == "MODIFIED" and old is not None and old.get("spec") == obj.get("spec")
                    and old["metadata"].get("annotations") == obj["metadata"].get("annotations"))

    def sync(self, namespace: str) -> None:
        for obj in self.store.list(self.key, namespace):
            if not obj["metadata"].get("deletionTimestamp"):
                self.sync_one(obj)

    def sync_one(self, obj: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------------------
    def pods_of(self, obj: dict, *, terminating: bool = False) -> list[dict]:
        uid = obj["metadata"]["uid"]
        return [p for p in self.store.list(POD, obj["metadata"]["namespace"])
                if owned_by(p, uid) and (terminating or alive(p))]

    def event(self, obj: dict, reason: str, message: str, type_: str = "Normal") -> None:
        events.record(self.store, obj, type_, reason, message, self.component)

    def create_pod(self, owner: dict, template: dict, *, name: str = "", generate: str = "",
                   labels: dict | None = None, spec: dict | None = None) -> dict | None:
        """A pod from ``template`` owned by ``owner`` (admission injects its proxy); None if the create fails."""
        meta = copy_json(template.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), **(labels or {})}
        meta.update({"namespace": owner["metadata"]["namespace"], "ownerReferences": [owner_ref(owner)]})
        if name:
            meta["name"] = name
        else:
            meta["generateName"] = generate
        body = {"metadata": meta, "spec": {**copy_json(template.get("spec") or {}), **(spec or {})}}
        try:
            pod = self.api.create(self.api.registry.by_key(POD), owner["metadata"]["namespace"], body)
        except ApiError as exc:
            self.event(owner, "FailedCreate", f"create Pod {name or generate} in {self.kind} "
                                              f"{owner['metadata']['name']} failed error: {exc.message}", "Warning")
            return None
        self.event(owner, "SuccessfulCreate", f"create Pod {pod['metadata']['name']} in {self.kind} "
                                              f"{owner['metadata']['name']} successful")
        return pod

    def delete_pod(self, owner: dict, pod: dict) -> None:
        self.api.delete(self.api.registry.by_key(POD), pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.event(owner, "SuccessfulDelete", f"delete Pod {pod['metadata']['name']} in {self.kind} "
                                              f"{owner['metadata']['name']} successful")

    def revision(self, owner: dict) -> tuple[str, int]:
        """(name, number) of the ControllerRevision of the owner's current template, created when new."""
        ns, name = owner["metadata"]["namespace"], owner["metadata"]["name"]
        template = owner["spec"]["template"]
        h = template_hash(template)
        rev_name = f"{name}-{h}"
        mine = [r for r in self.store.list(CR, ns) if owned_by(r, owner["metadata"]["uid"])]
        top = max([int(r.get("revision", 0)) for r in mine] or [0])
        found = next((r for r in mine if r["metadata"]["name"] == rev_name), None)
        if found is not None:
            return rev_name, int(found.get("revision", 0))
        selector = (owner["spec"].get("selector") or {}).get("matchLabels") or {}
        body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": rev_name, "namespace": ns,
                             "labels": {**selector, "controller.kubernetes.io/hash": h},
                             "ownerReferences": [owner_ref(owner)]},
                "data": {"spec": {"template": {**copy_json(template), "$patch": "replace"}}},
                "revision": top + 1}
        try:
            self.api.create(self.api.registry.by_key(CR), ns, body)
        except ApiError:
            pass  # made by an earlier pass
        return rev_name, top + 1

    def revision_template(self, owner: dict, rev_name: str) -> dict | None:
        """The pod template a ControllerRevision recorded (to recreate pods at an older revision)."""
        cr = self.store.get(CR, owner["metadata"]["namespace"], rev_name)
        if cr is None:
            return None
        template = copy_json(((cr.get("data") or {}).get("spec") or {}).get("template") or {})
        template.pop("$patch", None)
        return template

    def write_status(self, obj: dict, status: dict) -> None:
        self.api.update_status(self.api.registry.by_key(self.key), {**obj, "status": status})
