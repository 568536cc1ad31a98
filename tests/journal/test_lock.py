"""One writer per journal directory: a second run, resume or rollback is refused with who holds it."""
from __future__ import annotations

import multiprocessing
import time

import pytest

from engine.errors import JournalError
from engine.journal import RunsLock, lock_holder

from .conftest import events, only_run

WAITS_FOR_A_FILE = """
version: 1
name: holder
steps:
  - id: hold
    uses: shell
    with: {script: "while [ ! -e release ]; do sleep 0.02; done"}
  - id: after
    needs: [hold]
    uses: shell
    with: {script: "echo after >> log"}
"""


def test_a_second_run_on_the_same_journal_directory_gets_a_clear_lock_message(project, runs_env):
    project.write("p.yaml", WAITS_FOR_A_FILE)
    first = project.popen("run", "p.yaml")
    run_dir = only_run(project.root)
    deadline = time.monotonic() + 30
    while not any(e["event"] == "step_started" for e in events(run_dir)):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.01)
    second = project.run("run", "p.yaml")
    resume = project.run("resume", run_dir.name)
    listing = project.run("runs")
    project.write("release", "")
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0, out + err
    assert second.rc == 2  # refused before anything ran
    assert (f"error: the journal directory runs is in use by run {run_dir.name} (`playbook run`, pid {first.pid}, "
            in second.err), second.err
    assert "(one run at a time per journal directory: wait for it to end, or pass --runs-dir DIR" in second.err
    assert f"in use by run {run_dir.name}" in resume.err and resume.rc == 2
    assert f"{run_dir.name}  running" in listing.out, listing.out
    # The refused run left nothing behind, and the first one's journal is whole.
    assert [p.name for p in (project.root / "runs").iterdir() if p.is_dir()] == [run_dir.name]
    assert project.path("log").read_text() == "after\n"
    assert events(run_dir)[-1]["event"] == "run_finished"


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    ready = multiprocessing.get_context("fork").Event()

    def hold() -> None:
        lock = RunsLock(tmp_path / "runs")
        lock.acquire("r-killed", "run")
        ready.set()
        time.sleep(60)

    holder = multiprocessing.get_context("fork").Process(target=hold)
    holder.start()
    assert ready.wait(10)
    assert lock_holder(tmp_path / "runs")["run_id"] == "r-killed"
    with pytest.raises(JournalError, match="in use by run r-killed"):
        RunsLock(tmp_path / "runs").acquire("r2", "resume")
    holder.kill()
    holder.join()
    assert lock_holder(tmp_path / "runs") is None
    with RunsLock(tmp_path / "runs") as lock:
        lock.acquire("r2", "resume")
        assert lock_holder(tmp_path / "runs")["command"] == "resume"
