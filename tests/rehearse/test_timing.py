"""The duration estimate: readiness read from pods' conditions, rollouts re-timed as batches x readiness,
overlapping rollouts kept overlapped."""
from __future__ import annotations

import time

import pytest

from engine.rehearse.checks import rollout_batches
from engine.rehearse.timing import Readiness, Rollout, RolloutRecorder, estimate, pod_ready_seconds
from engine.rehearse.view import Workload

from .conftest import kubectl, needs_kubectl


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


@pytest.mark.parametrize("key,spec,nodes,batches", [
    ("statefulsets.apps", {"replicas": 3}, 1, 3),                                            # one pod at a time
    ("statefulsets.apps", {"replicas": 6, "updateStrategy": {"rollingUpdate": {"maxUnavailable": 2}}}, 1, 3),
    ("daemonsets.apps", {}, 4, 4),
    ("daemonsets.apps", {"updateStrategy": {"rollingUpdate": {"maxUnavailable": "50%"}}}, 4, 2),
])
def test_statefulset_and_daemonset_batches(key, spec, nodes, batches):
    assert rollout_batches(spec, key, nodes) == batches


@needs_kubectl
def test_the_recorder_sees_a_statefulset_rollout_and_its_restart(make_emulator):
    emu = make_emulator({"namespaces": ["data"], "objects": [{
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "data"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "db", "image": "redis"}]}}}}]})
    recorder = RolloutRecorder()
    emu.call(lambda rt: rt.api.store.subscribe(recorder))
    kubectl(emu, "rollout", "restart", "statefulset/db", "-n", "data")
    deadline = time.time() + 20
    while time.time() < deadline and not (recorder.rollouts and recorder.rollouts[0].end):
        time.sleep(0.05)
    db = Workload("StatefulSet", "data", "db")
    assert db in recorder.restarted
    assert [(r.workload, r.batches) for r in recorder.rollouts] == [(db, 2)] and recorder.rollouts[0].end


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
