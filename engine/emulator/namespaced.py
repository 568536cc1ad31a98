"""Base of the controllers that recompute state per namespace (endpoints, PDB and HPA status).

A change marks its namespace dirty; one flush per turn of the event loop recomputes each dirty namespace
once, however many objects changed in it.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Store


class NamespaceController:
    """Subclasses say which changes matter (`relevant`) and how to recompute a namespace (`sync`)."""

    def __init__(self, store: "Store") -> None:
        self.store = store
        self._dirty: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        store.subscribe(self._on_change)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def relevant(self, kind: str, key: str, obj: dict, old: dict | None) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def sync(self, namespace: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _on_change(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        if not self.relevant(kind, key, obj, old):
            return
        self._dirty.add(obj["metadata"].get("namespace", ""))
        if self._loop is not None and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        while self._dirty:
            self.sync(self._dirty.pop())
