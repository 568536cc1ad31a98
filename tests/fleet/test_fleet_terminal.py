"""Questions between waves asked on a real terminal (a pseudo-terminal): a gate's approval answered yes lets
the next wave start; answered no, or Ctrl-C at the question, halts the fleet and rolls back what it changed as
the fleet's `on_halt` says. A wave's own confirmation answered no stops before that wave, nothing undone."""
from __future__ import annotations

import json

import pytest
from test_fleet_run import PLAYBOOK, fleet_file

QUESTION = "Canary looks healthy: go on to the rest?"
GATED = ("waves:\n"
         "  - name: canary\n    canary: true\n    select: {env: dev}\n"
         "    gate:\n"
         f"      - {{id: approve, uses: approve, with: {{prompt: \"{QUESTION}\"}}}}\n"
         "  - {name: rest, select: {}}\n")


def label(cli, cluster: str) -> str | None:
    ns = json.loads(cli.kubectl(cluster, "get", "namespace", "test-namespace", "-o", "json"))
    return (ns["metadata"].get("labels") or {}).get("fleet/rev")


def events(cli, kind: str) -> list[dict]:
    return [e for e in cli.journal() if e["event"] == kind]


def gated_fleet(emulated_fleet, on_halt: str = ""):
    cli = emulated_fleet(3)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(), extra=on_halt, waves=GATED))
    cli.write("label.yaml", PLAYBOOK)
    return cli


def test_a_gate_approved_yes_on_the_terminal_lets_the_next_wave_run(emulated_fleet):
    cli = gated_fleet(emulated_fleet)

    rc, out = cli.on_a_terminal("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2",
                                answers={QUESTION: b"y\r"})

    assert rc == 0, out
    assert [(e["wave"], e["status"]) for e in events(cli, "gate_finished")] == [("canary", "succeeded"),
                                                                                 ("rest", "succeeded")]
    assert {e["cluster"] for e in events(cli, "cluster_finished") if e["status"] == "succeeded"} == \
        {"c01", "c02", "c03"}
    assert [label(cli, c) for c in cli.emulated.names()] == ["r2"] * 3


def test_a_gate_answered_no_on_the_terminal_halts_and_rolls_back_the_canary(emulated_fleet):
    cli = gated_fleet(emulated_fleet)

    rc, out = cli.on_a_terminal("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2",
                                answers={QUESTION: b"n\r"})

    assert rc == 1, out
    assert events(cli, "gate_finished")[0]["status"] == "failed"
    assert events(cli, "fleet_halted")[0]["reason"] == "gate_failed"
    assert [e["cluster"] for e in events(cli, "cluster_started")] == ["c01"]  # the rest never started
    assert [(e["cluster"], e["status"]) for e in events(cli, "cluster_rollback_finished")] == [("c01", "succeeded")]
    assert events(cli, "fleet_finished")[0]["status"] == "rolled_back"
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 3


def test_a_gate_answered_no_with_manual_rollback_halts_and_leaves_the_canary_upgraded(emulated_fleet):
    cli = gated_fleet(emulated_fleet, on_halt="on_halt: {rollback: manual}\n")

    rc, out = cli.on_a_terminal("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2",
                                answers={QUESTION: b"n\r"})

    assert rc == 1, out
    assert events(cli, "fleet_halted")[0]["reason"] == "gate_failed"
    assert events(cli, "cluster_rollback_started") == []
    assert events(cli, "fleet_finished")[0]["status"] == "halted"
    assert "playbook fleet rollback" in out
    assert [label(cli, c) for c in cli.emulated.names()] == ["r2", None, None]


def test_ctrl_c_at_a_gate_question_halts_the_fleet_and_rolls_back(emulated_fleet):
    cli = gated_fleet(emulated_fleet)

    rc, out = cli.on_a_terminal("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2",
                                answers={QUESTION: b"\x03"})

    assert rc == 130, out
    assert events(cli, "fleet_halted")[0]["reason"] == "interrupted"
    assert [e["cluster"] for e in events(cli, "cluster_started")] == ["c01"]
    assert [(e["cluster"], e["status"]) for e in events(cli, "cluster_rollback_finished")] == [("c01", "succeeded")]
    assert "Traceback" not in out
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 3


def confirmed_fleet(emulated_fleet):
    cli = emulated_fleet(3)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(),
                                       waves="waves:\n  - {name: canary, canary: true, select: {env: dev}}\n"
                                             "  - {name: rest, select: {}, confirm: true}\n"))
    cli.write("label.yaml", PLAYBOOK)
    return cli


def test_a_wave_confirmation_on_the_terminal_yes_goes_on_and_no_stops_before_the_wave(emulated_fleet):
    cli = confirmed_fleet(emulated_fleet)

    rc, out = cli.on_a_terminal("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2",
                                answers={"Start wave rest": b"n\r"})

    assert rc == 4, out
    assert events(cli, "wave_confirm")[0]["answer"] == "no"
    assert events(cli, "cluster_rollback_started") == []  # a "no" here stops; it undoes nothing
    assert [label(cli, c) for c in cli.emulated.names()] == ["r2", None, None]

    rc, out = cli.on_a_terminal("fleet", "resume", "last", answers={"Start wave rest": b"y\r"})

    assert rc == 0, out
    assert events(cli, "wave_confirm")[-1]["answer"] == "yes"
    assert [label(cli, c) for c in cli.emulated.names()] == ["r2"] * 3


@pytest.mark.parametrize("keys", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_an_interrupt_at_a_wave_confirmation_halts_and_rolls_back(emulated_fleet, keys):
    # The question must not go on waiting for a line after Ctrl-C (it did: the halt was printed, then nothing).
    cli = confirmed_fleet(emulated_fleet)

    rc, out = cli.on_a_terminal("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2",
                                answers={"Start wave rest": keys}, timeout=120)

    assert rc == 130, out
    assert events(cli, "wave_confirm")[0]["answer"] == "interrupted"
    assert events(cli, "fleet_halted")[0]["reason"] == "interrupted"
    assert [(e["cluster"], e["status"]) for e in events(cli, "cluster_rollback_finished")] == [("c01", "succeeded")]
    assert "Traceback" not in out
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 3
