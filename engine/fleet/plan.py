"""From a fleet file to the fleet plan: which clusters go in which wave, in what order, waiting for whom.

Selectors resolve in file order, a canary wave keeps one cluster, `size` splits a wave, and the
primary-remote topology from the cluster labels orders remotes after the primary that serves them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Problem, ValidationError
from .model import PRIMARY, TOPOLOGY, Cluster, Fleet, WaveSpec

ROLES = ("primary", "remote")


@dataclass(frozen=True)
class Wave:
    """One wave of the plan: its clusters in start order and how it runs."""

    index: int
    name: str
    clusters: tuple[str, ...]
    parallelism: int
    soak: float
    confirm: bool = False
    canary: bool = False
    gate: list[dict] = field(default_factory=list)


@dataclass
class FleetPlan:
    """The waves in order, and each remote cluster's primary when both are in one wave (it waits for it)."""

    fleet: Fleet
    waves: list[Wave]
    after: dict[str, str] = field(default_factory=dict)

    def wave_of(self, cluster: str) -> Wave:
        return next(w for w in self.waves if cluster in w.clusters)

    @property
    def clusters(self) -> list[str]:
        return [c for w in self.waves for c in w.clusters]


def _matches(cluster: Cluster, select: dict[str, tuple[str, ...]]) -> bool:
    return all(cluster.labels.get(k) in values for k, values in select.items())


def _resolve(fleet: Fleet) -> list[tuple[WaveSpec, list[str]]]:
    file = str(fleet.path)
    taken: dict[str, str] = {}
    out = []
    for spec in fleet.waves:
        chosen: list[str] = []
        for name in spec.clusters:
            if name in taken:
                raise ValidationError(f"wave '{spec.name}' names cluster '{name}', already in wave '{taken[name]}'",
                                      file=file, line=spec.line, hint="a cluster is upgraded in one wave only")
            if name not in chosen:
                chosen.append(name)
        if spec.select is not None:
            chosen += [c.name for c in fleet.clusters
                       if c.name not in taken and c.name not in chosen and _matches(c, spec.select)]
        if spec.canary:
            chosen = chosen[:1]
        if not chosen:
            raise ValidationError(f"wave '{spec.name}' has no cluster (each it selects is in an earlier wave, "
                                  "or none matches)", file=file, line=spec.line)
        for name in chosen:
            taken[name] = spec.name
        out.append((spec, chosen))
    left = [c for c in fleet.clusters if c.name not in taken]
    if left:
        raise ValidationError(problems=[Problem(f"cluster '{c.name}' is in no wave", file=file, line=c.line,
                                                hint="name it in a wave, or end with a wave `select: {}`")
                                        for c in left])
    return out


def _topology(fleet: Fleet, wave_index: dict[str, int]) -> dict[str, str]:
    """remote -> its primary; refuses remotes without a (known, earlier or same-wave) primary."""
    file = str(fleet.path)
    clusters = fleet.by_name
    problems, after = [], {}
    for c in fleet.clusters:
        role = c.role
        if role is None:
            continue
        if role not in ROLES:
            problems.append(Problem(f"cluster '{c.name}': label {TOPOLOGY}: {role!r} is neither primary nor remote",
                                    file=file, line=c.line))
            continue
        if role != "remote":
            continue
        primary = c.labels.get(PRIMARY)
        if not primary:
            problems.append(Problem(f"remote cluster '{c.name}' has no primary", file=file, line=c.line,
                                    hint=f"label it {PRIMARY}: CLUSTER, the primary whose control plane serves it"))
        elif primary not in clusters:
            problems.append(Problem(f"remote cluster '{c.name}': its primary '{primary}' is not in the fleet",
                                    file=file, line=c.line))
        elif clusters[primary].role != "primary":
            problems.append(Problem(f"remote cluster '{c.name}': '{primary}' is not labelled {TOPOLOGY}: primary",
                                    file=file, line=c.line))
        elif wave_index[c.name] < wave_index[primary]:
            problems.append(Problem(f"remote cluster '{c.name}' is in an earlier wave than its primary '{primary}'",
                                    file=file, line=c.line,
                                    hint="a remote moves only once its primary has the new revision ready: "
                                         "put it in the primary's wave or a later one"))
        elif wave_index[c.name] == wave_index[primary]:
            after[c.name] = primary
    if problems:
        raise ValidationError(problems=problems)
    return after


def build_fleet_plan(fleet: Fleet) -> FleetPlan:
    """Resolve waves (selectors, canary, size) and topology; raises ValidationError on an impossible plan."""
    waves: list[Wave] = []
    for spec, chosen in _resolve(fleet):
        size = spec.size or len(chosen)
        parts = [chosen[i:i + size] for i in range(0, len(chosen), size)]
        for n, part in enumerate(parts, 1):
            waves.append(Wave(index=len(waves), name=spec.name if len(parts) == 1 else f"{spec.name}-{n}",
                              clusters=tuple(part), parallelism=spec.parallelism or fleet.parallelism,
                              soak=fleet.soak if spec.soak is None else spec.soak, confirm=spec.confirm,
                              canary=spec.canary, gate=spec.gate))
    wave_index = {c: w.index for w in waves for c in w.clusters}
    after = _topology(fleet, wave_index)
    # Inside a wave, primaries start first so that their remotes are not left waiting behind other clusters.
    ordered = []
    for w in waves:
        rank = {c: (0 if fleet.by_name[c].role == "primary" else 1 if c in after else 0) for c in w.clusters}
        ordered.append(Wave(**{**w.__dict__, "clusters": tuple(sorted(w.clusters, key=lambda c: rank[c]))}))
    return FleetPlan(fleet=fleet, waves=ordered, after=after)
