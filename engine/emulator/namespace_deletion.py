"""Deleting a Namespace the way the API server and kube-controller-manager's namespace controller do it.

The DELETE only marks the namespace (``deletionTimestamp``, phase ``Terminating``); new content is refused from
then on. The controller then deletes everything in it (pods get their grace period) and removes the namespace
once nothing is left, so ``kubectl delete ns --wait`` has something to wait for.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from .errors import ApiError
from .store import now_iso

if TYPE_CHECKING:
    from .api import Api


def mark_terminating(api: "Api", namespace: dict) -> dict:
    """The namespace as the DELETE leaves it: marked, ``Terminating``, still there."""
    if namespace["metadata"].get("deletionTimestamp"):
        return namespace
    status = copy.deepcopy(namespace.get("status") or {})
    status["phase"] = "Terminating"
    marked = {**namespace, "metadata": {**namespace["metadata"], "deletionTimestamp": now_iso()}, "status": status}
    return api.store.put("namespaces", marked)


def finish(api: "Api") -> None:
    """One pass of the namespace controller: empty each terminating namespace; remove the ones already empty."""
    for namespace in api.store.each("namespaces"):
        if not namespace["metadata"].get("deletionTimestamp"):
            continue
        name = namespace["metadata"]["name"]
        left = [(key, obj) for key, objs in api.store.namespaces_holding(name) for obj in objs]
        if not left:
            api.store.remove("namespaces", "", name)
            continue
        # Pods first, so they get their grace period before their owners' deletion would collect them.
        for key, obj in sorted(left, key=lambda item: item[0] != "pods"):
            if obj["metadata"].get("deletionTimestamp"):
                continue  # a pod in its grace period: the reaper removes it
            rt = api.registry.by_key(key)
            if rt is None:  # kinds the registry no longer serves (a CRD gone) leave nothing to wait for
                api.store.remove(key, name, obj["metadata"]["name"])
                continue
            try:
                api.delete(rt, name, obj["metadata"]["name"])
            except ApiError:
                pass  # already collected with its owner earlier in this pass
