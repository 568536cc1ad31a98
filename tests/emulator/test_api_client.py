"""The official kubernetes Python client against the emulator: status codes, Status bodies, object shapes."""
from __future__ import annotations

import json
import threading

import pytest
from kubernetes import client, watch

from .conftest import api_client, wait_until


@pytest.fixture
def emu(make_emulator):
    return make_emulator()


@pytest.fixture
def core(emu):
    return client.CoreV1Api(api_client(emu))


@pytest.fixture
def apps(emu):
    return client.AppsV1Api(api_client(emu))


def _status(exc: client.ApiException) -> dict:
    return json.loads(exc.body)


def test_get_missing_object_is_404_with_not_found_status(apps):
    with pytest.raises(client.ApiException) as err:
        apps.read_namespaced_deployment("missing", "apps")
    assert err.value.status == 404
    assert _status(err.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'deployments.apps "missing" not found', "reason": "NotFound", "code": 404,
        "details": {"name": "missing", "group": "apps", "kind": "deployments"}}


def test_create_existing_is_409_already_exists(core):
    with pytest.raises(client.ApiException) as err:
        core.create_namespace({"metadata": {"name": "apps"}})
    assert err.value.status == 409
    body = _status(err.value)
    assert (body["reason"], body["message"]) == ("AlreadyExists", 'namespaces "apps" already exists')


def test_stale_resource_version_is_409_conflict(core):
    cm = core.create_namespaced_config_map("apps", {"metadata": {"name": "c"}, "data": {"k": "1"}})
    cm.data["k"] = "2"
    core.replace_namespaced_config_map("c", "apps", cm)
    cm.data["k"] = "3"
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map("c", "apps", cm)
    assert err.value.status == 409
    assert _status(err.value)["reason"] == "Conflict"
    assert "the object has been modified" in _status(err.value)["message"]


def test_invalid_object_is_422_with_causes(apps):
    body = {"metadata": {"name": "bad"}, "spec": {"selector": {"matchLabels": {"app": "x"}},
                                                  "template": {"metadata": {"labels": {"app": "y"}},
                                                               "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    with pytest.raises(client.ApiException) as err:
        apps.create_namespaced_deployment("apps", body)
    assert err.value.status == 422
    status = _status(err.value)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


def test_create_in_missing_namespace_is_404(core):
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "c"}})
    assert err.value.status == 404
    assert _status(err.value)["message"] == 'namespaces "nowhere" not found'


def test_created_deployment_has_server_fields_and_defaults(apps):
    body = {"metadata": {"name": "api", "labels": {"app": "api"}},
            "spec": {"selector": {"matchLabels": {"app": "api"}},
                     "template": {"metadata": {"labels": {"app": "api"}},
                                  "spec": {"containers": [{"name": "api", "image": "nginx:1.25"}]}}}}
    d = apps.create_namespaced_deployment("apps", body)
    assert d.metadata.uid and d.metadata.resource_version and d.metadata.creation_timestamp
    assert d.metadata.generation == 1
    # The creator owns what it wrote and the defaults filled in, named after the client's User-Agent.
    [entry] = d.metadata.managed_fields
    assert (entry.manager, entry.operation, entry.api_version) == ("OpenAPI-Generator", "Update", "apps/v1")
    assert {"f:replicas", "f:selector", "f:progressDeadlineSeconds"} <= set(entry.fields_v1["f:spec"])
    assert d.spec.replicas == 1 and d.spec.progress_deadline_seconds == 600
    assert d.spec.strategy.rolling_update.max_surge == "25%"
    assert d.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    ready = wait_until(lambda: apps.read_namespaced_deployment("api", "apps").status.ready_replicas == 1)
    assert ready
    status = apps.read_namespaced_deployment("api", "apps").status
    assert status.observed_generation == 1
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("Available", "True", "MinimumReplicasAvailable"), ("Progressing", "True", "NewReplicaSetAvailable")]


def test_spec_change_bumps_generation_but_label_change_does_not(apps):
    gen = apps.read_namespaced_deployment("web", "apps").metadata.generation
    apps.patch_namespaced_deployment("web", "apps", {"metadata": {"labels": {"team": "a"}}})
    assert apps.read_namespaced_deployment("web", "apps").metadata.generation == gen
    apps.patch_namespaced_deployment("web", "apps", {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment("web", "apps").metadata.generation == gen + 1


def test_label_and_field_selectors_filter_lists(core):
    pods = core.list_namespaced_pod("apps", label_selector="app=web").items
    assert len(pods) == 2
    assert core.list_namespaced_pod("apps", label_selector="app in (web,other),!nothere").items
    assert core.list_namespaced_pod("apps", label_selector="app notin (web)").items == []
    name = pods[0].metadata.name
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(
        field_selector=f"metadata.name={name}").items] == [name]
    assert len(core.list_namespaced_pod("apps", field_selector="status.phase=Running").items) == 2


def test_watch_streams_modifications_from_a_resource_version(core):
    rv = core.list_namespace().metadata.resource_version
    threading.Timer(0.2, lambda: core.patch_namespace("apps", {"metadata": {"labels": {"seen": "yes"}}})).start()
    events = []
    for ev in watch.Watch().stream(core.list_namespace, resource_version=rv, timeout_seconds=5):
        events.append((ev["type"], ev["object"].metadata.name, ev["object"].metadata.labels.get("seen")))
        if ev["object"].metadata.labels.get("seen"):
            break
    assert events[-1] == ("MODIFIED", "apps", "yes")


def test_watch_window_ends_with_a_bookmark_when_asked(core):
    rv = core.list_namespace().metadata.resource_version
    core.patch_namespace("apps", {"metadata": {"labels": {"moved": "on"}}})
    resp = core.list_namespaced_config_map("apps", watch=True, resource_version=rv, timeout_seconds=1,
                                           allow_watch_bookmarks=True, _preload_content=False)
    events = [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(rv)


def test_streaming_list_ends_its_initial_events_with_a_bookmark(core):
    resp = core.list_namespace(watch=True, send_initial_events=True, allow_watch_bookmarks=True,
                               resource_version_match="NotOlderThan", timeout_seconds=1, _preload_content=False)
    events = [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]
    added = [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
    assert "apps" in added and "kube-system" in added
    marker = next(i for i, e in enumerate(events) if e["type"] == "BOOKMARK")
    assert marker == len(added)
    assert events[marker]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_from_expired_resource_version_is_410(core, emu):
    emu.call(lambda rt: rt.api.store._log.clear())
    with pytest.raises(client.ApiException) as err:
        for _ in watch.Watch().stream(core.list_namespace, resource_version="1", timeout_seconds=2):
            pass
    assert err.value.status == 410


def test_deleting_a_deployment_removes_its_replicasets_and_pods(apps, core):
    status = apps.delete_namespaced_deployment("web", "apps")
    assert status["kind"] == "Status" and status["status"] == "Success" and status["details"]["uid"]
    assert apps.list_namespaced_replica_set("apps").items == []
    assert core.list_namespaced_pod("apps").items == []


def test_orphan_propagation_keeps_replicasets(apps):
    apps.delete_namespaced_deployment("web", "apps", propagation_policy="Orphan")
    rss = apps.list_namespaced_replica_set("apps").items
    assert len(rss) == 1 and not rss[0].metadata.owner_references


def test_deleting_a_namespace_removes_everything_in_it_then_the_namespace(core, apps):
    ns = core.delete_namespace("apps")
    assert ns["kind"] == "Namespace" and ns["status"]["phase"] == "Terminating"

    def gone() -> bool:
        try:
            core.read_namespace("apps")
        except client.ApiException as err:
            return err.status == 404
        return False
    wait_until(gone)
    assert apps.list_deployment_for_all_namespaces(label_selector="app=web").items == []
    assert core.list_pod_for_all_namespaces(label_selector="app=web").items == []


def test_custom_resources_served_once_their_crd_exists(emu):
    custom = client.CustomObjectsApi(api_client(emu))
    iop = {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
           "metadata": {"name": "canary"}, "spec": {"revision": "1-20-0"}}
    created = custom.create_namespaced_custom_object("install.istio.io", "v1alpha1", "istio-system",
                                                     "istiooperators", iop)
    assert created["metadata"]["generation"] == 1
    custom.patch_namespaced_custom_object("install.istio.io", "v1alpha1", "istio-system", "istiooperators",
                                          "canary", {"spec": {"profile": "minimal"}})
    got = custom.get_namespaced_custom_object("install.istio.io", "v1alpha1", "istio-system", "istiooperators",
                                              "canary")
    assert got["spec"] == {"revision": "1-20-0", "profile": "minimal"} and got["metadata"]["generation"] == 2
    with pytest.raises(client.ApiException) as err:
        custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert err.value.status == 404
    ext = client.ApiextensionsV1Api(api_client(emu))
    ext.create_custom_resource_definition({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    assert custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")["items"] == []


def test_scale_subresource_changes_replicas(apps):
    apps.patch_namespaced_deployment_scale("web", "apps", {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment_scale("web", "apps").spec.replicas == 4
    wait_until(lambda: apps.read_namespaced_deployment("web", "apps").status.ready_replicas == 4)
