"""The playbooks around the main job, end to end on the emulator: the slow path (install and a first wave,
then migrate-namespaces.yaml per wave, then remove-old-control-plane.yaml), and rollback-upgrade.yaml after
a half-done and after a finished upgrade; each plan reads as a change review in --dry-run."""
from __future__ import annotations

import pytest

from e2e_harness import FAST, cluster_state, downtime, run_playbook, wait_settled
from test_canary_upgrade import DEMO_NAMESPACES, NEW_PROXY, OLD_PROXY, assert_upgraded

FIRST_WAVE = "waves=[{name: test, namespaces: [test-namespace]}, {name: staging, namespaces: [staging-namespace]}]"


def _half_done(emu, tmp_path):
    """canary-upgrade.yaml with promote=false and two waves: 1-20-0 installed, test and staging moved."""
    run = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", "--var", "promote=false",
                       "--var", FIRST_WAVE, *FAST, tmp=tmp_path)
    assert run.rc == 0, run.why()
    assert not [k for k in run.keys("step_started") if k.startswith("promote.")]
    wait_settled(emu)
    state = cluster_state(emu)
    assert set(state["proxies"]["staging-namespace/frontend"]) == {NEW_PROXY}
    assert set(state["proxies"]["production-namespace-1/web"]) == {OLD_PROXY}
    assert "istiod" in state["deployments"] and "istiod-1-20-0" in state["deployments"]
    return state


def test_slow_path_one_wave_at_a_time_then_remove_the_old_control_plane(emulator_factory, tmp_path):
    emu = emulator_factory()
    _half_done(emu, tmp_path)

    too_early = run_playbook(emu, "remove-old-control-plane.yaml", "--var", "rev=1-20-0", "--var", "soak=0s",
                             tmp=tmp_path)
    assert too_early.rc == 1 and too_early.finished()["failed"] == ["nothing-uses-the-old-revision"]
    assert "production-namespace-1" in next(e for e in too_early.events if e["event"] == "step_failed")["message"]

    moved = run_playbook(emu, "migrate-namespaces.yaml", "--var", "rev=1-20-0",
                         "--var", "namespaces_to_move=[production-namespace-1, production-namespace-2]",
                         "--var", "confirm_each=true", tmp=tmp_path)
    assert moved.rc == 0, moved.why()

    removed = run_playbook(emu, "remove-old-control-plane.yaml", "--var", "rev=1-20-0", "--var", "soak=0s",
                           tmp=tmp_path)
    assert removed.rc == 0, removed.why()
    assert_upgraded(emu, DEMO_NAMESPACES)


def test_migrate_namespaces_refuses_a_revision_that_is_not_installed(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)
    run = run_playbook(emu, "migrate-namespaces.yaml", "--var", "rev=1-21-0",
                       "--var", "namespaces_to_move=[test-namespace]", tmp=tmp_path)
    assert run.rc == 1 and run.finished()["failed"] == ["revision-is-live"]
    assert "relabel" not in " ".join(run.keys("step_started"))
    assert cluster_state(emu) == before


def test_rollback_of_a_half_done_upgrade_restores_the_starting_state(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)
    _half_done(emu, tmp_path)

    run = run_playbook(emu, "rollback-upgrade.yaml", "--var", "rev=1-20-0", tmp=tmp_path)

    assert run.rc == 0, run.why()
    moved_back = sorted(k.split("[")[1].split("]")[0] for k in run.keys("step_started") if k.endswith(".relabel"))
    assert moved_back == ["staging-namespace", "test-namespace"]
    wait_settled(emu)
    assert cluster_state(emu) == before
    assert downtime(emu) == {}, emu.format_downtime_report()

    again = run_playbook(emu, "rollback-upgrade.yaml", "--var", "rev=1-20-0", tmp=tmp_path)
    assert again.rc == 0, again.why()  # idempotent: nothing left to do, nothing breaks
    assert cluster_state(emu) == before


def test_rollback_of_a_finished_upgrade_reinstalls_the_old_control_plane(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)
    done = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", *FAST, tmp=tmp_path)
    assert done.rc == 0, done.why()

    run = run_playbook(emu, "rollback-upgrade.yaml", "--var", "rev=1-20-0", "--var", "old_version=1.19.3",
                       tmp=tmp_path)

    assert run.rc == 0, run.why()
    assert "reinstall-old" in run.keys("step_succeeded")
    wait_settled(emu)
    after = cluster_state(emu)
    assert after["labels"] == before["labels"]
    assert after["proxies"] == before["proxies"]
    assert after["deployments"] == before["deployments"]
    # Reinstalling the default revision makes it the default for injection again, as istioctl does: the
    # default tag now exists, and points at the old control plane.
    assert [w for w in after["mutating_webhooks"] if w != "istio-revision-tag-default"] == before["mutating_webhooks"]
    tag = next(o for o in emu.state()["items"] if o["kind"] == "MutatingWebhookConfiguration"
               and o["metadata"]["name"] == "istio-revision-tag-default")
    assert tag["metadata"]["labels"]["istio.io/rev"] == "default"
    assert "istiod-1-20-0" not in after["deployments"]
    assert after["gateway_selector"] == before["gateway_selector"]
    # The monitor counts the reinstalled istiod and gateway as "down" while their first pods start (they did
    # not exist then, and the gateway Service moved back only once they were ready); workloads never were.
    workloads = {k: v for k, v in downtime(emu).items() if not k.startswith("istio-system/")}
    assert workloads == {}, emu.format_downtime_report()


@pytest.mark.parametrize("playbook, args, expect", [
    ("canary-upgrade.yaml", ["--var", "rev=1-20-0"],
     ["$ istioctl install -y --revision 1-20-0 -f", "rollback: $ istioctl uninstall -y --revision 1-20-0",
      "$ kubectl label namespace production-namespace-2 istio-injection- istio.io/rev=1-20-0 --overwrite",
      "confirm: Move wave production (production-namespace-1, production-namespace-2) to revision 1-20-0?",
      "confirm: POINT OF NO RETURN", "$ istioctl tag set default --revision 1-20-0 --overwrite"]),
    ("canary-upgrade.yaml", ["--var", "rev=1-20-0", "--var", "installer=helm"],
     ["$ helm install istiod-1-20-0 istio/istiod -n istio-system --version 1.20.0 -f",
      "$ helm upgrade istio-base istio/base -n istio-system --version 1.20.0 --set defaultRevision=default",
      "$ helm upgrade istio-base istio/base -n istio-system --version 1.20.0 --set defaultRevision=1-20-0"]),
    ("migrate-namespaces.yaml", ["--var", "rev=1-20-0", "--var", "namespaces_to_move=[team-a]"],
     # Without a cluster, which workloads move (and how) is known only at run time; the relabel and its undo are.
     ["$ kubectl label namespace team-a istio-injection- istio.io/rev=1-20-0 --overwrite",
      "rollback: wait for the rollout of every statefulset in team-a to complete"]),
    ("remove-old-control-plane.yaml", ["--var", "rev=1-20-0"],
     ["$ istioctl uninstall -y --revision default", "wait 10m00s"]),
    ("rollback-upgrade.yaml", ["--var", "rev=1-20-0", "--var", "only_namespaces=[team-a]"],
     ["$ kubectl label namespace team-a istio.io/rev- istio-injection=enabled --overwrite",
      "Uninstall control plane 1-20-0?"]),
])
def test_dry_run_prints_every_rendered_command_for_a_change_review(project, playbook, args, expect):
    from e2e_harness import PLAYBOOKS
    result = project.run("run", str(PLAYBOOKS / playbook), *args, "--dry-run")
    assert result.rc == 0, result.err
    for text in expect:
        assert text in result.out, text
    assert "{{" not in result.out.split("inputs:")[0]  # names and titles are rendered


def test_rollback_of_a_half_done_helm_upgrade_uninstalls_the_new_release(emulator_factory, tmp_path):
    from test_canary_upgrade import helm_cluster
    emu = helm_cluster(emulator_factory)
    before = cluster_state(emu)
    half = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", "--var", "installer=helm",
                        "--var", "promote=false", "--var", "waves=[{name: test, namespaces: [test-namespace]}]",
                        *FAST, tmp=tmp_path)
    assert half.rc == 0, half.why()

    run = run_playbook(emu, "rollback-upgrade.yaml", "--var", "rev=1-20-0", "--var", "installer=helm", tmp=tmp_path)

    assert run.rc == 0, run.why()
    assert "remove-new-helm" in run.keys("step_succeeded")
    wait_settled(emu)
    assert cluster_state(emu) == before
    assert downtime(emu) == {}, emu.format_downtime_report()
