"""The cluster CLIs as processes: a missing binary stops the run before anything runs (exit 2), and a
timeout kills the tool's whole process group, grandchildren included."""
from __future__ import annotations

import shutil
import time

import pytest

from engine.plugins.base import RunOptions

TOUCH = shutil.which("touch")  # by full path: one case empties PATH
BOOK = """
version: 1
steps:
  - id: first
    uses: command
    with: {args: [%s, ran-first]}
  - id: second
    needs: [first]
    uses: %s
    with: {args: [version]}
"""


@pytest.mark.parametrize("tool,env", [
    ("kubectl", {"PLAYBOOK_KUBECTL": "/nonexistent/kubectl"}),
    ("istioctl", {"PLAYBOOK_ISTIOCTL": "/nonexistent/istioctl"}),
    ("helm", {"PATH": "/nonexistent-bin"}),
])
def test_a_missing_binary_is_one_line_and_exit_2_before_anything_runs(project, tool, env):
    project.write("book.yaml", BOOK % (TOUCH, tool))
    result = project.run("run", "book.yaml", env=env)
    assert result.rc == 2, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"step 'second': {tool}: '" in lines[0] and "not found" in lines[0]
    assert not project.path("ran-first").exists()


def test_a_dry_run_does_not_need_the_binary(project):
    project.write("book.yaml", BOOK % (TOUCH, "istioctl"))
    result = project.run("run", "book.yaml", "--dry-run", env={"PLAYBOOK_ISTIOCTL": "/nonexistent/istioctl"})
    assert result.rc == 0, result.err
    assert "$ /nonexistent/istioctl version" in result.out


def test_a_timeout_kills_the_tool_and_its_grandchildren(run_book, tmp_path, process_alive):
    pidfile = tmp_path / "grandchild.pid"
    fake = tmp_path / "fake-kubectl"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pidfile}\necho started\nwait\n")
    fake.chmod(0o755)
    started = time.time()
    ran = run_book("""
        version: 1
        steps:
          - id: hang
            timeout: 1s
            uses: kubectl
            with: {args: [rollout, status, deployment/web]}
    """, options=RunOptions(env={"PLAYBOOK_KUBECTL": str(fake)}))
    outcome = ran.outcome("hang")
    assert outcome.timed_out and outcome.message == "timed out"
    assert ran.lines("hang") == ["started"]
    assert time.time() - started < 10
    deadline = time.time() + 5
    grandchild = int(pidfile.read_text())
    while process_alive(grandchild) and time.time() < deadline:
        time.sleep(0.05)
    assert not process_alive(grandchild), "the tool's child outlived the step"
