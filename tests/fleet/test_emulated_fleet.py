"""`playbook emulate --fleet FILE|N`: several emulated clusters in one process, one kubeconfig with a context per
cluster that the real kubectl uses, each cluster with its own faults."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.emulator.fleet import EmulatedFleet, Member

pytestmark = pytest.mark.skipif(subprocess.run(["which", "kubectl"], capture_output=True).returncode != 0,
                                reason="drives the real kubectl")


def kubectl(fleet: EmulatedFleet, context: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--context", context, *args], env={**os.environ, **fleet.env()},
                          capture_output=True, text=True, timeout=60)


def test_each_context_reaches_its_own_cluster_with_its_own_faults(tmp_path):
    members = [Member("eu-1", context="ctx-eu-1"),
               Member("us-1", faults={"api_errors": [{"path": r"^/api/v1/namespaces(\?|$)", "method": "GET",
                                                     "status": 500}]})]
    with EmulatedFleet(members, state_dir=tmp_path / "fleet") as fleet:
        contexts = kubectl(fleet, "ctx-eu-1", "config", "get-contexts", "-o", "name").stdout.split()
        assert contexts == ["ctx-eu-1", "us-1"]
        # A change in one cluster is not seen in the other.
        assert kubectl(fleet, "ctx-eu-1", "create", "namespace", "only-in-eu").returncode == 0
        assert "only-in-eu" in kubectl(fleet, "ctx-eu-1", "get", "ns", "-o", "name").stdout
        assert kubectl(fleet, "us-1", "get", "ns", "only-in-eu").returncode != 0
        # us-1's fault is its own.
        assert kubectl(fleet, "us-1", "get", "ns").returncode != 0
        assert fleet["us-1"].faults["api_errors"] and not fleet["eu-1"].faults.get("api_errors")
        # Stand-in istioctl on PATH honours --context.
        ver = subprocess.run(["istioctl", "--context", "ctx-eu-1", "version", "-o", "json"], capture_output=True,
                             text=True, env={**os.environ, **fleet.env()}, timeout=60)
        assert ver.returncode == 0, ver.stderr


def test_emulate_fleet_from_a_fleet_file_runs_a_command_against_every_context(tmp_path):
    (tmp_path / "fleet.yaml").write_text(
        "version: 1\nclusters:\n"
        "  - {name: a, emulate: {faults: {istiod_never_ready: ['1-20-0']}}}\n"
        "  - {name: b, context: kind-b}\n"
        "waves: [{name: all, select: {}}]\n")
    script = ("kubectl config get-contexts -o name; "
              "kubectl --context a -n kube-system get configmap playbook-emulator-faults -o jsonpath='{.data}'; echo; "
              "kubectl --context kind-b get ns istio-system -o name")
    done = subprocess.run([sys.executable, "-m", "engine.cli", "emulate", "--fleet", "fleet.yaml", "--", "sh", "-c",
                           script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["a", "kind-b"]
    assert "1-20-0" in json.loads(lines[2])["faults.yaml"]
    assert lines[3] == "namespace/istio-system"
    assert "Fleet downtime report: 2 clusters, 0 with downtime" in done.stderr


def test_emulate_fleet_of_a_count_names_clusters_and_contexts_in_order(tmp_path):
    done = subprocess.run([sys.executable, "-m", "engine.cli", "emulate", "--fleet", "3", "--",
                           "kubectl", "config", "get-contexts", "-o", "name"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cluster-1", "cluster-2", "cluster-3"]


def test_a_workload_removed_then_created_again_is_not_downtime_while_it_becomes_ready(tmp_path):
    # A rollback re-installs what an upgrade removed (the old istiod, the old gateway): starting afresh.
    with EmulatedFleet([Member("a", readiness_delay=0.2)], state_dir=tmp_path / "fleet") as fleet:
        emu = fleet["a"]
        deploy = json.loads(kubectl(fleet, "a", "-n", "test-namespace", "get", "deploy", "frontend", "-o", "json").stdout)
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            deploy["metadata"].pop(key, None)
        deploy.pop("status", None)
        assert kubectl(fleet, "a", "-n", "test-namespace", "delete", "deploy", "frontend").returncode == 0
        created = subprocess.run(["kubectl", "--context", "a", "create", "-f", "-"], input=json.dumps(deploy),
                                 env={**os.environ, **fleet.env()}, capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        waited = kubectl(fleet, "a", "-n", "test-namespace", "rollout", "status", "deploy/frontend", "--timeout=30s")
        assert waited.returncode == 0, waited.stderr
        assert fleet.downtime() == {}, emu.format_downtime_report()
