"""What a person sees on the terminal: one line per step, output with -v, a failed step's tail, soak progress,
heartbeats in logs, the command that continues a stopped run, one message for a missing program, and the
small things (`runs` columns, `show` inputs, plurals)."""
from __future__ import annotations

import io
import json
import re
import time

import pytest

from engine.events import Event
from engine.progress import LiveReporter
from engine.reporter import TextReporter, summary_table
from engine.results import RunSummary, StepResult
from engine.runs import RunRow, format_runs

NOISY = """
version: 1
name: noisy
steps:
  - id: dump
    uses: shell
    with: {script: "for i in $(seq 1 500); do echo line $i; done"}
  - id: say
    needs: [dump]
    uses: echo
    with: {msg: "moving test-namespace"}
  - id: breaks
    needs: [say]
    uses: shell
    with: {script: "for i in $(seq 1 50); do echo err $i >&2; done; exit 2"}
"""


def test_by_default_a_run_prints_one_line_per_step_what_echo_shows_and_the_failed_steps_tail(project):
    project.write("p.yaml", NOISY)
    result = project.run("run", "p.yaml")
    assert result.rc == 1
    out = result.out
    assert "line 250" not in out  # the 500 lines of a step's output stay in the run directory
    assert [line for line in out.splitlines() if line.startswith(("✔", "✘"))] == [
        line for line in out.splitlines() if re.match(r"^[✔✘] (dump|say|breaks)\b", line)]
    assert "  say │ moving test-namespace" in out  # echo is for showing
    tail = out[out.index("✘ breaks failed"):].splitlines()[1:6]
    assert tail == [f"    err {i}" for i in range(46, 51)]
    assert "▶" not in out
    assert len(out.splitlines()) < 20
    run_dir = next(p for p in (project.root / ".playbook" / "runs").iterdir() if p.is_dir())
    assert (run_dir / "output" / "dump.out").read_text().count("\n") == 500


def test_verbose_streams_every_steps_output(project):
    project.write("p.yaml", NOISY)
    out = project.run("run", "p.yaml", "-v").out
    assert "  dump │ line 250" in out and "▶ dump [shell]" in out
    assert "  breaks │ err 1" in out


STOPS = """
version: 1
name: stops
steps:
  - id: install
    uses: shell
    with: {script: "test ! -e installed && touch installed"}
  - id: promote
    needs: [install]
    confirm: "Promote the new revision?"
    uses: shell
    with: {script: "touch promoted"}
"""


def test_a_run_stopped_at_a_confirmation_advises_the_resume_command_that_works(project):
    project.write("p.yaml", STOPS)
    stopped = project.run("run", "p.yaml")
    assert stopped.rc == 4, stopped.err
    assert "re-run with --yes" not in stopped.out
    advice = re.search(r"continue: (playbook resume \S+ --yes)", stopped.out)
    assert advice, stopped.out
    # Running the same playbook again fails (what it installed is there); the advised command finishes the run.
    assert project.run("run", "p.yaml", "--yes").rc != 0
    resumed = project.run(*advice.group(1).split()[1:])
    assert resumed.rc == 0, resumed.out + resumed.err
    assert project.path("promoted").exists()


def test_a_soak_shows_its_name_the_time_left_and_when_it_ends_on_a_terminal():
    out = io.StringIO()
    live = LiveReporter(out, ["soak"], clock=lambda: 1000.0 + 150, size=(100, 20), tick=None)
    live.emit(Event("step_started", "soak", {"uses": "wait", "name": "Soak before promote", "expected": 600.0},
                    time=1000.0))
    ends = time.strftime("%H:%M:%S", time.localtime(1600.0))
    assert live.frame()[1] == f" ⠋ soak (Soak before promote): 7m30s left of 10m00s, ends {ends}"


def test_without_a_terminal_a_long_step_prints_a_heartbeat_line():
    out = io.StringIO()
    text = TextReporter(out, heartbeat=0.05, clock=lambda: 1000.0 + 90)
    text.emit(Event("run_started", None, {"playbook": "p", "steps": 2, "max_parallel": 1}, time=1000.0))
    text.emit(Event("step_started", "soak", {"uses": "wait", "name": "Soak", "expected": 600.0}, time=1000.0))
    text.emit(Event("step_started", "restart", {"uses": "kubectl"}, time=1030.0))
    time.sleep(0.3)
    text.close()
    lines = out.getvalue().splitlines()
    ends = time.strftime("%H:%M:%S", time.localtime(1600.0))
    assert f"… soak (Soak): 8m30s left of 10m00s, ends {ends}" in lines
    assert "… restart: running for 1m00s" in lines


def test_the_soak_length_reaches_the_reporters_in_the_step_started_event(tmp_path):
    from engine.events import Recorder
    from engine.prepare import prepare
    from engine.runner import Runner
    (tmp_path / "p.yaml").write_text("version: 1\nsteps:\n  - {id: soak, name: Soak, uses: wait, "
                                     "with: {duration: 0.05s}}\n")
    rec = Recorder()
    Runner(prepare(tmp_path / "p.yaml"), sink=rec, run_dir=tmp_path / "run").run()
    started = next(e for e in rec.events if e.kind == "step_started")
    assert started.data["expected"] == pytest.approx(0.05) and started.data["name"] == "Soak"


def test_the_closing_table_lists_only_the_steps_to_look_at_unless_verbose():
    results = {"a": StepResult("a", status="succeeded", started=1.0, ended=2.0),
               "b": StepResult("b", status="failed", started=2.0, ended=3.0),
               "c": StepResult("c", status="skipped"), "d": StepResult("d", status="not_run")}
    summary = RunSummary(exit_code=1, reason="failed", results=results)
    brief = summary_table(summary, brief=True).splitlines()
    assert brief[0] == "4 steps: 1 succeeded, 1 failed, 1 skipped, 1 not run"
    assert [line.split()[0] for line in brief[1:]] == ["STEP", "b"]
    assert len(summary_table(summary).splitlines()) == 5


@pytest.mark.parametrize("step_id", ["get", "items", "keys", "values"])
def test_a_step_named_like_a_dict_method_can_be_read_as_steps_dot_id(project, step_id):
    project.write("p.yaml", f"""
        version: 1
        steps:
          - {{id: {step_id}, uses: shell, with: {{script: "echo from-{step_id}"}}}}
          - id: use
            needs: [{step_id}]
            uses: assert
            with: {{that: "steps.{step_id}.stdout.strip() == 'from-{step_id}'"}}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 0, result.out + result.err


def test_kubectl_list_items_read_with_a_dot(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: pods, uses: shell, with: {script: "echo '{\\"items\\": [1, 2, 3]}'"}}
          - {id: count, needs: [pods], uses: assert, with: {that: "steps.pods.json.items | length == 3"}}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 0, result.out + result.err


KUBE_STEPS = """
version: 1
steps:
""" + "".join(f"  - {{id: get{i}, uses: kubectl, with: {{args: [get, pods]}}}}\n" for i in range(5))


@pytest.mark.parametrize("emulated", [False, True])
def test_a_missing_kubectl_is_one_message_before_anything_runs(project, emulated):
    from engine.errors import ValidationError
    from engine.plugins.base import RunOptions
    from engine.prepare import prepare
    project.write("p.yaml", KUBE_STEPS)
    env = {"PLAYBOOK_KUBECTL": str(project.root / "no-kubectl")}
    if emulated:
        env["PLAYBOOK_EMULATOR_URL"] = "http://127.0.0.1:1"
    with pytest.raises(ValidationError) as err:
        prepare(project.path("p.yaml"), options=RunOptions(env=env))
    problems = err.value.problems
    assert len(problems) == 1
    assert problems[0].message.endswith("needed by 5 steps (get0, get1, get2, ...)")
    assert ("--emulate" in problems[0].message) is not emulated


def test_a_missing_kubectl_stops_the_run_with_one_line(project):
    project.write("p.yaml", KUBE_STEPS)
    result = project.run("run", "p.yaml", env={"PLAYBOOK_KUBECTL": str(project.root / "no-kubectl")})
    assert result.rc == 2
    assert len(result.err.strip().splitlines()) == 1 and "not found" in result.err
    assert not (project.root / ".playbook" / "runs").exists()


def test_runs_shows_a_running_runs_current_step_as_its_status_not_as_failed():
    rows = [RunRow("r1", "running", None, "p", None, "migrate[prod].restart"),
            RunRow("r2", "rolled_back", None, "p", "b")]
    table = [re.split(r"\s{2,}", line) for line in format_runs(rows, now=0).splitlines()]
    assert table[1] == ["r1", "running (migrate[prod].restart)", "-", "p", "-"]
    assert table[2] == ["r2", "rolled_back", "-", "p", "b"]


def test_show_prints_inputs_as_json_like_the_dry_run(project):
    project.write("p.yaml", """
        version: 1
        inputs:
          rev: {type: string}
          waves: {type: array, default: [{name: test}]}
          token: {type: string, secret: true}
        steps:
          - {id: a, uses: echo, with: {msg: "{{ rev }}"}}
    """)
    assert project.run("run", "p.yaml", "--var", "rev=1-20-0", "--var", "token=hunter2").rc == 0
    shown = project.run("show", "last").out
    line = next(line for line in shown.splitlines() if line.startswith("inputs:"))
    assert line == 'inputs: rev="1-20-0", waves=[{"name": "test"}], token=***'
    dry = project.run("run", "p.yaml", "--var", "rev=1-20-0", "--var", "token=hunter2", "--dry-run").out
    assert line in dry.splitlines()


@pytest.mark.parametrize("steps, expected", [(1, "1 step in 1 wave"), (2, "2 steps in 2 waves")])
def test_validate_counts_in_the_singular_and_plural(project, steps, expected):
    body = "".join(f"  - {{id: s{i}, uses: echo, with: {{msg: hi}}{', needs: [s0]' if i else ''}}}\n"
                   for i in range(steps))
    project.write("p.yaml", "version: 1\nsteps:\n" + body)
    assert project.run("validate", "p.yaml").out.strip() == f"p.yaml: valid — {expected}"


def test_the_downtime_verdict_is_kept_in_the_journal_and_shown(project):
    from engine.downtime import record_verdict, verdict_of
    from engine.journal import read_journal
    project.write("p.yaml", "version: 1\nsteps:\n  - {id: a, uses: echo, with: {msg: hi}}\n")
    assert project.run("run", "p.yaml").rc == 0
    runs = project.root / ".playbook" / "runs"
    run_id = next(p for p in runs.iterdir() if p.is_dir()).name
    windows = {"default/web": [], "shop/cart": [{"start": 10.0, "end": 12.5}]}
    record_verdict(runs, run_id, windows, "Downtime report: 2 deployments watched, 1 with downtime:")
    verdict = verdict_of(read_journal(runs / run_id).records)
    assert verdict["with_downtime"] == ["shop/cart"] and verdict["zero_downtime"] is False
    assert verdict["windows"] == {"shop/cart": [{"start": 10.0, "end": 12.5}]}
    assert "Downtime report: 2 deployments watched, 1 with downtime:" in project.run("show", "last").out
    assert json.loads((runs / run_id / "state.json").read_text())["status"] == "succeeded"
