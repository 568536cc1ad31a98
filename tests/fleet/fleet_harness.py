"""Harness of the fleet tests: the real `playbook` CLI run against an emulated fleet, and its JSON events."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.emulator.fleet import EmulatedFleet

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
        """What went wrong: each cluster's end, failed steps and rollbacks, the fleet's end, stderr."""
        shown = [f"{e.get('cluster', '')} {e['event']} {e.get('step') or ''}: {e.get('status', '')} "
                 f"{e.get('message', '')}" for e in self.events
                 if e["event"] in ("cluster_finished", "step_failed", "rollback_failed", "fleet_halted",
                                   "fleet_finished", "gate_finished")]
        return "\n".join(shown or [self.out[-4000:]]) + "\n" + self.err[-3000:]


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

    def stream(self, *args: str, on_event=None, timeout: float = 600) -> FleetRun:
        """Like run, handing each JSON event to on_event(event, proc) as it comes."""
        import threading
        proc = self.popen(*args)
        err: list[str] = []
        reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
        reader.start()
        out, events = [], []
        deadline = time.time() + timeout
        for line in proc.stdout:
            out.append(line)
            if line.startswith("{"):
                events.append(json.loads(line))
                if on_event is not None:
                    on_event(events[-1], proc)
            if time.time() > deadline:
                proc.kill()
                raise AssertionError(f"fleet command took longer than {timeout}s:\n{''.join(out[-40:])}")
        rc = proc.wait(timeout=60)
        reader.join(timeout=5)
        return FleetRun(rc, "".join(out), "".join(err), events)

    def kubectl(self, cluster: str, *args: str) -> str:
        return subprocess.run(["kubectl", "--context", self.emulated.context(cluster), *args], env=self.env(),
                              capture_output=True, text=True, timeout=60, check=True).stdout

    def fleet_dir(self) -> Path:
        dirs = sorted((self.root / "fleets").iterdir(), key=lambda p: p.stat().st_mtime)
        return [d for d in dirs if d.is_dir()][-1]


def wait_for(predicate, timeout: float = 60, interval: float = 0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s")
