"""`playbook runs` lists runs with status, age, playbook and failed step; `playbook show` gives a timeline."""
from __future__ import annotations

import re
import sys

from engine.journal import RunState
from engine.runs import RunRow, format_runs

from .conftest import pty_output

PLAYBOOK = """
version: 1
name: listed
steps:
  - id: a
    uses: shell
    with: {script: "echo hello from a"}
    rollback: {uses: shell, with: {script: "true"}}
  - id: b
    needs: [a]
    uses: shell
    with: {script: "test -e ok"}
"""


def test_runs_lists_each_run_with_its_status_and_failed_step(project, runs_env):
    project.write("p.yaml", PLAYBOOK)
    assert project.run("run", "p.yaml").rc == 1  # rolled back
    assert project.run("run", "p.yaml", "--no-rollback").rc == 1
    project.write("ok", "")
    assert project.run("run", "p.yaml").rc == 0
    out = project.run("runs").out.splitlines()
    assert re.split(r"\s{2,}", out[0]) == ["RUN", "STATUS", "AGE", "PLAYBOOK", "FAILED STEP"]
    rows = [re.split(r"\s{2,}", line) for line in out[1:]]
    assert [(r[1], r[3], r[4]) for r in rows] == [("rolled_back", "listed", "b"), ("failed", "listed", "b"),
                                                  ("succeeded", "listed", "-")]


def test_no_runs_yet(project, runs_env):
    result = project.run("runs")
    assert result.rc == 0 and result.out == "no runs in runs\n"


def test_show_prints_inputs_timeline_and_table(project, runs_env):
    project.write("p.yaml", PLAYBOOK)
    assert project.run("run", "p.yaml", "--no-rollback").rc == 1
    project.write("ok", "")
    assert project.run("resume", "last").rc == 0
    shown = project.run("show", "last")
    assert shown.rc == 0, shown.err
    text = re.sub(r"\+\d+(\.\d+)?s", "+T", shown.out)
    text = re.sub(r"\d+\.\d+s", "D", text)
    assert re.search(r"^run \d{8}-\d{6}-[0-9a-f]{6}: succeeded$", text, re.M)
    assert "attempts: run, resume" in text
    for line in ["+T  ✘ b failed (D): exit code 1", "+T  — resume, keeping 1 step that succeeded",
                 "+T  = a kept (succeeded in an earlier attempt)", "+T  run succeeded (exit 0)"]:
        assert line in text, text
    # Step output lives in output/<step>.out (named at the end), not in the timeline.
    assert "│ hello from a" not in text
    assert re.search(r"^step output: .*/runs/\d{8}-\d{6}-[0-9a-f]{6}/output/$", text, re.M)
    assert re.search(r"^b\s+✔ succeeded", text, re.M)


def test_unknown_run_is_a_clear_usage_error(project, runs_env):
    result = project.run("show", "nope")
    assert result.rc == 2 and result.err == (
        "error: no run 'nope' in runs (`playbook runs` lists them (or pass --runs-dir))\n")


def test_status_table():
    assert RunState().status() == "killed"  # a journal without events: the process died right after creating it
    assert RunState().status(live=True) == "running"
    rows = [RunRow("r1", "killed", 100.0, "pb", "migrate[ns1].restart"), RunRow("r2", "running", None, "pb", None)]
    assert format_runs(rows, now=165.0).splitlines() == [
        "RUN  STATUS   AGE    PLAYBOOK  FAILED STEP",
        "r1   killed   1m05s  pb        migrate[ns1].restart",
        "r2   running  -      pb        -"]


def test_a_terminal_gets_live_progress_and_a_pipe_gets_plain_lines(project, runs_env):
    project.write("p.yaml", PLAYBOOK)
    project.write("ok", "")
    plain = project.run("run", "p.yaml")
    assert "\x1b[" not in plain.out and "✔ a (" in plain.out
    rc, live = pty_output([sys.executable, "-m", "engine.cli", "run", "p.yaml"], project.root)
    assert rc == 0
    assert "\x1b[J" in live and "── 0/2 done" in live and "run succeeded (exit 0)" in live


def test_the_end_of_a_run_says_what_can_be_done_next(project, runs_env):
    project.write("p.yaml", PLAYBOOK)
    rolled = project.run("run", "p.yaml")
    left = project.run("run", "p.yaml", "--no-rollback")
    assert "continue: playbook resume" not in rolled.out  # rolled back: only a new run makes sense
    run_id = re.search(r"^run (\S+): ", left.out, re.M).group(1)
    # ...and last, where the run's report is (tests/ux/test_report.py).
    assert left.out.endswith(f"  continue: playbook resume {run_id}\n  undo:     playbook rollback {run_id}\n"
                             f"report: runs/{run_id}/report.html\n")


def test_output_json_is_only_json_lines_on_stdout_and_matches_the_journal(project, runs_env):
    import json
    project.write("p.yaml", PLAYBOOK)
    failed = project.run("run", "p.yaml", "--output", "json", "--no-rollback")
    project.write("ok", "")
    resumed = project.run("resume", "last", "--output", "json")
    assert (failed.rc, resumed.rc) == (1, 0)
    printed = [json.loads(line) for line in (failed.out + resumed.out).splitlines()]
    (run_dir,) = [p for p in project.path("runs").iterdir() if p.is_dir()]
    journal = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    # The same events, except output lines, which the journal keeps in output/ instead.
    assert [e for e in printed if e["event"] != "step_output"] == journal
    assert [e["event"] for e in printed][-3:] == ["step_started", "step_succeeded", "run_finished"]
    assert {"event": "step_output", "step": "a", "stream": "stdout", "line": "hello from a"}.items() <= next(
        e for e in printed if e["event"] == "step_output").items()
