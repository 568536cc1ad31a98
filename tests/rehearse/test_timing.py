"""The duration estimate: readiness read from pods' conditions, rollouts re-timed as batches x readiness,
overlapping rollouts kept overlapped."""
from __future__ import annotations

import pytest

from engine.rehearse.checks import rollout_batches
from engine.rehearse.timing import Readiness, Rollout, estimate, pod_ready_seconds
from engine.rehearse.view import Workload


def _pod(scheduled: str | None, ready: str | None, status: str = "True") -> dict:
    conds = []
    if scheduled:
        conds.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": scheduled})
    if ready:
        conds.append({"type": "Ready", "status": status, "lastTransitionTime": ready})
    return {"status": {"conditions": conds, "startTime": "2026-01-01T00:00:00Z"}}


@pytest.mark.parametrize("pod,seconds", [
    (_pod("2026-01-01T00:00:00Z", "2026-01-01T00:00:12Z"), 12.0),
    (_pod(None, "2026-01-01T00:00:07Z"), 7.0),                                   # startTime when not scheduled
    (_pod("2026-01-01T00:00:00Z", "2026-01-01T00:00:12Z", "False"), None),       # not Ready
    (_pod("2026-01-01T00:00:00Z", "2026-01-01T05:00:00Z"), None),                # a later flap, not start-up
    (_pod("2026-01-01T00:00:00Z", None), None),
])
def test_readiness_is_scheduled_to_ready(pod, seconds):
    assert pod_ready_seconds(pod) == seconds


@pytest.mark.parametrize("strategy,replicas,batches", [
    ({"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, 3, 3),
    ({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}, 8, 2),
    ({"rollingUpdate": {"maxSurge": 2, "maxUnavailable": 1}}, 10, 4),
    ({"type": "Recreate"}, 5, 1),
])
def test_rollout_batches(strategy, replicas, batches):
    assert rollout_batches({"replicas": replicas, "strategy": strategy}) == batches


def test_overlapping_rollouts_count_once_and_serial_ones_add_up():
    a, b, c = (Workload("Deployment", "ns", n) for n in "abc")
    readiness = Readiness({a: 10.0, b: 4.0}, {}, 6.0)
    rollouts = [Rollout(a, 100.0, 101.0, 2, None, False),   # 20 s for real
                Rollout(b, 100.5, 101.5, 3, None, False),   # 12 s, overlapping a: the pair takes 20 s
                Rollout(c, 110.0, 110.5, 1, None, True)]    # 6 s (the cluster's median), after them
    est = estimate(30.0, rollouts, readiness, 130.0)
    # 30 s of rehearsal, minus the spans (1.5 s and 0.5 s), plus their real lengths (20 s and 6 s).
    assert est.estimate_s == pytest.approx(30.0 - 1.5 + 20.0 - 0.5 + 6.0)
    assert [r["readiness_from"] for r in est.rollouts] == [
        "its pods in the snapshot", "its pods in the snapshot", "the cluster's median in the snapshot"]
