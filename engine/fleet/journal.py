"""The fleet journal: one directory per fleet change, above the journals of its per-cluster runs.

`<fleets dir>/<fleet id>/` holds `meta.json` (fleet file, playbook, inputs with secrets masked, options, the
plan's waves), `fleet.yaml` (the fleet file as run), `events.jsonl` (append-only, fsynced: waves, clusters
started and ended, gates, halts, rollbacks), `clusters/<name>/` (that cluster's runs directory: its runs'
own journals, which `playbook resume/rollback --runs-dir` accept as they are) and `gates/<wave>/` (the gate
playbook of a wave and its runs). `read_fleet` folds the events into a `FleetState`; for a cluster the
fleet saw start but not end (the fleet process was killed) the cluster's own journal says where it is.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import JournalError
from ..journal import lock_holder, read_journal, write_atomic

META, FLEET_FILE, EVENTS, CLUSTERS, GATES = "meta.json", "fleet.yaml", "events.jsonl", "clusters", "gates"
DONE = ("succeeded",)
# A cluster's own run ended and undid its change (or never changed anything).
UNDONE = ("failed", "rolled_back", "invalid", "blocked")


class FleetJournal:
    """Appends fleet events, each flushed and fsynced before the fleet goes on (they are few)."""

    def __init__(self, fleet_dir: Path) -> None:
        self.dir = Path(fleet_dir)
        self._fh = open(self.dir / EVENTS, "a", encoding="utf-8")

    @classmethod
    def create(cls, fleet_dir: Path, meta: dict[str, Any], fleet_text: str) -> "FleetJournal":
        fleet_dir = Path(fleet_dir)
        try:
            (fleet_dir / CLUSTERS).mkdir(parents=True, exist_ok=False)
            write_atomic(fleet_dir / FLEET_FILE, fleet_text)
            write_atomic(fleet_dir / META, json.dumps(meta, indent=2, sort_keys=True, default=str))
        except OSError as err:
            raise JournalError(f"cannot create the fleet journal {fleet_dir}: {err.strerror or err}",
                               hint="pass --fleets-dir DIR (or PLAYBOOK_FLEETS_DIR) somewhere writable") from None
        return cls(fleet_dir)

    def emit(self, kind: str, **data: Any) -> dict[str, Any]:
        record = {"event": kind, "time": round(time.time(), 3), **data}
        self._fh.write(json.dumps(record, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return record

    def close(self) -> None:
        self._fh.close()

    def cluster_dir(self, name: str) -> Path:
        return self.dir / CLUSTERS / name

    def gate_dir(self, wave: str) -> Path:
        return self.dir / GATES / wave


@dataclass
class ClusterState:
    """What the fleet journal (and, for a cluster left running, its own journal) says about one cluster."""

    name: str
    wave: str
    status: str = "pending"  # pending | running | succeeded | failed | rolled_back | stopped | interrupted | killed ...
    run_id: str | None = None
    exit_code: int | None = None
    started: float | None = None
    ended: float | None = None
    message: str = ""
    step: str | None = None  # the step running now (or last), from the cluster's journal
    fleet_rollback: str | None = None  # running | succeeded | failed: the fleet's rollback of this cluster


@dataclass
class FleetState:
    """The fleet change folded from its events."""

    clusters: dict[str, ClusterState] = field(default_factory=dict)
    waves: list[dict[str, Any]] = field(default_factory=list)  # {"name", "clusters"} in order
    waves_done: set[str] = field(default_factory=set)
    gates_passed: set[str] = field(default_factory=set)
    completed: list[str] = field(default_factory=list)  # clusters in the order they succeeded
    attempts: list[dict[str, Any]] = field(default_factory=list)
    halted: dict[str, Any] | None = None
    rollback_begun: bool = False
    finished: dict[str, Any] | None = None
    created: float | None = None

    def apply(self, rec: dict[str, Any]) -> None:
        kind = rec.get("event")
        if self.created is None:
            self.created = rec.get("time")
        c = self.clusters.get(rec.get("cluster") or "")
        if kind == "fleet_started":
            self.waves = rec["waves"]
            for w in self.waves:
                for name in w["clusters"]:
                    self.clusters[name] = ClusterState(name, w["name"])
        elif kind == "attempt_started":
            self.attempts.append({"command": rec.get("command"), "time": rec.get("time")})
            self.finished = None
            if rec.get("command") == "resume":
                self.halted = None
        elif kind == "cluster_started" and c:
            c.status, c.started, c.ended, c.run_id = "running", rec.get("time"), None, rec.get("run_id")
        elif kind == "cluster_finished" and c:
            c.status, c.ended = rec["status"], rec.get("time")
            c.run_id, c.exit_code, c.message = rec.get("run_id") or c.run_id, rec.get("exit_code"), rec.get("message", "")
            if c.status == "succeeded" and c.name not in self.completed:
                self.completed.append(c.name)
        elif kind == "wave_finished":
            self.waves_done.add(rec["wave"])
        elif kind == "gate_finished" and rec.get("status") == "succeeded":
            self.gates_passed.add(rec["wave"])
        elif kind == "fleet_halted":
            self.halted = rec
        elif kind == "fleet_rollback_begun":
            self.rollback_begun = True
        elif kind == "cluster_rollback_started" and c:
            c.fleet_rollback = "running"
        elif kind == "cluster_rollback_finished" and c:
            c.fleet_rollback = rec["status"]
            if rec["status"] == "succeeded":
                c.status = "rolled_back"
        elif kind == "fleet_finished":
            self.finished = rec

    def status(self, live: bool = False) -> str:
        """running | killed | succeeded | halted | rolled_back | rollback_failed | stopped | interrupted."""
        if self.finished is None:
            return "running" if live else "killed"
        return self.finished.get("status", "unknown")

    def to_roll_back(self) -> list[str]:
        """Clusters the fleet's rollback must undo, newest completion first: every one that ran and did not
        undo its own change (succeeded, stopped, killed...), whose fleet rollback has not yet succeeded."""
        todo = [c for c in self.clusters.values()
                if c.status not in ("pending", *UNDONE) and c.fleet_rollback != "succeeded"]
        # Newest first: a succeeded cluster by when it completed, one cut short by when it started.
        order = {name: i for i, name in enumerate(self.completed)}
        todo.sort(key=lambda c: (-(c.ended or c.started or 0.0), -order.get(c.name, len(order))))
        return [c.name for c in todo]


@dataclass
class FleetView:
    """A fleet directory read back."""

    dir: Path
    meta: dict[str, Any]
    records: list[dict[str, Any]]
    state: FleetState

    @property
    def fleet_id(self) -> str:
        return self.dir.name


def cluster_runs(cluster_dir: Path) -> list[Path]:
    """The run directories of one cluster, oldest first."""
    from ..runs import run_ids
    return [cluster_dir / r for r in run_ids(cluster_dir)]


def cluster_journal_status(cluster_dir: Path) -> tuple[str | None, str | None, dict[str, Any]]:
    """(run id, status, last finish record) of the cluster's newest run; (None, None, {}) when it has none."""
    runs = cluster_runs(cluster_dir)
    if not runs:
        return None, None, {}
    view = read_journal(runs[-1])
    live = (lock_holder(cluster_dir) or {}).get("run_id") == view.run_id
    running = [k for k in view.state.start_order if view.state.steps[k].status == "running"]
    finish = dict(view.state.last_finish) if view.state.finished else {}
    finish["current_step"] = running[-1] if running else (view.state.start_order[-1]
                                                          if view.state.start_order else None)
    return view.run_id, view.state.status(live=live), finish


def read_fleet(fleet_dir: Path) -> FleetView:
    """Replay a fleet directory; a last line torn by a crash is ignored."""
    fleet_dir = Path(fleet_dir)
    try:
        meta = json.loads((fleet_dir / META).read_text(encoding="utf-8"))
        raw = (fleet_dir / EVENTS).read_bytes()
    except FileNotFoundError:
        raise JournalError(f"{fleet_dir} is not a fleet journal (no {META} or {EVENTS})") from None
    except (OSError, ValueError) as err:
        raise JournalError(f"cannot read the fleet journal {fleet_dir}: {err}") from None
    lines = raw.split(b"\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if number == len(lines):
                break
            raise JournalError(f"{fleet_dir / EVENTS}:{number}: not a JSON event; the fleet journal is damaged")
    state = FleetState()
    for rec in records:
        state.apply(rec)
    # A cluster the fleet saw start but not end: its own journal knows better (the fleet process died).
    fleet_live = (lock_holder(fleet_dir.parent) or {}).get("run_id") == fleet_dir.name
    for c in state.clusters.values():
        cdir = fleet_dir / CLUSTERS / c.name
        if c.status == "running" or (cdir.is_dir() and c.status == "pending"):
            run_id, status, finish = cluster_journal_status(cdir)
            if run_id is not None and run_id != c.run_id or c.status == "running":
                if run_id is None:  # started, but killed before its run wrote a journal: nothing ran
                    c.status = "running" if fleet_live else "pending"
                    continue
                c.run_id, c.status, c.step = run_id, status or "killed", finish.get("current_step")
                c.exit_code = finish.get("exit_code")
    return FleetView(dir=fleet_dir, meta=meta, records=records, state=state)
