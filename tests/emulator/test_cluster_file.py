"""The cluster file: shorthands, raw manifests, saved state reloaded, and mistakes reported clearly."""
from __future__ import annotations

import re

import pytest
import yaml
from kubernetes import client

from engine.emulator import ClusterFileError, load_cluster

from .conftest import api_client


def test_shorthand_makes_twenty_namespaces_with_a_hundred_deployments(make_emulator):
    cluster = {"istio": [{"revision": "default", "version": "1.19.3", "gateway": False}],
               "namespaces": [{"name": "team-{i}", "count": 20, "labels": {"istio-injection": "enabled"},
                               "deployments": {"count": 5, "name": "svc-{i}", "replicas": 2}}]}
    api = api_client(make_emulator(cluster))
    deployments = client.AppsV1Api(api).list_deployment_for_all_namespaces(label_selector="app").items
    apps = [d for d in deployments if d.metadata.namespace.startswith("team-")]
    assert len(apps) == 100 and {d.status.ready_replicas for d in apps} == {2}
    assert {d.metadata.namespace for d in apps} == {f"team-{i}" for i in range(1, 21)}
    pods = client.CoreV1Api(api).list_pod_for_all_namespaces(label_selector="istio.io/rev=default").items
    assert len([p for p in pods if p.metadata.namespace.startswith("team-")]) == 200


def test_demo_cluster_is_istio_1_19_3_with_four_injected_namespaces():
    spec = load_cluster(None)
    namespaces = {o["metadata"]["name"]: o["metadata"].get("labels") for o in spec.objects if o["kind"] == "Namespace"}
    for ns in ("test-namespace", "staging-namespace", "production-namespace-1", "production-namespace-2"):
        assert namespaces[ns] == {"istio-injection": "enabled"}
    deployments = [o for o in spec.objects
                   if o["kind"] == "Deployment" and o["metadata"]["namespace"] != "istio-system"]
    assert len(deployments) == 8
    assert all(d["spec"]["replicas"] == 2 and d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
               for d in deployments)
    istiod = next(o for o in spec.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "istiod")
    assert istiod["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/istio/pilot:1.19.3"
    assert any(o["kind"] == "Deployment" and o["metadata"]["name"] == "istio-ingressgateway" for o in spec.objects)


def test_saved_state_loads_back_as_a_cluster(make_emulator, tmp_path):
    first = make_emulator()
    client.CoreV1Api(api_client(first)).patch_namespace("apps", {"metadata": {"labels": {"team": "blue"}}})
    saved = first.save_state(tmp_path / "state.yaml")
    state = yaml.safe_load(saved.read_text())
    assert state["kind"] == "List" and any(i["kind"] == "Pod" for i in state["items"])
    second = make_emulator(str(saved))
    api = api_client(second)
    assert client.CoreV1Api(api).read_namespace("apps").metadata.labels["team"] == "blue"
    web = client.AppsV1Api(api).read_namespaced_deployment("web", "apps")
    assert web.status.ready_replicas == 2
    assert {p.metadata.labels["istio.io/rev"] for p in client.CoreV1Api(api).list_namespaced_pod("apps").items} == \
        {"default"}


def test_manifest_stream_and_tags(tmp_path, make_emulator):
    path = tmp_path / "objects.yaml"
    path.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: one}\n---\n"
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: one}\ndata: {k: v}\n")
    emu = make_emulator(str(path))
    assert client.CoreV1Api(api_client(emu)).read_namespaced_config_map("c", "one").data == {"k": "v"}
    spec = load_cluster({"istio": [{"version": "1.19.3"}], "tags": {"stable": "default"}})
    tag = next(o for o in spec.objects if o["metadata"]["name"] == "istio-revision-tag-stable")
    assert tag["metadata"]["labels"]["istio.io/rev"] == "default"


@pytest.mark.parametrize("data,message", [
    ({"namespace": []}, "unknown key(s) namespace"),
    ({"istio": [{"revision": "x"}]}, "istio[0] needs at least a version"),
    ({"namespaces": [{"labels": {}}]}, "namespaces[0] needs a name"),
    ({"objects": [{"kind": "ConfigMap"}]}, "every entry needs apiVersion, kind and metadata"),
])
def test_mistakes_name_the_key(data, message):
    with pytest.raises(ClusterFileError, match=re.escape(message)):
        load_cluster(data)


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ClusterFileError, match="cannot read"):
        load_cluster(tmp_path / "nope.yaml")
