"""The fleet file as dataclasses: read, schema-checked (schemas/fleet.schema.json) and turned into a `Fleet`.

Every problem is located (file:line) like a playbook's; nothing here resolves selectors or waves (plan.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..durations import parse_duration
from ..errors import ValidationError
from ..loader import load_yaml_file
from ..schema import SCHEMA_DIR, problems_for, validator_for

TOPOLOGY, PRIMARY = "topology", "primary"


@lru_cache(maxsize=None)
def fleet_schema() -> dict:
    """The fleet format's JSON Schema (schemas/fleet.schema.json)."""
    return json.loads((SCHEMA_DIR / "fleet.schema.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Cluster:
    """One cluster of the fleet: how to reach it, its labels, its own inputs."""

    name: str
    context: str
    kubeconfig: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    emulate: dict[str, Any] = field(default_factory=dict)
    line: int | None = None

    @property
    def role(self) -> str | None:
        """`primary`, `remote` or None (a cluster outside a primary-remote mesh)."""
        return self.labels.get(TOPOLOGY)


@dataclass(frozen=True)
class WaveSpec:
    """A wave as written: the clusters it names or selects and how it runs."""

    name: str
    clusters: tuple[str, ...] = ()
    select: dict[str, tuple[str, ...]] | None = None
    canary: bool = False
    size: int | None = None
    parallelism: int | None = None
    soak: float | None = None
    confirm: bool = False
    gate: list[dict] = field(default_factory=list)
    line: int | None = None


@dataclass(frozen=True)
class FailureBudget:
    """Clusters that may fail before the fleet halts: a count, or a percentage of the fleet rounded down."""

    max_failed: int | None = None
    percent: float | None = None

    def allowed(self, total: int) -> int:
        if self.max_failed is not None:
            return self.max_failed
        if self.percent is not None:
            return int(total * self.percent / 100.0)
        return 0

    def describe(self, total: int) -> str:
        n = self.allowed(total)
        src = f" ({self.percent:g}% of {total})" if self.percent is not None else ""
        return f"{n} failed cluster{'s' if n != 1 else ''}{src}"


@dataclass
class Fleet:
    """A validated fleet file."""

    path: Path
    name: str
    description: str
    clusters: list[Cluster]
    waves: list[WaveSpec]
    inputs: dict[str, Any] = field(default_factory=dict)
    parallelism: int = 1
    budget: FailureBudget = field(default_factory=FailureBudget)
    on_halt_running: str = "finish"
    on_halt_rollback: str = "auto"
    soak: float = 0.0
    notify_webhook: str | None = None

    @property
    def by_name(self) -> dict[str, Cluster]:
        return {c.name: c for c in self.clusters}


def _plain(value: Any) -> Any:
    """LineMaps to dicts all the way down (inputs are data handed on as YAML/JSON)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load_fleet(path: str | Path) -> Fleet:
    """Read and check a fleet file; raises ValidationError (exit 2) listing every located problem."""
    path = Path(path)
    file = str(path)
    doc = load_yaml_file(path)
    problems = problems_for(doc, validator_for(fleet_schema()), file=file)
    if problems:
        raise ValidationError(problems=sorted(problems, key=lambda p: p.line or 0))
    base = path.resolve().parent
    clusters, seen = [], set()
    for raw in doc["clusters"]:
        name = raw["name"]
        if name in seen:
            raise ValidationError(f"cluster '{name}' is listed twice", file=file, line=raw.line,
                                  hint="cluster names are unique in a fleet")
        seen.add(name)
        kubeconfig = raw.get("kubeconfig")
        if kubeconfig:
            kubeconfig = str((base / Path(kubeconfig).expanduser()).resolve())
        emulate = _plain(raw.get("emulate") or {})
        if emulate.get("cluster"):
            emulate["cluster"] = str((base / emulate["cluster"]).resolve())
        clusters.append(Cluster(name=name, context=raw.get("context") or name, kubeconfig=kubeconfig,
                                labels=dict(raw.get("labels") or {}), inputs=_plain(raw.get("inputs") or {}),
                                emulate=emulate, line=raw.line))
    waves, wave_names = [], set()
    for raw in doc["waves"]:
        if raw["name"] in wave_names:
            raise ValidationError(f"wave '{raw['name']}' is listed twice", file=file, line=raw.line)
        wave_names.add(raw["name"])
        for name in raw.get("clusters") or []:
            if name not in seen:
                raise ValidationError(f"wave '{raw['name']}' names cluster '{name}', which is not in clusters",
                                      file=file, line=raw.line_of("clusters"))
        select = raw.get("select")
        soak = raw.get("soak")
        waves.append(WaveSpec(
            name=raw["name"], clusters=tuple(raw.get("clusters") or ()),
            select=None if select is None else {k: (v,) if isinstance(v, str) else tuple(v) for k, v in select.items()},
            canary=bool(raw.get("canary", False)), size=raw.get("size"), parallelism=raw.get("parallelism"),
            soak=None if soak is None else parse_duration(soak), confirm=bool(raw.get("confirm", False)),
            gate=_plain(raw.get("gate") or []), line=raw.line))
    budget_raw = doc.get("failure_budget") or {}
    on_halt = doc.get("on_halt") or {}
    return Fleet(path=path.resolve(), name=doc.get("name") or path.stem, description=doc.get("description", ""),
                 clusters=clusters, waves=waves, inputs=_plain(doc.get("inputs") or {}),
                 parallelism=doc.get("parallelism", 1),
                 budget=FailureBudget(budget_raw.get("max_failed_clusters"), budget_raw.get("max_failed_percent")),
                 on_halt_running=on_halt.get("running", "finish"), on_halt_rollback=on_halt.get("rollback", "auto"),
                 soak=parse_duration(doc.get("soak_between_waves", 0)), notify_webhook=doc.get("notify_webhook"))

