"""The object store: every object by resource key, namespace and name, a global resourceVersion counter,
and a bounded log of change events that watches replay from.

Objects in the store are never mutated in place (writers store a new dict), so readers may serialise them
without copying. The store lives on the emulator's event-loop thread; nothing here locks.
"""
from __future__ import annotations

import collections
import datetime as dt
import uuid
from typing import Callable, Iterator

# (type, resource key, object, previous object or None)
Listener = Callable[[str, str, dict, "dict | None"], None]


def now_iso() -> str:
    """The current time as Kubernetes timestamps are written (RFC 3339, whole seconds, UTC)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


class Store:
    """In-memory objects with resourceVersions and change notification."""

    def __init__(self, log_size: int = 50000) -> None:
        self._objects: dict[str, dict[str, dict[str, dict]]] = {}
        self._rv = 100
        self._log: collections.deque[tuple[int, str, str, dict, dict | None]] = collections.deque(maxlen=log_size)
        self._listeners: list[Listener] = []

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def oldest_replayable(self) -> int:
        """The oldest resourceVersion a watch can still start from."""
        return self._log[0][0] - 1 if self._log else self._rv

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every change; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def get(self, key: str, namespace: str, name: str) -> dict | None:
        return self._objects.get(key, {}).get(namespace, {}).get(name)

    def list(self, key: str, namespace: str | None = None) -> list[dict]:
        """Objects of one resource, in one namespace or (None) in all, sorted by namespace then name."""
        by_ns = self._objects.get(key, {})
        if namespace is not None:
            return [by_ns[namespace][n] for n in sorted(by_ns.get(namespace, {}))]
        return [objs[n] for ns in sorted(by_ns) for objs in (by_ns[ns],) for n in sorted(objs)]

    def each(self, key: str) -> list[dict]:
        """Objects of one resource in all namespaces, in no particular order (no sorting: for scans)."""
        return [obj for objs in self._objects.get(key, {}).values() for obj in objs.values()]

    def namespaces_holding(self, namespace: str) -> Iterator[tuple[str, list[dict]]]:
        """Each resource key with its objects in ``namespace``."""
        for key, by_ns in list(self._objects.items()):
            if by_ns.get(namespace):
                yield key, list(by_ns[namespace].values())

    def keys(self) -> list[str]:
        return list(self._objects)

    def put(self, key: str, obj: dict) -> dict:
        """Store ``obj`` (new or replacing), stamping a fresh resourceVersion; emits ADDED or MODIFIED."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        old = self.get(key, ns, meta["name"])
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._objects.setdefault(key, {}).setdefault(ns, {})[meta["name"]] = obj
        self._emit("MODIFIED" if old is not None else "ADDED", key, obj, old)
        return obj

    def remove(self, key: str, namespace: str, name: str) -> dict | None:
        """Remove an object; emits DELETED with a fresh resourceVersion. Returns what was removed."""
        objs = self._objects.get(key, {}).get(namespace, {})
        old = objs.pop(name, None)
        if old is None:
            return None
        if not objs:
            self._objects[key].pop(namespace, None)
        self._rv += 1
        gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
        self._emit("DELETED", key, gone, old)
        return gone

    def events_since(self, rv: int) -> list[tuple[int, str, str, dict, dict | None]]:
        """Logged changes after ``rv``, oldest first; walks back from the newest, so recent is cheap."""
        out = []
        for event in reversed(self._log):
            if event[0] <= rv:
                break
            out.append(event)
        out.reverse()
        return out

    def _emit(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        self._log.append((self._rv, kind, key, obj, old))
        for listener in list(self._listeners):
            listener(kind, key, obj, old)
