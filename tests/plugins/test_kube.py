"""engine.kube: errors wrapped by status, kubectl's JSONPath subset, the pod/revision views templates see."""
from __future__ import annotations

import socket
import time

import pytest

from engine import istio_views, kube
from engine.helpers import cluster_lookups
from engine.istio_views import image_version, pod_view
from engine.jsonpath import jsonpath_text
from engine.kube import ClusterUnreachable, Kube, KubeConfigError, Target, target_for
from engine.plugins.base import RunOptions

POD = {
    "metadata": {"name": "web-1", "namespace": "apps", "labels": {"app": "web", "istio.io/rev": "1-20-0"},
                 "annotations": {"sidecar.istio.io/status": '{"revision": "1-20-0"}'}},
    "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "nginx"},
                                              {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.20.0"}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"},
                                                  {"type": "PodScheduled", "status": "True"}]},
}


@pytest.mark.parametrize("expr,text", [
    ("{.metadata.name}", "web-1"),
    (".metadata.labels.app", "web"),
    ("{.spec.containers[*].name}", "web istio-proxy"),
    ("{.spec.containers[1].image}", "docker.io/istio/proxyv2:1.20.0"),
    ("{.spec.containers[-1].name}", "istio-proxy"),
    ('{.spec.containers[?(@.name=="istio-proxy")].image}', "docker.io/istio/proxyv2:1.20.0"),
    ("{.status.conditions[?(@.type=='Ready')].status}", "True"),
    ('{.status.conditions[?(@.status!="True")].type}', ""),
    ("{.metadata.labels['istio.io/rev']}", "1-20-0"),
    ("{.metadata.missing}", ""),
    ("{.spec.nodeName}", "n1"),
])
def test_jsonpath_reads_like_kubectl(expr, text):
    assert jsonpath_text(POD, expr) == text


def test_an_unsupported_jsonpath_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"unsupported JSONPath '\{range .items\[\*\]\}'"):
        jsonpath_text(POD, "{range .items[*]}")


@pytest.mark.parametrize("image,version", [
    ("docker.io/istio/proxyv2:1.20.0", "1.20.0"), ("localhost:5000/proxyv2:1.19.3", "1.19.3"),
    ("proxyv2", "latest"), ("istio/proxyv2@sha256:abc", None), (None, None)])
def test_image_version_is_the_tag(image, version):
    assert image_version(image) == version


def test_a_pod_shows_its_proxy_image_version_and_revision():
    view = pod_view(POD)
    assert {k: view[k] for k in ("name", "namespace", "phase", "ready", "proxy_image", "proxy_version",
                                  "proxy_revision")} == {
        "name": "web-1", "namespace": "apps", "phase": "Running", "ready": True,
        "proxy_image": "docker.io/istio/proxyv2:1.20.0", "proxy_version": "1.20.0", "proxy_revision": "1-20-0"}


def test_a_pod_without_a_sidecar_has_no_proxy_fields():
    bare = {**POD, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    view = pod_view(bare)
    assert (view["proxy_image"], view["proxy_version"], view["proxy_revision"]) == (None, None, None)


@pytest.mark.parametrize("status,cls", [(404, kube.NotFound), (409, kube.Conflict), (403, kube.Forbidden),
                                        (401, kube.Unauthorized), (410, kube.Gone), (422, kube.Invalid),
                                        (500, kube.ServerError), (503, kube.ServerError), (418, kube.KubeError)])
def test_api_errors_are_wrapped_by_status(status, cls):
    err = kube.error_for(status, b'{"kind":"Status","message":"deployments.apps \\"x\\" not found"}', "GET /x")
    assert type(err) is cls and err.status == status
    assert str(err) == f'GET /x: deployments.apps "x" not found (HTTP {status})'


def test_a_closed_port_is_cluster_unreachable_quickly_and_then_at_once(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    client = Kube(Target(str(config), None))
    started = time.time()
    with pytest.raises(ClusterUnreachable, match="cannot reach the Kubernetes API"):
        client.list("pods", "apps")
    with pytest.raises(ClusterUnreachable):
        client.get("namespace", "apps")  # remembered: no second wait
    assert time.time() - started < 5


def test_an_unknown_context_is_a_config_error(tmp_path, emu):
    client = Kube(Target(str(emu.kubeconfig), "no-such-context"))
    with pytest.raises(KubeConfigError, match="no-such-context"):
        client.list("pods")


def test_the_step_kubeconfig_beats_the_command_line_which_beats_the_environment(monkeypatch):
    monkeypatch.setenv("KUBECONFIG", "/env/config")
    opts = RunOptions(kubeconfig="/cli/config", context="cli")
    assert target_for(opts, "/step/config", "step") == Target("/step/config", "step")
    assert target_for(opts) == Target("/cli/config", "cli")
    assert target_for(RunOptions(env={"KUBECONFIG": "/emu/config"})) == Target("/emu/config", None)
    assert target_for(RunOptions()) == Target("/env/config", None)


def test_look_ups_read_the_emulated_cluster(emu):
    helpers = cluster_lookups(RunOptions(kubeconfig=str(emu.kubeconfig)))
    assert "apps" in helpers["namespaces"]()
    assert [n for n in helpers["namespaces"]("istio-injection=enabled")] == ["apps"]
    assert helpers["namespaces"]({"istio-injection": "enabled"})[0].injection == "enabled"
    pods = helpers["pods"]("apps", "app=web")
    assert len(pods) == 2 and {p["proxy_revision"] for p in pods} == {"default"}
    assert {p["proxy_version"] for p in pods} == {"1.19.3"}
    revisions = helpers["revisions"]()
    assert revisions == ["default"] and revisions[0].version == "1.19.3" and revisions[0].ready
    assert helpers["k8s_get"]("deploy", "web", "apps")["spec"]["replicas"] == 2
    assert helpers["k8s_get"]("deployment", "nope", "apps") is None
    with pytest.raises(kube.UnknownKind, match="does not serve a resource type 'gizmo'"):
        helpers["k8s_get"]("gizmo", "x")


def test_kinds_unknown_to_the_built_in_table_are_found_by_discovery(emu):
    client = Kube(target_for(RunOptions(kubeconfig=str(emu.kubeconfig))))
    res = client.resource("leases")
    assert (res.kind, res.namespaced) == ("Lease", True)


def test_names_from_look_ups_are_plain_strings_to_json_and_yaml():
    import json

    import yaml
    name = istio_views.Named("apps", labels={"istio-injection": "enabled"}, injection="enabled")
    assert name == "apps" and name.injection == "enabled" and name["labels"] == {"istio-injection": "enabled"}
    assert json.dumps([name]) == '["apps"]'
    assert yaml.safe_dump([name]) == "- apps\n"
