"""Harness of the fleet tests: the real `playbook` CLI run against an emulated fleet, and its JSON events."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.emulator.fleet import EmulatedFleet

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from e2e_harness import stream_cli  # noqa: E402


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
        return FleetRun(*stream_cli(list(args), cwd=self.root, env=self.env(), on_event=on_event, timeout=timeout))

    def on_a_terminal(self, *args: str, answers: dict[str, bytes], timeout: float = 180) -> tuple[int, str]:
        """Run `playbook ARGS` with a pseudo-terminal as its controlling terminal (stdin, stdout and stderr, in a
        session of its own, so Ctrl-C typed there reaches its foreground process group as from a keyboard).
        When the output shows a key of `answers`, type its value (each once). Returns (exit code, output)."""
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=self.root,
                                env={**self.env(), "TERM": "dumb"}, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True,
                                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        seen, left = b"", dict(answers)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # the other side closed: the process ended
                        break
                    if not chunk:
                        break
                    seen += chunk
                for marker, keys in list(left.items()):
                    if marker.encode() in seen:
                        time.sleep(0.3)  # the question is waiting on input now
                        os.write(master, keys)
                        del left[marker]
                if proc.poll() is not None and not ready:
                    break
            else:
                raise AssertionError(f"not finished within {timeout}s:\n{seen.decode(errors='replace')[-3000:]}")
            rc = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
        out = seen.decode(errors="replace")
        assert not left, f"never asked {list(left)}:\n{out[-3000:]}"
        return rc, out

    def journal(self) -> list[dict]:
        """The last fleet run's journal events."""
        return [json.loads(line) for line in (self.fleet_dir() / "events.jsonl").read_text().splitlines()]

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
