"""Rolling updates as kube-controller-manager does them: surge before terminate, maxUnavailable respected,
progress deadlines, and the downtime monitor's verdict."""
from __future__ import annotations

import time

from kubernetes import client, watch

from .conftest import api_client, kubectl, needs_kubectl, wait_until


def _cluster(max_surge, max_unavailable, replicas=2, delay=0.1, **extra):
    dep = {"name": "web", "replicas": replicas, "maxSurge": max_surge, "maxUnavailable": max_unavailable, **extra}
    return {"readiness_delay": delay,
            "istio": [{"revision": "default", "version": "1.19.3", "gateway": False}],
            "namespaces": [{"name": "apps", "labels": {"istio-injection": "enabled"}, "deployments": [dep]}]}


def _restart(apps: client.AppsV1Api, name: str = "web") -> None:
    apps.patch_namespaced_deployment(name, "apps", {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}})


def _watch_ready_counts(apps: client.AppsV1Api, until_updated: int) -> list[tuple[int, int, int]]:
    """(ready, updated, total pods) of every status the deployment goes through until the rollout is done."""
    seen = []
    for ev in watch.Watch().stream(apps.list_namespaced_deployment, "apps", field_selector="metadata.name=web",
                                   timeout_seconds=20):
        st = ev["object"].status
        seen.append((st.ready_replicas or 0, st.updated_replicas or 0, st.replicas or 0))
        if (st.updated_replicas or 0) == until_updated and (st.ready_replicas or 0) == until_updated and \
                (st.replicas or 0) == until_updated and ev["object"].metadata.generation == \
                st.observed_generation and len(seen) > 1:
            break
    return seen


def test_restart_with_max_unavailable_zero_never_drops_ready(make_emulator):
    emu = make_emulator(_cluster(1, 0, replicas=3))
    apps = client.AppsV1Api(api_client(emu))
    _restart(apps)
    seen = _watch_ready_counts(apps, 3)
    assert min(ready for ready, _, _ in seen) >= 3
    assert max(total for _, _, total in seen) == 4  # surged one pod above the desired three
    assert emu.downtime_report()["apps/web"] == []
    assert "0 with downtime (zero downtime)" in emu.format_downtime_report()


def test_max_surge_zero_unavailable_all_takes_the_deployment_down_and_the_monitor_says_so(make_emulator):
    emu = make_emulator(_cluster(0, "100%"))
    apps = client.AppsV1Api(api_client(emu))
    _restart(apps)
    seen = _watch_ready_counts(apps, 2)
    assert min(ready for ready, _, _ in seen) == 0
    (outage,) = emu.downtime_report()["apps/web"]
    assert outage["end"] is not None and outage["end"] >= outage["start"]
    assert "apps/web: 0 ready from" in emu.format_downtime_report()


def test_surge_respects_percentages(make_emulator):
    emu = make_emulator(_cluster("25%", "25%", replicas=8))
    apps = client.AppsV1Api(api_client(emu))
    _restart(apps)
    seen = _watch_ready_counts(apps, 8)
    assert max(total for _, _, total in seen) <= 10  # 8 + 25% surge
    assert min(ready for ready, _, _ in seen) >= 6  # 8 - 25% unavailable


def test_rollout_creates_a_new_replicaset_with_the_next_revision(make_emulator):
    emu = make_emulator(_cluster(1, 0))
    apps = client.AppsV1Api(api_client(emu))
    _restart(apps)
    _watch_ready_counts(apps, 2)
    rss = sorted(apps.list_namespaced_replica_set("apps").items,
                 key=lambda r: int(r.metadata.annotations["deployment.kubernetes.io/revision"]))
    assert [(r.spec.replicas, r.metadata.annotations["deployment.kubernetes.io/revision"]) for r in rss] == [
        (0, "1"), (2, "2")]
    new = rss[-1]
    assert new.metadata.name == f"web-{new.metadata.labels['pod-template-hash']}"
    assert new.metadata.owner_references[0].kind == "Deployment"
    d = apps.read_namespaced_deployment("web", "apps")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert d.status.conditions[1].message == f'ReplicaSet "{new.metadata.name}" has successfully progressed.'


def test_stuck_rollout_exceeds_its_progress_deadline(make_emulator):
    emu = make_emulator(_cluster(1, 0, progressDeadlineSeconds=1),
                        faults={"stuck_rollouts": [{"namespace": "apps", "deployment": "web"}]})
    apps = client.AppsV1Api(api_client(emu))
    _restart(apps)
    cond = wait_until(lambda: next((c for c in apps.read_namespaced_deployment("web", "apps").status.conditions
                                    if c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded"), None),
                      timeout=10)
    assert cond.status == "False" and cond.message.endswith("has timed out progressing.")
    d = apps.read_namespaced_deployment("web", "apps")
    assert d.status.ready_replicas == 2 and d.status.updated_replicas == 1  # old pods kept serving
    assert emu.downtime_report()["apps/web"] == []


@needs_kubectl
def test_kubectl_rollout_status_fails_on_progress_deadline(make_emulator):
    emu = make_emulator(_cluster(1, 0, progressDeadlineSeconds=1),
                        faults={"stuck_rollouts": [{"namespace": "apps", "deployment": "web"}]})
    kubectl(emu, "rollout", "restart", "deployment/web", "-n", "apps")
    proc = kubectl(emu, "rollout", "status", "deployment/web", "-n", "apps", "--timeout=20s", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == 'error: deployment "web" exceeded its progress deadline'
    assert proc.stdout.splitlines()[0] == \
        'Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated...'


@needs_kubectl
def test_stuck_rollout_recovers_when_the_fault_is_lifted(make_emulator):
    emu = make_emulator(_cluster(1, 0), faults={"stuck_rollouts": [{"namespace": "apps", "deployment": "web"}]})
    kubectl(emu, "rollout", "restart", "deployment/web", "-n", "apps")
    stuck = kubectl(emu, "rollout", "status", "deployment/web", "-n", "apps", "--timeout=1s", check=False)
    assert stuck.returncode == 1 and "timed out waiting for the condition" in stuck.stderr
    emu.set_faults({})
    done = kubectl(emu, "rollout", "status", "deployment/web", "-n", "apps", "--timeout=20s")
    assert done.stdout.splitlines()[-1] == 'deployment "web" successfully rolled out'


def test_scaling_to_zero_on_purpose_is_not_downtime(make_emulator):
    emu = make_emulator(_cluster(1, 0))
    apps = client.AppsV1Api(api_client(emu))
    apps.patch_namespaced_deployment_scale("web", "apps", {"spec": {"replicas": 0}})
    wait_until(lambda: not apps.read_namespaced_deployment("web", "apps").status.replicas)
    assert emu.downtime_report()["apps/web"] == []


def test_recreate_strategy_replaces_all_pods(make_emulator):
    emu = make_emulator(_cluster(1, 0, strategy="Recreate"))
    apps = client.AppsV1Api(api_client(emu))
    _restart(apps)
    seen = _watch_ready_counts(apps, 2)
    assert min(ready for ready, _, _ in seen) == 0
    assert len(emu.downtime_report()["apps/web"]) == 1


def test_termination_delay_keeps_old_pods_terminating_and_unready(make_emulator):
    emu = make_emulator({**_cluster(1, 0), "termination_delay": 0.6})
    api = api_client(emu)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    _restart(apps)
    terminating = wait_until(lambda: [p for p in core.list_namespaced_pod("apps").items
                                      if p.metadata.deletion_timestamp], timeout=10)
    pod = terminating[0]
    assert not any(c.status == "True" for c in pod.status.conditions if c.type == "Ready")
    eps = core.read_namespaced_endpoints("web", "apps")
    assert pod.status.pod_ip not in [a.ip for s in eps.subsets for a in s.addresses or []]
    _watch_ready_counts(apps, 2)  # the rollout completes: terminating pods are not counted
    wait_until(lambda: len(core.list_namespaced_pod("apps").items) == 2, timeout=10)
    assert emu.downtime_report()["apps/web"] == []


@needs_kubectl
def test_kubectl_delete_pod_waits_for_termination_unless_forced(make_emulator):
    emu = make_emulator({**_cluster(1, 0), "termination_delay": 0.5})
    core = client.CoreV1Api(api_client(emu))
    first, second = [p.metadata.name for p in core.list_namespaced_pod("apps").items]
    assert kubectl(emu, "delete", "pod", first, "-n", "apps").stdout.strip() == f'pod "{first}" deleted'
    assert first not in [p.metadata.name for p in core.list_namespaced_pod("apps").items]
    forced = kubectl(emu, "delete", "pod", second, "-n", "apps", "--grace-period=0", "--force")
    assert f'pod "{second}" force deleted' in forced.stdout


@needs_kubectl
def test_min_ready_seconds_holds_pods_unavailable_after_ready(make_emulator):
    emu = make_emulator(_cluster(1, 0, delay=0.05, minReadySeconds=1))
    apps = client.AppsV1Api(api_client(emu))
    start = time.monotonic()
    kubectl(emu, "rollout", "restart", "deployment/web", "-n", "apps")
    lines = kubectl(emu, "rollout", "status", "deployment/web", "-n", "apps", "--timeout=30s").stdout.splitlines()
    assert lines[-1] == 'deployment "web" successfully rolled out'
    # Each of the two new pods waits a second after Ready before it counts as available (and before the
    # next step of the rollout), where readiness alone would take 0.05 s.
    assert time.monotonic() - start >= 2
    st = apps.read_namespaced_deployment("web", "apps").status
    assert st.available_replicas == st.ready_replicas == 2
    rss = apps.list_namespaced_replica_set("apps").items
    assert {r.spec.min_ready_seconds for r in rss if r.spec.replicas} == {1}
    assert emu.downtime_report()["apps/web"] == []
