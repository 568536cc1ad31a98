"""Fixtures of the fleet tests: an emulated fleet in this process and the real `playbook fleet` CLI against it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.emulator.fleet import EmulatedFleet, Member

REPO = Path(__file__).resolve().parents[2]


@dataclass
class FleetRun:
    rc: int
    out: str
    err: str
    events: list[dict] = field(default_factory=list)

    def fleet(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind and "step" not in e]

    def why(self) -> str:
        return self.out[-4000:] + "\n" + self.err[-3000:]


class FleetCli:
    """Runs `playbook ...` in `root` against the emulated fleet's kubeconfig."""

    def __init__(self, root: Path, fleet: EmulatedFleet) -> None:
        self.root = root
        self.emulated = fleet

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def env(self) -> dict:
        return {**os.environ, **self.emulated.env(), "PYTHONUNBUFFERED": "1",
                "PLAYBOOK_FLEETS_DIR": str(self.root / "fleets")}

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=self.root, env=self.env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, timeout: float = 300) -> FleetRun:
        proc = self.popen(*args)
        out, err = proc.communicate(timeout=timeout)
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return FleetRun(proc.returncode, out, err, events)

    def kubectl(self, cluster: str, *args: str) -> str:
        return subprocess.run(["kubectl", "--context", self.emulated.context(cluster), *args], env=self.env(),
                              capture_output=True, text=True, timeout=60, check=True).stdout

    def fleet_dir(self) -> Path:
        dirs = sorted((self.root / "fleets").iterdir(), key=lambda p: p.stat().st_mtime)
        return [d for d in dirs if d.is_dir()][-1]


@pytest.fixture
def emulated_fleet(tmp_path: Path):
    """start(names or count, faults={name: {...}}) -> FleetCli; the emulators stop at the test's end."""
    started: list[EmulatedFleet] = []

    def start(clusters, faults: dict | None = None, cluster=None, readiness_delay: float = 0.05) -> FleetCli:
        names = [f"c{i:02d}" for i in range(1, clusters + 1)] if isinstance(clusters, int) else list(clusters)
        members = [Member(n, cluster=cluster, faults=(faults or {}).get(n), readiness_delay=readiness_delay)
                   for n in names]
        fleet = EmulatedFleet(members, state_dir=tmp_path / "emulated").start()
        started.append(fleet)
        return FleetCli(tmp_path, fleet)

    yield start
    for fleet in started:
        fleet.stop()


def wait_for(predicate, timeout: float = 60, interval: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s")
