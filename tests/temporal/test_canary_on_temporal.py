"""The canary upgrade on the emulator through Temporal with two workers; the worker running a step of the
production wave dies (SIGKILL of it and everything it started); the run completes on the other worker with
every namespace moved and zero downtime."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_harness import FAST, KUBECTL, PLAYBOOKS  # noqa: E402
from engine.emulator import Emulator  # noqa: E402
from test_canary_upgrade import DEMO_NAMESPACES, assert_upgraded  # noqa: E402
from test_worker_loss import _descendants, _machine_dies  # noqa: E402

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="the canary upgrade drives the real kubectl binary")


def _kill_the_busy_worker(a: subprocess.Popen, b: subprocess.Popen) -> subprocess.Popen | bool:
    """Within 5 s, the worker that has a step's process running, killed with it; False if none had one."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for worker in (a, b):
            if _descendants(worker.pid):
                _machine_dies(worker.pid)
                return worker
        time.sleep(0.01)
    return False


def test_canary_upgrade_survives_losing_a_worker_in_the_production_wave(tmp_path, temporal_worker):
    emu = Emulator(state_dir=tmp_path / "emulator", readiness_delay=0.05)
    emu.start()
    try:
        queue = f"q-canary-{uuid.uuid4().hex[:6]}"
        flags = temporal_worker(tmp_path, queue, env=emu.env())
        temporal_worker(tmp_path, queue, env=emu.env())
        a, b = temporal_worker.procs
        env = {**os.environ, **emu.env(), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(PLAYBOOKS / "canary-upgrade.yaml"),
                                 "--var", "rev=1-20-0", *FAST, "--yes", "--verbose", *flags], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        lines, killed = [], None
        try:
            for line in proc.stdout:
                lines.append(line)
                if killed is None and line.startswith("▶ migrate[production]") and "[kubectl]" in line:
                    killed = _kill_the_busy_worker(a, b)
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
        out = "".join(lines)
        assert killed is not None and killed is not False, out  # a worker died while running a step's kubectl
        assert proc.returncode == 0, out + proc.stderr.read()
        assert "rolling back" not in out
        assert_upgraded(emu, DEMO_NAMESPACES)  # every pod on the new proxy, zero downtime
    finally:
        emu.stop()
