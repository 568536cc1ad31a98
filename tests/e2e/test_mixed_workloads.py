"""The canary upgrade on the shipped mixed cluster (Deployments, StatefulSets with RollingUpdate and
OnDelete, a DaemonSet, an Argo Rollout, a Job, a CronJob's Job, a bare pod, PodDisruptionBudgets), with the
real kubectl: every kind ends on the new proxy or is reported as left by rule, no workload of 2+ replicas
ever has zero ready pods, and each fault (a StatefulSet pod never Ready, a budget that allows no eviction, a
Job still running at the point of no return) stops or rolls back with the cluster as it began, named in the
report."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import yaml

from e2e_harness import FAST, cluster_state, downtime, run_playbook, wait_settled
from engine.emulator.clusters import MIXED
from test_canary_faults import assert_back_as_it_began, assert_rolled_back
from test_canary_upgrade import NEW_PROXY, OLD_PROXY

NAMESPACES = ["test-namespace", "staging-namespace", "production-namespace-1", "production-namespace-2"]
RUN = ["--var", "rev=1-20-0", "--var", "rollout_timeout=20s", "--var", "max_parallel_namespaces=2",
       "--max-parallel", "6", *FAST]


def mixed(job_seconds: int | None = None, kafka_pdb: dict | None = None) -> dict:
    """The shipped mixed cluster; `job_seconds` makes its Jobs run that long (so they outlast the run),
    `kafka_pdb` replaces the budget of the OnDelete StatefulSet."""
    spec = yaml.safe_load(MIXED.read_text())
    for ns in spec["namespaces"]:
        for key in ("jobs", "cronjobs"):
            for job in ns.get(key) or [] if job_seconds is not None else []:
                job["run_seconds"] = job_seconds
        for sts in ns.get("statefulsets") or []:
            if sts["name"] == "kafka" and kafka_pdb is not None:
                sts["pdb"] = kafka_pdb
    return spec


LEGACY_REPLICASET = {  # a ReplicaSet of its own (no Deployment), the one kind the shipped mixed cluster lacks
    "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "legacy", "namespace": "staging-namespace"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "legacy"}},
             "template": {"metadata": {"labels": {"app": "legacy"}},
                          "spec": {"containers": [{"name": "legacy", "image": "busybox"}]}}}}


def test_every_kind_moves_by_its_own_rule_and_the_rest_is_reported(emulator_factory, tmp_path):
    emu = emulator_factory(mixed(job_seconds=600))
    subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps(LEGACY_REPLICASET), text=True, check=True,
                   env={**os.environ, **emu.env()}, capture_output=True, timeout=30)
    wait_settled(emu)
    run = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "leftover_pods=proceed", tmp=tmp_path)
    assert run.rc == 0, run.why()
    wait_settled(emu)
    state = cluster_state(emu)
    left = {"production-namespace-1/schema-migrate", "production-namespace-2/nightly-report",
            "production-namespace-2/debug-shell"}
    moved = {k: v for k, v in state["proxies"].items() if k.split("/")[0] in NAMESPACES and k not in left}
    assert {"test-namespace/cache", "staging-namespace/node-agent", "staging-namespace/checkout",
            "staging-namespace/legacy", "production-namespace-1/kafka"} <= set(moved)
    assert all(set(images) == {NEW_PROXY} for images in moved.values()), moved
    assert all(set(state["proxies"][k]) == {OLD_PROXY} for k in left)  # never killed
    # Said in the plan (one step per leftover) and at the end, with what to do about each.
    report = run.out
    assert "left on another revision's proxy (never killed)" in report
    for name in ("job/schema-migrate", "pod/debug-shell", "CronJob/nightly-report"):
        assert name in report
    # kafka (OnDelete) went pod by pod, highest ordinal first, each waited for on the new proxy.
    evicted = [k for k in run.keys("step_started") if ".evict[" in k and k.endswith(".evict")]
    kafka = [k.split(".evict[")[1].split("]")[0] for k in evicted if "ns[production-namespace-1]" in k]
    assert kafka == ["kafka-2", "kafka-1", "kafka-0"]
    # The ReplicaSet of its own went pod by pod too (its controller recreated each, on the new proxy).
    assert len([k for k in evicted if "ns[staging-namespace]" in k]) == 2
    # Zero downtime for every Deployment, StatefulSet, DaemonSet and Rollout (each has 2+ pods).
    assert downtime(emu) == {}, emu.format_downtime_report()
    assert "promote.remove-old-istioctl" in run.keys("step_succeeded")


def test_a_statefulset_pod_that_never_becomes_ready_rolls_every_namespace_back(emulator_factory, tmp_path):
    emu = emulator_factory(mixed(job_seconds=600))
    before = cluster_state(emu)
    emu.set_faults({"stuck_rollouts": [{"namespace": "test-namespace", "statefulset": "cache"}]})

    def on_event(event: dict) -> None:
        if event["event"] == "rollback_begun":
            emu.set_faults({})

    run = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "rollout_timeout=4s", tmp=tmp_path,
                       on_event=on_event)
    assert_rolled_back(run, "migrate[test].batch[1].ns[test-namespace].settled-statefulsets")
    assert "statefulset/cache" in next(e for e in run.events if e["event"] == "step_failed")["message"]
    assert_back_as_it_began(emu, before)


def test_a_budget_that_allows_no_eviction_stops_before_anything_changes(emulator_factory, tmp_path):
    emu = emulator_factory(mixed(job_seconds=600, kafka_pdb={"minAvailable": 3}))
    before = cluster_state(emu)
    run = run_playbook(emu, "canary-upgrade.yaml", *RUN, tmp=tmp_path)
    assert run.rc == 1 and run.finished()["failed"] == ["disruption-budgets"], run.why()
    message = next(e for e in run.events if e["event"] == "step_failed")["message"]
    assert "PodDisruptionBudget kafka needs minAvailable 3 of 3 replicas of statefulset/kafka" in message
    assert not [k for k in run.keys("step_started") if k.startswith(("install-", "migrate["))]
    assert cluster_state(emu) == before

    # The other answer: one more kafka replica while its namespace moves, and back to three after.
    run = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "pdb_policy=scale-up", "--var", "promote=false",
                       "--var", "leftover_pods=proceed",
                       "--var", "waves=[{name: prod, namespaces: [production-namespace-1]}]", tmp=tmp_path)
    assert run.rc == 0, run.why()
    started = run.keys("step_started")
    assert "migrate[prod].batch[1].ns[production-namespace-1].scale-up[kafka]" in started
    assert "migrate[prod].batch[1].ns[production-namespace-1].scale-down[kafka]" in started
    wait_settled(emu)
    state = cluster_state(emu)
    assert state["proxies"]["production-namespace-1/kafka"] == [NEW_PROXY] * 3
    assert downtime(emu) == {}, emu.format_downtime_report()


@pytest.mark.parametrize("namespace, wave, pdb, tightened, says", [
    ("production-namespace-1", "production", "kafka", {"maxUnavailable": 0},
     "PodDisruptionBudget kafka has maxUnavailable: 0, so no pod of statefulset/kafka may ever be disrupted"),
    ("staging-namespace", "staging", "checkout", {"minAvailable": 3},
     "PodDisruptionBudget checkout needs minAvailable 3 of 3 replicas of rollout/checkout"),
])
def test_a_budget_that_tightens_after_the_preflight_rolls_every_namespace_back(emulator_factory, tmp_path, namespace,
                                                                             wave, pdb, tightened, says):
    emu = emulator_factory(mixed(job_seconds=600))
    before = cluster_state(emu)

    def on_event(event: dict) -> None:  # the preflight passed: someone tightens the budget meanwhile
        if event["event"] == "step_succeeded" and event["step"] == "disruption-budgets":
            subprocess.run(["kubectl", "patch", "pdb", pdb, "-n", namespace, "--type=merge",
                            "-p", json.dumps({"spec": tightened})], env={**os.environ, **emu.env()},
                           check=True, capture_output=True, timeout=30)

    run = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "leftover_pods=proceed", tmp=tmp_path,
                       on_event=on_event)
    assert_rolled_back(run, f"migrate[{wave}].batch[1].ns[{namespace}].budgets-now")
    assert says in next(e for e in run.events if e["event"] == "step_failed")["message"]
    assert not [k for k in run.keys("step_started") if k.startswith(f"migrate[{wave}].batch[1].ns[{namespace}].relabel")]
    assert_back_as_it_began(emu, before)


def test_a_job_still_running_at_the_point_of_no_return_rolls_back(emulator_factory, tmp_path):
    emu = emulator_factory(mixed(job_seconds=600))
    before = cluster_state(emu)
    run = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "leftover_timeout=1s", tmp=tmp_path)
    assert_rolled_back(run, "jobs-finish[schema-migrate]")  # the first of the two Jobs still running
    failed = next(e for e in run.events if e["event"] == "step_failed")
    assert "job/schema-migrate" in failed["message"]
    assert_back_as_it_began(emu, before)


def test_a_namespace_in_two_waves_is_refused_before_anything_changes(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)
    waves = ("waves=[{name: a, namespaces: [test-namespace]}, {name: b, namespaces: [test-namespace, "
             "staging-namespace, production-namespace-1, production-namespace-2]}]")
    run = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", "--var", waves, *FAST, tmp=tmp_path)
    assert run.rc == 1 and run.finished()["failed"] == ["each-namespace-once"], run.why()
    assert cluster_state(emu) == before


def test_rollback_after_a_finished_upgrade_returns_every_kind_to_the_old_revision(emulator_factory, tmp_path):
    emu = emulator_factory(mixed(job_seconds=600))
    before = cluster_state(emu)
    done = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "leftover_pods=proceed", tmp=tmp_path)
    assert done.rc == 0, done.why()
    wait_settled(emu)
    # Started on the new revision since: a CronJob's Job and a bare pod, neither of which is ever killed.
    env = {**os.environ, **emu.env()}
    for argv in (["create", "job", "nightly-manual", "--from=cronjob/nightly-report"],
                 ["run", "scratch", "--image=busybox", "--restart=Never"]):
        # (made client-side and applied: the emulator reads no protobuf Job body, which `create job` sends)
        made = subprocess.run(["kubectl", *argv, "-n", "production-namespace-2", "--dry-run=client", "-o", "json"],
                              env=env, check=True, capture_output=True, text=True, timeout=30).stdout
        subprocess.run(["kubectl", "apply", "-f", "-"], input=made, env=env, check=True, capture_output=True,
                       text=True, timeout=30)
    wait_settled(emu)
    back = ["--var", "rev=1-20-0", "--var", "old_version=1.19.3", "--var", "rollout_timeout=20s"]

    # wait (the default): every namespace goes back, then the Job outlasts leftover_timeout: it stops before
    # the new revision is removed, and does not undo itself (the reinstalled control plane stays).
    waited = run_playbook(emu, "rollback-upgrade.yaml", *back, "--var", "leftover_timeout=1s", tmp=tmp_path)
    assert waited.rc == 1 and waited.finished()["failed"] == ["jobs-finish[nightly-manual]"], waited.why()
    assert "job/nightly-manual" in next(e for e in waited.events if e["event"] == "step_failed")["message"]
    wait_settled(emu)
    state = cluster_state(emu)
    assert {"istiod", "istiod-1-20-0"} <= set(state["deployments"])
    assert state["labels"] == before["labels"]

    # proceed: the rest of the rollback, the two named as left on the new proxy.
    run = run_playbook(emu, "rollback-upgrade.yaml", *back, "--var", "leftover_pods=proceed", tmp=tmp_path)
    assert run.rc == 0, run.why()
    for where in ("production-namespace-2/job/nightly-manual (CronJob/nightly-report)",
                  "production-namespace-2/pod/scratch"):
        assert where in run.out, where
    assert "left on the 1-20-0 proxy (never killed" in run.out
    wait_settled(emu)
    after = cluster_state(emu)
    # (the state groups pods by their app label: the CronJob's two Jobs are one entry)
    nightly = "production-namespace-2/nightly-report"
    assert after["proxies"][nightly] == sorted(before["proxies"][nightly] + [NEW_PROXY])
    after["proxies"][nightly] = before["proxies"][nightly]
    assert after["proxies"].pop("production-namespace-2/scratch") == [NEW_PROXY]
    # Every kind is back: Deployments, the StatefulSets (kafka OnDelete, pod by pod), the DaemonSet, the Argo
    # Rollout, the Jobs that ran on the old proxy throughout, the bare pod that never moved.
    assert after["proxies"] == before["proxies"], {k: (before["proxies"].get(k), v)
                                                   for k, v in after["proxies"].items() if before["proxies"].get(k) != v}
    assert after["labels"] == before["labels"]
    assert "istiod-1-20-0" not in after["deployments"]
    evicted = [k for k in waited.keys("step_started") if ".evict[" in k and k.endswith(".evict")]
    assert [k.split(".evict[")[1].split("]")[0] for k in evicted] == ["kafka-2", "kafka-1", "kafka-0"]
    # The reinstalled istiod and gateway count as down while their first pods start; workloads never were.
    workloads = {k: v for k, v in downtime(emu).items() if not k.startswith("istio-system/")}
    assert workloads == {}, emu.format_downtime_report()


def test_remove_old_control_plane_waits_for_jobs_and_bare_pods_or_proceeds_and_reports_them(emulator_factory,
                                                                                           tmp_path):
    emu = emulator_factory(mixed(job_seconds=600))
    half = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "promote=false", "--var", "leftover_pods=proceed",
                        tmp=tmp_path)
    assert half.rc == 0, half.why()
    wait_settled(emu)
    before = cluster_state(emu)
    remove = ["--var", "rev=1-20-0", "--var", "soak=0s"]

    # wait (the default): the Jobs outlast leftover_timeout, so it stops before the soak, nothing changed.
    waited = run_playbook(emu, "remove-old-control-plane.yaml", *remove, "--var", "leftover_timeout=1s", tmp=tmp_path)
    assert waited.rc == 1 and waited.finished()["failed"] == ["jobs-finish[schema-migrate]"], waited.why()
    assert "job/schema-migrate" in next(e for e in waited.events if e["event"] == "step_failed")["message"]
    assert not [k for k in waited.keys("step_started") if k.startswith(("soak", "promote"))]
    assert cluster_state(emu) == before

    # proceed: each is named in the report, with why, and the old control plane goes; they keep their proxy.
    run = run_playbook(emu, "remove-old-control-plane.yaml", *remove, "--var", "leftover_pods=proceed", tmp=tmp_path)
    assert run.rc == 0, run.why()
    assert not [k for k in run.keys("step_started") if k.startswith(("jobs-finish", "bare-pods-go"))]
    report = next(e for e in run.events if e["event"] == "step_succeeded" and e["step"] == "left-on-old-proxy")
    for where in ("production-namespace-1/job/schema-migrate", "production-namespace-2/pod/debug-shell",
                  "production-namespace-2/job/nightly-report"):
        assert where in run.out, where
    assert "(CronJob/nightly-report)" in run.out and "never killed" in run.out, report
    assert "promote.removed" in run.keys("step_succeeded")
    state = cluster_state(emu)
    assert "istiod" not in state["deployments"]
    left = {"production-namespace-1/schema-migrate", "production-namespace-2/nightly-report",
            "production-namespace-2/debug-shell"}
    assert all(set(state["proxies"][k]) == {OLD_PROXY} for k in left)
    assert all(set(v) == {NEW_PROXY} for k, v in state["proxies"].items()
               if k.split("/")[0] in NAMESPACES and k not in left)


def _started_meanwhile(kind: str) -> list[dict]:
    """Namespace `late` (in no wave, no injection label) and a workload `ledger` of `kind` whose pod carries the
    old revision's proxy (injected by hand), as something started during the soak would."""
    meta = {"labels": {"app": "ledger", "istio.io/rev": "default"},
            "annotations": {"sidecar.istio.io/inject": "false", "emulator.playbook.dev/run-seconds": "600"}}
    pod = {"containers": [{"name": "app", "image": "busybox"}, {"name": "istio-proxy", "image": OLD_PROXY}]}
    at = {"name": "ledger", "namespace": "late"}
    obj = {
        "StatefulSet": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": at, "spec": {
            "replicas": 1, "serviceName": "ledger", "updateStrategy": {"type": "OnDelete"},
            "selector": {"matchLabels": {"app": "ledger"}}, "template": {"metadata": meta, "spec": pod}}},
        "Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": at, "spec": {
            "template": {"metadata": meta, "spec": {**pod, "restartPolicy": "Never"}}}},
        "Pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {**at, **meta}, "spec": pod},
    }[kind]
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "late"}}, obj]


@pytest.mark.parametrize("kind, leftover_pods, where, stops", [
    ("StatefulSet", "wait", "late/statefulset/ledger", True),
    ("StatefulSet", "proceed", "late/statefulset/ledger", True),   # not a Job nor a bare pod: never by rule
    ("Job", "wait", "late/job/ledger", True),
    ("Job", "proceed", "late/job/ledger", False),
    ("Pod", "wait", "late/pod/ledger", True),
    ("Pod", "proceed", "late/pod/ledger", False),
])
def test_nothing_left_at_the_point_of_no_return(emulator_factory, tmp_path, kind, leftover_pods, where, stops):
    """promote.nothing-left looks again, after the soak, for what runs the old proxy: what it says, whether it
    stops (and the run rolls back, before the default tag moves)."""
    emu = emulator_factory()
    before = cluster_state(emu)
    env = {**os.environ, **emu.env()}

    def on_event(event: dict) -> None:  # started during the soak: after no-old-proxies looked
        if event["event"] == "step_started" and event["step"] == "soak-before-promote":
            subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps({"apiVersion": "v1", "kind": "List",
                           "items": _started_meanwhile(kind)}), env=env, check=True, capture_output=True, text=True,
                           timeout=30)
            for _ in range(200):  # its pod runs (Ready) before the soak ends
                pods = subprocess.run(["kubectl", "get", "pods", "-n", "late", "-o",
                                       "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}"],
                                      env=env, text=True, capture_output=True, timeout=30).stdout
                if pods.strip() == "True":
                    return
                time.sleep(0.1)

    run = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "soak_before_promote=6s",
                       "--var", f"leftover_pods={leftover_pods}", tmp=tmp_path, on_event=on_event)
    if stops:
        assert_rolled_back(run, "promote.nothing-left")
        message = next(e for e in run.events if e["event"] == "step_failed")["message"]
        assert f"workloads started meanwhile still run another revision's proxy: {where}" in message
        assert not [k for k in run.keys("step_started") if k.startswith("promote.") and k != "promote.nothing-left"]
        wait_settled(emu)
        after = cluster_state(emu)
        after["labels"].pop("late")
        assert set(after["proxies"].pop("late/ledger")) == {OLD_PROXY}  # never killed, even so
        assert after == before
    else:
        assert run.rc == 0, run.why()
        assert "promote.left-at-promote" in run.keys("step_succeeded")
        assert f"left on another revision's proxy at the point of no return (never killed): {where}: " in run.out
        assert "promote.upgrade-complete" in run.keys("step_succeeded")
        assert set(cluster_state(emu)["proxies"]["late/ledger"]) == {OLD_PROXY}
