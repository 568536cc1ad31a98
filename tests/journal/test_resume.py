"""`playbook resume`: keeps what succeeded, re-checks guards, runs the failed and unfinished steps, and
refuses when the playbook changed under steps that already ran, saying what changed."""
from __future__ import annotations

import json

import pytest

from .conftest import lines

# `probe` fails until the file `ready` exists (tolerated); `maybe` runs only if probe succeeded; `boom`
# fails until `fixed` exists. Every step logs what it did.
GUARDED = """
version: 1
name: guarded
steps:
  - id: first
    uses: shell
    with: {script: "echo do first >> log"}
    rollback: {uses: shell, with: {script: "echo undo first >> log"}}
  - id: probe
    needs: [first]
    continue_on_error: true
    uses: shell
    with: {script: "test -e ready"}
  - id: maybe
    needs: [probe]
    when: "steps.probe.status == 'succeeded'"
    uses: shell
    with: {script: "echo do maybe >> log"}
  - id: boom
    needs: [maybe]
    uses: shell
    with: {script: "test -e fixed && echo do boom >> log"}
    rollback: {uses: shell, with: {script: "echo undo boom >> log"}}
  - id: last
    needs: [boom]
    uses: shell
    with: {script: "echo do last >> log"}
"""


def test_resume_keeps_successes_rechecks_guards_and_runs_the_rest(project, runs_env):
    project.write("p.yaml", GUARDED)
    first = project.run("run", "p.yaml", "--no-rollback")
    assert first.rc == 1 and "↷ maybe skipped" in first.out
    assert lines(project.path("log")) == ["do first"]
    project.write("ready", "")
    project.write("fixed", "")
    resumed = project.run("resume", "last")
    assert resumed.rc == 0, resumed.out + resumed.err
    assert "= first kept (succeeded in an earlier attempt)" in resumed.out
    # `maybe` was skipped before; its guard is evaluated again now that probe succeeds.
    assert lines(project.path("log")) == ["do first", "do maybe", "do boom", "do last"]
    assert "run succeeded (exit 0)" in resumed.out


def test_a_failure_during_resume_rolls_back_steps_of_both_attempts_once(project, runs_env):
    project.write("p.yaml", GUARDED)
    assert project.run("run", "p.yaml", "--no-rollback").rc == 1
    resumed = project.run("resume", "last")  # `fixed` still missing: boom fails again
    assert resumed.rc == 1, resumed.out
    assert lines(project.path("log")) == ["do first", "undo boom", "undo first"]


def test_resume_refuses_after_a_rollback_began_and_after_success(project, runs_env):
    project.write("p.yaml", GUARDED)
    assert project.run("run", "p.yaml").rc == 1  # rolled back at once
    refused = project.run("resume", "last")
    assert refused.rc == 2
    assert "is rolled_back: once a rollback began, the run can only be rolled back" in refused.err
    project.write("fixed", "")
    assert project.run("run", "p.yaml").rc == 0
    done = project.run("resume", "last")
    assert done.rc == 2 and "succeeded; there is nothing to resume" in done.err


EDITS = [
    # (what is edited, how, the message)
    ("a succeeded step's command", ("echo do first >> log", "echo do FIRST >> log"),
     "step 'first' succeeded, but its `uses`/`with` changed since"),
    ("a step that ran is removed", ("  - id: first\n", "  - id: renamed\n"),
     "step 'first' ran but is no longer in the playbook"),
]


@pytest.mark.parametrize("what, edit, message", EDITS, ids=[e[0] for e in EDITS])
def test_resume_refuses_a_playbook_changed_under_steps_that_ran(project, runs_env, what, edit, message):
    project.write("p.yaml", GUARDED)
    assert project.run("run", "p.yaml", "--no-rollback").rc == 1
    old, new = edit
    text = GUARDED.replace(old, new).replace("needs: [first]", "needs: [renamed]" if "renamed" in new else
                                             "needs: [first]")
    project.write("p.yaml", text)
    refused = project.run("resume", "last")
    assert refused.rc == 2, refused.out + refused.err
    assert "changed in a way that breaks the plan" in refused.err
    assert message in refused.err
    assert "restore the version that ran" in refused.err
    assert lines(project.path("log")) == ["do first"]  # nothing ran


def test_mending_the_failed_step_is_allowed_and_the_journal_keeps_both_versions(project, runs_env):
    project.write("p.yaml", GUARDED)
    assert project.run("run", "p.yaml", "--no-rollback").rc == 1
    project.write("p.yaml", GUARDED.replace("test -e fixed && echo do boom", "echo do boom"))
    resumed = project.run("resume", "last")
    assert resumed.rc == 0, resumed.err
    assert "note: step 'boom' changed (it did not succeed, so it runs again as now written)" in resumed.err
    (run_dir,) = [p for p in project.path("runs").iterdir() if p.is_dir()]
    assert "test -e fixed" in (run_dir / "playbook.1.yaml").read_text()
    assert "test -e fixed" not in (run_dir / "playbook.yaml").read_text()


SECRET = """
version: 1
inputs:
  token: {type: string, secret: true}
  region: {type: string, default: eu}
steps:
  - id: use
    uses: shell
    with: {script: "test -e go && echo {{ region }}-{{ token }} >> log"}
"""


def test_secrets_are_masked_in_the_journal_and_given_again_on_resume(project, runs_env):
    project.write("p.yaml", SECRET)
    assert project.run("run", "p.yaml", "--var", "token=hunter2", "--var", "region=us", "--no-rollback").rc == 1
    (run_dir,) = [p for p in project.path("runs").iterdir() if p.is_dir()]
    assert json.loads((run_dir / "inputs.json").read_text()) == {"token": "***", "region": "us"}
    assert not any("hunter2" in p.read_text() for p in run_dir.rglob("*") if p.is_file())
    project.write("go", "")
    missing = project.run("resume", "last")
    assert missing.rc == 2 and "input 'token' is secret and the journal keeps it masked" in missing.err
    other = project.run("resume", "last", "--var", "token=hunter2", "--var", "region=ap")
    assert other.rc == 2 and "--var region: resume and rollback keep the inputs of run" in other.err
    resumed = project.run("resume", "last", "--var", "token=hunter2")
    assert resumed.rc == 0, resumed.err
    assert lines(project.path("log")) == ["us-hunter2"]


CONFIRM = """
version: 1
steps:
  - id: before
    uses: shell
    with: {script: "echo do before >> log"}
  - id: risky
    needs: [before]
    confirm: "Go ahead?"
    uses: shell
    with: {script: "echo do risky >> log"}
"""


def test_a_run_stopped_for_confirmation_is_resumed_with_yes(project, runs_env):
    project.write("p.yaml", CONFIRM)
    stopped = project.run("run", "p.yaml")
    assert stopped.rc == 4 and "■ stopped before risky" in stopped.out
    assert "stopped" in project.run("runs").out
    resumed = project.run("resume", "last", "--yes")
    assert resumed.rc == 0, resumed.out + resumed.err
    assert lines(project.path("log")) == ["do before", "do risky"]
