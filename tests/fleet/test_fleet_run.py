"""`playbook fleet run/status/show/resume/rollback` on an emulated fleet with real kubectl and a small playbook
(label a namespace, hold, check): waves in order, events carrying the cluster, the failure budget halting the
fleet and its rollback newest first, SIGKILL then resume without redoing finished clusters, notifications."""
from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from fleet_harness import wait_for

PLAYBOOK = """
version: 1
name: label-upgrade
inputs:
  rev: {type: string, required: true}
  hold: {type: string, default: 0s}
steps:
  - id: label
    uses: kubectl
    with: {args: [label, namespace, test-namespace, "fleet/rev={{ rev }}", --overwrite]}
    rollback:
      uses: kubectl
      with: {args: [label, namespace, test-namespace, "fleet/rev-"]}
  - id: hold
    needs: [label]
    uses: pause
    with: {duration: "{{ hold }}"}
  - id: check
    needs: [hold]
    uses: kubectl
    with: {args: [get, namespace, test-namespace, -o, name]}
"""


def fleet_file(names: list[str], extra: str = "", waves: str | None = None) -> str:
    clusters = "".join(f"  - {{name: {n}, labels: {{env: {'dev' if i == 0 else 'prod'}}}}}\n"
                       for i, n in enumerate(names))
    return (f"version: 1\nname: small\nparallelism: 3\n{extra}clusters:\n{clusters}"
            + (waves or "waves:\n  - {name: canary, canary: true, select: {env: dev}}\n"
                        "  - {name: rest, select: {}}\n"))


def label(cli, cluster: str) -> str | None:
    ns = json.loads(cli.kubectl(cluster, "get", "namespace", "test-namespace", "-o", "json"))
    return (ns["metadata"].get("labels") or {}).get("fleet/rev")


def test_fleet_run_upgrades_every_cluster_wave_by_wave_and_events_carry_the_cluster(emulated_fleet):
    cli = emulated_fleet(4)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names()))
    cli.write("label.yaml", PLAYBOOK)

    run = cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json")

    assert run.rc == 0, run.why()
    assert [e["wave"] for e in run.fleet("wave_started")] == ["canary", "rest"]
    # The canary finished before the second wave began.
    kinds = [(e["event"], e.get("cluster") or e.get("wave")) for e in run.events if "step" not in e]
    assert kinds.index(("cluster_finished", "c01")) < kinds.index(("wave_started", "rest"))
    steps = [e for e in run.events if e["event"] == "step_succeeded"]
    assert {(e["cluster"], e["step"]) for e in steps} == {(c, s) for c in cli.emulated.names()
                                                           for s in ("label", "hold", "check")}
    assert all(e["wave"] == ("canary" if e["cluster"] == "c01" else "rest") for e in steps)
    assert all(label(cli, c) == "r2" for c in cli.emulated.names())
    status = cli.run("fleet", "status")
    assert status.rc == 0 and "succeeded" in status.out.splitlines()[0]
    # Each cluster's run is an ordinary journaled run, readable with `playbook show --runs-dir`.
    show = cli.run("show", "--runs-dir", str(cli.fleet_dir() / "clusters" / "c03"), "last")
    assert show.rc == 0 and "succeeded" in show.out.splitlines()[0], show.err


class Hook(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802
        Hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_failure_beyond_the_budget_halts_the_fleet_and_rolls_back_newest_first(emulated_fleet):
    # c03 refuses the label patch: its own run fails and rolls itself back; the fleet halts and undoes the others.
    patch_fails = {"api_errors": [{"path": "^/api/v1/namespaces/test-namespace", "method": "PATCH", "status": 500, "times": 1}]}
    cli = emulated_fleet(5, faults={"c03": patch_fails})
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.bodies = []
    hook = f"http://127.0.0.1:{server.server_port}/hook"
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(), extra=f"notify_webhook: {hook}\n",
                                       waves="waves:\n  - {name: canary, canary: true, select: {env: dev}}\n"
                                             "  - {name: second, clusters: [c02, c03], parallelism: 1}\n"
                                             "  - {name: last, select: {}}\n"))
    cli.write("label.yaml", PLAYBOOK)

    run = cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json")
    server.shutdown()

    assert run.rc == 1, run.why()
    finished = {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")}
    assert finished == {"c01": "succeeded", "c02": "succeeded", "c03": "failed"}
    halted = run.fleet("fleet_halted")[0]
    assert halted["reason"] == "budget_exceeded" and "c03" in halted["message"]
    assert [e["wave"] for e in run.fleet("wave_started")] == ["canary", "second"]  # wave 3 never began
    assert [e["cluster"] for e in run.fleet("cluster_rollback_finished")] == ["c02", "c01"]
    assert run.fleet("fleet_finished")[0]["status"] == "rolled_back"
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 5
    # Notifications name the cluster and the wave.
    failed = next(b for b in Hook.bodies if b["event"] == "cluster_failed")
    assert (failed["cluster"], failed["wave"], failed["fleet"]) == ("c03", "second", "small")
    assert {(b["cluster"], b["wave"]) for b in Hook.bodies if b["event"] == "cluster_rolled_back"} == \
        {("c02", "second"), ("c01", "canary")}
    assert Hook.bodies[-1]["event"] == "finished" and Hook.bodies[-1]["status"] == "rolled_back"


def test_sigkill_during_wave_two_then_resume_finishes_without_redoing_finished_clusters(emulated_fleet):
    # Twelve clusters in waves of 1, 3 and 8; the fleet process is killed while wave 2 is mid-way.
    cli = emulated_fleet(12)
    names = cli.emulated.names()
    cli.write("fleet.yaml", fleet_file(names, waves="waves:\n  - {name: canary, canary: true, select: {env: dev}}\n"
                                                    "  - {name: second, clusters: [c02, c03, c04]}\n"
                                                    "  - {name: third, select: {}, parallelism: 8}\n"))
    cli.write("label.yaml", PLAYBOOK)
    proc = cli.popen("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--var", "hold=3s",
                     "--output", "json")
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "step_started" and seen[-1]["step"] == "hold" and seen[-1]["wave"] == "second":
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    fleet_dir = cli.fleet_dir()

    status = cli.run("fleet", "status")
    assert status.out.splitlines()[0].endswith(": killed"), status.out
    # The cluster runs died with the fleet (none goes on unobserved): their journals say so.
    wait_for(lambda: "running" not in cli.run("fleet", "status").out.split("WAVE")[-1])
    assert label(cli, "c05") is None  # wave 3 had not begun

    resumed = cli.run("fleet", "resume", "last", "--output", "json")

    assert resumed.rc == 0, resumed.why()
    started = {e["cluster"]: e["command"] for e in resumed.fleet("cluster_started")}
    assert "c01" not in started  # the canary had finished: kept, not run again
    assert {c for c, how in started.items() if how == "resume"} <= {"c02", "c03", "c04"}
    assert "resume" in started.values()  # a cluster cut short continues its own run
    assert set(names[4:]) <= set(started)  # wave 3 ran
    assert len(list((fleet_dir / "clusters" / "c01").glob("2*"))) == 1
    for name in ("c02", "c03", "c04"):  # each wave-2 cluster has one run: resumed, not started again
        assert len(list((fleet_dir / "clusters" / name).glob("2*"))) <= 1 or started.get(name) == "run"
    assert all(label(cli, c) == "r2" for c in names)
    assert cli.run("fleet", "status").out.splitlines()[0].endswith(": succeeded")
    show = cli.run("fleet", "show", "last")
    assert "fleet resume" in show.out and "killed" not in show.out.splitlines()[0]


def test_fleet_rollback_on_request_undoes_a_finished_fleet_newest_first(emulated_fleet):
    cli = emulated_fleet(3)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names()))
    cli.write("label.yaml", PLAYBOOK)
    assert cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2").rc == 0

    undo = cli.run("fleet", "rollback", "last", "--yes", "--output", "json")

    assert undo.rc == 1, undo.why()  # as for a run: rolled back is not success
    order = [e["cluster"] for e in undo.fleet("cluster_rollback_finished")]
    completed = [e["cluster"] for e in cli.run("fleet", "show").events] or order
    assert order[-1] == "c01" and set(order) == {"c01", "c02", "c03"}
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 3
    again = cli.run("fleet", "rollback", "last", "--yes")
    assert again.rc == 0 and "nothing left to roll back" in again.err
    assert completed


def test_within_the_budget_a_failed_cluster_does_not_halt_the_fleet(emulated_fleet):
    patch_fails = {"api_errors": [{"path": "^/api/v1/namespaces/test-namespace", "method": "PATCH", "status": 500,
                                   "times": 1}]}
    cli = emulated_fleet(4, faults={"c02": patch_fails})
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(), extra="failure_budget: {max_failed_clusters: 1}\n"))
    cli.write("label.yaml", PLAYBOOK)

    run = cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json")

    assert run.rc == 0, run.why()
    finished = {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")}
    assert finished == {"c01": "succeeded", "c02": "failed", "c03": "succeeded", "c04": "succeeded"}
    assert not run.fleet("fleet_halted") and run.fleet("fleet_finished")[0]["status"] == "succeeded"
    assert [label(cli, c) for c in cli.emulated.names()] == ["r2", None, "r2", "r2"]


def test_on_halt_stop_stops_the_running_clusters_and_each_rolls_its_part_back(emulated_fleet):
    patch_fails = {"api_errors": [{"path": "^/api/v1/namespaces/test-namespace", "method": "PATCH", "status": 500,
                                   "times": 1}]}
    cli = emulated_fleet(3, faults={"c02": patch_fails})
    cli.write("label.yaml", PLAYBOOK)
    # c03 holds for a minute; c02 fails at once: the halt stops c03 instead of waiting for it.
    cli.write("slow.yaml", "version: 1\nclusters:\n  - {name: c01, labels: {env: dev}}\n"
                           "  - {name: c02, labels: {env: prod}}\n  - {name: c03, labels: {env: prod}, "
                           "inputs: {hold: 60s}}\nparallelism: 2\non_halt: {running: stop}\n"
                           "waves:\n  - {name: canary, canary: true, select: {env: dev}}\n  - {name: rest, select: {}}\n")

    run = cli.run("fleet", "run", "slow.yaml", "label.yaml", "--var", "rev=r2", "--output", "json", timeout=120)

    assert run.rc == 1, run.why()
    halted = run.fleet("fleet_halted")[0]
    assert halted["running_action"] == "stop" and halted["running"] == ["c03"]
    finished = {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")}
    assert finished == {"c01": "succeeded", "c02": "failed", "c03": "rolled_back"}
    assert [e["cluster"] for e in run.fleet("cluster_rollback_finished")] == ["c01"]
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 3


def test_a_wave_confirmation_without_a_terminal_stops_and_resume_with_yes_goes_on(emulated_fleet):
    cli = emulated_fleet(3)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(),
                                       waves="waves:\n  - {name: canary, canary: true, select: {env: dev}}\n"
                                             "  - {name: rest, select: {}, confirm: true}\n"))
    cli.write("label.yaml", PLAYBOOK)

    stopped = cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json")

    assert stopped.rc == 4, stopped.why()
    assert stopped.fleet("wave_confirm")[0]["answer"] == "no terminal"
    assert [label(cli, c) for c in cli.emulated.names()] == ["r2", None, None]
    resumed = cli.run("fleet", "resume", "last", "--yes", "--output", "json")
    assert resumed.rc == 0, resumed.why()
    assert {e["cluster"] for e in resumed.fleet("cluster_started")} == {"c02", "c03"}
    assert [label(cli, c) for c in cli.emulated.names()] == ["r2"] * 3


def test_a_gate_sees_the_upgraded_clusters_and_a_failed_gate_halts_and_rolls_back(emulated_fleet):
    cli = emulated_fleet(3)
    gate = ("    gate:\n"
            "      - {id: seen, uses: echo, with: {msg: \"upgraded {{ upgraded | join(',') }} in {{ wave }}\"}}\n"
            "      - {id: ok, uses: assert, needs: [seen], with: {that: \"upgraded | length < 2\", msg: too many}}\n")
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(),
                                       waves="waves:\n  - name: canary\n    canary: true\n    select: {env: dev}\n"
                                             + gate + "  - name: rest\n    select: {}\n" + gate))
    cli.write("label.yaml", PLAYBOOK)

    run = cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json")

    assert run.rc == 1, run.why()
    gates = [(e["wave"], e["status"]) for e in run.fleet("gate_finished")]
    assert gates == [("canary", "succeeded"), ("rest", "failed")]
    said = [e["line"] for e in run.events if e["event"] == "step_output" and e.get("gate")]
    assert said[0] == "upgraded c01 in canary"
    assert run.fleet("fleet_halted")[0]["reason"] == "gate_failed"
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 3


def test_ctrl_c_halts_the_fleet_stops_running_clusters_and_rolls_back_what_was_done(emulated_fleet):
    cli = emulated_fleet(4)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names()))
    cli.write("label.yaml", PLAYBOOK)

    pressed = []

    def on_event(event, proc):  # one Ctrl-C (a second one would abandon the rollback)
        if event["event"] == "step_started" and event["step"] == "hold" and event.get("wave") == "rest" \
                and not pressed:
            pressed.append(event["cluster"])
            proc.send_signal(signal.SIGINT)

    run = cli.stream("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--var", "hold=60s",
                     "--output", "json", on_event=on_event, timeout=240)

    assert run.rc == 130, run.why()
    halted = run.fleet("fleet_halted")
    assert len(halted) == 1 and halted[0]["reason"] == "interrupted" and halted[0]["running_action"] == "stop"
    finished = {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")}
    assert finished["c01"] == "succeeded"
    # A stopped cluster rolled its own part back; one stopped while its run was still starting (before it
    # could take the signal) is `killed`, and the fleet's rollback undoes it with the others.
    assert all(finished.get(c, "pending") in ("rolled_back", "killed", "pending") for c in ("c02", "c03", "c04")), \
        finished
    undone = [e["cluster"] for e in run.fleet("cluster_rollback_finished")]
    assert undone[-1] == "c01" and set(undone[:-1]) == {c for c, s in finished.items() if s == "killed"}
    # (a cluster cut short started after the canary completed: it is newer, so it goes back first)
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 4


def test_after_a_sigkill_fleet_rollback_undoes_finished_and_cut_short_clusters_alike(emulated_fleet):
    cli = emulated_fleet(3)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names()))
    cli.write("label.yaml", PLAYBOOK)
    proc = cli.popen("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--var", "hold=30s",
                     "--output", "json")
    holding = set()
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "step_started" and event["step"] == "hold" and event["wave"] == "rest":
            holding.add(event["cluster"])
            if holding == {"c02", "c03"}:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    wait_for(lambda: "running" not in cli.run("fleet", "status").out.split("WAVE")[-1])
    assert [label(cli, c) for c in cli.emulated.names()] == ["r2"] * 3

    undo = cli.run("fleet", "rollback", "last", "--yes", "--output", "json")

    assert undo.rc == 1, undo.why()
    order = [e["cluster"] for e in undo.fleet("cluster_rollback_finished")]
    assert order[-1] == "c01" and set(order) == {"c01", "c02", "c03"}  # the cut-short ones started later
    assert all(e["status"] == "succeeded" for e in undo.fleet("cluster_rollback_finished"))
    assert [label(cli, c) for c in cli.emulated.names()] == [None] * 3
    resumed = cli.run("fleet", "resume", "last")
    assert resumed.rc == 2 and "can only be rolled back" in resumed.err
