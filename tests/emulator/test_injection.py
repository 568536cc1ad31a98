"""Sidecar injection through the revision webhooks, and moving namespaces between revisions."""
from __future__ import annotations

import json

from kubernetes import client

from engine.emulator.istio_objects import control_plane_objects, tag_webhook

from .conftest import api_client, wait_until

CLUSTER = {
    "readiness_delay": 0.05,
    "istio": [{"revision": "default", "version": "1.19.3", "gateway": False}],
    "namespaces": [
        {"name": "apps", "labels": {"istio-injection": "enabled"},
         "deployments": [{"name": "web", "replicas": 2, "maxSurge": 1, "maxUnavailable": 0}]},
        {"name": "plain", "deployments": [{"name": "tool", "replicas": 1}]},
    ],
}


def _install(emu, revision, version, **kw):
    emu.call(lambda rt: [rt.create_object(o) for o in control_plane_objects(revision, version, gateway=False, **kw)])


def _proxies(core, ns):
    """(pod's istio.io/rev label, status revision, proxy image) of each pod in ``ns``."""
    out = []
    for p in core.list_namespaced_pod(ns).items:
        image = next((c.image for c in p.spec.containers if c.name == "istio-proxy"), None)
        status = json.loads((p.metadata.annotations or {}).get("sidecar.istio.io/status", "{}"))
        out.append(((p.metadata.labels or {}).get("istio.io/rev"), status.get("revision"), image))
    return sorted(out)


def _restart_and_settle(apps, ns, name, stamp="1"):
    apps.patch_namespaced_deployment(name, ns, {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": stamp}}}}})

    def settled():
        d = apps.read_namespaced_deployment(name, ns)
        st = d.status
        return (st.observed_generation == d.metadata.generation and st.updated_replicas == d.spec.replicas
                and st.ready_replicas == d.spec.replicas and st.replicas == d.spec.replicas)
    wait_until(settled)


def test_injection_enabled_namespace_gets_default_revision_proxy(make_emulator):
    core = client.CoreV1Api(api_client(make_emulator(CLUSTER)))
    assert _proxies(core, "apps") == [("default", "default", "docker.io/istio/proxyv2:1.19.3")] * 2
    pod = core.list_namespaced_pod("apps").items[0]
    assert [c.name for c in pod.spec.init_containers] == ["istio-init"]
    assert pod.metadata.annotations["kubectl.kubernetes.io/default-container"] == "web"
    assert _proxies(core, "plain") == [(None, None, None)]


def test_pod_opting_out_is_not_injected(make_emulator):
    core = client.CoreV1Api(api_client(make_emulator(CLUSTER)))
    core.create_namespaced_pod("apps", {"metadata": {"name": "job", "labels": {"sidecar.istio.io/inject": "false"}},
                                        "spec": {"containers": [{"name": "job", "image": "busybox"}]}})
    assert [c.name for c in core.read_namespaced_pod("job", "apps").spec.containers] == ["job"]


def test_relabel_and_restart_moves_pods_to_the_new_revision(make_emulator):
    emu = make_emulator(CLUSTER)
    api = api_client(emu)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    _install(emu, "1-20-0", "1.20.0")
    wait_until(lambda: apps.read_namespaced_deployment("istiod-1-20-0", "istio-system").status.ready_replicas)
    core.patch_namespace("apps", {"metadata": {"labels": {"istio-injection": None, "istio.io/rev": "1-20-0"}}})
    # Existing pods keep their proxy until restarted.
    assert {p[0] for p in _proxies(core, "apps")} == {"default"}
    _restart_and_settle(apps, "apps", "web")
    assert _proxies(core, "apps") == [("1-20-0", "1-20-0", "docker.io/istio/proxyv2:1.20.0")] * 2
    assert emu.downtime_report()["apps/web"] == []
    # And back again (the rollback path).
    core.patch_namespace("apps", {"metadata": {"labels": {"istio.io/rev": None, "istio-injection": "enabled"}}})
    _restart_and_settle(apps, "apps", "web", stamp="2")
    assert _proxies(core, "apps") == [("default", "default", "docker.io/istio/proxyv2:1.19.3")] * 2


def test_default_tag_sends_injection_enabled_namespaces_to_its_revision(make_emulator):
    emu = make_emulator(CLUSTER)
    api = api_client(emu)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    _install(emu, "1-20-0", "1.20.0")
    wait_until(lambda: apps.read_namespaced_deployment("istiod-1-20-0", "istio-system").status.ready_replicas)
    client.AdmissionregistrationV1Api(api).create_mutating_webhook_configuration(tag_webhook("default", "1-20-0"))
    _restart_and_settle(apps, "apps", "web")
    assert {p[:2] for p in _proxies(core, "apps")} == {("1-20-0", "1-20-0")}


def test_namespace_labelled_with_a_tag_gets_the_tagged_revision(make_emulator):
    emu = make_emulator(CLUSTER)
    api = api_client(emu)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    client.AdmissionregistrationV1Api(api).create_mutating_webhook_configuration(tag_webhook("stable", "default"))
    core.patch_namespace("plain", {"metadata": {"labels": {"istio.io/rev": "stable"}}})
    _restart_and_settle(apps, "plain", "tool")
    assert _proxies(core, "plain") == [("default", "default", "docker.io/istio/proxyv2:1.19.3")]


def test_revision_whose_istiod_never_gets_ready_blocks_pod_creation(make_emulator):
    emu = make_emulator(CLUSTER, faults={"istiod_never_ready": ["1-20-0"]})
    api = api_client(emu)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    _install(emu, "1-20-0", "1.20.0")
    core.patch_namespace("apps", {"metadata": {"labels": {"istio-injection": None, "istio.io/rev": "1-20-0"}}})
    apps.patch_namespaced_deployment("web", "apps", {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "now"}}}}})

    def failed_create():
        return [e for e in core.list_namespaced_event("apps").items if e.reason == "FailedCreate"]
    (event,) = wait_until(failed_create)
    assert event.type == "Warning"
    assert 'failed calling webhook "rev.namespace.sidecar-injector.istio.io"' in event.message
    assert 'no endpoints available for service "istiod-1-20-0"' in event.message
    istiod = wait_until(lambda: [p for p in core.list_namespaced_pod(
        "istio-system", label_selector="istio.io/rev=1-20-0").items if p.status.phase == "Running"])
    assert not any(c.status == "True" for p in istiod for c in p.status.conditions if c.type == "Ready")
    assert _proxies(core, "apps") == [("default", "default", "docker.io/istio/proxyv2:1.19.3")] * 2
    assert emu.downtime_report()["apps/web"] == []


def test_pods_report_no_proxy_once_their_revision_webhook_is_gone(make_emulator):
    emu = make_emulator(CLUSTER)
    api = api_client(emu)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    client.AdmissionregistrationV1Api(api).delete_mutating_webhook_configuration("istio-sidecar-injector")
    _restart_and_settle(apps, "apps", "web")
    assert _proxies(core, "apps") == [(None, None, None)] * 2
