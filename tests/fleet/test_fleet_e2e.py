"""The canary upgrade across an emulated fleet of 12 clusters (a canary wave of 1, then waves of 3 and 8) with
real kubectl: every cluster upgraded with zero downtime; a fault in wave 2 halts the fleet and the rollback
returns every touched cluster to where it began (namespace labels, proxies, revisions, tags)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_harness import cluster_state, downtime, wait_settled  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="the fleet e2e drives the real kubectl")

CANARY = str(Path(__file__).resolve().parents[2] / "playbooks" / "canary-upgrade.yaml")
NEW_PROXY = "docker.io/istio/proxyv2:1.20.0"
NAMESPACES = ["test-namespace", "staging-namespace", "production-namespace-1", "production-namespace-2"]


def twelve(parallelism_last: int = 8, own_inputs: dict[str, str] | None = None) -> str:
    own_inputs = own_inputs or {}
    clusters = "".join(f"  - {{name: c{i:02d}, labels: {{env: {'staging' if i <= 4 else 'prod'}, "
                       f"region: {'eu' if i % 2 else 'us'}}}"
                       + (f", inputs: {{{own_inputs[f'c{i:02d}']}}}" if f"c{i:02d}" in own_inputs else "") + "}\n"
                       for i in range(1, 13))
    return ("version: 1\nname: twelve\nparallelism: 3\n"
            "inputs: {soak_between_waves: 0s, soak_before_promote: 0s}\n"
            "clusters:\n" + clusters +
            "waves:\n"
            "  - {name: canary, canary: true, select: {env: staging}, soak: 1s}\n"
            "  - {name: staging, select: {env: staging}, soak: 1s}\n"
            f"  - {{name: prod, select: {{}}, parallelism: {parallelism_last}}}\n")


def assert_upgraded(emu) -> None:
    wait_settled(emu)
    state = cluster_state(emu)
    for ns in NAMESPACES:
        assert state["labels"][ns] == {"istio.io/rev": "1-20-0"}, state["labels"][ns]
    workloads = {k: v for k, v in state["proxies"].items() if k.split("/")[0] in NAMESPACES}
    assert workloads and all(set(images) == {NEW_PROXY} for images in workloads.values()), workloads
    assert [d for d in state["deployments"] if d.startswith("istiod")] == ["istiod-1-20-0"]
    assert "istio-revision-tag-default" in state["mutating_webhooks"]
    assert downtime(emu) == {}, emu.format_downtime_report()


@pytest.mark.timeout(1200)
def test_twelve_clusters_in_waves_of_1_3_8_are_all_upgraded_with_zero_downtime(emulated_fleet):
    cli = emulated_fleet(12)
    cli.write("fleet.yaml", twelve())

    run = cli.stream("fleet", "run", "fleet.yaml", CANARY, "--var", "rev=1-20-0", "--yes", "--output", "json",
                     timeout=1100)

    assert run.rc == 0, run.why()
    waves = [(e["wave"], e["clusters"]) for e in run.fleet("wave_started")]
    assert waves == [("canary", ["c01"]), ("staging", ["c02", "c03", "c04"]),
                     ("prod", [f"c{i:02d}" for i in range(5, 13)])]
    assert sorted(e["cluster"] for e in run.fleet("cluster_finished") if e["status"] == "succeeded") == \
        [f"c{i:02d}" for i in range(1, 13)]
    # No cluster of a wave started before the previous wave ended.
    order = [(e["event"], e.get("wave")) for e in run.events if "step" not in e]
    for earlier, later in (("canary", "staging"), ("staging", "prod")):
        assert order.index(("wave_finished", earlier)) < order.index(("wave_started", later))
    for name in cli.emulated.names():
        assert_upgraded(cli.emulated[name])


@pytest.mark.timeout(900)
def test_a_fault_in_wave_two_halts_the_fleet_and_every_touched_cluster_ends_as_it_began(emulated_fleet):
    cli = emulated_fleet(12)
    before = {name: cluster_state(cli.emulated[name]) for name in cli.emulated.names()}
    # In c03, new pods of production-namespace-1/web never become Ready: its run fails in its production wave
    # after moving test and staging. The fault ends when its rollback begins (the old proxies mend it).
    cli.emulated["c03"].set_faults({"stuck_rollouts": [{"namespace": "production-namespace-1", "deployment": "web"}]})

    def on_event(event, proc):
        if event.get("cluster") == "c03" and event["event"] == "rollback_begun":
            cli.emulated["c03"].set_faults({})

    # c03's own input: a short rollout timeout, so its stuck rollout fails in seconds rather than minutes.
    cli.write("fleet.yaml", twelve(own_inputs={"c03": "rollout_timeout: 8s"}))
    run = cli.stream("fleet", "run", "fleet.yaml", CANARY, "--var", "rev=1-20-0", "--yes", "--output", "json",
                     on_event=on_event, timeout=800)

    assert run.rc == 1, run.why()
    finished = {e["cluster"]: e["status"] for e in run.fleet("cluster_finished")}
    assert finished["c03"] == "failed" and finished["c01"] == "succeeded", finished
    halted = run.fleet("fleet_halted")
    assert len(halted) == 1 and halted[0]["reason"] == "budget_exceeded"
    assert [e["wave"] for e in run.fleet("wave_started")] == ["canary", "staging"]  # prod never began
    assert not any(e.get("cluster", "") >= "c05" for e in run.fleet("cluster_started"))
    # The clusters already upgraded are rolled back newest first, the canary last.
    undone = [e["cluster"] for e in run.fleet("cluster_rollback_finished")]
    assert undone[-1] == "c01" and set(undone) == {c for c, s in finished.items() if s == "succeeded"}
    assert all(e["status"] == "succeeded" for e in run.fleet("cluster_rollback_finished"))
    assert run.fleet("fleet_finished")[0]["status"] == "rolled_back"
    for name in cli.emulated.names():
        emu = cli.emulated[name]
        wait_settled(emu)
        after = cluster_state(emu)
        assert after == before[name], (name, {k: (before[name][k], after[k]) for k in after
                                              if before[name][k] != after[k]})
        assert downtime(emu) == {}, (name, emu.format_downtime_report())
