"""The shipped mixed cluster: the demo plus every workload kind an upgrade meets, settled and injected."""
from __future__ import annotations

import json

import pytest

from engine.emulator.cluster import ClusterFileError, load_cluster
from engine.emulator.clusters import MIXED

from .conftest import kubectl, needs_kubectl


@needs_kubectl
def test_mixed_cluster_starts_with_every_workload_kind_ready_on_the_old_proxy(make_emulator):
    emu = make_emulator(MIXED)
    pods = json.loads(kubectl(emu, "get", "pods", "-A", "-o", "json").stdout)["items"]
    owners = {(p["metadata"]["namespace"], ((p["metadata"].get("ownerReferences") or [{}])[0]).get("kind"))
              for p in pods if p["metadata"]["namespace"] != "istio-system"}
    assert {kind for _, kind in owners} == {"ReplicaSet", "StatefulSet", "DaemonSet", "Job", None}
    app_pods = [p for p in pods if p["metadata"]["namespace"] != "istio-system"]
    assert all(p["metadata"]["labels"].get("istio.io/rev") == "default" for p in app_pods)
    assert all(any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
               for p in app_pods)
    listed = kubectl(emu, "get", "sts,ds,jobs,cronjobs,rollouts,pdb", "-A", "-o", "name").stdout.split()
    for name in ("statefulset.apps/kafka", "statefulset.apps/cache", "daemonset.apps/node-agent",
                 "job.batch/schema-migrate", "cronjob.batch/nightly-report", "rollout.argoproj.io/checkout",
                 "poddisruptionbudget.policy/kafka", "poddisruptionbudget.policy/orders"):
        assert name in listed
    kafka = json.loads(kubectl(emu, "get", "sts", "kafka", "-n", "production-namespace-1", "-o", "json").stdout)
    assert kafka["spec"]["updateStrategy"] == {"type": "OnDelete"}


@pytest.mark.parametrize("entry, message", [
    ({"name": "a", "statefulsets": [{"replicas": 2}]}, "statefulsets[0] needs a name"),
    ({"name": "a", "pods": [7]}, "pods[0] needs a name"),
])
def test_workload_shorthands_name_the_entry_that_is_wrong(entry, message):
    with pytest.raises(ClusterFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_cluster({"namespaces": [entry]})


def test_workload_shorthands_expand_counts_and_budgets():
    spec = load_cluster({"namespaces": [{"name": "ns-{i}", "count": 2, "statefulsets": {
        "count": 3, "name": "db-{i}", "strategy": "OnDelete", "pdb": {"minAvailable": 1}}}]})
    kinds = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in spec.objects]
    assert ("StatefulSet", "ns-2", "db-3") in kinds and ("PodDisruptionBudget", "ns-1", "db-2") in kinds
    assert sum(1 for k, _, _ in kinds if k == "StatefulSet") == 6
