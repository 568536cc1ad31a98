"""The rehearsal's checks: each reads the copied cluster (and, after the run, the copy's final state) against
what the playbook means to do, and returns findings with stable codes (see findings.py).

What the playbook means to do is read from its inputs, by the names the shipped Istio playbooks use
(``rev``, ``old_rev``, ``waves``, ``promote``, ``pilot_replicas``, ``pilot_*_request``, ``istio_namespace``);
a check whose inputs a playbook does not have is skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..emulator.controllers import resolve_percent
from .findings import Finding, obj_ref
from .view import SYSTEM_NAMESPACES, ClusterView, Workload, pod_proxy_revision, pod_requests, quantity

_GIB = 1024.0 ** 3


@dataclass
class Intent:
    """What the playbook is about to do, as far as its inputs say."""

    rev: str | None = None
    old_rev: str = "default"
    waves: list[str] | None = None  # namespaces, in order; None: the playbook has no waves
    promote: bool = True
    istio_namespace: str = "istio-system"
    pilot_replicas: int | None = None
    pilot_cpu: float | None = None
    pilot_mem: float | None = None
    gateway_replicas: int = 0
    installs: bool = True  # the playbook installs revision rev (else it moves namespaces to an existing one)

    @classmethod
    def from_inputs(cls, values: dict[str, Any]) -> "Intent":
        waves = values.get("waves")
        namespaces = None
        if isinstance(waves, list):
            namespaces = [str(ns) for w in waves if isinstance(w, dict) for ns in w.get("namespaces") or []]
        elif isinstance(values.get("namespaces_to_move"), list):  # migrate-namespaces.yaml
            namespaces = [str(ns) for ns in values["namespaces_to_move"]]
        return cls(installs="installer" in values or "istio_version" in values,
                   rev=str(values["rev"]) if values.get("rev") else None,
                   old_rev=str(values.get("old_rev") or "default"), waves=namespaces,
                   promote=bool(values.get("promote", True)),
                   istio_namespace=str(values.get("istio_namespace") or "istio-system"),
                   pilot_replicas=_int(values.get("pilot_replicas")),
                   pilot_cpu=quantity(values["pilot_cpu_request"]) if values.get("pilot_cpu_request") else None,
                   pilot_mem=quantity(values["pilot_memory_request"]) if values.get("pilot_memory_request") else None,
                   gateway_replicas=_int(values.get("gateway_min_replicas")) or 0)

    def moved(self, view: ClusterView) -> list[str]:
        """The namespaces the change restarts: its waves, else every namespace the old revision injects."""
        if self.waves is not None:
            return list(self.waves)
        return [ns for ns in view.namespaces() if view.injected_revision(ns) == self.old_rev]


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def before_run(view: ClusterView, intent: Intent) -> list[Finding]:
    """Every check that reads the copied cluster as the snapshot shows it."""
    return [*pdb_blocks_restart(view, intent), *webhook_overlap(view), *tag_collision(view, intent),
            *namespaces_in_no_wave(view, intent), *capacity(view, intent)]


# -- RH101 --------------------------------------------------------------------------------------------------
def pdb_blocks_restart(view: ClusterView, intent: Intent) -> list[Finding]:
    out = []
    moved = set(intent.moved(view))
    for pdb in view.kind("PodDisruptionBudget"):
        ns = pdb["metadata"].get("namespace", "")
        if ns not in moved:
            continue
        spec = pdb.get("spec") or {}
        pods = view.selected_pods(ns, spec.get("selector"))
        if not pods:
            continue
        expected = len(pods)
        if "minAvailable" in spec:
            desired = resolve_percent(spec["minAvailable"], expected, True)
            rule = f"minAvailable {spec['minAvailable']}"
        elif "maxUnavailable" in spec:
            desired = max(0, expected - resolve_percent(spec["maxUnavailable"], expected, True))
            rule = f"maxUnavailable {spec['maxUnavailable']}"
        else:
            continue
        if expected - desired > 0:
            continue
        workloads = sorted({str(view.owner_of(p)) for p in pods})
        out.append(Finding(
            "RH101", (obj_ref(pdb), *workloads),
            f"PodDisruptionBudget {ns}/{pdb['metadata']['name']} ({rule}) allows no disruption of its {expected} "
            f"pod(s) ({', '.join(workloads)}): every eviction while {ns} restarts is refused, so a node drain "
            f"or an eviction-based restart during the change blocks until it times out",
            f"allow one disruption: set maxUnavailable: 1 (or minAvailable: {max(0, expected - 1)}) for the "
            f"change, or scale the workload to {desired + 1} replicas first",
            details={"expected_pods": expected, "desired_healthy": desired}))
    return out


# -- RH102 --------------------------------------------------------------------------------------------------
def webhook_overlap(view: ClusterView, seen_in: str = "snapshot") -> list[Finding]:
    out = []
    for ns in view.kind("Namespace"):
        name = ns["metadata"]["name"]
        if name in SYSTEM_NAMESPACES:
            continue
        labels = ns["metadata"].get("labels") or {}
        hooks = view.matching_injectors(labels)
        if len(hooks) < 2:
            continue
        names = [h["metadata"]["name"] for h in hooks]
        revs = [(h["metadata"].get("labels") or {}).get("istio.io/rev", "default") for h in hooks]
        shown = {k: v for k, v in labels.items() if k in ("istio-injection", "istio.io/rev")}
        out.append(Finding(
            "RH102", (f"Namespace {name}", *(f"MutatingWebhookConfiguration {n}" for n in names)),
            f"namespace {name} ({', '.join(f'{k}={v}' for k, v in shown.items()) or 'its labels'}) is selected by "
            f"{len(hooks)} injection webhooks ({', '.join(f'{n} -> {r}' for n, r in zip(names, revs))}): the "
            f"one whose name sorts first injects ({revs[0]}), whatever the label meant",
            "give the namespace one injection label (istio.io/rev=<revision or tag> or istio-injection=enabled, "
            "not both), and if a `default` tag exists, deactivate the default revision's own injector "
            "(istioctl tag set default does)", seen_in=seen_in, details={"webhooks": names, "revisions": revs}))
    return out


# -- RH103 --------------------------------------------------------------------------------------------------
def tag_collision(view: ClusterView, intent: Intent) -> list[Finding]:
    rev = intent.rev
    if not rev:
        return []
    out = []
    tags, revisions = view.tags(), view.revisions()
    if rev in tags:
        out.append(Finding(
            "RH103", (f"MutatingWebhookConfiguration istio-revision-tag-{rev}",),
            f"revision tag {rev} already exists (-> {tags[rev]}): namespaces labelled istio.io/rev={rev} would "
            f"be injected by the tag, not by the new control plane",
            f"pick another revision name, or remove the tag first (istioctl tag remove {rev})"))
    if intent.installs and (rev in revisions or rev in ("default", intent.old_rev)):
        out.append(Finding(
            "RH103", (f"Deployment {intent.istio_namespace}/istiod{'' if rev == 'default' else '-' + rev}",),
            f"revision {rev} already exists in the cluster (revisions: {', '.join(revisions) or 'none'})",
            "pick a new revision name, or remove the leftovers of an earlier attempt "
            "(playbooks/rollback-upgrade.yaml)"))
    default_tag = tags.get("default")
    if default_tag is not None and default_tag != intent.old_rev:
        out.append(Finding(
            "RH103", ("MutatingWebhookConfiguration istio-revision-tag-default",),
            f"the default tag points at {default_tag}, not at old_rev {intent.old_rev}: istio-injection=enabled "
            f"namespaces are on {default_tag}, and the upgrade would move the tag from a revision it did not expect",
            f"set old_rev={default_tag}, or point the tag at {intent.old_rev} first "
            f"(istioctl tag set default --revision {intent.old_rev} --overwrite)"))
    for tag, target in sorted(tags.items()):
        if tag != rev and tag in revisions and tag != "default":
            out.append(Finding(
                "RH103", (f"MutatingWebhookConfiguration istio-revision-tag-{tag}",),
                f"tag {tag} has the name of a revision (and points at {target}): istio.io/rev={tag} is ambiguous",
                f"rename the tag (istioctl tag remove {tag}; istioctl tag set <new name> --revision {target})"))
    return out


# -- RH104 --------------------------------------------------------------------------------------------------
def old_proxies(before: ClusterView, after: ClusterView, intent: Intent, restarted: set[Workload],
                succeeded: bool) -> list[Finding]:
    """Workloads with another revision's proxy in the namespaces the run moved that the run never restarted
    (or, when it finished, whose pods still run another proxy)."""
    if not intent.rev:
        return []
    out = []
    reached = {w.namespace for w in restarted}
    for ns in intent.moved(before):
        if ns not in reached:
            continue  # the run stopped before this namespace: nothing to say about it
        now = after.pods_by_workload(ns)
        for workload, pods in sorted(before.pods_by_workload(ns).items(), key=lambda kv: str(kv[0])):
            old = sorted({pod_proxy_revision(p) for p in pods} - {None, intent.rev})
            if not old:
                continue
            if workload in restarted:
                stale = sorted({r for p in now.get(workload, []) for r in [pod_proxy_revision(p)]
                                if r not in (None, intent.rev)})
                if not succeeded or not stale:
                    continue
                why = f"it was restarted, yet its pods still run the {', '.join(stale)} proxy"
            else:
                why = f"the rehearsal moved {ns} but never restarted it; its pods run the {', '.join(old)} proxy"
            removed = intent.promote and intent.old_rev in old
            verb = "delete its pods" if workload.kind == "Pod" else \
                f"kubectl rollout restart {workload.kind.lower()}/{workload.name} -n {ns}"
            out.append(Finding(
                "RH104", (str(workload),),
                f"{workload} keeps an old proxy: {why}"
                + (f"; once {intent.old_rev} is removed its proxies lose their control plane" if removed else ""),
                f"restart it onto {intent.rev} after {ns} moves ({verb}), or add that restart to the playbook",
                seen_in="rehearsal"))
    return out


# -- RH105 --------------------------------------------------------------------------------------------------
def namespaces_in_no_wave(view: ClusterView, intent: Intent) -> list[Finding]:
    if intent.waves is None or not (intent.installs and intent.promote):
        return []  # only a change that removes the old revision must move every namespace it injects
    out = []
    waves = set(intent.waves)
    for ns in view.namespaces():
        if ns in waves or ns == intent.istio_namespace:
            continue
        rev = view.injected_revision(ns)
        if rev is None or rev != intent.old_rev:
            continue
        proxies = sum(1 for p in view.pods(ns) if pod_proxy_revision(p))
        out.append(Finding(
            "RH105", (f"Namespace {ns}",),
            f"namespace {ns} is injected by {rev} ({proxies} pod(s) with its proxy) but is in no wave: it stays on "
            f"{rev}, which the change removes",
            f"add {ns} to a wave (waves: [{{name: ..., namespaces: [..., {ns}]}}]), or take its injection label off "
            f"if it should not be in the mesh"))
    return out


# -- RH106 --------------------------------------------------------------------------------------------------
def capacity(view: ClusterView, intent: Intent) -> list[Finding]:
    nodes = [n for n in view.kind("Node") if not (n.get("spec") or {}).get("unschedulable")]
    if not nodes or not intent.rev:
        return []

    alloc_cpu = sum(quantity(((n.get("status") or {}).get("allocatable") or {}).get("cpu", 0)) for n in nodes)
    alloc_mem = sum(quantity(((n.get("status") or {}).get("allocatable") or {}).get("memory", 0)) for n in nodes)
    used = [pod_requests(p) for p in view.pods()]
    free_cpu = alloc_cpu - sum(c for c, _ in used)
    free_mem = alloc_mem - sum(m for _, m in used)
    need_cpu, need_mem, parts = _control_plane_need(view, intent)
    surge_cpu, surge_mem, surge_ns = 0.0, 0.0, ""
    for ns in intent.moved(view):
        cpu, mem = _surge(view, ns)
        if cpu > surge_cpu:
            surge_cpu, surge_mem, surge_ns = cpu, mem, ns
    if surge_ns:
        parts.append(f"the surge of restarting {surge_ns} ({surge_cpu:.2f} CPU, {surge_mem / _GIB:.2f} GiB)")
    need_cpu += surge_cpu
    need_mem += surge_mem
    short = []
    if need_cpu > free_cpu:
        short.append(f"CPU: {need_cpu:.2f} cores needed, {free_cpu:.2f} free")
    if need_mem > free_mem:
        short.append(f"memory: {need_mem / _GIB:.2f} GiB needed, {free_mem / _GIB:.2f} GiB free")
    if not short:
        return []
    return [Finding(
        "RH106", tuple(f"Node {n['metadata']['name']}" for n in nodes),
        f"not enough free capacity on {len(nodes)} schedulable node(s) for {' + '.join(parts)}: {'; '.join(short)}",
        "add nodes (or let the autoscaler), lower pilot_replicas or its requests for the change, or move fewer "
        "namespaces at once", details={"free_cpu": round(free_cpu, 3), "free_mem": int(free_mem),
                                       "need_cpu": round(need_cpu, 3), "need_mem": int(need_mem)})]


def _control_plane_need(view: ClusterView, intent: Intent) -> tuple[float, float, list[str]]:
    if not intent.installs:
        return 0.0, 0.0, []
    old = view.get("Deployment", f"istiod{'' if intent.old_rev == 'default' else '-' + intent.old_rev}",
                   intent.istio_namespace)
    replicas = intent.pilot_replicas or int(((old or {}).get("spec") or {}).get("replicas", 1))
    cpu, mem = intent.pilot_cpu, intent.pilot_mem
    if (cpu is None or mem is None) and old is not None:
        ocpu, omem = pod_requests({"spec": old["spec"]["template"]["spec"]})
        cpu, mem = cpu if cpu is not None else ocpu, mem if mem is not None else omem
    cpu, mem = cpu or 0.0, mem or 0.0
    gw = intent.gateway_replicas
    parts = [f"{replicas} istiod of {intent.rev} ({replicas * cpu:.2f} CPU, {replicas * mem / _GIB:.2f} GiB)"]
    if gw:
        parts.append(f"{gw} gateway pod(s)")
    return replicas * cpu + gw * 0.1, replicas * mem + gw * 128 * 1024 ** 2, parts


def _surge(view: ClusterView, namespace: str) -> tuple[float, float]:
    """What a rolling restart of every Deployment in the namespace adds at its peak (all roll at once)."""
    cpu = mem = 0.0
    by_workload = view.pods_by_workload(namespace)
    for d in view.kind("Deployment"):
        if d["metadata"].get("namespace") != namespace:
            continue
        spec = d.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        surge = _max_surge(spec, replicas)
        pods = by_workload.get(Workload("Deployment", namespace, d["metadata"]["name"])) or []
        pcpu, pmem = pod_requests(pods[0]) if pods else pod_requests({"spec": spec.get("template", {}).get("spec")})
        cpu += surge * pcpu
        mem += surge * pmem
    return cpu, mem


def _max_surge(spec: dict, replicas: int) -> int:
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    return resolve_percent((strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"), replicas, True)


def rollout_batches(spec: dict, key: str = "deployments.apps", nodes: int = 1) -> int:
    """How many waves of new pods a rolling update takes (each waits for readiness): a Deployment by its
    maxSurge + maxUnavailable; a StatefulSet one pod at a time (or maxUnavailable); a DaemonSet over its
    ``nodes`` by maxUnavailable."""
    if key == "deployments.apps":
        replicas = int(spec.get("replicas", 1))
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate" or replicas <= 0:
            return 1
        ru = strategy.get("rollingUpdate") or {}
        step = _max_surge(spec, replicas) + resolve_percent(ru.get("maxUnavailable", "25%"), replicas, False)
        return max(1, math.ceil(replicas / max(1, step)))
    total = int(spec.get("replicas", 1)) if key == "statefulsets.apps" else nodes
    ru = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    step = resolve_percent(ru.get("maxUnavailable", 1), max(total, 1), False)
    return max(1, math.ceil(total / max(1, step)))


# -- RH107, RH108 -------------------------------------------------------------------------------------------
def failed_steps(steps: list[dict], run_dir: str) -> list[Finding]:
    """One finding per step that failed in the rehearsal run."""
    out = []
    for s in steps:
        if s["status"] != "failed":
            continue
        rollback = "; the rollback ran" if s.get("rolled_back") else ""
        out.append(Finding(
            "RH107", (f"step {s['key']}",),
            f"step {s['key']} ({s.get('name') or s.get('uses')}) failed: {s.get('message') or 'no message'}{rollback}",
            f"fix what the message names before the real run; the step's output is in "
            f"{run_dir}/output/", seen_in="rehearsal"))
    return out


def downtime(report: dict[str, list[dict]]) -> list[Finding]:
    out = []
    for name, outages in sorted(report.items()):
        if not outages:
            continue
        workload = monitored_workload(name)
        total = sum((o["end"] or o["start"]) - o["start"] for o in outages)
        out.append(Finding(
            "RH108", (str(workload),),
            f"{workload} had no ready replica {len(outages)} time(s) during the rehearsal "
            f"({total:.1f} s in the emulator)",
            f"roll it with maxUnavailable: 0 and maxSurge >= 1, run at least 2 replicas, and give it a "
            f"readiness probe (kubectl -n {workload.namespace} get {workload.kind.lower()} {workload.name} -o yaml)",
            seen_in="rehearsal"))
    return out


_MONITOR_KINDS = {"statefulset": "StatefulSet", "daemonset": "DaemonSet", "rollout": "Rollout"}


def monitored_workload(name: str) -> Workload:
    """The workload of a downtime-monitor entry (``ns/name`` for Deployments, ``ns/kind/name`` for others)."""
    parts = name.split("/")
    if len(parts) == 3:
        return Workload(_MONITOR_KINDS.get(parts[1], parts[1]), parts[0], parts[2])
    return Workload("Deployment", parts[0], parts[-1])
