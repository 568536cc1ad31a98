"""`playbook fleet run --engine temporal` on an emulated fleet with real kubectl, a real dev server and a worker:
one parent workflow walks the waves (canary, then the rest) and starts a child workflow per cluster; a fault in
wave 2 halts the fleet and the child rollbacks return every touched cluster to where it began, newest first;
on_halt stop, a wave's confirmation answered by `playbook approve`, gates, and cancelling the fleet workflow; the
canary upgrade across four clusters."""
from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from engine.emulator.fleet import EmulatedFleet, Member  # noqa: E402
from fleet_harness import FleetCli  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="the fleet drives the real kubectl")

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
  - id: annotate
    needs: [label]
    uses: kubectl
    with: {args: [annotate, namespace, test-namespace, "fleet/by={{ rev }}", --overwrite]}
    rollback:
      uses: kubectl
      with: {args: [annotate, namespace, test-namespace, "fleet/by-"]}
  - id: hold
    needs: [annotate]
    uses: pause
    with: {duration: "{{ hold }}"}
"""
# c03 refuses the label patch: its own run fails (and undoes itself); the fleet's budget of 0 is exceeded.
PATCH_FAILS = {"api_errors": [{"path": "^/api/v1/namespaces/test-namespace", "method": "PATCH", "status": 500,
                               "times": 1}]}


def fleet_file(names: list[str], waves: str) -> str:
    clusters = "".join(f"  - {{name: {n}, labels: {{env: {'dev' if i == 0 else 'prod'}}}}}\n"
                       for i, n in enumerate(names))
    return f"version: 1\nname: small\nparallelism: 2\nclusters:\n{clusters}{waves}"


@pytest.fixture
def fleet_on_temporal(tmp_path, temporal_worker):
    """start(count, faults) -> (FleetCli, the `fleet run` flags reaching a worker whose kubeconfig is the fleet's)."""
    started: list[EmulatedFleet] = []

    def start(count: int, faults: dict | None = None) -> tuple[FleetCli, list[str]]:
        names = [f"c{i:02d}" for i in range(1, count + 1)]
        fleet = EmulatedFleet([Member(n, faults=(faults or {}).get(n), readiness_delay=0.05) for n in names],
                              state_dir=tmp_path / "emulated").start()
        started.append(fleet)
        cli = FleetCli(tmp_path, fleet)
        flags = temporal_worker(tmp_path, f"fleet-{tmp_path.name}", env=fleet.env())
        return cli, flags
    yield start
    for fleet in started:
        fleet.stop()


def labels(cli: FleetCli, cluster: str) -> dict:
    ns = json.loads(cli.kubectl(cluster, "get", "namespace", "test-namespace", "-o", "json"))
    return {k: v for k, v in {**(ns["metadata"].get("labels") or {}),
                              **(ns["metadata"].get("annotations") or {})}.items() if k.startswith("fleet/")}


def child_workflows(address: str, fleet_id: str) -> list[tuple[str, str]]:
    """(workflow type, id) of every child workflow the fleet's parent started, from its history."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client

    async def read() -> list[tuple[str, str]]:
        client = await Client.connect(address)
        history = await client.get_workflow_handle(fleet_id).fetch_history()
        return [(e.start_child_workflow_execution_initiated_event_attributes.workflow_type.name,
                 e.start_child_workflow_execution_initiated_event_attributes.workflow_id)
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]
    return asyncio.run(read())


@pytest.mark.timeout(600)
def test_a_fleet_of_four_runs_in_waves_as_a_parent_workflow_with_a_child_per_cluster(fleet_on_temporal,
                                                                                      temporal_server):
    cli, flags = fleet_on_temporal(4)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(), "waves:\n  - {name: canary, canary: true, "
                                                             "select: {env: dev}}\n  - {name: rest, select: {}}\n"))
    cli.write("label.yaml", PLAYBOOK)

    run = cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json", *flags,
                  timeout=500)

    assert run.rc == 0, run.why()
    assert [(e["wave"], e["clusters"]) for e in run.fleet("wave_started")] == \
        [("canary", ["c01"]), ("rest", ["c02", "c03", "c04"])]
    kinds = [(e["event"], e.get("cluster") or e.get("wave")) for e in run.events if "step" not in e]
    assert kinds.index(("cluster_finished", "c01")) < kinds.index(("wave_started", "rest"))
    assert {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")} == \
        {c: "succeeded" for c in cli.emulated.names()}
    # Each cluster's step events come with the cluster and its wave, as in a local fleet run.
    steps = {(e["cluster"], e["step"]) for e in run.events if e["event"] == "step_succeeded"}
    assert steps == {(c, s) for c in cli.emulated.names() for s in ("label", "annotate", "hold")}
    assert all(labels(cli, c) == {"fleet/rev": "r2", "fleet/by": "r2"} for c in cli.emulated.names())
    fleet_id = run.fleet("fleet_started")[0]["fleet_id"]
    # The parent's history: a child workflow per cluster, canary first.
    children = child_workflows(temporal_server, fleet_id)
    assert children[0] == ("PlaybookRun", f"{fleet_id}.c01")
    assert sorted(children) == [("PlaybookRun", f"{fleet_id}.{c}") for c in cli.emulated.names()]
    # status and show read the parent's state back, with the Web UI link.
    status = cli.run("fleet", "status", fleet_id, "--engine", "temporal", "--temporal-address", temporal_server,
                     "--temporal-ui", "http://127.0.0.1:8233")
    assert status.rc == 0, status.err
    assert status.out.splitlines()[0] == f"fleet run {fleet_id} on Temporal: succeeded"
    assert f"http://127.0.0.1:8233/namespaces/default/workflows/{fleet_id}" in status.out
    assert all(f"{c}" in status.out for c in cli.emulated.names()) and "wave rest [3 succeeded]" in status.out
    show = cli.run("fleet", "show", fleet_id, "--engine", "temporal", "--temporal-address", temporal_server)
    assert show.rc == 0, show.err
    assert "wave canary: c01" in show.out and "fleet succeeded (exit 0)" in show.out, show.out
    # A cluster's run is an ordinary Temporal run: `playbook show` reads it.
    one = cli.run("show", f"{fleet_id}.c03", "--engine", "temporal", "--temporal-address", temporal_server)
    assert one.rc == 0 and "succeeded    label" in one.out, one.out + one.err


@pytest.mark.timeout(600)
def test_a_fault_in_wave_two_halts_the_fleet_and_child_rollbacks_undo_every_touched_cluster(fleet_on_temporal,
                                                                                           temporal_server):
    cli, flags = fleet_on_temporal(5, faults={"c03": PATCH_FAILS})
    before = {c: labels(cli, c) for c in cli.emulated.names()}
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(),
                                       "waves:\n  - {name: canary, canary: true, select: {env: dev}}\n"
                                       "  - {name: second, clusters: [c02, c03], parallelism: 1}\n"
                                       "  - {name: last, select: {}}\n"))
    cli.write("label.yaml", PLAYBOOK)

    run = cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json", *flags,
                  timeout=500)

    assert run.rc == 1, run.why()
    assert {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")} == \
        {"c01": "succeeded", "c02": "succeeded", "c03": "failed"}
    halted = run.fleet("fleet_halted")
    assert len(halted) == 1 and halted[0]["reason"] == "budget_exceeded" and "c03" in halted[0]["message"]
    assert [e["wave"] for e in run.fleet("wave_started")] == ["canary", "second"]  # wave 3 never began
    # The completed clusters are rolled back in reverse order of completion, each by a child workflow: a new
    # execution of the cluster's run undoing its steps.
    assert [e["cluster"] for e in run.fleet("cluster_rollback_finished")] == ["c02", "c01"]
    assert all(e["status"] == "succeeded" for e in run.fleet("cluster_rollback_finished"))
    assert run.fleet("fleet_finished")[0]["status"] == "rolled_back"
    assert {c: labels(cli, c) for c in cli.emulated.names()} == before  # each ends as it began
    fleet_id = run.fleet("fleet_started")[0]["fleet_id"]
    children = child_workflows(temporal_server, fleet_id)
    assert children == [("PlaybookRun", f"{fleet_id}.c01"), ("PlaybookRun", f"{fleet_id}.c02"),
                        ("PlaybookRun", f"{fleet_id}.c03"), ("PlaybookRun", f"{fleet_id}.c02"),
                        ("PlaybookRun", f"{fleet_id}.c01")]
    undone = cli.run("show", f"{fleet_id}.c02", "--engine", "temporal", "--temporal-address", temporal_server)
    assert undone.rc == 0, undone.err
    assert "result: rolled_back (exit 0)" in undone.out, undone.out
    assert {tuple(line.split()[:2]) for line in undone.out.splitlines() if "rollback succeeded" in line} == \
        {("rolled_back", "annotate;"), ("rolled_back", "label;")}
    show = cli.run("fleet", "show", fleet_id, "--engine", "temporal", "--temporal-address", temporal_server)
    assert "HALT (budget_exceeded)" in show.out and "c02: rollback succeeded" in show.out, show.out


@pytest.mark.timeout(600)
def test_on_halt_stop_cancels_the_running_cluster_runs_and_each_undoes_its_part(fleet_on_temporal):
    cli, flags = fleet_on_temporal(3, faults={"c02": PATCH_FAILS})
    # c03 holds for a minute; c02 fails at once: the halt cancels c03's run instead of waiting for it.
    cli.write("fleet.yaml", "version: 1\nname: slow\nclusters:\n  - {name: c01, labels: {env: dev}}\n"
                            "  - {name: c02, labels: {env: prod}}\n  - {name: c03, labels: {env: prod}, "
                            "inputs: {hold: 60s}}\nparallelism: 2\non_halt: {running: stop}\n"
                            "waves:\n  - {name: canary, canary: true, select: {env: dev}}\n  - {name: rest, select: {}}\n")
    cli.write("label.yaml", PLAYBOOK)

    run = cli.run("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json", *flags,
                  timeout=500)

    assert run.rc == 1, run.why()
    halted = run.fleet("fleet_halted")[0]
    assert halted["running_action"] == "stop" and halted["running"] == ["c03"]
    assert {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")} == \
        {"c01": "succeeded", "c02": "failed", "c03": "rolled_back"}
    assert [e["cluster"] for e in run.fleet("cluster_rollback_finished")] == ["c01"]
    assert all(labels(cli, c) == {} for c in cli.emulated.names())
    started, ended = run.fleet("fleet_started")[0]["time"], run.fleet("fleet_finished")[0]["time"]
    assert ended - started < 60  # c03's hold was cut short, not waited for


@pytest.mark.timeout(600)
def test_a_wave_waits_for_playbook_approve_and_a_failed_gate_halts_and_rolls_every_cluster_back(
        fleet_on_temporal, temporal_server):
    cli, flags = fleet_on_temporal(3)
    gate = "    gate:\n      - {id: ok, uses: assert, with: {that: \"upgraded | length < 2\", msg: too many}}\n"
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(),
                                       "waves:\n  - name: canary\n    canary: true\n    select: {env: dev}\n"
                                       + gate + "  - name: rest\n    select: {}\n    confirm: true\n" + gate))
    cli.write("label.yaml", PLAYBOOK)
    answers = []

    def on_event(event, proc):
        if event["event"] == "awaiting_approval" and "step" not in event:
            fleet_id = next(e for e in run_events if e["event"] == "fleet_started")["fleet_id"]
            answers.append(cli.run("approve", fleet_id, event["key"], "--as", "ana", "--reason", "canary fine",
                                   "--temporal-address", temporal_server))
        run_events.append(event)
    run_events: list[dict] = []

    run = cli.stream("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json", *flags,
                     on_event=on_event, timeout=500)

    assert run.rc == 1, run.why()
    assert [a.rc for a in answers] == [0], [a.err for a in answers]
    asked = run.fleet("awaiting_approval")
    assert [e["key"] for e in asked] == ["rest"]
    assert [(e["key"], e["by"], e["reason"]) for e in run.fleet("approved")] == [("rest", "ana", "canary fine")]
    # The gate is told which clusters are upgraded: one after the canary passes, three after the rest fail it.
    assert [(e["wave"], e["status"]) for e in run.fleet("gate_finished")] == \
        [("canary", "succeeded"), ("rest", "failed")]
    assert run.fleet("fleet_halted")[0]["reason"] == "gate_failed"
    assert [e["cluster"] for e in run.fleet("cluster_rollback_finished")][-1] == "c01"
    assert run.fleet("fleet_finished")[0]["status"] == "rolled_back"
    assert all(labels(cli, c) == {} for c in cli.emulated.names())


@pytest.mark.timeout(600)
def test_cancelling_the_fleet_workflow_stops_running_clusters_and_rolls_back_the_finished_ones(
        fleet_on_temporal, temporal_server):
    from temporalio.client import Client

    cli, flags = fleet_on_temporal(3)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(), "waves:\n  - {name: canary, canary: true, "
                                                             "select: {env: dev}}\n  - {name: rest, select: {}}\n")
              .replace("env: prod}", "env: prod}, inputs: {hold: 60s}"))
    cli.write("label.yaml", PLAYBOOK)
    fleet_ids: list[str] = []

    def on_event(event, proc):
        if event["event"] == "fleet_started":
            fleet_ids.append(event["fleet_id"])
        # Both clusters of wave 2 are holding: cancel the fleet as `temporal workflow cancel` would.
        if event["event"] == "step_started" and event.get("step") == "hold" and event["wave"] == "rest" \
                and len(fleet_ids) == 1:
            fleet_ids.append("cancelled")

            async def cancel() -> None:
                await (await Client.connect(temporal_server)).get_workflow_handle(fleet_ids[0]).cancel()
            asyncio.run(cancel())

    run = cli.stream("fleet", "run", "fleet.yaml", "label.yaml", "--var", "rev=r2", "--output", "json", *flags,
                     on_event=on_event, timeout=500)

    assert fleet_ids[1:] == ["cancelled"], run.why()
    assert run.rc == 130, run.why()
    halted = run.fleet("fleet_halted")[0]
    assert halted["reason"] == "interrupted" and halted["running_action"] == "stop"
    finished = {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")}
    assert finished["c01"] == "succeeded" and set(finished.values()) - {"succeeded"} == {"rolled_back"}
    assert "c01" in [e["cluster"] for e in run.fleet("cluster_rollback_finished")]
    assert run.fleet("fleet_finished")[0]["status"] == "rolled_back"
    # The running clusters' 60 s holds were cut short, not waited for.
    assert run.fleet("fleet_finished")[0]["time"] - run.fleet("fleet_halted")[0]["time"] < 40
    assert all(labels(cli, c) == {} for c in cli.emulated.names())


@pytest.mark.timeout(1500)
def test_the_canary_upgrade_across_four_clusters_on_temporal_upgrades_each_with_zero_downtime(fleet_on_temporal):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    from e2e_harness import FAST, PLAYBOOKS
    from test_fleet_e2e import assert_upgraded

    cli, flags = fleet_on_temporal(4)
    cli.write("fleet.yaml", fleet_file(cli.emulated.names(), "waves:\n  - {name: canary, canary: true, "
                                                             "select: {env: dev}}\n"
                                                             "  - {name: rest, select: {}, parallelism: 3}\n"))

    run = cli.run("fleet", "run", "fleet.yaml", str(PLAYBOOKS / "canary-upgrade.yaml"), "--var", "rev=1-20-0",
                  *FAST, "--yes", "--output", "json", *flags, timeout=1400)

    assert run.rc == 0, run.why()
    assert [(e["wave"], e["clusters"]) for e in run.fleet("wave_started")] == \
        [("canary", ["c01"]), ("rest", ["c02", "c03", "c04"])]
    assert {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")} == \
        {c: "succeeded" for c in cli.emulated.names()}
    for name in cli.emulated.names():
        assert_upgraded(cli.emulated[name])  # every workload on the new proxy, zero downtime


def test_a_fleet_with_a_secret_input_and_no_key_file_is_refused_before_anything_starts(tmp_path, temporal_server):
    # On Temporal every cluster's inputs are kept in the parent's history: a secret needs the shared key file.
    fleet = EmulatedFleet([Member("c01"), Member("c02")], state_dir=tmp_path / "emulated").start()
    try:
        cli = FleetCli(tmp_path, fleet)
        cli.write("fleet.yaml", fleet_file(["c01", "c02"], "waves:\n  - {name: all, select: {}}\n"))
        cli.write("secret.yaml", PLAYBOOK.replace("  hold:", "  token: {type: string, secret: true}\n  hold:"))
        run = cli.run("fleet", "run", "fleet.yaml", "secret.yaml", "--var", "rev=r2", "--var", "token=s3cr3t",
                      "--engine", "temporal", "--temporal-address", temporal_server)
    finally:
        fleet.stop()
    assert run.rc == 2, run.out + run.err
    assert "secret inputs" in run.err and "--temporal-key-file" in run.err
    assert "submitted" not in run.err
