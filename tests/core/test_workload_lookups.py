"""The workload look-ups the upgrade playbooks use: what still runs another revision's proxy and how each kind
moves, which disruption budgets would stop a move, and the arithmetic that used to live in Jinja macros."""
from __future__ import annotations

import pytest

from engine import lookups_workloads as lw
from engine.emulator import Emulator
from engine.emulator.clusters import MIXED
from engine.kube import Kube, Target


@pytest.mark.parametrize("text, value", [
    ("500m", 0.5), ("2", 2.0), ("1.5", 1.5), ("2Gi", 2 * 2 ** 30), ("128Mi", 128 * 2 ** 20), ("1G", 1e9),
    ("100k", 1e5), (4, 4.0), ("1e3", 1000.0),
])
def test_quantity_reads_kubernetes_quantities(text, value):
    assert lw.quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "12Qi", "1.2.3"])
def test_quantity_refuses_what_is_not_a_quantity(text):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        lw.quantity(text)


def test_free_capacity_is_allocatable_minus_what_running_pods_request():
    nodes = [{"status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}},
             {"status": {"allocatable": {"cpu": "3500m", "memory": "4Gi"}}}]
    pods = [{"status": {"phase": "Running"}, "spec": {"containers": [
                {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}, {"resources": {}}]}},
            {"status": {"phase": "Succeeded"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "2"}}}]}},
            {"status": {"phase": "Pending"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}]
    assert lw.free_capacity(nodes, pods) == {"free_cpu": pytest.approx(6.0), "free_mem": 11 * 2 ** 30}


def test_control_plane_need_counts_istiod_and_gateway_replicas():
    assert lw.control_plane_need(2, "500m", "2Gi", 2) == {
        "need_cpu": pytest.approx(1.2), "need_mem": 2 * 2 * 2 ** 30 + 2 * 128 * 2 ** 20}


@pytest.mark.parametrize("names, width, batch, groups", [
    (["a", "b", "c"], 1, 0, [(["a"], False), (["b"], False), (["c"], False)]),
    (["a", "b", "c", "d", "e"], 2, 0, [(["a", "b"], False), (["c", "d"], False), (["e"], False)]),
    # batches of 3, two at a time: a group never spans two batches; a pause ends every batch but the last
    (["a", "b", "c", "d", "e"], 2, 3, [(["a", "b"], False), (["c"], True), (["d", "e"], False)]),
    (["a", "b", "c", "d"], 10, 2, [(["a", "b"], True), (["c", "d"], False)]),
    ([], 3, 0, []),
])
def test_paced_groups_namespaces_by_parallelism_and_batch(names, width, batch, groups):
    got = lw.paced(names, width, batch)
    assert [(g["namespaces"], g["pause"]) for g in got] == groups
    assert [g["name"] for g in got] == [str(i + 1) for i in range(len(groups))]


@pytest.mark.parametrize("kind, spec, move", [
    ("Deployment", {}, "rollout-restart"),
    ("StatefulSet", {"updateStrategy": {"type": "RollingUpdate"}}, "rollout-restart"),
    ("StatefulSet", {"updateStrategy": {"type": "OnDelete"}}, "evict-in-order"),
    ("StatefulSet", {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
     "evict-in-order"),
    ("DaemonSet", {"updateStrategy": {"type": "RollingUpdate"}}, "rollout-restart"),
    ("DaemonSet", {"updateStrategy": {"type": "OnDelete"}}, "evict-in-order"),
    ("ReplicaSet", {}, "evict-in-order"),
    ("Rollout", {}, "restart-at"),
    ("Job", {}, "job"),
    ("Pod", {}, "leave"),
    ("SparkApplication", {}, "leave"),
])
def test_each_kind_moves_its_own_way(kind, spec, move):
    assert lw.classify({"spec": spec}, kind)[0] == move


@pytest.fixture(scope="module")
def mixed():
    emu = Emulator(MIXED).start()
    yield emu, Kube(Target(str(emu.kubeconfig), None))
    emu.stop()


def test_workloads_to_move_lists_every_kind_with_its_owner_and_move(mixed):
    _, kube = mixed
    found = {w["where"]: (w["move"], w["owner"]) for w in
             lw.old_proxy_workloads(kube, "1-20-0", ["production-namespace-1", "production-namespace-2",
                                                    "staging-namespace", "test-namespace"])}
    cron_job = next(k for k in found if "nightly-report-" in k)
    assert found.pop(cron_job) == ("job", "CronJob/nightly-report")
    assert found == {
        "production-namespace-1/deployment/api": ("rollout-restart", ""),
        "production-namespace-1/deployment/web": ("rollout-restart", ""),
        "production-namespace-1/statefulset/kafka": ("evict-in-order", ""),
        "production-namespace-1/job/schema-migrate": ("job", ""),
        "production-namespace-2/deployment/orders": ("rollout-restart", ""),
        "production-namespace-2/deployment/payments": ("rollout-restart", ""),
        "production-namespace-2/pod/debug-shell": ("leave", ""),
        "staging-namespace/daemonset/node-agent": ("rollout-restart", ""),
        "staging-namespace/deployment/backend": ("rollout-restart", ""),
        "staging-namespace/deployment/frontend": ("rollout-restart", ""),
        "staging-namespace/rollout/checkout": ("restart-at", ""),
        "test-namespace/deployment/backend": ("rollout-restart", ""),
        "test-namespace/deployment/frontend": ("rollout-restart", ""),
        "test-namespace/statefulset/cache": ("rollout-restart", ""),
    }
    assert lw.old_proxy_workloads(kube, "default", "test-namespace") == []  # already on that revision


def test_an_ondelete_statefulset_moves_highest_ordinal_first_waiting_for_each_on_the_new_proxy(mixed):
    _, kube = mixed
    (kafka,) = [w for w in lw.old_proxy_workloads(kube, "1-20-0", "production-namespace-1")
                if w["name"] == "kafka"]
    assert [(e["pod"], e["ready_selector"], e["ready_min"]) for e in kafka["evictions"]] == [
        (f"kafka-{n}", f"statefulset.kubernetes.io/pod-name=kafka-{n},istio.io/rev=1-20-0", 1) for n in (2, 1, 0)]
    assert lw.next_to_evict(kube, "production-namespace-1", "statefulset/kafka", "1-20-0") == "kafka-2"
    assert lw.next_to_evict(kube, "production-namespace-1", "statefulset/kafka", "default") == ""
    assert lw.restart_refs(kube, "production-namespace-1") == ["deployment/api", "deployment/web"]


def test_disruption_blockers_name_the_budget_and_why(mixed):
    emu, kube = mixed
    assert lw.budget_blockers(kube, "1-20-0", ["production-namespace-1", "production-namespace-2"]) == []
    emu.call(lambda rt: rt.create_object({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web-strict", "namespace": "production-namespace-1"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}}))
    emu.call(lambda rt: rt.create_object({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "api-all", "namespace": "production-namespace-1"},
        "spec": {"minAvailable": "100%", "selector": {"matchLabels": {"app": "api"}}}}))
    blockers = {b["pdb"]: (b["workload"], b["scalable"], b["reason"])
                for b in lw.budget_blockers(kube, "1-20-0", "production-namespace-1")}
    assert blockers["web-strict"][:2] == ("deployment/web", False)
    assert "maxUnavailable: 0" in blockers["web-strict"][2]
    assert blockers["api-all"][:2] == ("deployment/api", True)
    assert "minAvailable 100% of 2 replicas" in blockers["api-all"][2]
    emu.call(lambda rt: rt.create_object({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "kafka-too", "namespace": "production-namespace-1"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "kafka"}}}}))
    (kafka,) = [b for b in lw.budget_blockers(kube, "1-20-0", "production-namespace-1") if "kafka" in b["pdb"]]
    assert kafka["pdb"] == "kafka, kafka-too" and not kafka["scalable"]
    assert "the eviction API refuses to evict them" in kafka["reason"]


def test_cluster_free_capacity_reads_every_node_and_pod_through_the_api(mixed):
    """What the canary playbook checks the room for a second control plane with: the same arithmetic as
    free_capacity over `kubectl get nodes/pods -A -o json`, without a step's output (capped) in between."""
    emu, kube = mixed
    from engine.plugins.base import RunOptions
    options = RunOptions(kubeconfig=str(emu.kubeconfig))
    got = lw.template_helpers(options)["cluster_free_capacity"]()
    assert got == lw.free_capacity(kube.list("node")[0], kube.list("pod")[0])
    assert 0 < got["free_cpu"] and 0 < got["free_mem"]
