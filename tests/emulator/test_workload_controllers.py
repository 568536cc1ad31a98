"""StatefulSets, DaemonSets, Jobs, CronJobs and Argo Rollouts as kube-controller-manager (and Argo) run them,
driven with the real kubectl: ordered pods, rolling restarts and partitions, OnDelete, one pod per node,
jobs that finish, sidecar injection by the namespace's revision, and PodDisruptionBudgets on evictions."""
from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client, watch

from .conftest import api_client, kubectl, needs_kubectl, wait_until

pytestmark = needs_kubectl


def _sts(name, replicas=3, strategy=None, **spec):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "apps"},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     **({"updateStrategy": strategy} if strategy else {}), **spec,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": "postgres:16"}]}}}}


def _cluster(*objects, delay=0.1, faults=None):
    return {"readiness_delay": delay, "istio": [{"revision": "default", "version": "1.19.3", "gateway": False},
                                                {"revision": "1-20-0", "version": "1.20.0", "gateway": False}],
            "namespaces": [{"name": "apps", "labels": {"istio-injection": "enabled"}}],
            "objects": list(objects), **({"faults": faults} if faults else {})}


def _pods(emu, selector):
    out = json.loads(kubectl(emu, "get", "pods", "-n", "apps", "-l", selector, "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: p for p in out if not p["metadata"].get("deletionTimestamp")}


def _proxy(pod):
    return next((c["image"] for c in pod["spec"]["containers"] if c["name"] == "istio-proxy"), None)


def _ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def _move_namespace(emu, rev="1-20-0"):
    kubectl(emu, "label", "namespace", "apps", "istio-injection-", f"istio.io/rev={rev}")


def test_ordered_statefulset_creates_each_pod_after_the_one_before_is_ready(make_emulator):
    emu = make_emulator(_cluster(delay=0.2))
    core = client.CoreV1Api(api_client(emu))
    kubectl(emu, "apply", "-f", "-", stdin=json.dumps(_sts("db")))
    order = []  # ("added" | "ready", pod)
    for ev in watch.Watch().stream(core.list_namespaced_pod, "apps", timeout_seconds=15):
        pod = ev["object"]
        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
        if ev["type"] == "ADDED":
            order.append(("added", pod.metadata.name))
        elif ready and ("ready", pod.metadata.name) not in order:
            order.append(("ready", pod.metadata.name))
        if ("ready", "db-2") in order:
            break
    assert order == [("added", "db-0"), ("ready", "db-0"), ("added", "db-1"), ("ready", "db-1"),
                     ("added", "db-2"), ("ready", "db-2")]


def test_rolling_restart_replaces_highest_ordinal_first_onto_the_namespaces_new_revision(make_emulator):
    emu = make_emulator(_cluster(_sts("db")))
    before = _pods(emu, "app=db")
    assert {_proxy(p) for p in before.values()} == {"docker.io/istio/proxyv2:1.19.3"}
    _move_namespace(emu)
    core = client.CoreV1Api(api_client(emu))
    deleted = []
    rv = core.list_namespaced_pod("apps").metadata.resource_version
    kubectl(emu, "rollout", "restart", "statefulset/db", "-n", "apps")
    for ev in watch.Watch().stream(core.list_namespaced_pod, "apps", resource_version=rv, timeout_seconds=20):
        if ev["type"] == "DELETED":
            deleted.append(ev["object"].metadata.name)
        if len(deleted) == 3:
            break
    assert deleted == ["db-2", "db-1", "db-0"]
    status = kubectl(emu, "rollout", "status", "statefulset/db", "-n", "apps", "--timeout=20s")
    assert "roll out complete: 3 new pods have been updated" in status.stdout
    after = _pods(emu, "app=db")
    assert {_proxy(p) for p in after.values()} == {"docker.io/istio/proxyv2:1.20.0"}
    assert {p["metadata"]["labels"]["istio.io/rev"] for p in after.values()} == {"1-20-0"}
    assert emu.downtime_report()["apps/statefulset/db"] == []


def test_partition_updates_only_the_ordinals_at_or_above_it(make_emulator):
    emu = make_emulator(_cluster(_sts("db", strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})))
    _move_namespace(emu)
    kubectl(emu, "rollout", "restart", "statefulset/db", "-n", "apps")
    status = kubectl(emu, "rollout", "status", "statefulset/db", "-n", "apps", "--timeout=20s")
    assert "partitioned roll out complete: 1 new pods have been updated" in status.stdout
    pods = _pods(emu, "app=db")
    assert {n: _proxy(p)[-6:] for n, p in pods.items()} == {"db-0": "1.19.3", "db-1": "1.19.3", "db-2": "1.20.0"}
    sts = json.loads(kubectl(emu, "get", "sts", "db", "-n", "apps", "-o", "json").stdout)
    assert sts["status"]["currentRevision"] != sts["status"]["updateRevision"]


def test_on_delete_keeps_old_pods_until_each_is_deleted_then_recreates_it_from_the_new_template(make_emulator):
    emu = make_emulator(_cluster(_sts("kafka", replicas=2, strategy={"type": "OnDelete"})))
    _move_namespace(emu)
    kubectl(emu, "rollout", "restart", "statefulset/kafka", "-n", "apps")
    refused = kubectl(emu, "rollout", "status", "statefulset/kafka", "-n", "apps", "--timeout=5s", check=False)
    assert refused.returncode != 0 and "only available for RollingUpdate" in refused.stderr
    sts = wait_until(lambda: (lambda s: s if s["status"].get("updateRevision") != s["status"].get("currentRevision")
                              else None)(json.loads(kubectl(emu, "get", "sts", "kafka", "-n", "apps", "-o",
                                                            "json").stdout)))
    assert {_proxy(p)[-6:] for p in _pods(emu, "app=kafka").values()} == {"1.19.3"}
    kubectl(emu, "delete", "pod", "kafka-1", "-n", "apps")
    wait_until(lambda: (p := _pods(emu, "app=kafka").get("kafka-1")) and _ready(p)
               and p["metadata"]["labels"]["controller-revision-hash"] == sts["status"]["updateRevision"])
    pods = _pods(emu, "app=kafka")
    assert (_proxy(pods["kafka-0"])[-6:], _proxy(pods["kafka-1"])[-6:]) == ("1.19.3", "1.20.0")


def test_daemonset_runs_one_pod_per_schedulable_node_and_rolls_with_kubectl(make_emulator):
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "apps"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "agent", "image": "fluent-bit:3"}]}}}}
    tolerant = json.loads(json.dumps(ds))
    tolerant["metadata"]["name"] = tolerant["spec"]["template"]["metadata"]["labels"]["app"] = "everywhere"
    tolerant["spec"]["selector"]["matchLabels"]["app"] = "everywhere"
    tolerant["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists"}]
    emu = make_emulator(_cluster(ds, tolerant))
    nodes = lambda sel: sorted(p["spec"]["nodeName"] for p in _pods(emu, sel).values())  # noqa: E731
    assert nodes("app=agent") == ["emulator-worker", "emulator-worker2"]  # the control plane is tainted
    assert nodes("app=everywhere") == ["emulator-control-plane", "emulator-worker", "emulator-worker2"]
    _move_namespace(emu)
    kubectl(emu, "rollout", "restart", "daemonset/agent", "-n", "apps")
    status = kubectl(emu, "rollout", "status", "daemonset/agent", "-n", "apps", "--timeout=20s")
    assert 'daemon set "agent" successfully rolled out' in status.stdout
    assert {_proxy(p)[-6:] for p in _pods(emu, "app=agent").values()} == {"1.20.0"}
    assert nodes("app=agent") == ["emulator-worker", "emulator-worker2"]


def test_job_runs_its_pod_to_completion_and_a_cronjob_owns_the_jobs_it_starts(make_emulator):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "apps"},
           "spec": {"template": {"metadata": {"annotations": {"emulator.playbook.dev/run-seconds": "0.5"}},
                                 "spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "m", "image": "busybox"}]}}}}
    cron = {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "report", "namespace": "apps",
                         "annotations": {"emulator.playbook.dev/start-now": "true"}},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "r", "image": "busybox"}]}}}}}}
    emu = make_emulator(_cluster())
    kubectl(emu, "apply", "-f", "-", stdin=yaml.safe_dump_all([job, cron]))
    kubectl(emu, "wait", "--for=condition=complete", "job/migrate", "-n", "apps", "--timeout=20s")
    (pod,) = _pods(emu, "job-name=migrate").values()
    assert pod["status"]["phase"] == "Succeeded" and _proxy(pod).endswith("1.19.3")
    jobs = json.loads(kubectl(emu, "get", "jobs", "-n", "apps", "-o", "json").stdout)["items"]
    (spawned,) = [j for j in jobs if j["metadata"]["name"] != "migrate"]
    assert spawned["metadata"]["name"].startswith("report-")
    assert spawned["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    bad = json.loads(json.dumps(job))
    bad["metadata"]["name"] = "bad"
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    refused = kubectl(emu, "apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert refused.returncode != 0 and "restartPolicy" in refused.stderr
    kubectl(emu, "delete", "cronjob", "report", "-n", "apps")
    wait_until(lambda: [j["metadata"]["name"] for j in json.loads(
        kubectl(emu, "get", "jobs", "-n", "apps", "-o", "json").stdout)["items"]] == ["migrate"])


def _evict(emu, pod):
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "apps"}}
    return kubectl(emu, "create", "--raw", f"/api/v1/namespaces/apps/pods/{pod}/eviction", "-f", "-",
                   stdin=json.dumps(body), check=False)


@pytest.mark.parametrize("budget, first_ok, second_ok", [
    ({"maxUnavailable": 1}, True, False),
    ({"minAvailable": 3}, False, False),
    ({"maxUnavailable": 0}, False, False),
    ({"minAvailable": 1}, True, True),
])
def test_eviction_is_refused_with_429_when_the_budget_allows_no_more_disruption(make_emulator, budget,
                                                                                 first_ok, second_ok):
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db", "namespace": "apps"},
           "spec": {**budget, "selector": {"matchLabels": {"app": "db"}}}}
    emu = make_emulator(_cluster(_sts("db", strategy={"type": "OnDelete"}), pdb, delay=5))
    first, second = _evict(emu, "db-2"), _evict(emu, "db-1")  # the replacement of db-2 is not Ready for 5 s
    assert (first.returncode == 0, second.returncode == 0) == (first_ok, second_ok)
    for refused in [r for r in (first, second) if r.returncode]:
        assert "TooManyRequests" in refused.stderr
        assert "Cannot evict pod as it would violate the pod's disruption budget" in refused.stderr


def test_argo_rollout_restart_at_replaces_every_pod_one_at_a_time(make_emulator):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "rollouts.argoproj.io"},
           "spec": {"group": "argoproj.io", "scope": "Namespaced",
                    "names": {"kind": "Rollout", "plural": "rollouts", "singular": "rollout", "shortNames": ["ro"]},
                    "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}},
                                  "subresources": {"status": {}}}]}}
    ro = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "shop", "namespace": "apps"},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "shop"}},
                   "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
                   "template": {"metadata": {"labels": {"app": "shop"}},
                                "spec": {"containers": [{"name": "shop", "image": "shop:1"}]}}}}
    emu = make_emulator(_cluster(crd, ro))
    before = _pods(emu, "app=shop")
    assert len(before) == 3 and {_proxy(p)[-6:] for p in before.values()} == {"1.19.3"}
    _move_namespace(emu)
    import time
    time.sleep(1.1)  # restartAt has a resolution of seconds: the pods must be older than it
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    kubectl(emu, "patch", "rollout", "shop", "-n", "apps", "--type=merge", "-p",
            json.dumps({"spec": {"restartAt": at}}))
    wait_until(lambda: json.loads(kubectl(emu, "get", "rollout", "shop", "-n", "apps", "-o", "json").stdout)
               .get("status", {}).get("restartedAt") == at, timeout=20)
    after = _pods(emu, "app=shop")
    assert len(after) == 3 and not set(after) & set(before)
    assert {_proxy(p)[-6:] for p in after.values()} == {"1.20.0"}
    assert emu.downtime_report()["apps/rollout/shop"] == []


def test_a_stuck_statefulset_fault_keeps_its_new_pods_unready(make_emulator):
    emu = make_emulator(_cluster(_sts("db", replicas=2),
                                 faults={"stuck_rollouts": [{"namespace": "apps", "statefulset": "db"}]}))
    kubectl(emu, "rollout", "restart", "statefulset/db", "-n", "apps")
    stuck = kubectl(emu, "rollout", "status", "statefulset/db", "-n", "apps", "--timeout=2s", check=False)
    assert stuck.returncode != 0
    pods = _pods(emu, "app=db")
    assert _ready(pods["db-0"]) and not _ready(pods["db-1"])  # the update stops at the first pod it replaced


def test_a_daemonset_runs_only_on_the_nodes_its_node_selector_names(make_emulator):
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ssd", "namespace": "apps"},
          "spec": {"selector": {"matchLabels": {"app": "ssd"}},
                   "template": {"metadata": {"labels": {"app": "ssd"}},
                                "spec": {"nodeSelector": {"kubernetes.io/hostname": "emulator-worker2"},
                                         "containers": [{"name": "ssd", "image": "busybox"}]}}}}
    emu = make_emulator(_cluster(ds))
    assert [p["spec"]["nodeName"] for p in _pods(emu, "app=ssd").values()] == ["emulator-worker2"]
    status = json.loads(kubectl(emu, "get", "ds", "ssd", "-n", "apps", "-o", "json").stdout)["status"]
    assert (status["desiredNumberScheduled"], status["numberReady"]) == (1, 1)


def test_the_downtime_monitor_watches_a_replicaset_of_its_own_not_a_deployments(make_emulator):
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "legacy", "namespace": "apps"},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "legacy"}},
                   "template": {"metadata": {"labels": {"app": "legacy"}},
                                "spec": {"containers": [{"name": "legacy", "image": "busybox"}]}}}}
    emu = make_emulator(_cluster(rs, delay=0.3))
    wait_until(lambda: kubectl(emu, "get", "rs", "legacy", "-n", "apps", "-o",
                               "jsonpath={.status.readyReplicas}").stdout == "2", timeout=20)
    assert emu.downtime_report()["apps/replicaset/legacy"] == []
    kubectl(emu, "create", "deployment", "web", "--image=nginx", "-n", "apps")
    kubectl(emu, "rollout", "status", "deployment/web", "-n", "apps", "--timeout=20s")
    kubectl(emu, "delete", "pods", "-l", "app=legacy", "-n", "apps", "--wait=false")
    wait_until(lambda: emu.downtime_report()["apps/replicaset/legacy"], timeout=20)
    assert "apps/replicaset/legacy: 0 ready from" in emu.format_downtime_report()
    assert not [k for k in emu.downtime_report() if k.startswith("apps/replicaset/web-")]
