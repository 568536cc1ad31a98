"""Fixtures of the fleet tests: an emulated fleet served from this process (see fleet_harness.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.emulator.fleet import EmulatedFleet, Member
from fleet_harness import FleetCli


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
