"""The fleet's wave decisions (engine/fleet/waves.py), shared by the local orchestrator and the Temporal fleet
workflow: who starts, when the budget halts the fleet, and how the fleet ends."""
from __future__ import annotations

from engine.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_ROLLBACK_FAILED, EXIT_STOPPED
from engine.fleet.waves import ending, judge, pick, rollback_ending


def test_a_wave_starts_clusters_in_order_up_to_its_parallelism():
    picked = pick(["a", "b", "c", "d"], running=1, parallelism=3, after={}, status={})
    assert picked.start == ["a", "b"] and picked.blocked == []


def test_a_remote_waits_for_its_primary_and_is_blocked_when_the_primary_did_not_upgrade():
    after = {"r1": "p1"}
    assert pick(["r1", "x"], 0, 4, after, {"p1": "running"}).start == ["x"]
    assert pick(["r1"], 0, 4, after, {"p1": "succeeded"}).start == ["r1"]
    blocked = pick(["r1", "x"], 0, 4, after, {"p1": "failed"})
    assert blocked.start == ["x"] and blocked.blocked == [("r1", "its primary p1 did not upgrade (failed)")]


def test_failures_within_the_budget_do_not_halt_and_the_one_beyond_does():
    failures, halt = judge("c1", "failed", 0, allowed=1, budget="1 failed cluster")
    assert (failures, halt) == (1, None)
    failures, halt = judge("c2", "failed", failures, allowed=1, budget="1 failed cluster")
    assert failures == 2 and halt.reason == "budget_exceeded"
    assert halt.message == "cluster c2 failed (2 failed, budget 1 failed cluster)"


def test_a_failed_rollback_halts_at_once_and_a_stopped_cluster_halts_without_stopping_the_others():
    assert judge("c1", "rollback_failed", 0, allowed=5, budget="5")[1].reason == "rollback_failed"
    failures, halt = judge("c1", "stopped", 0, allowed=0, budget="0")
    assert failures == 0 and halt.reason == "stopped" and halt.stop_running is False
    assert judge("c1", "succeeded", 0, allowed=0, budget="0") == (0, None)


def test_how_the_fleet_ends():
    assert ending(None, None, False, False).exit_code == EXIT_OK
    assert ending(None, "prod", False, False).exit_code == EXIT_STOPPED
    assert ending({"reason": "stopped", "message": "m"}, None, False, False).status == "stopped"
    manual = ending({"reason": "budget_exceeded", "message": "c2 failed"}, None, True, False)
    assert (manual.status, manual.exit_code, manual.roll_back) == ("halted", EXIT_FAILED, False)
    assert ending({"reason": "budget_exceeded", "message": "m"}, None, False, False).roll_back
    assert rollback_ending([], {"message": "m"}, True).exit_code == EXIT_INTERRUPTED
    assert rollback_ending(["c1"], None, False).exit_code == EXIT_ROLLBACK_FAILED
