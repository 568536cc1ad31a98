"""Ctrl-C and SIGTERM: stop new work, end the running child, roll back what started, exit 130."""
from __future__ import annotations

import signal
import time

import pytest

PLAYBOOK = """
version: 1
steps:
  - id: prepare
    uses: shell
    with: {script: "echo do prepare >> log"}
    rollback: {uses: shell, with: {script: "echo undo prepare >> log"}}
  - id: long
    needs: [prepare]
    uses: shell
    with: {script: "echo $$ > child.pid; exec sleep 60"}
    rollback: {uses: shell, with: {script: "echo undo long >> log"}}
  - id: never
    needs: [long]
    uses: shell
    with: {script: "touch never"}
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_during_a_long_step_kills_child_rolls_back_and_exits_130(project, sig, process_alive):
    project.write("p.yaml", PLAYBOOK)
    proc = project.popen("run", "p.yaml")
    pid_file = project.path("child.pid")
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the long step never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert process_alive(child)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    deadline = time.monotonic() + 5
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child), "the step's child process outlived the interrupt"
    assert project.path("log").read_text().split("\n")[:-1] == ["do prepare", "undo long", "undo prepare"]
    assert not project.path("never").exists()
    assert "run interrupted at long; rollback completed (exit 130)" in out
