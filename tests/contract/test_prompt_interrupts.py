"""Issue 10.3: Ctrl-C or Ctrl-D (end of input) at a confirmation prompt is an interrupt like any other: what
ran is rolled back and the run exits 130 (not `Aborted!`, exit 1, with the first wave left changed)."""
from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

PLAYBOOK = """
version: 1
steps:
  - id: test_wave
    uses: shell
    with: {script: "echo migrate test >> log"}
    rollback: {uses: shell, with: {script: "echo undo test >> log"}}
  - id: prod_wave
    needs: [test_wave]
    confirm: "Migrate the prod wave?"
    uses: shell
    with: {script: "echo migrate prod >> log"}
    rollback: {uses: shell, with: {script: "echo undo prod >> log"}}
"""


def run_on_a_terminal(project, keys: bytes) -> tuple[int, str]:
    """Run the playbook with a pseudo-terminal as its terminal; at the prompt, type `keys`."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "p.yaml"], cwd=project.root,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb"},
                            preexec_fn=lambda: __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0))
    os.close(slave)
    seen = b""
    sent = False
    deadline = time.monotonic() + 30
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
            if not sent and b"Migrate the prod wave?" in seen:
                time.sleep(0.3)  # the prompt is waiting on input now
                os.write(master, keys)
                sent = True
            if proc.poll() is not None and not ready:
                break
        rc = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert sent, seen.decode(errors="replace")
    return rc, seen.decode(errors="replace")


@pytest.mark.parametrize("keys", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_an_interrupt_at_a_confirmation_prompt_rolls_back_and_exits_130(project, keys):
    project.write("p.yaml", PLAYBOOK)
    rc, out = run_on_a_terminal(project, keys)
    assert rc == 130, out
    assert project.path("log").read_text().splitlines() == ["migrate test", "undo test"], out
    assert "Aborted!" not in out and "Traceback" not in out
    assert "rollback completed (exit 130)" in out
