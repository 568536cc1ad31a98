"""Approvals of a Temporal run: a confirmation waits for `playbook approve/reject RUN STEP --as NAME --reason`,
and who decided and why are in the workflow's history."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

CONFIRM = """
version: 1
steps:
  - {id: first, uses: shell, with: {script: "echo first >> log"}, rollback: {uses: shell, with: {script: "echo unfirst >> log"}}}
  - {id: switch, needs: [first], confirm: "Switch the default tag?", uses: shell, with: {script: "echo switch >> log"}}
  - {id: after, needs: [switch], uses: shell, with: {script: "echo after >> log"}}
"""


def _wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 60) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not seen in {lines}")


def _run_meanwhile(project, flags: list[str], text: str, act) -> tuple[int, str, str]:
    """Run p.yaml on Temporal; once its progress shows `text`, call `act(run_id)`; (exit code, output, run id)."""
    proc = project.popen("run", "p.yaml", *flags, stdin=subprocess.DEVNULL)
    try:
        lines = _wait_for_line(proc, text)
        run_id = lines[0].split()[1]
        act(run_id)
        # Read through the same buffered pipe readline used: communicate() would skip what it holds.
        out = proc.stdout.read()
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(lines) + out, run_id


def _history(address: str, run_id: str) -> str:
    """The run's history as the server keeps it (the `temporal` CLI's JSON), its payloads decoded."""
    cli = str(Path(sys.executable).parent / "temporal")
    done = subprocess.run([cli, "workflow", "show", "--workflow-id", run_id, "--address", address, "--output", "json"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    decoded: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("data"), str) and "metadata" in value:
                decoded.append(base64.b64decode(value["data"]).decode("utf-8", "replace"))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(json.loads(done.stdout))
    return "\n".join(decoded)


@pytest.mark.parametrize("verb,expected_log,ended", [
    ("approve", ["first", "switch", "after"], "approved"),
    ("reject", ["first", "after"], "rejected"),  # as a person answering no: the step is skipped, the run goes on
])
def test_decision_waits_for_a_person_and_is_kept_with_who_and_why(project, temporal_server, temporal_worker,
                                                                   verb, expected_log, ended):
    project.write("p.yaml", CONFIRM)
    flags = temporal_worker(project.root, f"q-approve-{uuid.uuid4().hex[:6]}")

    def answer(run_id: str) -> None:
        assert project.path("log").read_text().split() == ["first"]
        wrong = project.run("approve", run_id, "after", "--as", "alice", "--temporal-address", temporal_server)
        assert wrong.rc == 2 and "step after is not waiting for approval; switch is" in wrong.err
        answered = project.run(verb, run_id, "switch", "--as", "alice", "--reason", "canary healthy for 1h",
                               "--temporal-address", temporal_server)
        assert answered.rc == 0, answered.err
    rc, out, run_id = _run_meanwhile(project, flags, "waits for approval: Switch the default tag?", answer)
    assert rc == 0, out
    assert f"switch {ended} by alice: canary healthy for 1h" in out
    assert project.path("log").read_text().split() == expected_log
    history = _history(temporal_server, run_id)
    decisions = [d for d in map(_json_or_none, history.splitlines()) if isinstance(d, dict) and "by" in d]
    # The accepted update's argument, as the approver sent it; the refused one (step "after") left no trace.
    assert decisions == [{"approve": verb == "approve", "by": "alice", "reason": "canary healthy for 1h",
                          "step": "switch"}]
    shown = project.run("show", run_id, "--engine", "temporal", "--temporal-address", temporal_server,
                        "--temporal-ui", "http://127.0.0.1:8233")
    assert shown.rc == 0, shown.err
    assert f"{ended} switch by alice at " in shown.out and shown.out.rstrip().endswith(": canary healthy for 1h")
    assert "result: succeeded (exit 0)" in shown.out
    assert f"web UI: http://127.0.0.1:8233/namespaces/default/workflows/{run_id}" in shown.out
    switch_status = "succeeded" if verb == "approve" else "skipped"
    assert f"  {switch_status:<12} switch" in shown.out
    listed = project.run("runs", "--engine", "temporal", "--temporal-address", temporal_server)
    assert listed.rc == 0 and any(line.split()[:2] == [run_id, "completed"] for line in listed.out.splitlines())


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


GATE = """
version: 1
steps:
  - {id: first, uses: shell, with: {script: "echo first >> log"}, rollback: {uses: shell, with: {script: "echo unfirst >> log"}}}
  - {id: gate, needs: [first], uses: approve, with: {prompt: "Promote to production?"}}
  - {id: after, needs: [gate], uses: shell, with: {script: "echo after >> log"}}
"""


@pytest.mark.parametrize("verb,ended,rc,expected_log", [
    ("approve", "approved", 0, ["first", "after"]),
    ("reject", "rejected", 1, ["first", "unfirst"]),  # as a person answering no at the terminal: it fails
])
def test_an_approve_step_on_a_worker_waits_for_playbook_approve_instead_of_a_terminal(
        project, temporal_server, temporal_worker, verb, ended, rc, expected_log):
    project.write("p.yaml", GATE)
    flags = temporal_worker(project.root, f"q-gate-{uuid.uuid4().hex[:6]}")

    def answer(run_id: str) -> None:
        shown = project.run("show", run_id, "--engine", "temporal", "--temporal-address", temporal_server)
        assert "waiting for approval: gate: Promote to production?" in shown.out, shown.out + shown.err
        wrong = project.run("approve", run_id, "first", "--as", "bob", "--temporal-address", temporal_server)
        assert wrong.rc == 2 and "step first is not waiting for approval; gate is" in wrong.err, wrong.err
        answered = project.run(verb, run_id, "--as", "alice", "--reason", "soak clean",
                               "--temporal-address", temporal_server)
        assert answered.rc == 0, answered.err
    rc_seen, out, run_id = _run_meanwhile(project, flags, "waits for approval: Promote to production?", answer)
    assert rc_seen == rc, out
    assert f"answer with: playbook approve {run_id} gate --as NAME --reason TEXT" in out, out
    assert f"gate {ended} by alice: soak clean" in out
    assert project.path("log").read_text().split() == expected_log
    history = _history(temporal_server, run_id)
    decisions = [d for d in map(_json_or_none, history.splitlines()) if isinstance(d, dict) and "by" in d]
    assert decisions == [{"approve": verb == "approve", "by": "alice", "reason": "soak clean", "step": None}]


SLOW = """
version: 1
steps:
  - {id: first, uses: shell, with: {script: "echo first >> log"}, rollback: {uses: shell, with: {script: "echo unfirst >> log"}}}
  - {id: slow, needs: [first], uses: shell, with: {script: "echo slow >> log; sleep 60; echo never >> log"},
     rollback: {uses: shell, with: {script: "echo unslow >> log"}}}
"""


def test_cancelling_the_workflow_interrupts_the_run_and_rolls_back_as_ctrl_c_does(project, temporal_server,
                                                                                   temporal_worker):
    project.write("p.yaml", SLOW)
    flags = temporal_worker(project.root, f"q-cancel-{uuid.uuid4().hex[:6]}")

    def cancel(run_id: str) -> None:
        cli = str(Path(sys.executable).parent / "temporal")
        done = subprocess.run([cli, "workflow", "cancel", "--workflow-id", run_id, "--address", temporal_server],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    rc, out, _ = _run_meanwhile(project, [*flags, "--verbose"], "▶ slow", cancel)  # -v: each step's start
    assert rc == 130, out
    assert project.path("log").read_text().split() == ["first", "slow", "unslow", "unfirst"]


def test_detach_returns_the_run_id_at_once_and_the_run_goes_on(project, temporal_server, temporal_worker):
    project.write("p.yaml", SLOW.replace("sleep 60; echo never", "sleep 2; echo done"))
    flags = temporal_worker(project.root, f"q-detach-{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    detached = project.run("run", "p.yaml", *flags, "--detach")
    assert detached.rc == 0, detached.err
    assert time.monotonic() - started < 15
    run_id = detached.out.split()[-1]
    assert detached.out.startswith(f"run {run_id} submitted to Temporal")
    deadline = time.monotonic() + 60
    while "done" not in (project.path("log").read_text() if project.path("log").exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    shown = project.run("show", run_id, "--engine", "temporal", "--temporal-address", temporal_server)
    for _ in range(50):
        if "result: succeeded (exit 0)" in shown.out:
            break
        time.sleep(0.2)
        shown = project.run("show", run_id, "--engine", "temporal", "--temporal-address", temporal_server)
    assert "result: succeeded (exit 0)" in shown.out, shown.out + shown.err
    assert project.path("log").read_text().split() == ["first", "slow", "done"]
