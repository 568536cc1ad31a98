"""`pause`/`approve`: a manual gate answered on the terminal, by --yes, or by its timeout; `pause` soaks."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from engine.plugins.base import RunOptions, StepContext
from engine.plugins.pause import ApprovePlugin, PausePlugin


def ctx(options: RunOptions | None = None, lines: list | None = None, timeout: float | None = None) -> StepContext:
    sink = lines if lines is not None else []
    return StepContext(key="gate", timeout=timeout, cancel=threading.Event(), run_dir=Path("."),
                       options=options or RunOptions(), emit=lambda stream, line: sink.append(line),
                       deadline=time.time() + timeout if timeout else None)


@pytest.fixture
def terminal():
    """A pipe standing in for the operator's terminal: write answers to it."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "r")
    writer = os.fdopen(write_fd, "w")
    yield reader, writer
    reader.close()
    if not writer.closed:
        writer.close()


@pytest.mark.parametrize("answer,ok,message", [
    ("y\n", True, "Migrate namespace staging? yes"),
    ("yes\n", True, "Migrate namespace staging? yes"),
    ("n\n", False, "Migrate namespace staging? no: declined by the operator"),
    ("\n", False, "Migrate namespace staging? no: declined by the operator"),
])
def test_the_operator_answers_on_the_terminal(terminal, answer, ok, message):
    reader, writer = terminal
    writer.write(answer)
    writer.flush()
    lines: list[str] = []
    outcome = PausePlugin(stdin=reader).run({"prompt": "Migrate namespace staging?"}, ctx(lines=lines))
    assert (outcome.ok, outcome.message) == (ok, message)
    assert outcome.outputs["approved"] is ok
    assert lines == ["Migrate namespace staging? [y/N]"]


def test_yes_answers_without_asking():
    outcome = ApprovePlugin().run({}, ctx(RunOptions(assume_yes=True)))
    assert (outcome.ok, outcome.message) == (True, "Continue? yes (--yes)")


def test_without_a_terminal_the_gate_fails_saying_how_to_proceed():
    outcome = PausePlugin().run({"prompt": "Switch the default tag?"}, ctx(RunOptions(interactive=False)))
    assert not outcome.ok
    assert outcome.message == ("needs approval: Switch the default tag? — no terminal to ask on; re-run with --yes "
                               "or from a terminal")


@pytest.mark.parametrize("on_timeout,ok", [("reject", False), ("approve", True)])
def test_no_answer_in_time_decides_by_on_timeout(terminal, on_timeout, ok):
    reader, _ = terminal
    started = time.time()
    outcome = PausePlugin(stdin=reader).run({"prompt": "Go?", "timeout": "0.3s", "on_timeout": on_timeout}, ctx())
    assert outcome.ok is ok
    assert outcome.message == f"Go? no answer in 0.30s: {'approved' if ok else 'rejected'} (on_timeout)"
    assert 0.25 < time.time() - started < 2


def test_without_a_terminal_on_timeout_approve_waits_then_goes_on():
    outcome = PausePlugin().run({"prompt": "Go?", "timeout": "0.2s", "on_timeout": "approve"}, ctx())
    assert (outcome.ok, outcome.message) == (True, "Go? approved after 0.20s (on_timeout: approve)")


def test_a_cancel_ends_the_wait_for_an_answer(terminal):
    reader, _ = terminal
    context = ctx()
    threading.Timer(0.2, context.cancel.set).start()
    outcome = PausePlugin(stdin=reader).run({"prompt": "Go?"}, context)
    assert outcome.cancelled and not outcome.ok


def test_a_soak_pause_waits_then_succeeds(run_book):
    ran = run_book("""
        version: 1
        steps:
          - {id: soak, uses: pause, with: {duration: 0.1s}}
          - {id: ask, needs: [soak], uses: approve, with: {prompt: "Promote {{ 'canary' }}?"}}
    """, assume_yes=True)
    assert ran.code == 0
    assert ran.outcome("soak").message == "paused 0.10s"
    assert ran.outcome("ask").message == "Promote canary? yes (--yes)"


@pytest.mark.parametrize("args,options,text", [
    ({"duration": "60s"}, RunOptions(), "pause 1m00s"),
    ({"prompt": "Migrate apps?"}, RunOptions(), "ask: Migrate apps? [y/N]"),
    ({"prompt": "Go?", "timeout": "10m", "on_timeout": "approve"}, RunOptions(assume_yes=True),
     "ask: Go? [y/N] (answered yes by --yes); after 10m00s approve"),
])
def test_the_plan_says_what_the_gate_does(args, options, text):
    assert PausePlugin().describe(args, options) == text
