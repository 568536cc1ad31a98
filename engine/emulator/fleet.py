"""Several emulated clusters in one process: one `Emulator` per cluster (each with its own faults), served
side by side, and one kubeconfig holding a context per cluster. What `playbook emulate --fleet` runs.
"""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .emulator import Emulator

USER = "emulator"


@dataclass
class Member:
    """One emulated cluster of the fleet: its name, kube context, cluster file and faults."""

    name: str
    context: str | None = None
    cluster: str | Path | dict | None = None  # None: the shipped demo cluster
    faults: dict | None = None
    readiness_delay: float | None = None
    labels: dict[str, str] = field(default_factory=dict)


def fleet_kubeconfig(servers: dict[str, tuple[str, str]]) -> dict:
    """A kubeconfig with a cluster and a context per member: ``{name: (context, url)}``."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url}} for name, (_, url) in servers.items()],
        "users": [{"name": USER, "user": {"token": "emulator"}}],
        "contexts": [{"name": ctx, "context": {"cluster": name, "user": USER, "namespace": "default"}}
                     for name, (ctx, _) in servers.items()],
        "current-context": next(iter(servers.values()))[0],
    }


class EmulatedFleet:
    """Emulated clusters served from this process; `env()` points kubectl and the stand-ins at all of them."""

    def __init__(self, members: list[Member], state_dir: str | Path | None = None) -> None:
        if not members:
            raise ValueError("an emulated fleet needs at least one cluster")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError("emulated cluster names must be unique")
        self.members = {m.name: m for m in members}
        self._own_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="playbook-fleet-emulator-"))
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.emulators: dict[str, Emulator] = {}

    @classmethod
    def of_count(cls, count: int, *, cluster: str | Path | dict | None = None, faults: dict | None = None,
                 readiness_delay: float | None = None, state_dir: str | Path | None = None) -> "EmulatedFleet":
        """`count` copies of one cluster file, named cluster-1..cluster-N (contexts likewise)."""
        width = len(str(count))
        return cls([Member(f"cluster-{i:0{width}d}", cluster=cluster, faults=faults, readiness_delay=readiness_delay)
                    for i in range(1, count + 1)], state_dir=state_dir)

    @classmethod
    def of_fleet_file(cls, path: str | Path, *, cluster: str | Path | dict | None = None,
                      faults: dict | None = None, readiness_delay: float | None = None,
                      state_dir: str | Path | None = None) -> "EmulatedFleet":
        """The clusters of a fleet file, each with its `emulate:` block (else `cluster`/`faults` given here)."""
        from ..fleet.model import load_fleet
        fleet = load_fleet(path)
        members = []
        for c in fleet.clusters:
            own = c.emulate
            members.append(Member(c.name, context=c.context, cluster=own.get("cluster", cluster),
                                  faults=own.get("faults", faults),
                                  readiness_delay=own.get("readiness_delay", readiness_delay), labels=c.labels))
        return cls(members, state_dir=state_dir)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> "EmulatedFleet":
        """Start every cluster (a few at a time) and write the shared kubeconfig."""
        self.state_dir.mkdir(parents=True, exist_ok=True)

        def one(m: Member) -> Emulator:
            return Emulator(m.cluster, faults=m.faults, state_dir=self.state_dir / "clusters" / m.name,
                            readiness_delay=m.readiness_delay).start()
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(self.members))) as pool:
                futures = {name: pool.submit(one, m) for name, m in self.members.items()}
                for name, future in futures.items():
                    self.emulators[name] = future.result()
        except BaseException:
            self.stop()
            raise
        servers = {name: (m.context or name, self.emulators[name].url) for name, m in self.members.items()}
        self.kubeconfig.write_text(yaml.safe_dump(fleet_kubeconfig(servers), sort_keys=False))
        self.kubeconfig.chmod(0o600)
        return self

    def stop(self) -> None:
        """Stop every cluster; the state directory goes if this fleet made it."""
        for emu in self.emulators.values():
            emu.stop()
        self.emulators.clear()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> "EmulatedFleet":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- clients and inspection --------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Emulator:
        return self.emulators[name]

    def names(self) -> list[str]:
        return list(self.members)

    def context(self, name: str) -> str:
        return self.members[name].context or name

    def env(self) -> dict[str, str]:
        """KUBECONFIG (a context per cluster), the stand-ins on PATH and one kubectl discovery cache."""
        first = next(iter(self.emulators.values()))
        return {"KUBECONFIG": str(self.kubeconfig),
                "PATH": f"{first.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "KUBECACHEDIR": str(self.state_dir / "kube-cache")}

    def downtime(self) -> dict[str, dict[str, list[dict]]]:
        """Per cluster, the deployments that had an outage (empty: zero downtime everywhere)."""
        out = {}
        for name, emu in self.emulators.items():
            bad = {k: v for k, v in emu.downtime_report().items() if v}
            if bad:
                out[name] = bad
        return out

    def format_downtime_report(self) -> str:
        lines = []
        for name, emu in self.emulators.items():
            lines.append(f"{name}: {emu.format_downtime_report()}")
        bad = self.downtime()
        head = (f"Fleet downtime report: {len(self.emulators)} clusters, "
                f"{len(bad)} with downtime{' (zero downtime).' if not bad else ':'}")
        return "\n".join([head] + lines)

    def describe(self) -> str:
        """One line for the person who started it: how many clusters, their contexts."""
        contexts = [self.context(n) for n in self.members]
        shown = ", ".join(contexts[:6]) + (f", ... ({len(contexts)} in all)" if len(contexts) > 6 else "")
        return f"fleet of {len(contexts)} clusters serving (kubeconfig {self.kubeconfig}; contexts {shown})"

    def save_state(self, path: str | Path) -> Path:
        """Write each cluster's objects as YAML into the directory `path` (NAME.yaml)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name, emu in self.emulators.items():
            emu.save_state(path / f"{name}.yaml")
        return path


def start_fleet(fleet: str, cluster: str | None = None, faults: dict | None = None,
                readiness_delay: float | None = None, state_dir: str | Path | None = None) -> EmulatedFleet:
    """`--fleet FILE|N`: a fleet file's clusters, or N copies of `cluster` (default: the demo), started."""
    if fleet.isdigit():
        count = int(fleet)
        if not 1 <= count <= 500:
            raise ValueError(f"--fleet {fleet}: give between 1 and 500 clusters, or a fleet file")
        emulated = EmulatedFleet.of_count(count, cluster=cluster, faults=faults, readiness_delay=readiness_delay,
                                          state_dir=state_dir)
    else:
        emulated = EmulatedFleet.of_fleet_file(fleet, cluster=cluster, faults=faults,
                                               readiness_delay=readiness_delay, state_dir=state_dir)
    return emulated.start()
