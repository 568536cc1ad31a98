"""The downtime monitor: for every Deployment (and StatefulSet, DaemonSet, Argo Rollout, ReplicaSet without
an owner), each moment its ready replica count fell to zero after having been above zero, and when it came
back. A run is "zero downtime" when no workload has an outage. Deployments are named ``namespace/name``, the
other kinds ``namespace/kind/name``."""
from __future__ import annotations

import datetime as dt
import time
from typing import Callable

from .store import Store


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


# storage key -> (name prefix, status field of ready pods)
_WATCHED = {"deployments.apps": ("", "readyReplicas"), "statefulsets.apps": ("statefulset/", "readyReplicas"),
            "daemonsets.apps": ("daemonset/", "numberReady"), "rollouts.argoproj.io": ("rollout/", "readyReplicas"),
            "replicasets.apps": ("replicaset/", "readyReplicas")}


def _watched(key: str, obj: dict) -> bool:
    # A ReplicaSet is a workload of its own only without an owner: a Deployment's (or Rollout's) are scaled
    # to zero on purpose as it rolls, and the owner is watched.
    return key in _WATCHED and not (key == "replicasets.apps" and obj["metadata"].get("ownerReferences"))


class DowntimeMonitor:
    """Watches Deployment status through the store; intentional scale-to-zero is not downtime."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._ready: dict[str, int] = {}
        self._outages: dict[str, list[dict]] = {}
        self._seen_ready: set[str] = set()
        for key in _WATCHED:
            for d in store.list(key):
                if _watched(key, d):
                    self._observe(key, d)
        store.subscribe(self._on_change)

    def _on_change(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        if not _watched(key, obj):
            return
        if kind == "DELETED":
            # A removed workload serves nothing by design; not an outage. Nor is the time one created again
            # under the same name (a rollback re-installing what an upgrade removed) takes to become ready.
            label = _WATCHED[key][0]
            name = f"{obj['metadata']['namespace']}/{label}{obj['metadata']['name']}"
            self._ready.pop(name, None)
            self._seen_ready.discard(name)
            return
        self._observe(key, obj)

    def _observe(self, key: str, d: dict) -> None:
        label, ready_field = _WATCHED[key]
        name = f"{d['metadata']['namespace']}/{label}{d['metadata']['name']}"
        ready = int((d.get("status") or {}).get(ready_field, 0))
        wanted = int((d.get("spec") or {}).get("replicas", 1))
        self._outages.setdefault(name, [])
        before = self._ready.get(name, 0)
        self._ready[name] = ready
        if ready > 0:
            self._seen_ready.add(name)
            open_ = self._outages[name][-1] if self._outages[name] else None
            if open_ and open_["end"] is None:
                open_["end"] = self._clock()
        elif before > 0 and wanted > 0 and name in self._seen_ready:
            self._outages[name].append({"start": self._clock(), "end": None})

    def report(self) -> dict[str, list[dict]]:
        """``{"namespace/deployment": [{"start": t, "end": t or None}, ...]}``; an empty list is no downtime."""
        return {k: [dict(o) for o in v] for k, v in sorted(self._outages.items())}

    def format(self) -> str:
        """The report as the ``emulate`` command prints it."""
        report = self.report()
        bad = {k: v for k, v in report.items() if v}
        head = f"Downtime report: {len(report)} workloads watched, {len(bad)} with downtime"
        if not bad:
            return head + " (zero downtime)."
        lines = [head + ":"]
        now = self._clock()
        for name, outages in bad.items():
            for o in outages:
                end = o["end"]
                span = f"{(end if end is not None else now) - o['start']:.2f} s"
                lines.append(f"  {name}: 0 ready from {_clock(o['start'])} to "
                             f"{_clock(end) + ' UTC' if end is not None else 'the end of the run'} ({span})")
        return "\n".join(lines)
