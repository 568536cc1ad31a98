"""Ctrl-C and the journal: the second press asks before abandoning a rollback; --no-rollback leaves the
journal for `playbook rollback`."""
from __future__ import annotations

import io
import signal
import threading
import time

import pytest

from engine.runs import Interrupts, Presentation

from .conftest import events, lines, only_run


class FakeRunner:
    def __init__(self, no_rollback: bool = False) -> None:
        self.no_rollback = no_rollback
        self.cancel = threading.Event()
        self.abandon = threading.Event()

    def interrupt(self) -> None:
        self.cancel.set()


def _interrupts(runner, answers):
    asked: list[str] = []
    gate = threading.Event()

    def ask(prompt: str) -> bool:
        asked.append(prompt)
        gate.wait(5)
        return answers.pop(0)

    err = io.StringIO()
    return Interrupts(runner, Presentation(err=err), "r1", ask=ask), asked, gate, err


def _settle(handler) -> None:
    deadline = time.monotonic() + 5
    while handler.asking and time.monotonic() < deadline:
        time.sleep(0.005)


def test_first_press_stops_new_work_second_asks_and_no_keeps_rolling_back():
    runner = FakeRunner()
    handler, asked, gate, err = _interrupts(runner, [False])
    handler.handle(signal.SIGINT)
    assert runner.cancel.is_set() and not runner.abandon.is_set()
    assert "SIGINT: no new steps; stopping the running ones, then rolling back" in err.getvalue()
    handler.handle(signal.SIGINT)
    gate.set()
    _settle(handler)
    assert asked == ["Abandon the rollback? What is left stays for `playbook rollback r1`"]
    assert not runner.abandon.is_set() and "rollback continues" in err.getvalue()


@pytest.mark.parametrize("how", ["answer yes", "press again while asked"])
def test_rollback_is_abandoned_when_confirmed_or_on_a_third_press(how):
    runner = FakeRunner()
    handler, asked, gate, err = _interrupts(runner, [True] if how == "answer yes" else [False])
    handler.handle(signal.SIGINT)
    handler.handle(signal.SIGINT)
    if how == "press again while asked":
        handler.handle(signal.SIGINT)
        assert runner.abandon.is_set()
    gate.set()
    _settle(handler)
    assert runner.abandon.is_set()
    assert "finish it later with `playbook rollback r1`" in err.getvalue()


@pytest.mark.parametrize("signum, can_ask", [(signal.SIGINT, False), (signal.SIGTERM, True)],
                         ids=["no terminal", "SIGTERM"])
def test_second_signal_abandons_without_asking_when_nobody_can_answer(signum, can_ask):
    runner = FakeRunner()
    handler, asked, gate, err = _interrupts(runner, [False])
    if not can_ask:
        handler.ask = None
    handler.handle(signum)
    handler.handle(signum)
    assert runner.abandon.is_set() and asked == []


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
    with: {script: "exec sleep 60"}
    rollback: {uses: shell, with: {script: "echo undo long >> log"}}
"""


def test_ctrl_c_with_no_rollback_leaves_the_journal_for_rollback(project, runs_env):
    project.write("p.yaml", PLAYBOOK)
    proc = project.popen("run", "p.yaml", "--no-rollback")
    run_dir = only_run(project.root)
    deadline = time.monotonic() + 30
    while not any(e["event"] == "step_started" and e["step"] == "long" for e in events(run_dir)):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert f"leaving the journal for `playbook rollback {run_dir.name}`" in err
    assert lines(project.path("log")) == ["do prepare"]
    assert f"{run_dir.name}  interrupted" in project.run("runs").out
    rolled = project.run("rollback", run_dir.name[:12], "--yes")  # a unique prefix names the run
    assert rolled.rc == 0, rolled.out + rolled.err
    assert lines(project.path("log")) == ["do prepare", "undo long", "undo prepare"]


SLOW_UNDO = """
version: 1
steps:
  - id: prepare
    uses: shell
    with: {script: "echo do prepare >> log"}
    rollback: {uses: shell, with: {script: "echo undoing >> log; echo $$ > undo.pid; exec sleep 30"}}
  - id: long
    needs: [prepare]
    uses: shell
    with: {script: "exec sleep 60"}
"""


def _read_until(fd: int, needle: str, seen: list[str], timeout: float = 30) -> None:
    import os
    import select
    deadline = time.monotonic() + timeout
    while needle not in "".join(seen):
        assert time.monotonic() < deadline, f"never saw {needle!r} in {''.join(seen)!r}"
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen.append(os.read(fd, 4096).decode(errors="replace"))
            except OSError:
                return


@pytest.mark.parametrize("answer, rc", [("y", 3), ("n", None)], ids=["abandon", "keep rolling back"])
def test_second_ctrl_c_on_a_terminal_asks_before_abandoning_the_rollback(project, runs_env, answer, rc):
    import os
    import pty
    import subprocess
    import sys
    project.write("p.yaml", SLOW_UNDO)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "p.yaml"], cwd=project.root,
                            stdin=follower, stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    seen: list[str] = []
    try:
        _read_until(leader, "── 1/2 done · 1 running", seen)
        proc.send_signal(signal.SIGINT)
        _read_until(leader, "⟲ prepare rollback", seen)
        # The rollback line is printed as the undo starts; wait for its process to be running (it writes
        # undo.pid after 'undoing'), or under load the abandon can land before the undo did anything.
        deadline = time.monotonic() + 30
        while not project.path("undo.pid").exists():
            assert time.monotonic() < deadline, "the undo never started"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _read_until(leader, "Abandon the rollback? What is left stays for `playbook rollback", seen)
        os.write(leader, f"{answer}\n".encode())
        if answer == "y":
            _read_until(leader, "abandoning the rest of the rollback", seen)
            assert proc.wait(30) == rc
            run_dir = only_run(project.root)
            assert any(e["event"] == "rollback_failed" and e["step"] == "prepare" for e in events(run_dir))
        else:
            _read_until(leader, "rollback continues", seen)
            time.sleep(0.3)
            assert proc.poll() is None, "the rollback stopped although the answer was no"
    finally:
        proc.kill()
        proc.wait(10)
        os.close(leader)
        if project.path("undo.pid").exists():  # a killed engine leaves its child (own session) behind
            try:
                os.killpg(int(project.path("undo.pid").read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    assert lines(project.path("log")) == ["do prepare", "undoing"]
