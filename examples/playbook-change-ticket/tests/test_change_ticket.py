"""The change_ticket step and the ticket_state look-up, run by the real `playbook` CLI against a fake API."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "playbook_change_ticket"

BOOK = """
version: 1
inputs:
  api: {type: string}
  then: {type: string, default: "true"}
steps:
  - id: ticket
    uses: change_ticket
    with: {api: "{{ api }}", summary: "Istio canary upgrade", token_env: CHANGES_TOKEN}
  - id: change
    needs: [ticket]
    uses: shell
    with: {script: "echo working under {{ steps.ticket.ticket }}; {{ then }}"}
"""


def test_the_package_uses_only_the_public_api():
    imported = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported += [(path.name, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.append((path.name, node.module))
    from_engine = [(f, m) for f, m in imported if m == "engine" or m.startswith("engine.")]
    assert from_engine, "the plugin must import the API from engine.api"
    assert all(m == "engine.api" for _, m in from_engine), f"imports beyond engine.api: {from_engine}"


def test_playbook_lists_the_installed_step(playbook):
    listing = playbook("version: 1\nsteps: []\n", "plugins")
    assert listing.rc == 0, listing.err
    assert "change_ticket: Open a change ticket" in listing.out
    assert "BROKEN" not in listing.out


def test_a_run_opens_a_ticket_and_later_steps_see_its_id(playbook, tickets):
    result = playbook(BOOK, "run", "p.yaml", "--var", f"api={tickets.url}", "-v", env={"CHANGES_TOKEN": "s3cret"})
    assert result.rc == 0, result.out + result.err
    assert "working under CHG1" in result.out
    assert tickets.requests == [("POST", "/changes", {"summary": "Istio canary upgrade", "state": "open"},
                                 "Bearer s3cret")]
    assert tickets.states == {"CHG1": "open"}


def test_a_failed_run_cancels_the_ticket_it_opened(playbook, tickets):
    result = playbook(BOOK, "run", "p.yaml", "--var", f"api={tickets.url}", "--var", "then=exit 1")
    assert result.rc == 1, result.out + result.err
    assert tickets.states == {"CHG1": "cancelled"}
    assert ("POST", "/changes/CHG1/cancel", {"reason": "playbook rolled back"}, "") in tickets.requests
    assert "cancel change ticket CHG1" in result.out


def test_playbook_rollback_later_cancels_the_ticket_from_the_journal(playbook, tickets):
    ran = playbook(BOOK, "run", "p.yaml", "--var", f"api={tickets.url}")
    assert ran.rc == 0 and tickets.states == {"CHG1": "open"}, ran.out + ran.err
    rolled = playbook(BOOK, "rollback", "last", "--yes")
    assert rolled.rc == 0, rolled.out + rolled.err
    assert tickets.states == {"CHG1": "cancelled"}


def test_an_unreachable_api_fails_the_step_and_nothing_is_cancelled(playbook):
    result = playbook(BOOK, "run", "p.yaml", "--var", "api=http://127.0.0.1:9")
    assert result.rc == 1, result.out + result.err
    assert "POST http://127.0.0.1:9/changes" in result.out
    assert "Traceback" not in result.out + result.err


def test_the_plan_says_what_the_step_and_its_undo_do(playbook):
    plan = playbook(BOOK, "run", "p.yaml", "--dry-run", "--var", "api=https://changes.example.com/api")
    assert plan.rc == 0, plan.err
    assert "open a change ticket at https://changes.example.com/api: Istio canary upgrade" in plan.out
    assert "rollback: cancel the change ticket it opens" in plan.out


def test_the_ticket_state_look_up_reads_the_api(playbook, tickets):
    book = """
        version: 1
        inputs:
          api: {type: string}
        steps:
          - id: ticket
            uses: change_ticket
            with: {api: "{{ api }}", summary: "look-up test"}
          - id: state
            needs: [ticket]
            uses: echo
            with: {msg: "state {{ ticket_state(api, steps.ticket.ticket) }}"}
    """
    assert playbook(book, "validate", "p.yaml").rc == 0
    result = playbook(book, "run", "p.yaml", "--var", f"api={tickets.url}")
    assert result.rc == 0, result.out + result.err
    assert "state open" in result.out
