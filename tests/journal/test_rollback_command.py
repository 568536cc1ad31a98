"""`playbook rollback RUN`: undoes a finished, failed, interrupted or killed run, each compensation once,
and finishes a rollback that itself stopped half-way."""
from __future__ import annotations

import time

from .conftest import events, lines, only_run

# Three steps; `c`'s compensation fails until the file `undo-ok` exists; `d` fails until `d-ok` exists.
CHAIN = """
version: 1
name: chain
steps:
  - id: a
    uses: shell
    with: {script: "echo do a >> log"}
    rollback: {uses: shell, with: {script: "echo undo a >> log"}}
  - id: b
    needs: [a]
    uses: shell
    with: {script: "echo do b >> log"}
  - id: c
    needs: [b]
    uses: shell
    with: {script: "echo do c >> log"}
    rollback: {uses: shell, with: {script: "test -e undo-ok && echo undo c >> log"}}
  - id: d
    needs: [c]
    uses: shell
    with: {script: "test -e d-ok && echo do d >> log"}
"""


def test_rollback_of_a_succeeded_run_undoes_in_reverse_start_order_once(project, runs_env):
    project.write("p.yaml", CHAIN)
    project.write("d-ok", "")
    project.write("undo-ok", "")
    assert project.run("run", "p.yaml").rc == 0
    rolled = project.run("rollback", "last", "--yes")
    assert rolled.rc == 0, rolled.out + rolled.err
    assert "rollback completed: 2 steps undone (exit 0)" in rolled.out
    assert lines(project.path("log")) == ["do a", "do b", "do c", "do d", "undo c", "undo a"]
    again = project.run("rollback", "last", "--yes")
    assert again.rc == 0 and "nothing left to roll back (rolled_back)" in again.err
    assert lines(project.path("log"))[-2:] == ["undo c", "undo a"]
    assert "rolled_back" in project.run("runs").out


def test_a_rollback_that_failed_half_way_is_finished_later_without_repeating_what_was_undone(project, runs_env):
    project.write("p.yaml", CHAIN)
    run = project.run("run", "p.yaml")  # d fails; c's compensation fails; a's runs
    assert run.rc == 3, run.out
    assert lines(project.path("log")) == ["do a", "do b", "do c", "undo a"]
    listing = project.run("runs")
    assert "rollback_failed" in listing.out and " d" in listing.out
    project.write("undo-ok", "")
    rolled = project.run("rollback", "last", "--yes")
    assert rolled.rc == 0, rolled.out + rolled.err
    assert "— rollback, 1 step to undo" in rolled.out
    assert lines(project.path("log")) == ["do a", "do b", "do c", "undo a", "undo c"]


def test_a_run_killed_during_its_rollback_is_finished_by_rollback(project, runs_env):
    slow = CHAIN.replace("echo undo a >> log", "echo undo a >> log").replace(
        "test -e undo-ok && echo undo c >> log", "echo undo c >> log; sleep 0.3")
    project.write("p.yaml", slow)
    proc = project.popen("run", "p.yaml")
    run_dir = only_run(project.root)
    deadline = time.monotonic() + 30
    # Kill while c's compensation runs: its end is never journaled, so `rollback` runs it again (idempotent).
    while not any(e["event"] == "rollback_started" and e["step"] == "c" for e in events(run_dir)):
        assert time.monotonic() < deadline and proc.poll() is None, "never reached the rollback"
        time.sleep(0.002)
    proc.kill()
    proc.communicate()
    assert "killed" in project.run("runs").out
    resume = project.run("resume", "last")
    assert resume.rc == 2 and "once a rollback began" in resume.err
    rolled = project.run("rollback", "last", "--yes")
    assert rolled.rc == 0, rolled.out + rolled.err
    time.sleep(0.4)  # the killed run's orphaned compensation finishes its sleep
    log = lines(project.path("log"))
    assert log[:3] == ["do a", "do b", "do c"] and log.count("undo a") == 1
    assert 1 <= log.count("undo c") <= 2


def test_rollback_uses_the_journal_copy_when_the_playbook_changed(project, runs_env):
    project.write("p.yaml", CHAIN)
    assert project.run("run", "p.yaml", "--no-rollback").rc == 1
    project.write("p.yaml", CHAIN.replace("echo undo a", "echo UNDO-CHANGED a"))
    project.write("undo-ok", "")
    rolled = project.run("rollback", "last", "--yes")
    assert rolled.rc == 0, rolled.err
    assert "changed or is gone; rolling back with the copy the run used" in rolled.err
    assert lines(project.path("log"))[-2:] == ["undo c", "undo a"]


def test_rollback_needs_yes_without_a_terminal(project, runs_env):
    project.write("p.yaml", CHAIN)
    assert project.run("run", "p.yaml", "--no-rollback").rc == 1
    refused = project.run("rollback", "last")
    assert refused.rc == 2 and "needs confirmation (pass --yes)" in refused.err
    assert lines(project.path("log")) == ["do a", "do b", "do c"]


def test_a_rollback_killed_after_its_last_compensation_is_closed_without_running_any_again(project, runs_env):
    project.write("p.yaml", CHAIN)
    project.write("undo-ok", "")
    assert project.run("run", "p.yaml").rc == 1
    (run_dir,) = [p for p in project.path("runs").iterdir() if p.is_dir()]
    journal = run_dir / "events.jsonl"
    kept = journal.read_text().splitlines(keepends=True)
    assert '"run_finished"' in kept[-1]
    journal.write_text("".join(kept[:-1]) + kept[-1][:20])  # as if killed while writing run_finished
    assert "killed" in project.run("runs").out
    before = lines(project.path("log"))
    closed = project.run("rollback", "last", "--yes")
    assert closed.rc == 0, closed.out + closed.err
    assert lines(project.path("log")) == before
    assert "rolled_back" in project.run("runs").out
