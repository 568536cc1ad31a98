"""`wait` on cluster conditions, watched through the kubernetes client against the emulator."""
from __future__ import annotations

import threading
import time

import pytest

from engine.plugins.wait import judge_pods, rollout_state

DEP = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 3}}


@pytest.mark.parametrize("status,done,text", [
    ({"observedGeneration": 1}, False, "waiting for the new spec to be observed"),
    ({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3, "availableReplicas": 3}, False,
     "1 of 3 updated replicas"),
    ({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3}, False,
     "1 old replica pending termination"),
    ({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}, False,
     "2 of 3 updated replicas available"),
    ({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}, True,
     "3 of 3 replicas available"),
    ({"observedGeneration": 2, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]},
     False, "exceeded its progress deadline"),
])
def test_rollout_state_says_what_kubectl_rollout_status_says(status, done, text):
    assert rollout_state({**DEP, "status": status}) == (done, text)


@pytest.mark.parametrize("obj,done,text", [
    ({"kind": "DaemonSet", "metadata": {}, "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 2,
                                                      "numberAvailable": 3}}, False, "2 of 3 updated pods scheduled"),
    ({"kind": "DaemonSet", "metadata": {}, "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                                                      "numberAvailable": 3}}, True, "3 pods available"),
    ({"kind": "StatefulSet", "metadata": {}, "spec": {"replicas": 2},
      "status": {"updatedReplicas": 2, "readyReplicas": 1}}, False, "1 of 2 pods ready"),
    ({"kind": "StatefulSet", "metadata": {}, "spec": {"replicas": 2},
      "status": {"updatedReplicas": 2, "readyReplicas": 2}}, True, "2 pods ready"),
])
def test_rollout_state_of_daemonsets_and_statefulsets(obj, done, text):
    assert rollout_state(obj) == (done, text)


def test_pods_being_deleted_do_not_count():
    ready = {"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    leaving = {"metadata": {"name": "b", "deletionTimestamp": "now"}, "status": {}}
    assert judge_pods(1)({"x/a": ready, "x/b": leaving}) == (True, "1 of 1 pods ready")
    assert judge_pods(2)({"x/a": ready}) == (False, "1 pod ready, 1 found, want at least 2")


RESTART_AND_WAIT = """
version: 1
steps:
  - id: restart
    uses: kubectl
    with: {args: [rollout, restart, deployment/web, -n, apps]}
  - id: rolled
    needs: [restart]
    uses: wait
    with: {WAIT}
"""


@pytest.mark.parametrize("wait", ["{rollout: deployment/web, namespace: apps, timeout: 30s}",
                                  "{rollout: deployment, all: true, namespace: apps, timeout: 30s}",
                                  "{pods: app=web, namespace: apps, min: 2, timeout: 30s}"])
def test_waits_for_a_restarted_rollout_and_shows_progress(run_book, emu, wait):
    ran = run_book(RESTART_AND_WAIT.replace("{WAIT}", wait), emu=emu)
    assert ran.code == 0, ran.outcome("rolled").message
    progress = ran.lines("rolled")
    assert progress, "no progress line was shown"
    assert any(word in progress[-1] for word in ("rolled out", "pods ready"))


def test_a_stuck_rollout_times_out_naming_what_is_not_ready(run_book, emu):
    emu.set_faults({"stuck_rollouts": [{"namespace": "apps", "deployment": "web"}]})
    started = time.time()
    ran = run_book(RESTART_AND_WAIT.replace("{WAIT}", "{rollout: deployment, namespace: apps, timeout: 2s}"),
                   emu=emu)
    assert ran.code == 1
    message = ran.outcome("rolled").message
    assert message.startswith("timed out after 2.00s: 0 of 1 deployments rolled out; waiting for deployment/web (")
    assert time.time() - started < 10


def test_the_step_timeout_bounds_the_wait_too(run_book, emu):
    emu.set_faults({"stuck_rollouts": [{"namespace": "apps", "deployment": "web"}]})
    ran = run_book("""
        version: 1
        steps:
          - id: restart
            uses: kubectl
            with: {args: [rollout, restart, deployment/web, -n, apps]}
          - id: rolled
            needs: [restart]
            timeout: 1s
            uses: wait
            with: {rollout: deployment/web, namespace: apps, timeout: 5m}
    """, emu=emu)
    assert "timed out after 1" in ran.outcome("rolled").message
    assert "deployment/web (" in ran.outcome("rolled").message


def _kubectl(emu, *args, stdin=None):
    import os
    import subprocess
    subprocess.run(["kubectl", *args], env={**os.environ, **emu.env()}, check=True, capture_output=True,
                   timeout=30, input=stdin, text=True)


def test_exists_and_gone_follow_the_object(run_book, emu):
    def later():
        time.sleep(0.5)
        _kubectl(emu, "apply", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\n"
                                                 "metadata: {name: flag, namespace: apps}\n")
    threading.Thread(target=later, daemon=True).start()
    ran = run_book("""
        version: 1
        steps:
          - id: appears
            uses: wait
            with: {exists: configmap/flag, namespace: apps, timeout: 10s}
          - id: remove
            needs: [appears]
            uses: kubectl
            with: {args: [delete, configmap, flag, -n, apps]}
          - id: disappears
            needs: [remove]
            uses: wait
            with: {gone: configmap/flag, namespace: apps, timeout: 20s}
          - id: ns-exists
            uses: wait
            with: {exists: namespace/apps, timeout: 5s}
    """, emu=emu)
    assert ran.code == 0, [r.outcome.message for r in ran.summary.results.values() if r.outcome]
    assert ran.lines("appears")[0] == "configmap/flag does not exist yet"
    assert ran.outcome("disappears").message == "configmap/flag is gone"


def test_jsonpath_condition_waits_for_the_value(run_book, emu):
    def later():
        time.sleep(0.5)
        _kubectl(emu, "label", "namespace", "apps", "stage=done")
    threading.Thread(target=later, daemon=True).start()
    ran = run_book("""
        version: 1
        steps:
          - id: labelled
            uses: wait
            with: {object: namespace/apps, jsonpath: "{.metadata.labels.stage}", equals: done, timeout: 20s}
          - id: missing
            uses: wait
            with: {object: namespace/apps, jsonpath: "{.metadata.labels.never}", equals: x, timeout: 1s}
            continue_on_error: true
    """, emu=emu)
    assert ran.outcome("labelled").ok
    assert ran.outcome("missing").message == ("timed out after 1.00s: namespace/apps {.metadata.labels.never} = '' "
                                              "(want 'x')")


def test_command_condition_retries_until_the_command_succeeds(run_book, tmp_path):
    counter = tmp_path / "n"
    ran = run_book(f"""
        version: 1
        steps:
          - id: third-time
            uses: wait
            with:
              command: [sh, -c, 'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; test $n -ge 3']
              interval: 0.1s
              timeout: 20s
          - id: never
            uses: wait
            with: {{command: ["false"], interval: 0.2s, timeout: 1s}}
            continue_on_error: true
    """)
    assert ran.outcome("third-time").message == "succeeded after 3 tries"
    assert ran.lines("third-time") == ["try 1: exit code 1", "try 2: exit code 1"]
    assert ran.outcome("never").message.startswith("timed out after 1.00s: $ false still failing (try ")


def test_a_duration_still_works_and_the_plan_says_each_condition(run_book):
    from engine.plugins.base import RunOptions
    from engine.plugins.wait import WaitPlugin
    plugin, opts = WaitPlugin(), RunOptions()
    assert plugin.describe({"duration": "90s"}, opts) == "wait 1m30s"
    assert plugin.describe({"rollout": "deployment/istiod-1-20-0", "namespace": "istio-system", "timeout": "5m"},
                           opts) == ("wait for the rollout of deployment/istiod-1-20-0 in istio-system to complete "
                                     "(timeout 5m00s)")
    assert plugin.describe({"pods": {"app": "web"}, "namespace": "apps"}, opts) == \
        "wait for pods app=web in apps to be Ready (at least 1)"
    assert plugin.describe({"command": ["istioctl", "x", "wait"]}, opts) == \
        "wait until $ istioctl x wait succeeds (every 2.00s)"
    ran = run_book("""
        version: 1
        steps:
          - {id: nap, uses: wait, with: {duration: 0.1s}}
    """)
    assert ran.code == 0 and ran.outcome("nap").message == "waited 0.10s"


def test_a_cancelled_wait_returns_promptly(emu):
    """A failed sibling or Ctrl-C cancels running steps: a watch notices within its short window."""
    from pathlib import Path

    from engine.plugins.base import StepContext
    from engine.plugins.wait import WaitPlugin
    from tests.plugins.conftest import options_for
    cancel = threading.Event()
    context = StepContext(key="w", timeout=None, cancel=cancel, run_dir=Path("."), options=options_for(emu))
    threading.Timer(0.5, cancel.set).start()
    started = time.time()
    outcome = WaitPlugin().run({"gone": "deployment/web", "namespace": "apps", "timeout": "5m"}, context)
    assert outcome.cancelled and outcome.message == "cancelled while waiting: deployment/web still exists"
    assert time.time() - started < 4


def test_a_long_wait_says_it_is_still_waiting(emu):
    from engine.kube import Kube, target_for, watch_until
    from engine.plugins.wait import judge_presence
    from tests.plugins.conftest import options_for
    lines: list[str] = []
    state, text = watch_until(Kube(target_for(options_for(emu))), "configmap", "apps",
                              judge_presence("configmap/never", True), deadline=time.time() + 2.5,
                              cancel=threading.Event(), progress=lines.append,
                              field_selector="metadata.name=never", heartbeat=1.0)
    assert (state, text) == ("timeout", "configmap/never does not exist yet")
    assert lines[0] == "configmap/never does not exist yet"
    assert lines[1].startswith("still waiting after 1s: configmap/never does not exist yet")
