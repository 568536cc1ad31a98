"""The canary upgrade on the shipped mixed cluster (Deployments, StatefulSets with RollingUpdate and
OnDelete, a DaemonSet, an Argo Rollout, a Job, a CronJob's Job, a bare pod, PodDisruptionBudgets), with the
real kubectl: every kind ends on the new proxy or is reported as left by rule, no workload of 2+ replicas
ever has zero ready pods, and each fault (a StatefulSet pod never Ready, a budget that allows no eviction, a
Job still running at the point of no return) stops or rolls back with the cluster as it began, named in the
report."""
from __future__ import annotations

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


def test_every_kind_moves_by_its_own_rule_and_the_rest_is_reported(emulator_factory, tmp_path):
    emu = emulator_factory(mixed(job_seconds=600))
    run = run_playbook(emu, "canary-upgrade.yaml", *RUN, "--var", "leftover_pods=proceed", tmp=tmp_path)
    assert run.rc == 0, run.why()
    wait_settled(emu)
    state = cluster_state(emu)
    left = {"production-namespace-1/schema-migrate", "production-namespace-2/nightly-report",
            "production-namespace-2/debug-shell"}
    moved = {k: v for k, v in state["proxies"].items() if k.split("/")[0] in NAMESPACES and k not in left}
    assert {"test-namespace/cache", "staging-namespace/node-agent", "staging-namespace/checkout",
            "production-namespace-1/kafka"} <= set(moved)
    assert all(set(images) == {NEW_PROXY} for images in moved.values()), moved
    assert all(set(state["proxies"][k]) == {OLD_PROXY} for k in left)  # never killed
    # Said in the plan (one step per leftover) and at the end, with what to do about each.
    report = run.out
    assert "left on another revision's proxy (never killed)" in report
    for name in ("job/schema-migrate", "pod/debug-shell", "CronJob/nightly-report"):
        assert name in report
    # kafka (OnDelete) went pod by pod, highest ordinal first, each waited for on the new proxy.
    evicted = [k for k in run.keys("step_started") if ".evict[" in k and k.endswith(".evict")]
    assert [k.split(".evict[")[1].split("]")[0] for k in evicted] == ["kafka-2", "kafka-1", "kafka-0"]
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

    run = run_playbook(emu, "rollback-upgrade.yaml", "--var", "rev=1-20-0", "--var", "old_version=1.19.3",
                       "--var", "rollout_timeout=20s", tmp=tmp_path)
    assert run.rc == 0, run.why()
    wait_settled(emu)
    after = cluster_state(emu)
    assert after["proxies"] == before["proxies"], {k: (before["proxies"].get(k), v) for k, v in after["proxies"].items() if before["proxies"].get(k) != v}
    assert after["labels"] == before["labels"]


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
